"""`analytics query`: the stats API (GET /api/query) on the command line, as tables or JSON."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any
from urllib.parse import quote

import typer
from rich.table import Table

from analytics_core.errors import InvalidRequestError
from entrypoints.api import query as query_api
from entrypoints.commands.common import (
    DEFAULT_OWNER,
    DataDirOption,
    JsonOption,
    OwnerOption,
    command_services,
    fail,
    out,
)
from entrypoints.local.http_adapter import build_event
from entrypoints.local.stack import DEFAULT_DATA_DIR


def query_event(owner: str, parameters: Mapping[str, str]) -> dict[str, Any]:
    """The API Gateway event of `GET /api/query` with `parameters`, as `owner`."""
    target = "/api/query?" + "&".join(f"{key}={_quote(value)}" for key, value in parameters.items())
    return build_event(
        method="GET",
        target=target,
        headers=[("Authorization", f"Bearer dev:{owner}"), ("Host", "localhost")],
        body=b"",
        source_ip="127.0.0.1",
    )


def _quote(value: str) -> str:
    return quote(value, safe=",:")


def answer_tables(answer: Mapping[str, Any]) -> list[Table]:
    """The stats API's answer as tables: totals, then the timeseries or the breakdown."""
    query = answer.get("query") or {}
    totals = Table(title="totals")
    totals.add_column("metric")
    totals.add_column("value", justify="right")
    for metric, value in (answer.get("totals") or {}).items():
        totals.add_row(metric, _cell(value))
    tables = [totals]
    for key, first in (("timeseries", "bucket"), ("breakdown", "value")):
        rows = answer.get(key)
        if not isinstance(rows, list):
            continue
        label = first if key == "timeseries" else str(query.get("groupBy") or "value")
        table = Table(title=key)
        table.add_column(label)
        metrics = [k for k in (rows[0] if rows else {}) if k != first]
        for metric in metrics:
            table.add_column(metric, justify="right")
        for row in rows:
            table.add_row(_cell(row.get(first)), *(_cell(row.get(m)) for m in metrics))
        tables.append(table)
    return tables


def _cell(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.2f}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    if isinstance(value, Mapping):
        return ", ".join(f"{k}={_cell(v)}" for k, v in value.items())
    return str(value)


def query(  # noqa: PLR0917  # typer reads options from parameters
    site_id: Annotated[str, typer.Argument(help="The site's id.")],
    start: Annotated[
        str | None, typer.Option("--start", help="First day (YYYY-MM-DD); default 7 days ago.")
    ] = None,
    end: Annotated[str | None, typer.Option("--end", help="Last day; default today.")] = None,
    metrics: Annotated[
        str, typer.Option(help="Comma-separated: visitors, visits, pageviews, events, ...")
    ] = "visitors,visits,pageviews,bounce_rate,visit_duration",
    group_by: Annotated[
        str | None,
        typer.Option(
            "--group-by", help="pathname, entry_page, referer_domain, property:<key>, ..."
        ),
    ] = None,
    interval: Annotated[
        str | None, typer.Option(help="hour, day, week or month: a time series.")
    ] = None,
    filters: Annotated[
        str | None,
        typer.Option(
            help="Filters joined by ';', each dim==a|b, dim!=a, dim~=text or dim!~text "
            "(e.g. country==DE|AT;pathname~=blog;property:plan==pro)"
        ),
    ] = None,
    goal: Annotated[
        str | None,
        typer.Option(help="The event name conversions and conversion_rate count (e.g. signup)."),
    ] = None,
    limit: Annotated[int | None, typer.Option(min=1, help="At most this many rows.")] = None,
    owner: OwnerOption = DEFAULT_OWNER,
    data_dir: DataDirOption = DEFAULT_DATA_DIR,
    as_json: JsonOption = False,  # noqa: FBT002  # a typer flag
) -> None:
    """The stats API (GET /api/query) on the command line, as a table."""
    today = datetime.now(UTC).date()
    parameters = {
        "siteId": site_id,
        "startDate": start or (today - timedelta(days=7)).isoformat(),
        "endDate": end or today.isoformat(),
        "metrics": metrics,
    }
    optional = {"groupBy": group_by, "interval": interval, "filters": filters, "goal": goal}
    parameters.update({k: v for k, v in optional.items() if v})
    if limit is not None:
        parameters["limit"] = str(limit)
    with command_services(data_dir, "analytics-query") as services:
        response = query_api.make_handler(services)(query_event(owner, parameters), None)
    answer = json.loads(response.get("body") or "{}")
    if response.get("statusCode") != 200:
        error = answer.get("error", {}) if isinstance(answer, dict) else {}
        raise fail(InvalidRequestError(error.get("message", "query failed"), error.get("fields")))
    if as_json:
        print(json.dumps(answer, indent=2))  # noqa: T201
        return
    query_echo = answer.get("query") or {}
    out.print(
        f"{', '.join(query_echo.get('siteIds') or [])}  "
        f"{query_echo.get('startDate')} .. {query_echo.get('endDate')}  "
        f"(answered by {answer.get('source', '?')})",
        highlight=False,
        soft_wrap=True,
    )
    for table in answer_tables(answer):
        out.print(table)
