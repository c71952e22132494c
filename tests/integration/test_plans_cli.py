"""The operators' plan commands as a subprocess against this session's PostgreSQL: `plans set`
creates or changes a plan, `plans list --json` shows it, `sites set-plan` moves a site to an
existing plan only, and the site JSON follows."""

from __future__ import annotations

from pathlib import Path

from tests.support.cli import only_json, run_analytics

from adapters.postgres.pool import Pool


def test_plans_set_list_and_a_sites_new_plan(db: Pool, database_url: str, tmp_path: Path) -> None:
    """A new plan is listed beside the seeded one; a site put on it shows the plan's monthly
    allowance; an unknown plan is refused without changing the site."""
    saved = only_json(
        run_analytics(
            database_url, tmp_path, "plans", "set", "pro", "--monthly-allowance", "250000", "--json"
        )
    )
    assert saved == {"plan": "pro", "monthlyAllowance": 250_000}
    assert only_json(run_analytics(database_url, tmp_path, "plans", "list", "--json")) == [
        {"plan": "free_tier", "monthlyAllowance": 10_000},
        {"plan": "pro", "monthlyAllowance": 250_000},
    ]
    site = only_json(
        run_analytics(
            database_url, tmp_path, "sites", "create", "Blog", "--domain", "example.com", "--json"
        )
    )
    assert site["allowance"]["plan"] == "free_tier"
    moved = run_analytics(database_url, tmp_path, "sites", "set-plan", site["siteId"], "pro")
    assert moved.returncode == 0, moved.stderr
    refused = run_analytics(database_url, tmp_path, "sites", "set-plan", site["siteId"], "gold")
    assert refused.returncode != 0
    assert "plan not found" in refused.stderr
    (listed,) = only_json(run_analytics(database_url, tmp_path, "sites", "list", "--json"))
    assert listed["allowance"]["plan"] == "pro"
    assert listed["allowance"]["monthlyAllowance"] == 250_000
