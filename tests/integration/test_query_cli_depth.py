"""`analytics query` passes the query depth through: a goal, the new operators and
alternatives, property and entry-page breakdowns; a conversion metric without a goal is the
API's 400 naming `goal`, exit 1."""

from __future__ import annotations

from pathlib import Path

from tests.support.cli import only_json, run_analytics

from adapters.postgres.pool import Pool


def test_query_depth_on_the_command_line(db: Pool, database_url: str, tmp_path: Path) -> None:
    site = only_json(
        run_analytics(
            database_url, tmp_path, "sites", "create", "Blog", "--domain", "example.com", "--json"
        )
    )
    answer = only_json(
        run_analytics(
            database_url,
            tmp_path,
            "query",
            site["siteId"],
            "--metrics",
            "visitors,conversions,conversion_rate,percentage",
            "--goal",
            "signup",
            "--group-by",
            "property:plan",
            "--filters",
            "pathname~=blog|docs;entry_page!~/admin",
            "--json",
        )
    )
    assert answer["query"]["goal"] == "signup"
    assert answer["query"]["groupBy"] == "property:plan"
    assert answer["query"]["filters"] == [
        {"dimension": "pathname", "operator": "~=", "value": "blog|docs"},
        {"dimension": "entry_page", "operator": "!~", "value": "/admin"},
    ]
    assert answer["totals"] == {"visitors": 0, "conversions": 0, "conversionRate": None}
    assert answer["breakdown"] == []

    refused = run_analytics(
        database_url, tmp_path, "query", site["siteId"], "--metrics", "conversions"
    )
    assert refused.returncode == 1
    assert "goal" in refused.stderr
