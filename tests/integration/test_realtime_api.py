"""GET /api/realtime through the query function's handler (`entrypoints.api.query.make_handler`,
what `entrypoints.lambdas.query.handler` is) with a fixed clock, on PostgreSQL and on the
in-memory fakes: a session that sent an event two minutes ago counts and one whose last event
was six minutes ago does not; pages are ordered by visitors then pathname, ten at most; the
owner check and the parameter check are the query's."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from tests.support.clock import FakeClock
from tests.support.events import OWNER_A, OWNER_B, api_event, body_of

from adapters.config import Settings
from adapters.memory import InMemoryHotCoverage, InMemorySiteRepository
from adapters.memory_realtime import InMemoryRealtimeReader
from adapters.memory_stats import InMemoryReadModel, InMemoryStatsReader
from adapters.postgres.events import PostgresEventStore
from analytics_core.rows import EventRow, InitialEventRow, Row
from analytics_core.sites import ComplianceLevel, Site
from entrypoints import bootstrap
from entrypoints.api import query as query_api
from entrypoints.http import LambdaHandler

SITE = "01JDQ7ZK3M000000000000RA01"
FOREIGN = "01JDQ7ZK3M000000000000RA02"
MISSING = "01JDQ7ZK3M000000000000RA03"
NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
_uids = iter(range(1, 100_000))


def row(session: str, minutes_ago: float, path: str, *, initial: bool = False) -> Row:
    moment = NOW - timedelta(minutes=minutes_ago)
    uid = f"01JDQ7ZK3M00000000000{next(_uids):05d}"
    values = (uid, SITE, session, moment, moment.date(), "pageview", path, None)
    return InitialEventRow(*values) if initial else EventRow(*values)


ROWS: tuple[Row, ...] = (
    row("recent", 3, "/", initial=True),
    row("recent", 2, "/pricing"),  # two minutes ago: on the site now
    row("gone", 7, "/", initial=True),
    row("gone", 6, "/pricing"),  # six minutes ago: not any more
    *(row("reader", 1, f"/docs/{n:02d}") for n in range(12)),  # twelve pages, one visitor each
    row("reader", 1, "/pricing"),
    row("third", 4, "/pricing", initial=True),
)
EXPECTED_PAGES = [
    {"value": "/pricing", "visitors": 3},  # recent, reader, third
    {"value": "/", "visitors": 1},  # recent's initial event, three minutes ago
    *({"value": f"/docs/{n:02d}", "visitors": 1} for n in range(8)),  # then by pathname
]


def site(site_id: str, owner: str) -> Site:
    return Site(
        site_id,
        owner,
        "Site",
        ("example.com",),
        "free_tier",
        10_000,
        ComplianceLevel.MAYBE,
        NOW,
        NOW,
    )


def memory_handler(rows: Sequence[Row]) -> LambdaHandler:
    sites = InMemorySiteRepository()
    sites.put(site(SITE, OWNER_A))
    sites.put(site(FOREIGN, OWNER_B))
    store = InMemoryStatsReader("postgres")
    store.add(
        [r for r in rows if not isinstance(r, InitialEventRow)],
        [r for r in rows if isinstance(r, InitialEventRow)],
    )
    services = bootstrap.build(
        Settings(),
        sites=sites,
        clock=FakeClock(NOW),
        hot_stats=store,
        cold_stats=InMemoryStatsReader("athena"),
        hot_coverage=InMemoryHotCoverage(),
        query_read_model=InMemoryReadModel(store),
        realtime=InMemoryRealtimeReader(store),
    )
    return query_api.make_handler(services)


@pytest.fixture(params=["memory", "postgres"])
def handler(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[LambdaHandler]:
    if request.param == "memory":
        yield memory_handler(ROWS)
        return
    request.getfixturevalue("db")  # an emptied, migrated database
    url: str = request.getfixturevalue("database_url")
    with psycopg.connect(url, autocommit=True) as conn:
        for site_id, owner in ((SITE, OWNER_A), (FOREIGN, OWNER_B)):
            conn.execute(
                "INSERT INTO sites (site_id, owner_sub, name, domains) "
                "VALUES (%s, %s, 'Site', ARRAY['example.com'])",
                (site_id, owner),
            )
    settings = Settings.from_environ({"DATABASE_URL": url, "LOCAL_LAKE_DIR": str(tmp_path)})
    services = bootstrap.build(settings, application="query", clock=FakeClock(NOW))
    try:
        # The event store's path: recorded as pending, not folded into the read model.
        PostgresEventStore(services.pool).store(ROWS, [])
        yield query_api.make_handler(services)
    finally:
        services.close()


def get(handler: LambdaHandler, query: dict[str, str], sub: str = OWNER_A) -> dict[str, Any]:
    return handler(api_event("GET", "/api/realtime", query=query, sub=sub), None)


def test_realtime_counts_the_last_five_minutes_and_ranks_ten_pages(
    handler: LambdaHandler,
) -> None:
    """The sessions active within five minutes count (two minutes ago yes, six no); the top
    ten pages by visitors, ties by pathname."""
    response = get(handler, {"siteId": SITE})
    assert response["statusCode"] == 200, response["body"]
    assert response["headers"]["Content-Type"] == "application/json"
    assert body_of(response) == {"siteId": SITE, "visitors": 3, "pages": EXPECTED_PAGES}


def test_a_site_not_the_callers_is_a_404(handler: LambdaHandler) -> None:
    """Someone else's site and a missing one answer the same 404."""
    foreign, missing = get(handler, {"siteId": FOREIGN}), get(handler, {"siteId": MISSING})
    assert foreign["statusCode"] == missing["statusCode"] == 404
    assert body_of(foreign) == body_of(missing)
    assert get(handler, {"siteId": SITE}, sub=OWNER_B)["statusCode"] == 404


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({}, "siteId"),
        ({"siteId": "not-a-ulid"}, "siteId"),
        ({"siteId": f"{SITE},{FOREIGN}"}, "siteId"),
        ({"siteId": SITE, "startDate": "2026-11-25"}, "startDate"),
    ],
)
def test_a_missing_or_invalid_site_id_is_a_400_naming_it(
    handler: LambdaHandler, query: dict[str, str], field: str
) -> None:
    """No siteId, a malformed one, two of them or another parameter: a 400 naming it."""
    response = get(handler, query)
    assert response["statusCode"] == 400, response["body"]
    assert set(body_of(response)["error"]["fields"]) == {field}


def test_without_a_caller_it_is_a_401(handler: LambdaHandler) -> None:
    """Like every API route, realtime needs the JWT's subject."""
    response = handler(api_event("GET", "/api/realtime", query={"siteId": SITE}, sub=None), None)
    assert response["statusCode"] == 401
