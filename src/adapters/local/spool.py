"""The local stream's write-ahead spool: an event answered 202 is on disk before the answer.

The folder holds append-only segment files and one checkpoint:

    <first sequence number, 20 digits>.seg   an 8-byte magic, then framed records
    checkpoint                               {"v": 1, "settledThrough": N}, replaced atomically

Every record gets the next sequence number and is framed as a 24-byte header, then the data:
`>IIQQ` = CRC-32, data length, sequence number, arrival time (epoch ms); the CRC covers the
20 header bytes after it and the data. A record is durable once its segment is fsynced.

- **Group commit.** `append` writes the frame under a lock (so the file order is the sequence
  order), then waits until an fsync covers it. The first waiter becomes the leader and fsyncs
  once for everything written so far; appends that arrive meanwhile wait for the next fsync,
  which one of them leads. Concurrent requests thus share fsyncs; a lone request pays one.
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

Writing or fsyncing failures raise `InfrastructureError` (the collect API answers 503). After a
failed fsync the spool refuses every further append: the kernel may have dropped the dirty
pages, and a later fsync could report success without them.
"""

from __future__ import annotations

import enum
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
        self._write_lock = threading.Lock()  # the file order is the sequence order
        self._sync_condition = threading.Condition()
        self._settle_lock = threading.Lock()
        self._segments: list[_Segment] = []  # oldest first; the last one may be open
        self._next_seq = 1
        self._written = 0  # the highest sequence number written
        self._durable = 0  # the highest sequence number covered by an fsync
        self._syncing = False
        self._failure: str | None = None  # set by a failed fsync: appends are refused
        self._settled_through = 0
        self._settled: set[int] = set()  # settled numbers above _settled_through
        self._opened = False
        self._closed = False

    @property
    def written(self) -> int:
        """The highest sequence number written (durable or not yet)."""
        with self._write_lock:
            return self._written

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
        self._written = self._durable = highest
        # Numbers between the checkpoint and the highest one that no segment holds any more
        # (a corrupt segment's tail) can never be delivered: count them as settled.
        present = {r.seq for r in pending}
        self._settled = {n for n in range(through + 1, highest + 1) if n not in present}
        self._opened = True
        self._advance()
        if pending:
            logger.info("spool: %d undelivered record(s) recovered", len(pending))
        return pending

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
        """Write one record and return its sequence number once it is durable."""
        with self._write_lock:
            if not self._opened or self._closed:
                raise InfrastructureError("the local stream's spool is not open")
            if self._failure is not None:
                raise InfrastructureError(self._failure)
            segment = self._writable_segment()
            seq = self._next_seq
            assert segment.fd is not None  # noqa: S101  # _writable_segment opened it
            try:
                _write_all(segment.fd, frame(seq, arrival_ms, data))
            except OSError as exc:
                self._abandon(segment)
                raise InfrastructureError(
                    f"the local stream's spool cannot be written: {exc.strerror}"
                ) from exc
            segment.size += HEADER.size + len(data)
            segment.last_seq = seq
            self._next_seq = seq + 1
            self._written = seq
            if self.sync is SyncMode.EACH:
                self._fsync_or_fail(segment.fd, seq)
                return seq
        self._wait_durable(seq)
        return seq

    def _writable_segment(self) -> _Segment:
        """The open segment, rotated when full; caller holds the write lock."""
        current = self._segments[-1] if self._segments else None
        if current is not None and current.fd is not None:
            if current.size < self.segment_bytes:
                return current
            self._fsync_or_fail(current.fd, self._written)  # nothing in it may stay unsynced
            os.close(current.fd)
            current.fd = None
        path = self.folder / _segment_name(self._next_seq)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o600)
            _write_all(fd, MAGIC)
            _fsync_folder(self.folder)  # the new name survives a power loss too
        except OSError as exc:
            raise InfrastructureError(
                f"the local stream's spool cannot create a segment: {exc.strerror}"
            ) from exc
        segment = _Segment(path, self._next_seq, self._next_seq - 1, fd, len(MAGIC))
        self._segments.append(segment)
        return segment

    def _abandon(self, segment: _Segment) -> None:
        """After a failed write: cut the partial frame off and write the next record to a new
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
        segment.fd = None
        if segment.last_seq < segment.first_seq:  # nothing acknowledged in it
            self._segments.remove(segment)
            segment.path.unlink(missing_ok=True)

    def _sync(self, fd: int) -> None:
        self.syncs += 1
        self._fsync(fd)

    def _fsync_or_fail(self, fd: int, through: int) -> None:
        try:
            self._sync(fd)
        except OSError as exc:
            self._fail(exc)
            raise InfrastructureError(self._failure or "fsync failed") from exc
        with self._sync_condition:
            self._durable = max(self._durable, through)

    def _fail(self, exc: OSError) -> None:
        self._failure = f"the local stream's spool cannot be synced: {exc.strerror}"
        logger.error("spool: fsync failed (%s); refusing further records", exc.strerror)

    def _wait_durable(self, seq: int) -> None:
        """Return once an fsync covers `seq`, leading one if none is under way (group commit)."""
        with self._sync_condition:
            while self._durable < seq:
                if self._failure is not None:
                    raise InfrastructureError(self._failure)
                if not self._syncing:
                    self._syncing = True
                    break
                self._sync_condition.wait()
            else:
                return
        # The leader: one fsync for everything written so far.
        try:
            with self._write_lock:
                target = self._written
                segment = self._segments[-1] if self._segments else None
                # A duplicate descriptor stays valid if the segment is rotated meanwhile;
                # a closed segment was fsynced when it was closed (rotation, failed write).
                fd = os.dup(segment.fd) if segment is not None and segment.fd is not None else None
            if fd is not None:
                try:
                    self._sync(fd)
                finally:
                    os.close(fd)
        except OSError as exc:
            with self._sync_condition:
                self._fail(exc)
                self._syncing = False
                self._sync_condition.notify_all()
            raise InfrastructureError(self._failure or "fsync failed") from exc
        with self._sync_condition:
            self._durable = max(self._durable, target)
            self._syncing = False
            self._sync_condition.notify_all()

    # Settling --------------------------------------------------------------------------------
    def settle(self, seqs: Iterable[int]) -> None:
        """Mark records delivered (or backed up); advance the checkpoint when it can move."""
        with self._settle_lock:
            self._settled.update(n for n in seqs if n > self._settled_through)
            self._advance()

    def _advance(self) -> None:
        """Move the checkpoint over settled numbers, write it, drop spent segments; caller
        holds the settle lock (or is `recover`)."""
        through = self._settled_through
        while through + 1 in self._settled:
            through += 1
            self._settled.discard(through)
        if through == self._settled_through:
            return
        self._write_checkpoint(through)
        self._settled_through = through
        with self._write_lock:
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
        with self._settle_lock, self._write_lock:
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

    def pending(self) -> int:
        """Records written and not yet settled."""
        with self._settle_lock:
            return self._written - self._settled_through - len(self._settled)
