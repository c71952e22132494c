"""`StatsReader` on the hot store (PostgreSQL).

Plans, all with the same answers (see `Plan`):
- the rollups (`stats_daily`, `stats_hourly`, `stats_repeats`, see read_model.py) answer queries
  without filters, or with a single `dimension==value` filter when the breakdown (if any) is by
  that same dimension (and the interval is not hourly): a few thousand pre-summed rows at most,
  whatever the traffic;
- the session-day rows (`stats_session_days`) answer the rest: alone when only session
  dimensions are involved, joined to the range's raw events when a pathname, event name or hour
  is;
- the raw-row statement of `adapters.stats_sql` (the cold stores' shape) is the reference the
  tests compare the others with (`rollups=False, session_days=False`), and answers every query
  the read model cannot answer exactly (`read_model_answers`: its tables hold UTC days and the
  stored dimensions): another time zone, properties, entry and exit pages, contains,
  alternatives, a goal.

Everything is parameterised; the only names put into SQL come from the `Dimension` whitelist.
One statement per query, so totals, timeseries and breakdown come from one snapshot. The
reader only reads: the query use case folds the queried sites' pending rows into the read model
first (`analytics_core.stats.query_stats`, through the `ReadModel` port).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC
from enum import StrEnum
from typing import Any

from adapters.postgres.pool import Pool, deadline, transaction
from adapters.stats_sql import (
    SESSION_COLUMNS,
    Dialect,
    Statement,
    bind,
    build_statement,
    filter_conditions,
    grouping_tail,
    query_values,
    result_from_rows,
    site_markers,
)
from analytics_core.stats import (
    Dimension,
    Field,
    Interval,
    Operator,
    StatsQuery,
    StatsResult,
)

STATEMENT_TIMEOUT_MS = 20_000

_SUMS = (
    "sum(events) AS events, sum(pageviews) AS pageviews, sum(visitors) AS visitors, "
    "sum(visits) AS visits, sum(bounces) AS bounces, sum(duration_ms) AS duration_ms"
)
_ROLLUP_WHERE = (
    "site_id = ANY(%(sites)s) AND dt BETWEEN %(start)s AND %(end)s AND dim = {dim} "
    "AND {value_match}"
)


def read_model_answers(query: StatsQuery) -> bool:
    """Whether the read model (rollups, session days) can answer `query`: its tables hold UTC
    days and the stored dimensions only, so a query in another time zone, on a property or an
    entry or exit page, with an operator other than `==`/`!=`, with alternatives, or with a
    goal runs on the raw rows."""
    fields: list[Field] = [item.dimension for item in query.filters]
    if query.group_by is not None:
        fields.append(query.group_by)
    return (
        query.zone is UTC
        and query.goal is None
        and all(isinstance(field, Dimension) and field.stored for field in fields)
        and all(
            item.operator in (Operator.EQ, Operator.NE) and len(item.values) == 1
            for item in query.filters
        )
    )


def rollup_key(query: StatsQuery) -> tuple[str, str] | None:
    """The `stats_daily` (dim, value) whose rows hold the query's totals, or None when the
    read model cannot answer the query (it then runs on the raw rows)."""
    if not query.filters:
        return ("", "")
    if len(query.filters) > 1 or query.interval is Interval.HOUR:
        return None
    (only,) = query.filters
    if only.operator is not Operator.EQ or query.group_by not in (None, only.dimension):
        return None
    return (only.dimension.value, only.value)


def _sums(visitors: str) -> str:
    """The result's six sums, zero where nothing was summed, with `visitors` as given."""
    return (
        "coalesce(events, 0) AS events, coalesce(pageviews, 0) AS pageviews, "
        f"{visitors} AS visitors, coalesce(visits, 0) AS visits, "
        "coalesce(bounces, 0) AS bounces, coalesce(duration_ms, 0) AS duration_ms"
    )


def rollup_statement(query: StatsQuery, key: tuple[str, str]) -> tuple[str, dict[str, Any]]:
    """The single statement answering `query` from the read model (see `rollup_key`)."""
    dim, value = key
    params: dict[str, Any] = {
        "sites": list(query.site_ids),
        "start": query.start_date,
        "end": query.end_date,
        "dim": dim,
        "value": value,
        "limit": query.limit,
    }
    totals_where = _ROLLUP_WHERE.format(dim="%(dim)s", value_match="value = %(value)s")
    repeats = (
        "(SELECT coalesce(sum(sessions), 0) FROM stats_repeats "  # noqa: S608  # idem
        f"WHERE {totals_where} AND prev_dt >= %(start)s)"
    )
    parts = [
        f"""(SELECT 0 AS kind, NULL::date AS bucket_day, NULL::integer AS bucket_hour,
        NULL::text AS group_value, {_sums(f"coalesce(visitors, 0) - {repeats}")}
    FROM (SELECT {_SUMS} FROM stats_daily WHERE {totals_where}) AS d)"""  # noqa: S608  # whitelisted names, values as parameters
    ]
    if query.interval is Interval.HOUR:
        parts.append(
            f"""(SELECT 1, dt, hour::integer, NULL::text, {_SUMS}
    FROM stats_hourly
    WHERE site_id = ANY(%(sites)s) AND dt BETWEEN %(start)s AND %(end)s
    GROUP BY dt, hour)"""  # noqa: S608  # whitelisted names, values as parameters
        )
    elif query.interval is Interval.DAY:
        parts.append(
            f"""(SELECT 1, dt, NULL::integer, NULL::text, {_SUMS}
    FROM stats_daily WHERE {totals_where}
    GROUP BY dt)"""  # noqa: S608  # whitelisted names, values as parameters
        )
    elif query.interval is not None:
        bucket = Dialect.POSTGRES.truncate(query.interval.value, "dt")
        parts.append(
            f"""(SELECT 1, d.bucket, NULL::integer, NULL::text,
        {_sums("d.visitors - coalesce(r.sessions, 0)")}
    FROM (SELECT {bucket} AS bucket, {_SUMS} FROM stats_daily WHERE {totals_where} GROUP BY 1) AS d
    LEFT JOIN (
        SELECT {bucket} AS bucket, sum(sessions) AS sessions
        FROM stats_repeats
        WHERE {totals_where} AND prev_dt >= greatest({bucket}, %(start)s)
        GROUP BY 1
    ) AS r USING (bucket))"""  # noqa: S608  # whitelisted names, values as parameters
        )
    if query.group_by is not None:
        params["group_dim"] = query.group_by.value
        group_where = _ROLLUP_WHERE.format(
            dim="%(group_dim)s",
            value_match="value = %(value)s" if query.filters else "true",
        )
        parts.append(
            f"""(SELECT 2, NULL::date, NULL::integer, d.value,
        {_sums("d.visitors - coalesce(r.sessions, 0)")}
    FROM (SELECT value, {_SUMS} FROM stats_daily WHERE {group_where} GROUP BY value) AS d
    LEFT JOIN (
        SELECT value, sum(sessions) AS sessions
        FROM stats_repeats
        WHERE {group_where} AND prev_dt >= %(start)s
        GROUP BY value
    ) AS r ON r.value IS NOT DISTINCT FROM d.value
    ORDER BY visitors DESC, d.value COLLATE "C" ASC NULLS LAST
    LIMIT %(limit)s)"""  # noqa: S608  # whitelisted names, values as parameters
        )
    return "\nUNION ALL\n".join(parts), params


def session_days_statement(query: StatsQuery) -> Statement:
    """The statement answering `query` from `stats_session_days`: alone when only session
    dimensions are involved (and the series is not hourly), else joined to the range's raw
    events for their pathname, event and hour. Same result rows as the raw-row statement."""
    values = query_values(query)
    sites = site_markers(query)
    session_filters = filter_conditions(query, values, session="d", event="r", per_session=True)
    event_filters = filter_conditions(query, values, session="d", event="r", per_session=False)
    days_where = " AND ".join(
        [f"d.site_id IN ({sites})", "d.dt BETWEEN {{start}} AND {{end}}", *session_filters]
    )
    attributes = ", ".join(f"d.{c}" for c in SESSION_COLUMNS)
    per_event = (
        event_filters
        or query.interval is Interval.HOUR
        or (query.group_by is not None and not query.group_by.per_session)
    )
    if not per_event:
        facts = f"""facts AS (
    SELECT d.site_id, d.session_id, d.dt, CAST(NULL AS INTEGER) AS hour_of_day,
        CAST(NULL AS TEXT) AS event, CAST(NULL AS TEXT) AS pathname, {attributes},
        d.events, d.pageviews,
        CASE WHEN d.visit_uid IS NULL THEN 0 ELSE 1 END AS visits,
        CASE WHEN d.visit_bounce THEN 1 ELSE 0 END AS bounces,
        d.visit_duration_ms AS visit_ms
    FROM stats_session_days AS d
    WHERE {days_where}
),"""  # noqa: S608  # whitelisted names, values as parameters
    else:
        row_where = f"site_id IN ({sites}) AND dt BETWEEN {{{{start}}}} AND {{{{end}}}}"
        visit = "r.is_initial = 1 AND r.event_uid = d.visit_uid"
        facts = f"""event_rows AS (
    SELECT site_id, session_id, "timestamp", dt, event, pathname, event_uid, 0 AS is_initial
    FROM events WHERE {row_where}
    UNION ALL
    SELECT site_id, session_id, "timestamp", dt, event, pathname, event_uid, 1 AS is_initial
    FROM initial_events WHERE {row_where}
),
facts AS (
    SELECT r.site_id, r.session_id, r.dt, {Dialect.POSTGRES.hour('r."timestamp"')} AS hour_of_day,
        r.event, r.pathname, {attributes},
        1 AS events,
        CASE WHEN r.event = {{{{pageview}}}} THEN 1 ELSE 0 END AS pageviews,
        CASE WHEN {visit} THEN 1 ELSE 0 END AS visits,
        CASE WHEN {visit} AND d.visit_bounce THEN 1 ELSE 0 END AS bounces,
        CASE WHEN {visit} THEN d.visit_duration_ms ELSE 0 END AS visit_ms
    FROM event_rows AS r
    JOIN stats_session_days AS d
        ON d.site_id = r.site_id AND d.session_id = r.session_id AND d.dt = r.dt
    WHERE {" AND ".join([days_where, *event_filters])}
),"""  # noqa: S608  # whitelisted names, values as parameters
    return bind(f"WITH {facts}\n{grouping_tail(query, Dialect.POSTGRES)}", values, Dialect.POSTGRES)


class Plan(StrEnum):
    """How the hot store answers a query."""

    ROLLUPS = "read model: rollups"
    SESSION_DAYS = "read model: session days"
    RAW_ROWS = "raw rows"


class PostgresStatsReader:
    """Stats from the hot store: the rollups when they can answer, else the session-day rows
    (joined to the raw events when a pathname, event or hour is involved).

    `rollups=False` and `session_days=False` turn plans off (tests and the benchmark compare
    every plan with the raw-row statement the cold stores run)."""

    source = "postgres"

    def __init__(
        self,
        pool: Pool,
        *,
        rollups: bool = True,
        session_days: bool = True,
        statement_timeout_ms: int = STATEMENT_TIMEOUT_MS,
    ) -> None:
        self._pool = pool
        self._rollups = rollups
        self._session_days = session_days
        self._timeout_ms = statement_timeout_ms

    def plan(self, query: StatsQuery) -> Plan:
        """The plan this reader uses for `query` (the raw rows whenever the read model cannot
        answer it exactly, see `read_model_answers`)."""
        if not read_model_answers(query):
            return Plan.RAW_ROWS
        if self._rollups and rollup_key(query) is not None:
            return Plan.ROLLUPS
        return Plan.SESSION_DAYS if self._session_days else Plan.RAW_ROWS

    def statement(self, query: StatsQuery) -> tuple[str, Sequence[Any] | dict[str, Any]]:
        """The SQL and parameters this reader runs for `query` (benchmarks print its plan)."""
        plan = self.plan(query)
        if plan is Plan.ROLLUPS:
            key = rollup_key(query)
            assert key is not None  # noqa: S101  # the plan says so
            return rollup_statement(query, key)
        if plan is Plan.SESSION_DAYS:
            statement = session_days_statement(query)
        else:
            statement = build_statement(query, Dialect.POSTGRES)
        return statement.sql, statement.parameters

    @staticmethod
    def settings(plan: Plan) -> dict[str, str]:
        """Planner settings for the statement, local to its transaction: the statements over
        rows join CTEs and window results whose sizes PostgreSQL cannot estimate, and a nested
        loop chosen on a guess of one row is quadratic; hash and merge joins are always right
        there. JIT compilation (triggered by the cost estimates) takes longer than these
        queries run. (A larger work_mem was measured too: no faster on a big site's month.)"""
        return {} if plan is Plan.ROLLUPS else {"enable_nestloop": "off", "jit": "off"}

    def read(self, query: StatsQuery) -> StatsResult:
        """Answer `query` from what the read model holds now (rows not folded yet may be
        missed; only the raw-row plan reads every stored row); a statement past the timeout is
        `QueryTimeoutError`."""
        text, params = self.statement(query)
        plan = self.plan(query)
        with (
            deadline("the hot-store query"),
            transaction(
                self._pool, statement_timeout_ms=self._timeout_ms, settings=self.settings(plan)
            ) as conn,
        ):
            rows = conn.execute(text, params).fetchall()
        return result_from_rows(rows, query.zone)
