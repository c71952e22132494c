"""The query depth in every store: the hand-built rows of tests/support/depth_data.py loaded
into PostgreSQL (through ingest transactions, the initial events last, as a late delivery
would) and into the Parquet lake (with an at-least-once redelivery), and each case's
hand-computed answer asserted for the hot reader (default plans), PostgreSQL's raw rows, the
hot store's fact blocks, DuckDB over the lake and the in-memory reference: entry and exit pages, `property:<key>`,
the four filter operators with alternatives, percentage, conversions, and (acceptance 2)
America/New_York's local days and hours across both DST changes."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest
from tests.support.depth_data import ALL_EVENTS, ALL_INITIAL_EVENTS, CASES, DepthCase, answer
from tests.support.hot_store import ingest_rows

from adapters.lake import LocalStatsReader, ParquetLakeWriter
from adapters.memory_stats import InMemoryStatsReader
from adapters.postgres.fact_blocks import BlockCache, FactBlockStatsReader
from adapters.postgres.pool import Pool
from adapters.postgres.stats import PostgresStatsReader
from analytics_core.ports import StatsReader

READERS = ("postgres", "postgres-raw", "postgres-fact-blocks", "local", "memory")


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("depth-lake")
    writer = ParquetLakeWriter(root)
    writer.write_rows(ALL_EVENTS, ALL_INITIAL_EVENTS)
    writer.write_rows(ALL_EVENTS[:4], ALL_INITIAL_EVENTS[:3])  # an at-least-once redelivery
    return root


@pytest.fixture
def loaded(db: Pool, database_url: str) -> Pool:
    with psycopg.connect(database_url) as conn:
        # In three transactions, the first initial events last, as a late delivery would.
        ingest_rows(conn, ALL_EVENTS[:5], ())
        ingest_rows(conn, ALL_EVENTS[5:], ALL_INITIAL_EVENTS[4:])
        ingest_rows(conn, (), ALL_INITIAL_EVENTS[:4])
    return db


@pytest.fixture(params=READERS)
def reader(request: pytest.FixtureRequest, lake: Path) -> StatsReader:
    if request.param == "local":
        return LocalStatsReader(lake)
    if request.param == "memory":
        memory = InMemoryStatsReader()
        memory.add(ALL_EVENTS, ALL_INITIAL_EVENTS)
        return memory
    pool = request.getfixturevalue("loaded")
    if request.param == "postgres-raw":
        return PostgresStatsReader(pool, rollups=False, session_days=False)
    if request.param == "postgres-fact-blocks":
        return FactBlockStatsReader(pool, cache=BlockCache())
    return PostgresStatsReader(pool)


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.name)
def test_every_store_gives_the_hand_computed_answer(reader: StatsReader, case: DepthCase) -> None:
    """Each store's answer to each case is the one worked out by hand (the case's `about`
    says what it pins down)."""
    assert answer(reader, case) == case.expected(), case.about
