"""The PostgreSQL stats reader sends to its raw rows every query its read model (UTC days,
stored dimensions, single `==`/`!=` values) cannot answer exactly, and only those."""

from __future__ import annotations

from datetime import date
from typing import Any, cast

import attrs
import pytest

from adapters.postgres.pool import Pool
from adapters.postgres.stats import Plan, PostgresStatsReader, read_model_answers
from analytics_core.stats import Dimension, Filter, Interval, Operator, Property, StatsQuery

SITE = "01JDQ7ZK3M000000000000SA01"
READER = PostgresStatsReader(cast("Pool", None))  # plan() never touches the pool


BASE = StatsQuery((SITE,), date(2026, 11, 1), date(2026, 11, 30))


def _query(**changes: Any) -> StatsQuery:
    return attrs.evolve(BASE, **changes)


RAW = {
    "new-york": _query(timezone="America/New_York"),
    "kolkata-hourly": _query(timezone="Asia/Kolkata", interval=Interval.HOUR),
    "property-group": _query(group_by=Property("plan")),
    "property-filter": _query(filters=(Filter(Property("plan"), Operator.EQ, "pro"),)),
    "entry-group": _query(group_by=Dimension.ENTRY_PAGE),
    "exit-filter": _query(filters=(Filter(Dimension.EXIT_PAGE, Operator.NE, "/"),)),
    "contains": _query(filters=(Filter(Dimension.PATHNAME, Operator.CONTAINS, "blog"),)),
    "not-contains": _query(filters=(Filter(Dimension.COUNTRY, Operator.NOT_CONTAINS, "u"),)),
    "alternatives": _query(filters=(Filter(Dimension.COUNTRY, Operator.EQ, ("US", "DE")),)),
    "goal": _query(goal="signup"),
}
READ_MODEL = {
    "totals": (_query(), Plan.ROLLUPS),
    "one-filter": (
        _query(filters=(Filter(Dimension.COUNTRY, Operator.EQ, "US"),), group_by=Dimension.COUNTRY),
        Plan.ROLLUPS,
    ),
    "not-equal": (
        _query(filters=(Filter(Dimension.COUNTRY, Operator.NE, "US"),)),
        Plan.SESSION_DAYS,
    ),
    "pathname-hourly": (
        _query(group_by=Dimension.PATHNAME, interval=Interval.HOUR),
        Plan.ROLLUPS,
    ),
    "utc-named": (_query(timezone="UTC", group_by=Dimension.BROWSER), Plan.ROLLUPS),
}


@pytest.mark.parametrize("name", RAW)
def test_what_the_read_model_cannot_answer_runs_on_raw_rows(name: str) -> None:
    """Another zone, properties, entry/exit pages, contains, alternatives or a goal: raw rows."""
    assert not read_model_answers(RAW[name])
    assert READER.plan(RAW[name]) is Plan.RAW_ROWS


@pytest.mark.parametrize("name", READ_MODEL)
def test_utc_queries_on_stored_dimensions_keep_their_plans(name: str) -> None:
    """UTC queries on stored dimensions with single ==/!= values keep the read model."""
    query, plan = READ_MODEL[name]
    assert read_model_answers(query)
    assert READER.plan(query) is plan
