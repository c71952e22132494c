"""The query depth's values: parsing of the new parameters (every problem named), filter
semantics, property text, the new metrics' arithmetic, local buckets across DST changes, and
the use case's time-zone rule."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, timedelta

import pytest
from tests.support.events import OWNER_A

from adapters.memory import InMemoryHotCoverage, InMemorySiteRepository
from adapters.memory_stats import InMemoryReadModel, InMemoryStatsReader
from analytics_core.errors import InvalidRequestError
from analytics_core.querying import query_stats
from analytics_core.sites import ComplianceLevel, Site
from analytics_core.stats import (
    Counts,
    Dimension,
    Filter,
    Interval,
    Metric,
    Operator,
    Property,
    StatsQuery,
    bucket_of,
    bucket_starts,
    check_timezone,
    parse_field,
    property_text,
)
from entrypoints.api.query import _bucket_label
from entrypoints.api.query_params import parse_stats_query

SITE = "01JDQ7ZK3M000000000000SA01"
OTHER = "01JDQ7ZK3M000000000000SB02"
BASE = {"siteId": SITE, "startDate": "2026-11-01", "endDate": "2026-11-30"}
TODAY = date(2026, 11, 25)
NEW_YORK = "America/New_York"


def parse(**changes: str) -> StatsQuery:
    return parse_stats_query({**BASE, **changes}, today=TODAY)


def problems(**changes: str) -> dict[str, str]:
    with pytest.raises(InvalidRequestError) as caught:
        parse(**changes)
    return caught.value.fields


# ---------------------------------------------------------------- parsing


def test_new_dimensions_operators_and_alternatives_parse() -> None:
    query = parse(
        groupBy="property:plan",
        filters="country~=us;pathname!~/blog|/docs;property:plan==pro|team;entry_page!=/",
        metrics="visitors,percentage",
    )
    assert query.group_by == Property("plan")
    assert query.filters == (
        Filter(Dimension.COUNTRY, Operator.CONTAINS, ("us",)),
        Filter(Dimension.PATHNAME, Operator.NOT_CONTAINS, ("/blog", "/docs")),
        Filter(Property("plan"), Operator.EQ, ("pro", "team")),
        Filter(Dimension.ENTRY_PAGE, Operator.NE, ("/",)),
    )
    assert query.metrics == (Metric.VISITORS, Metric.PERCENTAGE)
    assert parse(groupBy="exit_page").group_by is Dimension.EXIT_PAGE
    assert parse(groupBy="property:a.b:c-d_9").group_by == Property("a.b:c-d_9")


def test_goal_goes_with_a_conversion_metric() -> None:
    query = parse(goal="signup", metrics="visitors,conversions,conversion_rate")
    assert query.goal == "signup"
    assert "goal" in problems(goal="signup")  # default metrics: no conversion metric
    assert "goal" in problems(goal="signup", metrics="visitors")
    assert "goal" in problems(metrics="conversions")
    assert "goal" in problems(metrics="visitors,conversion_rate")
    assert "goal" in problems(goal="", metrics="conversions")
    assert "goal" in problems(goal="x" * 501, metrics="conversions")


def test_percentage_needs_a_breakdown() -> None:
    assert "metrics" in problems(metrics="percentage")
    assert parse(metrics="percentage", groupBy="country").metrics == (Metric.PERCENTAGE,)


@pytest.mark.parametrize(
    "key", ["", "bad key", "x" * 101, "caf\u00e9", "a/b", "a'b", "a;b", "\u0000"]
)
def test_invalid_property_keys_are_400_naming_the_field(key: str) -> None:
    assert "groupBy" in problems(groupBy=f"property:{key}")
    assert "filters" in problems(filters=f"property:{key}==x")


@pytest.mark.parametrize(
    ("filters", "reason"),
    [
        ("country==US|", "empty alternative"),
        ("country==|US", "empty alternative"),
        ("country~=", "empty value"),
        ("country<>US", "no operator"),
        ("nope==1", "unknown dimension"),
        ("country==" + "|".join(["x"] * 21), "too many alternatives"),
    ],
)
def test_bad_filters_are_400(filters: str, reason: str) -> None:
    assert "filters" in problems(filters=filters), reason


def test_a_property_key_of_100_characters_is_accepted() -> None:
    assert parse(groupBy="property:" + "k" * 100).group_by == Property("k" * 100)
    with pytest.raises(ValueError, match="property key"):
        parse_field("property:" + "k" * 101)


# ---------------------------------------------------------------- values


@pytest.mark.parametrize(
    ("operator", "values", "actual", "kept"),
    [
        (Operator.EQ, ("US",), "US", True),
        (Operator.EQ, ("US", "DE"), "DE", True),
        (Operator.EQ, ("US",), "us", False),
        (Operator.EQ, ("US",), None, False),
        (Operator.NE, ("US", "DE"), "DE", False),
        (Operator.NE, ("US",), "FR", True),
        (Operator.NE, ("US",), None, True),
        (Operator.CONTAINS, ("BLOG",), "/Blog/post", True),
        (Operator.CONTAINS, ("shop", "blog"), "/blog", True),
        (Operator.CONTAINS, ("blog",), "/news", False),
        (Operator.CONTAINS, ("blog",), None, False),
        (Operator.NOT_CONTAINS, ("BLOG",), "/blog/post", False),
        (Operator.NOT_CONTAINS, ("shop", "blog"), "/news", True),
        (Operator.NOT_CONTAINS, ("blog",), None, True),
    ],
)
def test_filter_semantics(
    operator: Operator, values: tuple[str, ...], actual: str | None, kept: bool
) -> None:
    assert Filter(Dimension.PATHNAME, operator, values).matches(actual) is kept


def test_property_text() -> None:
    assert property_text("pro") == "pro"
    assert property_text("") == ""
    assert property_text(True) == "true"
    assert property_text(False) == "false"
    assert property_text(42) == "42"
    assert property_text(-(2**63)) == str(-(2**63))
    for other in (1.5, 1.0, None, [1], {"a": 1}):
        assert property_text(other) is None


def test_conversion_rate_and_percentage_round_half_up_to_one_decimal() -> None:
    counts = Counts(visitors=8, conversions=1)
    assert counts.metric(Metric.CONVERSION_RATE) == 12.5
    assert Counts(visitors=3, conversions=1).metric(Metric.CONVERSION_RATE) == 33.3
    assert Counts(visitors=3, conversions=2).metric(Metric.CONVERSION_RATE) == 66.7
    assert Counts(visitors=0).metric(Metric.CONVERSION_RATE) is None
    assert Counts(visitors=1).metric(Metric.PERCENTAGE, total_visitors=8) == 12.5
    assert Counts(visitors=1).metric(Metric.PERCENTAGE, total_visitors=16) == 6.3  # 6.25 up
    assert Counts(visitors=1).metric(Metric.PERCENTAGE) is None
    assert Counts(conversions=4).metric(Metric.CONVERSIONS) == 4


def test_time_zone_names() -> None:
    assert check_timezone("America/New_York") == "America/New_York"
    assert check_timezone("UTC") == "UTC"
    for bad in ("Mars/Base", "", "../../etc/passwd", "america/new_york", "EST5EDT\u0000"):
        with pytest.raises(ValueError, match="IANA"):
            check_timezone(bad)


# ---------------------------------------------------------------- local buckets


def ny_query(start: date, end: date, interval: Interval) -> StatsQuery:
    return StatsQuery((SITE,), start, end, interval=interval, timezone=NEW_YORK)


def test_dst_days_have_23_and_25_hour_buckets() -> None:
    spring = bucket_starts(ny_query(date(2026, 3, 8), date(2026, 3, 8), Interval.HOUR))
    autumn = bucket_starts(ny_query(date(2026, 11, 1), date(2026, 11, 1), Interval.HOUR))
    assert len(spring) == 23
    assert len(autumn) == 25
    labels = [_bucket_label(start, Interval.HOUR) for start in autumn[:4]]
    assert labels == [
        "2026-11-01T00:00:00-04:00",
        "2026-11-01T01:00:00-04:00",
        "2026-11-01T01:00:00-05:00",
        "2026-11-01T02:00:00-05:00",
    ]
    assert [s.hour for s in spring[:3]] == [0, 1, 3]
    # Every bucket is one real hour after the one before.
    for starts in (spring, autumn):
        gaps = {b.astimezone(UTC) - a.astimezone(UTC) for a, b in itertools.pairwise(starts)}
        assert gaps == {timedelta(hours=1)}


def test_day_buckets_start_at_local_midnight() -> None:
    starts = bucket_starts(ny_query(date(2026, 10, 31), date(2026, 11, 2), Interval.DAY))
    assert [s.astimezone(UTC) for s in starts] == [
        datetime(2026, 10, 31, 4, tzinfo=UTC),
        datetime(2026, 11, 1, 4, tzinfo=UTC),
        datetime(2026, 11, 2, 5, tzinfo=UTC),
    ]
    assert [_bucket_label(s, Interval.DAY) for s in starts] == [
        "2026-10-31",
        "2026-11-01",
        "2026-11-02",
    ]


def test_bucket_of_a_moment_is_local() -> None:
    tz = ny_query(date(2026, 11, 1), date(2026, 11, 1), Interval.DAY).zone
    late = datetime(2026, 11, 2, 3, 30, tzinfo=UTC)  # 22:30 on 1 November in New York
    assert bucket_of(late, Interval.DAY, tz).date() == date(2026, 11, 1)
    assert bucket_of(late, Interval.MONTH, tz).date() == date(2026, 11, 1)
    first_one_am = datetime(2026, 11, 1, 5, 10, tzinfo=UTC)  # 01:10 EDT
    second_one_am = datetime(2026, 11, 1, 6, 10, tzinfo=UTC)  # 01:10 EST
    first_bucket = bucket_of(first_one_am, Interval.HOUR, tz).astimezone(UTC)
    assert first_bucket == datetime(2026, 11, 1, 5, tzinfo=UTC)
    assert bucket_of(second_one_am, Interval.HOUR, tz).astimezone(UTC) == datetime(
        2026, 11, 1, 6, tzinfo=UTC
    )


def test_half_hour_zones_bucket_by_local_hours() -> None:
    query = StatsQuery(
        (SITE,),
        date(2026, 11, 1),
        date(2026, 11, 1),
        interval=Interval.HOUR,
        timezone="Asia/Kolkata",
    )
    starts = bucket_starts(query)
    assert len(starts) == 24
    assert starts[0].astimezone(UTC) == datetime(2026, 10, 31, 18, 30, tzinfo=UTC)
    moment = datetime(2026, 11, 1, 0, 10, tzinfo=UTC)  # 05:40 in Kolkata
    assert bucket_of(moment, Interval.HOUR, query.zone).astimezone(UTC) == datetime(
        2026, 10, 31, 23, 30, tzinfo=UTC
    )


# ---------------------------------------------------------------- the use case


def site(site_id: str, timezone: str) -> Site:
    now = datetime(2026, 11, 1, tzinfo=UTC)
    return Site(
        site_id,
        OWNER_A,
        "s",
        ("example.com",),
        "free_tier",
        10_000,
        ComplianceLevel.MAYBE,
        now,
        now,
        timezone=timezone,
    )


class Recording(InMemoryStatsReader):
    def __init__(self) -> None:
        super().__init__("postgres")
        self.asked: list[StatsQuery] = []

    def read(self, query: StatsQuery):  # type: ignore[no-untyped-def]
        self.asked.append(query)
        return super().read(query)


def run(*sites: Site, site_ids: tuple[str, ...]) -> Recording:
    repository = InMemorySiteRepository()
    for one in sites:
        repository.put(one)
    reader = Recording()
    query_stats(
        StatsQuery(site_ids, date(2026, 11, 20), date(2026, 11, 21)),
        OWNER_A,
        sites=repository,
        hot=reader,
        cold=reader,
        clock=lambda: datetime(2026, 11, 25, tzinfo=UTC),
        hot_window_days=30,
        coverage=InMemoryHotCoverage(),
        read_model=InMemoryReadModel(),
    )
    return reader


def test_the_query_takes_the_sites_time_zone() -> None:
    reader = run(site(SITE, NEW_YORK), site(OTHER, NEW_YORK), site_ids=(SITE, OTHER))
    assert [q.timezone for q in reader.asked] == [NEW_YORK]


def test_sites_of_different_time_zones_are_400_naming_site_id() -> None:
    with pytest.raises(InvalidRequestError) as caught:
        run(site(SITE, NEW_YORK), site(OTHER, "UTC"), site_ids=(SITE, OTHER))
    assert "siteId" in caught.value.fields
