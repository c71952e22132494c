"""Acceptance 3 of issue 18: `DELETE /api/sites/{id}` erases a site everywhere.

Two sites of one owner receive events through processIngest (imported as Lambda does) into
PostgreSQL and the local Parquet lake, and the read model is folded; then the sites function
deletes one. Every table with a `site_id` column (found in the catalogue, so a new table is
covered) and every lake file is scanned: nothing of the deleted site is left but its deletion
job, while the other site's rows are all still there. Its later events are `unknown_site`. A
cold deletion that fails leaves the job pending, and the next daily maintenance finishes it.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

import psycopg
import pyarrow.parquet as pq
import pytest
from psycopg import sql
from tests.support.cli import run_analytics
from tests.support.clock import FakeClock
from tests.support.db import fetch_all
from tests.support.events import OWNER_A, OWNER_B, api_event, body_of
from tests.support.ingest import ACCESS_KEY, envelope, firehose_event, payload, record
from tests.support.modules import lambda_module

from adapters.config import Env, Settings
from adapters.memory import InMemoryEventPartitions
from adapters.postgres.partitions import PostgresEventPartitions
from adapters.postgres.pool import Pool
from adapters.postgres.read_model import fold_pending
from analytics_core.management import LATE_DELIVERY
from entrypoints import bootstrap
from entrypoints.operations import run_maintenance

DAY = date(2026, 11, 25)
JOB_TABLE = "site_deletions"  # the deletion's own record: the id and its timestamps only


@pytest.fixture
def lake(tmp_path: Path) -> Path:
    return tmp_path / "lake"


@pytest.fixture
def environment(database_url: str, lake: Path) -> dict[str, str]:
    return {
        Env.DATABASE_URL.value: database_url,
        Env.FIREHOSE_ACCESS_KEY.value: ACCESS_KEY,
        Env.LOCAL_LAKE_DIR.value: str(lake),
    }


@pytest.fixture
def ingest(environment: dict[str, str]) -> Iterator[ModuleType]:
    with lambda_module("entrypoints.lambdas.process_ingest", environment) as loaded:
        yield loaded


@pytest.fixture
def modules(ingest: ModuleType, sites: ModuleType) -> tuple[ModuleType, ModuleType]:
    return ingest, sites


@pytest.fixture
def sites(environment: dict[str, str]) -> Iterator[ModuleType]:
    with lambda_module("entrypoints.lambdas.sites", environment) as loaded:
        yield loaded


def create_site(sites: ModuleType, name: str) -> str:
    """A site of OWNER_A on example.com; its id."""
    body = {"name": name, "domains": ["example.com"], "complianceLevel": 2}
    response = sites.handler(api_event("POST", "/api/sites", body=body), None)
    assert response["statusCode"] == 201, response["body"]
    return str(body_of(response)["siteId"])


def delete(sites: ModuleType, site_id: str, sub: str = OWNER_A) -> dict[str, Any]:
    path = f"/api/sites/{site_id}"
    event = api_event("DELETE", path, sub=sub, path_parameters={"id": site_id})
    response: dict[str, Any] = sites.handler(event, None)
    return response


def send(ingest: ModuleType, site_id: str, first: int, count: int = 6) -> None:
    """`count` events of the site (every third opens a session), uids from `first`."""
    records = [
        record(
            envelope(
                first + n,
                payload(
                    "initial" if n % 3 == 0 else "event",
                    session_id=f"visitor-{n // 3}",
                    pathname=f"/page/{n}",
                    referrer="https://news.example.net/",
                ),
                site_id=site_id,
            )
        )
        for n in range(count)
    ]
    response = ingest.handler(firehose_event(records), None)
    assert response["statusCode"] == 200, response["body"]


def load(ingest: ModuleType, database_url: str, site_ids: list[str]) -> None:
    """Events of each site in a daily partition and the default one, folded."""
    for n, site_id in enumerate(site_ids):
        send(ingest, site_id, 1000 * n)
    with psycopg.connect(database_url) as conn:
        assert fold_pending(conn) > 0


def rows_per_site(database_url: str) -> Counter[tuple[str, str]]:
    """(table, site_id) -> rows, over every base table with a `site_id` column (a partitioned
    table once, with its partitions), the deletion job excepted."""
    counts: Counter[tuple[str, str]] = Counter()
    with psycopg.connect(database_url, autocommit=True) as conn:
        tables = [
            name
            for (name,) in conn.execute(
                "SELECT c.relname FROM pg_class c "
                "JOIN pg_namespace n ON n.oid = c.relnamespace "
                "JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'site_id' "
                "WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') "
                "AND NOT c.relispartition AND NOT a.attisdropped"
            )
        ]
        assert {"events", "initial_events", "stats_daily", "ingest_outcomes"} <= set(tables)
        for table in tables:
            if table == JOB_TABLE:
                continue
            query = sql.SQL("SELECT site_id, count(*) FROM {} GROUP BY site_id").format(
                sql.Identifier(table)
            )
            for site_id, count in conn.execute(query):
                counts[table, site_id] = count
    return counts


def lake_rows(root: Path) -> Counter[tuple[str, str]]:
    """(table, site_id) -> rows over every lake file."""
    counts: Counter[tuple[str, str]] = Counter()
    for path in sorted(root.rglob("*.parquet")):
        table = path.relative_to(root).parts[0]
        for site_id in pq.read_table(path).column("site_id").to_pylist():
            counts[table, site_id] += 1
    return counts


def maintenance_services(db: Pool, database_url: str, lake: Path) -> bootstrap.Services:
    """The daily maintenance's services, its clock past the late-delivery window."""
    clock = FakeClock(datetime.now(UTC) + LATE_DELIVERY + timedelta(minutes=1))
    return bootstrap.build(
        Settings(database_url=database_url, local_lake_dir=str(lake)),
        pool=db,
        clock=clock,
        partitions=InMemoryEventPartitions(),
    )


def of_site(counts: Counter[tuple[str, str]], site_id: str) -> dict[tuple[str, str], int]:
    return {key: n for key, n in counts.items() if key[1] == site_id}


def test_delete_leaves_no_row_of_the_site_in_any_table_or_the_lake(
    db: Pool,
    database_url: str,
    lake: Path,
    modules: tuple[ModuleType, ModuleType],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """After DELETE (204), no table and no lake file holds a row of the site, the site is
    404, its new events are `unknown_site` and stored nowhere, and every row of the other
    site is still there; someone else's DELETE is a 404 exactly like a missing site's."""
    ingest_lambda, sites_lambda = modules
    PostgresEventPartitions(db).create_day(DAY)
    gone, kept = create_site(sites_lambda, "Gone"), create_site(sites_lambda, "Kept")
    load(ingest_lambda, database_url, [gone, kept])
    before, lake_before = rows_per_site(database_url), lake_rows(lake)
    assert len(of_site(before, gone)) >= 6  # events, initial events, read model, outcomes
    assert of_site(lake_before, gone)
    assert of_site(lake_before, kept)

    foreign = delete(sites_lambda, gone, sub=OWNER_B)
    missing = delete(sites_lambda, "01JDQ7ZK3M0000000000NOPE00")
    assert foreign["statusCode"] == missing["statusCode"] == 404
    assert foreign["body"] == missing["body"].replace("01JDQ7ZK3M0000000000NOPE00", gone)
    assert rows_per_site(database_url) == before

    response = delete(sites_lambda, gone)
    assert (response["statusCode"], response["body"]) == (204, "")

    after, lake_after = rows_per_site(database_url), lake_rows(lake)
    assert of_site(after, gone) == {}
    assert of_site(lake_after, gone) == {}
    assert after == Counter({k: n for k, n in before.items() if k[1] != gone})
    assert lake_after == Counter({k: n for k, n in lake_before.items() if k[1] != gone})
    assert not list(lake.rglob("*.tmp"))
    path = f"/api/sites/{gone}"
    got = sites_lambda.handler(api_event("GET", path, path_parameters={"id": gone}), None)
    assert got["statusCode"] == 404
    assert fetch_all(
        database_url, "SELECT attempts, last_error, cold_done_at IS NOT NULL FROM site_deletions"
    ) == [(0, None, False)]  # erased, but pending until late deliveries can no longer come
    assert delete(sites_lambda, gone)["statusCode"] == 404

    caplog.clear()
    with caplog.at_level(logging.INFO, logger="entrypoints.pipeline"):
        send(ingest_lambda, gone, 5000)
    (line,) = [
        json.loads(r.getMessage()) for r in caplog.records if r.name == "entrypoints.pipeline"
    ]
    assert line["outcomes"]["unknown_site"] == 6
    assert line["outcomes"]["accepted"] == 0
    assert rows_per_site(database_url) == after
    assert lake_rows(lake) == lake_after
    summary = run_maintenance(maintenance_services(db, database_url, lake))
    assert summary["siteDeletions"] == {"done": [gone], "waiting": [], "failed": []}
    assert lake_rows(lake) == lake_after
    assert fetch_all(
        database_url, "SELECT attempts, last_error, cold_done_at IS NOT NULL FROM site_deletions"
    ) == [(1, None, True)]


def test_a_failed_cold_deletion_stays_pending_until_the_next_maintenance(
    db: Pool, database_url: str, lake: Path, ingest: ModuleType, sites: ModuleType
) -> None:
    """When the lake cannot be rewritten the DELETE still answers 204 with the hot rows gone,
    the job is pending with its error, and the next maintenance run erases the cold rows."""
    gone, kept = create_site(sites, "Gone"), create_site(sites, "Kept")
    load(ingest, database_url, [gone, kept])
    lake_before = lake_rows(lake)
    broken = lake / "events" / f"dt={DAY.isoformat()}" / "00-broken.parquet"
    broken.write_bytes(b"not parquet at all")

    response = delete(sites, gone)
    assert response["statusCode"] == 204
    assert of_site(rows_per_site(database_url), gone) == {}
    ((attempts, error, done),) = fetch_all(
        database_url, "SELECT attempts, last_error, cold_done_at FROM site_deletions"
    )
    assert (attempts, done) == (1, None)
    assert "local lake" in error

    broken.unlink()
    assert of_site(lake_rows(lake), gone) == of_site(lake_before, gone)  # still there
    services = maintenance_services(db, database_url, lake)
    summary = run_maintenance(services)
    assert summary["siteDeletions"] == {"done": [gone], "waiting": [], "failed": []}
    assert of_site(lake_rows(lake), gone) == {}
    assert lake_rows(lake) == Counter({k: n for k, n in lake_before.items() if k[1] != gone})
    assert fetch_all(
        database_url, "SELECT attempts, last_error, cold_done_at IS NOT NULL FROM site_deletions"
    ) == [(2, None, True)]
    assert run_maintenance(services)["siteDeletions"] == {"done": [], "waiting": [], "failed": []}


def test_cli_delete_refuses_without_yes_off_a_terminal_and_deletes_with_it(
    db: Pool, database_url: str, tmp_path: Path
) -> None:
    """`analytics sites delete` without --yes, stdin not a terminal, changes nothing and
    exits non-zero; with --yes the site is gone, and a second run says it is not found."""
    created = run_analytics(database_url, tmp_path, "sites", "create", "Blog", "--domain", "ex.com")
    assert created.returncode == 0, created.stderr
    site_id = created.stdout.strip()
    refused = run_analytics(database_url, tmp_path, "sites", "delete", site_id, stdin="y\n")
    assert refused.returncode != 0
    assert "--yes" in refused.stderr
    assert fetch_all(database_url, "SELECT count(*) FROM sites") == [(1,)]
    done = run_analytics(database_url, tmp_path, "sites", "delete", site_id, "--yes")
    assert done.returncode == 0, done.stderr
    assert fetch_all(database_url, "SELECT count(*) FROM sites") == [(0,)]
    again = run_analytics(database_url, tmp_path, "sites", "delete", site_id, "--yes")
    assert again.returncode == 1
    assert "not found" in again.stderr.lower() or site_id in again.stderr
