"""The legacy DynamoDB items' mapping onto `sites` and `accounts`, and the import use case with
in-memory tables and target."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from adapters.memory_legacy import InMemoryLegacyImportTarget, InMemoryLegacyTables
from analytics_core.domains import normalise_domain
from analytics_core.errors import SourceUnavailableError
from analytics_core.ids import is_ulid
from analytics_core.legacy_import import (
    MAX_BIGINT,
    DroppedDomain,
    ImportReport,
    Refusal,
    WriteOutcome,
    import_legacy,
    parse_account_item,
    parse_site_item,
    record_timestamps,
    write_outcome,
)
from analytics_core.sites import MAX_DOMAINS, ComplianceLevel, EmailNotifications

SITE_ID = "01JDQ7ZK3M0000000000000001"
NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)


def site_item(**changes: object) -> dict[str, object]:
    """A well-formed SitesTable item, with `changes` applied (None removes an attribute)."""
    item: dict[str, object] = {
        "siteId": SITE_ID,
        "ownerSub": "owner-1",
        "name": "Shop",
        "domains": {"shop.example.com"},
    }
    item.update(changes)
    return {name: value for name, value in item.items() if value is not None}


# ---------------------------------------------------------------- sites


@pytest.mark.parametrize(
    ("value", "level"),
    [
        ("yes", ComplianceLevel.REQUIRED),
        ("maybe", ComplianceLevel.MAYBE),
        ("no", ComplianceLevel.NOT_REQUIRED),
        (" No ", ComplianceLevel.NOT_REQUIRED),
        (Decimal(0), ComplianceLevel.REQUIRED),
        (Decimal(1), ComplianceLevel.MAYBE),
        (Decimal(2), ComplianceLevel.NOT_REQUIRED),
        (None, None),
    ],
)
def test_compliance_levels_map_yes_maybe_no_to_0_1_2(
    value: object, level: ComplianceLevel | None
) -> None:
    """yes/maybe/no and N 0/1/2 map to levels 0/1/2; a missing level is left to the default."""
    parsed = parse_site_item(site_item(complianceLevel=value))
    assert parsed.record is not None
    assert parsed.record.compliance_level == level


@pytest.mark.parametrize("value", ["sometimes", Decimal(3), Decimal("1.5"), True, ["yes"]])
def test_a_meaningless_compliance_level_refuses_the_site(value: object) -> None:
    """A privacy setting is never guessed: a level that means nothing refuses the item."""
    parsed = parse_site_item(site_item(complianceLevel=value))
    assert parsed.record is None
    assert any(problem.startswith("complianceLevel") for problem in parsed.problems)


def test_site_ids_are_kept_upper_cased() -> None:
    """A ULID written in lower case is kept, upper-cased; the refusal key stays as stored."""
    parsed = parse_site_item(site_item(siteId=SITE_ID.lower()))
    assert parsed.record is not None
    assert parsed.record.site_id == SITE_ID
    assert parsed.key == SITE_ID.lower()


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({"siteId": "site-1"}, "siteId is not a ULID: 'site-1'"),
        ({"siteId": "81JDQ7ZK3M0000000000000001"}, "siteId is not a ULID"),
        ({"siteId": None}, "siteId missing"),
        ({"ownerSub": None}, "ownerSub missing"),
        ({"ownerSub": "  "}, "ownerSub is empty"),
        ({"name": None}, "name missing"),
        ({"name": "a\x00b"}, "name contains a NUL character"),
        ({"domains": None}, "domains missing"),
        ({"domains": "shop.example.com"}, "domains is not a string set or a list"),
        ({"domains": {"127.0.0.1", "not a host"}}, "no acceptable domain"),
        ({"domains": []}, "no acceptable domain"),
        ({"requestAllowance": Decimal(-1)}, "requestAllowance is not a whole number"),
        ({"requestAllowance": Decimal(MAX_BIGINT + 1)}, "requestAllowance is not a whole number"),
        ({"createdAt": "yesterday"}, "createdAt is not an ISO-8601 time"),
        ({"updatedAt": Decimal("1e30")}, "updatedAt is not an ISO-8601 time"),
        ({"plan": Decimal(3)}, "plan is not a string"),
        ({"site_id": "01JDQ7ZK3M0000000000000002"}, "siteId and site_id differ"),
    ],
)
def test_bad_site_items_are_refused_with_the_reason(
    changes: dict[str, object], problem: str
) -> None:
    """A non-ULID id, a missing owner, no acceptable domain or a meaningless value refuses the
    item, and the reason says which."""
    parsed = parse_site_item(site_item(**changes))
    assert parsed.record is None
    assert any(found.startswith(problem) for found in parsed.problems), parsed.problems


def test_every_problem_of_an_item_is_named() -> None:
    """A refusal lists all of the item's problems, not only the first."""
    parsed = parse_site_item({"siteId": "x", "domains": ["localhost:8080:1"]})
    assert parsed.problems == (
        "siteId is not a ULID: 'x'",
        "ownerSub missing",
        "name missing",
        "no acceptable domain",
    )


def test_refused_domains_are_dropped_and_named_with_the_site() -> None:
    """Domains the new rules refuse are dropped and reported; the site keeps the others,
    normalised, without repeats; a string set is sorted, a list keeps its order."""
    parsed = parse_site_item(
        site_item(
            siteId=SITE_ID.lower(),
            domains=["WWW.Shop.example.com.", "10.0.0.1", "shop.example.com", "b@d host", 7],
        )
    )
    assert parsed.record is not None
    assert parsed.record.domains == ("www.shop.example.com", "shop.example.com")
    assert parsed.dropped_domains == (
        DroppedDomain(SITE_ID, "10.0.0.1", "IP addresses are not allowed"),
        DroppedDomain(SITE_ID, "b@d host", "invalid label 'd host'"),
        DroppedDomain(SITE_ID, "7", "not a string"),
    )
    as_set = parse_site_item(site_item(domains={"b.example", "a.example", "B.example"}))
    assert as_set.record is not None
    assert as_set.record.domains == ("a.example", "b.example")


def test_domains_beyond_the_limit_are_dropped() -> None:
    """At most MAX_DOMAINS domains are kept; the rest are dropped and named."""
    domains = [f"d{n:03d}.example" for n in range(MAX_DOMAINS + 2)]
    parsed = parse_site_item(site_item(domains=domains))
    assert parsed.record is not None
    assert parsed.record.domains == tuple(domains[:MAX_DOMAINS])
    assert [d.domain for d in parsed.dropped_domains] == domains[MAX_DOMAINS:]


def test_camel_and_snake_case_items_map_alike() -> None:
    """snake_case attribute names mean what their camelCase twins mean."""
    camel = site_item(
        plan="pro",
        requestAllowance=Decimal(50000),
        complianceLevel="no",
        createdAt="2024-01-02T03:04:05Z",
        updatedAt=Decimal(1717171717171),
    )
    snake = {
        "site_id": SITE_ID,
        "owner_sub": "owner-1",
        "name": "Shop",
        "domains": ["shop.example.com"],
        "plan": "pro",
        "request_allowance": Decimal(50000),
        "compliance_level": Decimal(2),
        "created_at": "2024-01-02T04:04:05+01:00",
        "updated_at": "2024-05-31T16:08:37.171Z",
    }
    assert parse_site_item(camel).record == parse_site_item(snake).record
    record = parse_site_item(camel).record
    assert record is not None
    assert record.request_allowance == 50000
    assert record.created_at == datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert record.updated_at == datetime(2024, 5, 31, 16, 8, 37, 171000, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "moment"),
    [
        ("2024-01-02T03:04:05Z", datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)),
        ("2024-01-02T03:04:05.123456", datetime(2024, 1, 2, 3, 4, 5, 123456, tzinfo=UTC)),
        ("2024-01-02", datetime(2024, 1, 2, tzinfo=UTC)),
        (Decimal(0), datetime(1970, 1, 1, tzinfo=UTC)),
        (Decimal("1704164645000.5"), datetime(2024, 1, 2, 3, 4, 5, 500, tzinfo=UTC)),
    ],
)
def test_timestamps_are_iso_strings_or_epoch_milliseconds(value: object, moment: datetime) -> None:
    """createdAt is read as ISO-8601 (naive means UTC) or as epoch milliseconds."""
    parsed = parse_site_item(site_item(createdAt=value))
    assert parsed.record is not None
    assert parsed.record.created_at == moment


def test_unknown_attributes_are_ignored_and_named() -> None:
    """Attributes the mapping does not know are listed by name; the item still imports."""
    parsed = parse_site_item(site_item(theme="dark", legacyFlag=True))
    assert parsed.record is not None
    assert parsed.unknown_attributes == ("legacyFlag", "theme")


# ---------------------------------------------------------------- accounts


@pytest.mark.parametrize("key", ["userId", "user_id", "cognitoSub", "cognito_sub", "sub"])
def test_preferences_are_keyed_by_any_name_of_the_cognito_sub(key: str) -> None:
    """userId, cognitoSub and sub (either case style) all name the account's Cognito sub."""
    parsed = parse_account_item({key: "sub-1", "emailNotifications": "weekly"})
    assert parsed.record is not None
    assert parsed.record.cognito_sub == "sub-1"
    assert parsed.record.email_notifications is EmailNotifications.WEEKLY


def test_theme_is_dropped_without_being_unknown() -> None:
    """`theme` is a known attribute with no place in the new system: dropped, not counted."""
    parsed = parse_account_item({"userId": "sub-1", "theme": "dark", "fontSize": Decimal(3)})
    assert parsed.record is not None
    assert parsed.unknown_attributes == ("fontSize",)


def test_unknown_email_notifications_become_daily_and_are_reported() -> None:
    """A value outside daily/weekly/monthly/never is imported as daily and reported."""
    parsed = parse_account_item({"userId": "sub-1", "emailNotifications": "hourly"})
    assert parsed.record is not None
    assert parsed.record.email_notifications is EmailNotifications.DAILY
    assert [(r.key, r.attribute, r.value, r.replacement) for r in parsed.replaced] == [
        ("sub-1", "emailNotifications", "'hourly'", "daily")
    ]
    known = parse_account_item({"userId": "sub-1", "email_notifications": " Never "})
    assert known.record is not None
    assert known.record.email_notifications is EmailNotifications.NEVER
    assert not known.replaced
    missing = parse_account_item({"userId": "sub-1"})
    assert missing.record is not None
    assert missing.record.email_notifications is None
    assert not missing.replaced


def test_preferences_without_a_usable_sub_are_refused() -> None:
    """No sub, a blank one, or two keys naming different subs refuse the item."""
    assert parse_account_item({"theme": "x"}).problems == ("userId missing",)
    assert parse_account_item({"userId": " "}).problems == ("userId is empty",)
    assert parse_account_item({"userId": "a", "sub": "b"}).problems == ("userId and sub differ",)


# ---------------------------------------------------------------- any item

_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.text(max_size=30)
    | st.decimals(allow_nan=True, allow_infinity=True)
    | st.integers()
    | st.binary(max_size=8)
    | st.sampled_from(
        ["yes", "maybe", "no", "weekly", "2024-01-02T03:04:05Z", SITE_ID, Decimal("sNaN")]
    ),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.frozensets(st.text(max_size=20), max_size=4)
        | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=8,
)
_NAMES = st.sampled_from(
    [
        "siteId",
        "site_id",
        "ownerSub",
        "owner_sub",
        "name",
        "domains",
        "plan",
        "requestAllowance",
        "complianceLevel",
        "createdAt",
        "updatedAt",
        "userId",
        "sub",
        "cognitoSub",
        "emailNotifications",
        "theme",
    ]
) | st.text(max_size=10)
_ITEMS = st.dictionaries(_NAMES, _VALUES, max_size=12)


@given(
    st.one_of(
        _ITEMS,
        st.builds(
            lambda base, extra: {**base, **extra},
            st.fixed_dictionaries(
                {
                    "siteId": st.sampled_from([SITE_ID, SITE_ID.lower(), "x"]),
                    "ownerSub": st.text(max_size=5),
                    "name": st.text(max_size=5),
                    "domains": st.frozensets(st.text(max_size=12), max_size=3)
                    | st.lists(st.text(max_size=12), max_size=3),
                }
            ),
            _ITEMS,
        ),
    )
)
def test_any_site_item_maps_or_is_refused(item: dict[str, object]) -> None:
    """Whatever an item holds, it maps to a record that the new rules accept, or it is
    refused with reasons; nothing raises."""
    parsed = parse_site_item(item)
    assert (parsed.record is None) == bool(parsed.problems)
    record = parsed.record
    if record is not None:
        assert is_ulid(record.site_id)
        assert record.owner_sub.strip() == record.owner_sub != ""
        assert "\x00" not in record.name + record.owner_sub + (record.plan or "")
        assert 1 <= len(record.domains) <= MAX_DOMAINS
        assert all(normalise_domain(domain) == domain for domain in record.domains)
        assert len(set(record.domains)) == len(record.domains)
        assert record.request_allowance is None or 0 <= record.request_allowance <= MAX_BIGINT
        for moment in (record.created_at, record.updated_at):
            assert moment is None or moment.utcoffset() == timedelta(0)


@given(_ITEMS)
def test_any_preferences_item_maps_or_is_refused(item: dict[str, object]) -> None:
    """Whatever a preferences item holds, it maps to an account or is refused; nothing raises."""
    parsed = parse_account_item(item)
    assert (parsed.record is None) == bool(parsed.problems)
    if parsed.record is not None:
        assert parsed.record.cognito_sub
        assert len(parsed.replaced) <= 1


# ---------------------------------------------------------------- write rule


def test_write_outcome_prefers_the_later_change() -> None:
    """Missing rows are created; a row is updated only by an item changed later than it."""
    earlier, later = NOW - timedelta(hours=1), NOW
    assert write_outcome(None, None) is WriteOutcome.CREATED
    assert write_outcome(earlier, later) is WriteOutcome.UPDATED
    assert write_outcome(later, earlier) is WriteOutcome.UNCHANGED
    assert write_outcome(later, later) is WriteOutcome.UNCHANGED
    assert write_outcome(earlier, None) is WriteOutcome.UNCHANGED


def test_created_rows_take_the_items_timestamps_else_now() -> None:
    """A new row's created_at/updated_at come from the item, one standing in for the other."""
    created, updated = NOW - timedelta(days=2), NOW - timedelta(days=1)
    assert record_timestamps(created, updated, NOW) == (created, updated)
    assert record_timestamps(created, None, NOW) == (created, created)
    assert record_timestamps(None, updated, NOW) == (updated, updated)
    assert record_timestamps(None, None, NOW) == (NOW, NOW)


# ---------------------------------------------------------------- the use case


def legacy_tables(
    sites: list[Mapping[str, object]], preferences: list[Mapping[str, object]]
) -> InMemoryLegacyTables:
    """In-memory SitesTable and UserPreferencesTable holding the items."""
    return InMemoryLegacyTables(
        {"SitesTable": sites, "UserPreferencesTable": preferences},
        key_attributes={"SitesTable": ["siteId"], "UserPreferencesTable": ["userId"]},
        page_size=3,
    )


def run(
    tables: InMemoryLegacyTables, target: InMemoryLegacyImportTarget, *, dry_run: bool = False
) -> ImportReport:
    """The use case on the two in-memory tables, at NOW."""
    return import_legacy(
        tables,
        target,
        lambda: NOW,
        sites_table="SitesTable",
        preferences_table="UserPreferencesTable",
        dry_run=dry_run,
        batch_size=2,
    )


def test_import_counts_then_a_rerun_changes_nothing() -> None:
    """A first run creates every good item and names the bad ones; a second changes nothing;
    a dry run before the first counts the same and writes nothing."""
    sites: list[Mapping[str, object]] = [
        site_item(siteId=f"01JDQ7ZK3M{n:016d}", domains=[f"s{n}.example", "1.2.3.4"], extra=n)
        for n in range(5)
    ]
    sites.append(site_item(siteId="bad"))
    preferences: list[Mapping[str, object]] = [
        {"userId": "owner-1", "emailNotifications": "hourly", "theme": "dark"},
        {"sub": "owner-2"},
    ]
    tables, target = legacy_tables(sites, preferences), InMemoryLegacyImportTarget()

    dry = run(tables, target, dry_run=True)
    assert not target.sites
    assert not target.accounts
    first = run(tables, target)
    assert (dry.dry_run, first.dry_run) == (True, False)
    assert dry.sites == first.sites
    assert dry.accounts == first.accounts
    assert (first.sites.read, first.sites.created, first.sites.refused) == (6, 5, 1)
    assert (first.accounts.read, first.accounts.created) == (2, 2)
    assert first.refused == (Refusal("SitesTable", "bad", "siteId is not a ULID: 'bad'"),)
    assert len(first.dropped_domains) == 5
    assert first.unknown_attributes == {"extra": 5}
    assert [value.key for value in first.replaced] == ["owner-1"]
    assert not first.complete
    stored = target.sites["01JDQ7ZK3M0000000000000003"]
    assert (stored.plan, stored.request_allowance, stored.compliance_level) == (
        "free_tier",
        10_000,
        ComplianceLevel.MAYBE,
    )
    assert (stored.created_at, stored.updated_at) == (NOW, NOW)
    assert target.accounts["owner-1"].email_notifications is EmailNotifications.DAILY

    second = run(tables, target)
    assert (second.sites.unchanged, second.sites.created, second.sites.updated) == (5, 0, 0)
    assert (second.accounts.unchanged, second.accounts.created) == (2, 0)


def test_a_later_item_updates_and_a_later_row_wins() -> None:
    """An item whose updatedAt is later than the row's updates it; a row changed later in
    the new system is kept; optional attributes the item lacks keep the row's values."""
    old = "2024-01-01T00:00:00Z"
    sites: list[Mapping[str, object]] = [
        site_item(siteId=SITE_ID, updatedAt=old, plan="pro"),
        site_item(siteId=SITE_ID[:-1] + "2", updatedAt=old),
    ]
    tables = legacy_tables(sites, [{"userId": "owner-1", "updatedAt": old}])
    target = InMemoryLegacyImportTarget()
    run(tables, target)
    kept_id = SITE_ID[:-1] + "2"
    target.sites[kept_id] = attrs.evolve(target.sites[kept_id], name="renamed", updated_at=NOW)
    later = "2025-06-01T00:00:00Z"
    tables.tables["SitesTable"] = [
        site_item(siteId=SITE_ID, updatedAt=later, name="Shop 2", complianceLevel="yes"),
        site_item(siteId=kept_id, updatedAt=later, name="old system"),
    ]
    tables.tables["UserPreferencesTable"] = [
        {"userId": "owner-1", "updatedAt": later, "emailNotifications": "never"}
    ]
    report = run(tables, target)
    assert (report.sites.updated, report.sites.unchanged) == (1, 1)
    assert report.accounts.updated == 1
    updated = target.sites[SITE_ID]
    assert (updated.name, updated.plan, updated.compliance_level) == (
        "Shop 2",
        "pro",
        ComplianceLevel.REQUIRED,
    )
    assert updated.updated_at == datetime(2025, 6, 1, tzinfo=UTC)
    assert target.sites[kept_id].name == "renamed"
    assert target.accounts["owner-1"].email_notifications is EmailNotifications.NEVER


def test_ids_equal_after_upper_casing_keep_one_item() -> None:
    """Two items whose ids differ only in case: the later one is imported, the other refused."""
    sites: list[Mapping[str, object]] = [
        site_item(siteId=SITE_ID, name="older", updatedAt="2024-01-01T00:00:00Z"),
        site_item(siteId=SITE_ID.lower(), name="newer", updatedAt="2024-02-01T00:00:00Z"),
    ]
    tables, target = legacy_tables(sites, []), InMemoryLegacyImportTarget()
    report = run(tables, target)
    assert (report.sites.read, report.sites.created, report.sites.refused) == (2, 1, 1)
    assert target.sites[SITE_ID].name == "newer"
    assert report.refused[0].key == SITE_ID
    assert "same key" in report.refused[0].reason


def test_a_missing_table_stops_the_run_before_anything_is_written() -> None:
    """A missing preferences table is found before any site is written."""
    tables = InMemoryLegacyTables({"SitesTable": [site_item()]})
    target = InMemoryLegacyImportTarget()
    with pytest.raises(SourceUnavailableError) as raised:
        run(tables, target)
    assert raised.value.source == "UserPreferencesTable"
    assert not target.sites
