"""How every verb's --help reads: its description wrapped to the terminal, then its examples as written."""

from __future__ import annotations

import argparse

EXAMPLES = "examples:"


class ExampleFormatter(argparse.HelpFormatter):
    """argparse's formatter, but an epilog of examples keeps its lines (commands must not be re-wrapped)."""

    def _fill_text(self, text, width, indent):
        if text.startswith(EXAMPLES):
            return "".join(indent + line for line in text.splitlines(keepends=True))
        return super()._fill_text(text, width, indent)


def examples(*commands: str) -> dict:
    """add_parser() keywords for a verb: the formatter, and an epilog listing COMMANDS (with # comments)."""
    return {"formatter_class": ExampleFormatter, "epilog": "\n".join([EXAMPLES, *("  " + c for c in commands)])}
