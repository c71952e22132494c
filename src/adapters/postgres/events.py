"""The hot store's intake (`EventStore` on PostgreSQL): one transaction per batch.

Within the transaction, in this order:

1. The batch's sites are locked (`SELECT ... FOR UPDATE`, in site id order so that two
   batches never wait for each other in a cycle). Every batch for a site therefore runs after
   the previous one committed and sees its rows and its allowance charge. Then one value of
   each event table's `event_id` sequence is drawn: every row the batch inserts gets a larger
   id, and a smaller one than the rows of the next batch of any of its sites (which draws
   only once it holds the lock).
2. The fast path, when every site has allowance for all its rows: the rows are copied (binary
   COPY, the fastest way in) straight into `events` and `initial_events`, under a savepoint, as
   they come: given `expected`, the caller's rows may still be being built, and the database
   works on the first ones meanwhile. An event stored by an earlier delivery (or given
   twice) makes the COPY fail on the unique key (event_uid, dt); the savepoint is then rolled
   back and the batch takes the slow path. Redeliveries are rare, so the common case pays for
   no duplicate check at all, and its outcomes and counters are computed in bulk.
3. The slow path: the rows are copied into temporary tables shaped like the event tables,
   `ingest_new_events` and `ingest_new_initial_events`, whose `event_id` default draws from
   the event tables' own sequences; the rows stored already are removed (for a site short of
   allowance before anything else, since duplicates are free), then the rows past the
   allowance; the rest is inserted with a plain `INSERT ... SELECT` (under a savepoint, again
   retried once without the duplicates found).
4. The sites' allowances are charged with what was inserted, the outcome counters updated,
   and one row per site and table that got rows written to `stats_pending_ranges`: the ids
   drawn since step 1 (after the value drawn there, up to the sequence's `currval`), the first
   and last day and the number of the rows. The read model is folded from those ranges later
   (`adapters.postgres.read_model.fold_pending`; sql/migrations/0007_stats_pending_ranges.sql
   explains why they hold exactly the batch's rows of the site). Commit, or on any error
   roll everything back.

The temporary tables are dropped at commit, so a pooled connection keeps no state and a
migration that changes the event tables is picked up by the next batch.
"""

from __future__ import annotations

import operator
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import date
from typing import Any, NamedTuple

import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb

from adapters.json_text import properties_json
from adapters.postgres.pool import Pool, transaction
from analytics_core.allowance import sites_short_of_allowance, split_by_allowance
from analytics_core.outcomes import Outcome, OutcomeTally
from analytics_core.rows import EVENT_COLUMNS, INITIAL_EVENT_COLUMNS, EventRow, InitialEventRow, Row

# The batch's transaction may wait for a concurrent batch of the same site; processIngest's
# Lambda timeout (and Firehose's 3-minute wait) bound the whole request.
INGEST_STATEMENT_TIMEOUT_MS = 60_000
NEW_EVENTS = "ingest_new_events"
NEW_INITIAL_EVENTS = "ingest_new_initial_events"


class _Table:
    """One event table and its temporary twin, with the statements the store runs on them."""

    def __init__(
        self, table: str, temporary: str, columns: tuple[str, ...], types: tuple[str, ...]
    ) -> None:
        self.table = table
        self.columns = columns
        self.types = types  # of the columns, for binary COPY
        names = sql.SQL(", ").join(sql.Identifier(c) for c in columns)
        all_names = sql.SQL(", ").join(sql.Identifier(c) for c in ("event_id", *columns))
        target, temp = sql.Identifier(table), sql.Identifier(temporary)
        self.create = sql.SQL(
            "CREATE TEMPORARY TABLE {temp} (LIKE {target} INCLUDING DEFAULTS) ON COMMIT DROP"
        ).format(temp=temp, target=target)
        self.copy = sql.SQL("COPY {temp} ({names}) FROM STDIN (FORMAT BINARY)").format(
            temp=temp, names=names
        )
        self.copy_direct = sql.SQL("COPY {target} ({names}) FROM STDIN (FORMAT BINARY)").format(
            target=target, names=names
        )
        self.remove_stored = sql.SQL(
            "DELETE FROM {temp} AS n WHERE n.site_id = ANY(%s) AND EXISTS ("
            "SELECT 1 FROM {target} AS e WHERE e.event_uid = n.event_uid AND e.dt = n.dt) "
            "RETURNING n.event_uid"
        ).format(temp=temp, target=target)
        self.remove = sql.SQL("DELETE FROM {temp} WHERE event_uid = ANY(%s)").format(temp=temp)
        self.insert = sql.SQL("INSERT INTO {target} ({cols}) SELECT {cols} FROM {temp}").format(
            target=target, cols=all_names, temp=temp
        )
        # The sequence of `event_id` (which the temporary twin's default draws from too).
        self.sequence = sql.SQL("pg_get_serial_sequence({}, 'event_id')").format(sql.Literal(table))


# The types of the COPY columns (EVENT_COLUMNS, INITIAL_EVENT_COLUMNS), as the migrations
# create them: binary COPY sends each value in its column's own binary form (a test compares
# them with the schema).
EVENT_COPY_TYPES = ("text", "text", "text", "timestamptz", "date", "text", "text", "jsonb")
INITIAL_EVENT_COPY_TYPES = (
    *EVENT_COPY_TYPES,
    *("text", "text"),  # referer, referer_domain
    *("varchar",) * 11,  # utm_*, device, os, browser, country, region, city
    *("int2", "int2"),  # screen_width, screen_height
)
_EVENTS = _Table("events", NEW_EVENTS, EVENT_COLUMNS, EVENT_COPY_TYPES)
_INITIAL_EVENTS = _Table(
    "initial_events", NEW_INITIAL_EVENTS, INITIAL_EVENT_COLUMNS, INITIAL_EVENT_COPY_TYPES
)

_CREATE_NEW = sql.SQL("; ").join([_EVENTS.create, _INITIAL_EVENTS.create])
_INSERT_NEW = sql.SQL("; ").join([_EVENTS.insert, _INITIAL_EVENTS.insert])
_LOCK_SITES = (
    "SELECT site_id, request_allowance FROM sites WHERE site_id = ANY(%s) "
    "ORDER BY site_id FOR UPDATE"
)
# Run right after _LOCK_SITES: every id the transaction draws from now on is larger.
_DRAW_IDS = sql.SQL("SELECT nextval({events}), nextval({initial})").format(
    events=_EVENTS.sequence, initial=_INITIAL_EVENTS.sequence
)
# last_id is the last value this session drew, i.e. the id of the transaction's last row.
_MARK_PENDING = sql.SQL("""
INSERT INTO stats_pending_ranges
    (site_id, is_initial, after_id, last_id, first_dt, last_dt, row_count)
SELECT r.site_id, r.is_initial, r.after_id,
       CASE WHEN r.is_initial THEN currval({initial}) ELSE currval({events}) END,
       r.first_dt, r.last_dt, r.row_count
FROM unnest(%s::text[], %s::boolean[], %s::bigint[], %s::date[], %s::date[], %s::bigint[])
    AS r(site_id, is_initial, after_id, first_dt, last_dt, row_count)
""").format(events=_EVENTS.sequence, initial=_INITIAL_EVENTS.sequence)
_CHARGE = """
UPDATE sites AS s SET request_allowance = s.request_allowance - c.n
FROM unnest(%s::text[], %s::bigint[]) AS c(site_id, n)
WHERE s.site_id = c.site_id
"""
_COUNT_OUTCOMES = """
INSERT INTO ingest_outcomes (site_id, dt, outcome, count)
SELECT site_id, dt, outcome, n
FROM unnest(%s::text[], %s::date[], %s::text[], %s::bigint[]) AS t(site_id, dt, outcome, n)
ORDER BY site_id, dt, outcome
ON CONFLICT (site_id, dt, outcome) DO UPDATE SET count = ingest_outcomes.count + EXCLUDED.count
"""


_PROPERTIES = EVENT_COLUMNS.index("properties")


def _as_is(text: str) -> str:
    return text


def copy_values(row: Row) -> tuple[Any, ...]:
    """The row's values in its table's COPY columns: the row itself (its fields are the
    columns, in order), with `properties` as JSON text, marked as jsonb."""
    properties = row.properties
    if properties is None:
        return row
    text = Jsonb(properties_json(properties), dumps=_as_is)
    return (*row[:_PROPERTIES], text, *row[_PROPERTIES + 1 :])


def _table(row: Row) -> _Table:
    return _INITIAL_EVENTS if type(row) is InitialEventRow else _EVENTS


def _copy_runs(
    conn: psycopg.Connection[Any], rows: Iterator[Row], *, temporary: bool = False
) -> None:
    """COPY the rows into their tables (or their temporary twins) as they come: one COPY per
    run of rows of one table (a connection runs one COPY at a time), at most one run per
    table; the rows of a table whose run has ended wait for one last COPY. Rows that come
    grouped by table (as the core builds them: plain events first) are all written while they
    are being produced."""
    ended: set[type[Row]] = set()  # the row types (tables) whose run is over
    waiting: list[Row] = []
    row = next(rows, None)
    while row is not None:
        kind = type(row)
        if kind in ended:
            waiting.append(row)
            row = next(rows, None)
            continue
        table = _table(row)
        with conn.cursor().copy(table.copy if temporary else table.copy_direct) as copy:
            copy.set_types(table.types)
            write = copy.write_row
            while row is not None and type(row) is kind:
                write(copy_values(row))
                row = next(rows, None)
        ended.add(kind)
    for kind in (EventRow, InitialEventRow):
        left = [r for r in waiting if type(r) is kind]
        if left:
            table = _table(left[0])
            with conn.cursor().copy(table.copy if temporary else table.copy_direct) as copy:
                copy.set_types(table.types)
                for row_left in left:
                    copy.write_row(copy_values(row_left))


class PostgresEventStore:
    """Stores batches in `events` / `initial_events`; see the module docstring."""

    def __init__(
        self, pool: Pool, *, statement_timeout_ms: int = INGEST_STATEMENT_TIMEOUT_MS
    ) -> None:
        self._pool = pool
        self._timeout_ms = statement_timeout_ms

    def store(
        self,
        rows: Iterable[Row],
        rejected: Iterable[OutcomeTally],
        *,
        expected: Mapping[str, int] | None = None,
    ) -> list[Outcome]:
        """Insert the new rows within allowance, in one transaction; one outcome per row.

        With `expected` (the most rows each site can have, and every site of `rejected`), the
        sites are locked first and `rows` is consumed while it is being produced, straight
        into COPY: the database stores the first rows while the caller builds the next.
        `rejected` is read after `rows`."""
        if expected is None:
            rows, rejected = list(rows), list(rejected)
            expected = Counter(row.site_id for row in rows)
            expected.update({tally.site_id: 0 for tally in rejected})
        taken: list[Row] = []
        with transaction(self._pool, statement_timeout_ms=self._timeout_ms) as conn:
            allowances: dict[str, int] = dict(
                conn.execute(_LOCK_SITES, (sorted(expected),)).fetchall()
            )
            drawn = conn.execute(_DRAW_IDS).fetchone()
            assert drawn is not None  # noqa: S101  # a SELECT without FROM yields its row
            pending = iter(rows)
            fits = all(allowances.get(site, -1) >= n for site, n in expected.items())
            if fits and self._copy_streaming(conn, pending, taken, allowances):
                outcomes = [Outcome.ACCEPTED] * len(taken)
                written = _Written.all_accepted(taken)
            else:
                taken.extend(pending)  # what the fast path did not consume
                outcomes = [Outcome.DUPLICATE] * len(taken)
                candidates = self._candidates(taken, allowances, outcomes)
                if candidates:
                    self._insert(conn, taken, candidates, allowances, outcomes)
                written = _Written.of(taken, outcomes)
            self._count(conn, written, rejected, allowances)
            self._mark_pending(conn, written.pending(after_ids=drawn))
        return outcomes

    @staticmethod
    def _copy_streaming(
        conn: psycopg.Connection[Any],
        rows: Iterator[Row],
        taken: list[Row],
        allowances: Mapping[str, int],
    ) -> bool:
        """The fast path: COPY the rows straight into the event tables as they come, under a
        savepoint, appending each to `taken`. False when a row is stored already (or comes
        twice): the savepoint is rolled back, and `rows` holds what was not consumed."""

        def announced() -> Iterator[Row]:
            for row in rows:
                taken.append(row)
                if row.site_id not in allowances:
                    raise ValueError(f"a row of site {row.site_id}, not announced")
                yield row

        try:
            with conn.transaction():  # a savepoint: a duplicate rolls back only this
                _copy_runs(conn, announced())
        except psycopg.errors.UniqueViolation:
            return False  # stored by an earlier delivery: the slow path finds which
        return True

    @staticmethod
    def _candidates(
        rows: Sequence[Row], allowances: Mapping[str, int], outcomes: list[Outcome]
    ) -> list[int]:
        """Indexes of the rows that may be new: known site, first of their uid in the batch."""
        seen: set[tuple[str, date]] = set()
        candidates: list[int] = []
        for index, row in enumerate(rows):
            key = (row.event_uid, row.dt)
            if row.site_id not in allowances:
                outcomes[index] = Outcome.UNKNOWN_SITE  # deleted since its config was read
            elif key not in seen:
                seen.add(key)
                candidates.append(index)
        return candidates

    def _insert(
        self,
        conn: psycopg.Connection[Any],
        rows: Sequence[Row],
        candidates: list[int],
        allowances: Mapping[str, int],
        outcomes: list[Outcome],
    ) -> None:
        short = sites_short_of_allowance((rows[i].site_id for i in candidates), allowances)
        conn.execute(_CREATE_NEW)
        _copy_runs(conn, (rows[i] for i in candidates), temporary=True)
        stored: set[str] = set()
        if short:
            stored |= self._remove_stored(conn, sorted(short))
        fresh = [i for i in candidates if rows[i].event_uid not in stored]
        split = split_by_allowance([rows[i].site_id for i in fresh], allowances)
        excess = [fresh[position] for position in split.excess]
        if excess:
            uids = [rows[i].event_uid for i in excess]
            conn.execute(_EVENTS.remove, (uids,))
            conn.execute(_INITIAL_EVENTS.remove, (uids,))
        try:
            with conn.transaction():  # a savepoint: a duplicate rolls back only this
                self._insert_all(conn)
        except psycopg.errors.UniqueViolation:
            stored |= self._remove_stored(conn, sorted({rows[i].site_id for i in candidates}))
            self._insert_all(conn)

        for index in excess:
            outcomes[index] = Outcome.OVER_ALLOWANCE
        for position in split.admitted:
            index = fresh[position]
            if rows[index].event_uid not in stored:
                outcomes[index] = Outcome.ACCEPTED

    @staticmethod
    def _mark_pending(conn: psycopg.Connection[Any], ranges: Sequence[PendingRange]) -> None:
        """Record the inserted rows' ranges for the read model's next fold."""
        if not ranges:
            return
        conn.execute(_MARK_PENDING, [list(column) for column in zip(*ranges, strict=True)])

    @staticmethod
    def _remove_stored(conn: psycopg.Connection[Any], site_ids: list[str]) -> set[str]:
        """Take the rows already in the event tables out of the temporary ones; their uids."""
        found: set[str] = set()
        for table in (_EVENTS, _INITIAL_EVENTS):
            found.update(uid for (uid,) in conn.execute(table.remove_stored, (site_ids,)))
        return found

    @staticmethod
    def _insert_all(conn: psycopg.Connection[Any]) -> None:
        """Both temporary tables into the event tables, in one round trip."""
        conn.execute(_INSERT_NEW)

    @staticmethod
    def _count(
        conn: psycopg.Connection[Any],
        written: _Written,
        rejected: Iterable[OutcomeTally],
        allowances: Mapping[str, int],
    ) -> None:
        """Charge the allowances and add every outcome to `ingest_outcomes`."""
        charges: Counter[str] = Counter()
        tallies: Counter[tuple[str, date, str]] = Counter()
        for (site_id, dt, outcome), n in written.tallies.items():
            if outcome is Outcome.ACCEPTED:
                charges[site_id] += n
            tallies[site_id, dt, outcome.value] += n
        for tally in rejected:
            if tally.site_id in allowances:
                tallies[tally.site_id, tally.day, tally.outcome.value] += tally.count
        if charges:
            site_ids = sorted(charges)
            conn.execute(_CHARGE, (site_ids, [charges[site] for site in site_ids]))
        if tallies:
            keys = sorted(tallies)
            conn.execute(
                _COUNT_OUTCOMES,
                (
                    [key[0] for key in keys],
                    [key[1] for key in keys],
                    [key[2] for key in keys],
                    [tallies[key] for key in keys],
                ),
            )


_SITE_AND_DAY = operator.itemgetter(EVENT_COLUMNS.index("site_id"), EVENT_COLUMNS.index("dt"))


class PendingRange(NamedTuple):
    """The rows a transaction inserted into one event table for one site, as recorded in
    `stats_pending_ranges` (its `last_id` is the sequence's `currval` at the end)."""

    site_id: str
    is_initial: bool
    after_id: int
    first_dt: date
    last_dt: date
    row_count: int


class _Written:
    """What a batch's transaction wrote: rows per site, day and outcome (for the allowance
    charges and `ingest_outcomes`), and the inserted rows per site and day of each table, plain
    events then initial events (for their ranges in `stats_pending_ranges`)."""

    def __init__(
        self,
        tallies: Counter[tuple[str, date, Outcome]],
        inserted: tuple[Counter[tuple[str, date]], Counter[tuple[str, date]]],
    ) -> None:
        self.tallies = tallies
        self.inserted = inserted

    @classmethod
    def all_accepted(cls, rows: Sequence[Row]) -> _Written:
        """The count of rows that were all inserted (the fast path), in bulk."""
        kinds = list(map(type, rows))
        initial_count = kinds.count(InitialEventRow)
        split = len(rows) - initial_count
        if initial_count == 0 or kinds.index(InitialEventRow) == split:
            plain, initial = rows[:split], rows[split:]  # as the core yields them
        else:
            plain = [row for row in rows if type(row) is not InitialEventRow]
            initial = [row for row in rows if type(row) is InitialEventRow]
        inserted = (Counter(map(_SITE_AND_DAY, plain)), Counter(map(_SITE_AND_DAY, initial)))
        tallies: Counter[tuple[str, date, Outcome]] = Counter()
        for per_day in inserted:
            for (site, day), n in per_day.items():
                tallies[site, day, Outcome.ACCEPTED] += n
        return cls(tallies, inserted)

    @classmethod
    def of(cls, rows: Sequence[Row], outcomes: Sequence[Outcome]) -> _Written:
        """The count of rows whose outcomes are all decided (a row whose site is gone counts
        nowhere)."""
        written = cls(Counter(), (Counter(), Counter()))
        for row, outcome in zip(rows, outcomes, strict=True):
            if outcome is Outcome.UNKNOWN_SITE:
                continue
            written.tallies[row.site_id, row.dt, outcome] += 1
            if outcome is Outcome.ACCEPTED:
                written.inserted[type(row) is InitialEventRow][row.site_id, row.dt] += 1
        return written

    def pending(self, *, after_ids: Sequence[int]) -> list[PendingRange]:
        """One range per site and table that got rows; `after_ids` are the values drawn from
        the plain and initial events' sequences after the sites were locked."""
        ranges: list[PendingRange] = []
        for is_initial, per_day in enumerate(self.inserted):
            spans: dict[str, tuple[date, date, int]] = {}  # site: first day, last day, rows
            for (site, day), n in per_day.items():
                first, last, count = spans.get(site, (day, day, 0))
                spans[site] = (min(first, day), max(last, day), count + n)
            ranges.extend(
                PendingRange(site, bool(is_initial), after_ids[is_initial], first, last, n)
                for site, (first, last, n) in sorted(spans.items())
            )
        return ranges
