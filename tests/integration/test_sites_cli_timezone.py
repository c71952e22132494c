"""`analytics sites create --timezone` stores the site's zone; `sites list` shows it (JSON and
table); an unknown zone is refused naming `timezone`, exit 1, and creates nothing."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.support.cli import only_json, run_analytics

from adapters.postgres.pool import Pool


def test_sites_create_takes_a_time_zone_and_list_shows_it(
    db: Pool, database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A zone given on creation is the site's; without one, UTC; both listed."""
    monkeypatch.setenv("COLUMNS", "200")  # the table's width: no column cut short
    create = ("sites", "create", "Blog", "--domain", "example.com", "--json")
    zoned = only_json(run_analytics(database_url, tmp_path, *create, "--timezone", "Asia/Tokyo"))
    plain = only_json(run_analytics(database_url, tmp_path, *create))
    assert (zoned["timezone"], plain["timezone"]) == ("Asia/Tokyo", "UTC")
    listed = only_json(run_analytics(database_url, tmp_path, "sites", "list", "--json"))
    zones = {site["siteId"]: site["timezone"] for site in listed}
    assert zones == {zoned["siteId"]: "Asia/Tokyo", plain["siteId"]: "UTC"}
    table = run_analytics(database_url, tmp_path, "sites", "list")
    assert table.returncode == 0, table.stderr
    assert "Asia/Tokyo" in table.stdout
    assert "time zone" in table.stdout

    refused = run_analytics(database_url, tmp_path, *create, "--timezone", "Mars/Base")
    assert refused.returncode == 1
    assert "timezone" in refused.stderr
    after = only_json(run_analytics(database_url, tmp_path, "sites", "list", "--json"))
    assert len(after) == 2
