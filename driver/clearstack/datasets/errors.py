"""The errors dataset commands report as one line with the fix, instead of a traceback."""

from clearml.backend_api.session.defs import MissingConfigError
from clearml.backend_api.session.session import LoginError

from .ingest import IngestError
from .listing import ListingError
from .sdk import ApiLoginRefused, ApiUnreachable
from .local_copy import LocalCopyError
from .selection import SelectionError
from .settings import SettingsError
from .source import SourceError
from .spec import SpecError
from .subset import SubsetError

DATASET_ERRORS = (ApiLoginRefused, ApiUnreachable, IngestError, ListingError, LocalCopyError, SelectionError, SettingsError, SourceError, SpecError, SubsetError,
                  LoginError, MissingConfigError)
