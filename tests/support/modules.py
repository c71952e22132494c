"""Loading the Lambda handler modules as Lambda does: environment first, then import."""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from types import ModuleType


@contextmanager
def lambda_module(name: str, environ: Mapping[str, str]) -> Iterator[ModuleType]:
    """Import `name` afresh with `environ` applied (a cold start), restoring both after."""
    saved = {key: os.environ.get(key) for key in environ}
    os.environ.update(environ)
    sys.modules.pop(name, None)
    try:
        yield importlib.import_module(name)
    finally:
        sys.modules.pop(name, None)
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
