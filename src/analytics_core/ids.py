"""Identifiers: the ULID format, checked without generating anything.

Generation is a port (`IdGenerator` in `ports.py`) so tests can inject fixed ids; this module
only knows what a well-formed ULID looks like.
"""

from __future__ import annotations

import re

# 26 Crockford base32 characters; the first is at most 7 so the value fits in 128 bits.
_ULID = re.compile(r"[0-7][0-9A-HJKMNP-TV-Z]{25}")


def is_ulid(value: object) -> bool:
    """Whether `value` is a canonical (upper-case) ULID string."""
    return isinstance(value, str) and _ULID.fullmatch(value) is not None
