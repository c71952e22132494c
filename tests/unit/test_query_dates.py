"""GET /api/query never answers 500 for a request: dates outside 2000-01-01 .. today + 1 year
are a 400 naming the field, and arbitrary query strings get only 200, 400 or 404."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st
from tests.support.clock import FakeClock
from tests.support.events import OWNER_A, api_event
from tests.support.stats_data import HAND_EVENTS, HAND_INITIAL_EVENTS, SITE_A

from adapters.config import Settings
from adapters.memory import InMemoryHotCoverage, InMemorySiteRepository
from adapters.memory_stats import InMemoryReadModel, InMemoryStatsReader
from analytics_core.sites import ComplianceLevel, Site
from analytics_core.stats import Dimension, Interval, Metric
from entrypoints import bootstrap
from entrypoints.api import query as query_api
from entrypoints.http import LambdaHandler

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
MISSING = "01JDQ7ZK3M000000000000MNXS"


def handler() -> LambdaHandler:
    sites = InMemorySiteRepository()
    sites.put(
        Site(
            SITE_A,
            OWNER_A,
            "A site",
            ("example.com",),
            "free_tier",
            10_000,
            ComplianceLevel.MAYBE,
            NOW,
            NOW,
        )
    )
    stats = InMemoryStatsReader()
    stats.add(HAND_EVENTS, HAND_INITIAL_EVENTS)
    services = bootstrap.build(
        Settings(),
        sites=sites,
        hot_stats=stats,
        cold_stats=stats,
        clock=FakeClock(NOW),
        hot_coverage=InMemoryHotCoverage(),
        query_read_model=InMemoryReadModel(),
    )
    return query_api.make_handler(services)


HANDLER = handler()


def get(query: dict[str, str]) -> dict[str, Any]:
    return HANDLER(api_event("GET", "/api/query", query=query, sub=OWNER_A), None)


@pytest.mark.parametrize(
    ("start", "end", "field"),
    [
        ("0001-01-01", "0001-01-01", "startDate"),
        ("9999-12-31", "9999-12-31", "startDate"),
        ("1999-12-31", "2000-01-05", "startDate"),
        ("2028-11-25", "2028-11-25", "startDate"),  # today + 2 years
        ("2026-11-20", "9999-12-31", "endDate"),
        ("2026-11-20", "2027-11-26", "endDate"),  # a day past today + 1 year
    ],
)
@pytest.mark.parametrize("extra", [{}, {"groupBy": "pathname"}, {"interval": "day"}])
def test_dates_out_of_range_are_400_naming_the_field(
    start: str, end: str, field: str, extra: dict[str, str]
) -> None:
    """Dates before 2000-01-01 or after today + 1 year: 400 with the field named, whatever
    else the query asks (these dates made the date arithmetic overflow: 500)."""
    response = get({"siteId": SITE_A, "startDate": start, "endDate": end, **extra})
    assert response["statusCode"] == 400, response["body"]
    assert field in json.loads(response["body"])["error"]["fields"]


def test_the_range_limits_themselves_are_accepted() -> None:
    """2000-01-01 and today + 1 year are valid dates (each in a range of at most 366 days)."""
    first = get({"siteId": SITE_A, "startDate": "2000-01-01", "endDate": "2000-01-02"})
    last = get({"siteId": SITE_A, "startDate": "2027-11-20", "endDate": "2027-11-25"})
    assert (first["statusCode"], last["statusCode"]) == (200, 200)
    filtered = get(
        {
            "siteId": SITE_A,
            "startDate": "2027-11-25",
            "endDate": "2027-11-25",
            "filters": "pathname!=/x",
        }
    )
    assert filtered["statusCode"] == 200


texts = st.text(st.characters(codec="utf-8"), max_size=30)
valid_dates = st.sampled_from(["2026-11-01", "2026-11-20", "2026-11-25"])
dates = valid_dates | valid_dates | valid_dates | st.dates().map(lambda d: d.isoformat())
names = st.sampled_from([m.value for m in Metric])
dimensions = st.sampled_from([d.value for d in Dimension])


def plausible(values: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    """Mostly values of the parameter's kind, sometimes arbitrary text."""
    return st.one_of(values, values, values, texts)


parameters = st.fixed_dictionaries(
    {
        "siteId": plausible(st.sampled_from([SITE_A, SITE_A, MISSING, f"{SITE_A},{MISSING}"])),
        "startDate": plausible(dates),
        "endDate": plausible(dates),
    },
    optional={
        "metrics": plausible(st.lists(names, min_size=1, max_size=3).map(",".join)),
        "groupBy": plausible(dimensions),
        "interval": plausible(st.sampled_from([i.value for i in Interval])),
        "filters": plausible(
            st.tuples(dimensions, st.sampled_from(["==", "!="]), texts).map("".join)
        ),
        "limit": plausible(st.integers(-5, 2000).map(str)),
    },
)


@settings(max_examples=400)
@given(query=parameters, extra=st.just({}) | st.dictionaries(texts, texts, max_size=2))
def test_arbitrary_query_strings_get_200_400_or_404(
    query: dict[str, str], extra: dict[str, str]
) -> None:
    """Any query string (plausible values mixed with arbitrary text and unknown parameters):
    200, 400 or 404, and always a JSON body."""
    response = get({**extra, **query})
    event(f"status {response['statusCode']}")
    assert response["statusCode"] in {200, 400, 404}, response["body"]
    json.loads(response["body"])
