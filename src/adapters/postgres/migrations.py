"""The migration runner: numbered SQL files from `sql/migrations/`, applied in order, once;
then the repeatable files of `sql/functions/`, applied whenever they change.

Numbered files are named `NNNN_description.sql`; the version is the file name without `.sql`.
Each runs in its own transaction together with its row in `schema_migrations` (version,
checksum, applied_at), so a failing file leaves nothing half-applied and is retried on the next
run. An applied file whose content has changed stops the run before anything is applied,
because the database would no longer match the repository.

Repeatable files (`name.sql`, lower case) hold `CREATE OR REPLACE` definitions: the read
model's functions by their current body. After the numbered files, each one whose checksum
differs from the one recorded in `schema_repeatables` (created by migration 0009), or that has
none, runs in its own transaction together with its row, in name order: like Flyway's
repeatable migrations. Editing such a file is how a function changes; no numbered file needed.

A session-level advisory lock serialises concurrent runs (two deploys, or a deploy and an
operator): the second waits, then finds nothing left to do.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any

import attrs
import psycopg

from adapters.postgres.pool import Pool, translate_errors
from analytics_core.errors import MigrationError

# Arbitrary, fixed: the advisory lock key of this runner ("analytic" in ASCII).
ADVISORY_LOCK_KEY = 0x616E616C79746963
LOCK_WAIT = "120s"
_FILE_NAME = re.compile(r"(?P<number>\d{4})_[a-z0-9_]+\.sql")
_REPEATABLE_NAME = re.compile(r"[a-z][a-z0-9_]*\.sql")
REPEATABLES_TABLE = "schema_repeatables"

_TRACKING_TABLE = b"""
CREATE TABLE IF NOT EXISTS schema_migrations (
    version    TEXT        PRIMARY KEY,
    checksum   TEXT        NOT NULL,
    applied_at TIMESTAMPTZ NOT NULL DEFAULT CURRENT_TIMESTAMP
)
"""


@attrs.frozen
class Migration:
    """One SQL file of the migrations folder."""

    version: str
    sql: bytes = attrs.field(repr=False)
    checksum: str


@attrs.frozen
class Repeatable:
    """One SQL file of the repeatable folder (`sql/functions/`), named by its stem."""

    name: str
    sql: bytes = attrs.field(repr=False)
    checksum: str


@attrs.frozen
class MigrationReport:
    """What a run did: versions applied now, versions found applied, applied but unknown here,
    and the repeatable files (re)applied now because they were new or changed."""

    applied: tuple[str, ...]
    already_applied: tuple[str, ...]
    unknown: tuple[str, ...] = ()
    repeatables_applied: tuple[str, ...] = ()


def default_migrations_dir() -> Path:
    """The migrations folder: bundled next to this package in a wheel or Lambda asset, else
    the repository's `sql/migrations` (editable installs and checkouts)."""
    bundled = Path(__file__).with_name("sql")
    if bundled.is_dir():
        return bundled
    return Path(__file__).resolve().parents[3] / "sql" / "migrations"


def default_functions_dir() -> Path:
    """The repeatable folder: bundled next to this package (`sql_functions`) in a wheel or
    Lambda asset, else the repository's `sql/functions`."""
    bundled = Path(__file__).with_name("sql_functions")
    if bundled.is_dir():
        return bundled
    return Path(__file__).resolve().parents[3] / "sql" / "functions"


def checksum_of(content: bytes) -> str:
    """SHA-256 of a file's content, with line endings normalised so checkouts agree."""
    return hashlib.sha256(content.replace(b"\r\n", b"\n")).hexdigest()


def discover(directory: Path) -> list[Migration]:
    """The migrations in `directory`, in order; refuses misnamed files and duplicate numbers."""
    if not directory.is_dir():
        raise MigrationError(f"migrations folder not found: {directory}")
    migrations: list[Migration] = []
    numbers: dict[str, str] = {}
    for path in sorted(directory.iterdir()):
        if path.suffix != ".sql":
            continue
        match = _FILE_NAME.fullmatch(path.name)
        if match is None:
            raise MigrationError(f"migration file name must look like 0001_name.sql: {path.name}")
        number = match["number"]
        if number in numbers:
            raise MigrationError(
                f"two migrations numbered {number}: {numbers[number]}, {path.name}"
            )
        numbers[number] = path.name
        content = path.read_bytes()
        migrations.append(Migration(path.stem, content, checksum_of(content)))
    return migrations


def discover_repeatables(directory: Path) -> list[Repeatable]:
    """The repeatable files in `directory`, in name order; refuses misnamed files."""
    if not directory.is_dir():
        raise MigrationError(f"repeatable migrations folder not found: {directory}")
    repeatables: list[Repeatable] = []
    for path in sorted(directory.iterdir()):
        if path.suffix != ".sql":
            continue
        if _REPEATABLE_NAME.fullmatch(path.name) is None:
            raise MigrationError(f"repeatable file name must look like name.sql: {path.name}")
        content = path.read_bytes()
        repeatables.append(Repeatable(path.stem, content, checksum_of(content)))
    return repeatables


class PostgresMigrator:
    """Applies the migrations of a folder, then the repeatable files of another, to the
    database behind a pool.

    By default both are the bundled (or repository) folders. A caller that names its own
    numbered folder gets no repeatables unless it names their folder too (tests that build a
    database as it was at some numbered migration)."""

    def __init__(
        self, pool: Pool, directory: Path | None = None, functions: Path | None = None
    ) -> None:
        self._pool = pool
        self._directory = directory or default_migrations_dir()
        if functions is None and directory is None:
            functions = default_functions_dir()
        self._functions = functions

    def migrate(self) -> MigrationReport:
        """Apply every pending migration, then every new or changed repeatable file; see the
        module docstring for the guarantees."""
        migrations = discover(self._directory)
        repeatables = [] if self._functions is None else discover_repeatables(self._functions)
        with translate_errors(), self._pool.connection() as conn:
            self._lock(conn)
            try:
                report = self._apply_pending(conn, migrations)
                if self._functions is None:
                    return report
                return attrs.evolve(
                    report, repeatables_applied=self._apply_repeatables(conn, repeatables)
                )
            finally:
                if not conn.closed:
                    conn.rollback()
                    conn.execute("SELECT pg_advisory_unlock(%s)", (ADVISORY_LOCK_KEY,))
                    conn.commit()

    def _lock(self, conn: psycopg.Connection[Any]) -> None:
        with conn.transaction():
            conn.execute("SELECT set_config('lock_timeout', %s, true)", (LOCK_WAIT,))
            conn.execute("SELECT pg_advisory_lock(%s)", (ADVISORY_LOCK_KEY,))
            conn.execute(_TRACKING_TABLE)

    def _apply_pending(
        self, conn: psycopg.Connection[Any], migrations: list[Migration]
    ) -> MigrationReport:
        with conn.transaction():
            rows = conn.execute("SELECT version, checksum FROM schema_migrations").fetchall()
        applied: dict[str, str] = dict(rows)
        for migration in migrations:
            recorded = applied.get(migration.version)
            if recorded is not None and recorded != migration.checksum:
                raise MigrationError(
                    f"migration {migration.version} was changed after it was applied "
                    f"(checksum {recorded[:12]} in the database, {migration.checksum[:12]} on "
                    "disk); restore the file and put the change in a new migration",
                    migration.version,
                )
        done: list[str] = []
        for migration in migrations:
            if migration.version in applied:
                continue
            try:
                with conn.transaction():
                    conn.execute(migration.sql)
                    conn.execute(
                        "INSERT INTO schema_migrations (version, checksum) VALUES (%s, %s)",
                        (migration.version, migration.checksum),
                    )
            except psycopg.OperationalError:
                raise
            except psycopg.Error as exc:
                raise MigrationError(
                    f"migration {migration.version} failed: {exc.diag.message_primary or exc}",
                    migration.version,
                ) from exc
            done.append(migration.version)
        known = {migration.version for migration in migrations}
        return MigrationReport(
            applied=tuple(done),
            already_applied=tuple(m.version for m in migrations if m.version in applied),
            unknown=tuple(sorted(set(applied) - known)),
        )

    @staticmethod
    def _apply_repeatables(
        conn: psycopg.Connection[Any], repeatables: list[Repeatable]
    ) -> tuple[str, ...]:
        with conn.transaction():
            table = conn.execute("SELECT to_regclass(%s)", (REPEATABLES_TABLE,)).fetchone()
            if table is None or table[0] is None:
                raise MigrationError(
                    f"repeatable migrations need the table {REPEATABLES_TABLE} "
                    "(migration 0009_repeatable_migrations)"
                )
            recorded: dict[str, str] = dict(
                conn.execute(f"SELECT name, checksum FROM {REPEATABLES_TABLE}").fetchall()  # noqa: S608  # a constant name
            )
        done: list[str] = []
        for repeatable in repeatables:
            if recorded.get(repeatable.name) == repeatable.checksum:
                continue
            try:
                with conn.transaction():
                    conn.execute(repeatable.sql)
                    conn.execute(
                        f"INSERT INTO {REPEATABLES_TABLE} (name, checksum) VALUES (%s, %s) "  # noqa: S608  # a constant name
                        "ON CONFLICT (name) DO UPDATE SET checksum = EXCLUDED.checksum, "
                        "applied_at = CURRENT_TIMESTAMP",
                        (repeatable.name, repeatable.checksum),
                    )
            except psycopg.OperationalError:
                raise
            except psycopg.Error as exc:
                raise MigrationError(
                    f"repeatable migration {repeatable.name} failed: "
                    f"{exc.diag.message_primary or exc}",
                    repeatable.name,
                ) from exc
            done.append(repeatable.name)
        return tuple(done)
