"""Acceptance 1: `analytics serve` from a fresh folder, with no DATABASE_URL and no AWS.

The stack runs as a subprocess on a free port; the test talks to it over HTTP only (and reads
the stores afterwards), waiting by polling, never by sleeping blindly.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pytest

from adapters.lake import LocalStatsReader
from adapters.local.failures import LocalFailureObjects
from analytics_core.stats import Metric
from entrypoints.api.query_params import parse_stats_query
from tests.e2e.stack import Serve, fetch, fetch_after_exit, poll, session_payloads

pytestmark = pytest.mark.slow

SESSIONS = {
    "s1-aaaaaaaaaaaa": ["/", "/pricing", "/docs"],
    "s2-bbbbbbbbbbbb": ["/blog"],
    "s3-cccccccccccc": ["/", "/signup"],
}


@pytest.fixture
def data_dir(tmp_path: Path) -> Iterator[Path]:
    """A fresh data folder; whatever server a failed test left running is stopped after."""
    folder = tmp_path / "data"
    yield folder
    from adapters.postgres.embedded import EmbeddedPostgres

    EmbeddedPostgres(folder / "postgres").stop()


def stats(serve: Serve, site_id: str, **extra: str) -> dict[str, object]:
    today = datetime.now(UTC).date().isoformat()
    query = {
        "siteId": site_id,
        "startDate": today,
        "endDate": today,
        "metrics": "visitors,visits,pageviews,events",
        **extra,
    }
    status, answer = serve.request(
        "GET", "/api/query?" + "&".join(f"{k}={v}" for k, v in query.items())
    )
    assert status == 200, answer
    return dict(answer)


def metric_values(answer: dict[str, object]) -> dict[str, object]:
    """The totals of an answer, wherever the query API puts them."""
    for key in ("totals", "results", "metrics", "aggregate"):
        value = answer.get(key)
        if isinstance(value, dict):
            return value
    return answer


def lake_counts(lake: Path, site_id: str) -> dict[str, int | float | None]:
    today = datetime.now(UTC).date().isoformat()
    query = parse_stats_query(
        {
            "siteId": site_id,
            "startDate": today,
            "endDate": today,
            "metrics": "visitors,visits,pageviews,events",
        },
        today=datetime.now(UTC).date(),
    )
    counts = LocalStatsReader(lake).read(query).totals
    return {
        m.value: counts.metric(m)
        for m in (Metric.VISITORS, Metric.VISITS, Metric.PAGEVIEWS, Metric.EVENTS)
    }


def lake_uids(lake: Path) -> int:
    files = [str(p) for p in lake.rglob("*.parquet")]
    if not files:
        return 0
    with duckdb.connect() as con:
        row = con.execute(
            "SELECT count(DISTINCT event_uid) FROM read_parquet(?, union_by_name=true)", [files]
        ).fetchone()
    return int(row[0]) if row else 0


def test_serve_runs_the_product_and_loses_nothing_on_sigterm(data_dir: Path) -> None:
    """Serve starts on embedded defaults, prints its URLs and a curl; events sent over HTTP
    show up in /api/query (hot) and in the local lake (cold) once flushed; a restart reuses
    the data; SIGTERM with events still buffered stores every one of them."""
    serve = Serve(data_dir, "--buffer-seconds", "0.3").start()
    try:
        banner = "".join(serve.stdout)
        assert f"{serve.url}/script.js" in banner
        assert "curl -s -X POST" in banner
        assert "Authorization: Bearer dev:" in banner
        assert (data_dir / "postgres" / "data" / "PG_VERSION").is_file()

        site_id = serve.create_site(["example.com"])
        start_ms = int(time.time() * 1000) - 60_000
        sent = 0
        for session, paths in SESSIONS.items():
            for payload in session_payloads(session, paths, start_ms):
                assert serve.collect(site_id, payload) == 202
                sent += 1
        custom = {
            "type": "event",
            "session_id": "s3-cccccccccccc",
            "event": "signup",
            "pathname": "/signup",
            "properties": {"plan": "pro"},
        }
        assert serve.collect(site_id, custom) == 202
        sent += 1
        # A bot and a foreign page are accepted by collect but never stored.
        assert (
            serve.collect(
                site_id, session_payloads("bot", ["/"], start_ms)[0], user_agent="curl/8.5.0"
            )
            == 202
        )
        assert (
            serve.collect(
                site_id,
                session_payloads("x", ["/"], start_ms)[0],
                origin="https://evil-example.com",
            )
            == 202
        )

        expected = {"visitors": 3, "visits": 3, "pageviews": 6, "events": 7}

        def hot_numbers() -> dict[str, object] | None:
            values = metric_values(stats(serve, site_id))
            found = {k: values.get(k) for k in expected}
            return found if found == expected else None

        poll(hot_numbers, 30, "hot numbers from /api/query")
        lake = data_dir / "lake"
        poll(lambda: lake_uids(lake) == sent, 30, "rows in the local lake")
        assert lake_counts(lake, site_id) == expected
        outcomes = dict(
            fetch(
                serve.conninfo(),
                "SELECT outcome, sum(count)::int FROM ingest_outcomes WHERE site_id = %s GROUP BY 1",
                (site_id,),
            )
        )
        assert outcomes == {"accepted": sent, "bot": 1, "domain_mismatch": 1}
        assert any("batch delivered" in line for line in serve.stderr)
        assert serve.stop() == 0
        assert "stopped" in "".join(serve.stderr)
    finally:
        serve.kill()

    # Second run on the same folder: the data is still there; buffered events survive SIGTERM.
    serve = Serve(data_dir, "--buffer-seconds", "3600").start()
    try:
        status, site = serve.request("GET", f"/api/sites/{site_id}")
        assert status == 200, site
        late = session_payloads("s4-dddddddddddd", ["/a", "/b", "/c"], int(time.time() * 1000))
        for payload in late:
            assert serve.collect(site_id, payload) == 202
        assert serve.stop() == 0
    finally:
        serve.kill()
    stored = fetch_after_exit(
        data_dir,
        "SELECT (SELECT count(*) FROM events WHERE site_id = %s)"
        " + (SELECT count(*) FROM initial_events WHERE site_id = %s)",
        (site_id, site_id),
    )
    assert stored == [(sent + len(late),)]
    assert lake_uids(data_dir / "lake") == sent + len(late)
    assert LocalFailureObjects(data_dir / "firehose-failures").list_objects() == []
