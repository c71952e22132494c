"""The fact blocks of PostgreSQL give the hand-computed answers of the query depth cases
(tests/support/depth_data.py), the blocks built by `FactBlockStatsReader` from the stored
rows (the rollups not consulted)."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest
from tests.support import db as testdb
from tests.support.depth_data import ALL_EVENTS, ALL_INITIAL_EVENTS, CASES, DepthCase, answer
from tests.support.hot_store import ingest_rows

from adapters.postgres.fact_blocks import BlockCache, FactBlockStatsReader
from adapters.postgres.migrations import PostgresMigrator
from adapters.postgres.pool import open_pool


@pytest.fixture(scope="module")
def stored(admin_url: str) -> Iterator[FactBlockStatsReader]:
    """The rows in a database of this module, read through the blocks alone."""
    with testdb.temporary_database(admin_url, prefix="analytics_fact_depth") as url:
        pool = open_pool(url, max_size=2, name="fact-depth")
        try:
            PostgresMigrator(pool).migrate()
            with psycopg.connect(url) as conn:
                ingest_rows(conn, ALL_EVENTS, ALL_INITIAL_EVENTS)
            yield FactBlockStatsReader(pool, cache=BlockCache(), rollups_first=False)
        finally:
            pool.close()


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.name)
def test_the_stored_blocks_give_the_hand_computed_answers(
    stored: FactBlockStatsReader, case: DepthCase
) -> None:
    """Each case's answer from the stored blocks is the hand-computed one."""
    assert answer(stored, case) == case.expected(), case.about
