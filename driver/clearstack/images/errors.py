"""The errors `clearstack images build` reports as one line naming the fix (exit 1), instead of a traceback."""

from ..errors import ClearstackError


class ImageBuildError(ClearstackError, RuntimeError):
    """An image could not be built; the message is one line that says why and what to do."""
