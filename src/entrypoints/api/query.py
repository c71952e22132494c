"""GET /api/query: aggregate statistics of the caller's sites (see docs/query-api.md); and
GET /api/realtime, who is on one of them now.

The handler reads the caller from the JWT claims, parses the query string into a
`StatsQuery` (400 naming each bad parameter), and lets `query_stats` check ownership (404 for
a site that is not the caller's, exactly like a missing one), route to the hot or cold store,
and fill the timeseries. The answer is camelCase JSON:

    {"source": "postgres" | "athena" | "local",
     "query": {"siteIds", "startDate", "endDate", "metrics", "groupBy", "interval",
               "filters": [{"dimension", "operator", "value"}], "limit"},
     "totals": {<metric>: value, ...},
     "timeseries": [{"bucket": "2026-11-24" | "2026-11-24T13:00:00Z", <metric>: value, ...}],
     "breakdown": [{"value": "/pricing" | null, <metric>: value, ...}],
     "comparison": {"startDate", "endDate", "totals", "timeseries"}}

`timeseries` is present when `interval` is given (every bucket, zeros included), `breakdown`
when `groupBy` is (ordered by visitors, then value; at most `limit` rows), `comparison` when
`compare=previous_period` is (the range of the same length just before; its `timeseries` only
with `interval`). Metric keys are
camelCase (`bounceRate`, `visitDuration`, `viewsPerVisit`); a ratio without visits is null.

`GET /api/realtime?siteId=<ULID>` answers the sessions with an event in the last five minutes
(rows not folded into the read model included) and their top ten pages:

    {"siteId", "visitors", "pages": [{"value": "/pricing", "visitors": 3}]}

A missing or malformed `siteId` (or any other parameter) is a 400 naming it; a site that is
not the caller's a 404, like a missing one.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

from analytics_core.errors import InvalidRequestError
from analytics_core.ids import is_ulid
from analytics_core.querying import query_stats, realtime
from analytics_core.stats import (
    DEFAULT_TIMEZONE,
    Counts,
    Interval,
    Metric,
    Realtime,
    StatsQuery,
    StatsReport,
)
from entrypoints import logs
from entrypoints.api.query_params import parse_stats_query
from entrypoints.bootstrap import Services
from entrypoints.http import ApiRequest, LambdaHandler, Response, Router, json_response

logger = logging.getLogger(__name__)


def _metrics_json(
    counts: Counts, metrics: tuple[Metric, ...], total_visitors: int | None = None
) -> dict[str, object]:
    """The metrics' JSON; `percentage` only in breakdown rows (given `total_visitors`)."""
    if total_visitors is None:
        metrics = tuple(m for m in metrics if m is not Metric.PERCENTAGE)
    chosen = counts.metrics(metrics, total_visitors)
    return {metric.json_name: value for metric, value in chosen.items()}


def _bucket_label(start: datetime, interval: Interval) -> str:
    """A day, week or month bucket is its first local date; an hour bucket its start, `Z`
    in UTC and with the local offset elsewhere (the hour repeated when clocks go back is two
    buckets with different offsets)."""
    if interval is not Interval.HOUR:
        return start.date().isoformat()
    if start.utcoffset() == timedelta(0) and start.tzinfo is UTC:
        return start.strftime("%Y-%m-%dT%H:%M:00Z")
    return start.isoformat(timespec="seconds")


def query_json(query: StatsQuery) -> dict[str, object]:
    """The query as the answer echoes it (`goal` when given, `timezone` when not UTC: the
    answers of earlier versions keep their exact shape)."""
    echoed: dict[str, object] = {
        "siteIds": list(query.site_ids),
        "startDate": query.start_date.isoformat(),
        "endDate": query.end_date.isoformat(),
        "metrics": [metric.value for metric in query.metrics],
        "groupBy": None if query.group_by is None else query.group_by.value,
        "interval": None if query.interval is None else query.interval.value,
        "filters": [
            {"dimension": f.dimension.value, "operator": f.operator.value, "value": f.value}
            for f in query.filters
        ],
        "limit": query.limit,
    }
    if query.goal is not None:
        echoed["goal"] = query.goal
    if query.timezone != DEFAULT_TIMEZONE:
        echoed["timezone"] = query.timezone
    return echoed


def _timeseries_json(report: StatsReport) -> list[dict[str, object]] | None:
    query = report.query
    if report.timeseries is None or query.interval is None:
        return None
    interval = query.interval
    return [
        {"bucket": _bucket_label(start, interval), **_metrics_json(counts, query.metrics)}
        for start, counts in report.timeseries
    ]


def _comparison_json(comparison: StatsReport) -> dict[str, object]:
    body: dict[str, object] = {
        "startDate": comparison.query.start_date.isoformat(),
        "endDate": comparison.query.end_date.isoformat(),
        "totals": _metrics_json(comparison.totals, comparison.query.metrics),
    }
    timeseries = _timeseries_json(comparison)
    if timeseries is not None:
        body["timeseries"] = timeseries
    return body


def report_json(report: StatsReport) -> dict[str, object]:
    """The answer's JSON body."""
    query = report.query
    body: dict[str, object] = {
        "source": report.source,
        "query": query_json(query),
        "totals": _metrics_json(report.totals, query.metrics),
    }
    timeseries = _timeseries_json(report)
    if timeseries is not None:
        body["timeseries"] = timeseries
    if report.breakdown is not None:
        body["breakdown"] = [
            {"value": value, **_metrics_json(counts, query.metrics, report.totals.visitors)}
            for value, counts in report.breakdown
        ]
    if report.comparison is not None:
        body["comparison"] = _comparison_json(report.comparison)
    return body


def parse_realtime_site(params: Mapping[str, str]) -> str:
    """The site of `GET /api/realtime`'s parameters; `InvalidRequestError` naming each bad
    one (only `siteId`, one ULID, is known)."""
    problems = {str(name): "unknown parameter" for name in params if name != "siteId"}
    site_id = params.get("siteId")
    if site_id is None:
        problems["siteId"] = "required parameter"
    elif not is_ulid(site_id):
        problems["siteId"] = "must be one site id (a ULID)"
    if problems:
        raise InvalidRequestError("invalid realtime request", problems)
    assert site_id is not None  # noqa: S101  # the problems above cover None
    return site_id


def realtime_json(answer: Realtime) -> dict[str, object]:
    """GET /api/realtime's JSON body."""
    return {
        "siteId": answer.site_id,
        "visitors": answer.visitors,
        "pages": [{"value": page, "visitors": visitors} for page, visitors in answer.pages],
    }


def make_handler(services: Services) -> LambdaHandler:
    """The API Gateway handler of GET /api/query and GET /api/realtime, over `services`.

    Both stores are built here, so a missing setting (ATHENA_*, LOCAL_LAKE_DIR, the database)
    stops the cold start with its name.
    """
    sites, clock = services.sites, services.clock
    hot, cold = services.hot_stats, services.cold_stats
    coverage = services.hot_coverage
    read_model = services.query_read_model
    hot_window_days = services.settings.hot_window_days

    def query(request: ApiRequest) -> Response:
        owner = request.caller()
        today = clock().astimezone(UTC).date()
        stats_query = parse_stats_query(request.query, today=today)
        started = time.perf_counter()
        report = query_stats(
            stats_query,
            owner,
            sites=sites,
            hot=hot,
            cold=cold,
            clock=clock,
            hot_window_days=hot_window_days,
            coverage=coverage,
            read_model=read_model,
        )
        logs.log_json(
            logger,
            "stats query",
            source=report.source,
            sites=len(stats_query.site_ids),
            days=stats_query.days,
            groupBy=stats_query.group_by,
            interval=stats_query.interval,
            filters=len(stats_query.filters),
            ms=round((time.perf_counter() - started) * 1000, 1),
        )
        return json_response(200, report_json(report))

    def realtime_now(request: ApiRequest) -> Response:
        owner = request.caller()
        site_id = parse_realtime_site(request.query)
        # Built on first use (then cached): it shares the hot store's pool, which the stores
        # above already require at cold start.
        reader = services.realtime
        started = time.perf_counter()
        answer = realtime(site_id, owner, sites=sites, reader=reader, clock=clock)
        logs.log_json(
            logger,
            "realtime",
            visitors=answer.visitors,
            ms=round((time.perf_counter() - started) * 1000, 1),
        )
        return json_response(200, realtime_json(answer))

    return Router({"GET /api/query": query, "GET /api/realtime": realtime_now})
