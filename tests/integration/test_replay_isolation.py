"""`analytics replay` isolates objects: an unreadable object between two good ones (one of them
carrying poison records) is named and left in place, the good ones are replayed, the exit
status is 1, and a second run stores nothing twice. The CLI runs as a subprocess against this
session's PostgreSQL (DATABASE_URL) and a local lake."""

from __future__ import annotations

import base64
import gzip
import json
import os
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
from tests.support.cli import run_analytics
from tests.support.db import fetch_all
from tests.support.hostile import envelope_text, good_body, poison_bodies
from tests.support.ingest import SITE

from adapters.postgres.pool import Pool

PREFIX = "http-firehose-failures/2026/11/25/12"


def failure_object(path: Path, envelopes: Sequence[bytes], moment: int) -> Path:
    """A Firehose failure object (gzipped, newline-separated records) written at `moment`."""
    lines = [
        json.dumps(
            {
                "attemptsMade": 3,
                "arrivalTimestamp": 1_795_608_000_000 + n,
                "errorCode": "HttpEndpoint.DestinationException",
                "errorMessage": "503",
                "attemptEndingTimestamp": 1_795_608_300_000,
                "rawData": base64.b64encode(data).decode(),
                "subsequenceNumber": 0,
                "dataId": f"1.{n}",
            }
        )
        for n, data in enumerate(envelopes)
    ]
    return write(path, gzip.compress("\n".join(lines).encode()), moment)


def write(path: Path, data: bytes, moment: int) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    os.utime(path, (moment, moment))
    return path


def replay(source: Path, data_dir: Path, database_url: str) -> tuple[int, dict[str, Any], str]:
    done = run_analytics(database_url, data_dir, "replay", str(source), "--json")
    assert done.stdout.strip(), done.stderr
    return done.returncode, json.loads(done.stdout), done.stderr


def stored(url: str) -> list[str]:
    rows = fetch_all(
        url, "SELECT event_uid FROM events UNION ALL SELECT event_uid FROM initial_events"
    )
    return sorted(uid for (uid,) in rows)


def test_unreadable_objects_are_named_and_left_while_the_good_ones_replay(
    db: Pool, database_url: str, tmp_path: Path
) -> None:
    """A corrupt gzip object and an object of lines that are not failure records sit between
    two good objects (the first with poison records): both good ones are replayed and
    archived, the two bad ones stay where they are and are named, the exit status is 1;
    replaying again stores nothing twice and still names the bad ones."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO sites (site_id, owner_sub, name, domains) "
            "VALUES (%s, 'owner', 'Example', ARRAY['example.com'])",
            (SITE,),
        )
    source = tmp_path / "failures"
    start = int(datetime(2026, 11, 25, 12, tzinfo=UTC).timestamp())
    first = [envelope_text(n, good_body(n)) for n in range(1, 4)]
    first += [envelope_text(10 + i, body) for i, body in enumerate(poison_bodies())]
    second = [envelope_text(n, good_body(n, "initial")) for n in range(20, 23)]
    failure_object(source / PREFIX / "IngestHttp-1-a.gz", first, start)
    corrupt = write(
        source / PREFIX / "IngestHttp-1-b.gz", b"\x1f\x8b" + b"not gzip" * 50, start + 1
    )
    not_records = write(
        source / PREFIX / "IngestHttp-1-c",
        b'{"hello": "world"}\n[1, 2, 3]\n' + b"[" * 100_000 + b"\nplain text\n",
        start + 2,
    )
    failure_object(source / PREFIX / "IngestHttp-1-d.gz", second, start + 3)
    data_dir = tmp_path / "data"

    status, summary, stderr = replay(source, data_dir, database_url)
    assert status == 1, stderr
    assert summary["objectsFound"] == 4
    assert summary["objectsFailed"] == 2
    assert summary["objectsArchived"] == 2
    assert summary["outcomes"]["accepted"] == len(first) + len(second)
    named = "\n".join(summary["errors"])
    assert "IngestHttp-1-b.gz" in named
    assert "IngestHttp-1-c" in named
    assert "IngestHttp-1-a" not in named
    assert corrupt.exists()
    assert not_records.exists()
    assert not (source / PREFIX / "IngestHttp-1-a.gz").exists()
    rows = stored(database_url)
    assert len(rows) == len(set(rows)) == len(first) + len(second)

    status, summary, stderr = replay(source, data_dir, database_url)
    assert status == 1, stderr
    assert summary["objectsFound"] == 2
    assert summary["objectsFailed"] == 2
    assert summary["outcomes"] == {}
    assert stored(database_url) == rows
