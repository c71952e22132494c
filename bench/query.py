"""Query benchmark (not a test): dashboard queries on the hot store and on the local cold store.

    .venv/bin/python bench/query.py [--events 1000000] [--days 30] [--sites 50] [--seed 42]
                                    [--admin-url postgresql://postgres@127.0.0.1:5432/test]
                                    [--skip-lake] [--raw-runs 3]

1. Generates the shared dataset (bench/dataset.py: 1,000,000 events over 30 days ending today,
   50 sites, the big site holding 40%).
2. Creates a throwaway database, applies the migrations, creates the days' partitions, loads
   the rows with COPY except the window's last 20,000, rebuilds the read model
   (`stats_rebuild`), then ingests the held-out rows and folds them as a fold of that many
   pending rows does (temporary tables of the new rows, insert, `fold_rows`; without the
   fold's lookup of the pending keys), half in transactions of 500
   rows and half in transactions of 5,000, and times the read-model maintenance.
3. Writes the same rows to a local Parquet lake (one file per table and day), unless
   --skip-lake.
4. Builds the fact blocks of every site and day (adapters/postgres/fact_blocks.py) and times
   it.
5. Times the dashboard queries and the drill-downs for the big site over the whole window
   (p50 and p95 by nearest rank): the fact blocks with a warm cache (2 warm-ups, 7 runs) and
   a cold one (a new cache each run: blocks fetched, decoded, the view made; 0 + 5), the old
   plans of the PostgreSQL reader (read model, else raw rows; 2 + 7, or one unwarmed run on
   the raw rows, none with --raw-runs 0), the local lake (DuckDB;
   2 + 7) and, for scale and as the reference, PostgreSQL's raw rows (1 + --raw-runs; one
   unwarmed run when 1, none when 0); checks that all give identical answers (exact counts,
   compared as complete reports); prints the PostgreSQL plans.
6. Stores three batches of 5,000 rows for the big site today through the event store (pending
   for a fold); times each one's `fold_pending` and the next query (today's blocks built
   again).

Results go to stdout and bench/out/query.json.
"""

from __future__ import annotations

import argparse
import io
import json
import math
import os
import random
import secrets
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "src"), str(ROOT / "bench")]

import dataset  # noqa: E402  # bench/dataset.py, found through the path above

from adapters.lake import LocalStatsReader, ParquetLakeWriter  # noqa: E402
from adapters.postgres.events import PostgresEventStore  # noqa: E402
from adapters.postgres.fact_blocks import (  # noqa: E402
    BlockCache,
    FactBlockStatsReader,
    build_site_blocks,
)
from adapters.postgres.migrations import PostgresMigrator  # noqa: E402
from adapters.postgres.partitions import PostgresEventPartitions  # noqa: E402
from adapters.postgres.pool import open_pool  # noqa: E402
from adapters.postgres.read_model import PostgresReadModel, fold_rows  # noqa: E402
from adapters.postgres.read_model import rebuild as rebuild_read_model  # noqa: E402
from adapters.postgres.stats import Plan, PostgresStatsReader  # noqa: E402
from analytics_core.ports import StatsReader  # noqa: E402
from analytics_core.rows import (  # noqa: E402
    EVENT_COLUMNS,
    INITIAL_EVENT_COLUMNS,
    EventRow,
    InitialEventRow,
    Row,
)
from analytics_core.stats import (  # noqa: E402
    Dimension,
    Filter,
    Interval,
    Metric,
    Operator,
    Property,
    StatsQuery,
    StatsResult,
    complete_report,
)

ADMIN_URL = os.environ.get("TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")
HELD_OUT_ROWS = 20_000  # the window's last rows, ingested like the ingest path does
BATCHES = (500, 5000)  # rows per fold: a small backlog, and a 3 MiB Firehose batch


def percentile(samples: list[float], share: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(samples)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


@contextmanager
def throwaway_database(admin_url: str) -> Iterator[str]:
    name = f"analytics_bench_{secrets.token_hex(4)}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    params = conninfo_to_dict(admin_url)
    params["dbname"] = name
    try:
        yield make_conninfo(**params)
    finally:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


def copy_table(conn: psycopg.Connection[Any], target: str, table: pa.Table) -> None:
    """COPY an Arrow table (CSV, header, NULL as an unquoted empty field)."""
    buffer = io.BytesIO()
    pacsv.write_csv(table, buffer)
    columns = sql.SQL(", ").join(sql.Identifier(c) for c in table.column_names)
    statement = sql.SQL("COPY {} ({}) FROM STDIN WITH (FORMAT csv, HEADER true)").format(
        sql.Identifier(target), columns
    )
    with conn.cursor().copy(statement) as copy:
        copy.write(buffer.getvalue())


def split_at(table: pa.Table, cutoff: datetime) -> tuple[pa.Table, pa.Table]:
    """The rows before `cutoff` and the rest."""
    moment = pa.scalar(cutoff, pa.timestamp("ms", tz="UTC"))
    before = pc.less(table.column("timestamp"), moment)
    return table.filter(before), table.filter(pc.invert(before))


def ingest_batches(
    url: str, rows: list[tuple[str, dict[str, Any]]], size: int
) -> list[tuple[float, float, int]]:
    """Insert the rows in order, `size` per transaction, each folded in its transaction;
    (fold_rows ms, whole transaction ms, rows) per batch."""
    timings = []
    with psycopg.connect(url) as conn:
        for start in range(0, len(rows), size):
            batch = rows[start : start + size]
            began = time.perf_counter()
            with conn.transaction():
                for table, columns, new in (
                    ("events", EVENT_COLUMNS, "ingest_new_events"),
                    ("initial_events", INITIAL_EVENT_COLUMNS, "ingest_new_initial_events"),
                ):
                    conn.execute(
                        sql.SQL(
                            "CREATE TEMP TABLE {} (LIKE {} INCLUDING DEFAULTS) ON COMMIT DROP"
                        ).format(sql.Identifier(new), sql.Identifier(table))
                    )
                    names = sql.SQL(", ").join(sql.Identifier(c) for c in columns)
                    with conn.cursor().copy(
                        sql.SQL("COPY {} ({}) FROM STDIN").format(sql.Identifier(new), names)
                    ) as copy:
                        for kind, row in batch:
                            if kind == table:
                                copy.write_row([row.get(c) for c in columns])
                    conn.execute(
                        sql.SQL("INSERT INTO {} SELECT * FROM {}").format(
                            sql.Identifier(table), sql.Identifier(new)
                        )
                    )
                folded = time.perf_counter()
                fold_rows(conn)
                applied = time.perf_counter()
            total = (time.perf_counter() - began) * 1000
            timings.append(((applied - folded) * 1000, total, len(batch)))
    return timings


def timed(run: Callable[[], object], warmups: int, runs: int) -> list[float]:
    """Milliseconds of each of `runs` calls after `warmups` unmeasured ones."""
    for _ in range(warmups):
        run()
    samples = []
    for _ in range(runs):
        began = time.perf_counter()
        run()
        samples.append((time.perf_counter() - began) * 1000)
    return samples


def dashboard(site: str, start: date, end: date) -> dict[str, StatsQuery]:
    """The dashboard's queries for one site over the window."""
    both = (Metric.VISITORS, Metric.PAGEVIEWS)
    return {
        "totals": StatsQuery((site,), start, end),
        "daily visitors+pageviews": StatsQuery(
            (site,), start, end, metrics=both, interval=Interval.DAY
        ),
        "top pages": StatsQuery(
            (site,), start, end, metrics=both, group_by=Dimension.PATHNAME, limit=10
        ),
        "top sources": StatsQuery((site,), start, end, group_by=Dimension.REFERER_DOMAIN, limit=10),
        "countries": StatsQuery((site,), start, end, group_by=Dimension.COUNTRY, limit=250),
        "devices": StatsQuery((site,), start, end, group_by=Dimension.DEVICE, limit=10),
    }


def drill_downs(site: str, start: date, end: date) -> dict[str, StatsQuery]:
    """Filtered queries: one the rollups answer, the others the session-day rows (or, for
    the query depth, the raw rows)."""

    def query(**kwargs: Any) -> StatsQuery:
        return StatsQuery((site,), start, end, **kwargs)

    us = (Filter(Dimension.COUNTRY, Operator.EQ, "US"),)
    not_mobile = (Filter(Dimension.DEVICE, Operator.NE, "mobile"),)
    pricing = (Filter(Dimension.PATHNAME, Operator.EQ, "/pricing"),)
    pro = (Filter(Property("plan"), Operator.EQ, ("pro", "team")),)
    both = (Metric.VISITORS, Metric.PAGEVIEWS)
    return {
        "drill-down: country==US by day": query(interval=Interval.DAY, filters=us),
        "drill-down: country==US top sources": query(
            group_by=Dimension.REFERER_DOMAIN, limit=10, filters=us
        ),
        "drill-down: country==US top pages": query(
            group_by=Dimension.PATHNAME, limit=10, filters=us
        ),
        "drill-down: device!=mobile by day": query(interval=Interval.DAY, filters=not_mobile),
        "drill-down: device!=mobile hourly": query(
            interval=Interval.HOUR, filters=not_mobile, metrics=both
        ),
        "drill-down: pathname==/pricing top sources": query(
            group_by=Dimension.REFERER_DOMAIN, limit=10, filters=pricing
        ),
        "drill-down: plan==pro|team by country": query(
            group_by=Dimension.COUNTRY, limit=10, filters=pro
        ),
        "drill-down: property:plan breakdown": query(group_by=Property("plan"), limit=10),
        "drill-down: entry pages": query(group_by=Dimension.ENTRY_PAGE, limit=10),
        "drill-down: exit pages, browser~=chr": query(
            group_by=Dimension.EXIT_PAGE,
            limit=10,
            filters=(Filter(Dimension.BROWSER, Operator.CONTAINS, "chr"),),
        ),
        "drill-down: goal signup by source": query(
            group_by=Dimension.REFERER_DOMAIN,
            limit=10,
            goal="signup",
            metrics=(Metric.VISITORS, Metric.CONVERSIONS, Metric.CONVERSION_RATE),
        ),
        "drill-down: New York, country==US by day": query(
            interval=Interval.DAY, filters=us, timezone="America/New_York"
        ),
    }


class ColdFactBlocks:
    """The fact-block reader with an empty cache on every read: a fresh Lambda container
    (blocks fetched and decoded, the view made)."""

    source = "postgres"

    def __init__(self, pool: Any) -> None:
        self._pool = pool

    def read(self, query: StatsQuery) -> StatsResult:
        reader = FactBlockStatsReader(self._pool, cache=BlockCache(), rollups_first=False)
        return reader.read(query)


def fold_batch(site: str, today: date, count: int, seed: int) -> list[Row]:
    """About `count` new rows of `site` dated today (sessions of five events), as one 3 MiB
    ingest batch brings."""
    rng = random.Random(seed)
    now = datetime.now(UTC)
    midnight = datetime.combine(today, datetime.min.time(), UTC)
    span = max(60.0, (now - midnight).total_seconds() - 1200)
    rows: list[Row] = []
    for n in range(count // 5):
        began = midnight + timedelta(seconds=rng.uniform(0, span))
        session = f"bench-fold-{seed}-{n}"
        uid = f"01JBENCHF{seed:03d}{n:08d}"
        country = rng.choice(["US", "DE", "GB", "FR"])
        rows.append(
            InitialEventRow(
                f"{uid}I0", site, session, began, began.date(), "pageview", "/", None,
                None, rng.choice([None, "google.com", "t.co"]), None, None, None, None, None,
                rng.choice(["desktop", "mobile"]), "Windows", "Chrome", country, None, None,
            )
        )  # fmt: skip
        for k in range(1, 5):
            moment = began + timedelta(seconds=30 * k)
            rows.append(
                EventRow(
                    f"{uid}E{k}", site, session, moment, moment.date(),
                    "signup" if k == 4 else "pageview", rng.choice(["/pricing", "/docs", "/"]),
                    {"plan": "pro"} if k == 4 else None,
                )
            )  # fmt: skip
    return rows


def build_all_blocks(
    url: str, pool: Any, meta: dict[str, Any], start: date, end: date
) -> dict[str, Any]:
    """Register the sites, build every site's blocks (the whole dataset) and time it."""
    with psycopg.connect(url, autocommit=True) as conn:
        for entry in meta["sites"]:
            conn.execute(
                "INSERT INTO sites (site_id, owner_sub, name, domains, request_allowance) "
                "VALUES (%s, 'bench', 'bench', ARRAY['example.com'], 100000000) "
                "ON CONFLICT DO NOTHING",
                (entry["site_id"],),
            )
    began = time.perf_counter()
    for entry in meta["sites"]:
        build_site_blocks(pool, entry["site_id"], start, end, "UTC")
    built_s = time.perf_counter() - began
    with psycopg.connect(url) as conn:
        size = conn.execute(
            "SELECT count(*), sum(events), sum(octet_length(data)) FROM stats_fact_blocks"
        ).fetchone()
    return {
        "build_all_blocks_s": round(built_s, 1),
        "blocks": size[0] if size else 0,
        "block_events": int(size[1] or 0) if size else 0,
        "block_bytes": int(size[2] or 0) if size else 0,
    }


def fold_cost(pool: Any, big: str, start: date, end: date) -> dict[str, Any]:
    """Store one 5,000-row batch for the big site today as ingest does, fold it, and time the
    next query (today's blocks built again, the view made again), three times."""
    reader = FactBlockStatsReader(pool, cache=BlockCache(), rollups_first=False)
    query = StatsQuery((big,), start, end, interval=Interval.DAY)
    reader.read(query)
    runs = []
    for seed in (1, 2, 3):
        rows = fold_batch(big, end, 5000, seed)
        began = time.perf_counter()
        PostgresEventStore(pool).store(rows, [])
        stored_ms = (time.perf_counter() - began) * 1000
        began = time.perf_counter()
        PostgresReadModel(pool).fold_pending([big])
        fold_ms = (time.perf_counter() - began) * 1000
        began = time.perf_counter()
        reader.read(query)
        next_ms = (time.perf_counter() - began) * 1000
        began = time.perf_counter()
        reader.read(query)
        warm_ms = (time.perf_counter() - began) * 1000
        runs.append(
            {
                "batch_rows": len(rows),
                "batch_store_ms": round(stored_ms, 1),
                "fold_pending_ms": round(fold_ms, 1),
                "next_query_ms": round(next_ms, 1),
                "then_warm_query_ms": round(warm_ms, 1),
            }
        )
    return {"runs": runs}


def load(url: str, initial: pa.Table, events: pa.Table) -> dict[str, Any]:
    """COPY all but the last rows, rebuild the read model, then ingest the rest in
    transactions like the ingest path's, timing the read model's maintenance."""
    stamps = pa.concat_arrays(
        [initial.column("timestamp").combine_chunks(), events.column("timestamp").combine_chunks()]
    )
    ordered = pc.take(stamps, pc.array_sort_indices(stamps))
    cutoff = ordered[len(stamps) - HELD_OUT_ROWS].as_py()
    initial_bulk, initial_late = split_at(initial, cutoff)
    events_bulk, events_late = split_at(events, cutoff)
    with psycopg.connect(url) as conn:
        began = time.perf_counter()
        with conn.transaction():
            copy_table(conn, "initial_events", initial_bulk)
            copy_table(conn, "events", events_bulk)
        copied = time.perf_counter() - began
        began = time.perf_counter()
        with conn.transaction():
            rebuild_read_model(conn)
        rebuilt = time.perf_counter() - began
    late = [("initial_events", r) for r in initial_late.to_pylist()]
    late += [("events", r) for r in events_late.to_pylist()]
    late.sort(key=lambda item: item[1]["timestamp"])
    half = len(late) // 2
    write_path = {}
    for size, part in zip(BATCHES, (late[:half], late[half:]), strict=True):
        batches = ingest_batches(url, part, size)
        applies = [b[0] for b in batches]
        write_path[size] = {
            "transactions": len(batches),
            "apply_rollups_ms_p50": round(statistics.median(applies), 1),
            "apply_rollups_ms_p95": round(percentile(applies, 0.95), 1),
            "apply_rollups_us_per_row": round(1000 * sum(applies) / sum(b[2] for b in batches), 1),
            "transaction_ms_p50": round(statistics.median(b[1] for b in batches), 1),
        }
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")
        tables = (
            "events",
            "initial_events",
            "stats_daily",
            "stats_hourly",
            "stats_repeats",
            "stats_session_days",
            "stats_sessions",
        )
        rows = {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in tables}  # type: ignore[index]
    return {
        "copied_rows": initial_bulk.num_rows + events_bulk.num_rows,
        "copy_s": round(copied, 1),
        "rebuild_s": round(rebuilt, 1),
        "rows": rows,
        "write_path": write_path,
    }


def move_to_zone(
    pool: Any, site: str, name: str, query: StatsQuery, result: dict[str, Any]
) -> None:
    """Build the site's blocks in the query's zone ahead when it is not UTC (a site has its
    blocks in one zone; a read builds at most a few), timed."""
    if query.timezone == "UTC":
        return
    began = time.perf_counter()
    build_site_blocks(pool, site, query.start_date, query.end_date, query.timezone)
    result["blocks_rebuilt_for_the_zone_s"] = zone_s = round(time.perf_counter() - began, 1)
    print(f"{name}: the big site's blocks built for {query.timezone} in {zone_s} s")


def path_of(reader: StatsReader, query: StatsQuery) -> str:
    """What answers `query` in `reader`."""
    if isinstance(reader, FactBlockStatsReader | ColdFactBlocks):
        return "fact blocks"
    if isinstance(reader, PostgresStatsReader):
        return str(reader.plan(query))
    return "parquet"


def main() -> None:
    """Run the benchmark (see the module docstring)."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--sites", type=int, default=50)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--admin-url", default=ADMIN_URL)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "out" / "query.json")
    parser.add_argument("--skip-lake", action="store_true", help="no Parquet lake, no DuckDB")
    parser.add_argument("--raw-runs", type=int, default=3, help="raw-row runs (0: one check)")
    args = parser.parse_args()
    report: dict[str, Any] = {
        "command": " ".join(sys.argv),
        "started": datetime.now(UTC).isoformat(),
    }

    end = datetime.now(UTC).date()
    began = time.perf_counter()
    initial, events, meta = dataset.generate(args.events, args.days, args.sites, args.seed, end)
    start = date.fromisoformat(meta["start_date"])
    big = meta["big_site_id"]
    report["dataset"] = {
        "events": meta["events_total"],
        "sessions": initial.num_rows,
        "sites": args.sites,
        "window": [str(start), str(end)],
        "big_site_events": meta["sites"][0]["events"],
    }
    print(
        f"dataset: {meta['events_total']:,} events, {initial.num_rows:,} sessions, "
        f"{args.sites} sites, {start}..{end}; big site {big}: "
        f"{meta['sites'][0]['events']:,} events ({time.perf_counter() - began:.1f} s)"
    )

    with throwaway_database(args.admin_url) as url, tempfile.TemporaryDirectory() as lake_dir:
        pool = open_pool(url, max_size=2, name="bench-query")
        try:
            PostgresMigrator(pool).migrate()
            partitions = PostgresEventPartitions(pool)
            day = start - timedelta(days=1)
            while day <= end + timedelta(days=1):
                partitions.create_day(day)
                day += timedelta(days=1)
            report["load"] = loaded = load(url, initial, events)
            print(
                f"load: COPY {loaded['copied_rows']:,} rows in {loaded['copy_s']} s, read-model "
                f"rebuild {loaded['rebuild_s']} s; rows {loaded['rows']}"
            )
            for size, entry in loaded["write_path"].items():
                print(
                    f"write path: {entry['transactions']} ingest transactions of {size} rows: "
                    f"fold_rows p50 {entry['apply_rollups_ms_p50']} ms, "
                    f"p95 {entry['apply_rollups_ms_p95']} ms, "
                    f"{entry['apply_rollups_us_per_row']} us/row; "
                    f"whole transaction p50 {entry['transaction_ms_p50']} ms"
                )

            if not args.skip_lake:
                began = time.perf_counter()
                writer = ParquetLakeWriter(lake_dir)
                writer.write_table("initial_events", initial)
                writer.write_table("events", events)
                files = sum(1 for _ in Path(lake_dir).rglob("*.parquet"))
                print(f"lake: {files} files in {time.perf_counter() - began:.1f} s")

            report["fact_blocks"] = upkeep = build_all_blocks(url, pool, meta, start, end)
            print(
                f"fact blocks: built for all {args.sites} sites x {args.days} days in "
                f"{upkeep['build_all_blocks_s']} s ({upkeep['blocks']} blocks, "
                f"{upkeep['block_events']:,} events, {upkeep['block_bytes'] / 2**20:.1f} MiB)"
            )

            hot = PostgresStatsReader(pool)
            raw = PostgresStatsReader(
                pool, rollups=False, session_days=False, statement_timeout_ms=600_000
            )
            # The blocks alone (by default the reader leaves the rollups' queries to them).
            engine = FactBlockStatsReader(pool, cache=BlockCache(), rollups_first=False)
            cold = ColdFactBlocks(pool)
            readers: list[tuple[str, StatsReader, int, int]] = [
                ("fact blocks (warm)", engine, 2, 7),
                ("fact blocks (cold)", cold, 0, 5),
                ("postgres (old plans)", hot, 2, 7),
            ]
            if not args.skip_lake:
                readers.append(("local (DuckDB)", LocalStatsReader(lake_dir), 2, 7))
            if args.raw_runs > 0:
                readers.append(
                    ("postgres raw rows", raw, 1 if args.raw_runs > 1 else 0, args.raw_runs)
                )
            results: dict[str, dict[str, Any]] = {}
            print(f"\n{'query':36} {'store':18} {'p50 ms':>8} {'p95 ms':>8}  path")
            for name, query in {
                **dashboard(big, start, end),
                **drill_downs(big, start, end),
            }.items():
                answers = {}
                results[name] = {}
                move_to_zone(pool, big, name, query, results[name])
                for label, reader, warmups, runs in readers:
                    path = path_of(reader, query)
                    if reader is hot and path == str(Plan.RAW_ROWS):  # as slow as the raw rows
                        if args.raw_runs <= 0:
                            continue
                        warmups, runs = 0, 1  # noqa: PLW2901  # one unwarmed run
                    samples = timed(lambda r=reader, q=query: r.read(q), warmups, runs)  # type: ignore[misc]
                    answers[label] = reader.read(query)
                    p50, p95 = statistics.median(samples), percentile(samples, 0.95)
                    results[name][label] = {
                        "p50_ms": round(p50, 1),
                        "p95_ms": round(p95, 1),
                        "runs": len(samples),
                        "path": path,
                    }
                    print(f"{name:36} {label:18} {p50:8.1f} {p95:8.1f}  {path}")
                # Compared as reports: every bucket by its start, the breakdown in order.
                reports = [complete_report("", query, answer) for answer in answers.values()]
                exact = len({repr((r.totals, r.timeseries, r.breakdown)) for r in reports}) == 1
                results[name]["identical_answers"] = exact
                print(f"{'':36} {'same answer in all':18} {'yes' if exact else 'NO':>8}")
            report["queries"] = results
            build_site_blocks(pool, big, start, end, "UTC")  # back from the last zone

            # After the queries: the batch is not in the lake.
            report["fact_blocks_fold"] = folds = fold_cost(pool, big, start, end)
            for run in folds["runs"]:
                print(
                    f"fact blocks: one batch of {run['batch_rows']} rows today: stored in "
                    f"{run['batch_store_ms']} ms, fold_pending {run['fold_pending_ms']} ms, "
                    f"next query (today's blocks built again) {run['next_query_ms']} ms, "
                    f"then {run['then_warm_query_ms']} ms"
                )

            print("\nPostgreSQL plans (EXPLAIN (ANALYZE, BUFFERS)) of the dashboard queries:")
            plans = {}
            with psycopg.connect(url) as conn:
                for name, query in dashboard(big, start, end).items():
                    text, params = hot.statement(query)
                    explained = conn.execute(
                        f"EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) {text}", params
                    )  # type: ignore[arg-type]
                    plans[name] = [row[0] for row in explained.fetchall()]
                    print(f"\n-- {name}\n" + "\n".join(plans[name]))
            report["plans"] = plans
        finally:
            pool.close()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1, default=str))
    print(f"\nwritten {args.out}")


if __name__ == "__main__":
    main()
