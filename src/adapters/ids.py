"""Identifier generation (the `IdGenerator` port) with python-ulid."""

from __future__ import annotations

from ulid import ULID


def new_ulid() -> str:
    """A fresh ULID: 48-bit millisecond time, 80 random bits, canonical upper case."""
    return str(ULID())
