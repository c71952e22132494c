"""Structured logs: one JSON object per line, the shape CloudWatch Logs Insights queries.

Nothing of a visitor (IP address, user agent) is ever passed to these functions.
"""

from __future__ import annotations

import json
import logging
import sys
import traceback
from typing import Any


def configure(level: int = logging.INFO) -> None:
    """Log bare messages at `level` to stderr (Lambda forwards stderr to CloudWatch)."""
    root = logging.getLogger()
    root.setLevel(level)
    if not root.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(message)s"))
        root.addHandler(handler)


def log_json(logger: logging.Logger, message: str, **fields: Any) -> None:
    """Log `message` with `fields` as one JSON line."""
    logger.info(json.dumps({"message": message, **fields}, default=str, separators=(",", ":")))


def log_unexpected(logger: logging.Logger, what: str, exc: BaseException) -> None:
    """Log an unexpected error with its traceback but without its message, which could quote
    a visitor's data (a user agent, an address)."""
    frames = "".join(traceback.format_tb(exc.__traceback__))
    logger.error("%s: %s\n%s", what, type(exc).__name__, frames)
