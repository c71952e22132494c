"""The `analytics` command's surface: help that shows real types (no `<bool>`), a `--help`
that works with the base install alone, and the one-line message naming the extra that a
local-stack command needs."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from typing import Any

import pytest
import typer.main
from typer.testing import CliRunner

from entrypoints.cli import app

# What a plain `pip install` of the package lacks: the local, dev and deploy extras.
NOT_IN_BASE = (
    "duckdb",
    "pyarrow",
    "pgserver",
    "pytest",
    "hypothesis",
    "moto",
    "sqlglot",
    "aws_cdk",
    "numpy",
)


def command_paths() -> list[tuple[str, ...]]:
    """Every command and subcommand of the app, as argument paths."""
    paths: list[tuple[str, ...]] = [()]
    root = typer.main.get_command(app)

    def walk(command: Any, prefix: tuple[str, ...]) -> None:
        # typer carries its own copy of click: its groups are known by their commands.
        for name, sub in getattr(command, "commands", {}).items():
            paths.append((*prefix, name))
            walk(sub, (*prefix, name))

    walk(root, ())
    return paths


@pytest.mark.parametrize("path", command_paths(), ids=lambda p: " ".join(p) or "analytics")
def test_help_shows_real_types_not_placeholders(path: tuple[str, ...]) -> None:
    """`--help` of the app and of every command names no `<bool>`, `<str>` or `<path>`."""
    result = CliRunner().invoke(app, [*path, "--help"], terminal_width=100)
    assert result.exit_code == 0, result.output
    for placeholder in ("<bool>", "<str>", "<path>", "<int>"):
        assert placeholder not in result.output


def test_the_command_list_is_complete() -> None:
    """The app carries the operations, the local stack's and the migration's commands."""
    names = {path[0] for path in command_paths() if path}
    assert {
        "migrate",
        "partitions",
        "fold-stats",
        "rebuild-stats",
        "serve",
        "sites",
        "query",
        "demo",
        "replay",
        "import-dynamodb",
        "hot-coverage",
        "backfill-hot",
        "verify-migration",
    } <= names


def _without_extras(code: str) -> subprocess.CompletedProcess[str]:
    """Run `code` in a fresh interpreter where the extras' packages cannot be imported."""
    blocker = textwrap.dedent(
        f"""
        import sys
        import importlib.abc

        class _NotInstalled(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in {NOT_IN_BASE!r}:
                    raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
                return None

        sys.meta_path.insert(0, _NotInstalled())
        """
    )
    return subprocess.run(
        [sys.executable, "-c", blocker + textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_help_works_with_the_base_install_alone() -> None:
    """With none of the extras importable, `analytics --help` and a command's help work."""
    done = _without_extras(
        """
        sys.argv = ["analytics", "--help"]
        from entrypoints.cli import main
        try:
            main()
        except SystemExit as exit:
            assert exit.code in (0, None), exit.code
        sys.argv = ["analytics", "replay", "--help"]
        try:
            main()
        except SystemExit as exit:
            assert exit.code in (0, None), exit.code
        """
    )
    assert done.returncode == 0, done.stderr
    assert "Usage: analytics" in done.stdout
    assert "import-dynamodb" in done.stdout
    assert "--dry-run" in done.stdout


def test_a_local_stack_command_without_its_extra_names_it_in_one_line(tmp_path: object) -> None:
    """`analytics query` without duckdb: exit 1 and one line naming the `local` extra, no
    traceback."""
    done = _without_extras(
        f"""
        sys.argv = ["analytics", "query", "01JDQ7ZK3M00000000000000S1", "--data-dir", "{tmp_path}"]
        from entrypoints.cli import main
        main()
        """
    )
    assert done.returncode == 1
    assert "analytics[local]" in done.stderr
    assert "Traceback" not in done.stderr
