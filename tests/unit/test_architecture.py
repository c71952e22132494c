"""The hexagon's boundary: the core imports no adapter, entrypoint or I/O library, and its
modules form layers (values, ports, use cases) without an import cycle."""

from __future__ import annotations

import ast
import graphlib
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


def core_import_graph() -> dict[str, set[str]]:
    """Each core module and the core modules it imports (those under TYPE_CHECKING too: an
    annotation is a dependency of the design even when it costs nothing at run time)."""
    graph: dict[str, set[str]] = {}
    for path in CORE_DIR.rglob("*.py"):
        name = ".".join(path.relative_to(CORE_DIR).with_suffix("").parts)
        graph[name] = {
            module.removeprefix("analytics_core.")
            for module in imported_modules(path)
            if module.startswith("analytics_core.")
        } - {name}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle of `graph`, as the modules around it, or None."""
    try:
        tuple(graphlib.TopologicalSorter(graph).static_order())
    except graphlib.CycleError as exc:
        return list(exc.args[1])
    return None


def test_the_core_has_no_import_cycle() -> None:
    """Values, then ports, then use cases: no module of analytics_core reaches itself again
    through its imports (ports imports values only; no value module imports ports)."""
    graph = core_import_graph()
    assert find_cycle(graph) is None
    assert "ports" in graph
    assert graph["ports"]
    for value_module in graph["ports"]:
        assert "ports" not in graph[value_module], value_module


def test_the_cycle_check_finds_a_cycle() -> None:
    """The check is not a no-op: a graph where ports imports a use case that imports ports
    is reported with the modules on the cycle."""
    graph = core_import_graph()
    graph["ports"] = graph["ports"] | {"ingest"}
    cycle = find_cycle(graph)
    assert cycle is not None
    assert "ports" in cycle
    assert "ingest" in cycle
