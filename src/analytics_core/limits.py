"""Column limits and the sanitising that keeps every stored value within them.

PostgreSQL refuses NUL characters in text and lone UTF-16 surrogates cannot be encoded at all,
so either would fail a whole batch; a B-tree index entry must stay under ~2.7 kB, so indexed
text (session_id) must be short. Texts are therefore cleaned (NUL removed, lone surrogates
replaced by U+FFFD) and cut to their column's length; integers are clamped to their column's
range. VARCHAR columns have the schema's lengths; the TEXT columns get limits chosen here.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

# TEXT columns: limits chosen here (characters).
SESSION_ID = 128  # indexed: at most 512 bytes of UTF-8 per entry
EVENT_NAME = 200
PATHNAME = 2048
REFERER = 2048
REFERER_DOMAIN = 253  # a host name
# VARCHAR columns: the schema's lengths.
UTM = 255
SESSION_ATTRIBUTE = 100  # device, os, browser, country, region, city
# SMALLINT screen dimensions: non-negative and at most the column's maximum.
SMALLINT_MAX = 32_767
# properties (JSONB): a flat object of scalars.
MAX_PROPERTIES = 30
PROPERTY_KEY = 100
PROPERTY_VALUE = 500
# Property integers: those a 64-bit signed integer holds (what every store and reader can take
# exactly); larger ones are dropped like any value that cannot be stored.
PROPERTY_INT_MIN = -(2**63)
PROPERTY_INT_MAX = 2**63 - 1

_SURROGATE = re.compile("[\ud800-\udfff]")


def replace_surrogates(value: str) -> str:
    """`value` with U+FFFD for each lone surrogate (which UTF-8 cannot encode)."""
    return value if value.isascii() else _SURROGATE.sub("\ufffd", value)


def clean_text(value: str, limit: int) -> str:
    """`value` without NUL characters or lone surrogates, cut to `limit` characters."""
    if "\x00" in value:
        value = value.replace("\x00", "")
    if not value.isascii():
        value = _SURROGATE.sub("\ufffd", value)
    return value[:limit] if len(value) > limit else value


def optional_text(value: object, limit: int) -> str | None:
    """A cleaned text for a nullable column: None unless `value` is a non-empty string."""
    if not isinstance(value, str):
        return None
    cleaned = clean_text(value, limit)
    return cleaned or None


def finite_number(value: object) -> int | float | None:
    """`value` when it is a JSON number (an integer or a finite float, not a boolean); else
    None."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def screen_dimension(value: object) -> int | None:
    """A screen width or height: a non-negative integer, clamped to SMALLINT; else None."""
    if type(value) is int:  # what trackers send: no checks or conversion needed
        return None if value < 0 else min(value, SMALLINT_MAX)
    number = finite_number(value)
    if number is None:
        return None
    whole = int(number)
    return None if whole < 0 else min(whole, SMALLINT_MAX)


def clean_properties(raw: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """Custom event properties as stored: a flat object of at most 30 scalar values.

    Keys and string values are cleaned and cut; numbers must be finite and integers fit in 64
    bits; nested objects and arrays are dropped (dashboards filter on flat key/value pairs,
    and nesting is where hostile input hides). None when nothing is left.
    """
    if not raw:
        return None
    kept: dict[str, Any] = {}
    for key, value in raw.items():
        if len(kept) >= MAX_PROPERTIES:
            break
        name = clean_text(key, PROPERTY_KEY)
        if not name:
            continue
        if isinstance(value, str):
            kept[name] = clean_text(value, PROPERTY_VALUE)
        elif _is_plain_scalar(value):
            kept[name] = value
    return kept or None


def _is_plain_scalar(value: object) -> bool:
    """null, a boolean, an integer of at most 64 bits or a finite number."""
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return PROPERTY_INT_MIN <= value <= PROPERTY_INT_MAX
    return value is None or isinstance(value, bool)
