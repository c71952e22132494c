"""Site configs (cached, never the allowance) and the daily salts of compliance level 0."""

from __future__ import annotations

from datetime import UTC, date, datetime

import psycopg
import pytest
from tests.support.clock import FakeClock
from tests.support.db import fetch_all
from tests.support.ingest import OTHER_SITE, SITE

from adapters.config import Settings
from adapters.memory import InMemoryDailySalts, InMemoryEventPartitions
from adapters.postgres.pool import Pool
from adapters.postgres.salts import PostgresDailySalts
from adapters.postgres.site_configs import PostgresSiteConfigs
from analytics_core.outcomes import SiteConfig
from analytics_core.ports import DailySalts
from analytics_core.privacy import SALT_BYTES
from analytics_core.sites import ComplianceLevel
from entrypoints import bootstrap
from entrypoints.operations import run_maintenance

TODAY = date(2026, 11, 25)


def add_site(url: str, site_id: str, domains: list[str], level: int = 1) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO sites (site_id, owner_sub, name, domains, compliance_level) "
            "VALUES (%s, 'o', 'n', %s, %s)",
            (site_id, domains, level),
        )


def test_site_configs_load_in_one_query_and_are_cached_for_a_minute(
    db: Pool, database_url: str
) -> None:
    """Known sites come back with domains and level; changes (and new sites) show after the TTL."""
    add_site(database_url, SITE, ["example.com", "example.org"], level=0)
    clock = FakeClock()
    configs = PostgresSiteConfigs(db, clock)
    expected = SiteConfig(SITE, ("example.com", "example.org"), ComplianceLevel.REQUIRED)
    assert configs.load([SITE, OTHER_SITE]) == {SITE: expected}
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("UPDATE sites SET domains = ARRAY['example.net'] WHERE site_id = %s", (SITE,))
    add_site(database_url, OTHER_SITE, ["other.example"])
    assert configs.load([SITE, OTHER_SITE]) == {SITE: expected}  # both answers cached
    clock.advance(seconds=61)
    fresh = configs.load([SITE, OTHER_SITE])
    assert fresh[SITE].domains == ("example.net",)
    assert fresh[OTHER_SITE].domains == ("other.example",)


@pytest.fixture(params=["memory", "postgres"])
def salts(request: pytest.FixtureRequest) -> DailySalts:
    if request.param == "memory":
        return InMemoryDailySalts()
    pool: Pool = request.getfixturevalue("db")
    return PostgresDailySalts(pool, FakeClock(datetime(2026, 11, 25, 9, 0, tzinfo=UTC)))


def test_a_salt_is_random_created_once_per_day_and_deleted(salts: DailySalts) -> None:
    """One salt per day, stable once created, random; deleting removes the older days only."""
    first = salts.salt_for(TODAY)
    assert len(first) == SALT_BYTES
    assert salts.salt_for(TODAY) == first
    yesterday = salts.salt_for(date(2026, 11, 24))
    older = salts.salt_for(date(2026, 11, 23))
    assert len({first, yesterday, older}) == 3
    assert salts.delete_before(date(2026, 11, 24)) == 1
    assert salts.salt_for(TODAY) == first
    assert salts.salt_for(date(2026, 11, 23)) != older  # a new one: the old one is gone


def test_two_containers_agree_on_the_salt_of_a_day(db: Pool, database_url: str) -> None:
    """Concurrent first uses end with the same stored salt."""
    clock = FakeClock()
    one = PostgresDailySalts(db, clock, random_bytes=lambda n: b"\x01" * n)
    two = PostgresDailySalts(db, clock, random_bytes=lambda n: b"\x02" * n)
    assert one.salt_for(TODAY) == two.salt_for(TODAY) == b"\x01" * SALT_BYTES
    assert fetch_all(database_url, "SELECT count(*) FROM daily_salts") == [(1,)]


def test_maintenance_deletes_salts_two_days_old(db: Pool, database_url: str) -> None:
    """The daily maintenance keeps today's and yesterday's salts and deletes older ones,
    and a container's cache does not keep a deleted salt alive."""
    clock = FakeClock(datetime(2026, 11, 25, 3, 0, tzinfo=UTC))
    salts = PostgresDailySalts(db, clock)
    kept = {day: salts.salt_for(day) for day in (date(2026, 11, 23), date(2026, 11, 24), TODAY)}
    services = bootstrap.build(
        Settings(database_url=database_url),
        pool=db,
        clock=clock,
        daily_salts=salts,
        partitions=InMemoryEventPartitions(),
    )
    summary = run_maintenance(services)
    assert summary["expiredSalts"] == 1
    days = [day for (day,) in fetch_all(database_url, "SELECT day FROM daily_salts ORDER BY day")]
    assert days == [date(2026, 11, 24), TODAY]
    other = PostgresDailySalts(db, clock)
    assert other.salt_for(date(2026, 11, 24)) == kept[date(2026, 11, 24)]
    assert salts.salt_for(date(2026, 11, 23)) != kept[date(2026, 11, 23)]
