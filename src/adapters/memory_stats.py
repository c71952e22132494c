"""An in-memory `StatsReader`: the metric definitions of `analytics_core.stats`, in plain Python.

It is the fake of the unit tests and the reference the store adapters are checked against
(the same rows must give the same answer from PostgreSQL, DuckDB and this). It is written
for clarity, not speed: every query walks every row. Every date is the local date of the
row's timestamp in the query's time zone (`StatsQuery.zone`), never the stored UTC `dt`.
Like the cold store it tolerates rows delivered twice (one copy per table and `event_uid`
counts), and counts every row without a uid (`MISSING_UID`, as the DynamoDB version wrote
them) under its stand-in uid.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from datetime import UTC, date, datetime, timedelta, tzinfo

import attrs

from analytics_core.errors import NotFoundError
from analytics_core.legacy_uids import MISSING_UID, assign_legacy_uids
from analytics_core.migration_counts import CopyCounts, DayCounts
from analytics_core.rows import EventRow, InitialEventRow, Row
from analytics_core.stats import (
    PAGEVIEW,
    Counts,
    Dimension,
    Field,
    Interval,
    Property,
    StatsQuery,
    StatsResult,
    breakdown_order,
    bucket_of,
    day_bucket,
    local_date,
    local_midnight,
    property_text,
)

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_DAY = timedelta(days=1)

SessionKey = tuple[str, str]


def epoch_ms(moment: datetime) -> int:
    """Whole milliseconds since the epoch (as the stores compute it)."""
    return (moment - _EPOCH) // timedelta(milliseconds=1)


@attrs.frozen
class _Visit:
    """What an initial event's visit window holds: the session's events dated on the initial
    event's (local) day and the day after."""

    pageviews: int
    duration_ms: int
    exit_page: str | None  # the pathname of the window's last pageview


@attrs.frozen
class _Fact:
    row: Row
    initial: InitialEventRow | None  # the attributed initial event
    window: _Visit | None  # the attributed initial event's visit window
    is_visit: bool  # whether the row is a visit (its own attributed initial event)

    def value(self, field: Field) -> str | None:
        if isinstance(field, Property):
            properties = self.row.properties
            return None if properties is None else property_text(properties.get(field.key))
        if not field.per_session:
            return str(getattr(self.row, field.value))
        if self.initial is None:
            return None
        if field is Dimension.ENTRY_PAGE:
            return self.initial.pathname
        if field is Dimension.EXIT_PAGE:
            return None if self.window is None else self.window.exit_page
        value: str | None = getattr(self.initial, field.value)
        return value


class _Tally:
    def __init__(self) -> None:
        self.events = self.pageviews = self.visits = self.bounces = self.duration_ms = 0
        self.sessions: set[SessionKey] = set()
        self.converted: set[SessionKey] = set()

    def add(self, fact: _Fact, goal: str | None) -> None:
        session = (fact.row.site_id, fact.row.session_id)
        self.events += 1
        self.pageviews += fact.row.event == PAGEVIEW
        self.sessions.add(session)
        if goal is not None and fact.row.event == goal:
            self.converted.add(session)
        if fact.is_visit and fact.window is not None:
            self.visits += 1
            self.bounces += fact.window.pageviews == 1
            self.duration_ms += fact.window.duration_ms

    def counts(self) -> Counts:
        return Counts(
            events=self.events,
            pageviews=self.pageviews,
            visitors=len(self.sessions),
            visits=self.visits,
            bounces=self.bounces,
            duration_ms=self.duration_ms,
            conversions=len(self.converted),
        )


def _bucket(moment: datetime, day: date, interval: Interval, tz: tzinfo) -> datetime:
    """The start of a row's bucket: its local hour, or the local midnight starting the day,
    week or month of its local date."""
    if interval is Interval.HOUR:
        return bucket_of(moment, interval, tz)
    return local_midnight(day_bucket(day, interval), tz)


def _first(item: tuple[datetime, object]) -> datetime:
    return item[0]


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
        """Answer `query` by the definitions (every date the local date in `query.zone`)."""
        tz = query.zone
        sites = set(query.site_ids)
        all_events, all_initial = self.rows()
        every: list[Row] = [*all_events, *all_initial]
        rows = [row for row in every if row.site_id in sites]
        dated = [(row, local_date(row.timestamp, tz)) for row in rows]
        by_session: dict[SessionKey, list[tuple[Row, date]]] = defaultdict(list)
        initials: dict[SessionKey, list[tuple[InitialEventRow, date]]] = defaultdict(list)
        for row, day in dated:
            by_session[row.site_id, row.session_id].append((row, day))
            if isinstance(row, InitialEventRow):
                initials[row.site_id, row.session_id].append((row, day))

        def attributed(key: SessionKey, day: date) -> tuple[InitialEventRow, date] | None:
            candidates = [(i, d) for i, d in initials.get(key, ()) if d in (day - _DAY, day)]
            return min(candidates, key=lambda c: (c[0].timestamp, c[0].event_uid), default=None)

        windows: dict[tuple[SessionKey, str], _Visit] = {}

        def window_of(key: SessionKey, initial: InitialEventRow, day: date) -> _Visit:
            if (key, initial.event_uid) not in windows:
                window = [r for r, d in by_session[key] if day <= d <= day + _DAY]
                stamps = [epoch_ms(r.timestamp) for r in window]
                pageviews = sorted(
                    (r for r in window if r.event == PAGEVIEW),
                    key=lambda r: (r.timestamp, r.event_uid),
                )
                windows[key, initial.event_uid] = _Visit(
                    pageviews=len(pageviews),
                    duration_ms=max(stamps) - min(stamps),
                    exit_page=pageviews[-1].pathname if pageviews else None,
                )
            return windows[key, initial.event_uid]

        totals = _Tally()
        # By UTC start: within one zone, the two 1 am of a fall-back day compare equal.
        buckets: dict[datetime, tuple[datetime, _Tally]] = {}
        groups: dict[str | None, _Tally] = defaultdict(_Tally)
        for row, day in dated:
            if not query.start_date <= day <= query.end_date:
                continue
            key = (row.site_id, row.session_id)
            found = attributed(key, day)
            if found is None:
                fact = _Fact(row, None, None, is_visit=False)
            else:
                initial, initial_day = found
                window = window_of(key, initial, initial_day)
                fact = _Fact(row, initial, window, is_visit=row is initial)
            if not all(f.matches(fact.value(f.dimension)) for f in query.filters):
                continue
            totals.add(fact, query.goal)
            if query.interval is not None:
                start = _bucket(row.timestamp, day, query.interval, tz)
                instant = start.astimezone(UTC)
                if instant not in buckets:
                    buckets[instant] = (start, _Tally())
                buckets[instant][1].add(fact, query.goal)
            if query.group_by is not None:
                groups[fact.value(query.group_by)].add(fact, query.goal)
        breakdown = sorted(((v, t.counts()) for v, t in groups.items()), key=breakdown_order)
        return StatsResult(
            totals=totals.counts(),
            timeseries=tuple(
                (start, tally.counts()) for _, (start, tally) in sorted(buckets.items(), key=_first)
            ),
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
        self.zone_changes: list[tuple[str, ...]] = []  # the site_ids of each forget_local_days

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

    def forget_local_days(self, site_ids: Collection[str]) -> None:
        """Nothing is kept by local day here (the reader computes every answer in the query's
        zone); the call is remembered."""
        with self._lock:
            self.zone_changes.append(tuple(site_ids))

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
