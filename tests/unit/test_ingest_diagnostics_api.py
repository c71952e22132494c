"""GET /api/sites/{id}/ingest over fakes: every day of the range with all seven outcomes
(zeros included), the default and longest ranges, 400 naming a bad date, 404 for a site
that is not the caller's."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from tests.support.clock import FakeClock
from tests.support.events import OWNER_A, OWNER_B, api_event, body_of

from adapters.config import Settings
from adapters.memory import InMemoryIngestOutcomes, InMemorySiteRepository
from analytics_core.outcomes import Outcome, OutcomeTally
from analytics_core.sites import ComplianceLevel, Site
from entrypoints import bootstrap
from entrypoints.api import sites as sites_api
from entrypoints.http import LambdaHandler

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
SITE = "01JDQ7ZK3M000000000000DG01"
FOREIGN = "01JDQ7ZK3M000000000000DG02"
MISSING = "01JDQ7ZK3M000000000000DG03"
ZEROS = {
    "accepted": 0,
    "duplicate": 0,
    "malformed": 0,
    "unknownSite": 0,
    "domainMismatch": 0,
    "bot": 0,
    "overAllowance": 0,
}


@pytest.fixture
def handler() -> LambdaHandler:
    sites = InMemorySiteRepository()
    for site_id, owner in ((SITE, OWNER_A), (FOREIGN, OWNER_B)):
        sites.put(
            Site(
                site_id, owner, "s", ("a.example",), "free_tier", 5, ComplianceLevel.MAYBE, NOW, NOW
            )
        )
    outcomes = InMemoryIngestOutcomes()
    for day, outcome, count in (
        (date(2026, 11, 20), Outcome.ACCEPTED, 3),
        (date(2026, 11, 20), Outcome.BOT, 2),
        (date(2026, 11, 22), Outcome.DOMAIN_MISMATCH, 1),
        (date(2026, 11, 22), Outcome.OVER_ALLOWANCE, 4),
        (date(2026, 10, 1), Outcome.ACCEPTED, 9),  # outside the ranges asked for below
    ):
        outcomes.add(OutcomeTally(SITE, day, outcome, count))
    outcomes.add(OutcomeTally(FOREIGN, date(2026, 11, 20), Outcome.ACCEPTED, 7))
    services = bootstrap.build(
        Settings(), sites=sites, ingest_outcomes=outcomes, clock=FakeClock(NOW)
    )
    return sites_api.make_handler(services)


def get(handler: LambdaHandler, site_id: str, sub: str = OWNER_A, **query: str) -> dict[str, Any]:
    event = api_event(
        "GET",
        f"/api/sites/{site_id}/ingest",
        sub=sub,
        path_parameters={"id": site_id},
        query=query or None,
    )
    response: dict[str, Any] = handler(event, None)
    return response


def test_every_day_holds_all_seven_outcomes(handler: LambdaHandler) -> None:
    """The exact shape: totals and one entry per day of the range, zeros included."""
    response = get(handler, SITE, startDate="2026-11-20", endDate="2026-11-23")
    assert response["statusCode"] == 200, response["body"]
    assert body_of(response) == {
        "siteId": SITE,
        "startDate": "2026-11-20",
        "endDate": "2026-11-23",
        "totals": {**ZEROS, "accepted": 3, "bot": 2, "domainMismatch": 1, "overAllowance": 4},
        "days": [
            {"date": "2026-11-20", **ZEROS, "accepted": 3, "bot": 2},
            {"date": "2026-11-21", **ZEROS},
            {"date": "2026-11-22", **ZEROS, "domainMismatch": 1, "overAllowance": 4},
            {"date": "2026-11-23", **ZEROS},
        ],
    }


def test_the_default_range_is_the_last_30_utc_days(handler: LambdaHandler) -> None:
    """Without dates: the 30 days ending today (UTC), the oldest first."""
    body = body_of(get(handler, SITE))
    assert (body["startDate"], body["endDate"]) == ("2026-10-27", "2026-11-25")
    assert [d["date"] for d in body["days"]] == [
        (date(2026, 10, 27) + timedelta(days=n)).isoformat() for n in range(30)
    ]
    assert body["totals"]["accepted"] == 3


def test_366_days_at_most(handler: LambdaHandler) -> None:
    """366 days are answered, 367 are a 400 naming endDate."""
    ok = get(handler, SITE, startDate="2025-11-25", endDate="2026-11-25")
    assert ok["statusCode"] == 200
    assert len(body_of(ok)["days"]) == 366
    refused = get(handler, SITE, startDate="2025-11-24", endDate="2026-11-25")
    assert refused["statusCode"] == 400
    assert "endDate" in body_of(refused)["error"]["fields"]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"startDate": "2026-13-01"}, "startDate"),
        ({"endDate": "yesterday"}, "endDate"),
        ({"startDate": "2026-11-20", "endDate": "2026-11-19"}, "endDate"),
        ({"days": "7"}, "days"),
        ({"startDate": "9999-12-31"}, "startDate"),
        ({"endDate": "0001-01-01"}, "endDate"),
        ({"startDate": "1999-12-31", "endDate": "2000-01-05"}, "startDate"),
    ],
)
def test_bad_dates_are_400_naming_the_field(
    handler: LambdaHandler, query: dict[str, str], field: str
) -> None:
    """A malformed date, one before 2000 or more than a year ahead, an end before the start
    or an unknown parameter: 400 naming it."""
    response = get(handler, SITE, **query)
    assert response["statusCode"] == 400
    assert field in body_of(response)["error"]["fields"]


@pytest.mark.parametrize("site_id", [FOREIGN, MISSING])
def test_foreign_or_missing_site_is_404(handler: LambdaHandler, site_id: str) -> None:
    """Another owner's site and a site that does not exist answer the same 404."""
    response = get(handler, site_id, startDate="2026-11-20", endDate="2026-11-23")
    assert response["statusCode"] == 404
