"""The read model's SQL functions live in `sql/functions/` (acceptance 2 of issue 17): what a
migrated database runs is exactly those files, and editing a file re-applies it on the next
migration run, with no new numbered migration."""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

import psycopg
import pytest
from tests.support.db import fetch_all

from adapters.config import Settings
from adapters.postgres.migrations import (
    PostgresMigrator,
    default_functions_dir,
    default_migrations_dir,
    discover,
    discover_repeatables,
)
from adapters.postgres.pool import open_pool
from analytics_core.errors import MigrationError
from entrypoints import bootstrap
from entrypoints.operations import run_migrations

FUNCTIONS = """
    SELECT p.proname || '(' || pg_get_function_identity_arguments(p.oid) || ')',
        pg_get_functiondef(p.oid)
    FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
    WHERE n.nspname = current_schema()
    ORDER BY 1
"""

CREATES_FUNCTION = re.compile(rb"CREATE\s+(OR\s+REPLACE\s+)?(FUNCTION|PROCEDURE)", re.IGNORECASE)


def installed_functions(url: str) -> dict[str, str]:
    """Every function of the database's schema: signature -> its definition as PostgreSQL
    prints it (normalised header, the body as stored)."""
    return dict(fetch_all(url, FUNCTIONS))


def function_names(url: str) -> set[str]:
    """The names of the functions of the database's schema."""
    return {signature.partition("(")[0] for signature in installed_functions(url)}


def migrate(url: str, migrations: Path | None = None, functions: Path | None = None) -> Any:
    """Run the migration runner on `url` with these folders; returns its report."""
    pool = open_pool(url)
    try:
        return PostgresMigrator(pool, migrations, functions).migrate()
    finally:
        pool.close()


@pytest.fixture
def sql_copy(tmp_path: Path) -> tuple[Path, Path]:
    """Copies of the numbered and repeatable folders that a test may edit."""
    migrations, functions = tmp_path / "migrations", tmp_path / "functions"
    shutil.copytree(default_migrations_dir(), migrations)
    shutil.copytree(default_functions_dir(), functions)
    return migrations, functions


def test_installed_functions_equal_the_files(database_url: str, empty_database_url: str) -> None:
    """A database migrated as deployments do runs exactly the functions of `sql/functions/`:
    the same definitions as a database whose functions were all dropped after the numbered
    migrations and then created from the files alone, and no function the files do not
    define."""
    migrate(empty_database_url, default_migrations_dir())
    with psycopg.connect(empty_database_url, autocommit=True) as conn:
        for (signature,) in conn.execute(
            "SELECT p.oid::regprocedure::text FROM pg_proc p "
            "JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = current_schema()"
        ).fetchall():
            conn.execute(f"DROP FUNCTION {signature}")
        assert not installed_functions(empty_database_url)
        for repeatable in discover_repeatables(default_functions_dir()):
            conn.execute(repeatable.sql)
    from_files = installed_functions(empty_database_url)
    assert from_files
    assert installed_functions(database_url) == from_files
    stems = {path.stem for path in default_functions_dir().glob("*.sql")}
    assert function_names(database_url) == stems


def test_numbered_migrations_from_0009_on_define_no_function() -> None:
    """Numbered migrations after the repeatable folder's introduction keep to tables and drops:
    a function is defined (or changed) only in `sql/functions/`."""
    for migration in discover(default_migrations_dir()):
        if migration.version >= "0009":
            code = re.sub(rb"--[^\n]*", b"", migration.sql)
            assert not CREATES_FUNCTION.search(code), migration.version


def test_every_function_file_was_recorded_by_the_migration(database_url: str) -> None:
    """After a migration run, `schema_repeatables` records every function file with its
    checksum."""
    recorded = dict(fetch_all(database_url, "SELECT name, checksum FROM schema_repeatables"))
    on_disk = {r.name: r.checksum for r in discover_repeatables(default_functions_dir())}
    assert recorded == on_disk


def test_an_edited_function_file_is_reapplied_without_a_numbered_migration(
    empty_database_url: str, sql_copy: tuple[Path, Path]
) -> None:
    """Changing a function file re-applies that file (and only it) on the next migration run,
    with no numbered migration applied; a run after that applies nothing."""
    migrations, functions = sql_copy
    first = migrate(empty_database_url, migrations, functions)
    assert first.repeatables_applied == tuple(r.name for r in discover_repeatables(functions))
    expire = functions / "stats_expire.sql"
    expire.write_text(
        expire.read_text().replace("SELECT count(*) FROM gone;", "SELECT 42::bigint;")
    )
    second = migrate(empty_database_url, migrations, functions)
    assert (second.applied, second.repeatables_applied) == ((), ("stats_expire",))
    assert fetch_all(empty_database_url, "SELECT stats_expire('2000-01-01')") == [(42,)]
    third = migrate(empty_database_url, migrations, functions)
    assert (third.applied, third.repeatables_applied) == ((), ())


def test_analytics_migrate_reports_the_reapplied_function(
    empty_database_url: str, sql_copy: tuple[Path, Path]
) -> None:
    """The migrate operation (what `analytics migrate` and the migrate Lambda run) applies a
    changed function file and names it in its summary."""
    migrations, functions = sql_copy
    migrate(empty_database_url, migrations, functions)
    (functions / "stats_answer.sql").write_text(
        "CREATE OR REPLACE FUNCTION stats_answer() RETURNS int LANGUAGE sql RETURN 42;\n"
    )
    pool = open_pool(empty_database_url)
    try:
        services = bootstrap.build(
            Settings(database_url=empty_database_url),
            pool=pool,
            migrator=PostgresMigrator(pool, migrations, functions),
        )
        summary = run_migrations(services)
    finally:
        pool.close()
    assert (summary["applied"], summary["functions"]) == ([], ["stats_answer"])
    assert fetch_all(empty_database_url, "SELECT stats_answer()") == [(42,)]


def test_a_failing_function_file_is_named_and_not_recorded(
    empty_database_url: str, sql_copy: tuple[Path, Path]
) -> None:
    """A function file with an error stops the run with its name, keeps its old recorded
    checksum, and is tried again on the next run."""
    migrations, functions = sql_copy
    migrate(empty_database_url, migrations, functions)
    before = dict(fetch_all(empty_database_url, "SELECT name, checksum FROM schema_repeatables"))
    (functions / "stats_expire.sql").write_text("CREATE OR REPLACE FUNCTION broken( RETURNS;\n")
    with pytest.raises(MigrationError, match="stats_expire"):
        migrate(empty_database_url, migrations, functions)
    after = dict(fetch_all(empty_database_url, "SELECT name, checksum FROM schema_repeatables"))
    assert after == before


def test_repeatables_need_their_table(empty_database_url: str, tmp_path: Path) -> None:
    """A numbered folder without migration 0009 cannot take repeatable files: the run says
    which table is missing instead of applying them unrecorded."""
    migrations = tmp_path / "migrations"
    migrations.mkdir()
    (migrations / "0001_table.sql").write_text("CREATE TABLE t (id int);")
    functions = tmp_path / "functions"
    functions.mkdir()
    (functions / "f.sql").write_text("CREATE OR REPLACE FUNCTION f() RETURNS int RETURN 1;")
    with pytest.raises(MigrationError, match="schema_repeatables"):
        migrate(empty_database_url, migrations, functions)


@pytest.mark.parametrize("name", ["Upper.sql", "0001-x.sql", "with-dash.sql"])
def test_misnamed_function_files_are_refused(tmp_path: Path, name: str) -> None:
    """Repeatable files must be named like lower_case.sql."""
    (tmp_path / name).write_text("SELECT 1;")
    with pytest.raises(MigrationError, match="must look like"):
        discover_repeatables(tmp_path)
