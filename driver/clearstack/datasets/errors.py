"""The ClearML SDK's own errors for missing or refused API settings, which dataset commands report as
one line with the fix, like every ClearstackError, instead of a traceback."""

from clearml.backend_api.session.defs import MissingConfigError
from clearml.backend_api.session.session import LoginError

SDK_SETTINGS_ERRORS = (LoginError, MissingConfigError)
