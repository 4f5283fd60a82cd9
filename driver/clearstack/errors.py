"""The one base of every error clearstack expects: the CLI prints it as the single line
`clearstack COMMAND: MESSAGE` (cli._fail), exit code 1. A message says what is wrong and the fix."""

from __future__ import annotations


class ClearstackError(Exception):
    """An error the user can fix; never a traceback."""
