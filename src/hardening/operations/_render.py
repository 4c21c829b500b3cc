"""Render the Jinja2 templates that live next to the operations."""

from __future__ import annotations

import hashlib
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined

_ENV = Environment(
    loader=PackageLoader("hardening.operations", "templates"),
    undefined=StrictUndefined,
    keep_trailing_newline=True,
    trim_blocks=False,
)


def render(template: str, **context: Any) -> str:
    """Render ``templates/<template>`` with ``context``; undefined names are errors."""
    return _ENV.get_template(template).render(**context)


def sha1(text: str) -> str:
    """SHA-1 of rendered text, to compare with pyinfra's ``Sha1File`` fact."""
    return hashlib.sha1(text.encode()).hexdigest()
