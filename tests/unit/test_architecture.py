"""The hexagon's boundary: the core imports no adapter, entrypoint or I/O library."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import analytics_core

FORBIDDEN = (
    "adapters",
    "entrypoints",
    "psycopg",
    "psycopg_pool",
    "boto3",
    "botocore",
    "pyathena",
    "geoip2",
    "maxminddb",
    "duckdb",
    "pyarrow",
)
CORE_DIR = Path(analytics_core.__file__).parent


def imported_modules(path: Path) -> set[str]:
    """Every module name an `import` or `from ... import` in `path` names."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_core_source_imports_nothing_forbidden() -> None:
    """No module of analytics_core names an adapter, entrypoint or I/O library in an import."""
    offenders = {
        f"{path.relative_to(CORE_DIR)}: {name}"
        for path in CORE_DIR.rglob("*.py")
        for name in imported_modules(path)
        if name.split(".")[0] in FORBIDDEN
    }
    assert not offenders


def test_importing_the_core_loads_no_forbidden_module() -> None:
    """Importing every core module in a fresh interpreter pulls in none of them transitively."""
    modules = sorted(
        "analytics_core." + ".".join(p.relative_to(CORE_DIR).with_suffix("").parts)
        for p in CORE_DIR.rglob("*.py")
        if p.name != "__init__.py"
    )
    script = (
        "import importlib, sys\n"
        f"for m in {modules!r}: importlib.import_module(m)\n"
        f"print(sorted(n for n in sys.modules if n.split('.')[0] in {FORBIDDEN!r}))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"
    assert len(modules) >= 5  # the walk found the core's modules
