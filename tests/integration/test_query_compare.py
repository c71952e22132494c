"""`compare=previous_period` through the query Lambda module on a real PostgreSQL and a local
lake: the comparison's totals equal a separate query of the previous range, whichever store
answers it."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

import psycopg
import pytest
from tests.integration.test_query_lambda import session
from tests.support.events import OWNER_A, api_event, body_of
from tests.support.hot_store import ingest_rows
from tests.support.modules import lambda_module

from adapters.lake import ParquetLakeWriter
from adapters.postgres.pool import Pool

SITE = "01JDQ7ZK3M000000000000QX01"
TODAY = datetime.now(UTC).date()


@pytest.fixture
def query_module(db: Pool, database_url: str, tmp_path: Path) -> Iterator[ModuleType]:
    lake = tmp_path / "lake"
    with psycopg.connect(database_url) as conn:
        conn.execute(
            "INSERT INTO sites (site_id, owner_sub, name, domains)"
            " VALUES (%s, %s, 'Q', ARRAY['q.example'])",
            (SITE, OWNER_A),
        )
        conn.commit()
        for offset, pages in ((1, 3), (2, 3), (9, 4), (12, 2)):
            ingest_rows(conn, *session("HOT", TODAY - timedelta(days=offset), pages))
    writer = ParquetLakeWriter(lake)
    for offset in (45, 46, 52):
        writer.write_rows(*session("CLD", TODAY - timedelta(days=offset), 2))
    with lambda_module(
        "entrypoints.lambdas.query", {"DATABASE_URL": database_url, "LOCAL_LAKE_DIR": str(lake)}
    ) as module:
        yield module


def _get(module: ModuleType, start: date, end: date, **extra: str) -> dict[str, Any]:
    query = {
        "siteId": SITE,
        "startDate": start.isoformat(),
        "endDate": end.isoformat(),
        "metrics": "visitors,pageviews,visits,bounce_rate",
        **extra,
    }
    response = module.handler(api_event("GET", "/api/query", sub=OWNER_A, query=query), None)
    assert response["statusCode"] == 200, response["body"]
    body: dict[str, Any] = body_of(response)
    return body


@pytest.mark.parametrize(("end_ago", "days"), [(0, 8), (40, 8)])
def test_comparison_totals_equal_a_separate_query(
    query_module: ModuleType, end_ago: int, days: int
) -> None:
    """From PostgreSQL (recent) and from the lake (older), the comparison's totals and
    timeseries equal those of a separate query of the previous range."""
    end = TODAY - timedelta(days=end_ago)
    start = end - timedelta(days=days - 1)
    body = _get(query_module, start, end, compare="previous_period", interval="day")
    previous_end = start - timedelta(days=1)
    previous_start = previous_end - timedelta(days=days - 1)
    separate = _get(query_module, previous_start, previous_end, interval="day")
    comparison = body["comparison"]
    assert (comparison["startDate"], comparison["endDate"]) == (
        previous_start.isoformat(),
        previous_end.isoformat(),
    )
    assert comparison["totals"] == separate["totals"]
    assert comparison["timeseries"] == separate["timeseries"]
    assert comparison["totals"]["pageviews"] > 0
