"""The stats query over raw event rows, in one SQL shape for Trino (Athena), DuckDB and
PostgreSQL.

The statement implements the definitions of `analytics_core.stats` directly on `events` and
`initial_events`: it reads the days the range needs (the day before for attribution, the day
after for the last day's visits), keeps one copy per `event_uid` in the cold dialects (the
cold store is at least once) among the rows that have one (rows without, as the pipeline of
the DynamoDB version wrote them, are events too: each counts, under a stand-in uid, see
`_rows_of`), attributes each event to its session's initial event, computes
each visit's pageviews and duration (and, when asked, its exit page), filters, and aggregates
totals, timeseries and breakdown in one pass with GROUPING SETS. User values (property keys
included, as JSON paths) only ever travel as parameters; identifiers come from the `Dimension`
whitelist and from positions (`prop_<n>` for the query's n-th property).

Days are the query's local days. In UTC they are the stored `dt` (the UTC date of `timestamp`)
and the statement reads exactly the days it needs; in any other zone it reads the stored days
from two before the local lookback to two after the lookahead, and each row's `dt` in the
statement is the local date of its `timestamp` (`Dialect.local_date`), on which everything
else is then computed unchanged.

Every result row is `(kind, bucket_day, bucket_hour, group_value, events, pageviews, visitors,
visits, bounces, duration_ms[, conversions])`, kind 0 = totals, 1 = a timeseries bucket, 2 = a
breakdown row (ordered and limited); `conversions` is there when the query has a goal.
`bucket_day` is the bucket's (local) first day; `bucket_hour` is, in UTC, the hour of day, and
in another zone the start of the local hour in milliseconds since the epoch. `result_from_rows`
turns them into a `StatsResult`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta, tzinfo
from enum import Enum
from typing import Any

import attrs

from analytics_core.legacy_uids import LEGACY_UID_PREFIX, ORDINAL_DIGITS
from analytics_core.stats import (
    PAGEVIEW,
    SESSION_DIMENSIONS,
    Counts,
    Dimension,
    Field,
    Filter,
    Interval,
    Operator,
    Property,
    StatsQuery,
    StatsResult,
    local_midnight,
)

KIND_TOTALS, KIND_TIMESERIES, KIND_BREAKDOWN = 0, 1, 2
ROW_COLUMNS = ("site_id", "session_id", '"timestamp"', "dt", "event", "pathname", "event_uid")
SESSION_COLUMNS = tuple(d.value for d in SESSION_DIMENSIONS)
READ_MARGIN = timedelta(days=2)
"""How many stored (UTC) days beyond the local ones a zoned query reads: a local day lies
within the UTC day before, its own and the one after, whatever the offset."""
_INTEGER_TEXT = "^-{0,1}[0-9]+$"  # no question mark: the cold dialects' parameter marker
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


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

    def local_date(self, expression: str, zone: str) -> str:
        """The date of a timestamp with time zone in the zone named by the SQL `zone` (a
        parameter marker)."""
        if self is Dialect.POSTGRES:
            return f"CAST(({expression} AT TIME ZONE {zone}) AS date)"
        if self is Dialect.TRINO:
            return f"CAST(at_timezone({expression}, {zone}) AS date)"
        return f"CAST(timezone({zone}, {expression}) AS DATE)"  # ICU, built into DuckDB

    def local_hour_ms(self, expression: str, zone: str) -> str:
        """The start of the local hour holding a timestamp, in milliseconds since the epoch:
        the instant less the local clock's minutes, seconds and milliseconds, that is the
        local wall clock's milliseconds (as if it were UTC) modulo an hour (which tells apart
        the two hours a change back to winter time repeats)."""
        epoch = self.epoch_ms(expression)
        if self is Dialect.TRINO:
            # The cast to a timestamp without zone keeps the local date and time.
            wall = (
                "date_diff('millisecond', TIMESTAMP '1970-01-01 00:00:00', "
                f"CAST(at_timezone({expression}, {zone}) AS timestamp(6)))"
            )
        elif self is Dialect.POSTGRES:
            wall = self.epoch_ms(f"({expression} AT TIME ZONE {zone})")
        else:
            wall = f"epoch_ms(timezone({zone}, {expression}))"
        return f"{epoch} - mod({wall}, 3600000)"

    def property_path(self, key: str) -> str:
        """The parameter naming property `key` (a `Property` key, whose characters are
        checked: no quote can occur) for `property_text`."""
        if self is Dialect.POSTGRES:
            return key
        if self is Dialect.TRINO:
            return f'$["{key}"]'
        return f'$."{key}"'

    def property_text(self, path: str) -> str:
        """The text of one property of an event's `properties` (see
        `analytics_core.stats.property_text`): a string as it is, a boolean `true`/`false`,
        an integer in decimal, else null; `path` is the marker of `property_path`'s value."""
        if self is Dialect.POSTGRES:
            value = f"properties -> {path}"
            return (
                f"CASE WHEN jsonb_typeof({value}) IN ('string', 'boolean') "
                f"OR (jsonb_typeof({value}) = 'number' AND (properties ->> {path}) ~ "
                f"'{_INTEGER_TEXT}') THEN properties ->> {path} END"
            )
        if self is Dialect.TRINO:
            scalar = f"json_extract_scalar(properties, {path})"
            return (
                f"CASE WHEN substr(json_format(json_extract(properties, {path})), 1, 1) = '\"' "
                f"OR {scalar} IN ('true', 'false') "
                f"OR regexp_like({scalar}, '{_INTEGER_TEXT}') THEN {scalar} END"
            )
        return (
            f"CASE WHEN json_type(properties, {path}) IN "
            "('VARCHAR', 'BOOLEAN', 'BIGINT', 'UBIGINT') "
            f"THEN json_extract_string(properties, {path}) END"
        )

    def truncate(self, unit: str, expression: str) -> str:
        """A date truncated to its week (Monday) or month, as a date."""
        if self is Dialect.POSTGRES:
            return f"CAST(date_trunc('{unit}', CAST({expression} AS timestamp)) AS date)"
        if self is Dialect.TRINO:
            return f"date_trunc('{unit}', {expression})"
        return f"CAST(date_trunc('{unit}', {expression}) AS DATE)"

    def distinct_sessions(self, condition: str | None = None) -> str:
        """The expression counting distinct sessions (site ids are ULIDs of fixed length, so
        the concatenation is unambiguous), only the rows meeting `condition` when given;
        PostgreSQL compares it bytewise, faster than in its locale."""
        session = "site_id || session_id"
        if condition is not None:
            session = f"CASE WHEN {condition} THEN {session} END"
        if self is Dialect.POSTGRES:
            return f'count(DISTINCT ({session}) COLLATE "C")'
        return f"count(DISTINCT {session})"

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


def is_zoned(query: StatsQuery) -> bool:
    """Whether the query's days are not the stored UTC `dt`."""
    return query.zone is not UTC


def query_properties(query: StatsQuery) -> tuple[Property, ...]:
    """The properties the query groups or filters by, each once, in a fixed order (the
    statement's columns `prop_0`, `prop_1`, ...)."""
    fields: list[Field] = [f.dimension for f in query.filters]
    if query.group_by is not None:
        fields.append(query.group_by)
    return tuple(dict.fromkeys(f for f in fields if isinstance(f, Property)))


def field_column(field: Field, query: StatsQuery) -> str:
    """The name of a field's column among the statement's facts."""
    if isinstance(field, Property):
        return f"prop_{query_properties(query).index(field)}"
    return field.value


def _uses(query: StatsQuery, dimension: Dimension) -> bool:
    return query.group_by is dimension or any(f.dimension is dimension for f in query.filters)


def _rows_of(
    table: str,
    columns: Sequence[str],
    where: str,
    dialect: Dialect,
    *,
    derived: Sequence[str] = (),
    local_days: tuple[str, str] | None = None,
) -> str:
    """One table's rows for the query, one copy per event_uid in the cold dialects, with the
    `derived` expressions (over the stored columns: a property's text) as more columns.

    With `local_days` (the markers of the first and last local day, for a zoned query), `dt`
    is the local date of `timestamp` and only rows of those local days are kept.

    Rows without an event_uid all count. Each gets a stand-in uid that is unique within its
    session's stored day (all the statement needs: visits are matched within a session and
    day; a zoned query, whose local day may hold two stored days, appends the stored day):
    the prefix and its place among that session-day's rows without a uid, ordered by their
    content (timestamp, event, pathname, then the session's columns), the order in which
    `analytics_core.legacy_uids` numbers them when they are copied into PostgreSQL, so that
    ties broken by uid fall the same way in both stores (ties are between equal timestamps,
    so within one stored day).
    """
    listed = ", ".join(columns)
    if not dialect.deduplicates:
        zone_day = None if local_days is None else dialect.local_date('"timestamp"', "{{zone}}")
        outer = [f"{zone_day} AS dt" if c == "dt" and zone_day else c for c in columns]
        conditions = [where]
        if local_days is not None:
            conditions.append(f"{zone_day} BETWEEN {local_days[0]} AND {local_days[1]}")
        return (
            f"SELECT {', '.join([*outer, *derived])}\n"  # noqa: S608  # whitelisted names
            f"    FROM {table}\n    WHERE {' AND '.join(conditions)}"
        )
    content = [c for c in columns if c not in ("event_uid", "site_id", "session_id", "dt")]
    order = ", ".join(f"{column} ASC NULLS LAST" for column in content)
    ordinal = f"lpad(CAST(copy_no AS VARCHAR), {ORDINAL_DIGITS}, '0')"
    stand_in = f"coalesce(event_uid, '{LEGACY_UID_PREFIX}' || {ordinal})"
    if local_days is not None:
        stand_in += (
            " || CASE WHEN event_uid IS NULL THEN '-' || CAST(copies.dt AS VARCHAR) ELSE '' END"
        )
    stand_in += " AS event_uid"
    local = dialect.local_date('copies."timestamp"', "{{zone}}")
    outer = []
    for column in columns:
        if column == "event_uid":
            outer.append(stand_in)
        elif column == "dt" and local_days is not None:
            outer.append(f"{local} AS dt")
        else:
            outer.append(column)
    inner = listed + (", properties" if derived else "")
    rows = (
        f"SELECT {', '.join([*outer, *derived])}\n    FROM (\n"  # noqa: S608  # whitelisted names, values as parameters
        f"        SELECT {inner},\n"
        f"            row_number() OVER (\n"
        f"                PARTITION BY event_uid, site_id, session_id, dt\n"
        f"                ORDER BY {order}\n"
        f"            ) AS copy_no\n"
        f"        FROM {table}\n"
        f"        WHERE {where}\n"
        f"    ) AS copies\n"
        f"    WHERE copy_no = 1 OR event_uid IS NULL"
    )
    if local_days is None:
        return rows
    # The local days, once each row's dt is its local date (copies numbered over whole
    # stored days first, as legacy_uids numbers them).
    return (
        f"SELECT *\n    FROM (\n    {rows}\n    ) AS local_rows\n"  # noqa: S608  # idem
        f"    WHERE dt BETWEEN {local_days[0]} AND {local_days[1]}"
    )


def query_values(query: StatsQuery) -> dict[str, Any]:
    """The named values every statement binds (dates, limit, sites as `site_<n>`; the zone,
    the stored days a zoned query reads and the goal when there are)."""
    values: dict[str, Any] = {
        "start": query.start_date,
        "end": query.end_date,
        "lookback": query.lookback_date,
        "lookahead": query.lookahead_date,
        "last_lookback": query.end_date - timedelta(days=1),
        "pageview": PAGEVIEW,
        "limit": query.limit,
    }
    if is_zoned(query):
        values.update(
            zone=query.timezone,
            read_lookback=query.lookback_date - READ_MARGIN,
            read_start=query.start_date - READ_MARGIN,
            read_lookahead=query.lookahead_date + READ_MARGIN,
        )
    if query.goal is not None:
        values["goal"] = query.goal
    values.update({f"site_{n}": site for n, site in enumerate(query.site_ids)})
    return values


def site_markers(query: StatsQuery) -> str:
    """`{{site_0}}, {{site_1}}, ...` for an IN list."""
    return ", ".join(f"{{{{site_{n}}}}}" for n in range(len(query.site_ids)))


def lower_text(column: str) -> str:
    """`column` in lower case as Python's `str.lower` has it, as far as SQL's `lower` goes:
    the engines map each code point to one, Python maps U+0130 (İ) to two, `i` and U+0307
    (which `lower` keeps), so that one is replaced first. (Python also lowers a word-final
    capital sigma to U+03C2, where the engines write U+03C3: the one difference left.)"""
    return f"lower(replace({column}, chr(304), 'i' || chr(775)))"


def _condition(item: Filter, column: str, marker: str, values: dict[str, Any]) -> str:
    """One filter on one column; its values become the markers `<marker>` (one value) or
    `<marker>_<k>`. Contains compares the column lowered by the engine (`lower_text`) with the
    value lowered by Python (`str.lower`)."""
    if item.operator in (Operator.EQ, Operator.NE) and len(item.values) == 1:
        values[marker] = item.values[0]
        operator = "=" if item.operator is Operator.EQ else "IS DISTINCT FROM"
        return f"{column} {operator} {{{{{marker}}}}}"
    markers = []
    for k, value in enumerate(item.values):
        lowered = item.operator in (Operator.CONTAINS, Operator.NOT_CONTAINS)
        values[f"{marker}_{k}"] = value.lower() if lowered else value
        markers.append(f"{{{{{marker}_{k}}}}}")
    if item.operator in (Operator.EQ, Operator.NE):
        found = f"{column} IN ({', '.join(markers)})"
    else:
        found = " OR ".join(f"strpos({lower_text(column)}, {m}) > 0" for m in markers)
    if item.operator.negated:
        return f"({column} IS NULL OR NOT ({found}))"
    return f"({found})"


def filter_conditions(
    query: StatsQuery,
    values: dict[str, Any],
    *,
    session: str,
    event: str,
    per_session: bool | None = None,
    exits: str = "x",
) -> list[str]:
    """One SQL condition per filter: session dimensions on `session`'s columns (the entry
    page is its initial event's pathname, the exit page `exits`'s `exit_page`), pathname,
    event and properties (`prop_<n>`) on `event`'s; each value becomes a marker
    `filter_<n>...`. `per_session` keeps only the filters on session dimensions (True) or
    only the others (False)."""
    conditions = []
    for n, item in enumerate(query.filters):
        if per_session is not None and item.dimension.per_session is not per_session:
            continue
        if item.dimension is Dimension.ENTRY_PAGE:
            column = f"{session}.pathname"
        elif item.dimension is Dimension.EXIT_PAGE:
            column = f"{exits}.exit_page"
        elif item.dimension.per_session:
            column = f"{session}.{item.dimension.value}"
        else:
            column = f"{event}.{field_column(item.dimension, query)}"
        conditions.append(_condition(item, column, f"filter_{n}", values))
    return conditions


def grouping_tail(query: StatsQuery, dialect: Dialect) -> str:
    """`keyed`, `grouped` and the final SELECT over a CTE `facts` holding, per row:
    site_id, session_id, dt, hour_of_day (see `Dialect.local_hour_ms` for a zoned query),
    pathname, event, the column grouped by (`field_column`), and the weights events,
    pageviews, visits, bounces, visit_ms (a row may stand for several events, as a session-day
    does), and `converted` (1 for the goal's events) when the query has a goal."""
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
        keys.append(f"{field_column(query.group_by, query)} AS group_value")
        sets.append("(group_value)")
        selected.update(group_value="group_value")
        kinds.insert(0, f"WHEN grouping(group_value) = 0 THEN {KIND_BREAKDOWN}")
    kind = f"CASE {' '.join(kinds)} ELSE {KIND_TOTALS} END" if kinds else str(KIND_TOTALS)
    key_list = "".join(f",\n        {key}" for key in keys)
    converted = conversions = conversions_column = ""
    if query.goal is not None:
        converted = ", converted"
        conversions = f",\n        {dialect.distinct_sessions('converted = 1')} AS conversions"
        conversions_column = ", conversions"
    return f"""keyed AS (
    SELECT site_id, session_id, events, pageviews, visits, bounces, visit_ms{converted}{key_list}
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
        sum(visit_ms) AS duration_ms{conversions}
    FROM keyed
    GROUP BY GROUPING SETS ({", ".join(sets)})
)
SELECT kind, bucket_day, bucket_hour, group_value,
    events, pageviews, visitors, visits, bounces, duration_ms{conversions_column}
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


def _exits(dialect: Dialect) -> str:
    """The CTEs `page_rows` and `exits`: each attributed initial event's visit exit page (the
    last pageview, by timestamp then event_uid, of the session's rows dated the initial
    event's day or the day after), by session and attributed day."""
    return f"""page_rows AS (
    SELECT site_id, session_id, "timestamp", dt, pathname, event_uid
    FROM event_rows
    WHERE event = {{{{pageview}}}}
    UNION ALL
    SELECT site_id, session_id, "timestamp", dt, pathname, event_uid
    FROM initial_rows
    WHERE event = {{{{pageview}}}}
),
exits AS (
    SELECT site_id, session_id, att_day, pathname AS exit_page
    FROM (
        SELECT a.site_id, a.session_id, a.att_day, p.pathname,
            row_number() OVER (
                PARTITION BY a.site_id, a.session_id, a.att_day
                ORDER BY p."timestamp" DESC, {dialect.text_order("p.event_uid")} DESC
            ) AS place
        FROM attribution AS a
        JOIN page_rows AS p
            ON p.site_id = a.site_id AND p.session_id = a.session_id
            AND p.dt BETWEEN a.dt AND {dialect.next_day("a.dt")}
    ) AS last_pages
    WHERE place = 1
),
"""  # noqa: S608  # whitelisted names, values as parameters


def stored_days(query: StatsQuery) -> dict[str, tuple[date, date]]:
    """The first and last stored day (`dt`) the statement reads of each table (what a reader
    that lists partitions itself must provide)."""
    first_event = query.lookback_date if _uses(query, Dimension.EXIT_PAGE) else query.start_date
    margin = READ_MARGIN if is_zoned(query) else timedelta()
    last = query.lookahead_date + margin
    return {
        "initial_events": (query.lookback_date - margin, last),
        "events": (first_event - margin, last),
    }


def build_statement(query: StatsQuery, dialect: Dialect) -> Statement:
    """The statement answering `query` from raw event rows in `dialect`."""
    values = query_values(query)
    sites = site_markers(query)
    zoned = is_zoned(query)
    exits = _uses(query, Dimension.EXIT_PAGE)
    properties = query_properties(query)
    derived = []
    for n, item in enumerate(properties):
        values[f"property_{n}"] = dialect.property_path(item.key)
        derived.append(f"{dialect.property_text(f'{{{{property_{n}}}}}')} AS prop_{n}")
    prop_list = "".join(f", prop_{n}" for n in range(len(properties)))
    # Exit pages need the pageviews of the lookback day (a visit there may end on the first).
    events_from = "lookback" if exits else "start"
    if zoned:
        initial_where = "dt BETWEEN {{read_lookback}} AND {{read_lookahead}}"
        event_where = f"dt BETWEEN {{{{read_{events_from}}}}} AND {{{{read_lookahead}}}}"
    else:
        initial_where = "dt BETWEEN {{lookback}} AND {{lookahead}}"
        event_where = f"dt BETWEEN {{{{{events_from}}}}} AND {{{{lookahead}}}}"
    initial_rows = _rows_of(
        "initial_events",
        ROW_COLUMNS + SESSION_COLUMNS,
        f"site_id IN ({sites}) AND {initial_where}",
        dialect,
        derived=derived,
        local_days=("{{lookback}}", "{{lookahead}}") if zoned else None,
    )
    event_rows = _rows_of(
        "events",
        ROW_COLUMNS,
        f"site_id IN ({sites}) AND {event_where}",
        dialect,
        derived=derived,
        local_days=(f"{{{{{events_from}}}}}", "{{lookahead}}") if zoned else None,
    )
    row_list = ", ".join(ROW_COLUMNS) + prop_list
    initial_list = ", ".join(ROW_COLUMNS + SESSION_COLUMNS)
    session_list = ", ".join(f"a.{c}" for c in SESSION_COLUMNS)
    if _uses(query, Dimension.ENTRY_PAGE):
        session_list += ", a.pathname AS entry_page"
    if exits:
        session_list += ", x.exit_page"
    session_list += "".join(f", r.prop_{n}" for n in range(len(properties)))
    uid_order = dialect.text_order("event_uid")
    epoch = dialect.epoch_ms('r."timestamp"')
    hour = (
        dialect.local_hour_ms('r."timestamp"', "{{zone}}")
        if zoned
        else dialect.hour('r."timestamp"')
    )
    conditions = [
        "r.dt BETWEEN {{start}} AND {{end}}",
        *filter_conditions(query, values, session="a", event="r"),
    ]
    where = "\n        AND ".join(conditions)
    event_days = "\n    WHERE dt >= {{start}}" if exits else ""
    exits_cte = _exits(dialect) if exits else ""
    exits_join = (
        "\n    LEFT JOIN exits AS x\n"
        "        ON x.site_id = r.site_id AND x.session_id = r.session_id AND x.att_day = r.dt"
        if exits
        else ""
    )
    converted = (
        "\n        CASE WHEN r.event = {{goal}} THEN 1 ELSE 0 END AS converted,"
        if query.goal is not None
        else ""
    )

    sql = f"""WITH initial_rows AS (
    {initial_rows}
),
event_rows AS (
    {event_rows}
),
all_rows AS (
    SELECT {row_list}, 0 AS is_initial
    FROM event_rows{event_days}
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
{exits_cte}facts AS (
    SELECT r.site_id, r.session_id, r.dt, {hour} AS hour_of_day,
        r.event, r.pathname, {session_list},
        1 AS events,
        CASE WHEN r.event = {{{{pageview}}}} THEN 1 ELSE 0 END AS pageviews,
        CASE WHEN v.event_uid IS NULL THEN 0 ELSE 1 END AS visits,
        CASE WHEN v.pageviews = 1 THEN 1 ELSE 0 END AS bounces,{converted}
        coalesce(v.duration_ms, 0) AS visit_ms
    FROM all_rows AS r
    LEFT JOIN attribution AS a
        ON a.site_id = r.site_id AND a.session_id = r.session_id AND a.att_day = r.dt
    LEFT JOIN visits AS v
        ON r.is_initial = 1 AND v.site_id = r.site_id AND v.session_id = r.session_id
        AND v.att_day = r.dt AND v.event_uid = r.event_uid{exits_join}
    WHERE {where}
),
{grouping_tail(query, dialect)}"""  # noqa: S608  # whitelisted names, values as parameters
    return bind(sql, values, dialect)


def _int(value: Any) -> int:
    return 0 if value is None else int(value)


def counts_of(row: Sequence[Any]) -> Counts:
    """The sums of a result row: the six after the four keys, and conversions when the row
    has them."""
    events, pageviews, visitors, visits, bounces, duration_ms = row[4:10]
    return Counts(
        events=_int(events),
        pageviews=_int(pageviews),
        visitors=_int(visitors),
        visits=_int(visits),
        bounces=_int(bounces),
        duration_ms=_int(duration_ms),
        conversions=_int(row[10]) if len(row) > 10 else 0,
    )


def bucket_start(day: date, hour: int | None, tz: tzinfo = UTC) -> datetime:
    """A bucket's start from its result row's day and hour (see the module docstring): in
    UTC the day's hour, in another zone the day's local midnight or the hour's instant."""
    if tz is UTC:
        return datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(hours=hour or 0)
    if hour is None:
        return local_midnight(day, tz)
    return (_EPOCH + timedelta(milliseconds=hour)).astimezone(tz)


def result_from_rows(rows: Iterable[Sequence[Any]], tz: tzinfo = UTC) -> StatsResult:
    """Map result rows (see the module docstring) of a query in time zone `tz` to a
    `StatsResult` (timeseries in time order, breakdown in the rows' order)."""
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
            hour = None if row[2] is None else int(row[2])
            timeseries.append((bucket_start(day, hour, tz), counts_of(row)))
        else:
            breakdown.append((None if row[3] is None else str(row[3]), counts_of(row)))
    # By instant: within one zone the two 1 am of a change back to winter time compare equal.
    timeseries.sort(key=lambda bucket: bucket[0].astimezone(UTC))
    return StatsResult(totals, tuple(timeseries), tuple(breakdown))
