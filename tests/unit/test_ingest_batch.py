"""process_batch with in-memory fakes: outcomes, exactly-once storage, allowance, cold forward."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from tests.support.ingest import (
    CHROME,
    GOOGLEBOT,
    IPHONE,
    OTHER_SITE,
    SITE,
    VISITOR_IP,
    envelope,
    payload,
    uid,
)
from tests.support.world import World, world_with_site

from analytics_core.errors import ColdForwardError, StoreUnavailableError
from analytics_core.outcomes import Outcome
from analytics_core.rows import InitialEventRow
from analytics_core.sites import ComplianceLevel


@pytest.fixture
def world() -> World:
    return world_with_site()


def test_counts_add_up_and_accepted_rows_are_stored_and_forwarded(world: World) -> None:
    """Good records are stored and forwarded once; every record has one outcome."""
    result = world.run(1, 2, 3)
    assert result.outcomes == (Outcome.ACCEPTED,) * 3
    assert result.rows_written == 3
    assert sum(result.counts().values()) == 3
    assert sorted(r.event_uid for r in world.store.all_rows()) == [uid(1), uid(2), uid(3)]
    assert sorted(r.event_uid for r in world.cold.events) == [uid(1), uid(2), uid(3)]
    assert world.allowance() == 10_000 - 3


def test_each_rejection_has_its_outcome_and_costs_nothing(world: World) -> None:
    """Malformed, unknown site, spoofed origins, bots and in-batch copies are counted apart."""
    records: list[dict[str, object] | bytes | None] = [
        envelope(1),  # accepted
        None,  # undecodable
        b"not json",
        envelope(2, {"type": "event"}),  # body without session_id/event/pathname
        envelope(3, site_id=OTHER_SITE),
        envelope(4, site_id="not-a-site"),
        envelope(5, origin="https://evil-example.com"),
        envelope(6, origin="https://example.com.evil.net"),
        envelope(7, user_agent=GOOGLEBOT),
        envelope(8, user_agent=""),
        envelope(9, user_agent="curl/8.5.0"),
        envelope(1),  # the same uid again in this batch
    ]
    result = world.process(records)
    assert result.outcomes == (
        Outcome.ACCEPTED,
        Outcome.MALFORMED,
        Outcome.MALFORMED,
        Outcome.MALFORMED,
        Outcome.UNKNOWN_SITE,
        Outcome.MALFORMED,
        Outcome.DOMAIN_MISMATCH,
        Outcome.DOMAIN_MISMATCH,
        Outcome.BOT,
        Outcome.BOT,
        Outcome.BOT,
        Outcome.DUPLICATE,
    )
    assert sum(result.counts().values()) == len(records)
    assert world.allowance() == 10_000 - 1
    assert len(world.cold.events) == 1
    day = date(2026, 11, 25)
    assert world.store.outcomes[SITE, day, Outcome.BOT] == 3
    assert world.store.outcomes[SITE, day, Outcome.DOMAIN_MISMATCH] == 2
    assert world.store.outcomes[SITE, day, Outcome.MALFORMED] == 1
    assert world.store.outcomes[SITE, day, Outcome.ACCEPTED] == 1
    assert not any(site == OTHER_SITE for site, _, _ in world.store.outcomes)


def test_origin_rules(world: World) -> None:
    """Subdomains, ports, case and a trailing dot match; a missing Origin falls back to Referer."""
    result = world.process(
        [
            envelope(1, origin="https://blog.Example.COM:8443"),
            envelope(2, origin="https://example.com."),
            envelope(3, origin=None, referer="https://example.com/page?x=1"),
            envelope(4, origin=None, referer=None),
            envelope(5, origin="null", referer="https://www.example.com/"),
        ]
    )
    assert result.outcomes == (
        Outcome.ACCEPTED,
        Outcome.ACCEPTED,
        Outcome.ACCEPTED,
        Outcome.DOMAIN_MISMATCH,
        Outcome.ACCEPTED,
    )


def test_idn_domains_compare_in_punycode() -> None:
    """A site registered as an IDN accepts an Origin written in Unicode or in punycode."""
    world = world_with_site(domains=("xn--bcher-kva.example",))
    result = world.process(
        [
            envelope(1, origin="https://bücher.example"),
            envelope(2, origin="https://XN--BCHER-KVA.example"),
        ]
    )
    assert result.outcomes == (Outcome.ACCEPTED, Outcome.ACCEPTED)


def test_redelivery_and_overlap_store_once_and_charge_once(world: World) -> None:
    """The same batch twice, then an overlapping one: each event stored and charged once,
    and the duplicates are forwarded again (a failed cold forward may have lost them)."""
    world.run(1, 2, 3)
    again = world.run(1, 2, 3)
    assert again.outcomes == (Outcome.DUPLICATE,) * 3
    assert again.rows_written == 0
    overlap = world.run(3, 4)
    assert overlap.outcomes == (Outcome.DUPLICATE, Outcome.ACCEPTED)
    assert len(world.store.all_rows()) == 4
    assert world.allowance() == 10_000 - 4
    assert [r.event_uid for r in world.cold.events].count(uid(3)) == 3


def test_allowance_caps_accepted_events_across_batches() -> None:
    """A site with allowance 3 stores 3 events in all, never goes below 0, and duplicates or
    rejected records cost nothing."""
    world = world_with_site(allowance=3)
    first = world.run(1, 2)
    assert first.rows_written == 2
    second = world.process(
        [envelope(1), envelope(9, user_agent=GOOGLEBOT), envelope(3), envelope(4)]
    )
    assert second.outcomes == (
        Outcome.DUPLICATE,
        Outcome.BOT,
        Outcome.ACCEPTED,
        Outcome.OVER_ALLOWANCE,
    )
    assert world.allowance() == 0
    third = world.run(5)
    assert third.outcomes == (Outcome.OVER_ALLOWANCE,)
    assert world.allowance() == 0
    assert len(world.store.all_rows()) == 3
    assert {r.event_uid for r in world.cold.events} == {uid(1), uid(2), uid(3)}


@pytest.mark.parametrize(
    ("timestamp_ms", "stored"),
    [
        (None, datetime(2026, 11, 25, 12, 0, tzinfo=UTC)),
        (0, datetime(2026, 11, 25, 12, 0, tzinfo=UTC)),  # 1970
        (32_503_680_000_000, datetime(2026, 11, 25, 12, 0, tzinfo=UTC)),  # 3000
        (1_795_608_000_000 - 86_400_000 - 1, datetime(2026, 11, 25, 12, 0, tzinfo=UTC)),
        (1_795_608_000_000 - 13 * 3_600_000, datetime(2026, 11, 24, 23, 0, tzinfo=UTC)),
        (1_795_608_000_000 + 86_400_000, datetime(2026, 11, 26, 12, 0, tzinfo=UTC)),
        (1_795_608_000_123.4, datetime(2026, 11, 25, 12, 0, 0, 123000, tzinfo=UTC)),
        ("1795608000000", datetime(2026, 11, 25, 12, 0, tzinfo=UTC)),
        (True, datetime(2026, 11, 25, 12, 0, tzinfo=UTC)),
    ],
)
def test_client_timestamps_more_than_a_day_off_are_replaced(
    world: World, timestamp_ms: object, stored: datetime
) -> None:
    """A client time within 24 h of receipt is kept (to the ms), else received_at; dt follows it."""
    body = payload() if timestamp_ms is None else payload(timestamp=timestamp_ms)
    world.process([envelope(1, body)])
    (row,) = world.store.all_rows()
    assert row.timestamp == stored
    assert row.dt == stored.date()


def test_store_failure_fails_the_batch_and_forwards_nothing(world: World) -> None:
    """A database outage raises and leaves nothing stored, charged or forwarded."""
    world.store.unavailable = True
    with pytest.raises(StoreUnavailableError):
        world.run(1, 2)
    world.store.unavailable = False
    assert world.store.all_rows() == []
    assert world.allowance() == 10_000
    assert world.cold.calls == 0


def test_cold_forward_failure_fails_the_batch_and_redelivery_forwards_it(world: World) -> None:
    """When the cold forward fails the batch fails (rows stay stored); the redelivery finds
    duplicates, charges nothing and forwards every row."""
    world.cold.failures = 1
    with pytest.raises(ColdForwardError):
        world.run(1, 2)
    assert len(world.store.all_rows()) == 2
    again = world.run(1, 2)
    assert again.outcomes == (Outcome.DUPLICATE, Outcome.DUPLICATE)
    assert sorted(r.event_uid for r in world.cold.events) == [uid(1), uid(2)]
    assert world.allowance() == 10_000 - 2


def test_initial_events_are_enriched(world: World) -> None:
    """Browser, OS, device, CloudFront geo (region with its country prefix), screen, UTM,
    referrer domain without www."""
    body = payload(
        "initial",
        referrer="https://www.News.ycombinator.com/item?id=1",
        url="https://example.com/?utm_source=hn&utm_medium=social&utm_campaign=launch",
        screen={"width": 390, "height": 844},
    )
    geo = {"country": "DE", "region": "BY", "city": "München"}
    world.process([envelope(1, body, user_agent=IPHONE, geo=geo, ip=None)])
    (row,) = world.store.initial_events.values()
    assert (row.browser, row.os, row.device) == ("Mobile Safari", "iOS", "mobile")
    assert (row.country, row.region, row.city) == ("DE", "DE-BY", None)  # level 1: no city
    assert (row.screen_width, row.screen_height) == (390, 844)
    assert (row.utm_source, row.utm_medium, row.utm_campaign) == ("hn", "social", "launch")
    assert (row.utm_content, row.utm_term) == (None, None)
    assert row.referer_domain == "news.ycombinator.com"
    assert row.referer == "https://www.News.ycombinator.com/item"  # level 1: no query


def test_utm_object_wins_over_the_url_and_geoip_is_the_fallback() -> None:
    """payload.utm is used when present; without CloudFront headers the IP is looked up."""
    world = world_with_site(level=ComplianceLevel.NOT_REQUIRED)
    body = payload(
        "initial",
        utm={"source": "newsletter", "medium": "email", "term": 5},
        url="https://example.com/?utm_source=ignored",
    )
    world.process([envelope(1, body, ip=VISITOR_IP, geo=None)])
    (row,) = world.store.initial_events.values()
    assert (row.utm_source, row.utm_medium, row.utm_term) == ("newsletter", "email", None)
    assert (row.country, row.region, row.city) == ("FR", "FR-IDF", "Paris")


def test_own_domain_referrer_is_no_referral_and_unknown_geo_is_null(world: World) -> None:
    """A referrer on the site's own domain (or a subdomain) leaves both referer fields null;
    an address GeoIP does not know leaves geo null."""
    body = payload("initial", referrer="https://docs.example.com/start")
    world.process([envelope(1, body, ip="198.51.100.1")])
    (row,) = world.store.initial_events.values()
    assert (row.referer, row.referer_domain) == (None, None)
    assert (row.country, row.region, row.city) == (None, None, None)


@pytest.mark.parametrize(
    ("level", "expected"),
    [
        (
            ComplianceLevel.REQUIRED,
            {
                "pathname": "/checkout",
                "referer": None,
                "referer_domain": "shop.test",
                "country": "DE",
                "region": None,
                "city": None,
                "properties": {
                    "email": "[redacted]",
                    "ip": "[redacted]",
                    "v6": "[redacted]",
                    "plan": "pro",
                    "n": 3,
                },
            },
        ),
        (
            ComplianceLevel.MAYBE,
            {
                "pathname": "/checkout",
                "referer": "https://shop.test/cart",
                "referer_domain": "shop.test",
                "country": "DE",
                "region": "DE-BE",
                "city": None,
                "properties": {
                    "email": "[redacted]",
                    "ip": "[redacted]",
                    "v6": "[redacted]",
                    "plan": "pro",
                    "n": 3,
                },
            },
        ),
        (
            ComplianceLevel.NOT_REQUIRED,
            {
                "pathname": "/checkout?step=2#pay",
                "referer": "https://shop.test/cart?item=7#top",
                "referer_domain": "shop.test",
                "country": "DE",
                "region": "DE-BE",
                "city": "Berlin",
                "properties": {
                    "email": "Write to jane.doe@example.org",
                    "ip": "from 192.0.2.55",
                    "v6": "2001:db8::1",
                    "plan": "pro",
                    "n": 3,
                },
            },
        ),
    ],
)
def test_compliance_table(level: ComplianceLevel, expected: dict[str, object]) -> None:
    """Each level keeps exactly what the brief's table allows."""
    world = world_with_site(level=level)
    body = payload(
        "initial",
        session_id="browser-session",
        pathname="/checkout?step=2#pay",
        referrer="https://shop.test/cart?item=7#top",
        properties={
            "email": "Write to jane.doe@example.org",
            "ip": "from 192.0.2.55",
            "v6": "2001:db8::1",
            "plan": "pro",
            "n": 3,
        },
    )
    geo = {"country": "DE", "region": "BE", "city": "Berlin"}
    world.process([envelope(1, body, geo=geo, ip=None)])
    (row,) = world.store.initial_events.values()
    assert isinstance(row, InitialEventRow)
    for field, value in expected.items():
        assert getattr(row, field) == value, field
    if level is ComplianceLevel.REQUIRED:
        assert row.session_id != "browser-session"
        assert len(row.session_id) == 32
    else:
        assert row.session_id == "browser-session"
    stored = repr(row)
    assert VISITOR_IP not in stored
    assert CHROME not in stored


def test_level_zero_session_ids_are_stable_within_a_day_and_differ_across_days() -> None:
    """The same browser session hashes alike on one day (one salt) and unlike on the next."""
    world = world_with_site(level=ComplianceLevel.REQUIRED)
    world.process(
        [
            envelope(1, payload(session_id="s")),
            envelope(2, payload(session_id="s")),
            envelope(3, payload(session_id="s"), received_at="2026-11-26T12:00:00.000Z"),
            envelope(4, payload(session_id="t")),
        ]
    )
    by_uid = {row.event_uid: row.session_id for row in world.store.all_rows()}
    assert by_uid[uid(1)] == by_uid[uid(2)]
    assert by_uid[uid(1)] != by_uid[uid(3)]
    assert by_uid[uid(1)] != by_uid[uid(4)]
    assert set(world.salts.salts) == {date(2026, 11, 25), date(2026, 11, 26)}
