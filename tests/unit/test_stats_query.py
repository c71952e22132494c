"""The stats query parsed from the query string, the metric arithmetic, the timeseries buckets."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from analytics_core.errors import InvalidRequestError
from analytics_core.stats import (
    DEFAULT_LIMIT,
    DEFAULT_METRICS,
    Counts,
    Dimension,
    Filter,
    Interval,
    Metric,
    Operator,
    StatsQuery,
    StatsResult,
    bucket_of,
    bucket_starts,
    complete_report,
)
from entrypoints.api.query_params import parse_stats_query

SITE = "01JDQ7ZK3M000000000000SA01"
OTHER = "01JDQ7ZK3M000000000000SB02"
BASE = {"siteId": SITE, "startDate": "2026-11-01", "endDate": "2026-11-30"}
TODAY = date(2026, 11, 25)


def parse(**changes: str | None) -> StatsQuery:
    params = {**BASE, **changes}
    return parse_stats_query({k: v for k, v in params.items() if v is not None}, today=TODAY)


def problems(**changes: str | None) -> dict[str, str]:
    with pytest.raises(InvalidRequestError) as caught:
        parse(**changes)
    return caught.value.fields


def test_defaults() -> None:
    """Without optional parameters: every metric, no group, no interval, no filter, limit 100."""
    query = parse()
    assert query == StatsQuery((SITE,), date(2026, 11, 1), date(2026, 11, 30))
    assert query.metrics == DEFAULT_METRICS
    assert (query.group_by, query.interval, query.filters, query.limit) == (
        None,
        None,
        (),
        DEFAULT_LIMIT,
    )


def test_every_parameter() -> None:
    """Every parameter parsed; repeated siteIds (API Gateway joins them with commas) kept once."""
    query = parse(
        siteId=f"{SITE},{OTHER},{SITE}",
        metrics="pageviews,bounce_rate,pageviews",
        groupBy="utm_source",
        interval="week",
        filters="country==DE;pathname!=/a==b",
        limit="1000",
    )
    assert query.site_ids == (SITE, OTHER)
    assert query.metrics == (Metric.PAGEVIEWS, Metric.BOUNCE_RATE)
    assert query.group_by is Dimension.UTM_SOURCE
    assert query.interval is Interval.WEEK
    assert query.filters == (
        Filter(Dimension.COUNTRY, Operator.EQ, "DE"),
        Filter(Dimension.PATHNAME, Operator.NE, "/a==b"),
    )
    assert query.limit == 1000


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"siteId": None}, "siteId"),
        ({"siteId": "not-a-ulid"}, "siteId"),
        ({"siteId": f"{SITE},"}, "siteId"),
        ({"siteId": ",".join(f"01JDQ7ZK3M0000000000000{n:03d}" for n in range(21))}, "siteId"),
        ({"startDate": None}, "startDate"),
        ({"startDate": "2026-13-01"}, "startDate"),
        ({"startDate": "20261101"}, "startDate"),
        ({"endDate": "2026-11-31"}, "endDate"),
        ({"endDate": "2026-10-31"}, "endDate"),  # before startDate
        ({"startDate": "2025-10-30"}, "endDate"),  # 397 days
        ({"metrics": "visitors,sessions"}, "metrics"),
        ({"metrics": ""}, "metrics"),
        ({"groupBy": "email"}, "groupBy"),
        ({"interval": "minute"}, "interval"),
        ({"interval": "hour"}, "interval"),  # 30 days of hours is allowed; see below
        ({"limit": "0"}, "limit"),
        ({"limit": "1001"}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"limit": "-1"}, "limit"),
        ({"filters": "country"}, "filters"),
        ({"filters": "country=US"}, "filters"),
        ({"filters": "colour==red"}, "filters"),
        ({"filters": "country=="}, "filters"),
        ({"filters": "country==US;"}, "filters"),
        ({"filters": ";".join(["country==US"] * 11)}, "filters"),
        ({"sideId": SITE}, "sideId"),
    ],
)
def test_each_problem_is_a_400_naming_the_parameter(
    changes: dict[str, str | None], field: str
) -> None:
    """A bad parameter is an InvalidRequestError whose fields name it."""
    if changes == {"interval": "hour"}:
        assert parse(interval="hour", startDate="2026-11-01", endDate="2026-12-01").days == 31
        changes = {"interval": "hour", "endDate": "2026-12-02"}
    assert field in problems(**changes)


def test_all_problems_are_reported_at_once() -> None:
    """Several bad parameters: each is named."""
    found = problems(siteId="x", metrics="nope", groupBy="nope", limit="0")
    assert set(found) == {"siteId", "metrics", "groupBy", "limit"}


def test_range_limits() -> None:
    """A range of 366 days is allowed, 367 is not; one day is start == end."""
    assert parse(startDate="2025-12-01", endDate="2026-11-30").days == 365
    assert parse(startDate="2024-01-01", endDate="2024-12-31").days == 366
    assert "endDate" in problems(startDate="2024-01-01", endDate="2025-01-01")
    assert parse(startDate="2026-11-30", endDate="2026-11-30").days == 1


INJECTIONS = [
    "'",
    "' OR '1'='1",
    "1; DROP TABLE events",
    "x -- comment",
    "x /* comment */",
    '"quoted"',
    "back\\slash",
    "`tick`",
    "\x00nul",
    "line\nbreak",
]


@pytest.mark.parametrize("payload", INJECTIONS)
@pytest.mark.parametrize(
    "parameter",
    [
        "siteId",
        "startDate",
        "endDate",
        "metrics",
        "groupBy",
        "interval",
        "limit",
        "filters-dimension",
        "filters-value",
    ],
)
def test_injection_attempts_are_400(parameter: str, payload: str) -> None:
    """Quotes, semicolons, comments, control characters in any parameter: a 400 for it."""
    if parameter == "filters-dimension":
        found = problems(filters=f"country{payload}==US")
        assert "filters" in found
    elif parameter == "filters-value":
        assert "filters" in problems(filters=f"country==US{payload}")
    else:
        assert parameter in problems(**{parameter: payload})


@given(st.text(max_size=40))
def test_any_text_parses_or_is_a_400(text: str) -> None:
    """Whatever a parameter holds, parsing either succeeds or raises InvalidRequestError."""
    for name in ("siteId", "startDate", "metrics", "groupBy", "interval", "filters", "limit"):
        try:
            parse(**{name: text})
        except InvalidRequestError as exc:
            named = exc.fields
        else:
            named = {name: "parsed"}
        assert named


@pytest.mark.parametrize(
    ("counts", "expected"),
    [
        (Counts(), (0, 0, 0, 0, None, None, None)),
        (
            Counts(events=9, pageviews=8, visitors=6, visits=4, bounces=1, duration_ms=10_260_000),
            (6, 4, 8, 9, 25, 2565, 2.0),
        ),
        (Counts(pageviews=5, visits=3, bounces=1, duration_ms=1_500), (0, 3, 5, 0, 33, 1, 1.67)),
        (
            Counts(pageviews=1, visits=8, bounces=1, duration_ms=4_000),
            (0, 8, 1, 0, 13, 1, 0.13),
        ),  # 12.5 -> 13, 0.5 -> 1, 0.125 -> 0.13
        (Counts(pageviews=2, visits=3, bounces=2, duration_ms=4_499), (0, 3, 2, 0, 67, 1, 0.67)),
    ],
)
def test_metric_arithmetic(counts: Counts, expected: tuple[object, ...]) -> None:
    """Ratios are exact fractions rounded half up; null without visits."""
    assert tuple(counts.metrics(DEFAULT_METRICS).values()) == expected


def test_json_names() -> None:
    """Metrics answer under camelCase names."""
    assert [m.json_name for m in Metric] == [
        "visitors",
        "visits",
        "pageviews",
        "events",
        "bounceRate",
        "visitDuration",
        "viewsPerVisit",
        "percentage",
        "conversions",
        "conversionRate",
    ]


def test_buckets() -> None:
    """Every bucket of the range: hours, days, Monday weeks and months starting before it."""
    query = StatsQuery((SITE,), date(2026, 11, 25), date(2026, 12, 2), interval=Interval.WEEK)
    assert bucket_starts(query) == [
        datetime(2026, 11, 23, tzinfo=UTC),
        datetime(2026, 11, 30, tzinfo=UTC),
    ]
    months = StatsQuery((SITE,), date(2025, 12, 31), date(2026, 2, 1), interval=Interval.MONTH)
    assert [b.month for b in bucket_starts(months)] == [12, 1, 2]
    hours = StatsQuery((SITE,), date(2026, 11, 25), date(2026, 11, 26), interval=Interval.HOUR)
    assert len(bucket_starts(hours)) == 48
    assert bucket_of(datetime(2026, 11, 29, 23, 59, tzinfo=UTC), Interval.WEEK) == datetime(
        2026, 11, 23, tzinfo=UTC
    )


def test_complete_report_fills_zero_buckets_and_orders_the_breakdown() -> None:
    """Buckets without data are zeros; the breakdown is ordered by visitors then value (nulls
    last) and cut at the limit, whatever order the store used."""
    query = StatsQuery(
        (SITE,),
        date(2026, 11, 1),
        date(2026, 11, 3),
        interval=Interval.DAY,
        group_by=Dimension.COUNTRY,
        limit=3,
    )
    one = Counts(events=1, visitors=1)
    result = StatsResult(
        totals=one,
        timeseries=((datetime(2026, 11, 2, tzinfo=UTC), one),),
        breakdown=((None, one), ("b", one), ("a", one), ("Z", Counts(visitors=2))),
    )
    report = complete_report("postgres", query, result)
    assert report.timeseries == (
        (datetime(2026, 11, 1, tzinfo=UTC), Counts()),
        (datetime(2026, 11, 2, tzinfo=UTC), one),
        (datetime(2026, 11, 3, tzinfo=UTC), Counts()),
    )
    assert [value for value, _ in report.breakdown or ()] == ["Z", "a", "b"]
