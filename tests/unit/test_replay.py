"""Replay of Firehose failure objects: robust parsing, chunking, archiving, failure handling."""

from __future__ import annotations

import base64
import functools
import gzip
import json
import os
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from adapters.local.failures import LocalFailureObjects
from analytics_core.errors import InfrastructureError, StoreUnavailableError, UnreadableObjectError
from analytics_core.replay import replay as core_replay
from entrypoints.failure_objects import decompress, parse_failure_object

replay = functools.partial(core_replay, parse=parse_failure_object)


def failure_record(envelope: bytes, n: int = 0) -> dict[str, object]:
    return {
        "attemptsMade": 3,
        "arrivalTimestamp": 1764072000000 + n,
        "errorCode": "HttpEndpoint.DestinationException",
        "errorMessage": "The following response was received from the endpoint destination. 503",
        "attemptEndingTimestamp": 1764072300000,
        "rawData": base64.b64encode(envelope).decode(),
        "subsequenceNumber": 0,
        "dataId": f"4963.{n}",
    }


def envelope(n: int) -> bytes:
    return json.dumps({"v": 1, "uid": f"U{n:05d}", "payload": {"n": n}}).encode()


def write_object(root: Path, key: str, envelopes: Sequence[bytes], *, gz: bool, sep: str) -> Path:
    text = sep.join(json.dumps(failure_record(e, i)) for i, e in enumerate(envelopes))
    data = text.encode()
    path = root / key
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(data) if gz else data)
    return path


@pytest.mark.parametrize("gz", [True, False])
@pytest.mark.parametrize("sep", ["\n", "", "\r\n", " "])
def test_objects_parse_gzipped_or_not_separated_or_concatenated(gz: bool, sep: str) -> None:
    """Newline-separated and concatenated records, gzipped or plain, give the same envelopes."""
    envelopes = [envelope(n) for n in range(4)]
    text = sep.join(json.dumps(failure_record(e, i)) for i, e in enumerate(envelopes)) + "\n"
    data = gzip.compress(text.encode()) if gz else text.encode()
    parsed = parse_failure_object(data)
    assert parsed.envelopes == tuple(envelopes)
    assert parsed.unreadable == 0


def test_multi_member_gzip_is_read_whole() -> None:
    """Two gzip members back to back (objects appended by a tool) are both read."""
    first = json.dumps(failure_record(envelope(1))).encode()
    second = json.dumps(failure_record(envelope(2))).encode()
    parsed = parse_failure_object(gzip.compress(first) + gzip.compress(second))
    assert parsed.envelopes == (envelope(1), envelope(2))


def test_bad_records_are_counted_and_the_rest_kept() -> None:
    """A broken line, a record without rawData and bad base64 are unreadable; neighbours
    still replay."""
    lines = [
        json.dumps(failure_record(envelope(1))),
        "{this is not json",
        json.dumps({"attemptsMade": 1}),
        json.dumps({**failure_record(envelope(2)), "rawData": "!!not base64!!"}),
        json.dumps(failure_record(envelope(3))),
    ]
    parsed = parse_failure_object("\n".join(lines).encode())
    assert parsed.envelopes == (envelope(1), envelope(3))
    assert parsed.unreadable == 3


def test_decompression_is_bounded() -> None:
    """A gzip bomb is refused past the limit instead of exhausting memory."""
    bomb = gzip.compress(b"\0" * 5_000_000)
    with pytest.raises(UnreadableObjectError):
        decompress(bomb, limit=1_000_000)


@given(st.lists(st.binary(min_size=1, max_size=200), max_size=20), st.booleans())
def test_any_envelopes_round_trip_through_a_failure_object(
    envelopes: list[bytes], gz: bool
) -> None:
    """Whatever bytes the envelopes hold, parsing a failure object returns them unchanged."""
    text = "\n".join(json.dumps(failure_record(e, i)) for i, e in enumerate(envelopes))
    data = gzip.compress(text.encode()) if gz else text.encode()
    assert parse_failure_object(data).envelopes == tuple(envelopes)


class FakeIngest:
    """Counts every envelope as accepted the first time, duplicate after; can be broken."""

    def __init__(self, fail_on_call: int | None = None) -> None:
        self.seen: set[bytes] = set()
        self.calls: list[tuple[int, str]] = []
        self.fail_on_call = fail_on_call

    def __call__(self, records: Sequence[bytes], request_id: str) -> Mapping[str, int]:
        self.calls.append((len(records), request_id))
        if self.fail_on_call is not None and len(self.calls) == self.fail_on_call:
            raise StoreUnavailableError("database unavailable: OperationalError")
        new = [r for r in records if r not in self.seen]
        self.seen.update(records)
        return {"accepted": len(new), "duplicate": len(records) - len(new)}


def make_source(tmp_path: Path) -> tuple[LocalFailureObjects, list[Path]]:
    root = tmp_path / "failures"
    paths = [
        write_object(
            root,
            f"http-firehose-failures/2026/11/2{day}/10/IngestHttp-1-{day}.gz",
            [envelope(day * 10 + i) for i in range(5)],
            gz=True,
            sep="\n",
        )
        for day in (1, 2, 3)
    ]
    for day, path in zip((1, 2, 3), paths, strict=True):
        moment = datetime(2026, 11, 20 + day, 10, tzinfo=UTC).timestamp()
        os.utime(path, (moment, moment))
    return LocalFailureObjects(root), paths


def test_replay_sends_chunks_and_archives_each_replayed_object(tmp_path: Path) -> None:
    """Every envelope goes through ingest in chunks; replayed objects move to the archive."""
    store, paths = make_source(tmp_path)
    ingest = FakeIngest()
    tally = replay(store, ingest, chunk_size=2)
    assert tally.ok
    assert tally.records == 15
    assert tally.outcomes == {"accepted": 15}
    assert [n for n, _ in ingest.calls] == [2, 2, 1] * 3
    assert len({rid for _, rid in ingest.calls}) == 9
    assert tally.objects_archived == 3
    assert not any(p.exists() for p in paths)
    assert store.list_objects() == []
    archived = sorted((tmp_path / "failures" / "replayed").rglob("*.gz"))
    assert len(archived) == 3


def test_replaying_the_same_source_twice_adds_nothing(tmp_path: Path) -> None:
    """With --keep the objects stay; the second run finds only duplicates."""
    store, _ = make_source(tmp_path)
    ingest = FakeIngest()
    first = replay(store, ingest, keep=True)
    second = replay(store, ingest, keep=True)
    assert first.outcomes == {"accepted": 15}
    assert second.outcomes == {"duplicate": 15}
    assert second.objects_archived == 0
    assert len(store.list_objects()) == 3


def test_dry_run_reads_but_changes_nothing(tmp_path: Path) -> None:
    """A dry run counts the records without ingesting or moving anything."""
    store, paths = make_source(tmp_path)
    ingest = FakeIngest()
    tally = replay(store, ingest, dry_run=True)
    assert tally.records == 15
    assert ingest.calls == []
    assert all(p.exists() for p in paths)
    assert not (tmp_path / "failures" / "replayed").exists()


def test_a_failing_chunk_leaves_its_object_and_stops(tmp_path: Path) -> None:
    """When the second chunk of the first object fails, that object stays in place, no
    later object is touched, and the tally is not ok."""
    store, paths = make_source(tmp_path)
    tally = replay(store, FakeIngest(fail_on_call=2), chunk_size=3)
    assert not tally.ok
    assert tally.objects_failed == 1
    assert tally.objects_archived == 0
    assert all(p.exists() for p in paths)
    assert "database unavailable" in tally.errors[0]


def test_since_and_until_select_by_object_time(tmp_path: Path) -> None:
    """Only objects whose time lies in [since, until) are replayed."""
    store, paths = make_source(tmp_path)
    since = datetime(2026, 11, 22, tzinfo=UTC)
    tally = replay(store, FakeIngest(), since=since, until=since + timedelta(days=1))
    assert tally.objects_found == 1
    assert [p.exists() for p in paths] == [True, False, True]


def test_a_missing_folder_is_an_error(tmp_path: Path) -> None:
    """Replaying a folder that does not exist fails loudly instead of replaying nothing."""
    with pytest.raises(InfrastructureError):
        replay(LocalFailureObjects(tmp_path / "nope"), FakeIngest())


def test_corrupt_gzip_is_unreadable_not_a_crash() -> None:
    """gzip magic followed by garbage is an unreadable object with the reason named."""
    with pytest.raises(UnreadableObjectError, match="corrupt gzip data"):
        decompress(gzip.compress(b"x" * 100)[:10] + b"\xff" * 50)


def test_a_corrupt_object_is_counted_left_in_place_and_the_rest_replayed(tmp_path: Path) -> None:
    """One corrupt object fails (and stays for a look); the other objects still replay."""
    store, paths = make_source(tmp_path)
    paths[1].write_bytes(gzip.compress(b"x" * 100)[:10] + b"\xff" * 50)
    tally = replay(store, FakeIngest())
    assert not tally.ok
    assert tally.objects_failed == 1
    assert "corrupt gzip data" in tally.errors[0]
    assert tally.outcomes == {"accepted": 10}
    assert paths[1].exists()
    assert not paths[0].exists()
    assert not paths[2].exists()
