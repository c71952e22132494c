"""`analytics import-dynamodb`'s presentation: the progress bar (terminal only, never with
--json) and the JSON summary's shape, driven by the use case on in-memory fakes."""

from __future__ import annotations

import io
from datetime import UTC, datetime

from rich.console import Console

from adapters.memory_legacy import InMemoryLegacyImportTarget, InMemoryLegacyTables
from analytics_core.legacy_import import import_legacy
from entrypoints.commands.import_dynamodb import RichImportProgress, progress_bar, report_json

NOW = datetime(2026, 12, 7, tzinfo=UTC)
SITES = [
    {
        "siteId": f"01JDQ7ZK3M{n:016d}",
        "ownerSub": "owner",
        "name": "S",
        "domains": {f"s{n}.example", "10.0.0.1"},
        "color": "red",
    }
    for n in range(7)
] + [{"siteId": "nope", "ownerSub": "owner", "name": "S", "domains": ["x.example"]}]
PREFERENCES = [{"userId": "owner", "emailNotifications": "weekly", "theme": "dark"}]


def console(*, terminal: bool) -> Console:
    """A console writing to a buffer, as a terminal or as a pipe."""
    return Console(file=io.StringIO(), force_terminal=terminal, width=100)


def test_the_progress_bar_shows_only_on_a_terminal_without_json() -> None:
    """The bar is drawn on a terminal; on a pipe, or with --json, it is disabled."""
    assert not progress_bar(console(terminal=True), as_json=False).disable
    assert progress_bar(console(terminal=False), as_json=False).disable
    assert progress_bar(console(terminal=True), as_json=True).disable


def test_the_bars_follow_reading_and_writing() -> None:
    """One bar per table read and per table written, each complete at the end."""
    screen = console(terminal=True)
    tables = InMemoryLegacyTables(
        {"SitesTable": SITES, "PreferencesTable": PREFERENCES}, page_size=3
    )
    with progress_bar(screen, as_json=False) as progress:
        watcher = RichImportProgress(progress)
        import_legacy(
            tables,
            InMemoryLegacyImportTarget(),
            lambda: NOW,
            sites_table="SitesTable",
            preferences_table="PreferencesTable",
            progress=watcher,
        )
    done = {task.description: (task.completed, task.total) for task in progress.tasks}
    assert done == {
        "reading SitesTable": (8, 8),
        "reading PreferencesTable": (1, 1),
        "writing sites": (7, 7),
        "writing accounts": (1, 1),
    }
    assert isinstance(screen.file, io.StringIO)
    assert "writing accounts" in screen.file.getvalue()


def test_an_underestimated_total_grows_with_the_bar() -> None:
    """DynamoDB's item count is an estimate: a bar that passes it raises its total."""
    with progress_bar(console(terminal=True), as_json=False) as progress:
        watcher = RichImportProgress(progress)
        watcher.start("reading T", 2)
        watcher.advance("reading T", 3)
        watcher.start("reading U", None)
        watcher.advance("reading U", 4)
    assert [(t.completed, t.total) for t in progress.tasks] == [(3, 3), (4, None)]


def test_the_json_summary_has_the_contracts_shape() -> None:
    """--json prints exactly the keys the issue fixes, in camelCase."""
    tables = InMemoryLegacyTables({"SitesTable": SITES, "PreferencesTable": PREFERENCES})
    report = import_legacy(
        tables,
        InMemoryLegacyImportTarget(),
        lambda: NOW,
        sites_table="SitesTable",
        preferences_table="PreferencesTable",
    )
    summary = report_json(report)
    assert summary == {
        "dryRun": False,
        "sites": {"read": 8, "created": 7, "updated": 0, "unchanged": 0, "refused": 1},
        "accounts": {"read": 1, "created": 1, "updated": 0, "unchanged": 0, "refused": 0},
        "refused": [
            {"table": "SitesTable", "key": "nope", "reason": "siteId is not a ULID: 'nope'"}
        ],
        "droppedDomains": [
            {
                "siteId": f"01JDQ7ZK3M{n:016d}",
                "domain": "10.0.0.1",
                "reason": "IP addresses are not allowed",
            }
            for n in range(7)
        ],
        "unknownAttributes": {"color": 7},
    }
