"""Ingest diagnostics end to end (issue 18, acceptance 1): batches through the processIngest
Lambda module on a real PostgreSQL, then GET /api/sites/{id}/ingest through the sites Lambda
module and `analytics sites diagnose --json` show exactly what became of each record, per day."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import psycopg
import pytest
from tests.integration.test_process_ingest_lambda import aws, module  # noqa: F401  # fixtures
from tests.support.cli import run_analytics
from tests.support.events import OWNER_B, api_event, body_of
from tests.support.ingest import GOOGLEBOT, SITE, envelope, firehose_event, payload, record
from tests.support.modules import lambda_module

from adapters.postgres.pool import Pool
from entrypoints.commands.common import DEFAULT_OWNER

DAY_1, DAY_2 = "2026-11-24", "2026-11-25"
ZEROS = {
    "accepted": 0,
    "duplicate": 0,
    "malformed": 0,
    "unknownSite": 0,
    "domainMismatch": 0,
    "bot": 0,
    "overAllowance": 0,
}
EXPECTED_DAYS = [
    {"date": "2026-11-23", **ZEROS},
    {"date": DAY_1, **ZEROS, "accepted": 2, "bot": 1},
    {"date": DAY_2, **ZEROS, "accepted": 1, "domainMismatch": 1, "overAllowance": 2},
    {"date": "2026-11-26", **ZEROS},
]
EXPECTED_TOTALS = {**ZEROS, "accepted": 3, "bot": 1, "domainMismatch": 1, "overAllowance": 2}


@pytest.fixture(scope="module")
def sites_module(database_url: str) -> Iterator[ModuleType]:
    with lambda_module("entrypoints.lambdas.sites", {"DATABASE_URL": database_url}) as loaded:
        yield loaded


def _record(number: int, day: str, **context: Any) -> bytes:
    body = payload(session_id=f"s{number}")
    return record(envelope(number, body, received_at=f"{day}T12:00:00.000Z", **context))


@pytest.fixture
def ingested(module: ModuleType, db: Pool, database_url: str) -> None:  # noqa: F811
    """A site with an allowance of 3, then two batches: on day 1 two accepted records and a
    bot; on day 2 a wrong origin and three records of which the allowance admits one."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO sites (site_id, owner_sub, name, domains, request_allowance)"
            " VALUES (%s, %s, 'Example', ARRAY['example.com'], 3)",
            (SITE, DEFAULT_OWNER),
        )
    first = [_record(1, DAY_1), _record(2, DAY_1), _record(3, DAY_1, user_agent=GOOGLEBOT)]
    second = [
        _record(4, DAY_2, origin="https://evil.example"),
        *(_record(n, DAY_2) for n in (5, 6, 7)),
    ]
    for records in (first, second):
        assert module.handler(firehose_event(records), None)["statusCode"] == 200


def _get(sites_module: ModuleType, sub: str) -> dict[str, Any]:
    event = api_event(
        "GET",
        f"/api/sites/{SITE}/ingest",
        sub=sub,
        path_parameters={"id": SITE},
        query={"startDate": "2026-11-23", "endDate": "2026-11-26"},
    )
    response: dict[str, Any] = sites_module.handler(event, None)
    return response


def test_the_api_shows_each_outcome_on_its_day(ingested: None, sites_module: ModuleType) -> None:
    """Accepted, bot, domain-mismatch and over-allowance counts on the right days, zeros
    elsewhere; another owner gets 404."""
    response = _get(sites_module, DEFAULT_OWNER)
    assert response["statusCode"] == 200, response["body"]
    assert body_of(response) == {
        "siteId": SITE,
        "startDate": "2026-11-23",
        "endDate": "2026-11-26",
        "totals": EXPECTED_TOTALS,
        "days": EXPECTED_DAYS,
    }
    assert _get(sites_module, OWNER_B)["statusCode"] == 404


def test_the_cli_prints_the_same(ingested: None, database_url: str, tmp_path: Path) -> None:
    """`analytics sites diagnose --json` prints the API's answer; a site of nobody's fails."""
    options = ["--start", "2026-11-23", "--end", "2026-11-26", "--json"]
    done = run_analytics(database_url, tmp_path, "sites", "diagnose", SITE, *options)
    assert done.returncode == 0, done.stderr
    body = json.loads(done.stdout)
    assert (body["totals"], body["days"]) == (EXPECTED_TOTALS, EXPECTED_DAYS)
    refused = run_analytics(
        database_url, tmp_path, "sites", "diagnose", SITE, *options, "--owner", "someone-else"
    )
    assert refused.returncode != 0
