"""The fact-block engine: the stats definitions of `analytics_core.stats` over columnar blocks
of pre-attributed events, in numpy, without a database.

A block holds one site's events of one local day (in one time zone), each already attributed
by the definitions: its session (a site-wide number), local hour, event name, pathname, whether
it is a visit (with the visit's bounce and duration), and an index into the block's session-day
rows, which hold the session's attributes of that day and its entry and exit pages; properties
are sparse (row, key, value) triples. Strings are dictionary ids into the block's own list.

`build_blocks` turns the raw rows of local days D-1..D+1 into the blocks of the days between
(the rows of the day before give attributions, those of the day after complete visits);
`encode`/`decode` serialise a block; `View` concatenates a range's blocks (their ids made
global through one `Interner`), and `evaluate` answers a `StatsQuery` from a view: filters are
masks computed once per distinct string, sums are `np.bincount`, distinct sessions per group a
sort of (session, group) keys that the view's session order makes nearly sorted already.
"""

from __future__ import annotations

import json
import struct
import threading
import zlib
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta, tzinfo
from functools import cached_property
from typing import Any

import attrs
import numpy as np
import numpy.typing as npt
import orjson

from analytics_core.stats import (
    PAGEVIEW,
    SESSION_DIMENSIONS,
    VISIT_DIMENSIONS,
    Counts,
    Dimension,
    Field,
    Filter,
    Interval,
    Property,
    StatsQuery,
    StatsResult,
    breakdown_order,
    day_bucket,
    hour_start,
    local_midnight,
    property_text,
)

I32 = npt.NDArray[np.int32]
I64 = npt.NDArray[np.int64]
Bools = npt.NDArray[np.bool_]

BLOCK_DIMENSIONS = (*SESSION_DIMENSIONS, *VISIT_DIMENSIONS)
"""The session-day columns of a block, in this order."""
NULL = -1
"""The dictionary id of a null value in a block (global ids shift it to 0)."""
FORMAT_VERSION = 1
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_US = timedelta(microseconds=1)


def epoch_us(moment: datetime) -> int:
    """Whole microseconds since the epoch."""
    return (moment - _EPOCH) // _US


def day_hour_starts(day: date, tz: tzinfo) -> list[datetime]:
    """The starts of the local hours of `day` (23, 24 or 25), as `bucket_starts` makes them."""
    first = local_midnight(day, tz).astimezone(UTC)
    end = local_midnight(day + timedelta(days=1), tz).astimezone(UTC)
    starts: list[datetime] = []
    moment = first
    while moment < end:
        starts.append(hour_start(moment, tz))
        moment += timedelta(hours=1)
    # Keyed by instant: within one zone, the two 1 am of a fall-back day compare equal.
    return list({start.astimezone(UTC): start for start in starts}.values())


# ---------------------------------------------------------------- the raw rows


@attrs.frozen
class RawRows:
    """One site's rows (both tables) as columns: what a block is built from. `attributes`
    holds one column per session attribute (`SESSION_DIMENSIONS` order), None for plain
    events; `properties` the JSON text (or None)."""

    session_ids: Sequence[str]
    numbers: Sequence[int]
    """The site-wide number of each row's session."""
    timestamps_us: Sequence[int]
    event_uids: Sequence[str]
    is_initial: Sequence[bool]
    events: Sequence[str]
    pathnames: Sequence[str]
    properties: Sequence[str | None]
    attributes: Sequence[Sequence[str | None]]


# ---------------------------------------------------------------- blocks


@attrs.frozen(eq=False)
class Block:
    """One site's facts of one local day (see the module docstring). Ids index `strings`;
    NULL (-1) is a null value."""

    day: date
    strings: tuple[str, ...]
    session: I64  # site-wide session number, per event; events sorted by it
    hour: npt.NDArray[np.int8]  # index into day_hour_starts(day)
    name: I32
    path: I32
    visit: Bools
    bounce: Bools
    duration: I64  # the visit's duration (0 for other rows)
    session_day: I32  # index into the session-day columns
    columns: Mapping[Dimension, I32]  # per session-day row, BLOCK_DIMENSIONS
    prop_row: I32
    prop_key: I32
    prop_value: I32

    @property
    def size(self) -> int:
        """How many events."""
        return len(self.session)


_EVENT_ARRAYS = (
    "session",
    "hour",
    "name",
    "path",
    "visit",
    "bounce",
    "duration",
    "session_day",
    "prop_row",
    "prop_key",
    "prop_value",
)


def encode(block: Block) -> bytes:
    """The block as bytes (zlib of a small header and the raw arrays)."""
    arrays: list[tuple[str, np.ndarray[Any, Any]]] = [
        (name, getattr(block, name)) for name in _EVENT_ARRAYS
    ]
    arrays += [(f"col:{d.value}", block.columns[d]) for d in BLOCK_DIMENSIONS]
    strings = "\0".join(block.strings).encode()
    header = orjson.dumps(
        {
            "v": FORMAT_VERSION,
            "day": block.day.isoformat(),
            "strings": len(block.strings),
            "arrays": [(name, a.dtype.str, len(a)) for name, a in arrays],
        }
    )
    body = b"".join(np.ascontiguousarray(a).tobytes() for _, a in arrays)
    return zlib.compress(struct.pack("<II", len(header), len(strings)) + header + strings + body, 1)


def decode(data: bytes) -> Block:
    """The block `encode` wrote."""
    raw = zlib.decompress(data)
    header_size, strings_size = struct.unpack_from("<II", raw)
    offset = 8
    header = orjson.loads(raw[offset : offset + header_size])
    offset += header_size
    text = raw[offset : offset + strings_size].decode()
    offset += strings_size
    strings = tuple(text.split("\0")) if header["strings"] else ()
    arrays: dict[str, np.ndarray[Any, Any]] = {}
    for name, dtype, length in header["arrays"]:
        array = np.frombuffer(raw, dtype=np.dtype(dtype), count=length, offset=offset)
        offset += array.nbytes
        arrays[name] = array
    columns = {d: arrays.pop(f"col:{d.value}") for d in BLOCK_DIMENSIONS}
    return Block(date.fromisoformat(header["day"]), strings, columns=columns, **arrays)


class _Dictionary:
    def __init__(self) -> None:
        self.ids: dict[str, int] = {}

    def id(self, value: str | None) -> int:
        if value is None:
            return NULL
        found = self.ids.get(value)
        if found is None:
            found = self.ids[value] = len(self.ids)
        return found

    def many(self, values: Iterable[str | None], keep: Bools | None = None) -> I32:
        """The ids of `values` (NULL for None, and where `keep` is false)."""
        ids = self.ids
        out = np.array(
            [NULL if v is None else ids.setdefault(v, len(ids)) for v in values], dtype=np.int32
        )
        if keep is not None:
            out[~keep] = NULL
        return out

    def strings(self) -> tuple[str, ...]:
        return tuple(self.ids)


@attrs.frozen(eq=False)
class _Facts:
    """The rows in (session, timestamp, uid) order with what the definitions derive."""

    day: I64  # local day index from the first day read
    session: I64
    stamp: I64
    run_of: I64  # (session, day) run of each row
    attributed: I64  # per run: the row of its attributed initial event, or -1
    visit: Bools
    window_pageviews: I64  # per initial event row: its visit window's pageviews
    window_duration: I64
    window_exit: I64  # the row of the window's last pageview, or -1
    attributes: list[npt.NDArray[np.object_]]  # per SESSION_DIMENSIONS, in row order
    pathnames: npt.NDArray[np.object_]
    names: npt.NDArray[np.object_]
    properties: list[str | None]


def _runs_lookup(run_key: I64, keys: I64) -> I64:
    """The run index of each (session, day) key, or -1."""
    if len(run_key) == 0:
        return np.full(len(keys), -1, dtype=np.int64)
    at = np.searchsorted(run_key, keys)
    clipped = np.minimum(at, len(run_key) - 1)
    return np.where((at < len(run_key)) & (run_key[clipped] == keys), clipped, -1)


def _facts(rows: RawRows, midnights: I64) -> _Facts:
    span = len(midnights) - 1
    stamps = np.asarray(rows.timestamps_us, dtype=np.int64)
    numbers = np.asarray(rows.numbers, dtype=np.int64)
    day_of = np.searchsorted(midnights, stamps, side="right").astype(np.int64) - 1
    inside = (day_of >= 0) & (day_of < span)
    # Order: session, timestamp, event_uid (the definitions' tie break: code points).
    uid_rank = np.empty(len(stamps), dtype=np.int64)
    uid_rank[np.argsort(np.asarray(rows.event_uids, dtype=object), kind="stable")] = np.arange(
        len(stamps)
    )
    order = np.lexsort((uid_rank, stamps, numbers))
    order = order[inside[order]]
    session, stamp, day = numbers[order], stamps[order], day_of[order]
    initial = np.asarray(rows.is_initial, dtype=bool)[order]
    names = np.asarray(rows.events, dtype=object)[order]
    is_pageview = names == PAGEVIEW
    n = len(order)
    rows_at = np.arange(n)
    ms = np.floor_divide(stamp, 1000)

    # Per (session, day) runs: rows are contiguous there (the day follows the timestamp).
    key = session * span + day
    change = np.r_[True, key[1:] != key[:-1]] if n else np.zeros(0, dtype=bool)
    starts = np.flatnonzero(change)
    run_of = np.cumsum(change) - 1
    run_key = key[starts]
    ends = np.r_[starts[1:], n]

    def per_run(ufunc: np.ufunc, values: I64) -> I64:
        return ufunc.reduceat(values, starts) if n else np.zeros(0, dtype=np.int64)

    run_pageviews = per_run(np.add, is_pageview.astype(np.int64))
    run_min, run_max = per_run(np.minimum, ms), per_run(np.maximum, ms)
    run_last_pv = per_run(np.maximum, np.where(is_pageview, rows_at, -1))
    run_last_pv = np.where(run_last_pv >= starts, run_last_pv, -1)
    run_first_initial = per_run(np.minimum, np.where(initial, rows_at, n))
    run_first_initial = np.where(run_first_initial < ends, run_first_initial, -1)

    # Attribution of a run (session, day): the first initial event of the day before, else
    # of the day itself.
    previous = _runs_lookup(run_key, run_key - 1)
    from_previous = np.where(
        (previous >= 0) & (day[starts] > 0), run_first_initial[np.maximum(previous, 0)], -1
    )
    attributed = np.where(from_previous >= 0, from_previous, run_first_initial)
    # The visit window of a row's initial event: its run and the session's next day's run.
    next_run = _runs_lookup(run_key, key + 1)
    has_next = (next_run >= 0) & (day < span - 1)
    nxt = np.maximum(next_run, 0)
    return _Facts(
        day=day,
        session=session,
        stamp=stamp,
        run_of=run_of,
        attributed=attributed,
        visit=initial & (attributed[run_of] == rows_at) if n else initial,
        window_pageviews=run_pageviews[run_of] + np.where(has_next, run_pageviews[nxt], 0),
        window_duration=np.where(has_next, run_max[nxt], run_max[run_of]) - run_min[run_of],
        window_exit=np.where(
            has_next & (run_last_pv[nxt] >= 0), run_last_pv[nxt], run_last_pv[run_of]
        ),
        attributes=[np.asarray(column, dtype=object)[order] for column in rows.attributes],
        pathnames=np.asarray(rows.pathnames, dtype=object)[order],
        names=names,
        properties=[rows.properties[i] for i in order.tolist()],
    )


def _properties(facts: _Facts, chosen: Sequence[int], strings: _Dictionary) -> tuple[I32, I32, I32]:
    """The (row, key, value) triples of the chosen rows' properties that have a text."""
    prop_row: list[int] = []
    prop_key: list[int] = []
    prop_value: list[int] = []
    for row_number, row in enumerate(chosen):
        text = facts.properties[row]
        if text is None:
            continue
        try:
            parsed = orjson.loads(text)
        except orjson.JSONDecodeError:  # beyond 64-bit integers: the standard parser
            parsed = json.loads(text)
        if not isinstance(parsed, dict):
            continue
        for prop, raw_value in parsed.items():
            value = property_text(raw_value)
            if value is not None:
                prop_row.append(row_number)
                prop_key.append(strings.id(prop))
                prop_value.append(strings.id(value))
    return (
        np.array(prop_row, dtype=np.int32),
        np.array(prop_key, dtype=np.int32),
        np.array(prop_value, dtype=np.int32),
    )


def _day_block(facts: _Facts, wanted: date, index: int, tz: tzinfo) -> Block:
    chosen = np.flatnonzero(facts.day == index)
    strings = _Dictionary()
    hours = np.array([epoch_us(s) for s in day_hour_starts(wanted, tz)], dtype=np.int64)
    block_runs, session_day = np.unique(facts.run_of[chosen], return_inverse=True)
    sources = facts.attributed[block_runs]
    attributed = sources >= 0
    source = np.maximum(sources, 0)
    exits = facts.window_exit[source]
    columns: dict[Dimension, I32] = {
        d: strings.many(column[source], keep=attributed)
        for d, column in zip(SESSION_DIMENSIONS, facts.attributes, strict=True)
    }
    columns[Dimension.ENTRY_PAGE] = strings.many(facts.pathnames[source], keep=attributed)
    columns[Dimension.EXIT_PAGE] = strings.many(
        facts.pathnames[np.maximum(exits, 0)], keep=attributed & (exits >= 0)
    )
    prop_row, prop_key, prop_value = _properties(facts, chosen.tolist(), strings)
    visit = facts.visit[chosen]
    name = strings.many(facts.names[chosen])
    path = strings.many(facts.pathnames[chosen])
    return Block(
        day=wanted,
        strings=strings.strings(),
        session=facts.session[chosen],
        hour=(np.searchsorted(hours, facts.stamp[chosen], side="right") - 1).astype(np.int8),
        name=name,
        path=path,
        visit=visit,
        bounce=visit & (facts.window_pageviews[chosen] == 1),
        duration=np.where(visit, facts.window_duration[chosen], 0).astype(np.int64),
        session_day=session_day.astype(np.int32).reshape(-1),
        columns=columns,
        prop_row=prop_row,
        prop_key=prop_key,
        prop_value=prop_value,
    )


def build_blocks(rows: RawRows, days: Sequence[date], tz: tzinfo) -> list[Block]:
    """The blocks of `days` from `rows`, which must hold every row of the site's local days
    from the day before the first of `days` to the day after the last (more does no harm)."""
    if not days:
        return []
    first_day = min(days) - timedelta(days=1)
    span = (max(days) - first_day).days + 2
    midnights = np.array(
        [epoch_us(local_midnight(first_day + timedelta(days=d), tz)) for d in range(span + 1)],
        dtype=np.int64,
    )
    facts = _facts(rows, midnights)
    return [_day_block(facts, d, (d - first_day).days, tz) for d in sorted(set(days))]


# ---------------------------------------------------------------- views


class Interner:
    """Global string ids (0 is null), shared by every view of a process; grows only."""

    def __init__(self) -> None:
        self._ids: dict[str, int] = {}
        self.strings: list[str | None] = [None]
        self._lock = threading.Lock()
        self._matches: dict[Filter, Bools] = {}

    def __len__(self) -> int:
        return len(self.strings)

    def ids(self, strings: Sequence[str]) -> I32:
        """The global ids of `strings`, with a leading 0 for null (index block id + 1)."""
        with self._lock:
            out = np.empty(len(strings) + 1, dtype=np.int32)
            out[0] = 0
            for i, value in enumerate(strings, start=1):
                found = self._ids.get(value)
                if found is None:
                    found = self._ids[value] = len(self.strings)
                    self.strings.append(value)
                out[i] = found
            return out

    def find(self, value: str) -> int:
        """The id of `value`, or -1."""
        return self._ids.get(value, -1)

    def matching(self, condition: Filter) -> Bools:
        """Per global id, whether `condition` keeps the value (each string tested once)."""
        with self._lock:
            known = self._matches.get(condition)
            done = 0 if known is None else len(known)
            if known is not None and done == len(self.strings):
                return known
            fresh = np.fromiter(
                (condition.matches(s) for s in self.strings[done:]),
                dtype=bool,
                count=len(self.strings) - done,
            )
            table = fresh if known is None else np.concatenate([known, fresh])
            self._matches[condition] = table
            return table


@attrs.frozen(eq=False)
class GlobalBlock:
    """A block with its ids made global (0 null) and its hour count."""

    day: date
    size: int
    session: I64
    hour: npt.NDArray[np.int8]
    hours: int
    name: I32
    path: I32
    visit: Bools
    bounce: Bools
    duration: I64
    session_day: I32
    columns: Mapping[Dimension, I32]
    prop_row: I32
    prop_key: I32
    prop_value: I32


def globalise(block: Block, interner: Interner, tz: tzinfo) -> GlobalBlock:
    """`block` with global ids."""
    ids = interner.ids(block.strings)
    return GlobalBlock(
        day=block.day,
        size=block.size,
        session=block.session,
        hour=block.hour,
        hours=len(day_hour_starts(block.day, tz)),
        name=ids[block.name + 1],
        path=ids[block.path + 1],
        visit=block.visit,
        bounce=block.bounce,
        duration=block.duration,
        session_day=block.session_day,
        columns={d: ids[c + 1] for d, c in block.columns.items()},
        prop_row=block.prop_row,
        prop_key=ids[block.prop_key + 1],
        prop_value=ids[block.prop_value + 1],
    )


@attrs.frozen(eq=False)
class _Sorted:
    """A view's rows ordered by one field's value, then session: the order and the columns
    a breakdown reads, in that order."""

    order: I64
    values: I32
    sessions: npt.NDArray[Any]
    names: I32
    codes: npt.NDArray[np.int8]
    durations: I64


class View:
    """A range's blocks as one table, sorted by session (dense numbers), then day."""

    def __init__(self, blocks: Sequence[GlobalBlock], interner: Interner) -> None:
        self.interner = interner
        self.days = sorted({b.day for b in blocks})
        position_of = {d: i for i, d in enumerate(self.days)}
        hours_of = {b.day: b.hours for b in blocks}
        day_offsets = np.cumsum([0] + [hours_of[d] for d in self.days])
        block_day = [position_of[b.day] for b in blocks]
        hour_offsets = [int(day_offsets[i]) for i in block_day]
        sizes = np.array([b.size for b in blocks], dtype=np.int64)
        day_index = np.repeat(np.array(block_day, dtype=np.int32), sizes)
        session_day_offsets = np.cumsum([0] + [len(b.columns[Dimension.COUNTRY]) for b in blocks])
        row_offsets = np.cumsum(np.r_[0, sizes])

        def cat(arrays: list[Any], dtype: Any) -> Any:
            return (
                np.concatenate(arrays).astype(dtype, copy=False) if arrays else np.zeros(0, dtype)
            )

        raw_session = cat([b.session for b in blocks], np.int64)
        # Each block is sorted by session already: the stable sort (timsort) merges runs.
        order = np.argsort(raw_session, kind="stable")
        self.size = len(order)
        narrow = len(raw_session) == 0 or raw_session.max() <= np.iinfo(np.int32).max
        # Half the bytes to compress per query while the numbers fit 32 bits.
        self.session: npt.NDArray[Any] = raw_session[order].astype(np.int32 if narrow else np.int64)
        self.day = day_index[order]
        hour = cat(
            [b.hour.astype(np.int32) + hour_offsets[i] for i, b in enumerate(blocks)], np.int32
        )
        self.hour: I32 = hour[order]
        self.name: I32 = cat([b.name for b in blocks], np.int32)[order]
        self.path: I32 = cat([b.path for b in blocks], np.int32)[order]
        self.visit: Bools = cat([b.visit for b in blocks], bool)[order]
        self.bounce: Bools = cat([b.bounce for b in blocks], bool)[order]
        self.duration: I64 = cat([b.duration for b in blocks], np.int64)[order]
        self.session_day: I64 = cat(
            [b.session_day + session_day_offsets[i] for i, b in enumerate(blocks)], np.int64
        )[order]
        self.columns: dict[Dimension, I32] = {
            d: cat([b.columns[d] for b in blocks], np.int32) for d in BLOCK_DIMENSIONS
        }
        position = np.empty(self.size, dtype=np.int64)
        position[order] = np.arange(self.size)
        self.prop_row: I64 = position[
            cat([b.prop_row + row_offsets[i] for i, b in enumerate(blocks)], np.int64)
        ]
        self.prop_key: I32 = cat([b.prop_key for b in blocks], np.int32)
        self.prop_value: I32 = cat([b.prop_value for b in blocks], np.int32)
        pageview = self.name == interner.find(PAGEVIEW)
        self.code: npt.NDArray[np.int8] = (
            pageview.astype(np.int8)
            + 2 * self.visit.astype(np.int8)
            + 4 * self.bounce.astype(np.int8)
        )
        self.visit_rows = np.flatnonzero(self.visit)
        self.visit_bounce = self.bounce[self.visit_rows]
        self.visit_duration = self.duration[self.visit_rows]
        self._values: dict[Field, I32] = {}
        self._orders: dict[Field, _Sorted] = {}
        self._lock = threading.RLock()
        self.lock = self._lock
        self.buckets: dict[tuple[Interval | None, str], tuple[I64, list[datetime]]] = {}

    def values(self, field: Field) -> I32:
        """Per event, the global id of `field`'s value (0 null)."""
        with self._lock:
            found = self._values.get(field)
            if found is None:
                found = self._values[field] = self._compute(field)
            return found

    def by_value(self, field: Field) -> _Sorted:
        """The rows ordered by `field`'s value, then session (made once per field)."""
        with self._lock:
            found = self._orders.get(field)
            if found is None:
                values = self.values(field)
                # A radix sort when the ids fit 16 bits (numpy's stable sort of small ints).
                small = len(self.interner) <= np.iinfo(np.uint16).max
                order = np.argsort(values.astype(np.uint16) if small else values, kind="stable")
                found = self._orders[field] = _Sorted(
                    order=order,
                    values=values[order],
                    sessions=self.session[order],
                    names=self.name[order],
                    codes=self.code[order],
                    durations=self.duration[order],
                )
            return found

    def _compute(self, field: Field) -> I32:
        if isinstance(field, Property):
            out = np.zeros(self.size, dtype=np.int32)
            key = self.interner.find(field.key)
            if key > 0:
                chosen = self.prop_key == key
                out[self.prop_row[chosen]] = self.prop_value[chosen]
            return out
        if field is Dimension.PATHNAME:
            return self.path
        if field is Dimension.EVENT:
            return self.name
        return self.columns[field][self.session_day]


# ---------------------------------------------------------------- evaluation


def _runs(*keys: npt.NDArray[Any]) -> Bools:
    """Where a new run of equal keys starts (the arrays are ordered by them)."""
    if len(keys[0]) == 0:
        return np.zeros(0, dtype=bool)
    change = np.zeros(len(keys[0]), dtype=bool)
    change[0] = True
    for key in keys:
        change[1:] |= key[1:] != key[:-1]
    return change


def _kept(array: npt.NDArray[Any], mask: Bools | None) -> npt.NDArray[Any]:
    return array if mask is None else array[mask]


def _count(mask: Bools | None, size: int) -> int:
    return size if mask is None else int(np.count_nonzero(mask))


def _and(mask: Bools | None, other: Bools) -> Bools:
    return other if mask is None else mask & other


class _Kept:
    """The kept rows (`mask`, None: all) of the arrays the aggregations read, each compressed
    once per query, when first needed."""

    def __init__(self, view: View, mask: Bools | None, goal: int | None) -> None:
        self.view, self.mask, self.goal_id = view, mask, goal

    @cached_property
    def session(self) -> npt.NDArray[Any]:
        return _kept(self.view.session, self.mask)

    @cached_property
    def code(self) -> npt.NDArray[np.int8]:
        return _kept(self.view.code, self.mask)

    @cached_property
    def goal(self) -> Bools | None:
        return None if self.goal_id is None else _kept(self.view.name, self.mask) == self.goal_id

    @cached_property
    def visits(self) -> Bools | None:
        return None if self.mask is None else self.mask[self.view.visit_rows]

    @cached_property
    def duration(self) -> I64:
        return _kept(self.view.visit_duration, self.visits)

    @cached_property
    def duration_sum(self) -> int:
        return int(self.duration.sum())

    def visitors(self) -> int:
        """Distinct sessions among the kept rows."""
        return int(np.count_nonzero(_runs(self.session)))

    def converted(self) -> int:
        """Distinct sessions among the kept rows of the goal."""
        goal = self.goal
        return 0 if goal is None else int(np.count_nonzero(_runs(self.session[goal])))


@attrs.frozen(eq=False)
class _Sums:
    """Per-group sums (arrays of one length)."""

    events: npt.NDArray[Any]
    pageviews: npt.NDArray[Any]
    visits: npt.NDArray[Any]
    bounces: npt.NDArray[Any]
    duration: npt.NDArray[Any]

    @classmethod
    def of_codes(cls, codes: I64, duration: npt.NDArray[Any]) -> _Sums:
        """From (group, flags) counts (groups x 8, see `View.code`)."""
        return cls(
            events=codes.sum(axis=1),
            pageviews=codes[:, 1::2].sum(axis=1),
            visits=codes[:, [2, 3, 6, 7]].sum(axis=1),
            bounces=codes[:, 4:].sum(axis=1),
            duration=duration,
        )

    def counts(self, visitors: I64, conversions: I64, chosen: Iterable[int]) -> list[Counts]:
        """The Counts of the chosen groups."""
        return [
            Counts(
                events=int(self.events[i]),
                pageviews=int(self.pageviews[i]),
                visitors=int(visitors[i]),
                visits=int(self.visits[i]),
                bounces=int(self.bounces[i]),
                duration_ms=int(self.duration[i]),
                conversions=int(conversions[i]),
            )
            for i in chosen
        ]

    def total(self) -> Counts:
        """Every group's sums together (visitors and conversions left at 0)."""
        return Counts(
            events=int(self.events.sum()),
            pageviews=int(self.pageviews.sum()),
            visits=int(self.visits.sum()),
            bounces=int(self.bounces.sum()),
            duration_ms=int(self.duration.sum()),
        )


class _Aggregate:
    """Per-group sums of the kept rows; `group` per row of the view (None: one group)."""

    def __init__(self, kept: _Kept, group: I64 | None, groups: int) -> None:
        self.kept, self.groups = kept, groups
        self.group = None if group is None else _kept(group, kept.mask)
        self._group_full = group

    def counts(self, visitors: I64, conversions: I64) -> list[Counts]:
        """The Counts of every group, given their distinct sessions."""
        kept, groups = self.kept, self.groups
        if self.group is None:
            codes = np.bincount(kept.code, minlength=8).reshape(1, 8)
            duration = np.array([kept.duration_sum])
        else:
            codes = np.bincount(self.group * 8 + kept.code, minlength=8 * groups).reshape(groups, 8)
            assert self._group_full is not None  # noqa: S101  # set with group
            duration = np.rint(
                np.bincount(
                    _kept(self._group_full[kept.view.visit_rows], kept.visits),
                    weights=kept.duration.astype(np.float64),
                    minlength=groups,
                )
            ).astype(np.int64)
        return _Sums.of_codes(codes, duration).counts(visitors, conversions, range(groups))

    def distinct(self, *, goal_only: bool) -> I64:
        """Distinct sessions per group among the kept rows (or those of the goal), when the
        view's order (session, then time) keeps (session, group) keys sorted (totals and
        timeseries)."""
        session = self.kept.session
        group = self.group
        if goal_only:
            assert self.kept.goal is not None  # noqa: S101  # asked only with a goal
            session = session[self.kept.goal]
            group = None if group is None else group[self.kept.goal]
        if group is None:
            return np.array([int(np.count_nonzero(_runs(session)))])
        return np.bincount(group[_runs(session, group)], minlength=self.groups)


def _simple(kept: _Kept, group: I64 | None, groups: int) -> list[Counts]:
    agg = _Aggregate(kept, group, groups)
    visitors = agg.distinct(goal_only=False)
    conversions = (
        agg.distinct(goal_only=True) if kept.goal is not None else np.zeros(groups, np.int64)
    )
    return agg.counts(visitors, conversions)


def _bucket_of_rows(view: View, query: StatsQuery) -> tuple[I64, list[datetime]]:
    """Per row its bucket number, and each bucket's start (kept by the view)."""
    key = (query.interval, query.timezone)
    with view.lock:
        found = view.buckets.get(key)
        if found is None:
            found = view.buckets[key] = _buckets(view, query)
        return found


def _buckets(view: View, query: StatsQuery) -> tuple[I64, list[datetime]]:
    tz = query.zone
    interval = query.interval
    if interval is Interval.HOUR:
        starts = [s for d in view.days for s in day_hour_starts(d, tz)]
        return view.hour.astype(np.int64), starts
    assert interval is not None  # noqa: S101  # callers ask only with an interval
    firsts = [day_bucket(d, interval) for d in view.days]
    distinct = list(dict.fromkeys(firsts))
    index = {d: i for i, d in enumerate(distinct)}
    per_day = np.array([index[f] for f in firsts], dtype=np.int64)
    return per_day[view.day], [local_midnight(d, tz) for d in distinct]


def _breakdown(
    kept_rows: _Kept, query: StatsQuery, field: Field
) -> tuple[tuple[tuple[str | None, Counts], ...], Counts]:
    """The breakdown's top rows, and the sums of every group (all but visitors and
    conversions: the totals' own), all from the rows ordered by the field's value."""
    view, mask = kept_rows.view, kept_rows.mask
    ordered = view.by_value(field)
    kept = None if mask is None else mask[ordered.order]
    v = _kept(ordered.values, kept)
    s = _kept(ordered.sessions, kept)
    c = _kept(ordered.codes, kept)
    d = _kept(ordered.durations, kept)
    # Groups are runs of equal values here: every sum is a reduceat over the runs.
    firsts = np.flatnonzero(_runs(v))
    present = v[firsts]
    groups = len(present)
    if groups:
        flags = c.astype(np.int32)
        sums = _Sums(
            events=np.diff(np.r_[firsts, len(v)]),
            pageviews=np.add.reduceat(flags & 1, firsts),
            visits=np.add.reduceat((flags >> 1) & 1, firsts),
            bounces=np.add.reduceat(flags >> 2, firsts),
            duration=np.add.reduceat(d, firsts),
        )
        visitors = np.add.reduceat(_runs(v, s).astype(np.int32), firsts)
    else:
        none = np.zeros(0, dtype=np.int64)
        sums = _Sums(none, none, none, none, none)
        visitors = none
    conversions = np.zeros(groups, np.int64)
    if kept_rows.goal_id is not None and groups:
        reached = _kept(ordered.names, kept) == kept_rows.goal_id
        first_rows = np.zeros(len(v), dtype=bool)
        first_rows[firsts] = True
        group = np.cumsum(first_rows) - 1
        pairs = _runs(v[reached], s[reached])
        conversions = np.bincount(group[reached][pairs], minlength=groups)
    # Only the rows that can make the top `limit` become Counts.
    if groups > query.limit:
        threshold = np.partition(visitors, groups - query.limit)[groups - query.limit]
        chosen = np.flatnonzero(visitors >= threshold)
    else:
        chosen = np.arange(groups)
    counts = sums.counts(visitors, conversions, chosen.tolist())
    rows = [
        (view.interner.strings[int(present[i])], found)
        for i, found in zip(chosen.tolist(), counts, strict=True)
    ]
    return tuple(sorted(rows, key=breakdown_order)[: query.limit]), sums.total()


def evaluate(view: View, query: StatsQuery) -> StatsResult:
    """Answer `query` from `view` (which holds exactly the query's sites and days)."""
    mask: Bools | None = None
    for condition in query.filters:
        passing = view.interner.matching(condition)[view.values(condition.dimension)]
        mask = _and(mask, passing)
    goal = None if query.goal is None else view.interner.find(query.goal)
    kept = _Kept(view, mask, goal)
    # The totals' sums come from the breakdown's or the buckets' groups when there are any
    # (every kept row is in exactly one); their distinct sessions are their own.
    sums: Counts | None = None
    breakdown: tuple[tuple[str | None, Counts], ...] = ()
    if query.group_by is not None and view.size:
        breakdown, sums = _breakdown(kept, query, query.group_by)
    timeseries: tuple[tuple[datetime, Counts], ...] = ()
    if query.interval is not None and view.size:
        buckets, starts = _bucket_of_rows(view, query)
        per_bucket = _simple(kept, buckets, len(starts))
        timeseries = tuple(
            (start, counts)
            for start, counts in zip(starts, per_bucket, strict=True)
            if counts.events
        )
        if sums is None:
            sums = Counts(
                events=sum(c.events for c in per_bucket),
                pageviews=sum(c.pageviews for c in per_bucket),
                visits=sum(c.visits for c in per_bucket),
                bounces=sum(c.bounces for c in per_bucket),
                duration_ms=sum(c.duration_ms for c in per_bucket),
            )
    if sums is None:
        (totals,) = _simple(kept, None, 1)
    else:
        totals = attrs.evolve(sums, visitors=kept.visitors(), conversions=kept.converted())
    return StatsResult(totals=totals, timeseries=timeseries, breakdown=breakdown)
