"""Aggregate statistics: the query, the metric definitions, the report (values and pure
functions; the use case is `querying.query_stats`).

A `StatsQuery` is read from the query string of `GET /api/query` at the edge
(`entrypoints.api.query_params`), which names each bad parameter. A `StatsReader` (hot
PostgreSQL, Athena, local DuckDB, in memory) answers it with raw sums (`Counts`); the metrics
are derived from the sums here, once, so that every store rounds the same way. The
definitions, shared by every store (docs/query-api.md, "Metric definitions", says the same):

- an event is a row of `events` or `initial_events` dated (`dt`) within the range; a session is
  (site_id, session_id);
- a session's attributes (referer_domain, utm_*, device, os, browser, country, region, city)
  come from its initial event: for an event dated D, the session's earliest (timestamp,
  event_uid) initial event dated D or D-1; with none there, the attributes are null;
- a visit is an initial event that is its own session's attributed initial event (any other
  initial event of the session dated the same day or the day before makes it a plain event);
  a visit's pageviews and duration count the session's events dated on the visit's day and the
  day after (also beyond the range's end);
- `events` = events; `pageviews` = events named `pageview`; `visitors` = distinct sessions;
  `visits` = visits; `bounce_rate` = % of visits with exactly one pageview (rounded half up);
  `visit_duration` = mean over visits of last minus first event, in whole milliseconds of each
  timestamp, reported in seconds (rounded half up); `views_per_visit` = pageviews / visits (two
  decimals). The three ratios are null when there is no visit.
- filters keep the events whose own `pathname`/`event` and whose session's attributes match
  (`==` equal, `!=` different or null); a breakdown row is the same query with one more filter
  `groupBy==value` (a visit counts under its own initial event's values).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from fractions import Fraction

import attrs

MAX_RANGE_DAYS = 366
EARLIEST_DATE = date(2000, 1, 1)
"""No query reaches before this day (nor more than a year past today): every date the stores
and their arithmetic meet stays far from `date.min` and `date.max`."""
MAX_HOURLY_RANGE_DAYS = 31
MAX_SITES = 20
MAX_FILTERS = 10
MAX_FILTER_VALUE_LENGTH = 500
DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
PAGEVIEW = "pageview"


class Metric(StrEnum):
    """The metrics a query can ask for."""

    VISITORS = "visitors"
    VISITS = "visits"
    PAGEVIEWS = "pageviews"
    EVENTS = "events"
    BOUNCE_RATE = "bounce_rate"
    VISIT_DURATION = "visit_duration"
    VIEWS_PER_VISIT = "views_per_visit"

    @property
    def json_name(self) -> str:
        """The camelCase key of the metric in answers."""
        head, *rest = self.value.split("_")
        return head + "".join(part.title() for part in rest)


class Dimension(StrEnum):
    """What a query can group by or filter on; the names are the stored column names."""

    PATHNAME = "pathname"
    EVENT = "event"
    REFERER_DOMAIN = "referer_domain"
    UTM_SOURCE = "utm_source"
    UTM_MEDIUM = "utm_medium"
    UTM_CAMPAIGN = "utm_campaign"
    UTM_CONTENT = "utm_content"
    UTM_TERM = "utm_term"
    DEVICE = "device"
    OS = "os"
    BROWSER = "browser"
    COUNTRY = "country"
    REGION = "region"
    CITY = "city"

    @property
    def per_session(self) -> bool:
        """Whether the value comes from the session's initial event (else from each event)."""
        return self not in (Dimension.PATHNAME, Dimension.EVENT)


SESSION_DIMENSIONS = tuple(d for d in Dimension if d.per_session)


class Interval(StrEnum):
    """Timeseries bucket sizes (UTC; weeks start on Monday)."""

    HOUR = "hour"
    DAY = "day"
    WEEK = "week"
    MONTH = "month"


class Compare(StrEnum):
    """What a query's answer can be compared with."""

    PREVIOUS_PERIOD = "previous_period"


class Operator(StrEnum):
    """Filter operators."""

    EQ = "=="
    NE = "!="


@attrs.frozen
class Filter:
    """`dimension == value` or `dimension != value` (the latter also keeps null values)."""

    dimension: Dimension
    operator: Operator
    value: str

    def matches(self, actual: str | None) -> bool:
        """Whether a stored value passes this filter."""
        if self.operator is Operator.EQ:
            return actual == self.value
        return actual != self.value


DEFAULT_METRICS = tuple(Metric)


@attrs.frozen
class StatsQuery:
    """One query of the stats API: sites, an inclusive UTC date range, what to compute."""

    site_ids: tuple[str, ...]
    start_date: date
    end_date: date
    metrics: tuple[Metric, ...] = DEFAULT_METRICS
    group_by: Dimension | None = None
    interval: Interval | None = None
    filters: tuple[Filter, ...] = ()
    limit: int = DEFAULT_LIMIT
    compare: Compare | None = None

    @property
    def lookback_date(self) -> date:
        """The day before the range: initial events there give attributes to the first day."""
        return self.start_date - timedelta(days=1)

    @property
    def lookahead_date(self) -> date:
        """The day after the range: events there still count in the last day's visits."""
        return self.end_date + timedelta(days=1)

    @property
    def days(self) -> int:
        """How many days the range covers."""
        return (self.end_date - self.start_date).days + 1

    def previous_period(self) -> StatsQuery:
        """The same query over the range of the same length that ends the day before this
        one starts: totals and timeseries only (no breakdown, no comparison of its own)."""
        length = timedelta(days=self.days)
        return attrs.evolve(
            self,
            start_date=self.start_date - length,
            end_date=self.end_date - length,
            group_by=None,
            compare=None,
        )


# ---------------------------------------------------------------- results


def _round_half_up(value: Fraction, places: int = 0) -> Fraction:
    scale = 10**places
    scaled = value * scale
    return Fraction((scaled.numerator * 2 + scaled.denominator) // (scaled.denominator * 2), scale)


@attrs.frozen
class Counts:
    """The raw sums every metric is derived from (what a store returns for one group)."""

    events: int = 0
    pageviews: int = 0
    visitors: int = 0
    visits: int = 0
    bounces: int = 0
    duration_ms: int = 0

    def metric(self, metric: Metric) -> int | float | None:
        """The value of `metric` for these sums (None for a ratio without visits)."""
        counted = {
            Metric.VISITORS: self.visitors,
            Metric.VISITS: self.visits,
            Metric.PAGEVIEWS: self.pageviews,
            Metric.EVENTS: self.events,
        }
        if metric in counted:
            return counted[metric]
        if self.visits == 0:
            return None
        if metric is Metric.BOUNCE_RATE:
            return int(_round_half_up(Fraction(100 * self.bounces, self.visits)))
        if metric is Metric.VISIT_DURATION:
            return int(_round_half_up(Fraction(self.duration_ms, 1000 * self.visits)))
        return float(_round_half_up(Fraction(self.pageviews, self.visits), 2))

    def metrics(self, metrics: Sequence[Metric]) -> dict[Metric, int | float | None]:
        """The requested metrics, in order."""
        return {metric: self.metric(metric) for metric in metrics}


ZERO = Counts()


@attrs.frozen
class StatsResult:
    """What a store answers: totals, the buckets that have data, the breakdown's top rows
    (ordered by visitors descending, then value, nulls last; at most `limit`)."""

    totals: Counts
    timeseries: tuple[tuple[datetime, Counts], ...] = ()
    breakdown: tuple[tuple[str | None, Counts], ...] = ()


@attrs.frozen
class StatsReport:
    """The answer of `query_stats`: which store answered, and every bucket of the range."""

    source: str
    query: StatsQuery
    totals: Counts
    timeseries: tuple[tuple[datetime, Counts], ...] | None
    breakdown: tuple[tuple[str | None, Counts], ...] | None
    comparison: StatsReport | None = None
    """The previous period's report, when the query asks for `compare=previous_period`."""


def bucket_starts(query: StatsQuery) -> list[datetime]:
    """Every timeseries bucket of the range, as its UTC start (the first week or month may
    start before the range; only the range's data counts in it)."""
    if query.interval is None:
        return []
    first = datetime(
        query.start_date.year, query.start_date.month, query.start_date.day, tzinfo=UTC
    )
    last = datetime(query.end_date.year, query.end_date.month, query.end_date.day, tzinfo=UTC)
    if query.interval is Interval.HOUR:
        return [first + timedelta(hours=h) for h in range(query.days * 24)]
    if query.interval is Interval.DAY:
        return [first + timedelta(days=d) for d in range(query.days)]
    if query.interval is Interval.WEEK:
        start = first - timedelta(days=first.weekday())
        return [start + timedelta(weeks=w) for w in range((last - start).days // 7 + 1)]
    starts = []
    year, month = first.year, first.month
    while (year, month) <= (last.year, last.month):
        starts.append(datetime(year, month, 1, tzinfo=UTC))
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return starts


def bucket_of(moment: datetime, interval: Interval) -> datetime:
    """The start of the bucket holding `moment` (UTC)."""
    moment = moment.astimezone(UTC)
    if interval is Interval.HOUR:
        return moment.replace(minute=0, second=0, microsecond=0)
    day = moment.replace(hour=0, minute=0, second=0, microsecond=0)
    if interval is Interval.DAY:
        return day
    if interval is Interval.WEEK:
        return day - timedelta(days=day.weekday())
    return day.replace(day=1)


def breakdown_order(row: tuple[str | None, Counts]) -> tuple[int, bool, str]:
    """Sort key of breakdown rows: visitors descending, then value (code points), nulls last."""
    value, counts = row
    return (-counts.visitors, value is None, value or "")


def complete_report(source: str, query: StatsQuery, result: StatsResult) -> StatsReport:
    """Fill the timeseries with every bucket (zeros where nothing happened) and enforce the
    breakdown's order and limit, whatever the store did."""
    timeseries = None
    if query.interval is not None:
        found = dict(result.timeseries)
        timeseries = tuple((start, found.get(start, ZERO)) for start in bucket_starts(query))
    breakdown = None
    if query.group_by is not None:
        breakdown = tuple(sorted(result.breakdown, key=breakdown_order)[: query.limit])
    return StatsReport(source, query, result.totals, timeseries, breakdown)


# ---------------------------------------------------------------- use case
