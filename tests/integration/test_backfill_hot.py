"""Issue 16, acceptance 3: cutover day on a real PostgreSQL and a local lake. With the hot
coverage set to today, the last 7 days are answered by the cold store with the lake's numbers;
`analytics backfill-hot --days 12` copies the lake's 10 days (old rows without uids included)
so that the same query is answered by PostgreSQL with the same numbers and
`analytics verify-migration` exits 0; a second backfill inserts nothing; one deleted hot row
makes `verify-migration` exit 1 naming the site and the day."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from tests.support.events import OWNER_A, api_event, body_of
from tests.support.legacy_lake import recent, write_old_lake
from typer.testing import CliRunner, Result

from adapters.config import Settings
from adapters.memory_stats import InMemoryStatsReader
from adapters.postgres.pool import Pool
from analytics_core.stats import Dimension, Interval, StatsQuery, complete_report
from entrypoints import bootstrap
from entrypoints.api import query as query_api
from entrypoints.cli import app
from entrypoints.http import LambdaHandler

TODAY = datetime.now(UTC).date()


class Cutover:
    """A database with the sites registered, an old lake of the last 10 days, its reference,
    the query handler and the CLI on both."""

    def __init__(self, database_url: str, lake: Path) -> None:
        self.sites, events, initial = recent(TODAY, days=10)
        self.reference: InMemoryStatsReader = write_old_lake(lake, events, initial)
        self.env = {"DATABASE_URL": database_url, "LOCAL_LAKE_DIR": str(lake)}
        with psycopg.connect(database_url) as conn:
            for site in self.sites:
                conn.execute(
                    "INSERT INTO sites (site_id, owner_sub, name, domains) "
                    "VALUES (%s, %s, 'old site', ARRAY['old.example'])",
                    (site, OWNER_A),
                )
        self.services = bootstrap.build(
            Settings(database_url=database_url, local_lake_dir=str(lake)), application="test"
        )
        self.handler: LambdaHandler = query_api.make_handler(self.services)

    def cli(self, *args: str) -> Result:
        return CliRunner().invoke(app, list(args), env=self.env)

    def cli_json(self, *args: str, code: int = 0) -> Any:
        result = self.cli(*args, "--json")
        assert result.exit_code == code, result.output
        return json.loads(result.stdout)

    def ask(self, **extra: str) -> dict[str, Any]:
        query = {
            "siteId": ",".join(self.sites),
            "startDate": (TODAY - timedelta(days=6)).isoformat(),
            "endDate": TODAY.isoformat(),
            **extra,
        }
        response = self.handler(api_event("GET", "/api/query", query=query, sub=OWNER_A), None)
        assert response["statusCode"] == 200, response
        body: dict[str, Any] = body_of(response)
        return body

    def expected(self, **extra: Any) -> dict[str, Any]:
        query = StatsQuery(self.sites, TODAY - timedelta(days=6), TODAY, **extra)
        report = complete_report("reference", query, self.reference.read(query))
        return {k: v for k, v in query_api.report_json(report).items() if k != "source"}


@pytest.fixture
def cutover(db: Pool, database_url: str, tmp_path: Path) -> Iterator[Cutover]:
    world = Cutover(database_url, tmp_path / "lake")
    yield world
    world.services.close()


QUERIES: list[tuple[dict[str, str], dict[str, Any]]] = [
    ({}, {}),
    (
        {"groupBy": "country", "interval": "day"},
        {"group_by": Dimension.COUNTRY, "interval": Interval.DAY},
    ),
    ({"groupBy": "pathname"}, {"group_by": Dimension.PATHNAME}),
]


def without_source(body: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in body.items() if k != "source"}


def test_cutover_backfill_and_verification(cutover: Cutover, database_url: str) -> None:
    """Cold answers before the backfill, hot ones after, the same numbers as the lake's; a
    second run inserts nothing; a deleted hot row is named by site and day."""
    assert cutover.cli_json("hot-coverage") == {"since": None}
    assert cutover.cli_json("hot-coverage", "--since", TODAY.isoformat()) == {
        "since": TODAY.isoformat()
    }
    for params, extra in QUERIES:
        body = cutover.ask(**params)
        assert body["source"] == "local"
        assert without_source(body) == cutover.expected(**extra)
    assert body["totals"]["events"] > 100  # the lake's numbers, not an empty hot store

    lake_rows = sum(
        n.events for n in cutover.reference.daily_counts(date.min, TODAY, None).values()
    )
    first = cutover.cli_json("backfill-hot", "--days", "12")
    assert first == {
        "days": [(TODAY - timedelta(days=11)).isoformat(), TODAY.isoformat()],
        "read": lake_rows,
        "inserted": lake_rows,
        "present": 0,
        "sites": len(cutover.sites),
        "hotSince": (TODAY - timedelta(days=11)).isoformat(),
    }
    assert cutover.cli_json("hot-coverage") == {"since": (TODAY - timedelta(days=11)).isoformat()}
    for params, extra in QUERIES:
        body = cutover.ask(**params)
        assert body["source"] == "postgres"
        assert without_source(body) == cutover.expected(**extra)

    verified = cutover.cli_json("verify-migration", "--days", "12")
    assert verified == {"days": 12, "sites": len(cutover.sites), "mismatches": []}

    second = cutover.cli_json("backfill-hot", "--days", "12")
    assert (second["read"], second["inserted"], second["present"]) == (lake_rows, 0, lake_rows)

    site, day = cutover.sites[0], TODAY - timedelta(days=3)
    with psycopg.connect(database_url) as conn:
        deleted = conn.execute(
            "DELETE FROM events WHERE (event_id, dt) = (SELECT event_id, dt FROM events "
            "WHERE site_id = %s AND dt = %s LIMIT 1) RETURNING dt",
            (site, day),
        ).fetchall()
    assert deleted == [(day,)]
    report = cutover.cli_json("verify-migration", "--days", "12", code=1)
    assert [(m["siteId"], m["day"]) for m in report["mismatches"]] == [(site, day.isoformat())]
    (mismatch,) = report["mismatches"]
    assert mismatch["hot"]["events"] == mismatch["cold"]["events"] - 1
    table = cutover.cli("verify-migration", "--days", "12")
    assert table.exit_code == 1
    assert site in table.stdout
    assert day.isoformat() in table.stdout


def test_dry_run_and_coverage_options(cutover: Cutover) -> None:
    """A dry run counts what it would insert and changes nothing; `--clear` makes every day
    complete again; a bad date or both options are refused with exit 2."""
    cutover.cli_json("hot-coverage", "--since", TODAY.isoformat())
    dry = cutover.cli_json("backfill-hot", "--days", "3", "--dry-run")
    assert dry["inserted"] == dry["read"] > 0
    assert dry["present"] == 0
    again = cutover.cli_json("backfill-hot", "--days", "3", "--dry-run")
    assert again["inserted"] == dry["inserted"]  # nothing was written
    assert cutover.cli_json("hot-coverage") == {"since": TODAY.isoformat()}
    assert cutover.ask()["source"] == "local"
    assert cutover.cli_json("hot-coverage", "--clear") == {"since": None}
    assert cutover.ask()["source"] == "postgres"
    assert cutover.cli("hot-coverage", "--since", "2026-13-01").exit_code == 2
    assert cutover.cli("hot-coverage", "--since", TODAY.isoformat(), "--clear").exit_code == 2


def test_backfill_of_one_site_and_never_forward(cutover: Cutover) -> None:
    """`--site` copies that site only; the coverage never moves forward (an earlier day set
    by hand stays) and a fresh install's null stays null."""
    site = cutover.sites[1]
    only = cutover.cli_json("backfill-hot", "--days", "2", "--site", site)
    assert only["sites"] == 1
    assert only["hotSince"] is None  # complete for every day already: nothing to move
    early = (TODAY - timedelta(days=20)).isoformat()
    cutover.cli_json("hot-coverage", "--since", early)
    later = cutover.cli_json("backfill-hot", "--days", "2", "--site", site)
    assert (later["inserted"], later["hotSince"]) == (0, early)
    report = cutover.cli_json("verify-migration", "--days", "2", "--site", site)
    assert report == {"days": 2, "sites": 1, "mismatches": []}
