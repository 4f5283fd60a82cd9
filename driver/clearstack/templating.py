"""The files the driver writes from templates/ (jinja2): the lab inventory and `init`'s site inventory."""

from __future__ import annotations

import jinja2

from .paths import TEMPLATES

# Undefined names fail instead of rendering as ""; blocks leave no blank lines behind.
_ENV = jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATES)), undefined=jinja2.StrictUndefined,
                          trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True, autoescape=False)


def render(template: str, **values) -> str:
    """templates/TEMPLATE rendered with VALUES."""
    return _ENV.get_template(template).render(**values)
