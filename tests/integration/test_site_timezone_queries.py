"""Acceptance: a site in America/New_York queried through GET /api/query's handler (the hot
store), with events around local midnight and across the 2026-11-01 DST change (clocks go
back from EDT, UTC-4, to EST, UTC-5, at 06:00 UTC): daily buckets are local days, hour buckets
are local hours (25 on 2026-11-01, labelled with their offsets); after a PUT of the site's
zone to UTC (through the sites handler), the same query answers UTC days. On PostgreSQL (rows
stored by the event store, folded by the query) and on the in-memory fakes."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from tests.support.clock import FakeClock
from tests.support.events import OWNER_A, api_event, body_of

from adapters.config import Settings
from adapters.memory import InMemoryHotCoverage, InMemorySiteRepository
from adapters.memory_stats import InMemoryReadModel, InMemoryStatsReader
from adapters.postgres.events import PostgresEventStore
from analytics_core.rows import EventRow, InitialEventRow
from entrypoints import bootstrap
from entrypoints.api import query as query_api
from entrypoints.api import sites as sites_api
from entrypoints.http import LambdaHandler

NOW = datetime(2026, 11, 5, 12, 0, tzinfo=UTC)  # the range is well inside the hot window


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


# One session per moment, each an initial pageview then a pageview a minute later (same hour).
MOMENTS = {
    "A": at("2026-10-31T03:30"),  # New York 10-30 23:30 EDT: before the local range
    "B": at("2026-10-31T04:30"),  # New York 10-31 00:30 EDT
    "C": at("2026-11-01T05:30"),  # New York 11-01 01:30 EDT, the first 1 am
    "D": at("2026-11-01T06:30"),  # New York 11-01 01:30 EST, the second 1 am
    "E": at("2026-11-02T03:30"),  # New York 11-01 22:30 EST (UTC: 11-02, after the UTC range)
    "F": at("2026-11-02T05:30"),  # New York 11-02 00:30 EST: after both ranges
}
PARAMS = {"startDate": "2026-10-31", "endDate": "2026-11-01", "metrics": "visitors,pageviews"}


class World:
    """The sites and query handlers over one set of services, and a site created by POST."""

    def __init__(self, services: bootstrap.Services, store: Any) -> None:
        self.sites: LambdaHandler = sites_api.make_handler(services)
        self.query: LambdaHandler = query_api.make_handler(services)
        body = {"name": "NY", "domains": ["ny.example"], "timezone": "America/New_York"}
        created = self.sites(api_event("POST", "/api/sites", body=body), None)
        assert created["statusCode"] == 201, created["body"]
        self.site_id: str = body_of(created)["siteId"]
        events: list[EventRow] = []
        initial: list[InitialEventRow] = []
        for n, (session, moment) in enumerate(MOMENTS.items()):
            uid = f"01JDQ7ZK3M00000000000000{n:02d}"
            initial.append(
                InitialEventRow(
                    uid + "I0"[:0],
                    self.site_id,
                    session,
                    moment,
                    moment.date(),
                    "pageview",
                    "/",
                    None,
                )
            )
            later = moment.replace(minute=31)
            events.append(
                EventRow(
                    f"01JDQ7ZK3M00000000000001{n:02d}",
                    self.site_id,
                    session,
                    later,
                    later.date(),
                    "pageview",
                    "/next",
                    None,
                )
            )
        store(events, initial)

    def get(self, **extra: str) -> dict[str, Any]:
        query = {"siteId": self.site_id, **PARAMS, **extra}
        response = self.query(api_event("GET", "/api/query", query=query, sub=OWNER_A), None)
        assert response["statusCode"] == 200, response["body"]
        body: dict[str, Any] = body_of(response)
        return body

    def change_zone(self, zone: str) -> dict[str, Any]:
        path = f"/api/sites/{self.site_id}"
        event = api_event(
            "PUT", path, body={"timezone": zone}, path_parameters={"id": self.site_id}
        )
        response = self.sites(event, None)
        assert response["statusCode"] == 200, response["body"]
        body: dict[str, Any] = body_of(response)
        return body


@pytest.fixture(params=["postgres", "memory"])
def world(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[World]:
    if request.param == "memory":
        hot = InMemoryStatsReader("postgres")
        read_model = InMemoryReadModel(hot)
        services = bootstrap.build(
            Settings(),
            sites=InMemorySiteRepository(),
            clock=FakeClock(NOW),
            hot_stats=hot,
            cold_stats=InMemoryStatsReader("athena"),
            hot_coverage=InMemoryHotCoverage(),
            query_read_model=read_model,
            read_model=read_model,
        )
        yield World(services, lambda events, initial: read_model.record([*events, *initial]))
        return
    request.getfixturevalue("db")  # an emptied, migrated database
    url: str = request.getfixturevalue("database_url")
    settings = Settings.from_environ({"DATABASE_URL": url, "LOCAL_LAKE_DIR": str(tmp_path)})
    services = bootstrap.build(settings, application="query", clock=FakeClock(NOW))
    try:
        store = PostgresEventStore(services.pool)
        yield World(services, lambda events, initial: store.store([*initial, *events], []))
    finally:
        services.close()


def by_bucket(body: dict[str, Any]) -> dict[str, tuple[int, int]]:
    return {b["bucket"]: (b["visitors"], b["pageviews"]) for b in body["timeseries"]}


def test_a_new_york_site_has_local_days_and_hours_until_it_moves_to_utc(world: World) -> None:
    """Local days (B on 10-31; C, D, E on 11-01), 49 local hour buckets with the repeated
    1 am as two labelled by offset; after the PUT to UTC, UTC days (A, B; C, D) and 48 `Z`
    hours."""
    daily = world.get(interval="day")
    assert daily["source"] == "postgres"
    assert daily["query"]["timezone"] == "America/New_York"
    assert daily["totals"] == {"visitors": 4, "pageviews": 8}
    assert by_bucket(daily) == {"2026-10-31": (1, 2), "2026-11-01": (3, 6)}

    hourly = by_bucket(world.get(interval="hour"))
    assert len(hourly) == 24 + 25
    assert [b for b in hourly if b.startswith("2026-11-01T01:")] == [
        "2026-11-01T01:00:00-04:00",
        "2026-11-01T01:00:00-05:00",
    ]
    buckets = list(hourly)
    assert (buckets[0], buckets[-1]) == ("2026-10-31T00:00:00-04:00", "2026-11-01T23:00:00-05:00")
    busy = {bucket: counts for bucket, counts in hourly.items() if counts != (0, 0)}
    assert busy == {
        "2026-10-31T00:00:00-04:00": (1, 2),  # B
        "2026-11-01T01:00:00-04:00": (1, 2),  # C
        "2026-11-01T01:00:00-05:00": (1, 2),  # D
        "2026-11-01T22:00:00-05:00": (1, 2),  # E
    }

    assert world.change_zone("UTC")["timezone"] == "UTC"
    utc_daily = world.get(interval="day")
    assert "timezone" not in utc_daily["query"]
    assert utc_daily["totals"] == {"visitors": 4, "pageviews": 8}
    assert by_bucket(utc_daily) == {"2026-10-31": (2, 4), "2026-11-01": (2, 4)}  # A, B; C, D
    utc_hourly = by_bucket(world.get(interval="hour"))
    assert len(utc_hourly) == 48
    assert all(bucket.endswith(":00:00Z") for bucket in utc_hourly)
    assert {b: c for b, c in utc_hourly.items() if c != (0, 0)} == {
        "2026-10-31T03:00:00Z": (1, 2),
        "2026-10-31T04:00:00Z": (1, 2),
        "2026-11-01T05:00:00Z": (1, 2),
        "2026-11-01T06:00:00Z": (1, 2),
    }
