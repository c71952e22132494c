"""The migration runner: plain SQL files from `sql/migrations/`, applied in order, once.

Files are named `NNNN_description.sql`; the version is the file name without `.sql`. Each file
runs in its own transaction together with its row in `schema_migrations` (version, checksum,
applied_at), so a failing file leaves nothing half-applied and is retried on the next run. A
session-level advisory lock serialises concurrent runs (two deploys, or a deploy and an
operator): the second waits, then finds nothing left to do. An applied file whose content has
changed stops the run before anything is applied, because the database would no longer match
the repository.
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
class MigrationReport:
    """What a run did: versions applied now, versions found applied, applied but unknown here."""

    applied: tuple[str, ...]
    already_applied: tuple[str, ...]
    unknown: tuple[str, ...] = ()


def default_migrations_dir() -> Path:
    """The migrations folder: bundled next to this package in a wheel or Lambda asset, else
    the repository's `sql/migrations` (editable installs and checkouts)."""
    bundled = Path(__file__).with_name("sql")
    if bundled.is_dir():
        return bundled
    return Path(__file__).resolve().parents[3] / "sql" / "migrations"


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


class PostgresMigrator:
    """Applies the migrations of a folder to the database behind a pool."""

    def __init__(self, pool: Pool, directory: Path | None = None) -> None:
        self._pool = pool
        self._directory = directory or default_migrations_dir()

    def migrate(self) -> MigrationReport:
        """Apply every pending migration; see the module docstring for the guarantees."""
        migrations = discover(self._directory)
        with translate_errors(), self._pool.connection() as conn:
            self._lock(conn)
            try:
                return self._apply_pending(conn, migrations)
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
