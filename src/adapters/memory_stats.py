"""An in-memory `StatsReader`: the metric definitions of `analytics_core.stats`, in plain Python.

It is the fake of the unit tests and the reference the store adapters are checked against
(the same rows must give the same answer from PostgreSQL, DuckDB and this). It is written
for clarity, not speed: every query walks every row. Like the cold store it tolerates rows
delivered twice (one copy per table and `event_uid` counts), and counts every row without a
uid (`MISSING_UID`, as the DynamoDB version wrote them) under its stand-in uid.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from datetime import UTC, date, datetime, timedelta

import attrs

from analytics_core.errors import NotFoundError
from analytics_core.legacy_uids import MISSING_UID, assign_legacy_uids
from analytics_core.migration_counts import CopyCounts, DayCounts
from analytics_core.rows import EventRow, InitialEventRow, Row
from analytics_core.stats import (
    PAGEVIEW,
    Counts,
    Dimension,
    Interval,
    StatsQuery,
    StatsResult,
    breakdown_order,
    bucket_of,
)

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_DAY = timedelta(days=1)

SessionKey = tuple[str, str]


def epoch_ms(moment: datetime) -> int:
    """Whole milliseconds since the epoch (as the stores compute it)."""
    return (moment - _EPOCH) // timedelta(milliseconds=1)


@attrs.frozen
class _Fact:
    row: Row
    initial: InitialEventRow | None  # the attributed initial event
    visit: tuple[int, int] | None  # (pageviews, duration ms) when the row is a visit

    def value(self, dimension: Dimension) -> str | None:
        if not dimension.per_session:
            return str(getattr(self.row, dimension.value))
        return None if self.initial is None else getattr(self.initial, dimension.value)


class _Tally:
    def __init__(self) -> None:
        self.events = self.pageviews = self.visits = self.bounces = self.duration_ms = 0
        self.sessions: set[SessionKey] = set()

    def add(self, fact: _Fact) -> None:
        self.events += 1
        self.pageviews += fact.row.event == PAGEVIEW
        self.sessions.add((fact.row.site_id, fact.row.session_id))
        if fact.visit is not None:
            pageviews, duration = fact.visit
            self.visits += 1
            self.bounces += pageviews == 1
            self.duration_ms += duration

    def counts(self) -> Counts:
        return Counts(
            events=self.events,
            pageviews=self.pageviews,
            visitors=len(self.sessions),
            visits=self.visits,
            bounces=self.bounces,
            duration_ms=self.duration_ms,
        )


def _bucket(row: Row, interval: Interval) -> datetime:
    """The bucket of a row: by its `dt`, and its UTC hour for hourly buckets (as the SQL)."""
    day = datetime(row.dt.year, row.dt.month, row.dt.day, tzinfo=UTC)
    if interval is Interval.HOUR:
        return day + timedelta(hours=row.timestamp.astimezone(UTC).hour)
    return bucket_of(day, interval)


class InMemoryStatsReader:
    """Stats over rows held in memory."""

    def __init__(self, source: str = "memory") -> None:
        self._source = source
        self._events: dict[str, EventRow] = {}
        self._initial: dict[str, InitialEventRow] = {}
        self._legacy_events: list[EventRow] = []
        self._legacy_initial: list[InitialEventRow] = []
        self._lock = threading.Lock()

    @property
    def source(self) -> str:
        """The name answers report."""
        return self._source

    def add(self, events: Iterable[EventRow], initial_events: Iterable[InitialEventRow]) -> None:
        """Store rows; a row whose `event_uid` is already in its table is a duplicate, and
        every row without one (`MISSING_UID`) is an event of its own."""
        with self._lock:
            for event in events:
                if event.event_uid == MISSING_UID:
                    self._legacy_events.append(event)
                else:
                    self._events.setdefault(event.event_uid, event)
            for initial in initial_events:
                if initial.event_uid == MISSING_UID:
                    self._legacy_initial.append(initial)
                else:
                    self._initial.setdefault(initial.event_uid, initial)

    def rows(self) -> tuple[list[EventRow], list[InitialEventRow]]:
        """Every stored row, one per event: rows without a uid get their stand-in uid
        (`analytics_core.legacy_uids`)."""
        with self._lock:
            events = [*self._events.values(), *self._legacy_events]
            initial = [*self._initial.values(), *self._legacy_initial]
        return (
            [r for r in assign_legacy_uids("events", events) if isinstance(r, EventRow)],
            [
                r
                for r in assign_legacy_uids("initial_events", initial)
                if isinstance(r, InitialEventRow)
            ],
        )

    def read_rows(self, table: str, day: date, site_ids: Collection[str] | None) -> Iterator[Row]:
        """`ColdEventSource.read_rows`: one copy per uid, every row without one (still
        without), by site and session."""
        with self._lock:
            if table == "events":
                rows: list[Row] = [*self._events.values(), *self._legacy_events]
            else:
                rows = [*self._initial.values(), *self._legacy_initial]
        chosen = [r for r in rows if r.dt == day and (site_ids is None or r.site_id in site_ids)]
        return iter(sorted(chosen, key=lambda r: (r.site_id, r.session_id)))

    def daily_counts(
        self, first: date, last: date, site_ids: Collection[str] | None
    ) -> dict[tuple[str, date], DayCounts]:
        """Events and distinct sessions per site and day (`ColdEventSource.daily_counts`)."""
        events: dict[tuple[str, date], int] = defaultdict(int)
        sessions: dict[tuple[str, date], set[str]] = defaultdict(set)
        all_events, all_initial = self.rows()
        combined: list[Row] = [*all_events, *all_initial]
        for row in combined:
            if first <= row.dt <= last and (site_ids is None or row.site_id in site_ids):
                events[row.site_id, row.dt] += 1
                sessions[row.site_id, row.dt].add(row.session_id)
        return {key: DayCounts(n, len(sessions[key])) for key, n in events.items()}

    def contains(self, table: str, event_uid: str) -> bool:
        """Whether `table` holds a row with this uid."""
        with self._lock:
            return event_uid in (self._events if table == "events" else self._initial)

    def read(self, query: StatsQuery) -> StatsResult:
        """Answer `query` by the definitions."""
        sites = set(query.site_ids)
        all_events, all_initial = self.rows()
        initial = [i for i in all_initial if i.site_id in sites]
        rows: list[Row] = [e for e in all_events if e.site_id in sites]
        rows += initial
        by_session: dict[SessionKey, list[Row]] = defaultdict(list)
        for row in rows:
            by_session[row.site_id, row.session_id].append(row)
        initials: dict[SessionKey, list[InitialEventRow]] = defaultdict(list)
        for row in initial:
            initials[row.site_id, row.session_id].append(row)

        def attributed(key: SessionKey, day: date) -> InitialEventRow | None:
            candidates = [i for i in initials.get(key, ()) if i.dt in (day - _DAY, day)]
            return min(candidates, key=lambda i: (i.timestamp, i.event_uid), default=None)

        def visit_of(row: Row, initial: InitialEventRow | None) -> tuple[int, int] | None:
            if initial is None or row is not initial or initial.dt != row.dt:
                return None
            window = [
                r
                for r in by_session[row.site_id, row.session_id]
                if row.dt <= r.dt <= row.dt + _DAY
            ]
            stamps = [epoch_ms(r.timestamp) for r in window]
            return sum(r.event == PAGEVIEW for r in window), max(stamps) - min(stamps)

        totals = _Tally()
        buckets: dict[datetime, _Tally] = defaultdict(_Tally)
        groups: dict[str | None, _Tally] = defaultdict(_Tally)
        for row in rows:
            if not query.start_date <= row.dt <= query.end_date:
                continue
            initial_event = attributed((row.site_id, row.session_id), row.dt)
            fact = _Fact(row, initial_event, visit_of(row, initial_event))
            if not all(f.matches(fact.value(f.dimension)) for f in query.filters):
                continue
            totals.add(fact)
            if query.interval is not None:
                buckets[_bucket(row, query.interval)].add(fact)
            if query.group_by is not None:
                groups[fact.value(query.group_by)].add(fact)
        breakdown = sorted(((v, t.counts()) for v, t in groups.items()), key=breakdown_order)
        return StatsResult(
            totals=totals.counts(),
            timeseries=tuple(sorted((start, t.counts()) for start, t in buckets.items())),
            breakdown=tuple(breakdown[: query.limit]),
        )


class InMemoryHotEventCopies:
    """`HotEventCopies` over an in-memory reader standing for the hot store's event tables;
    with a `read_model`, the rows it inserts are recorded there as pending, as the PostgreSQL
    adapter records them for the fold."""

    def __init__(
        self,
        store: InMemoryStatsReader,
        sites: Callable[[], Collection[str]],
        read_model: InMemoryReadModel | None = None,
    ) -> None:
        self._store = store
        self._sites = sites
        self._read_model = read_model

    def known_sites(self, site_ids: Collection[str] | None) -> set[str]:
        """The registered sites, or those of `site_ids` that are."""
        registered = set(self._sites())
        return registered if site_ids is None else registered & set(site_ids)

    def copy(self, table: str, rows: Sequence[Row], *, dry_run: bool = False) -> CopyCounts:
        """Add the rows whose uid is new (and record them as pending in the read model)."""
        new: dict[str, Row] = {}
        for row in rows:
            if not self._store.contains(table, row.event_uid):
                new.setdefault(row.event_uid, row)
        if not dry_run:
            events = [r for r in new.values() if isinstance(r, EventRow)]
            initial = [r for r in new.values() if isinstance(r, InitialEventRow)]
            self._store.add(events, initial)
            if self._read_model is not None:
                self._read_model.record(new.values())
        return CopyCounts(inserted=len(new), present=len(rows) - len(new))

    def daily_counts(
        self, first: date, last: date, site_ids: Collection[str] | None
    ) -> dict[tuple[str, date], DayCounts]:
        """The store's counts."""
        return self._store.daily_counts(first, last, site_ids)


class InMemoryReadModel:
    """`ReadModel` in memory: rows stored in the hot store reach `reader` (the hot
    `InMemoryStatsReader` answers from it) only when a fold or a rebuild takes them in, as the
    read model's tables do in PostgreSQL.

    `record` is the ingest side (rows stored and recorded as pending, as the event store
    does); `store_unrecorded` stands for rows that reach the hot store another way (a restore),
    which only a rebuild takes in. `sites` lists the registered sites (a rebuild of another is
    `NotFoundError`); None accepts any."""

    def __init__(
        self,
        reader: InMemoryStatsReader | None = None,
        sites: Callable[[], Collection[str]] | None = None,
    ) -> None:
        self.reader = reader if reader is not None else InMemoryStatsReader("postgres")
        self._sites = sites
        self._lock = threading.Lock()
        self._waiting: list[tuple[Row, bool]] = []  # (row, recorded as pending)
        self._spans: dict[SessionKey, date] = {}  # folded sessions -> their last day
        self.folds: list[tuple[str, ...] | None] = []  # the site_ids of each fold, in order

    def record(self, rows: Iterable[Row]) -> None:
        """Store rows as ingest does: pending until a fold of their site."""
        with self._lock:
            self._waiting.extend((row, True) for row in rows)

    def store_unrecorded(self, rows: Iterable[Row]) -> None:
        """Store rows without recording them as pending (only a rebuild takes them in)."""
        with self._lock:
            self._waiting.extend((row, False) for row in rows)

    def fold_pending(self, site_ids: Collection[str] | None = None) -> int:
        """Take the pending rows of `site_ids` (every site when None) in; how many."""
        with self._lock:
            self.folds.append(None if site_ids is None else tuple(site_ids))
            return self._take(site_ids, pending_only=True)

    def rebuild(
        self,
        site_ids: Collection[str] | None = None,
        *,
        timeout: timedelta | None = None,  # noqa: ARG002  # memory has no deadline
    ) -> dict[str, int]:
        """Take every stored row of `site_ids` (every site when None) in; the one part of this
        read model is its rows."""
        with self._lock:
            if site_ids is not None and self._sites is not None:
                known = set(self._sites())
                missing = [site_id for site_id in site_ids if site_id not in known]
                if missing:
                    raise NotFoundError("site", missing[0])
            self._take(site_ids, pending_only=False)
            events, initial = self.reader.rows()
            stored: list[Row] = [*events, *initial]
            for row in stored:
                if site_ids is None or row.site_id in site_ids:
                    self._widen(row)
            return {"rows": len(stored)}

    def expire(self, before: date) -> int:
        """Forget the sessions whose last day is before `before`; how many."""
        with self._lock:
            gone = [key for key, last in self._spans.items() if last < before]
            for key in gone:
                del self._spans[key]
            return len(gone)

    def pending(self) -> int:
        """How many stored rows wait for a fold (beyond the port, like PostgreSQL's)."""
        with self._lock:
            return sum(1 for _, recorded in self._waiting if recorded)

    def _take(self, site_ids: Collection[str] | None, *, pending_only: bool) -> int:
        wanted = None if site_ids is None else set(site_ids)
        taken = [
            row
            for row, recorded in self._waiting
            if (recorded or not pending_only) and (wanted is None or row.site_id in wanted)
        ]
        taken_ids = {id(row) for row in taken}
        self._waiting = [entry for entry in self._waiting if id(entry[0]) not in taken_ids]
        self.reader.add(
            [r for r in taken if isinstance(r, EventRow)],
            [r for r in taken if isinstance(r, InitialEventRow)],
        )
        for row in taken:
            self._widen(row)
        return len(taken)

    def _widen(self, row: Row) -> None:
        key = (row.site_id, row.session_id)
        last = self._spans.get(key)
        if last is None or row.dt > last:
            self._spans[key] = row.dt
