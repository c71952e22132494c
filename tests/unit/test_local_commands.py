"""The CLI's own parsing and rendering (no database): sources, times, tables, dry runs."""

from __future__ import annotations

import base64
import gzip
import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

from adapters.aws.failures import S3FailureObjects
from adapters.local.failures import LocalFailureObjects
from analytics_core.errors import ConfigurationError, InvalidRequestError
from entrypoints.cli import app
from entrypoints.commands.query import answer_tables
from entrypoints.commands.replay import failure_store, parse_moment
from entrypoints.local.stack import local_environ


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-25", datetime(2026, 11, 25, tzinfo=UTC)),
        ("2026-11-25T10:30", datetime(2026, 11, 25, 10, 30, tzinfo=UTC)),
        ("2026-11-25T10:30:00Z", datetime(2026, 11, 25, 10, 30, tzinfo=UTC)),
        (
            "2026-11-25T12:30:00+02:00",
            datetime(2026, 11, 25, 12, 30, tzinfo=timezone(timedelta(hours=2))),
        ),
    ],
)
def test_times_are_iso_and_naive_means_utc(text: str, expected: datetime) -> None:
    """--since/--until take ISO dates or times; without an offset they are UTC."""
    assert parse_moment(text, "--since") == expected


def test_a_bad_time_names_its_option() -> None:
    """An unreadable time is a clear error about that option."""
    with pytest.raises(InvalidRequestError) as raised:
        parse_moment("yesterday", "--until")
    assert "--until" in raised.value.fields


def test_sources_are_s3_urls_or_folders(tmp_path: Path) -> None:
    """s3:// gives the S3 store, a path the folder store, any other scheme is refused."""
    assert isinstance(failure_store(str(tmp_path), "replayed/"), LocalFailureObjects)
    assert isinstance(failure_store("s3://bucket/prefix/", "replayed/"), S3FailureObjects)
    with pytest.raises(ConfigurationError):
        failure_store("https://bucket/prefix", "replayed/")


def test_the_lake_defaults_to_the_data_folder_unless_a_cold_store_is_configured(
    tmp_path: Path,
) -> None:
    """Locally the cold store is <data-dir>/lake; a deployment's Firehose streams or an
    explicit LOCAL_LAKE_DIR win."""
    assert local_environ({}, tmp_path)["LOCAL_LAKE_DIR"] == str((tmp_path / "lake").absolute())
    assert "LOCAL_LAKE_DIR" not in local_environ({"EVENTS_STREAM_NAME": "events"}, tmp_path)
    assert local_environ({"LOCAL_LAKE_DIR": "/x"}, tmp_path)["LOCAL_LAKE_DIR"] == "/x"


def test_a_stats_answer_becomes_tables() -> None:
    """Totals, then the breakdown with the groupBy dimension as its first column."""
    answer = {
        "source": "postgres",
        "query": {
            "siteIds": ["S"],
            "startDate": "2026-11-18",
            "endDate": "2026-11-25",
            "groupBy": "pathname",
        },
        "totals": {"visitors": 1234, "bounceRate": 40},
        "breakdown": [{"value": "/pricing", "visitors": 1000}, {"value": None, "visitors": 234}],
    }
    console = Console(width=120, record=True)
    for table in answer_tables(answer):
        console.print(table)
    text = console.export_text()
    assert "1,234" in text
    assert "pathname" in text
    assert "/pricing" in text


def failure_object(envelopes: list[bytes]) -> bytes:
    lines = [
        json.dumps({"attemptsMade": 1, "rawData": base64.b64encode(e).decode(), "errorCode": "x"})
        for e in envelopes
    ]
    return gzip.compress("\n".join(lines).encode())


def test_replay_dry_run_needs_no_database_and_reports_json(tmp_path: Path) -> None:
    """`analytics replay FOLDER --dry-run --json` counts records and leaves everything as is,
    without touching any database."""
    key = tmp_path / "http-firehose-failures" / "2026" / "11" / "25" / "10" / "IngestHttp-1-x.gz"
    key.parent.mkdir(parents=True)
    key.write_bytes(failure_object([b'{"v":1}', b'{"v":1,"n":2}']))
    result = CliRunner().invoke(
        app,
        ["replay", str(tmp_path), "--dry-run", "--json", "--data-dir", str(tmp_path / "nowhere")],
        env={"DATABASE_URL": "postgresql://nobody@/nowhere?host=/nonexistent"},
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["dryRun"] is True
    assert summary["records"] == 2
    assert summary["objectsArchived"] == 0
    assert key.exists()
    assert not (tmp_path / "nowhere").exists()


def test_replay_of_a_missing_folder_fails(tmp_path: Path) -> None:
    """A SOURCE folder that does not exist is an error (exit 1), not an empty replay."""
    result = CliRunner().invoke(app, ["replay", str(tmp_path / "missing"), "--dry-run"])
    assert result.exit_code == 1
