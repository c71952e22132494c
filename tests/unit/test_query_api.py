"""GET /api/query over fakes: the answer's shape, routing by date (acceptance 3), ownership and
injection attempts (acceptance 4), errors."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from tests.support.clock import FakeClock
from tests.support.events import OWNER_A, OWNER_B, api_event, body_of, load_event
from tests.support.stats_data import HAND_EVENTS, HAND_INITIAL_EVENTS, SITE_A

from adapters.config import Settings
from adapters.memory import InMemoryHotCoverage, InMemorySiteRepository
from adapters.memory_stats import InMemoryReadModel, InMemoryStatsReader
from analytics_core.errors import QueryTimeoutError
from analytics_core.routing import Store, route
from analytics_core.sites import ComplianceLevel, Site
from analytics_core.stats import (
    DEFAULT_METRICS,
    Dimension,
    Interval,
    StatsQuery,
    StatsResult,
)
from entrypoints import bootstrap
from entrypoints.api import query as query_api
from entrypoints.http import LambdaHandler

CANONICAL_SITES = ("01JDQ7ZK3M8X2V6N4B9C5D7E1F", "01JDQ7ZK3M8X2V6N4B9C5D7E2G")
FOREIGN = "01JDQ7ZK3M000000000000FB99"
MISSING = "01JDQ7ZK3M000000000000MNXS"
NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


class RecordingReader:
    """A reader that remembers the queries it was asked; optionally fails."""

    def __init__(
        self, source: str, inner: InMemoryStatsReader | None = None, error: Exception | None = None
    ) -> None:
        self.source = source
        self.inner = inner
        self.error = error
        self.queries: list[StatsQuery] = []

    def read(self, query: StatsQuery) -> StatsResult:
        self.queries.append(query)
        if self.error is not None:
            raise self.error
        assert self.inner is not None
        return self.inner.read(query)


def site(site_id: str, owner: str) -> Site:
    return Site(
        site_id,
        owner,
        "A site",
        ("example.com",),
        "free_tier",
        10_000,
        ComplianceLevel.MAYBE,
        NOW,
        NOW,
    )


def reference() -> InMemoryStatsReader:
    memory = InMemoryStatsReader()
    memory.add(HAND_EVENTS, HAND_INITIAL_EVENTS)
    return memory


class World:
    def __init__(self, clock: FakeClock | None = None, hot_error: Exception | None = None) -> None:
        self.sites = InMemorySiteRepository()
        for site_id in (SITE_A, *CANONICAL_SITES):
            self.sites.put(site(site_id, OWNER_A))
        self.sites.put(site(FOREIGN, OWNER_B))
        self.hot = RecordingReader("postgres", reference(), hot_error)
        self.cold = RecordingReader("athena", reference())
        self.clock = clock or FakeClock(NOW)
        self.coverage = InMemoryHotCoverage()
        self.read_model = InMemoryReadModel()
        services = bootstrap.build(
            Settings(),
            sites=self.sites,
            hot_stats=self.hot,
            cold_stats=self.cold,
            clock=self.clock,
            hot_coverage=self.coverage,
            query_read_model=self.read_model,
        )
        self.handler: LambdaHandler = query_api.make_handler(services)

    def get(self, query: dict[str, str], sub: str | None = OWNER_A) -> dict[str, Any]:
        return self.handler(api_event("GET", "/api/query", query=query, sub=sub), None)

    @property
    def calls(self) -> int:
        return len(self.hot.queries) + len(self.cold.queries)


def params(**extra: str) -> dict[str, str]:
    return {"siteId": SITE_A, "startDate": "2026-11-10", "endDate": "2026-11-11", **extra}


def test_canonical_event() -> None:
    """The canonical API Gateway event (two siteIds joined by API Gateway, every parameter)
    answers 200 from Postgres with the documented shape."""
    world = World()
    response = world.handler(load_event("apigw_v2_jwt_get_query"), None)
    assert response["statusCode"] == 200, response["body"]
    assert response["headers"]["Content-Type"] == "application/json"
    body = body_of(response)
    assert body["source"] == "postgres"
    assert body["query"] == {
        "siteIds": list(CANONICAL_SITES),
        "startDate": "2026-10-27",
        "endDate": "2026-11-25",
        "metrics": ["visitors", "pageviews", "bounce_rate", "visit_duration"],
        "groupBy": "pathname",
        "interval": "day",
        "filters": [
            {"dimension": "country", "operator": "==", "value": "DE"},
            {"dimension": "device", "operator": "!=", "value": "tablet"},
        ],
        "limit": 10,
    }
    assert body["totals"] == {
        "visitors": 0,
        "pageviews": 0,
        "bounceRate": None,
        "visitDuration": None,
    }
    assert len(body["timeseries"]) == 30
    assert body["timeseries"][0] == {
        "bucket": "2026-10-27",
        "visitors": 0,
        "pageviews": 0,
        "bounceRate": None,
        "visitDuration": None,
    }
    assert body["breakdown"] == []
    (asked,) = world.hot.queries
    assert asked.site_ids == CANONICAL_SITES


def test_answer_with_data() -> None:
    """Totals, every bucket, and the breakdown in camelCase, from the reference data."""
    world = World()
    body = body_of(world.get(params(groupBy="country", interval="day", limit="2")))
    assert body["totals"] == {
        "visitors": 6,
        "visits": 4,
        "pageviews": 8,
        "events": 9,
        "bounceRate": 25,
        "visitDuration": 2565,
        "viewsPerVisit": 2.0,
    }
    assert [point["bucket"] for point in body["timeseries"]] == ["2026-11-10", "2026-11-11"]
    assert body["timeseries"][1]["visitors"] == 3
    assert [row["value"] for row in body["breakdown"]] == ["US", "DE"]
    assert body["breakdown"][0]["visitors"] == 2
    assert "timeseries" not in body_of(world.get(params()))
    assert "breakdown" not in body_of(world.get(params()))


def test_hourly_buckets_are_labelled_with_their_hour() -> None:
    """An hourly series labels buckets as UTC timestamps."""
    body = body_of(World().get(params(interval="hour", metrics="visitors")))
    assert body["timeseries"][10] == {"bucket": "2026-11-10T10:00:00Z", "visitors": 1}
    assert len(body["timeseries"]) == 48


@pytest.mark.parametrize(
    ("days_ago", "source"),
    [(0, "postgres"), (29, "postgres"), (30, "postgres"), (31, "athena"), (400, "athena")],
)
def test_source_says_which_store_answered(days_ago: int, source: str) -> None:
    """A range starting exactly 30 days ago is hot, 31 days ago cold; the answer says which."""
    world = World()
    start = (NOW.date() - timedelta(days=days_ago)).isoformat()
    body = body_of(
        world.get(
            {
                "siteId": SITE_A,
                "startDate": start,
                "endDate": NOW.date().isoformat() if days_ago < 366 else start,
            }
        )
    )
    assert body["source"] == source
    assert world.calls == 1


@pytest.mark.parametrize(("days_ago", "folds"), [(0, [(SITE_A,)]), (31, [])])
def test_a_hot_query_folds_its_sites_first(days_ago: int, folds: list[tuple[str, ...]]) -> None:
    """The handler's composition hands the read model to `query_stats`, which folds the
    queried sites' pending rows before the hot store answers, and never for the cold store."""
    world = World()
    start = (NOW.date() - timedelta(days=days_ago)).isoformat()
    world.get({"siteId": SITE_A, "startDate": start, "endDate": NOW.date().isoformat()})
    assert world.read_model.folds == folds


@given(
    moment=st.datetimes(
        min_value=datetime(2020, 1, 1, tzinfo=UTC).replace(tzinfo=None),
        max_value=datetime(2030, 12, 31, tzinfo=UTC).replace(tzinfo=None),
        timezones=st.just(UTC),
    ),
    days_ago=st.integers(-3, 80),
    window=st.integers(1, 60),
)
def test_routing_property(moment: datetime, days_ago: int, window: int) -> None:
    """For any clock time and hot window: hot exactly when the start is at most `window` days
    before the clock's UTC date."""
    start = moment.date() - timedelta(days=days_ago)
    expected = Store.HOT if days_ago <= window else Store.COLD
    assert route(start, moment.date(), window) is expected
    world = World(FakeClock(moment))
    world.handler = query_api.make_handler(
        bootstrap.build(
            Settings(hot_window_days=window, hot_retention_days=window + 2),
            sites=world.sites,
            hot_stats=world.hot,
            cold_stats=world.cold,
            clock=world.clock,
            hot_coverage=world.coverage,
            query_read_model=world.read_model,
        )
    )
    body = body_of(
        world.get(
            {
                "siteId": SITE_A,
                "startDate": start.isoformat(),
                "endDate": start.isoformat(),
                "metrics": "visits",
            }
        )
    )
    assert body["source"] == ("postgres" if expected is Store.HOT else "athena")


@pytest.mark.parametrize("clock_time", [time(0, 0), time(23, 59, 59, 999_999)])
def test_routing_uses_the_utc_date_at_both_ends_of_the_day(clock_time: time) -> None:
    """At 00:00 and 23:59:59.999 UTC the boundary is the same calendar date."""
    moment = datetime.combine(date(2026, 11, 25), clock_time, tzinfo=UTC)
    world = World(FakeClock(moment))
    for start, source in (("2026-10-26", "postgres"), ("2026-10-25", "athena")):
        assert (
            body_of(world.get({"siteId": SITE_A, "startDate": start, "endDate": start}))["source"]
            == source
        )


# ---------------------------------------------------------------- security

combinations = st.fixed_dictionaries(
    {},
    optional={
        "metrics": st.lists(
            st.sampled_from([m.value for m in DEFAULT_METRICS]), min_size=1, unique=True
        ).map(",".join),
        "groupBy": st.sampled_from([d.value for d in Dimension]),
        "interval": st.sampled_from([i.value for i in Interval]),
        "filters": st.sampled_from(
            ["country==US", "pathname!=/", "device==mobile;browser!=Chrome"]
        ),
        "limit": st.integers(1, 1000).map(str),
    },
)


@given(
    extra=combinations,
    sites=st.lists(st.sampled_from([SITE_A, FOREIGN, MISSING]), min_size=1, max_size=3).filter(
        lambda s: FOREIGN in s or MISSING in s
    ),
    days_ago=st.sampled_from([1, 30, 31, 200]),
)
def test_someone_elses_site_is_404_for_every_combination(
    extra: dict[str, str], sites: list[str], days_ago: int
) -> None:
    """Any siteId that is not the caller's (someone else's or missing) answers the same 404,
    whatever the other parameters, and no store is asked."""
    world = World()
    start = NOW.date() - timedelta(days=days_ago)
    query = {
        "siteId": ",".join(sites),
        "startDate": start.isoformat(),
        "endDate": (start + timedelta(days=1)).isoformat(),
        **extra,
    }
    response = world.get(query)
    assert response["statusCode"] == 404
    assert body_of(response) == {"error": {"code": "not_found", "message": "site not found"}}
    assert world.calls == 0


def test_owner_b_sees_its_own_site_and_not_a() -> None:
    """The same site is 200 for its owner and 404 for the other."""
    world = World()
    assert (
        world.get(
            {"siteId": FOREIGN, "startDate": "2026-11-10", "endDate": "2026-11-11"}, sub=OWNER_B
        )["statusCode"]
        == 200
    )
    assert (
        world.get(
            {"siteId": SITE_A, "startDate": "2026-11-10", "endDate": "2026-11-11"}, sub=OWNER_B
        )["statusCode"]
        == 404
    )


INJECTIONS = [
    "' OR '1'='1",
    "x'; DROP TABLE events; --",
    "1/*comment*/",
    '"; SELECT 1',
    "\\'",
    "name`",
]
PARAMETERS = [
    "siteId",
    "startDate",
    "endDate",
    "metrics",
    "groupBy",
    "interval",
    "limit",
    "filters",
]


@pytest.mark.parametrize("payload", INJECTIONS)
@pytest.mark.parametrize("parameter", PARAMETERS)
def test_injection_attempts_are_400_and_reach_no_store(parameter: str, payload: str) -> None:
    """Quotes, semicolons, comments in any parameter: 400 naming it, and no store is asked."""
    world = World()
    values = params()
    values[parameter] = f"country=={payload}" if parameter == "filters" else payload
    response = world.get(values)
    assert response["statusCode"] == 400
    assert parameter in body_of(response)["error"]["fields"]
    assert world.calls == 0


@pytest.mark.parametrize(
    "filters",
    ["country'--==US", "evil_dimension==x", "pathname==/;DROP TABLE events", "country==US;1=1"],
)
def test_unknown_or_malformed_filters_are_400(filters: str) -> None:
    """Unknown dimension names and fragments that are not filters are refused."""
    world = World()
    response = world.get(params(filters=filters))
    assert response["statusCode"] == 400
    assert "filters" in body_of(response)["error"]["fields"]
    assert world.calls == 0


def test_unknown_parameters_are_400() -> None:
    """A parameter the API does not know (a typo, or an attempt) is refused by name."""
    response = World().get(params(siteid=SITE_A))
    assert body_of(response)["error"]["fields"] == {"siteid": "unknown parameter"}


def test_no_caller_is_401() -> None:
    """Without JWT claims the answer is 401 before anything else."""
    assert World().get(params(), sub=None)["statusCode"] == 401


def test_timeout_is_504() -> None:
    """A store past its deadline answers 504 with a clear code."""
    world = World(hot_error=QueryTimeoutError("too slow"))
    response = world.get(params(startDate="2026-11-20", endDate="2026-11-21"))
    assert response["statusCode"] == 504
    assert body_of(response)["error"]["code"] == "query_timeout"
