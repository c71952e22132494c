"""The query Lambda module, imported as Lambda does (a cold start), on a real PostgreSQL and a
local Parquet lake: recent ranges come from PostgreSQL, older ones from the cold store, and
the answer's `source` says which; a missing cold-store setting stops the cold start by name."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from types import ModuleType

import psycopg
import pytest
from tests.support.events import OWNER_A, OWNER_B, api_event, body_of
from tests.support.hot_store import ingest_rows
from tests.support.modules import lambda_module

from adapters.lake import ParquetLakeWriter
from adapters.postgres.pool import Pool
from analytics_core.errors import ConfigurationError
from analytics_core.rows import EventRow, InitialEventRow

SITE = "01JDQ7ZK3M000000000000QX01"
TODAY = datetime.now(UTC).date()


def session(prefix: str, day: date, pages: int) -> tuple[list[EventRow], list[InitialEventRow]]:
    """One session on `day`: an initial pageview then `pages - 1` more."""
    start = datetime(day.year, day.month, day.day, 9, tzinfo=UTC)
    initial = [
        InitialEventRow(
            f"01JDQ7ZK3M{prefix}I{day:%y%m%d}0000",
            SITE,
            f"{prefix}-{day}",
            start,
            day,
            "pageview",
            "/",
            None,
            country="DE",
        )
    ]
    events = [
        EventRow(
            f"01JDQ7ZK3M{prefix}E{day:%y%m%d}{n:04d}",
            SITE,
            f"{prefix}-{day}",
            start + timedelta(minutes=n + 1),
            day,
            "pageview",
            f"/p{n}",
            None,
        )
        for n in range(pages - 1)
    ]
    return events, initial


@pytest.fixture
def lake(tmp_path: Path) -> Path:
    return tmp_path / "lake"


@pytest.fixture
def query_module(db: Pool, database_url: str, lake: Path) -> Iterator[ModuleType]:
    with psycopg.connect(database_url) as conn:
        conn.execute(
            "INSERT INTO sites (site_id, owner_sub, name, domains) VALUES (%s, %s, 'Q', ARRAY['q.example'])",
            (SITE, OWNER_A),
        )
        conn.commit()
        for offset in (1, 2):  # hot: two sessions of 3 pageviews
            ingest_rows(conn, *session("HOT", TODAY - timedelta(days=offset), 3))
    writer = ParquetLakeWriter(lake)
    for offset in (45, 46, 47):  # cold: three sessions of 2 pageviews, delivered twice
        writer.write_rows(*session("CLD", TODAY - timedelta(days=offset), 2))
        writer.write_rows(*session("CLD", TODAY - timedelta(days=offset), 2))
    with lambda_module(
        "entrypoints.lambdas.query", {"DATABASE_URL": database_url, "LOCAL_LAKE_DIR": str(lake)}
    ) as module:
        yield module


def get(module: ModuleType, start: date, end: date, sub: str = OWNER_A) -> dict[str, object]:
    event = api_event(
        "GET",
        "/api/query",
        sub=sub,
        query={
            "siteId": SITE,
            "startDate": start.isoformat(),
            "endDate": end.isoformat(),
            "metrics": "visitors,pageviews,visits",
            "interval": "day",
        },
    )
    return module.handler(event, None)


def test_recent_ranges_come_from_postgres(query_module: ModuleType) -> None:
    """A range starting within the hot window is answered by PostgreSQL."""
    response = get(query_module, TODAY - timedelta(days=7), TODAY)
    assert response["statusCode"] == 200, response["body"]
    body = body_of(response)
    assert body["source"] == "postgres"
    assert body["totals"] == {"visitors": 2, "pageviews": 6, "visits": 2}
    assert len(body["timeseries"]) == 8


def test_old_ranges_come_from_the_local_lake(query_module: ModuleType) -> None:
    """A range starting before the hot window is answered by the local cold store, and the
    duplicated deliveries count once."""
    body = body_of(get(query_module, TODAY - timedelta(days=50), TODAY - timedelta(days=40)))
    assert body["source"] == "local"
    assert body["totals"] == {"visitors": 3, "pageviews": 6, "visits": 3}


def test_another_owner_gets_404(query_module: ModuleType) -> None:
    """The site is not another owner's: 404 on the real handler too."""
    assert get(query_module, TODAY - timedelta(days=7), TODAY, sub=OWNER_B)["statusCode"] == 404


def test_missing_athena_settings_stop_the_cold_start(database_url: str) -> None:
    """Without LOCAL_LAKE_DIR the cold store is Athena; its missing settings are named when
    the module is imported."""
    environ = {"DATABASE_URL": database_url, "LOCAL_LAKE_DIR": ""}
    with (
        pytest.raises(ConfigurationError, match="ATHENA_WORKGROUP"),
        lambda_module("entrypoints.lambdas.query", environ),
    ):
        pass
