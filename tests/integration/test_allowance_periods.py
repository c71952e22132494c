"""Monthly allowance periods on a real PostgreSQL (issue 18, acceptance 2): the maintenance
Lambda renews a site whose period started last month once, a second run changes nothing, a
reset racing eight concurrent ingest invocations never leaves the allowance above the plan's
or below 0, and the site JSON shows the allowance object."""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime
from typing import Any

import psycopg
from tests.integration.test_ingest_concurrency import (
    INVOCATIONS,
    distinct_work,
    run_concurrently,
    stored_count,
    totals,
)
from tests.support.db import fetch_all
from tests.support.events import api_event, body_of
from tests.support.ingest import SITE
from tests.support.modules import lambda_module

from adapters.config import Settings
from adapters.postgres.pool import Pool, open_pool
from analytics_core.allowance import next_period_start, period_start
from analytics_core.plans import start_allowance_periods
from entrypoints import bootstrap

OWNER = "allowance-owner"
THIS_MONTH = period_start(datetime.now(UTC).date())
LAST_MONTH = period_start(date.fromordinal(THIS_MONTH.toordinal() - 1))


def add_site(url: str, plan: str, allowance: int, started: date) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO sites (site_id, owner_sub, name, domains, plan, request_allowance,"
            " allowance_period_start) VALUES (%s, %s, 'n', ARRAY['example.com'], %s, %s, %s)",
            (SITE, OWNER, plan, allowance, started),
        )


def allowance_and_period(url: str) -> tuple[int, date]:
    ((value, started),) = fetch_all(
        url,
        "SELECT request_allowance, allowance_period_start FROM sites WHERE site_id = %s",
        (SITE,),
    )
    return int(value), started


def run_maintenance_lambda(url: str) -> dict[str, Any]:
    with lambda_module("entrypoints.lambdas.maintenance", {"DATABASE_URL": url}) as module:
        summary: dict[str, Any] = module.handler({}, None)
    return summary


def get_site(url: str) -> dict[str, Any]:
    with lambda_module("entrypoints.lambdas.sites", {"DATABASE_URL": url}) as module:
        event = api_event("GET", f"/api/sites/{SITE}", sub=OWNER, path_parameters={"id": SITE})
        response = module.handler(event, None)
    assert response["statusCode"] == 200, response["body"]
    body: dict[str, Any] = body_of(response)
    return body


def test_one_maintenance_run_restores_the_allowance_and_a_second_does_not(
    db: Pool, database_url: str
) -> None:
    """Allowance 0 in last month's period: the maintenance Lambda gives back the plan's
    10,000 and starts this month's period; after some use, a second run leaves it alone."""
    add_site(database_url, "free_tier", 0, LAST_MONTH)
    first = run_maintenance_lambda(database_url)
    assert first["allowancePeriodsStarted"] == 1
    assert allowance_and_period(database_url) == (10_000, THIS_MONTH)
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("UPDATE sites SET request_allowance = 7 WHERE site_id = %s", (SITE,))
    second = run_maintenance_lambda(database_url)
    assert second["allowancePeriodsStarted"] == 0
    assert allowance_and_period(database_url) == (7, THIS_MONTH)


def test_the_site_json_shows_the_allowance(db: Pool, database_url: str) -> None:
    """GET /api/sites/{id} on the sites Lambda: plan, monthly allowance, remaining, used,
    the period's first day and the next period's."""
    add_site(database_url, "free_tier", 9_000, THIS_MONTH)
    assert get_site(database_url)["allowance"] == {
        "plan": "free_tier",
        "monthlyAllowance": 10_000,
        "remaining": 9_000,
        "used": 1_000,
        "periodStart": THIS_MONTH.isoformat(),
        "resetsOn": next_period_start(THIS_MONTH).isoformat(),
    }


def test_a_reset_during_eight_concurrent_ingests_stays_within_the_plan(
    db: Pool, database_url: str
) -> None:
    """A plan of 100 a month, allowance 0 from last month; 160 events in 32 batches over 8
    concurrent invocations while the reset runs (20 times) and a watcher reads the allowance:
    one reset happens, every value seen lies in 0..100, and what remains is 100 minus what was
    accepted (all of it after the reset)."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("INSERT INTO plans (plan, monthly_allowance) VALUES ('tight', 100)")
    add_site(database_url, "tight", 0, LAST_MONTH)
    done = threading.Event()
    renewed: list[int] = []
    seen: list[int] = []
    failures: list[BaseException] = []

    def reset() -> None:
        pool = open_pool(database_url, max_size=1, name="maintenance")
        try:
            plans = bootstrap.build(Settings(database_url=database_url), pool=pool).plans
            renewed.extend(
                start_allowance_periods(plans, lambda: datetime.now(UTC)) for _ in range(20)
            )
        except BaseException as exc:  # noqa: BLE001  # reported to the test thread below
            failures.append(exc)
        finally:
            pool.close()

    def watch() -> None:
        with psycopg.connect(database_url, autocommit=True) as conn:
            while not done.is_set():
                ((value,),) = conn.execute(
                    "SELECT request_allowance FROM sites WHERE site_id = %s", (SITE,)
                ).fetchall()
                seen.append(int(value))

    threads = [threading.Thread(target=reset), threading.Thread(target=watch)]
    for thread in threads:
        thread.start()
    try:
        reports = run_concurrently(database_url, distinct_work())
    finally:
        threads[0].join()
        done.set()
        threads[1].join()
    assert failures == []
    assert sum(renewed) == 1
    assert seen
    assert all(0 <= value <= 100 for value in seen)
    counts = totals(reports)
    assert sum(counts.values()) == 160
    assert counts["accepted"] <= 100
    assert stored_count(database_url) == counts["accepted"]
    remaining, started = allowance_and_period(database_url)
    assert started == THIS_MONTH
    assert 0 <= remaining == 100 - counts["accepted"]
    assert len(reports) == INVOCATIONS * 4
