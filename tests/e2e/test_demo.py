"""`analytics demo` and `analytics query`: demo traffic goes through the real ingest path and
comes back out of the stats API on the command line."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from adapters.postgres.embedded import EmbeddedPostgres
from tests.e2e.stack import analytics, fetch_after_exit

pytestmark = pytest.mark.slow


@pytest.fixture
def data_dir(tmp_path: Path) -> Iterator[Path]:
    folder = tmp_path / "data"
    yield folder
    EmbeddedPostgres(folder / "postgres").stop()


def test_demo_traffic_is_ingested_and_queried(data_dir: Path) -> None:
    """Every demo request gets exactly one ingest outcome (bots dropped, the rest accepted);
    `analytics query --json` over the demo's days reports the stored pageviews, and the
    table form shows the breakdown."""
    demo = analytics("demo", "--days", "3", "--events", "400", "--data-dir", str(data_dir))
    assert demo.returncode == 0, demo.stderr
    assert "sent 400 requests" in demo.stdout
    listed = analytics("sites", "list", "--json", "--data-dir", str(data_dir))
    (site,) = json.loads(listed.stdout)
    assert site["name"] == "Demo site"
    outcomes = dict(
        fetch_after_exit(
            data_dir,
            "SELECT outcome, sum(count)::int FROM ingest_outcomes WHERE site_id = %s GROUP BY 1",
            (site["siteId"],),
        )
    )
    assert sum(outcomes.values()) == 400
    assert set(outcomes) <= {"accepted", "bot"}
    pageviews = fetch_after_exit(
        data_dir,
        "SELECT (SELECT count(*) FROM events WHERE site_id = %s AND event = 'pageview')"
        " + (SELECT count(*) FROM initial_events WHERE site_id = %s AND event = 'pageview')",
        (site["siteId"], site["siteId"]),
    )[0][0]
    start = (datetime.now(UTC).date() - timedelta(days=3)).isoformat()
    answer = analytics(
        "query", site["siteId"], "--start", start, "--json", "--data-dir", str(data_dir)
    )
    assert answer.returncode == 0, answer.stderr
    body = json.loads(answer.stdout)
    assert body["source"] == "postgres"
    assert body["totals"]["pageviews"] == pageviews > 0
    table = analytics(
        "query",
        site["siteId"],
        "--start",
        start,
        "--group-by",
        "country",
        "--data-dir",
        str(data_dir),
    )
    assert table.returncode == 0, table.stderr
    assert "breakdown" in table.stdout
    assert "DE" in table.stdout  # the demo's CloudFront geo headers reached the rows
