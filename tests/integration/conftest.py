"""Fixtures of the integration tier: a real PostgreSQL, migrated once per session.

`database_url` is a database created for this session with every migration applied; `db`
gives each test a pool on it with all tables emptied first. Tests that need a database of
their own (migrations, concurrency) use `empty_database_url`.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from tests.support import db as testdb

from adapters.postgres.migrations import PostgresMigrator
from adapters.postgres.pool import Pool, open_pool


@pytest.fixture(scope="session")
def admin_url() -> str:
    """The test server's admin URL; fails (never skips) when PostgreSQL does not answer."""
    testdb.check_server()
    return testdb.ADMIN_URL


@pytest.fixture(scope="session")
def database_url(admin_url: str) -> Iterator[str]:
    """A database for this test session with every migration applied."""
    with testdb.temporary_database(admin_url) as url:
        pool = open_pool(url, name="test-migrate")
        try:
            PostgresMigrator(pool).migrate()
        finally:
            pool.close()
        yield url


@pytest.fixture(scope="session")
def session_pool(database_url: str) -> Iterator[Pool]:
    """One pool on the session database."""
    pool = open_pool(database_url, max_size=4, name="test")
    yield pool
    pool.close()


@pytest.fixture
def db(database_url: str, session_pool: Pool) -> Pool:
    """A pool on the session database, every table emptied before the test."""
    testdb.truncate_all(database_url)
    return session_pool


@pytest.fixture
def empty_database_url(admin_url: str) -> Iterator[str]:
    """A brand-new empty database for this test only."""
    with testdb.temporary_database(admin_url) as url:
        yield url
