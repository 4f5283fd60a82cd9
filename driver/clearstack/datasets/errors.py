"""The errors dataset commands report as one line with the fix, instead of a traceback: every
ClearstackError, and the two the ClearML SDK raises for missing or refused API settings."""

from clearml.backend_api.session.defs import MissingConfigError
from clearml.backend_api.session.session import LoginError

from ..errors import ClearstackError

DATASET_ERRORS = (ClearstackError, LoginError, MissingConfigError)
