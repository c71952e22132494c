"""The fact-block engine (adapters/fact_engine.py) answers exactly as the in-memory reference
does: on the generated datasets (tests/support/stats_data.py), for every field as groupBy x
every interval, every field under the four operators (with alternatives), a goal, and the
time zones UTC, America/New_York (across a DST change) and Asia/Kolkata; blocks go through
their byte encoding first."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pytest
from tests.support.fact_blocks import MemoryBlocks, raw_rows
from tests.support.stats_data import GOAL, generate

from adapters.fact_engine import build_blocks, decode, encode
from adapters.memory_stats import InMemoryStatsReader
from analytics_core.stats import (
    Dimension,
    Field,
    Filter,
    Interval,
    Operator,
    Property,
    StatsQuery,
    complete_report,
    zone,
)

DATA = generate(seed=20261125, days=20, sessions=900)
DST = generate(
    seed=20261101, sites=2, days=20, sessions=600, first_day=date(2026, 10, 20), site_tag="Z"
)
ZONES = ("UTC", "America/New_York", "Asia/Kolkata")
FIELDS: list[Field] = [*Dimension, Property("plan"), Property("n"), Property("trial")]
INTERVALS = [None, *Interval]


@pytest.fixture(scope="module")
def stores() -> tuple[MemoryBlocks, InMemoryStatsReader]:
    """The engine and the reference over the same rows."""
    engine = MemoryBlocks([*DATA.events, *DST.events], [*DATA.initial_events, *DST.initial_events])
    reference = InMemoryStatsReader()
    for data in (DATA, DST):
        reference.add(data.events, data.initial_events)
    return engine, reference


def _check(stores: tuple[MemoryBlocks, InMemoryStatsReader], query: StatsQuery) -> None:
    engine, reference = stores
    expected = complete_report("x", query, reference.read(query))
    got = complete_report("x", query, engine.read(query))
    assert got.totals == expected.totals
    assert got.timeseries == expected.timeseries
    assert got.breakdown == expected.breakdown


def _query(data_sites: tuple[str, ...], start: date, end: date, **kwargs: object) -> StatsQuery:
    return StatsQuery(data_sites, start, end, **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize("timezone", ZONES)
@pytest.mark.parametrize("interval", INTERVALS, ids=str)
@pytest.mark.parametrize("group_by", [None, *FIELDS], ids=str)
def test_every_group_and_interval(
    stores: tuple[MemoryBlocks, InMemoryStatsReader],
    timezone: str,
    interval: Interval | None,
    group_by: Field | None,
) -> None:
    """Each groupBy x interval x zone gives the reference's totals, buckets and top rows."""
    start = DATA.first_day + timedelta(days=3)
    end = start + timedelta(days=9)
    query = _query(
        DATA.sites[:2],
        start,
        end,
        interval=interval,
        group_by=group_by,
        timezone=timezone,
        goal=GOAL,
        limit=7,
    )
    _check(stores, query)


FILTER_VALUES: dict[str, tuple[str, ...]] = {
    "pathname": ("/pricing", "/docs"),
    "event": ("pageview",),
    "country": ("US", "DE"),
    "device": ("mobile",),
    "browser": ("chrome",),
    "entry_page": ("/",),
    "exit_page": ("/docs", "/A"),
    "property:plan": ("pro",),
    "property:n": ("3",),
}


@pytest.mark.parametrize("operator", list(Operator), ids=str)
@pytest.mark.parametrize("name", sorted(FILTER_VALUES))
@pytest.mark.parametrize("timezone", ["UTC", "America/New_York"])
def test_filters(
    stores: tuple[MemoryBlocks, InMemoryStatsReader], operator: Operator, name: str, timezone: str
) -> None:
    """Each field under each operator (alternatives included), grouped by another field and
    by day, with a goal, gives the reference's answer."""
    field: Field = Property(name[9:]) if name.startswith("property:") else Dimension(name)
    query = _query(
        DATA.sites,
        DATA.first_day,
        DATA.last_day,
        filters=(Filter(field, operator, FILTER_VALUES[name]),),
        group_by=Dimension.REFERER_DOMAIN if name != "referer_domain" else Dimension.PATHNAME,
        interval=Interval.DAY,
        goal=GOAL,
        timezone=timezone,
    )
    _check(stores, query)


def test_filters_together_over_the_dst_change(
    stores: tuple[MemoryBlocks, InMemoryStatsReader],
) -> None:
    """Several filters AND together, hourly buckets across New York's 25-hour day."""
    query = _query(
        DST.sites,
        DST.first_day + timedelta(days=10),
        DST.first_day + timedelta(days=14),
        filters=(
            Filter(Dimension.DEVICE, Operator.NE, "tablet"),
            Filter(Dimension.PATHNAME, Operator.NOT_CONTAINS, ("blog", "ABOUT")),
        ),
        group_by=Dimension.EXIT_PAGE,
        interval=Interval.HOUR,
        timezone="America/New_York",
    )
    _check(stores, query)


def test_a_block_survives_its_encoding() -> None:
    """Decoding an encoded block gives the same arrays and strings."""
    numbers: dict[tuple[str, str], int] = {}
    site = DATA.sites[0]
    rows = [r for r in (*DATA.events, *DATA.initial_events) if r.site_id == site]
    day = DATA.first_day + timedelta(days=5)
    (block,) = build_blocks(raw_rows(rows, numbers), [day], zone("UTC"))
    assert block.size > 0
    again = decode(encode(block))
    assert again.strings == block.strings
    assert again.day == day
    assert np.array_equal(again.session, block.session)
    assert np.array_equal(again.duration, block.duration)
    assert np.array_equal(again.prop_value, block.prop_value)
    assert all(np.array_equal(again.columns[d], block.columns[d]) for d in block.columns)


def test_an_empty_day_is_an_empty_block() -> None:
    """A day without rows gives a block of no events, and the engine answers zeros there."""
    engine = MemoryBlocks(DATA.events, DATA.initial_events)
    far = DATA.last_day + timedelta(days=30)
    result = engine.read(_query(DATA.sites, far, far, interval=Interval.HOUR))
    assert result.totals.events == 0
    assert result.timeseries == ()
