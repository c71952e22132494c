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
- a session-day's visit dimensions come from its attributed initial event's visit:
  `entry_page` is that initial event's pathname; `exit_page` is the pathname of the visit's
  last pageview (by timestamp, then event_uid) among the session's events dated on the visit's
  day and the day after; null without an attributed initial event (or without a pageview);
- `property:<key>` is an event's own property `key` as text: a string as it is, a boolean
  `true`/`false`, an integer in decimal; any other value (a fractional number, null, a list, an
  object) and a missing key are null;
- filters keep the events whose own `pathname`/`event`/properties and whose session's
  attributes match: `==` one of the alternatives (`a|b`), `!=` none of them (null passes),
  `~=` contains one of them ignoring case (Python's `str.lower` on both sides), `!~` contains
  none of them (null passes); filters AND together; a breakdown row is the same query with one
  more filter `groupBy==value` (a visit counts under its own initial event's values);
- `conversions` = distinct sessions among the kept events whose event name is the query's
  `goal`; `conversion_rate` = 100 x conversions / visitors (one decimal, half up; null without
  visitors); `percentage` (breakdowns) = 100 x the row's visitors / the totals' visitors (one
  decimal, half up);
- days are the sites' local days: every "dated" above means the date of the event's timestamp
  in the query's time zone (the sites' `timezone`, all the same), not the stored UTC `dt`;
  hour buckets are local hours (a DST day has 23 or 25), identified by their start instant.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta, tzinfo
from enum import StrEnum
from fractions import Fraction
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

import attrs

MAX_RANGE_DAYS = 366
EARLIEST_DATE = date(2000, 1, 1)
"""No query reaches before this day (nor more than a year past today): every date the stores
and their arithmetic meet stays far from `date.min` and `date.max`."""
MAX_HOURLY_RANGE_DAYS = 31
MAX_SITES = 20
MAX_FILTERS = 10
MAX_FILTER_VALUE_LENGTH = 500
MAX_ALTERNATIVES = 20
DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
PAGEVIEW = "pageview"
MAX_GOAL_LENGTH = 500
DEFAULT_TIMEZONE = "UTC"
PROPERTY_PREFIX = "property:"
PROPERTY_KEY = re.compile(r"[A-Za-z0-9_.:-]{1,100}")


class Metric(StrEnum):
    """The metrics a query can ask for."""

    VISITORS = "visitors"
    VISITS = "visits"
    PAGEVIEWS = "pageviews"
    EVENTS = "events"
    BOUNCE_RATE = "bounce_rate"
    VISIT_DURATION = "visit_duration"
    VIEWS_PER_VISIT = "views_per_visit"
    PERCENTAGE = "percentage"
    CONVERSIONS = "conversions"
    CONVERSION_RATE = "conversion_rate"

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
    ENTRY_PAGE = "entry_page"
    EXIT_PAGE = "exit_page"

    @property
    def per_session(self) -> bool:
        """Whether the value belongs to the session's day (its attributed initial event or
        that event's visit) rather than to each event."""
        return self not in (Dimension.PATHNAME, Dimension.EVENT)

    @property
    def stored(self) -> bool:
        """Whether the value is a column of the event tables (`initial_events` for the
        session dimensions); entry and exit pages are derived from the visit."""
        return self not in (Dimension.ENTRY_PAGE, Dimension.EXIT_PAGE)


SESSION_DIMENSIONS = tuple(d for d in Dimension if d.per_session and d.stored)
"""The session attributes stored on `initial_events`."""
VISIT_DIMENSIONS = (Dimension.ENTRY_PAGE, Dimension.EXIT_PAGE)


@attrs.frozen
class Property:
    """`property:<key>`: an event's own custom property, as text (see the module docstring)."""

    key: str = attrs.field()

    @key.validator
    def _check_key(self, _: object, key: str) -> None:
        if not PROPERTY_KEY.fullmatch(key):
            raise ValueError("a property key has 1-100 characters from A-Z a-z 0-9 _ . : -")

    @property
    def value(self) -> str:
        """The name queries use."""
        return PROPERTY_PREFIX + self.key

    @property
    def per_session(self) -> bool:
        """A property belongs to each event."""
        return False

    @property
    def stored(self) -> bool:
        """Stored inside `properties`, not as a column of its own."""
        return False


Field = Dimension | Property
"""What a query can group by or filter on."""


def parse_field(name: str) -> Field:
    """The dimension or property called `name`; ValueError when there is none."""
    if name.startswith(PROPERTY_PREFIX):
        return Property(name[len(PROPERTY_PREFIX) :])
    return Dimension(name)


def property_text(value: object) -> str | None:
    """A property value as the stores compare and group it (see the module docstring)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, int):
        return str(value)
    return None


class Interval(StrEnum):
    """Timeseries bucket sizes (local to the query's time zone; weeks start on Monday)."""

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
    CONTAINS = "~="
    NOT_CONTAINS = "!~"

    @property
    def negated(self) -> bool:
        """Whether the operator keeps what does not match (null values included)."""
        return self in (Operator.NE, Operator.NOT_CONTAINS)


ALTERNATIVES_SEPARATOR = "|"


def _alternatives(values: str | Sequence[str]) -> tuple[str, ...]:
    """One value (`"x"`) or several; never empty."""
    chosen = (values,) if isinstance(values, str) else tuple(values)
    if not chosen:
        raise ValueError("a filter needs at least one value")
    return chosen


@attrs.frozen
class Filter:
    """`dimension <operator> a|b|c`: `==` equal to one alternative, `!=` to none (null
    passes), `~=` contains one ignoring case, `!~` contains none (null passes)."""

    dimension: Field
    operator: Operator
    values: tuple[str, ...] = attrs.field(converter=_alternatives)

    @property
    def value(self) -> str:
        """The alternatives as written (`a|b|c`)."""
        return ALTERNATIVES_SEPARATOR.join(self.values)

    def matches(self, actual: str | None) -> bool:
        """Whether a stored value passes this filter."""
        if actual is None:
            found = False
        elif self.operator in (Operator.EQ, Operator.NE):
            found = actual in self.values
        else:
            lowered = actual.lower()
            found = any(value.lower() in lowered for value in self.values)
        return found != self.operator.negated


DEFAULT_METRICS: tuple[Metric, ...] = (
    Metric.VISITORS,
    Metric.VISITS,
    Metric.PAGEVIEWS,
    Metric.EVENTS,
    Metric.BOUNCE_RATE,
    Metric.VISIT_DURATION,
    Metric.VIEWS_PER_VISIT,
)
CONVERSION_METRICS = (Metric.CONVERSIONS, Metric.CONVERSION_RATE)


@lru_cache(maxsize=512)
def zone(name: str) -> tzinfo:
    """The time zone called `name` (IANA); ValueError when there is none."""
    if name == DEFAULT_TIMEZONE:
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ValueError(f"unknown time zone {name!r}") from None


def check_timezone(name: str) -> str:
    """`name` when it is an IANA time zone name (`UTC` included), else ValueError."""
    if name != DEFAULT_TIMEZONE and name not in _known_zones():
        raise ValueError("must be an IANA time zone name such as Europe/Berlin or UTC")
    return name


@lru_cache(maxsize=1)
def _known_zones() -> frozenset[str]:
    return frozenset(available_timezones())


@attrs.frozen
class StatsQuery:
    """One query of the stats API: sites, an inclusive UTC date range, what to compute."""

    site_ids: tuple[str, ...]
    start_date: date
    end_date: date
    metrics: tuple[Metric, ...] = DEFAULT_METRICS
    group_by: Field | None = None
    interval: Interval | None = None
    filters: tuple[Filter, ...] = ()
    limit: int = DEFAULT_LIMIT
    compare: Compare | None = None
    goal: str | None = None
    """The event name `conversions` and `conversion_rate` count."""
    timezone: str = DEFAULT_TIMEZONE
    """The sites' time zone: dates, days and buckets are local to it (set by `query_stats`
    from the sites, all of which share it)."""

    @property
    def zone(self) -> tzinfo:
        """The time zone object."""
        return zone(self.timezone)

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


# ---------------------------------------------------------------- realtime

REALTIME_WINDOW = timedelta(minutes=5)
REALTIME_PAGES = 10


@attrs.frozen
class Realtime:
    """Who is on a site now: sessions with an event timestamped in the window (the last five
    minutes up to now), and the window's top pages by those sessions (visitors descending,
    then pathname; at most ten)."""

    site_id: str
    visitors: int
    pages: tuple[tuple[str, int], ...] = ()


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
    conversions: int = 0
    """Distinct sessions that sent the goal event (0 when the query has no goal)."""

    def metric(self, metric: Metric, total_visitors: int | None = None) -> int | float | None:
        """The value of `metric` for these sums (None for a ratio without visits, a rate
        without visitors, a percentage without `total_visitors`, the range's visitors)."""
        counted = {
            Metric.VISITORS: self.visitors,
            Metric.VISITS: self.visits,
            Metric.PAGEVIEWS: self.pageviews,
            Metric.EVENTS: self.events,
            Metric.CONVERSIONS: self.conversions,
        }
        if metric in counted:
            return counted[metric]
        ratios = {  # numerator, denominator, scale, decimals
            Metric.CONVERSION_RATE: (self.conversions, self.visitors, 100, 1),
            Metric.PERCENTAGE: (self.visitors, total_visitors or 0, 100, 1),
            Metric.BOUNCE_RATE: (self.bounces, self.visits, 100, 0),
            Metric.VISIT_DURATION: (self.duration_ms, 1000 * self.visits, 1, 0),
            Metric.VIEWS_PER_VISIT: (self.pageviews, self.visits, 1, 2),
        }
        numerator, denominator, scale, decimals = ratios[metric]
        if denominator == 0:
            return None
        rounded = _round_half_up(Fraction(scale * numerator, denominator), decimals)
        return int(rounded) if decimals == 0 else float(rounded)

    def metrics(
        self, metrics: Sequence[Metric], total_visitors: int | None = None
    ) -> dict[Metric, int | float | None]:
        """The requested metrics, in order (`total_visitors` for `percentage`)."""
        return {metric: self.metric(metric, total_visitors) for metric in metrics}


ZERO = Counts()


@attrs.frozen
class StatsResult:
    """What a store answers: totals, the buckets that have data (each by its start instant,
    in any time zone), the breakdown's top rows (ordered by visitors descending, then value,
    nulls last; at most `limit`)."""

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


def local_midnight(day: date, tz: tzinfo) -> datetime:
    """The instant `day` starts in `tz` (as an aware datetime in `tz`)."""
    naive = datetime(day.year, day.month, day.day)  # noqa: DTZ001  # made aware just below
    if tz is UTC:
        return naive.replace(tzinfo=UTC)
    # fold=0: a midnight that happens twice starts at its first occurrence; one that does not
    # happen (a DST change at midnight) starts at the first instant after the gap.
    moment = naive.replace(tzinfo=tz)
    return moment.astimezone(UTC).astimezone(tz)


def local_date(moment: datetime, tz: tzinfo) -> date:
    """The date of `moment` in `tz`."""
    return moment.astimezone(tz).date()


def hour_start(moment: datetime, tz: tzinfo) -> datetime:
    """The start instant of the local hour holding `moment`, as an aware datetime in `tz`
    (the hour repeated when clocks go back is two buckets, told apart by their offsets).
    Computed on the UTC instant: arithmetic on aware datetimes of one zone is wall-clock
    arithmetic, and comparing them ignores which of a repeated hour they are."""
    local = moment.astimezone(tz)
    past = timedelta(minutes=local.minute, seconds=local.second, microseconds=local.microsecond)
    return (moment.astimezone(UTC) - past).astimezone(tz)


def bucket_starts(query: StatsQuery) -> list[datetime]:
    """Every timeseries bucket of the range, as its start in the query's time zone (the first
    week or month may start before the range; only the range's data counts in it). Hour
    buckets run from the first day's local midnight to the day after the last one's, one real
    hour apart: a DST day has 23 or 25."""
    if query.interval is None:
        return []
    tz = query.zone
    if query.interval is Interval.HOUR:
        first = local_midnight(query.start_date, tz).astimezone(UTC)
        end = local_midnight(query.lookahead_date, tz).astimezone(UTC)
        starts = []
        moment = first
        while moment < end:
            starts.append(hour_start(moment, tz))
            moment += timedelta(hours=1)
        # Keyed by instant: within one zone, the two 1 am of a fall-back day compare equal.
        return list({start.astimezone(UTC): start for start in starts}.values())
    if query.interval is Interval.DAY:
        return [local_midnight(query.start_date + timedelta(days=d), tz) for d in range(query.days)]
    if query.interval is Interval.WEEK:
        monday = query.start_date - timedelta(days=query.start_date.weekday())
        weeks = (query.end_date - monday).days // 7 + 1
        return [local_midnight(monday + timedelta(weeks=w), tz) for w in range(weeks)]
    starts = []
    year, month = query.start_date.year, query.start_date.month
    while (year, month) <= (query.end_date.year, query.end_date.month):
        starts.append(local_midnight(date(year, month, 1), tz))
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return starts


def day_bucket(day: date, interval: Interval) -> date:
    """The first day of the day, week or month bucket holding local date `day`."""
    if interval is Interval.WEEK:
        return day - timedelta(days=day.weekday())
    if interval is Interval.MONTH:
        return day.replace(day=1)
    return day


def bucket_of(moment: datetime, interval: Interval, tz: tzinfo = UTC) -> datetime:
    """The start of the bucket holding `moment`, in `tz`."""
    if interval is Interval.HOUR:
        return hour_start(moment, tz)
    return local_midnight(day_bucket(local_date(moment, tz), interval), tz)


def breakdown_order(row: tuple[str | None, Counts]) -> tuple[int, bool, str]:
    """Sort key of breakdown rows: visitors descending, then value (code points), nulls last."""
    value, counts = row
    return (-counts.visitors, value is None, value or "")


def complete_report(source: str, query: StatsQuery, result: StatsResult) -> StatsReport:
    """Fill the timeseries with every bucket (zeros where nothing happened) and enforce the
    breakdown's order and limit, whatever the store did."""
    timeseries = None
    if query.interval is not None:
        found = {start.astimezone(UTC): counts for start, counts in result.timeseries}
        timeseries = tuple(
            (start, found.get(start.astimezone(UTC), ZERO)) for start in bucket_starts(query)
        )
    breakdown = None
    if query.group_by is not None:
        breakdown = tuple(sorted(result.breakdown, key=breakdown_order)[: query.limit])
    return StatsReport(source, query, result.totals, timeseries, breakdown)


# ---------------------------------------------------------------- use case
