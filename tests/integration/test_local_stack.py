"""The local stack in-process on a given DATABASE_URL: migrations, the mounted handlers, the
tracker, and the flush on close."""

from __future__ import annotations

import http.client
import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from tests.support.db import fetch_all

from adapters.lake import LocalStatsReader, ParquetLakeWriter
from adapters.local.firehose import Buffering
from analytics_core.rows import EventRow
from analytics_core.stats import StatsQuery
from entrypoints.local.stack import LocalStack

UA = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/18.1 Safari/605.1.15"
)


def call(
    stack: LocalStack, method: str, path: str, body: bytes | None = None, **headers: str
) -> tuple[int, Any]:
    assert stack.server is not None
    conn = http.client.HTTPConnection("127.0.0.1", stack.server.port, timeout=30)
    try:
        conn.request(
            method, path, body=body, headers={k.replace("_", "-"): v for k, v in headers.items()}
        )
        response = conn.getresponse()
        data = response.read()
    finally:
        conn.close()
    try:
        return response.status, json.loads(data)
    except ValueError:
        return response.status, data


@pytest.fixture
def stack(empty_database_url: str, tmp_path: Path) -> Iterator[LocalStack]:
    local = LocalStack(
        port=0,
        data_dir=tmp_path / "data",
        environ={"DATABASE_URL": empty_database_url},
        buffering=Buffering(interval_s=3600),
    )
    local.start()
    yield local
    local.close()


def test_the_stack_uses_database_url_and_serves_every_route(
    stack: LocalStack, empty_database_url: str, tmp_path: Path
) -> None:
    """With DATABASE_URL set no embedded server is made; the database is migrated; the API,
    the tracker and an index answer; a foreign token is not a login."""
    assert not (tmp_path / "data" / "postgres").exists()
    assert fetch_all(empty_database_url, "SELECT count(*) FROM schema_migrations")[0][0] >= 1
    status, site = call(
        stack,
        "POST",
        "/api/sites",
        json.dumps({"name": "Shop", "domains": ["shop.example"]}).encode(),
        Authorization="Bearer dev:owner-1",
        Content_Type="application/json",
    )
    assert status == 201, site
    status, account = call(stack, "GET", "/api/accounts", Authorization="Bearer dev:owner-1")
    assert (status, account["cognitoSub"]) == (200, "owner-1")
    status, _ = call(stack, "GET", "/api/sites", Authorization="Bearer not-a-dev-token")
    assert status == 401
    status, script = call(stack, "GET", "/script.js")
    assert status == 200
    assert b"analytics" in script
    status, index = call(stack, "GET", "/")
    assert status == 200
    assert index["endpoints"]["tracker"].endswith("/script.js")
    status, _ = call(stack, "GET", "/nothing-here")
    assert status == 404
    status, _ = call(
        stack, "OPTIONS", f"/ingest?site_id={site['siteId']}", Origin="https://shop.example"
    )
    assert status == 204


def test_close_delivers_the_buffer_into_the_database(
    stack: LocalStack, empty_database_url: str
) -> None:
    """Events still buffered when the stack closes are delivered before it returns."""
    status, site = call(
        stack,
        "POST",
        "/api/sites",
        json.dumps({"name": "Shop", "domains": ["shop.example"]}).encode(),
        Authorization="Bearer dev:owner-2",
        Content_Type="application/json",
    )
    assert status == 201
    body = {
        "type": "initial",
        "session_id": "session-close-1",
        "event": "pageview",
        "pathname": "/",
        "timestamp": int(time.time() * 1000),
    }
    status, _ = call(
        stack,
        "POST",
        f"/ingest?site_id={site['siteId']}",
        json.dumps(body).encode(),
        Content_Type="text/plain",
        Origin="https://shop.example",
        User_Agent=UA,
    )
    assert status == 202
    assert stack.stream is not None
    assert stack.stream.pending() == 1
    stack.close()
    rows = fetch_all(
        empty_database_url,
        "SELECT pathname, browser FROM initial_events WHERE site_id = %s",
        (site["siteId"],),
    )
    assert rows == [("/", "Safari")]


def test_maintenance_merges_the_lake_files_of_each_day(stack: LocalStack) -> None:
    """One file per delivery piles up; the stack's hourly maintenance leaves one per day and
    table, with every row (the reader's answers unchanged)."""
    assert stack.services is not None
    root = Path(stack.services.settings.local_lake_dir or "")
    assert root == stack.data.lake
    assert stack.first_compaction_done.wait(timeout=30)  # so that only maintain_once can merge
    writer = ParquetLakeWriter(root)
    site = "01JDQ7ZK3M000000000000LK01"
    moment = datetime(2026, 11, 24, 12, tzinfo=UTC)
    for n in range(4):
        writer.write_rows(
            [EventRow(f"01JDQ7ZK3M00000000000000E{n}", site, "s", moment, moment.date(), "pageview", "/", None)],
            [],
        )  # fmt: skip
    folder = root / "events" / "dt=2026-11-24"
    query = StatsQuery((site,), moment.date(), moment.date())
    before = LocalStatsReader(root).read(query)
    assert before.totals.pageviews == 4

    stack.maintain_once()

    assert len(list(folder.glob("*.parquet"))) == 1
    assert LocalStatsReader(root).read(query) == before
