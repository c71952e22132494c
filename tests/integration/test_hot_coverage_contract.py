"""`HotCoverage`: the in-memory fake and PostgreSQL (migration 0008) keep the same contract."""

from __future__ import annotations

from datetime import date

import pytest

from adapters.memory import InMemoryHotCoverage
from adapters.postgres.coverage import PostgresHotCoverage
from adapters.postgres.migrations import PostgresMigrator
from adapters.postgres.pool import Pool, open_pool
from analytics_core.ports import HotCoverage


@pytest.fixture(params=["memory", "postgres"])
def coverage(request: pytest.FixtureRequest) -> HotCoverage:
    if request.param == "memory":
        return InMemoryHotCoverage()
    pool: Pool = request.getfixturevalue("db")
    return PostgresHotCoverage(pool)


def test_fresh_store_is_complete_for_every_day(coverage: HotCoverage) -> None:
    """A fresh store says None, and `move_back` leaves None alone."""
    assert coverage.since() is None
    assert coverage.move_back(date(2026, 1, 1)) is None
    assert coverage.since() is None


def test_set_read_clear_and_move_back(coverage: HotCoverage) -> None:
    """A set day reads back; `move_back` moves it earlier only; clearing gives None."""
    coverage.set_since(date(2026, 12, 7))
    assert coverage.since() == date(2026, 12, 7)
    assert coverage.move_back(date(2026, 12, 8)) == date(2026, 12, 7)
    assert coverage.move_back(date(2026, 11, 30)) == date(2026, 11, 30)
    assert coverage.since() == date(2026, 11, 30)
    coverage.set_since(date(2026, 12, 10))
    assert coverage.since() == date(2026, 12, 10)
    coverage.set_since(None)
    assert coverage.since() is None


def test_fresh_migrated_database_holds_one_null_row(empty_database_url: str) -> None:
    """Migration 0008 leaves exactly one row, NULL: a fresh install is complete."""
    pool = open_pool(empty_database_url, name="test-coverage")
    try:
        PostgresMigrator(pool).migrate()
        with pool.connection() as conn:
            rows = conn.execute("SELECT only_row, since FROM hot_coverage").fetchall()
        assert rows == [(True, None)]
        assert PostgresHotCoverage(pool).since() is None
    finally:
        pool.close()
