"""Property test: whatever filter values, property keys and goal the query parser accepts run
as bound parameters in DuckDB (the lake) and PostgreSQL (the raw rows), never as SQL: each
generated query runs without error and answers exactly what the in-memory reference answers.

The data is the hand-built site plus a few events whose properties have awkward keys and
values (SQL and JSON-path metacharacters), so that some generated filters match."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest
from hypothesis import HealthCheck, given, reject, settings
from hypothesis import strategies as st
from tests.support import db as testdb
from tests.support.hot_store import copy_rows
from tests.support.stats_data import HAND_END, HAND_EVENTS, HAND_INITIAL_EVENTS, HAND_START, SITE_A

from adapters.lake import LocalStatsReader, ParquetLakeWriter
from adapters.memory_stats import InMemoryStatsReader
from adapters.postgres.migrations import PostgresMigrator
from adapters.postgres.pool import Pool, open_pool
from adapters.postgres.stats import Plan, PostgresStatsReader
from analytics_core.errors import InvalidRequestError
from analytics_core.rows import EventRow
from analytics_core.stats import PROPERTY_KEY, Dimension, Operator, StatsQuery
from entrypoints.api.query_params import parse_stats_query

AWKWARD_PROPERTIES = (
    {"a.b": "x' OR 1=1 --", ".c": 1, "d-e:f": True},
    {"a.b": '%_"\\', "plan": "50% off", "x": "[*]"},
    {"plan": "ÉTÉ; DROP TABLE events", ".c": -3, "a.b": None},
)
EXTRA_EVENTS = tuple(
    EventRow(
        f"01JDQ7ZK3M0000000000000P{n:02d}",
        SITE_A,
        "s1",
        datetime(2026, 11, 10, 10, 2, n, tzinfo=UTC),
        date(2026, 11, 10),
        "custom",
        "/pricing",
        properties,
    )
    for n, properties in enumerate(AWKWARD_PROPERTIES)
)
EVENTS = (*HAND_EVENTS, *EXTRA_EVENTS)


class Readers:
    """The rows in DuckDB, PostgreSQL and memory."""

    def __init__(self, pool: Pool, lake: Path) -> None:
        self.local = LocalStatsReader(lake)
        self.raw = PostgresStatsReader(pool, rollups=False, session_days=False)
        self.postgres = PostgresStatsReader(pool)
        self.memory = InMemoryStatsReader()
        self.memory.add(EVENTS, HAND_INITIAL_EVENTS)


@pytest.fixture(scope="module")
def readers(admin_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Readers]:
    lake = tmp_path_factory.mktemp("injection-lake")
    ParquetLakeWriter(lake).write_rows(EVENTS, HAND_INITIAL_EVENTS)
    with testdb.temporary_database(admin_url, prefix="analytics_injection") as url:
        pool = open_pool(url, max_size=2, name="injection")
        try:
            PostgresMigrator(pool).migrate()
            with psycopg.connect(url) as conn:
                copy_rows(conn, EVENTS, HAND_INITIAL_EVENTS)
            yield Readers(pool, lake)
        finally:
            pool.close()


SQL_TEXT = st.text(
    alphabet=st.sampled_from(list("aAéÉ%_*$.[]()?:'\"\\;-/|=!~ x0")) | st.characters(),
    min_size=1,
    max_size=30,
)
KEYS = st.sampled_from(["a.b", ".c", "d-e:f", "plan", "x"]) | st.from_regex(
    PROPERTY_KEY, fullmatch=True
)
FIELDS = st.one_of(
    st.sampled_from([d.value for d in Dimension]),
    KEYS.map(lambda key: f"property:{key}"),
)


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.filter_too_much])
@given(
    case=st.fixed_dictionaries(
        {
            "field": FIELDS,
            "group_key": KEYS,
            "operator": st.sampled_from([op.value for op in Operator]),
            "values": st.lists(SQL_TEXT, min_size=1, max_size=3),
            "goal": st.none() | SQL_TEXT,
            "timezone": st.sampled_from(["UTC", "Asia/Kolkata"]),
        }
    )
)
def test_accepted_values_are_only_ever_parameters(readers: Readers, case: dict[str, Any]) -> None:
    """A query the parser accepts runs in DuckDB and PostgreSQL and gives the reference's
    answer, whatever its filter values, property keys and goal hold."""
    field, operator, values = case["field"], case["operator"], case["values"]
    goal, timezone = case["goal"], case["timezone"]
    params = {
        "siteId": SITE_A,
        "startDate": HAND_START.isoformat(),
        "endDate": HAND_END.isoformat(),
        "filters": f"{field}{operator}{'|'.join(values)}",
        "groupBy": f"property:{case['group_key']}",
    }
    if goal is not None:
        params["goal"] = goal
    try:
        parsed = parse_stats_query(params, today=date(2026, 12, 1))
    except InvalidRequestError:
        reject()
    query = StatsQuery(
        parsed.site_ids,
        parsed.start_date,
        parsed.end_date,
        group_by=parsed.group_by,
        filters=parsed.filters,
        goal=parsed.goal,
        timezone=timezone,
    )
    expected = readers.memory.read(query)
    assert readers.local.read(query) == expected
    assert readers.raw.read(query) == expected
    assert readers.postgres.plan(query) is Plan.RAW_ROWS


def test_awkward_keys_and_values_are_found(readers: Readers) -> None:
    """Keys with JSON-path metacharacters and values with SQL ones match as plain text."""
    params = {
        "siteId": SITE_A,
        "startDate": HAND_START.isoformat(),
        "endDate": HAND_END.isoformat(),
        "filters": "property:.c==1|-3",
        "groupBy": "property:a.b",
    }
    query = parse_stats_query(params, today=date(2026, 12, 1))
    expected = readers.memory.read(query)
    assert expected.totals.events == 2
    assert [value for value, _ in expected.breakdown] == ["x' OR 1=1 --", None]
    assert readers.local.read(query) == expected
    assert readers.raw.read(query) == expected
