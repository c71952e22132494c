"""The query depth's 400s through GET /api/query's handler (over fakes), each naming its
field: sites of different time zones (`siteId`), an invalid property key (`groupBy`,
`filters`), a goal without a conversion metric and the reverse (`goal`), `percentage` without
a breakdown (`metrics`). Each case has a valid twin that answers 200, so that the 400 is about
the one thing."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from tests.support.clock import FakeClock
from tests.support.events import OWNER_A, api_event, body_of

from adapters.config import Settings
from adapters.memory import InMemoryHotCoverage, InMemorySiteRepository
from adapters.memory_stats import InMemoryReadModel, InMemoryStatsReader
from analytics_core.sites import ComplianceLevel, Site
from entrypoints import bootstrap
from entrypoints.api import query as query_api
from entrypoints.http import LambdaHandler

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
UTC_SITE = "01JDQ7ZK3M000000000000TZ01"
UTC_TOO = "01JDQ7ZK3M000000000000TZ02"
BERLIN = "01JDQ7ZK3M000000000000TZ03"


def site(site_id: str, timezone: str) -> Site:
    return Site(
        site_id,
        OWNER_A,
        "Site",
        ("example.com",),
        "free_tier",
        10_000,
        ComplianceLevel.MAYBE,
        NOW,
        NOW,
        timezone=timezone,
    )


@pytest.fixture(scope="module")
def handler() -> LambdaHandler:
    sites = InMemorySiteRepository()
    for site_id, zone in ((UTC_SITE, "UTC"), (UTC_TOO, "UTC"), (BERLIN, "Europe/Berlin")):
        sites.put(site(site_id, zone))
    hot = InMemoryStatsReader("postgres")
    services = bootstrap.build(
        Settings(),
        sites=sites,
        clock=FakeClock(NOW),
        hot_stats=hot,
        cold_stats=InMemoryStatsReader("athena"),
        hot_coverage=InMemoryHotCoverage(),
        query_read_model=InMemoryReadModel(hot),
    )
    return query_api.make_handler(services)


def get(handler: LambdaHandler, **params: str) -> dict[str, Any]:
    query = {"siteId": UTC_SITE, "startDate": "2026-11-20", "endDate": "2026-11-24", **params}
    return handler(api_event("GET", "/api/query", query=query), None)


CASES = [
    # (refused parameters, the field named, the valid twin's parameters)
    ({"siteId": f"{UTC_SITE},{BERLIN}"}, "siteId", {"siteId": f"{UTC_SITE},{UTC_TOO}"}),
    ({"groupBy": "property:bad key"}, "groupBy", {"groupBy": "property:good_key"}),
    ({"filters": "property:bad key==x"}, "filters", {"filters": "property:good_key==x"}),
    ({"goal": "signup"}, "goal", {"goal": "signup", "metrics": "visitors,conversions"}),
    ({"metrics": "conversions"}, "goal", {"metrics": "conversions", "goal": "signup"}),
    ({"metrics": "conversion_rate"}, "goal", {"metrics": "conversion_rate", "goal": "x"}),
    (
        {"metrics": "visitors,percentage"},
        "metrics",
        {"metrics": "percentage", "groupBy": "pathname"},
    ),
]


@pytest.mark.parametrize(("refused", "field", "valid"), CASES)
def test_each_rule_is_a_400_naming_its_field(
    handler: LambdaHandler, refused: dict[str, str], field: str, valid: dict[str, str]
) -> None:
    """The refused query is a 400 whose `fields` name exactly the field; its twin is a 200."""
    response = get(handler, **refused)
    assert response["statusCode"] == 400, response["body"]
    error = body_of(response)["error"]
    assert error["code"] == "invalid_request"
    assert set(error["fields"]) == {field}, error
    twin = get(handler, **valid)
    assert twin["statusCode"] == 200, twin["body"]


def test_sites_of_different_zones_are_named_with_their_zones(handler: LambdaHandler) -> None:
    """The mixed-zone 400 says which zones met, and a Berlin site alone answers in Berlin."""
    mixed = body_of(get(handler, siteId=f"{BERLIN},{UTC_SITE}"))["error"]["fields"]["siteId"]
    assert "Europe/Berlin" in mixed
    assert "UTC" in mixed
    alone = get(handler, siteId=BERLIN)
    assert alone["statusCode"] == 200, alone["body"]
    assert body_of(alone)["query"]["timezone"] == "Europe/Berlin"
