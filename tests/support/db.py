"""Throwaway PostgreSQL databases for tests and benchmarks.

The server comes from `TEST_DATABASE_URL` (default: the machine's local PostgreSQL). Each test
session creates databases with unique names and drops them at the end, so concurrent runs never
see each other's data. A server that does not answer is an error, never a skip.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

ADMIN_URL = os.environ.get("TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")


def check_server(admin_url: str = ADMIN_URL) -> None:
    """Raise a clear error when the test PostgreSQL server does not answer."""
    try:
        with psycopg.connect(admin_url, connect_timeout=5) as conn:
            conn.execute("SELECT 1")
    except psycopg.OperationalError as exc:
        message = (
            f"PostgreSQL is required for these tests and did not answer at {admin_url!r}: {exc}. "
            "Start it (pg_ctlcluster --skip-systemctl-redirect <version> main start) or set "
            "TEST_DATABASE_URL."
        )
        raise RuntimeError(message) from exc


def create_database(admin_url: str = ADMIN_URL, prefix: str = "analytics_test") -> str:
    """Create an empty database with a unique name; returns its URL."""
    name = f"{prefix}_{os.getpid()}_{secrets.token_hex(4)}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    params = conninfo_to_dict(admin_url)
    params["dbname"] = name
    return make_conninfo(**params)


def drop_database(url: str, admin_url: str = ADMIN_URL) -> None:
    """Drop the database at `url`, disconnecting whoever is still in it."""
    name = conninfo_to_dict(url)["dbname"]
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(str(name)))
        )


@contextmanager
def temporary_database(admin_url: str = ADMIN_URL, prefix: str = "analytics_test") -> Iterator[str]:
    """A database that exists for the duration of the block."""
    url = create_database(admin_url, prefix)
    try:
        yield url
    finally:
        drop_database(url, admin_url)


def truncate_all(url: str) -> None:
    """Empty every table of the database (partitions through their parents), keeping the
    migration history and the seeded plan."""
    with psycopg.connect(url, autocommit=True) as conn:
        tables = [
            name
            for (name,) in conn.execute(
                """
                SELECT c.relname FROM pg_class c
                JOIN pg_namespace n ON n.oid = c.relnamespace
                WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p')
                  AND NOT c.relispartition
                  AND c.relname NOT IN ('schema_migrations', 'schema_repeatables')
                """
            ).fetchall()
        ]
        if tables:
            conn.execute(
                sql.SQL("TRUNCATE {} RESTART IDENTITY").format(
                    sql.SQL(", ").join(sql.Identifier(t) for t in tables)
                )
            )
        if "plans" in tables:  # reference data the migration seeds (0010)
            conn.execute("INSERT INTO plans (plan, monthly_allowance) VALUES ('free_tier', 10000)")


def fetch_all(url: str, query: str, params: Any = None) -> list[tuple[Any, ...]]:
    """Run one query on a connection of its own and return the rows."""
    with psycopg.connect(url) as conn:
        return conn.execute(query, params).fetchall()
