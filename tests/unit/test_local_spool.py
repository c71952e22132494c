"""The local stream's spool: framing, torn tails, the checkpoint, group commit, redelivery."""

from __future__ import annotations

import base64
import gzip
import json
import os
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from adapters.local.failures import LocalFailureObjects
from adapters.local.firehose import Buffering, LocalFirehoseStream, Retry
from adapters.local.spool import (
    CHECKPOINT,
    HEADER,
    MAGIC,
    Spool,
    SpooledRecord,
    SyncMode,
    frame,
    scan_segment,
)
from analytics_core.errors import InfrastructureError

ACCESS_KEY = "local-access-key-123"
FAST_RETRY = Retry(duration_s=0.05, first_backoff_s=0.01, max_backoff_s=0.02)


def envelope(n: int) -> bytes:
    return json.dumps({"v": 1, "uid": f"uid-{n}", "site_id": "S", "payload": {"n": n}}).encode()


class Endpoint:
    """A processIngest stand-in that records the records it is sent and answers as told."""

    def __init__(self, answers: list[int] | None = None) -> None:
        self.answers = list(answers or [])
        self.received: list[bytes] = []
        self.lock = threading.Lock()

    def __call__(self, event: Mapping[str, Any]) -> dict[str, Any]:
        body = json.loads(gzip.decompress(base64.b64decode(event["body"])))
        with self.lock:
            status = self.answers.pop(0) if self.answers else 200
            if status == 200:
                self.received.extend(base64.b64decode(r["data"]) for r in body["records"])
        return {
            "statusCode": status,
            "headers": {"Content-Type": "application/json"},
            "body": json.dumps({"requestId": body["requestId"], "timestamp": 1}),
        }

    def records(self) -> list[bytes]:
        with self.lock:
            return list(self.received)


def poll(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.005)


def crash(spool: Spool) -> None:
    """What the process's death does to a spool: its descriptors (and so its lock) are gone,
    nothing else happens (no fsync, no settling, no deletion)."""
    for segment in spool._segments:
        if segment.fd is not None:
            os.close(segment.fd)
            segment.fd = None
    if spool._lock_fd is not None:
        os.close(spool._lock_fd)
        spool._lock_fd = None
    spool._closed = True


@pytest.fixture
def spools(tmp_path: Path) -> Iterator[Callable[..., Spool]]:
    """Spools on one folder: making a new one crashes the previous one first (see `crash`);
    the last one is closed after the test."""
    made: list[Spool] = []

    def make(**kwargs: object) -> Spool:
        if made and made[-1]._opened and not made[-1]._closed:
            crash(made[-1])
        spool = Spool(tmp_path / "spool", **kwargs)  # type: ignore[arg-type]
        made.append(spool)
        return spool

    yield make
    for spool in made:
        if spool._opened and not spool._closed:
            spool.close()


def test_a_second_process_cannot_open_the_same_spool(spools: Callable[..., Spool]) -> None:
    """While one spool holds the folder, another one on it refuses to open, naming why; once
    the first is closed, it opens."""
    first = spools()
    first.recover()
    first.append(envelope(0), 0)
    second = Spool(first.folder)
    with pytest.raises(InfrastructureError, match="another process is using the spool"):
        second.recover()
    first.close()
    assert [r.seq for r in second.recover()] == [1]
    second.close()


def segments(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.seg"))


def checkpoint(folder: Path) -> int:
    return int(json.loads((folder / CHECKPOINT).read_text())["settledThrough"])


def test_appended_records_come_back_after_a_crash(spools: Callable[..., Spool]) -> None:
    """Records appended and never settled are recovered in order, with their numbers, arrival
    times and bytes, by the next spool on the folder."""
    first = spools()
    assert first.recover() == []
    seqs = [first.append(envelope(n), 1_000 + n) for n in range(5)]
    assert seqs == [1, 2, 3, 4, 5]
    again = spools().recover()
    assert again == [SpooledRecord(n + 1, 1_000 + n, envelope(n)) for n in range(5)]


def test_a_torn_tail_is_skipped_and_earlier_records_are_kept(
    spools: Callable[..., Spool], tmp_path: Path
) -> None:
    """A last record cut short by the crash (a header alone, or half its data) is skipped
    with everything after it in that segment; the records before it are recovered, and the
    next run writes a new segment whose records are recovered after them."""
    first = spools()
    first.recover()
    for n in range(3):
        first.append(envelope(n), n)
    (segment,) = segments(tmp_path / "spool")
    torn = frame(4, 0, envelope(3))
    with segment.open("ab") as out:
        out.write(torn[: HEADER.size + 5])
    second = spools()
    assert [r.data for r in second.recover()] == [envelope(n) for n in range(3)]
    assert second.append(envelope(10), 0) == 4  # numbering goes on after the valid records
    third = spools()
    assert [r.data for r in third.recover()] == [*(envelope(n) for n in range(3)), envelope(10)]
    assert len(segments(tmp_path / "spool")) == 2


def test_a_record_failing_its_checksum_ends_the_segment(
    spools: Callable[..., Spool], tmp_path: Path
) -> None:
    """A flipped byte in the last record's data fails its CRC: that record is not
    delivered, the ones before it are."""
    first = spools()
    first.recover()
    for n in range(3):
        first.append(envelope(n), n)
    (segment,) = segments(tmp_path / "spool")
    raw = bytearray(segment.read_bytes())
    raw[-3] ^= 0xFF
    segment.write_bytes(bytes(raw))
    assert [r.data for r in spools().recover()] == [envelope(0), envelope(1)]


def test_scanning_stops_at_the_first_bad_frame() -> None:
    """`scan_segment` reports the offset of a torn header, of a length past the end and of
    a wrong magic, and reads nothing past it."""
    good = MAGIC + frame(1, 0, b"a") + frame(2, 0, b"bb")
    assert [r.data for r in scan_segment(good).records] == [b"a", b"bb"]
    assert scan_segment(good).bad_offset is None
    cut = scan_segment(good + frame(3, 0, b"ccc")[:10])
    assert (len(cut.records), cut.bad_offset) == (2, len(good))
    long = scan_segment(good + frame(3, 0, b"ccc")[:-1])
    assert (len(long.records), long.bad_offset) == (2, len(good))
    assert scan_segment(b"NOTSPOOL" + frame(1, 0, b"a")).bad_offset == 0
    assert scan_segment(MAGIC[:3]).records == []


def test_settled_records_are_not_sent_again_and_the_checkpoint_waits_for_gaps(
    spools: Callable[..., Spool], tmp_path: Path
) -> None:
    """Settling 4-6 before 1-3 leaves the checkpoint at 0 (4-6 are remembered in memory
    only); once 1-3 settle it moves to 6, and a restart recovers only 7-8."""
    first = spools()
    first.recover()
    for n in range(8):
        first.append(envelope(n), n)
    first.settle([4, 5, 6])
    assert first.settled_through == 0
    assert first.pending() == 5
    first.settle([1, 2, 3])
    assert first.settled_through == 6
    assert checkpoint(tmp_path / "spool") == 6
    assert [r.seq for r in spools().recover()] == [7, 8]


def test_spent_segments_are_deleted_and_a_clean_close_leaves_none(
    spools: Callable[..., Spool], tmp_path: Path
) -> None:
    """With small segments, the records rotate into several files; settling deletes every
    closed segment whose records are all settled, and closing deletes the open one."""
    folder = tmp_path / "spool"
    spool = spools(segment_bytes=200)
    spool.recover()
    seqs = [spool.append(envelope(n), n) for n in range(12)]
    assert len(segments(folder)) > 3
    spool.settle(seqs[:6])
    remaining = segments(folder)
    assert 1 <= len(remaining) < 4
    kept = {r.seq for path in remaining for r in scan_segment(path.read_bytes()).records}
    assert kept >= set(seqs[6:])
    spool.settle(seqs[6:])
    assert len(segments(folder)) == 1  # the open segment
    spool.close()
    assert segments(folder) == []
    assert checkpoint(folder) == 12


def test_concurrent_appends_share_one_fsync(spools: Callable[..., Spool]) -> None:
    """While one fsync is under way, 31 other appends are written and wait; the next fsync
    covers all of them: 32 appends, 2 fsyncs (with one fsync each, 32)."""
    holder: dict[str, Spool] = {}
    calls = 0

    def slow_first_fsync(fd: int) -> None:
        nonlocal calls
        calls += 1
        if calls == 1:  # hold the first group open until every other writer has written
            poll(lambda: holder["spool"].appended == 32)
        os.fsync(fd)

    spool = spools(fsync=slow_first_fsync)
    holder["spool"] = spool
    spool.recover()
    threads = [threading.Thread(target=spool.append, args=(envelope(n), n)) for n in range(32)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert spool.appended == 32
    assert spool.syncs == 2
    each = Spool(spool.folder.with_name("each"), sync=SyncMode.EACH)
    each.recover()
    for n in range(32):
        each.append(envelope(n), n)
    assert each.syncs == 32
    each.close()


def test_a_failed_fsync_refuses_the_record_and_every_later_one(
    spools: Callable[..., Spool],
) -> None:
    """An fsync that fails answers InfrastructureError (503 at collect), and so does every
    append after it, since the kernel may have dropped the unsynced pages."""

    def failing(_fd: int) -> None:
        raise OSError(5, "Input/output error")

    spool = spools(fsync=failing)
    spool.recover()
    with pytest.raises(InfrastructureError, match="cannot be synced"):
        spool.append(envelope(0), 0)
    with pytest.raises(InfrastructureError, match="cannot be synced"):
        spool.append(envelope(1), 0)


def stream_on(tmp_path: Path, endpoint: Endpoint | None, spool: Spool) -> LocalFirehoseStream:
    return LocalFirehoseStream(
        endpoint,
        access_key=ACCESS_KEY,
        failures_dir=tmp_path / "failures",
        buffering=Buffering(size_bytes=1024 * 1024, interval_s=3600),
        retry=FAST_RETRY,
        spool=spool,
    )


def test_the_stream_redelivers_what_a_crash_left_in_the_spool(
    spools: Callable[..., Spool], tmp_path: Path
) -> None:
    """Records put into a stream that then dies undelivered are sent by the next stream on
    the same spool at its first flush, once; a third stream finds nothing to send."""
    crashed = stream_on(tmp_path, None, spools())
    crashed.recover()
    for n in range(10):
        crashed.put(envelope(n))
    endpoint = Endpoint()
    restarted = stream_on(tmp_path, endpoint, spools())
    assert [r.records for r in restarted.flush()] == [10]
    assert endpoint.records() == [envelope(n) for n in range(10)]
    restarted.close()
    third = stream_on(tmp_path, Endpoint(), spools())
    assert third.recover() == 0
    third.close()


def test_recovered_records_are_delivered_at_once_by_the_worker(
    spools: Callable[..., Spool], tmp_path: Path
) -> None:
    """After a restart the background worker sends the recovered records without waiting
    for the buffer interval (an hour here)."""
    crashed = stream_on(tmp_path, None, spools())
    crashed.recover()
    for n in range(3):
        crashed.put(envelope(n))
    endpoint = Endpoint()
    restarted = stream_on(tmp_path, endpoint, spools())
    restarted.start()
    poll(lambda: len(endpoint.records()) == 3 and restarted.pending() == 0)
    assert restarted.spool is not None
    poll(lambda: restarted.spool is not None and restarted.spool.settled_through == 3)
    restarted.close()


def test_a_batch_backed_up_as_a_failure_is_settled(
    spools: Callable[..., Spool], tmp_path: Path
) -> None:
    """A batch the endpoint keeps refusing lands in the failures folder and counts as done
    for the spool: the next start sends nothing again."""
    endpoint = Endpoint([500] * 50)
    stream = stream_on(tmp_path, endpoint, spools())
    stream.recover()
    for n in range(4):
        stream.put(envelope(n))
    (report,) = stream.flush()
    assert not report.delivered
    assert len(LocalFailureObjects(tmp_path / "failures").list_objects()) == 1
    assert stream.spool is not None
    assert stream.spool.settled_through == 4
    stream.close()
    assert stream_on(tmp_path, Endpoint(), spools()).recover() == 0
