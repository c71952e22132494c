"""The stats query over raw event rows, in one SQL shape for Trino (Athena), DuckDB and
PostgreSQL.

The statement implements the definitions of `analytics_core.stats` directly on `events` and
`initial_events`: it reads the days the range needs (the day before for attribution, the day
after for the last day's visits), keeps one copy per `event_uid` in the cold dialects (the
cold store is at least once) among the rows that have one (rows without, as the pipeline of
the DynamoDB version wrote them, are events too: each counts, under a stand-in uid, see
`_rows_of`), attributes each event to its session's initial event, computes
each visit's pageviews and duration, filters, and aggregates totals, timeseries and breakdown
in one pass with GROUPING SETS. User values only ever travel as parameters; identifiers come
from the `Dimension` whitelist.

Every result row is `(kind, bucket_day, bucket_hour, group_value, events, pageviews, visitors,
visits, bounces, duration_ms)`, kind 0 = totals, 1 = a timeseries bucket, 2 = a breakdown row
(ordered and limited); `result_from_rows` turns them into a `StatsResult`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from enum import Enum
from typing import Any

import attrs

from analytics_core.legacy_uids import LEGACY_UID_PREFIX, ORDINAL_DIGITS
from analytics_core.stats import (
    PAGEVIEW,
    SESSION_DIMENSIONS,
    Counts,
    Interval,
    Operator,
    StatsQuery,
    StatsResult,
)

KIND_TOTALS, KIND_TIMESERIES, KIND_BREAKDOWN = 0, 1, 2
ROW_COLUMNS = ("site_id", "session_id", '"timestamp"', "dt", "event", "pathname", "event_uid")
SESSION_COLUMNS = tuple(d.value for d in SESSION_DIMENSIONS)


class Dialect(Enum):
    """The SQL engines the statement is written for."""

    TRINO = "trino"
    DUCKDB = "duckdb"
    POSTGRES = "postgres"

    @property
    def placeholder(self) -> str:
        """The positional parameter marker."""
        return "%s" if self is Dialect.POSTGRES else "?"

    @property
    def deduplicates(self) -> bool:
        """Whether rows may repeat (the cold store is at least once; PostgreSQL has a unique
        key per event)."""
        return self is not Dialect.POSTGRES

    def next_day(self, expression: str) -> str:
        """`expression` (a date) plus one day, still a date."""
        if self is Dialect.TRINO:
            return f"{expression} + INTERVAL '1' DAY"
        return f"{expression} + 1"

    def hour(self, expression: str) -> str:
        """The UTC hour (0-23) of a timestamp with time zone."""
        if self is Dialect.POSTGRES:
            return f"CAST(extract(hour FROM {expression} AT TIME ZONE 'UTC') AS integer)"
        return f"hour({expression})"  # DuckDB sessions run with TimeZone=UTC

    def epoch_ms(self, expression: str) -> str:
        """Whole milliseconds since the epoch (sub-millisecond digits dropped, as the cold
        store's millisecond timestamps have none)."""
        if self is Dialect.TRINO:
            return f"date_diff('millisecond', TIMESTAMP '1970-01-01 00:00:00 UTC', {expression})"
        if self is Dialect.DUCKDB:
            return f"epoch_ms({expression})"
        return f"CAST(floor(extract(epoch FROM {expression}) * 1000) AS bigint)"

    def truncate(self, unit: str, expression: str) -> str:
        """A date truncated to its week (Monday) or month, as a date."""
        if self is Dialect.POSTGRES:
            return f"CAST(date_trunc('{unit}', CAST({expression} AS timestamp)) AS date)"
        if self is Dialect.TRINO:
            return f"date_trunc('{unit}', {expression})"
        return f"CAST(date_trunc('{unit}', {expression}) AS DATE)"

    def distinct_sessions(self) -> str:
        """The expression counting distinct sessions (site ids are ULIDs of fixed length, so
        the concatenation is unambiguous); PostgreSQL compares it bytewise, faster than in its
        locale."""
        if self is Dialect.POSTGRES:
            return 'count(DISTINCT (site_id || session_id) COLLATE "C")'
        return "count(DISTINCT site_id || session_id)"

    def text_order(self, expression: str) -> str:
        """`expression` for ORDER BY in code-point order (PostgreSQL would use its locale)."""
        return f'{expression} COLLATE "C"' if self is Dialect.POSTGRES else expression


@attrs.frozen
class Statement:
    """SQL text and its positional parameters."""

    sql: str
    parameters: tuple[Any, ...]


_MARKER = re.compile(r"\{\{(\w+)\}\}")


def bind(template: str, values: Mapping[str, Any], dialect: Dialect) -> Statement:
    """Replace each `{{name}}` marker, in textual order, by the dialect's positional marker."""
    parameters: list[Any] = []

    def marker(match: re.Match[str]) -> str:
        parameters.append(values[match[1]])
        return dialect.placeholder

    return Statement(_MARKER.sub(marker, template), tuple(parameters))


def _rows_of(table: str, columns: Sequence[str], where: str, dialect: Dialect) -> str:
    """One table's rows for the query, one copy per event_uid in the cold dialects.

    Rows without an event_uid all count. Each gets a stand-in uid that is unique within its
    session's day (all the statement needs: visits are matched within a session and day):
    the prefix and its place among that session-day's rows without a uid, ordered by their
    content (timestamp, event, pathname, then the session's columns), the order in which
    `analytics_core.legacy_uids` numbers them when they are copied into PostgreSQL, so that
    ties broken by uid fall the same way in both stores.
    """
    listed = ", ".join(columns)
    if not dialect.deduplicates:
        return f"SELECT {listed}\n    FROM {table}\n    WHERE {where}"  # noqa: S608  # whitelisted names
    content = [c for c in columns if c not in ("event_uid", "site_id", "session_id", "dt")]
    order = ", ".join(f"{column} ASC NULLS LAST" for column in content)
    stand_in = (
        f"coalesce(event_uid, '{LEGACY_UID_PREFIX}' || "
        f"lpad(CAST(copy_no AS VARCHAR), {ORDINAL_DIGITS}, '0')) AS event_uid"
    )
    outer = ", ".join(stand_in if c == "event_uid" else c for c in columns)
    return (
        f"SELECT {outer}\n    FROM (\n"  # noqa: S608  # whitelisted names, values as parameters
        f"        SELECT {listed},\n"
        f"            row_number() OVER (\n"
        f"                PARTITION BY event_uid, site_id, session_id, dt\n"
        f"                ORDER BY {order}\n"
        f"            ) AS copy_no\n"
        f"        FROM {table}\n"
        f"        WHERE {where}\n"
        f"    ) AS copies\n"
        f"    WHERE copy_no = 1 OR event_uid IS NULL"
    )


def query_values(query: StatsQuery) -> dict[str, Any]:
    """The named values every statement binds (dates, limit, sites as `site_<n>`)."""
    values: dict[str, Any] = {
        "start": query.start_date,
        "end": query.end_date,
        "lookback": query.lookback_date,
        "lookahead": query.lookahead_date,
        "last_lookback": query.end_date - timedelta(days=1),
        "pageview": PAGEVIEW,
        "limit": query.limit,
    }
    values.update({f"site_{n}": site for n, site in enumerate(query.site_ids)})
    return values


def site_markers(query: StatsQuery) -> str:
    """`{{site_0}}, {{site_1}}, ...` for an IN list."""
    return ", ".join(f"{{{{site_{n}}}}}" for n in range(len(query.site_ids)))


def filter_conditions(
    query: StatsQuery,
    values: dict[str, Any],
    *,
    session: str,
    event: str,
    per_session: bool | None = None,
) -> list[str]:
    """One SQL condition per filter: session dimensions on `session`'s columns, pathname and
    event on `event`'s; each value becomes the marker `filter_<n>`. `per_session` keeps only
    the filters on session dimensions (True) or only the others (False)."""
    conditions = []
    for n, item in enumerate(query.filters):
        if per_session is not None and item.dimension.per_session is not per_session:
            continue
        table = session if item.dimension.per_session else event
        operator = "=" if item.operator is Operator.EQ else "IS DISTINCT FROM"
        conditions.append(f"{table}.{item.dimension.value} {operator} {{{{filter_{n}}}}}")
        values[f"filter_{n}"] = item.value
    return conditions


def grouping_tail(query: StatsQuery, dialect: Dialect) -> str:
    """`keyed`, `grouped` and the final SELECT over a CTE `facts` holding, per row:
    site_id, session_id, dt, hour_of_day, pathname, event, the session dimensions, and the
    weights events, pageviews, visits, bounces, visit_ms (a row may stand for several events,
    as a session-day does)."""
    keys: list[str] = []  # the key columns of `keyed`
    selected = {
        "bucket_day": "CAST(NULL AS DATE)",
        "bucket_hour": "CAST(NULL AS INTEGER)",
        "group_value": "CAST(NULL AS VARCHAR)",
    }
    sets = ["()"]
    kinds = []
    if query.interval is not None:
        if query.interval is Interval.HOUR:
            keys += ["dt AS bucket_day", "hour_of_day AS bucket_hour"]
            sets.append("(bucket_day, bucket_hour)")
            selected.update(bucket_day="bucket_day", bucket_hour="bucket_hour")
        else:
            day = (
                "dt"
                if query.interval is Interval.DAY
                else dialect.truncate(query.interval.value, "dt")
            )
            keys.append(f"{day} AS bucket_day")
            sets.append("(bucket_day)")
            selected.update(bucket_day="bucket_day")
        kinds.append(f"WHEN grouping(bucket_day) = 0 THEN {KIND_TIMESERIES}")
    if query.group_by is not None:
        keys.append(f"{query.group_by.value} AS group_value")
        sets.append("(group_value)")
        selected.update(group_value="group_value")
        kinds.insert(0, f"WHEN grouping(group_value) = 0 THEN {KIND_BREAKDOWN}")
    kind = f"CASE {' '.join(kinds)} ELSE {KIND_TOTALS} END" if kinds else str(KIND_TOTALS)
    key_list = "".join(f",\n        {key}" for key in keys)
    return f"""keyed AS (
    SELECT site_id, session_id, events, pageviews, visits, bounces, visit_ms{key_list}
    FROM facts
),
grouped AS (
    SELECT {kind} AS kind,
        {selected["bucket_day"]} AS bucket_day,
        {selected["bucket_hour"]} AS bucket_hour,
        {selected["group_value"]} AS group_value,
        sum(events) AS events,
        sum(pageviews) AS pageviews,
        {dialect.distinct_sessions()} AS visitors,
        sum(visits) AS visits,
        sum(bounces) AS bounces,
        sum(visit_ms) AS duration_ms
    FROM keyed
    GROUP BY GROUPING SETS ({", ".join(sets)})
)
SELECT kind, bucket_day, bucket_hour, group_value,
    events, pageviews, visitors, visits, bounces, duration_ms
FROM (
    SELECT grouped.*,
        row_number() OVER (
            PARTITION BY kind
            ORDER BY visitors DESC, {dialect.text_order("group_value")} ASC NULLS LAST
        ) AS place
    FROM grouped
) AS ranked
WHERE kind <> {KIND_BREAKDOWN} OR place <= {{{{limit}}}}
ORDER BY kind, place"""  # noqa: S608  # whitelisted names, values as parameters


def build_statement(query: StatsQuery, dialect: Dialect) -> Statement:
    """The statement answering `query` from raw event rows in `dialect`."""
    values = query_values(query)
    sites = site_markers(query)
    initial_rows = _rows_of(
        "initial_events",
        ROW_COLUMNS + SESSION_COLUMNS,
        f"site_id IN ({sites}) AND dt BETWEEN {{{{lookback}}}} AND {{{{lookahead}}}}",
        dialect,
    )
    event_rows = _rows_of(
        "events",
        ROW_COLUMNS,
        f"site_id IN ({sites}) AND dt BETWEEN {{{{start}}}} AND {{{{lookahead}}}}",
        dialect,
    )
    row_list = ", ".join(ROW_COLUMNS)
    initial_list = ", ".join(ROW_COLUMNS + SESSION_COLUMNS)
    session_list = ", ".join(f"a.{c}" for c in SESSION_COLUMNS)
    uid_order = dialect.text_order("event_uid")
    epoch = dialect.epoch_ms('r."timestamp"')
    conditions = [
        "r.dt BETWEEN {{start}} AND {{end}}",
        *filter_conditions(query, values, session="a", event="r"),
    ]
    where = "\n        AND ".join(conditions)

    sql = f"""WITH initial_rows AS (
    {initial_rows}
),
event_rows AS (
    {event_rows}
),
all_rows AS (
    SELECT {row_list}, 0 AS is_initial
    FROM event_rows
    UNION ALL
    SELECT {row_list}, 1 AS is_initial
    FROM initial_rows
    WHERE dt >= {{{{start}}}}
),
candidates AS (
    SELECT {initial_list}, dt AS att_day
    FROM initial_rows
    WHERE dt BETWEEN {{{{start}}}} AND {{{{end}}}}
    UNION ALL
    SELECT {initial_list}, {dialect.next_day("dt")} AS att_day
    FROM initial_rows
    WHERE dt BETWEEN {{{{lookback}}}} AND {{{{last_lookback}}}}
),
attribution AS (
    SELECT {initial_list}, att_day
    FROM (
        SELECT candidates.*,
            row_number() OVER (
                PARTITION BY site_id, session_id, att_day ORDER BY "timestamp", {uid_order}
            ) AS pick
        FROM candidates
    ) AS ranked
    WHERE pick = 1
),
visits AS (
    SELECT a.site_id, a.session_id, a.att_day, a.event_uid,
        sum(CASE WHEN r.event = {{{{pageview}}}} THEN 1 ELSE 0 END) AS pageviews,
        max({epoch}) - min({epoch}) AS duration_ms
    FROM attribution AS a
    JOIN all_rows AS r
        ON r.site_id = a.site_id AND r.session_id = a.session_id
        AND r.dt BETWEEN a.att_day AND {dialect.next_day("a.att_day")}
    WHERE a.dt = a.att_day
    GROUP BY a.site_id, a.session_id, a.att_day, a.event_uid
),
facts AS (
    SELECT r.site_id, r.session_id, r.dt, {dialect.hour('r."timestamp"')} AS hour_of_day,
        r.event, r.pathname, {session_list},
        1 AS events,
        CASE WHEN r.event = {{{{pageview}}}} THEN 1 ELSE 0 END AS pageviews,
        CASE WHEN v.event_uid IS NULL THEN 0 ELSE 1 END AS visits,
        CASE WHEN v.pageviews = 1 THEN 1 ELSE 0 END AS bounces,
        coalesce(v.duration_ms, 0) AS visit_ms
    FROM all_rows AS r
    LEFT JOIN attribution AS a
        ON a.site_id = r.site_id AND a.session_id = r.session_id AND a.att_day = r.dt
    LEFT JOIN visits AS v
        ON r.is_initial = 1 AND v.site_id = r.site_id AND v.session_id = r.session_id
        AND v.att_day = r.dt AND v.event_uid = r.event_uid
    WHERE {where}
),
{grouping_tail(query, dialect)}"""  # noqa: S608  # whitelisted names, values as parameters
    return bind(sql, values, dialect)


def _int(value: Any) -> int:
    return 0 if value is None else int(value)


def counts_of(row: Sequence[Any]) -> Counts:
    """The six sums at the end of a result row."""
    events, pageviews, visitors, visits, bounces, duration_ms = row[-6:]
    return Counts(
        events=_int(events),
        pageviews=_int(pageviews),
        visitors=_int(visitors),
        visits=_int(visits),
        bounces=_int(bounces),
        duration_ms=_int(duration_ms),
    )


def bucket_start(day: date, hour: int | None) -> datetime:
    """A bucket's UTC start from its day and optional hour."""
    return datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(hours=hour or 0)


def result_from_rows(rows: Iterable[Sequence[Any]]) -> StatsResult:
    """Map result rows (see the module docstring) to a `StatsResult` (timeseries in time
    order, breakdown in the rows' order)."""
    totals = Counts()
    timeseries: list[tuple[datetime, Counts]] = []
    breakdown: list[tuple[str | None, Counts]] = []
    for row in rows:
        kind = int(row[0])
        if kind == KIND_TOTALS:
            totals = counts_of(row)
        elif kind == KIND_TIMESERIES:
            day = row[1]
            if isinstance(day, datetime):
                day = day.date()
            timeseries.append(
                (bucket_start(day, None if row[2] is None else int(row[2])), counts_of(row))
            )
        else:
            breakdown.append((None if row[3] is None else str(row[3]), counts_of(row)))
    return StatsResult(totals, tuple(sorted(timeseries)), tuple(breakdown))
