"""Daily partitions of the hot event tables (`EventPartitions` on PostgreSQL).

A day's partition is named `<table>_pYYYYMMDD`. It is created detached (`LIKE` the parent),
filled with that day's rows from the default partition if any landed there, then attached:
attaching takes a lighter lock on the parent than `CREATE TABLE ... PARTITION OF`, so ingest
keeps writing meanwhile. Dropping a day drops its partition. DDL waits at most `LOCK_WAIT` for
its locks; a run that gives up leaves things as they were and the next run catches up.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, timedelta
from typing import Any

import psycopg
from psycopg import sql

from adapters.postgres.pool import Pool, transaction
from adapters.postgres.read_model import READ_MODEL_TABLES
from adapters.postgres.read_model import expire as expire_read_model

EVENT_TABLES = ("events", "initial_events")
# The stats read model (read_model.py) is partitioned like the events and follows their days.
PARTITIONED_TABLES = EVENT_TABLES + READ_MODEL_TABLES
LOCK_WAIT = "10s"
# Serialises maintenance runs with each other (not with ingest): "partitio" in ASCII.
ADVISORY_LOCK_KEY = 0x7061727469746970
DDL_TIMEOUT_MS = 120_000
_PARTITION = re.compile(r"(?P<table>[a-z_]+)_p(?P<day>\d{8})")


def partition_name(table: str, day: date) -> str:
    """The name of `table`'s partition for `day`."""
    return f"{table}_p{day:%Y%m%d}"


class PostgresEventPartitions:
    """The event tables' daily partitions in one PostgreSQL database."""

    def __init__(self, pool: Pool, tables: tuple[str, ...] = PARTITIONED_TABLES) -> None:
        self._pool = pool
        self._tables = tables

    def _days_by_table(self, conn: psycopg.Connection[Any]) -> dict[str, set[date]]:
        rows = conn.execute(
            """
            SELECT parent.relname, child.relname
            FROM pg_inherits
            JOIN pg_class parent ON parent.oid = pg_inherits.inhparent
            JOIN pg_class child ON child.oid = pg_inherits.inhrelid
            JOIN pg_namespace ns ON ns.oid = parent.relnamespace
            WHERE ns.nspname = current_schema() AND parent.relname = ANY(%s)
            """,
            (list(self._tables),),
        ).fetchall()
        days: dict[str, set[date]] = {table: set() for table in self._tables}
        for parent, child in rows:
            match = _PARTITION.fullmatch(child)
            if match and match["table"] == parent:
                raw = match["day"]
                days[parent].add(date(int(raw[:4]), int(raw[4:6]), int(raw[6:])))
        return days

    def existing_days(self) -> set[date]:
        """Days partitioned in every event table (a day missing anywhere counts as missing)."""
        with transaction(self._pool) as conn:
            by_table = self._days_by_table(conn)
        return set.intersection(*by_table.values()) if by_table else set()

    def create_day(self, day: date) -> None:
        """Create, fill from the default partition, and attach `day`'s partitions."""
        with self._ddl_transaction() as conn:
            existing = self._days_by_table(conn)
            for table in self._tables:
                if day in existing[table]:
                    continue
                self._create(conn, table, day)

    @contextmanager
    def _ddl_transaction(self) -> Iterator[psycopg.Connection[Any]]:
        """A transaction for DDL: locks wait at most `LOCK_WAIT`, other runs are excluded."""
        with transaction(
            self._pool, statement_timeout_ms=DDL_TIMEOUT_MS, settings={"lock_timeout": LOCK_WAIT}
        ) as conn:
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (ADVISORY_LOCK_KEY,))
            yield conn

    @staticmethod
    def _create(conn: psycopg.Connection[Any], table: str, day: date) -> None:
        parent = sql.Identifier(table)
        part = sql.Identifier(partition_name(table, day))
        default = sql.Identifier(f"{table}_default")
        conn.execute(
            sql.SQL(
                "CREATE TABLE {part} (LIKE {parent} INCLUDING DEFAULTS INCLUDING CONSTRAINTS "
                "INCLUDING STORAGE INCLUDING COMPRESSION)"
            ).format(part=part, parent=parent)
        )
        conn.execute(
            sql.SQL(
                "WITH moved AS (DELETE FROM {default} WHERE dt = %s RETURNING *) "
                "INSERT INTO {part} SELECT * FROM moved"
            ).format(default=default, part=part),
            (day,),
        )
        conn.execute(
            sql.SQL(
                "ALTER TABLE {parent} ATTACH PARTITION {part} FOR VALUES FROM ({lo}) TO ({hi})"
            ).format(
                parent=parent,
                part=part,
                lo=sql.Literal(day),
                hi=sql.Literal(day + timedelta(days=1)),
            )
        )

    def drop_day(self, day: date) -> None:
        """Drop `day`'s partitions with their rows."""
        with self._ddl_transaction() as conn:
            for table in self._tables:
                conn.execute(
                    sql.SQL("DROP TABLE IF EXISTS {}").format(
                        sql.Identifier(partition_name(table, day))
                    )
                )

    def expire_before(self, day: date) -> int:
        """Delete rows older than `day` that sit in the default partitions."""
        deleted = 0
        with transaction(self._pool, statement_timeout_ms=DDL_TIMEOUT_MS) as conn:
            for table in self._tables:
                cursor = conn.execute(
                    sql.SQL("DELETE FROM {} WHERE dt < %s").format(
                        sql.Identifier(f"{table}_default")
                    ),
                    (day,),
                )
                deleted += max(cursor.rowcount, 0)
            if set(READ_MODEL_TABLES) <= set(self._tables):
                expire_read_model(conn, day)  # the read model's per-session spans go too
        return deleted
