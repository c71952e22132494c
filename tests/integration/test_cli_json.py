"""`--json` output is JSON alone on stdout: the commands run as a subprocess against this
session's PostgreSQL, their stdout parsed whole; logs and progress stay off stdout."""

from __future__ import annotations

import base64
import json
from pathlib import Path

from tests.support.cli import only_json, run_analytics
from tests.support.hostile import envelope_text, good_body

from adapters.postgres.pool import Pool


def test_json_output_is_only_json_on_stdout(db: Pool, database_url: str, tmp_path: Path) -> None:
    """`sites create --json`, `sites list --json` and `query --json` print one JSON value each
    and nothing else on stdout; without -v no log line reaches stderr either."""
    site = only_json(
        run_analytics(
            database_url, tmp_path, "sites", "create", "Blog", "--domain", "example.com", "--json"
        )
    )
    assert site["domains"] == ["example.com"]
    listed = only_json(run_analytics(database_url, tmp_path, "sites", "list", "--json"))
    assert [s["siteId"] for s in listed] == [site["siteId"]]
    done = run_analytics(
        database_url, tmp_path, "query", site["siteId"], "--group-by", "pathname", "--json"
    )
    answer = only_json(done)
    assert answer["source"] == "postgres"
    assert answer["breakdown"] == []
    assert '"message"' not in done.stderr  # no JSON log line without -v


def test_logs_reach_stderr_only_with_verbose(db: Pool, database_url: str, tmp_path: Path) -> None:
    """`replay --json` of a failure object: the batch's JSON log line is on stderr with -v and
    nowhere without it; stdout holds the summary alone either way."""
    site = only_json(
        run_analytics(
            database_url, tmp_path, "sites", "create", "Blog", "--domain", "example.com", "--json"
        )
    )
    envelope = envelope_text(1, good_body(1), site_id=site["siteId"])
    record = {"rawData": base64.b64encode(envelope).decode(), "attemptsMade": 1}
    folder = tmp_path / "failures" / "http-firehose-failures"
    folder.mkdir(parents=True)
    (folder / "IngestHttp-1").write_text(json.dumps(record) + "\n")
    quiet = run_analytics(
        database_url, tmp_path, "replay", str(tmp_path / "failures"), "--keep", "--json"
    )
    verbose = run_analytics(
        database_url, tmp_path, "-v", "replay", str(tmp_path / "failures"), "--keep", "--json"
    )
    assert only_json(quiet)["outcomes"] == {"accepted": 1}
    assert only_json(verbose)["outcomes"] == {"duplicate": 1}
    assert '"ingest batch"' not in quiet.stderr
    assert '"ingest batch"' in verbose.stderr
