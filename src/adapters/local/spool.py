"""The local stream's write-ahead spool: an event answered 202 is on disk before the answer.

The folder holds append-only segment files and one checkpoint:

    <first sequence number, 20 digits>.seg   an 8-byte magic, then framed records
    checkpoint                               {"v": 1, "settledThrough": N}, replaced atomically

Every record gets the next sequence number and is framed as a 24-byte header, then the data:
`>IIQQ` = CRC-32, data length, sequence number, arrival time (epoch ms); the CRC covers the
20 header bytes after it and the data. A record is durable once its segment is fsynced.

- **Group commit.** `append` numbers the record and queues its frame under a lock, then waits
  until it is durable. The first waiter becomes the leader: it takes every queued frame, writes
  them with one `write` (in number order) and fsyncs once; appends that arrive meanwhile queue
  up for the next group, which one of them leads. Concurrent requests thus share a write and an
  fsync; a lone request pays one of each. (`SyncMode.EACH`, one write and fsync per record, is
  kept as the benchmarks' point of comparison.)
- **Settled records.** The stream calls `settle` with the sequence numbers of a batch once
  processIngest answered 200 or the batch is in the failure folder. The checkpoint advances to
  the highest N such that every record up to N is settled (batches may settle out of order);
  segments whose records are all at or below it are deleted.
- **Recovery.** `recover` reads the checkpoint and every segment in order and returns the
  records above the checkpoint, to be sent again. A frame that is cut short or fails its CRC
  ends its segment (a write torn by the crash): the records before it are kept; those after it
  were never acknowledged, since fsync covers a file in order and appends never resume in an
  old segment (each run writes a new one). Redelivering a record whose batch was stored but not
  yet checkpointed is harmless: the hot store skips an `event_uid` it already has.

A failed write raises `InfrastructureError` in every append of its group (the collect API
answers 503); the partial frames are cut off, the next group starts a new segment and the
checkpoint passes over the lost numbers. After a failed fsync the spool refuses every further
append: the kernel may have dropped the dirty pages, and a later fsync could report success
without them (what was written may still come back on the next start).
"""

from __future__ import annotations

import enum
import errno
import fcntl
import json
import logging
import os
import struct
import threading
import zlib
from collections.abc import Callable, Iterable
from pathlib import Path

import attrs

from analytics_core.errors import InfrastructureError

logger = logging.getLogger(__name__)

MAGIC = b"AFSPOOL1"
HEADER = struct.Struct(">IIQQ")  # crc32, length, sequence, arrival ms
MAX_FRAME_DATA = 16 * 1024 * 1024  # far above a Firehose record (1,000 KiB): a corrupt length
SEGMENT_SUFFIX = ".seg"
CHECKPOINT = "checkpoint"
LOCK = "lock"
DEFAULT_SEGMENT_BYTES = 64 * 1024 * 1024


class SyncMode(enum.Enum):
    """How appends are made durable."""

    GROUP = "group"  # concurrent appends share one fsync (the default)
    EACH = "each"  # one fsync per append, under the write lock (a baseline for benchmarks)


@attrs.frozen
class SpooledRecord:
    """One record read back from the spool."""

    seq: int
    arrival_ms: int
    data: bytes


@attrs.frozen
class ScanResult:
    """What one segment holds: its valid records, and the offset of a bad frame if any."""

    records: list[SpooledRecord]
    bad_offset: int | None
    size: int


def frame(seq: int, arrival_ms: int, data: bytes) -> bytes:
    """One record as it is written to a segment."""
    body = struct.pack(">IQQ", len(data), seq, arrival_ms)
    crc = zlib.crc32(data, zlib.crc32(body))
    return struct.pack(">I", crc) + body + data


def scan_segment(raw: bytes) -> ScanResult:
    """The records of a segment's bytes, up to the first frame that is torn or corrupt."""
    records: list[SpooledRecord] = []
    if len(raw) < len(MAGIC):
        return ScanResult(records, 0 if raw else None, len(raw))
    if raw[: len(MAGIC)] != MAGIC:
        return ScanResult(records, 0, len(raw))
    offset = len(MAGIC)
    previous = -1
    while offset < len(raw):
        if len(raw) - offset < HEADER.size:
            return ScanResult(records, offset, len(raw))
        crc, length, seq, arrival_ms = HEADER.unpack_from(raw, offset)
        end = offset + HEADER.size + length
        if length > MAX_FRAME_DATA or end > len(raw) or seq <= previous:
            return ScanResult(records, offset, len(raw))
        data = raw[offset + HEADER.size : end]
        if zlib.crc32(data, zlib.crc32(raw[offset + 4 : offset + HEADER.size])) != crc:
            return ScanResult(records, offset, len(raw))
        records.append(SpooledRecord(seq, arrival_ms, data))
        previous = seq
        offset = end
    return ScanResult(records, None, len(raw))


@attrs.define
class _Segment:
    path: Path
    first_seq: int
    last_seq: int  # the last record written or read (first_seq - 1 while empty)
    fd: int | None = None  # open while it is the segment being written
    size: int = 0


def _segment_name(first_seq: int) -> str:
    return f"{first_seq:020d}{SEGMENT_SUFFIX}"


def _fsync_folder(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


class Spool:
    """Durable, append-only storage of the stream's records until they are settled."""

    def __init__(
        self,
        folder: Path,
        *,
        segment_bytes: int = DEFAULT_SEGMENT_BYTES,
        sync: SyncMode = SyncMode.GROUP,
        fsync: Callable[[int], None] = os.fsync,
    ) -> None:
        self.folder = folder
        self.segment_bytes = segment_bytes
        self.sync = sync
        self._fsync = fsync  # injectable, so that tests can hold an fsync in progress
        self.syncs = 0  # fsyncs of segment data so far (group commit makes them fewer)
        # Lock order: settle -> write -> file -> segments; the sync condition is taken alone
        # or last.
        self._write_lock = threading.Lock()  # numbering and the queue: file order = number order
        self._file_lock = threading.Lock()  # the open segment: writes, fsyncs, rotation
        self._segments_lock = threading.Lock()  # the list of segments
        self._sync_condition = threading.Condition()
        self._settle_lock = threading.Lock()
        self._segments: list[_Segment] = []  # oldest first; the last one may be open
        self._queue: list[bytes] = []  # frames appended and not yet written (group commit)
        self._next_seq = 1
        self._appended = 0  # the highest sequence number handed out
        self._durable = 0  # the highest sequence number written and covered by an fsync
        self._syncing = False  # a leader is writing and fsyncing a group
        self._failure: str | None = None  # set by a failed fsync: appends are refused
        self._lost: set[int] = set()  # numbers whose write failed (their appends raised)
        self._lost_reason = ""
        self._settled_through = 0
        self._settled: set[int] = set()  # settled numbers above _settled_through
        self._opened = False
        self._lock_fd: int | None = None  # an exclusive flock: one process per spool
        self._closed = False

    @property
    def appended(self) -> int:
        """The highest sequence number handed out (durable or not yet)."""
        with self._write_lock:
            return self._appended

    @property
    def settled_through(self) -> int:
        """Every record with a sequence number up to this one is settled (the checkpoint)."""
        with self._settle_lock:
            return self._settled_through

    # Recovery --------------------------------------------------------------------------------
    def recover(self) -> list[SpooledRecord]:
        """Open the spool: the records not yet settled, oldest first, to be delivered again."""
        if self._opened:
            raise InfrastructureError("the spool is already open")
        self.folder.mkdir(parents=True, exist_ok=True)
        self._lock()
        through = self._read_checkpoint()
        pending: list[SpooledRecord] = []
        highest = through
        for path in sorted(self.folder.glob(f"*{SEGMENT_SUFFIX}")):
            try:
                first_seq = int(path.name.removesuffix(SEGMENT_SUFFIX))
            except ValueError:
                logger.warning("spool: %s is not a segment name; left alone", path.name)
                continue
            scan = scan_segment(path.read_bytes())
            if scan.bad_offset is not None:
                logger.warning(
                    "spool: %s has a torn or corrupt record at byte %d; %d byte(s) after it "
                    "skipped, %d record(s) before it kept",
                    path.name,
                    scan.bad_offset,
                    scan.size - scan.bad_offset,
                    len(scan.records),
                )
            if scan.bad_offset == 0 and scan.size >= len(MAGIC):
                corrupt = path.with_name(path.name + ".corrupt")
                path.replace(corrupt)
                logger.error("spool: %s is not a spool segment; moved to %s", path, corrupt.name)
                continue
            if not scan.records:
                path.unlink()  # created, then the crash came before a record was acknowledged
                continue
            highest = max(highest, scan.records[-1].seq)
            unsettled = [r for r in scan.records if r.seq > through]
            if not unsettled:
                path.unlink()
                continue
            pending.extend(unsettled)
            self._segments.append(_Segment(path, first_seq, scan.records[-1].seq, size=scan.size))
        pending.sort(key=lambda r: r.seq)
        self._settled_through = through
        self._next_seq = highest + 1
        self._appended = self._durable = highest
        # Numbers between the checkpoint and the highest one that no segment holds any more
        # (a corrupt segment's tail) can never be delivered: count them as settled.
        present = {r.seq for r in pending}
        self._settled = {n for n in range(through + 1, highest + 1) if n not in present}
        self._opened = True
        self._advance()
        if pending:
            logger.info("spool: %d undelivered record(s) recovered", len(pending))
        return pending

    def _lock(self) -> None:
        """Take the folder for this process (the kernel releases it when the process dies,
        SIGKILL included): a second stack on the same data folder would resend, and delete,
        the segments the first one is still writing."""
        fd = os.open(self.folder / LOCK, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(fd)
            raise InfrastructureError(
                f"another process is using the spool in {self.folder} (is a second "
                "`analytics serve` running on this data folder?)"
            ) from exc
        self._lock_fd = fd

    def _read_checkpoint(self) -> int:
        path = self.folder / CHECKPOINT
        try:
            state = json.loads(path.read_bytes())
            return int(state["settledThrough"])
        except FileNotFoundError:
            return 0
        except (ValueError, KeyError, TypeError):
            # Written by atomic rename, so this is not a torn write: redeliver everything
            # (idempotent) rather than skip records.
            logger.exception("spool: the checkpoint is unreadable; every spooled record is resent")
            return 0

    # Appending -------------------------------------------------------------------------------
    def append(self, data: bytes, arrival_ms: int) -> int:
        """Spool one record; returns its sequence number once it is durable."""
        with self._write_lock:
            if not self._opened or self._closed:
                raise InfrastructureError("the local stream's spool is not open")
            if self._failure is not None:
                raise InfrastructureError(self._failure)
            seq = self._next_seq
            self._next_seq = seq + 1
            self._appended = seq
            if self.sync is SyncMode.EACH:
                with self._file_lock:
                    self._write_group([frame(seq, arrival_ms, data)], seq)
                return seq
            self._queue.append(frame(seq, arrival_ms, data))
        self._wait_durable(seq)
        return seq

    def _wait_durable(self, seq: int) -> None:
        """Return once an fsync covers `seq`, leading one if none is under way (group commit):
        the leader writes every frame queued so far with one write and one fsync."""
        with self._sync_condition:
            while True:
                if seq in self._lost:
                    raise InfrastructureError(self._lost_reason)
                if self._durable >= seq:
                    return
                if self._failure is not None:
                    raise InfrastructureError(self._failure)
                if not self._syncing:
                    self._syncing = True
                    break
                self._sync_condition.wait()
        try:
            with self._write_lock:
                frames, self._queue = self._queue, []
                last = self._appended
            with self._file_lock:
                self._write_group(frames, last)
        finally:
            with self._sync_condition:
                self._syncing = False
                self._sync_condition.notify_all()

    def _write_group(self, frames: list[bytes], last: int) -> None:
        """Append `frames` (numbered up to `last`) to the open segment and fsync it; caller
        holds the file lock. Raises `InfrastructureError` when they are not durable."""
        if not frames:
            return
        first = last - len(frames) + 1
        try:
            segment = self._open_segment(first)
        except OSError as exc:
            self._lose(first, last, f"cannot create a segment: {exc.strerror}")
            raise InfrastructureError(self._lost_reason) from exc
        assert segment.fd is not None  # noqa: S101  # _open_segment opened it
        data = b"".join(frames)
        try:
            _write_all(segment.fd, data)
        except OSError as exc:
            self._abandon(segment)
            self._lose(first, last, f"cannot be written: {exc.strerror}")
            raise InfrastructureError(self._lost_reason) from exc
        segment.size += len(data)
        with self._segments_lock:
            segment.last_seq = last
        try:
            self._sync(segment.fd)
        except OSError as exc:
            self._fail(exc)
            raise InfrastructureError(self._failure or "fsync failed") from exc
        with self._sync_condition:
            self._durable = max(self._durable, last)

    def _open_segment(self, first: int) -> _Segment:
        """The segment being written, rotated when full (every write to it was fsynced by
        then); caller holds the file lock."""
        if self._closed:
            raise OSError(errno.EBADF, "the spool is closed")
        current = self._segments[-1] if self._segments else None
        if current is not None and current.fd is not None:
            if current.size < self.segment_bytes:
                return current
            os.close(current.fd)
            with self._segments_lock:
                current.fd = None
        path = self.folder / _segment_name(first)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o600)
        try:
            _write_all(fd, MAGIC)
            _fsync_folder(self.folder)  # the new name survives a power loss too
        except OSError:
            os.close(fd)
            path.unlink(missing_ok=True)
            raise
        segment = _Segment(path, first, first - 1, fd, len(MAGIC))
        with self._segments_lock:
            self._segments.append(segment)
        return segment

    def _abandon(self, segment: _Segment) -> None:
        """After a failed write: cut the partial frames off and write the next group to a new
        segment, so that no torn frame ever sits before an acknowledged one."""
        assert segment.fd is not None  # noqa: S101  # only the open segment is written
        try:
            os.ftruncate(segment.fd, segment.size)
        except OSError:
            logger.exception("spool: cannot truncate %s after a failed write", segment.path)
        try:
            self._sync(segment.fd)
        except OSError as exc:
            self._fail(exc)  # what it holds may not be on disk: refuse from now on
        os.close(segment.fd)
        with self._segments_lock:
            segment.fd = None
            if segment.last_seq < segment.first_seq:  # nothing acknowledged in it
                self._segments.remove(segment)
                segment.path.unlink(missing_ok=True)

    def _lose(self, first: int, last: int, reason: str) -> None:
        """Records that could not be written: their appends fail (503), and the checkpoint
        passes over their numbers."""
        with self._sync_condition:
            self._lost.update(range(first, last + 1))
            self._lost_reason = f"the local stream's spool {reason}"
        logger.error("spool: %d record(s) refused: %s", last - first + 1, reason)

    def _sync(self, fd: int) -> None:
        self.syncs += 1
        self._fsync(fd)

    def _fail(self, exc: OSError) -> None:
        with self._sync_condition:
            self._failure = f"the local stream's spool cannot be synced: {exc.strerror}"
        logger.error("spool: fsync failed (%s); refusing further records", exc.strerror)

    # Settling --------------------------------------------------------------------------------
    def settle(self, seqs: Iterable[int]) -> None:
        """Mark records delivered (or backed up); advance the checkpoint when it can move."""
        with self._settle_lock:
            self._settled.update(n for n in seqs if n > self._settled_through)
            self._advance()

    def _settled_or_lost(self) -> set[int]:
        """Numbers above the checkpoint that are settled, or lost to a failed write (those
        were never acknowledged); caller holds the settle lock."""
        with self._sync_condition:
            lost = {n for n in self._lost if n > self._settled_through}
        return self._settled | lost

    def _advance(self) -> None:
        """Move the checkpoint over settled numbers, write it, drop spent segments; caller
        holds the settle lock (or is `recover`)."""
        done = self._settled_or_lost()
        through = self._settled_through
        while through + 1 in done:
            through += 1
        if through == self._settled_through:
            return
        self._write_checkpoint(through)
        self._settled_through = through
        self._settled = {n for n in self._settled if n > through}
        with self._segments_lock:
            spent = [s for s in self._segments if s.fd is None and s.last_seq <= through]
            for segment in spent:
                self._segments.remove(segment)
        for segment in spent:
            segment.path.unlink(missing_ok=True)

    def _write_checkpoint(self, through: int) -> None:
        path = self.folder / CHECKPOINT
        partial = self.folder / f".{CHECKPOINT}.partial"
        payload = json.dumps({"v": 1, "settledThrough": through}).encode()
        try:
            fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            try:
                _write_all(fd, payload)
                os.fsync(fd)
            finally:
                os.close(fd)
            partial.replace(path)
            _fsync_folder(self.folder)
        except OSError as exc:
            raise InfrastructureError(
                f"the local stream's checkpoint cannot be written: {exc.strerror}"
            ) from exc

    # Closing ---------------------------------------------------------------------------------
    def close(self) -> None:
        """Close the open segment; delete it when every record in it is settled."""
        with self._settle_lock, self._write_lock, self._file_lock, self._segments_lock:
            if self._closed:
                return
            self._closed = True
            for segment in list(self._segments):
                if segment.fd is not None:
                    try:
                        self._sync(segment.fd)
                    except OSError as exc:
                        logger.warning("spool: fsync of %s at close failed: %s", segment.path, exc)
                    finally:
                        os.close(segment.fd)
                        segment.fd = None
                if segment.last_seq <= self._settled_through:
                    self._segments.remove(segment)
                    segment.path.unlink(missing_ok=True)
            if self._lock_fd is not None:
                os.close(self._lock_fd)  # releases the flock
                self._lock_fd = None

    def pending(self) -> int:
        """Records written and not yet settled."""
        with self._settle_lock:
            appended = self.appended
            return appended - self._settled_through - len(self._settled_or_lost())
