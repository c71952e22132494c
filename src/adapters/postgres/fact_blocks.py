"""Fact blocks in PostgreSQL (`stats_fact_blocks`, sql/migrations/0013) and the hot
`StatsReader` that answers from them (`FactBlockStatsReader`).

A block is one site's events of one local day, pre-attributed (adapters/fact_engine.py),
built for one time zone and stored compressed with a version from a sequence. Blocks are
invalidated by deletion: the fold of pending rows (`stats_fold_pending`) deletes the blocks of
the local days its rows can touch (their UTC days -2..+2: a local date is within a day of the
UTC one, and a block reads the days beside its own), `stats_rebuild_from_rows` the rebuilt
sites' blocks, the read model's expiry the blocks of expired days, a site's deletion every row
with its `site_id`. The reader builds whatever block is missing, or was built for another time
zone, at read time, from the raw rows, under a share lock of the sites (ingest, which locks
them for update, waits meanwhile: the rows read are exactly those committed, and any row
committed later is pending, so its fold deletes the block again).

A process keeps decoded blocks (`BlockCache`, bounded by events held) keyed by site and day
with their version, and the last views, so a warm container fetches only changed blocks.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Collection, Sequence
from datetime import UTC, date, timedelta
from typing import Any

import psycopg

from adapters.fact_engine import (
    GlobalBlock,
    Interner,
    RawRows,
    View,
    build_blocks,
    decode,
    encode,
    evaluate,
    globalise,
)
from adapters.postgres.pool import Pool, deadline, transaction
from adapters.postgres.stats import Plan, PostgresStatsReader
from analytics_core.ports import StatsReader
from analytics_core.stats import SESSION_DIMENSIONS, StatsQuery, StatsResult, local_midnight

STATEMENT_TIMEOUT_MS = 20_000
MAX_DAYS = 93
"""Longer ranges go to the fallback reader (the hot store keeps about a month)."""
CACHE_EVENTS = 20_000_000
"""How many events the decoded blocks of a process may hold."""
VIEWS_KEPT = 8
BUILD_DAYS = 7
"""Days built from one read of the rows."""
BUILD_DAYS_PER_READ = 16
"""Blocks a read builds at most (site-days); with more missing (a first query of a site over
a month, or after a rebuild) it builds these, the latest first, and the fallback answers:
the next reads build the rest, and `build_site_blocks` builds a site's range ahead."""

_ATTRIBUTES = ", ".join(d.value for d in SESSION_DIMENSIONS)
_NULL_ATTRIBUTES = ", ".join(f"NULL::text AS {d.value}" for d in SESSION_DIMENSIONS)
_RANGE = (
    'site_id = %(site)s AND dt BETWEEN %(low)s AND %(high)s AND "timestamp" >= %(since)s '
    'AND "timestamp" < %(until)s'
)
_COLUMNS = (
    'session_id, (extract(epoch FROM "timestamp") * 1000000)::bigint AS us, event_uid, event, '
    "pathname, properties::text AS properties"
)
_ARRAYS = (
    "array_agg(session_id), array_agg(us), array_agg(event_uid), array_agg(event), "
    "array_agg(pathname), array_agg(properties)"
)
_ROWS = f"""
SELECT e.*, i.*
FROM (
    SELECT {_ARRAYS} FROM (SELECT {_COLUMNS} FROM events WHERE {_RANGE}) AS r
) AS e, (
    SELECT {_ARRAYS}, {", ".join(f"array_agg({d.value})" for d in SESSION_DIMENSIONS)}
    FROM (SELECT {_COLUMNS}, {_ATTRIBUTES} FROM initial_events WHERE {_RANGE}) AS r
) AS i
"""  # noqa: S608  # constant names
_NUMBERS = (
    "SELECT session_id, number FROM stats_session_numbers "
    "WHERE site_id = %s AND session_id = ANY (%s)"
)
_NEW_NUMBERS = """INSERT INTO stats_session_numbers (site_id, session_id)
SELECT %s, unnest(%s::text[]) ON CONFLICT DO NOTHING RETURNING session_id, number"""


def session_numbers(
    conn: psycopg.Connection[Any], site_id: str, session_ids: Collection[str]
) -> dict[str, int]:
    """The site-wide numbers of the sessions, new ones numbered."""
    wanted = sorted(set(session_ids))
    # Binary parameters: no per-string quoting of tens of thousands of ids.
    numbers: dict[str, int] = dict(
        conn.execute(_NUMBERS, (site_id, wanted), binary=True).fetchall()
    )
    missing = [s for s in wanted if s not in numbers]
    if missing:
        numbers.update(conn.execute(_NEW_NUMBERS, (site_id, missing), binary=True).fetchall())
        late = [s for s in missing if s not in numbers]  # numbered by a concurrent build
        if late:
            numbers.update(conn.execute(_NUMBERS, (site_id, late), binary=True).fetchall())
    return numbers


def fetch_rows(
    conn: psycopg.Connection[Any], site_id: str, first: date, last: date, tz: Any
) -> RawRows:
    """The site's rows of local days `first`..`last`, their sessions numbered (one
    statement of column arrays: far fewer Python objects than rows)."""
    params = {
        "site": site_id,
        "low": first - timedelta(days=1),
        "high": last + timedelta(days=1),
        "since": local_midnight(first, tz).astimezone(UTC),
        "until": local_midnight(last + timedelta(days=1), tz).astimezone(UTC),
    }
    row = conn.execute(_ROWS, params).fetchone()
    assert row is not None  # noqa: S101  # aggregates give one row
    plain = [list(c or ()) for c in row[:6]]
    initial = [list(c or ()) for c in row[6:12]]
    attributes_of_initial = [list(c or ()) for c in row[12:]]
    sessions = plain[0] + initial[0]
    numbers = session_numbers(conn, site_id, sessions)
    nothing = [None] * len(plain[0])
    return RawRows(
        session_ids=sessions,
        numbers=[numbers[s] for s in sessions],
        timestamps_us=plain[1] + initial[1],
        event_uids=plain[2] + initial[2],
        is_initial=[False] * len(plain[0]) + [True] * len(initial[0]),
        events=plain[3] + initial[3],
        pathnames=plain[4] + initial[4],
        properties=plain[5] + initial[5],
        attributes=[nothing + column for column in attributes_of_initial],
    )


def build_and_store(
    conn: psycopg.Connection[Any], site_id: str, days: Sequence[date], timezone: str, tz: Any
) -> dict[date, tuple[int, bytes]]:
    """Build the blocks of `days` for one site and store them; (version, data) per day. The
    caller holds the site's share lock."""
    built: dict[date, tuple[int, bytes]] = {}
    for chunk in _chunks(sorted(set(days))):
        built.update(_build_chunk(conn, site_id, chunk, timezone, tz))
    return built


def _chunks(days: Sequence[date]) -> list[list[date]]:
    """Runs of consecutive days, at most `BUILD_DAYS` each (a big site's rows of a month
    would not fit in memory as Python rows at once)."""
    chunks: list[list[date]] = []
    for day in days:
        last = chunks[-1] if chunks else None
        if last and (day - last[-1]).days == 1 and len(last) < BUILD_DAYS:
            last.append(day)
        else:
            chunks.append([day])
    return chunks


def _build_chunk(
    conn: psycopg.Connection[Any], site_id: str, days: Sequence[date], timezone: str, tz: Any
) -> dict[date, tuple[int, bytes]]:
    rows = fetch_rows(
        conn, site_id, min(days) - timedelta(days=1), max(days) + timedelta(days=1), tz
    )
    built: dict[date, tuple[int, bytes]] = {}
    for block in build_blocks(rows, days, tz):
        data = encode(block)
        row = conn.execute(
            """INSERT INTO stats_fact_blocks (site_id, day, timezone, events, data)
            VALUES (%s, %s, %s, %s, %s)
            ON CONFLICT (site_id, day) DO UPDATE SET timezone = excluded.timezone,
                events = excluded.events, data = excluded.data,
                version = nextval('stats_fact_block_versions'), built_at = now()
            RETURNING version""",
            (site_id, block.day, timezone, block.size, data),
        ).fetchone()
        assert row is not None  # noqa: S101  # RETURNING gives one row
        built[block.day] = (int(row[0]), data)
    return built


def build_site_blocks(pool: Pool, site_id: str, first: date, last: date, timezone: str) -> int:
    """Build (or rebuild) every block of a site between two local days; how many events."""
    from analytics_core.stats import zone  # noqa: PLC0415  # keeps the import list short

    days = [first + timedelta(days=d) for d in range((last - first).days + 1)]
    with transaction(pool, statement_timeout_ms=10 * 60_000) as conn:
        conn.execute("SELECT 1 FROM sites WHERE site_id = %s FOR SHARE", (site_id,))
        built = build_and_store(conn, site_id, days, timezone, zone(timezone))
    return len(built)


class BlockCache:
    """Decoded blocks by (site, day) with their version and zone, least recently used out
    first once they hold more than `max_events`; the last views by their blocks' versions."""

    def __init__(self, max_events: int = CACHE_EVENTS) -> None:
        self.interner = Interner()
        self._blocks: OrderedDict[tuple[str, date], tuple[int, str, GlobalBlock]] = OrderedDict()
        self._views: OrderedDict[tuple[Any, ...], View] = OrderedDict()
        self._events = 0
        self._max = max_events
        self._lock = threading.Lock()

    def versions(self, site_id: str, timezone: str) -> dict[date, int]:
        """The versions held for a site in a zone."""
        with self._lock:
            return {
                day: version
                for (site, day), (version, zone_name, _) in self._blocks.items()
                if site == site_id and zone_name == timezone
            }

    def get(self, site_id: str, day: date, version: int, timezone: str) -> GlobalBlock | None:
        """The block held for (site, day) if it has this version and zone."""
        with self._lock:
            found = self._blocks.get((site_id, day))
            if found is None or found[0] != version or found[1] != timezone:
                return None
            self._blocks.move_to_end((site_id, day))
            return found[2]

    def put(self, site_id: str, version: int, timezone: str, block: GlobalBlock) -> None:
        """Hold a block (dropping the least recently used beyond the bound)."""
        with self._lock:
            old = self._blocks.pop((site_id, block.day), None)
            if old is not None:
                self._events -= old[2].size
            self._blocks[site_id, block.day] = (version, timezone, block)
            self._events += block.size
            while self._events > self._max and len(self._blocks) > 1:
                _, (_, _, dropped) = self._blocks.popitem(last=False)
                self._events -= dropped.size

    def view(self, key: tuple[Any, ...], blocks: Sequence[GlobalBlock]) -> View:
        """The view of `blocks` (made once per key)."""
        with self._lock:
            found = self._views.get(key)
            if found is not None:
                self._views.move_to_end(key)
                return found
        made = View(blocks, self.interner)
        with self._lock:
            self._views[key] = made
            while len(self._views) > VIEWS_KEPT:
                self._views.popitem(last=False)
        return made

    def clear(self) -> None:
        """Forget everything (a cold cache)."""
        with self._lock:
            self._blocks.clear()
            self._views.clear()
            self._events = 0
            self.interner = Interner()


class FactBlockStatsReader:
    """Stats from the fact blocks; queries it does not take (ranges beyond `MAX_DAYS`; those
    the rollups answer, with `rollups_first`) go to `fallback`. Reads only what the read
    model holds: the query use case folds first."""

    source = "postgres"

    def __init__(
        self,
        pool: Pool,
        fallback: StatsReader | None = None,
        *,
        cache: BlockCache | None = None,
        statement_timeout_ms: int = STATEMENT_TIMEOUT_MS,
        build_days_per_read: int = BUILD_DAYS_PER_READ,
        rollups_first: bool = True,
    ) -> None:
        self._pool = pool
        self._build_days = build_days_per_read
        self._rollups_first = rollups_first
        self._fallback = fallback if fallback is not None else PostgresStatsReader(pool)
        self._cache = cache if cache is not None else BlockCache()
        self._timeout_ms = statement_timeout_ms

    @property
    def cache(self) -> BlockCache:
        """The process's decoded blocks."""
        return self._cache

    def answers(self, query: StatsQuery) -> bool:
        """Whether the blocks answer `query`: not beyond `MAX_DAYS`, and, with
        `rollups_first`, not when the fallback's rollups can (a few pre-summed rows: faster
        than the blocks for the unfiltered dashboard, measured in docs/benchmarks.md)."""
        if query.days > MAX_DAYS:
            return False
        fallback = self._fallback
        return not (
            self._rollups_first
            and isinstance(fallback, PostgresStatsReader)
            and fallback.plan(query) is Plan.ROLLUPS
        )

    def read(self, query: StatsQuery) -> StatsResult:
        """Answer `query` (see the class docstring); past the deadline `QueryTimeoutError`."""
        if not self.answers(query):
            return self._fallback.read(query)
        with deadline("the hot-store query"):
            blocks = self._blocks(query)
        if blocks is None:  # too many blocks to build in one read: some built, the rest later
            return self._fallback.read(query)
        key = (
            query.timezone,
            tuple((site, b.day, version) for site, version, b in blocks),
        )
        view = self._cache.view(key, [b for _, _, b in blocks])
        return evaluate(view, query)

    def _blocks(self, query: StatsQuery) -> list[tuple[str, int, GlobalBlock]] | None:
        """The range's blocks of every queried site: held ones when their version is current,
        the others fetched, missing ones built (None when more than `build_days_per_read`
        were missing: that many are built, the latest first)."""
        days = [query.start_date + timedelta(days=d) for d in range(query.days)]
        timezone, tz = query.timezone, query.zone
        sites = sorted(set(query.site_ids))
        found: dict[tuple[str, date], tuple[int, GlobalBlock]] = {}
        with transaction(self._pool, statement_timeout_ms=self._timeout_ms) as conn:
            held = {site: self._cache.versions(site, timezone) for site in sites}
            rows = conn.execute(
                """SELECT site_id, day, version,
                    CASE WHEN version = ANY (%(held)s) THEN NULL ELSE data END
                FROM stats_fact_blocks
                WHERE site_id = ANY (%(sites)s) AND day BETWEEN %(start)s AND %(end)s
                    AND timezone = %(zone)s""",
                {
                    "held": [v for versions in held.values() for v in versions.values()],
                    "sites": sites,
                    "start": query.start_date,
                    "end": query.end_date,
                    "zone": timezone,
                },
            ).fetchall()
            dropped = []
            for site, day, version, data in rows:
                block = None if data is not None else self._cache.get(site, day, version, timezone)
                if block is None and data is None:
                    dropped.append((site, day))  # left the cache meanwhile: fetched below
                    continue
                if block is None:
                    block = globalise(decode(data), self._cache.interner, tz)
                    self._cache.put(site, version, timezone, block)
                found[site, day] = (version, block)
            for site, day in dropped:
                again = conn.execute(
                    "SELECT version, data FROM stats_fact_blocks "
                    "WHERE site_id = %s AND day = %s AND timezone = %s",
                    (site, day, timezone),
                ).fetchone()
                if again is not None:
                    block = globalise(decode(again[1]), self._cache.interner, tz)
                    self._cache.put(site, again[0], timezone, block)
                    found[site, day] = (again[0], block)
        missing = [(site, d) for site in sites for d in reversed(days) if (site, d) not in found]
        if missing:
            chosen = missing[: self._build_days]
            with transaction(self._pool, statement_timeout_ms=self._timeout_ms) as conn:
                conn.execute(
                    "SELECT 1 FROM sites WHERE site_id = ANY (%s) ORDER BY site_id FOR SHARE",
                    (sites,),
                )
                for site in sites:
                    wanted = [d for s, d in chosen if s == site]
                    for day, (version, data) in build_and_store(
                        conn, site, wanted, timezone, tz
                    ).items():
                        block = globalise(decode(data), self._cache.interner, tz)
                        self._cache.put(site, version, timezone, block)
                        found[site, day] = (version, block)
            if len(missing) > len(chosen):
                return None
        return [(site, found[site, day][0], found[site, day][1]) for site in sites for day in days]
