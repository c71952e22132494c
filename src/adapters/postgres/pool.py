"""Connection pool and transactions for PostgreSQL (psycopg 3 + psycopg_pool).

A Lambda container serves one request at a time, so its pool is small (at most two
connections) and lives as long as the container; RDS Proxy multiplexes the containers onto
the database. Connections are checked when taken from the pool, because a frozen container's
idle connections may have been closed meanwhile. The password comes from Secrets Manager in AWS,
read once per container on the first connection, never at import.

Every transaction sets a local statement timeout (`SET LOCAL`, which RDS Proxy does not pin),
and connection-level failures become `StoreUnavailableError`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from functools import cache
from typing import Any

import psycopg
import psycopg_pool
from psycopg.conninfo import make_conninfo

from adapters.config import DatabaseSecret, DatabaseSettings, DatabaseUrl
from analytics_core.errors import QueryTimeoutError, StoreUnavailableError

DEFAULT_STATEMENT_TIMEOUT_MS = 10_000
CONNECT_TIMEOUT_S = 5
POOL_TIMEOUT_S = 10.0

SecretReader = Callable[[str], str]
"""Returns the text of a secret given its ARN (Secrets Manager's GetSecretValue)."""


def conninfo_factory(
    database: DatabaseSettings, read_secret: SecretReader | None = None, *, application: str
) -> Callable[[], str]:
    """A function giving the connection string; in AWS it reads the secret once, lazily."""
    common: dict[str, Any] = {
        "connect_timeout": CONNECT_TIMEOUT_S,
        "application_name": application,
    }
    if isinstance(database, DatabaseUrl):
        conninfo = make_conninfo(database.url, **common)
        return lambda: conninfo
    if read_secret is None:
        raise ValueError("reading the database secret needs a secret reader")
    secret_database: DatabaseSecret = database

    @cache
    def from_secret() -> str:
        secret = json.loads(read_secret(secret_database.secret_arn))
        return make_conninfo(
            host=secret_database.host,
            port=secret_database.port,
            dbname=secret_database.name,
            user=secret["username"],
            password=secret["password"],
            sslmode="require",
            **common,
        )

    return from_secret


def open_pool(
    conninfo: str | Callable[[], str], *, max_size: int = 2, name: str = "analytics"
) -> psycopg_pool.ConnectionPool[psycopg.Connection[Any]]:
    """A pool that connects on demand (no I/O here) and checks connections on checkout."""
    return psycopg_pool.ConnectionPool(
        conninfo,
        min_size=0,
        max_size=max_size,
        open=True,
        name=name,
        check=psycopg_pool.ConnectionPool.check_connection,
        timeout=POOL_TIMEOUT_S,
        max_idle=300.0,
        reconnect_timeout=30.0,
    )


Pool = psycopg_pool.ConnectionPool[psycopg.Connection[Any]]


@contextmanager
def translate_errors() -> Iterator[None]:
    """Turn connection-level psycopg failures into the port's `StoreUnavailableError`."""
    try:
        yield
    except psycopg_pool.PoolTimeout as exc:
        raise StoreUnavailableError("no database connection available") from exc
    except psycopg.OperationalError as exc:  # includes QueryCanceled (statement timeout)
        raise StoreUnavailableError(f"database unavailable: {type(exc).__name__}") from exc


@contextmanager
def deadline(what: str) -> Iterator[None]:
    """A statement cancelled by its statement timeout (which `translate_errors` makes a
    `StoreUnavailableError`) as `QueryTimeoutError` naming `what`."""
    try:
        yield
    except StoreUnavailableError as exc:
        if isinstance(exc.__cause__, psycopg.errors.QueryCanceled):
            raise QueryTimeoutError(f"{what} passed its deadline") from exc.__cause__
        raise


@contextmanager
def transaction(
    pool: Pool,
    *,
    statement_timeout_ms: int = DEFAULT_STATEMENT_TIMEOUT_MS,
    settings: Mapping[str, str] | None = None,
) -> Iterator[psycopg.Connection[Any]]:
    """A connection inside one transaction, committed on success and rolled back on error.

    The statement timeout and `settings` (more run-time parameters, such as `lock_timeout`)
    are set local to the transaction, all in its first statement."""
    local = {"statement_timeout": str(statement_timeout_ms), **(settings or {})}
    with translate_errors(), pool.connection() as conn, conn.transaction():
        conn.execute(
            "SELECT " + ", ".join(["set_config(%s, %s, true)"] * len(local)),
            [part for setting in local.items() for part in setting],
        )
        yield conn
