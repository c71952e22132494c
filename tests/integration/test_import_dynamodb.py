"""`analytics import-dynamodb` against DynamoDB (a moto server reached through
`AWS_ENDPOINT_URL`, as boto3's defaults find it) and a real PostgreSQL: the issue's
acceptance 1; the contract both import targets (PostgreSQL and the in-memory fake) keep; and
the DynamoDB adapter's paging, deserialisation and error translation."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import attrs
import boto3
import psycopg
import pytest
from botocore.stub import Stubber
from click.testing import Result
from moto.server import ThreadedMotoServer
from typer.testing import CliRunner

from adapters.aws.dynamodb import DynamoDBLegacyTables
from adapters.memory_legacy import InMemoryLegacyImportTarget
from adapters.postgres.legacy_import import PostgresLegacyImportTarget
from adapters.postgres.pool import Pool
from analytics_core.errors import SourceUnavailableError
from analytics_core.legacy_records import AccountRecord, SiteRecord, WriteCounts
from analytics_core.ports import LegacyImportTarget
from analytics_core.sites import ComplianceLevel, EmailNotifications
from entrypoints.cli import app

REGION = "eu-west-1"
SITES_TABLE = "SitesTable"
PREFERENCES_TABLE = "UserPreferencesTable"
GOOD_SITES = 1_493
OWNERS = 400
LARGE_NAME = 12_000  # every third site: ~6 MB in all, so each of 4 scan segments pages
T0 = datetime(2023, 3, 1, 8, 0, tzinfo=UTC)

Item = dict[str, dict[str, Any]]


# ---------------------------------------------------------------- DynamoDB (moto server)


@pytest.fixture(scope="module")
def moto_url() -> Iterator[str]:
    """A moto server on a free local port, for this module."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


def client(moto_url: str) -> Any:
    """A DynamoDB client on the moto server."""
    return boto3.client(
        "dynamodb",
        endpoint_url=moto_url,
        region_name=REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def create_table(moto_url: str, name: str, key: str, items: list[Item]) -> None:
    """A table keyed by the string attribute `key`, holding `items` (typed attributes)."""
    dynamodb = client(moto_url)
    dynamodb.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": key, "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": key, "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    put_items(moto_url, name, items)


def put_items(moto_url: str, name: str, items: list[Item]) -> None:
    """Write (or overwrite) items, 25 a call."""
    dynamodb = client(moto_url)
    for start in range(0, len(items), 25):
        chunk = items[start : start + 25]
        dynamodb.batch_write_item(
            RequestItems={name: [{"PutRequest": {"Item": item}} for item in chunk]}
        )


def import_dynamodb(database_url: str, moto_url: str, *options: str) -> Result:
    """The command, as an operator runs it: boto3 finds DynamoDB through the environment."""
    return CliRunner().invoke(
        app,
        ["import-dynamodb", *options],
        env={
            "DATABASE_URL": database_url,
            "AWS_ENDPOINT_URL": moto_url,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": REGION,
            "AWS_PROFILE": None,
            "AWS_SESSION_TOKEN": None,
        },
    )


def summary(result: Result, exit_code: int) -> dict[str, Any]:
    """The JSON summary of a run that ended with `exit_code`."""
    assert result.exit_code == exit_code, (result.stdout, result.stderr)
    parsed: dict[str, Any] = json.loads(result.stdout)
    return parsed


# ---------------------------------------------------------------- the legacy data


def iso(moment: datetime) -> dict[str, str]:
    """An ISO-8601 S attribute."""
    return {"S": moment.isoformat().replace("+00:00", "Z")}


def epoch_ms(moment: datetime) -> dict[str, str]:
    """An N attribute of epoch milliseconds."""
    return {"N": str(int(moment.timestamp() * 1000))}


@attrs.frozen
class ExpectedSite:
    """What one good legacy site should become in `sites`."""

    site_id: str
    owner_sub: str
    name: str
    domains: tuple[str, ...]
    plan: str
    request_allowance: int
    compliance_level: int
    created_at: datetime | None  # None: the time of the run
    updated_at: datetime | None


LEVELS: list[tuple[dict[str, str] | None, int]] = [
    ({"S": "yes"}, 0),
    ({"S": "maybe"}, 1),
    ({"S": "no"}, 2),
    ({"N": "0"}, 0),
    ({"N": "1"}, 1),
    ({"N": "2"}, 2),
    (None, 1),
]


def good_site(n: int) -> tuple[Item, ExpectedSite]:
    """Site n in one of every accepted shape, cycling through them."""
    site_id = f"01JDQ7ZK3M{n:016d}"
    snake = n % 2 == 1
    owner = f"owner-{n % OWNERS:03d}"
    name = f"Site {n}" + (" " + "x" * LARGE_NAME if n % 3 == 0 else "")
    item: Item = {
        "siteId": {"S": site_id.lower() if n % 10 == 3 else site_id},
        "owner_sub" if snake else "ownerSub": {"S": owner},
        "name": {"S": name},
    }
    domains = [f"site{n}.example.com", f"WWW.Site{n}.Example.com"]
    if n % 50 == 7:
        domains.append(f"bad host {n}")
    if n % 50 == 17:
        domains.append(f"192.168.0.{n % 250}")
    item["domains"] = {"SS": domains} if n % 4 < 2 else {"L": [{"S": d} for d in domains]}
    level, expected_level = LEVELS[n % len(LEVELS)]
    if level is not None:
        item["compliance_level" if snake else "complianceLevel"] = level
    created, updated = T0 + timedelta(hours=n), T0 + timedelta(days=200, hours=n)
    if n % 3 == 0:
        item["created_at" if snake else "createdAt"] = iso(created)
        item["updated_at" if snake else "updatedAt"] = iso(updated)
    elif n % 3 == 1:
        item["created_at" if snake else "createdAt"] = epoch_ms(created)
        item["updated_at" if snake else "updatedAt"] = epoch_ms(updated)
    if n % 5 == 0:
        item["plan"] = {"S": "pro"}
        item["request_allowance" if snake else "requestAllowance"] = {"N": "50000"}
    if n % 100 == 0:
        item["legacyFlag"] = {"BOOL": True}
    if n % 250 == 1:
        item["trackingCode"] = {"S": f"UA-{n}"}
    expected = ExpectedSite(
        site_id=site_id,
        owner_sub=owner,
        name=name,
        domains=(f"site{n}.example.com", f"www.site{n}.example.com"),
        plan="pro" if n % 5 == 0 else "free_tier",
        request_allowance=50_000 if n % 5 == 0 else 10_000,
        compliance_level=expected_level,
        created_at=None if n % 3 == 2 else created,
        updated_at=None if n % 3 == 2 else updated,
    )
    return item, expected


def minimal_site(site_id: str, **more: dict[str, Any]) -> Item:
    """A site item with the required attributes and `more`."""
    return {
        "siteId": {"S": site_id},
        "ownerSub": {"S": "owner-bad"},
        "name": {"S": "Bad"},
        "domains": {"SS": ["bad.example.com"]},
        **more,
    }


BAD_SITES: list[tuple[Item, str]] = [
    (minimal_site("site-not-a-ulid"), "siteId is not a ULID: 'site-not-a-ulid'"),
    (
        minimal_site("81JDQ7ZK3M0000000000000000"),
        "siteId is not a ULID: '81JDQ7ZK3M0000000000000000'",
    ),
    (
        minimal_site("01JDQ7ZK3M00000000000000IL"),
        "siteId is not a ULID: '01JDQ7ZK3M00000000000000IL'",
    ),
    (
        {k: v for k, v in minimal_site("01JDQ7ZK3M9000000000000001").items() if k != "ownerSub"},
        "ownerSub missing",
    ),
    (
        {k: v for k, v in minimal_site("01JDQ7ZK3M9000000000000002").items() if k != "ownerSub"},
        "ownerSub missing",
    ),
    (
        minimal_site("01JDQ7ZK3M9000000000000003", domains={"SS": ["10.0.0.1", "exa mple.com"]}),
        "no acceptable domain",
    ),
    (
        minimal_site("01JDQ7ZK3M9000000000000004", domains={"L": [{"S": "[::1]"}]}),
        "no acceptable domain",
    ),
]

NOTIFICATIONS: list[tuple[str | None, str]] = [
    ("daily", "daily"),
    ("weekly", "weekly"),
    ("monthly", "monthly"),
    ("never", "never"),
    ("WEEKLY", "weekly"),
    (None, "daily"),
    ("hourly", "daily"),  # unknown: daily, reported
]


def preference(k: int) -> tuple[Item, str, datetime | None]:
    """Owner k's preferences in one of every accepted shape; (item, expected e-mail setting,
    expected updated_at or None for the time of the run)."""
    sub = f"owner-{k:03d}"
    snake = k % 2 == 1
    item: Item = {"userId": {"S": sub}}
    value, expected = NOTIFICATIONS[k % len(NOTIFICATIONS)]
    if value is not None:
        item["email_notifications" if snake else "emailNotifications"] = {"S": value}
    if k % 2 == 0:
        item["theme"] = {"S": "dark" if k % 4 == 0 else "light"}
    if k % 40 == 5:
        item["sub"] = {"S": sub}
    if k % 40 == 6:
        item["cognitoSub"] = {"S": sub}
    if k % 50 == 0:
        item["language"] = {"S": "de"}
    updated = T0 + timedelta(days=100, minutes=k)
    if k % 3 == 0:
        item["updated_at" if snake else "updatedAt"] = iso(updated)
    elif k % 3 == 1:
        item["updated_at" if snake else "updatedAt"] = epoch_ms(updated)
    return item, expected, None if k % 3 == 2 else updated


BAD_PREFERENCES: list[tuple[Item, str, str]] = [
    ({"userId": {"S": "   "}}, "   ", "userId is empty"),
    (
        {"userId": {"S": "owner-x"}, "sub": {"S": "someone-else"}},
        "owner-x",
        "userId and sub differ",
    ),
]

EXPECTED_DROPPED = sorted(
    [
        (f"01JDQ7ZK3M{n:016d}", f"bad host {n}", f"invalid label 'bad host {n}'")
        for n in range(7, GOOD_SITES, 50)
    ]
    + [
        (f"01JDQ7ZK3M{n:016d}", f"192.168.0.{n % 250}", "IP addresses are not allowed")
        for n in range(17, GOOD_SITES, 50)
    ]
    + [
        ("01JDQ7ZK3M9000000000000003", "10.0.0.1", "IP addresses are not allowed"),
        ("01JDQ7ZK3M9000000000000003", "exa mple.com", "invalid label 'exa mple'"),
        ("01JDQ7ZK3M9000000000000004", "[::1]", "IP addresses are not allowed"),
    ]
)


def counts(
    read: int, created: int = 0, updated: int = 0, unchanged: int = 0, refused: int = 0
) -> dict[str, int]:
    """A table's counts as the JSON summary gives them."""
    return {
        "read": read,
        "created": created,
        "updated": updated,
        "unchanged": unchanged,
        "refused": refused,
    }


def stored_sites(database_url: str) -> dict[str, tuple[Any, ...]]:
    """Every row of `sites` by id."""
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            "SELECT site_id, owner_sub, name, domains, plan, request_allowance, "
            "compliance_level, created_at, updated_at FROM sites"
        ).fetchall()
    return {row[0]: row for row in rows}


def stored_accounts(database_url: str) -> dict[str, tuple[Any, ...]]:
    """Every row of `accounts` by sub."""
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            "SELECT cognito_sub, email_notifications, created_at, updated_at FROM accounts"
        ).fetchall()
    return {row[0]: row for row in rows}


def run_tables(sites_table: str, preferences_table: str) -> tuple[str, ...]:
    """The command's table options."""
    return ("--sites-table", sites_table, "--preferences-table", preferences_table, "--json")


# ---------------------------------------------------------------- acceptance 1


def test_import_dynamodb_end_to_end(db: Pool, database_url: str, moto_url: str) -> None:
    """1,500 legacy sites and their preferences in every accepted shape import with ids kept,
    levels mapped, theme dropped, bad items refused and bad domains dropped (both named), with
    exact counts; a rerun changes nothing; a later DynamoDB change is picked up while a later
    PostgreSQL change is kept; --dry-run writes nothing and counts the same."""
    site_items, expected_sites = zip(*(good_site(n) for n in range(GOOD_SITES)), strict=True)
    all_sites = [*site_items, *(item for item, _ in BAD_SITES)]
    preferences = [preference(k) for k in range(OWNERS)]
    all_preferences = [item for item, _, _ in preferences] + [
        item for item, _, _ in BAD_PREFERENCES
    ]
    create_table(moto_url, SITES_TABLE, "siteId", all_sites)
    create_table(moto_url, PREFERENCES_TABLE, "userId", all_preferences)
    options = run_tables(SITES_TABLE, PREFERENCES_TABLE)

    # The data is large enough that the scan pages: more pages than its 4 segments.
    legacy = DynamoDBLegacyTables(client(moto_url), segments=4)
    pages = list(legacy.scan(SITES_TABLE))
    assert len(pages) > 4
    assert sum(len(page) for page in pages) == len(all_sites)

    # A dry run first: the counts of the real run, nothing written.
    dry = summary(import_dynamodb(database_url, moto_url, *options, "--dry-run"), 1)
    assert stored_sites(database_url) == {}
    assert stored_accounts(database_url) == {}

    before = datetime.now(UTC)
    first_run = import_dynamodb(database_url, moto_url, *options)
    after = datetime.now(UTC)
    first = summary(first_run, 1)
    assert dry == {**first, "dryRun": True}
    assert first["dryRun"] is False
    assert first["sites"] == counts(len(all_sites), created=GOOD_SITES, refused=len(BAD_SITES))
    assert first["accounts"] == counts(
        len(all_preferences), created=OWNERS, refused=len(BAD_PREFERENCES)
    )
    assert sorted(tuple(r.values()) for r in first["refused"]) == sorted(
        [(SITES_TABLE, item["siteId"]["S"], reason) for item, reason in BAD_SITES]
        + [(PREFERENCES_TABLE, key, reason) for _, key, reason in BAD_PREFERENCES]
    )
    assert all(list(r) == ["table", "key", "reason"] for r in first["refused"])
    assert (
        sorted((d["siteId"], d["domain"], d["reason"]) for d in first["droppedDomains"])
        == EXPECTED_DROPPED
    )
    assert first["unknownAttributes"] == {"legacyFlag": 15, "trackingCode": 6, "language": 8}

    sites = stored_sites(database_url)
    assert len(sites) == GOOD_SITES
    for expected in expected_sites:
        row = sites[expected.site_id]
        assert row[1:7] == (
            expected.owner_sub,
            expected.name,
            list(expected.domains),
            expected.plan,
            expected.request_allowance,
            expected.compliance_level,
        ), expected.site_id
        if expected.created_at is None:
            assert before <= row[7] == row[8] <= after
        else:
            assert (row[7], row[8]) == (expected.created_at, expected.updated_at)
    accounts = stored_accounts(database_url)
    assert len(accounts) == OWNERS
    for k, (_, notifications, updated) in enumerate(preferences):
        row = accounts[f"owner-{k:03d}"]
        assert row[1] == notifications
        if updated is None:
            assert before <= row[2] == row[3] <= after
        else:
            assert row[2] == row[3] == updated
    replaced = [line for line in first_run.stderr.splitlines() if "hourly" in line]
    assert len(replaced) == len(range(6, OWNERS, len(NOTIFICATIONS)))
    assert all("imported as daily" in line for line in replaced)

    # A second run: everything unchanged.
    second = summary(import_dynamodb(database_url, moto_url, *options), 1)
    assert second["sites"] == counts(len(all_sites), unchanged=GOOD_SITES, refused=len(BAD_SITES))
    assert second["accounts"] == counts(
        len(all_preferences), unchanged=OWNERS, refused=len(BAD_PREFERENCES)
    )
    assert stored_sites(database_url) == sites

    # Site 0 changes in DynamoDB; site 3 changes in PostgreSQL after an (older) DynamoDB edit;
    # owner 0 changes their e-mail setting in DynamoDB.
    changed_at = datetime.now(UTC).replace(microsecond=0)
    site_0, _ = good_site(0)
    site_3, _ = good_site(3)
    put_items(
        moto_url,
        SITES_TABLE,
        [
            {
                **site_0,
                "name": {"S": "Renamed in DynamoDB"},
                "complianceLevel": {"S": "no"},
                "updatedAt": iso(changed_at),
            },
            {
                **site_3,
                "name": {"S": "Renamed in DynamoDB too early"},
                "updated_at": iso(T0 + timedelta(days=300)),
            },
        ],
    )
    owner_0, _, _ = preference(0)
    put_items(
        moto_url,
        PREFERENCES_TABLE,
        [{**owner_0, "emailNotifications": {"S": "never"}, "updatedAt": epoch_ms(changed_at)}],
    )
    with psycopg.connect(database_url) as conn:
        conn.execute(
            "UPDATE sites SET name = 'Renamed in PostgreSQL', updated_at = now() "
            "WHERE site_id = %s",
            (expected_sites[3].site_id,),
        )
    snapshot = (stored_sites(database_url), stored_accounts(database_url))

    dry = summary(import_dynamodb(database_url, moto_url, *options, "--dry-run"), 1)
    assert (stored_sites(database_url), stored_accounts(database_url)) == snapshot
    third = summary(import_dynamodb(database_url, moto_url, *options), 1)
    assert dry == {**third, "dryRun": True}
    assert third["sites"] == counts(
        len(all_sites), updated=1, unchanged=GOOD_SITES - 1, refused=len(BAD_SITES)
    )
    assert third["accounts"] == counts(
        len(all_preferences), updated=1, unchanged=OWNERS - 1, refused=len(BAD_PREFERENCES)
    )
    sites = stored_sites(database_url)
    assert sites[expected_sites[0].site_id][2] == "Renamed in DynamoDB"
    assert sites[expected_sites[0].site_id][6] == 2
    assert sites[expected_sites[0].site_id][7:] == (expected_sites[0].created_at, changed_at)
    assert sites[expected_sites[3].site_id][2] == "Renamed in PostgreSQL"
    assert stored_accounts(database_url)["owner-000"][1:] == (
        "never",
        T0 + timedelta(days=100),
        changed_at,
    )


@pytest.mark.parametrize(
    ("site_key", "preferences_key"),
    [("siteId", "userId"), ("site_id", "cognitoSub"), ("site_id", "sub")],
)
def test_a_clean_import_exits_0_whatever_the_key_names(
    db: Pool, database_url: str, moto_url: str, site_key: str, preferences_key: str
) -> None:
    """Tables keyed by any accepted attribute name import completely and exit 0."""
    suffix = f"{site_key}-{preferences_key}"
    site_id = "01JDQ7ZK3M0000000000000042"
    create_table(
        moto_url,
        f"Sites-{suffix}",
        site_key,
        [
            {
                site_key: {"S": site_id},
                "owner_sub": {"S": "owner-1"},
                "name": {"S": "Clean"},
                "domains": {"L": [{"S": "clean.example"}]},
                "compliance_level": {"S": "yes"},
            }
        ],
    )
    create_table(
        moto_url,
        f"Preferences-{suffix}",
        preferences_key,
        [{preferences_key: {"S": "owner-1"}, "emailNotifications": {"S": "monthly"}}],
    )
    result = summary(
        import_dynamodb(
            database_url, moto_url, *run_tables(f"Sites-{suffix}", f"Preferences-{suffix}")
        ),
        0,
    )
    assert result == {
        "dryRun": False,
        "sites": counts(1, created=1),
        "accounts": counts(1, created=1),
        "refused": [],
        "droppedDomains": [],
        "unknownAttributes": {},
    }
    assert stored_sites(database_url)[site_id][3:7] == (["clean.example"], "free_tier", 10_000, 0)
    assert stored_accounts(database_url)["owner-1"][1] == "monthly"


def test_a_missing_table_exits_2_and_writes_nothing(
    db: Pool, database_url: str, moto_url: str
) -> None:
    """A missing table stops the run before anything is written: exit 2, the table named."""
    site, _ = good_site(1)
    create_table(moto_url, "Sites-alone", "siteId", [site])
    result = import_dynamodb(database_url, moto_url, *run_tables("Sites-alone", "No-such-table"))
    assert result.exit_code == 2, result.stderr
    assert "No-such-table" in result.stderr
    assert result.stdout == ""
    assert stored_sites(database_url) == {}
    result = import_dynamodb(database_url, moto_url, *run_tables("No-such-sites", "Sites-alone"))
    assert result.exit_code == 2
    assert "No-such-sites" in result.stderr


def test_the_table_summary_names_what_was_refused(
    db: Pool, database_url: str, moto_url: str
) -> None:
    """Without --json the command prints the counts and every refused item and dropped domain."""
    create_table(moto_url, "Sites-table-view", "siteId", [item for item, _ in BAD_SITES])
    create_table(moto_url, "Preferences-table-view", "userId", [])
    result = import_dynamodb(
        database_url,
        moto_url,
        "--sites-table",
        "Sites-table-view",
        "--preferences-table",
        "Preferences-table-view",
    )
    assert result.exit_code == 1
    assert "site-not-a-ulid" in result.stdout
    assert "exa mple.com" in result.stdout
    assert "ownerSub missing" in result.stdout


# ---------------------------------------------------------------- the targets' contract

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
SITE_A, SITE_B = "01JDQ7ZK3M0000000000000A01", "01JDQ7ZK3M0000000000000B02"


@pytest.fixture(params=["memory", "postgres"])
def target(request: pytest.FixtureRequest, db: Pool) -> Iterator[LegacyImportTarget]:
    """Each `LegacyImportTarget`: the in-memory fake and the PostgreSQL adapter."""
    if request.param == "memory":
        yield InMemoryLegacyImportTarget()
    else:
        yield PostgresLegacyImportTarget(db)


def target_state(target: LegacyImportTarget, database_url: str) -> tuple[dict[str, Any], ...]:
    """What the target holds, in one comparable form for both targets."""
    if isinstance(target, InMemoryLegacyImportTarget):
        sites = {
            s.site_id: (
                s.name,
                list(s.domains),
                s.plan,
                s.request_allowance,
                int(s.compliance_level),
                s.created_at,
                s.updated_at,
            )
            for s in target.sites.values()
        }
        accounts = {
            a.cognito_sub: (a.email_notifications.value, a.created_at, a.updated_at)
            for a in target.accounts.values()
        }
        return sites, accounts
    sites = {key: row[2:] for key, row in stored_sites(database_url).items()}
    accounts = {key: row[1:] for key, row in stored_accounts(database_url).items()}
    return sites, accounts


def site_record(site_id: str, **values: Any) -> SiteRecord:
    """A record with no optional value unless given."""
    defaults: dict[str, Any] = {
        "owner_sub": "owner-1",
        "name": "A",
        "domains": ("a.example",),
        "plan": None,
        "request_allowance": None,
        "compliance_level": None,
        "created_at": None,
        "updated_at": None,
    }
    return SiteRecord(site_id=site_id, **{**defaults, **values})


def test_targets_create_update_or_leave_rows_alike(
    target: LegacyImportTarget, database_url: str
) -> None:
    """Both targets create missing rows with the item's timestamps (else now) and the table's
    defaults, update only for a later updatedAt keeping what the item leaves out, never touch
    created_at on update, and count a dry run the same without writing."""
    day = timedelta(days=1)
    full = site_record(
        SITE_A,
        plan="pro",
        request_allowance=5,
        compliance_level=ComplianceLevel.REQUIRED,
        created_at=NOW - 3 * day,
        updated_at=NOW - 2 * day,
    )
    bare = site_record(SITE_B, name="B", domains=("b.example", "www.b.example"))
    accounts = [
        AccountRecord("sub-1", EmailNotifications.WEEKLY, None, NOW - 2 * day),
        AccountRecord("sub-2", None, None, None),
    ]

    assert target.write_sites([full, bare], NOW, dry_run=True) == WriteCounts(2, 0, 0)
    assert target.write_accounts(accounts, NOW, dry_run=True) == WriteCounts(2, 0, 0)
    assert target_state(target, database_url) == ({}, {})

    assert target.write_sites([full, bare], NOW, dry_run=False) == WriteCounts(2, 0, 0)
    assert target.write_accounts(accounts, NOW, dry_run=False) == WriteCounts(2, 0, 0)
    created = (
        {
            SITE_A: ("A", ["a.example"], "pro", 5, 0, NOW - 3 * day, NOW - 2 * day),
            SITE_B: ("B", ["b.example", "www.b.example"], "free_tier", 10_000, 1, NOW, NOW),
        },
        {
            "sub-1": ("weekly", NOW - 2 * day, NOW - 2 * day),
            "sub-2": ("daily", NOW, NOW),
        },
    )
    assert target_state(target, database_url) == created
    assert target.write_sites([full, bare], NOW + day, dry_run=False) == WriteCounts(0, 0, 2)
    assert target.write_accounts(accounts, NOW + day, dry_run=False) == WriteCounts(0, 0, 2)
    assert target_state(target, database_url) == created

    renamed = site_record(SITE_A, name="A2", domains=("a2.example",), updated_at=NOW - day)
    older = site_record(SITE_B, name="B0", updated_at=NOW - day)  # the row says NOW
    quiet = AccountRecord("sub-1", None, None, NOW - day)
    assert target.write_sites([renamed, older], NOW, dry_run=True) == WriteCounts(0, 1, 1)
    assert target_state(target, database_url) == created
    assert target.write_sites([renamed, older], NOW, dry_run=False) == WriteCounts(0, 1, 1)
    assert target.write_accounts([quiet], NOW, dry_run=False) == WriteCounts(0, 1, 0)
    sites, accounts_now = target_state(target, database_url)
    assert sites[SITE_A] == ("A2", ["a2.example"], "pro", 5, 0, NOW - 3 * day, NOW - day)
    assert sites[SITE_B] == created[0][SITE_B]
    assert accounts_now["sub-1"] == ("weekly", NOW - 2 * day, NOW - day)


# ---------------------------------------------------------------- the adapter alone


def test_access_denied_becomes_source_unavailable() -> None:
    """DynamoDB's AccessDeniedException on describe or scan is the port's error, naming the table."""
    dynamodb = boto3.client(
        "dynamodb", region_name=REGION, aws_access_key_id="x", aws_secret_access_key="x"
    )
    tables = DynamoDBLegacyTables(dynamodb, segments=1)
    with Stubber(dynamodb) as stub:
        stub.add_client_error("describe_table", "AccessDeniedException", "not allowed")
        with pytest.raises(SourceUnavailableError) as denied:
            tables.describe("Secret")
        assert denied.value.source == "Secret"
        assert "denied" in denied.value.message
        stub.add_client_error("scan", "ResourceNotFoundException", "gone", 400)
        with pytest.raises(SourceUnavailableError) as missing:
            list(tables.scan("Gone"))
        assert "does not exist" in missing.value.message


def test_scan_deserialises_every_type(moto_url: str) -> None:
    """Items come back as Python values: S str, N Decimal, SS set, L list, M dict, BOOL, NULL."""
    item: Mapping[str, Any] = {
        "siteId": {"S": "a"},
        "n": {"N": "1.5"},
        "ss": {"SS": ["x", "y"]},
        "l": {"L": [{"S": "x"}, {"N": "2"}]},
        "m": {"M": {"k": {"BOOL": True}}},
        "null": {"NULL": True},
    }
    create_table(moto_url, "Types", "siteId", [dict(item)])
    (page,) = [p for p in DynamoDBLegacyTables(client(moto_url), segments=2).scan("Types") if p]
    assert page == [
        {
            "siteId": "a",
            "n": Decimal("1.5"),
            "ss": {"x", "y"},
            "l": ["x", Decimal(2)],
            "m": {"k": True},
            "null": None,
        }
    ]
