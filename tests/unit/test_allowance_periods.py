"""Monthly allowance periods in the core and over fakes: the period rule (first day of the
month, when a reset is due, what was used), batches of renewals that happen once a month,
and the `allowance` object of the site JSON."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from adapters.memory import InMemoryPlans, InMemorySiteRepository
from analytics_core.allowance import (
    Plan,
    next_period_start,
    period_start,
    reset_due,
    used_allowance,
)
from analytics_core.plans import start_allowance_periods
from analytics_core.sites import ComplianceLevel, Site
from entrypoints.api.schemas import site_json

NOW = datetime(2026, 12, 7, 4, 0, tzinfo=UTC)


@given(st.dates(min_value=date(2000, 1, 1), max_value=date(2100, 12, 31)))
def test_a_period_is_a_calendar_month(day: date) -> None:
    """The period holding a day starts on the first of its month and the next one on the first
    of the next month; a reset is due exactly for periods that started in an earlier month."""
    first, following = period_start(day), next_period_start(day)
    assert first.day == 1
    assert first <= day < following
    assert following.day == 1
    assert (following - timedelta(days=1)).month == day.month
    assert not reset_due(first, day)
    assert reset_due(first - timedelta(days=1), day)


def test_used_is_clamped_at_zero() -> None:
    """More remaining than the plan gives (an operator's grant) counts as nothing used."""
    assert used_allowance(10_000, 9_000) == 1_000
    assert used_allowance(10_000, 12_000) == 0


def _site(site_id: str, started: date, allowance: int = 0) -> Site:
    created = datetime(2026, 10, 3, tzinfo=UTC)
    return Site(
        site_id,
        "o",
        "n",
        ("example.com",),
        "free_tier",
        allowance,
        ComplianceLevel.MAYBE,
        created,
        created,
        allowance_period_start=started,
    )


def test_renewals_run_in_batches_once_a_month() -> None:
    """Seven due sites in batches of three are all renewed by one run; the site already in this
    month's period is not; a second run renews nothing."""
    sites = InMemorySiteRepository()
    for n in range(7):
        sites.put(_site(f"site-{n}", date(2026, 11, 1)))
    sites.put(_site("current", date(2026, 12, 1), allowance=5))
    plans = InMemoryPlans(sites)
    assert start_allowance_periods(plans, lambda: NOW, batch_size=3) == 7
    assert start_allowance_periods(plans, lambda: NOW, batch_size=3) == 0
    by_id = {site.site_id: site for site in sites.all()}
    assert by_id["current"].request_allowance == 5
    assert {by_id[f"site-{n}"].request_allowance for n in range(7)} == {10_000}
    assert {by_id[f"site-{n}"].allowance_period_start for n in range(7)} == {date(2026, 12, 1)}
    assert plans.list_plans() == [Plan("free_tier", 10_000)]


def test_site_json_shows_the_allowance() -> None:
    """A new site's period starts on the first of its creation month and resets on the next."""
    body = site_json(
        Site(
            "s",
            "o",
            "n",
            ("example.com",),
            "free_tier",
            9_990,
            ComplianceLevel.MAYBE,
            datetime(2026, 12, 31, 23, 0, tzinfo=UTC),
            datetime(2026, 12, 31, 23, 0, tzinfo=UTC),
        )
    )
    assert body["allowance"] == {
        "plan": "free_tier",
        "monthlyAllowance": 10_000,
        "remaining": 9_990,
        "used": 10,
        "periodStart": "2026-12-01",
        "resetsOn": "2027-01-01",
    }
