"""Issue 16, acceptance 4: the README's runbook "Migrating from the DynamoDB version",
rehearsed on the local stack. The DynamoDB version's SitesTable and UserPreferencesTable (a
moto server) and its lake (100 days of rows without `event_uid`, in files without the column)
go in; the new stack is deployed (migrations), the sites imported, the hot coverage set to the
cutover day, the tracker switched (new events through the real collect -> stream ->
processIngest path), the hot store backfilled and verified, the import re-run for the delta
and DynamoDB retired. Every dashboard query of the last 30 and of the last 90 days, asked
through the stack's HTTP API, equals what the old data plus the new events give by the
metric definitions (the in-memory reference), and comes from the store the runbook says."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import boto3
import psycopg
import pytest
from moto.server import ThreadedMotoServer
from typer.testing import CliRunner, Result

from adapters.local.firehose import MIB, Buffering
from adapters.memory_stats import InMemoryStatsReader
from analytics_core.rows import EventRow, InitialEventRow
from analytics_core.stats import (
    Dimension,
    Filter,
    Interval,
    Operator,
    StatsQuery,
    complete_report,
)
from entrypoints.api.query import report_json
from entrypoints.cli import app
from entrypoints.local.stack import LocalStack
from tests.support import db as testdb
from tests.support.legacy_lake import recent, strip_uids, write_legacy_rows

pytestmark = pytest.mark.slow

REGION = "eu-west-1"
SITES_TABLE = "SitesTable"
PREFERENCES_TABLE = "UserPreferencesTable"
OWNER = "cognito-sub-of-the-owner"
DOMAIN = "shop.example"
BROWSER_UA = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)
TODAY = datetime.now(UTC).date()
SITES, OLD_EVENTS, OLD_INITIAL = recent(TODAY, days=100, seed=16, sites=2, sessions=700)


@pytest.fixture
def empty_database_url() -> Iterator[str]:
    """A brand-new empty database (the deployment's, before its first deploy)."""
    testdb.check_server()
    with testdb.temporary_database() as url:
        yield url


@pytest.fixture
def dynamodb() -> Iterator[str]:
    """The DynamoDB version's tables on a moto server, holding its two sites and their
    owner's preferences, in the legacy shapes."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    url = f"http://{host}:{port}"
    client = boto3.client(
        "dynamodb",
        endpoint_url=url,
        region_name=REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    for table, key in ((SITES_TABLE, "siteId"), (PREFERENCES_TABLE, "userId")):
        client.create_table(
            TableName=table,
            KeySchema=[{"AttributeName": key, "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": key, "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
    for n, (site, level) in enumerate(zip(SITES, ("maybe", "no"), strict=True)):
        client.put_item(
            TableName=SITES_TABLE,
            Item={
                "siteId": {"S": site},
                "ownerSub": {"S": OWNER},
                "name": {"S": f"Old site {n}"},
                "domains": {"SS": [DOMAIN, f"www.{DOMAIN}"]},
                "complianceLevel": {"S": level},
                "requestAllowance": {"N": "1000000"},
                "createdAt": {"S": "2024-05-01T10:00:00Z"},
                "updatedAt": {"S": "2024-05-01T10:00:00Z"},
            },
        )
    client.put_item(
        TableName=PREFERENCES_TABLE,
        Item={
            "userId": {"S": OWNER},
            "emailNotifications": {"S": "weekly"},
            "theme": {"S": "dark"},
            "updatedAt": {"N": "1714557600000"},
        },
    )
    yield url
    server.stop()


class Rehearsal:
    """The operator's side: the CLI with the deployment's settings, and HTTP to the stack."""

    def __init__(self, database_url: str, lake: Path, dynamodb: str) -> None:
        self.env = {
            "DATABASE_URL": database_url,
            "LOCAL_LAKE_DIR": str(lake),
            "AWS_ENDPOINT_URL": dynamodb,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": REGION,
        }
        self.database_url = database_url
        self.stack: LocalStack | None = None

    def cli(self, *args: str) -> Result:
        return CliRunner().invoke(app, list(args), env=self.env)

    def cli_json(self, *args: str, code: int = 0) -> Any:
        result = self.cli(*args, "--json")
        assert result.exit_code == code, (result.stdout, result.stderr)
        return json.loads(result.stdout)

    def deploy(self, data_dir: Path) -> LocalStack:
        """Start the stack (it applies the migrations, like the deploy's migrate function);
        the stream delivers only when flushed, so the test decides when."""
        self.stack = LocalStack(
            port=0,
            data_dir=data_dir,
            environ={k: v for k, v in self.env.items() if not k.startswith("AWS_")},
            buffering=Buffering(size_bytes=3 * MIB, interval_s=3600.0),
        )
        self.stack.start()
        assert self.stack.first_compaction_done.wait(60)
        return self.stack

    def http(self, method: str, path: str, body: object = None, **headers: str) -> Any:
        assert self.stack is not None
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(  # noqa: S310  # the local stack
            self.stack.url + path, data=data, method=method, headers=headers
        )
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310  # idem
            text = response.read()
            return json.loads(text) if text else None

    def track(self, site: str, payload: dict[str, Any]) -> None:
        """What the tracker sends from the customer's page."""
        self.http(
            "POST",
            f"/ingest?site_id={site}",
            payload,
            **{
                "Content-Type": "text/plain",
                "Origin": f"https://www.{DOMAIN}",
                "User-Agent": BROWSER_UA,
            },
        )

    def dashboard(self, site: str, days: int, **params: str) -> dict[str, Any]:
        query = {
            "siteId": site,
            "startDate": (TODAY - timedelta(days=days - 1)).isoformat(),
            "endDate": TODAY.isoformat(),
            **params,
        }
        answer: dict[str, Any] = self.http(
            "GET", "/api/query?" + urlencode(query), Authorization=f"Bearer dev:{OWNER}"
        )
        return answer


DASHBOARD: list[tuple[dict[str, str], dict[str, Any]]] = [
    ({}, {}),
    ({"interval": "day"}, {"interval": Interval.DAY}),
    ({"groupBy": "pathname"}, {"group_by": Dimension.PATHNAME}),
    ({"groupBy": "referer_domain"}, {"group_by": Dimension.REFERER_DOMAIN}),
    (
        {"groupBy": "country", "interval": "week"},
        {"group_by": Dimension.COUNTRY, "interval": Interval.WEEK},
    ),
    ({"groupBy": "device"}, {"group_by": Dimension.DEVICE}),
    (
        {"groupBy": "pathname", "filters": "device==desktop"},
        {
            "group_by": Dimension.PATHNAME,
            "filters": (Filter(Dimension.DEVICE, Operator.EQ, "desktop"),),
        },
    ),
]


def expected(reference: InMemoryStatsReader, site: str, days: int, **extra: Any) -> dict[str, Any]:
    query = StatsQuery((site,), TODAY - timedelta(days=days - 1), TODAY, **extra)
    body = report_json(complete_report("reference", query, reference.read(query)))
    return {k: v for k, v in body.items() if k != "source"}


def check_dashboards(
    run: Rehearsal, reference: InMemoryStatsReader, sources: dict[int, str]
) -> None:
    """Every dashboard query of the last 30 and 90 days, for every site, equals the
    reference's answer and comes from the expected store."""
    for site in SITES:
        for days, source in sources.items():
            for params, extra in DASHBOARD:
                answer = run.dashboard(site, days, **params)
                assert answer["source"] == source, (site, days, params)
                got = {k: v for k, v in answer.items() if k != "source"}
                assert got == expected(reference, site, days, **extra), (site, days, params)


def new_rows(database_url: str) -> tuple[list[EventRow], list[InitialEventRow]]:
    """The events the new pipeline stored (uids it gave them: ULIDs, not `~` stand-ins)."""
    with psycopg.connect(database_url) as conn:
        events = [
            EventRow(*row)
            for row in conn.execute(
                "SELECT event_uid, site_id, session_id, timestamp, dt, event, pathname, "
                "properties FROM events WHERE event_uid NOT LIKE '~%'"
            )
        ]
        initial = [
            InitialEventRow(*row)
            for row in conn.execute(
                "SELECT event_uid, site_id, session_id, timestamp, dt, event, pathname, "
                "properties, referer, referer_domain, utm_source, utm_medium, utm_campaign, "
                "utm_content, utm_term, device, os, browser, country, region, city, "
                "screen_width, screen_height FROM initial_events WHERE event_uid NOT LIKE '~%'"
            )
        ]
    return events, initial


def test_the_runbook_loses_no_site_setting_or_day(
    tmp_path: Path, empty_database_url: str, dynamodb: str
) -> None:
    """The whole runbook, step by step, on the local stack; the dashboards of the last 30
    and 90 days count the old data and the new events exactly, before and after the
    backfill."""
    lake = tmp_path / "lake"
    old_events = [*OLD_EVENTS, OLD_EVENTS[10], OLD_EVENTS[11]]  # old duplicates are events too
    write_legacy_rows(lake, old_events, OLD_INITIAL)
    reference = InMemoryStatsReader("reference")
    reference.add(strip_uids(old_events), strip_uids(OLD_INITIAL))
    run = Rehearsal(empty_database_url, lake, dynamodb)

    # 1. Deploy: the stack runs the migrations; a fresh install is complete for every day.
    stack = run.deploy(tmp_path / "data")
    try:
        assert run.cli_json("hot-coverage") == {"since": None}

        # 2. Import the sites and preferences (ids kept, levels mapped, theme dropped).
        imported = run.cli_json(
            "import-dynamodb",
            "--sites-table",
            SITES_TABLE,
            "--preferences-table",
            PREFERENCES_TABLE,
        )
        assert imported["sites"]["created"] == len(SITES)
        assert imported["accounts"]["created"] == 1
        listed = run.http("GET", "/api/sites", Authorization=f"Bearer dev:{OWNER}")
        assert sorted(s["siteId"] for s in listed["sites"]) == sorted(SITES)

        # 3. Hot coverage: the cutover day; every range in the hot window is cold until the backfill.
        assert run.cli_json("hot-coverage", "--since", TODAY.isoformat()) == {
            "since": TODAY.isoformat()
        }
        check_dashboards(run, reference, {30: "local", 90: "local"})

        # 4. Switch the tracker: new events reach the new pipeline (hot and cold).
        for n in range(12):
            site = SITES[n % 2]
            session = f"after-switch-{n}"
            run.track(site, {"type": "initial", "session_id": session, "event": "pageview",
                             "pathname": "/", "referrer": "https://news.example/x",
                             "screen": {"width": 1280, "height": 800}})  # fmt: skip
            for page in range(n % 4):
                run.track(site, {"type": "event", "session_id": session, "event": "pageview",
                                 "pathname": f"/new/{page}"})  # fmt: skip
        assert stack.stream is not None
        reports = stack.stream.flush()
        assert reports
        events, initial = new_rows(empty_database_url)
        assert len(events) + len(initial) == 12 + sum(n % 4 for n in range(12))
        reference.add(events, initial)
        check_dashboards(run, reference, {30: "local", 90: "local"})

        # 5. Backfill the hot store from the cold one, then verify per site and day.
        backfill = run.cli_json("backfill-hot")
        first = TODAY - timedelta(days=31)
        assert backfill["days"] == [first.isoformat(), TODAY.isoformat()]
        assert backfill["present"] == len(events) + len(initial)  # the new events: already hot
        assert backfill["inserted"] == backfill["read"] - backfill["present"] > 0
        assert backfill["hotSince"] == first.isoformat()
        assert run.cli_json("verify-migration") == {
            "days": 32,
            "sites": len(SITES),
            "mismatches": [],
        }
        check_dashboards(run, reference, {30: "postgres", 90: "local"})

        # 6. Re-run the import for the delta: a change made in DynamoDB meanwhile.
        client = boto3.client("dynamodb", endpoint_url=dynamodb, region_name=REGION,
                              aws_access_key_id="testing", aws_secret_access_key="testing")  # fmt: skip
        client.update_item(
            TableName=SITES_TABLE,
            Key={"siteId": {"S": SITES[0]}},
            UpdateExpression="SET #n = :n, updatedAt = :u",
            ExpressionAttributeNames={"#n": "name"},
            ExpressionAttributeValues={":n": {"S": "Renamed in the old system"},
                                       ":u": {"S": datetime.now(UTC).isoformat()}},
        )  # fmt: skip
        delta = run.cli_json(
            "import-dynamodb",
            "--sites-table",
            SITES_TABLE,
            "--preferences-table",
            PREFERENCES_TABLE,
        )
        assert (delta["sites"]["updated"], delta["sites"]["unchanged"]) == (1, len(SITES) - 1)
        assert run.cli_json("backfill-hot")["inserted"] == 0  # a rerun inserts nothing

        # 7. Retire DynamoDB: the new system no longer needs it.
        for table in (SITES_TABLE, PREFERENCES_TABLE):
            client.delete_table(TableName=table)
        check_dashboards(run, reference, {30: "postgres", 90: "local"})
        assert run.cli("verify-migration").exit_code == 0
    finally:
        stack.close()


def test_the_runbook_is_in_the_readme() -> None:
    """The README's runbook and docs/migration.md both name every command this rehearsal runs,
    in order, and the README links the full runbook."""
    repo = Path(__file__).resolve().parents[2]
    readme = (repo / "README.md").read_text()
    section = readme.split("## Migrating from the DynamoDB version", 1)[1].split("\n## ", 1)[0]
    full = (repo / "docs" / "migration.md").read_text()
    steps = ["analytics migrate", "analytics import-dynamodb", "analytics hot-coverage --since",
             "analytics backfill-hot", "analytics verify-migration"]  # fmt: skip
    for text in (section, full):
        positions = [text.find(step) for step in steps]
        assert all(p >= 0 for p in positions), dict(zip(steps, positions, strict=True))
        assert positions == sorted(positions)
        assert "ADD COLUMNS (event_uid string)" in text
        assert "import-dynamodb.md" in text
    assert "(docs/migration.md)" in section
    assert "[Migrating from the DynamoDB version](#migrating-from-the-dynamodb-version)" in readme
