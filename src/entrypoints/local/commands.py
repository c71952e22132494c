"""Moved to `entrypoints.commands` (one module per command); these names stay importable
here while code written against the old module is moved over."""

from __future__ import annotations

from entrypoints.commands.common import (
    DEFAULT_OWNER,
    DataDirOption,
    DryRunOption,
    JsonOption,
    KeepOption,
    OwnerOption,
    err,
    fail,
    out,
)

__all__ = [
    "DEFAULT_OWNER",
    "DataDirOption",
    "DryRunOption",
    "JsonOption",
    "KeepOption",
    "OwnerOption",
    "err",
    "fail",
    "out",
]
