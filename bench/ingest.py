"""Ingest benchmark (not a test): bulk-write strategies and the whole processIngest handler.

    .venv/bin/python bench/ingest.py [--batches 5] [--preload 200000] [--profile]

In one run, on a fresh database with every migration applied (real indexes) and today's
partitions created, it measures:

1. raw COPY of pre-built rows into the partitioned `events` / `initial_events`, in binary
   format (what the store sends, and about 7% faster than text: the ceiling) and in text
   format (psycopg's default);
2. multi-row `INSERT ... VALUES` (1,000 rows a statement: what an ORM's bulk insert does);
3. psycopg's pipelined `executemany`;
4. `INSERT ... ON CONFLICT DO NOTHING` from a COPY-filled staging table (the textbook
   idempotent load), for comparison with the store's fast path (COPY straight into the
   tables under a savepoint, the slow path only after a duplicate);
5. the whole processIngest handler (a fresh interpreter, like a Lambda container) on realistic
   maximum-size batches: 3 MiB of envelopes, gzipped, base64 in a Function URL event, the
   traffic-like user-agent mix of bench/data/user_agents.tsv, 30% initial events, three
   compliance levels; events/s and peak RSS; after each batch, the read model's fold of its
   rows (what the every-minute schedule or a query runs; timed apart, as it is not part of
   the handler) and the handler + fold rate; around each batch, a binary raw COPY of a batch
   of rows just before it and again after it: the target's ratio is the median over the
   batches of handler / the geometric mean of those two, measures seconds apart on both sides
   (the machines' speed drifts within a run); then a cProfile of one batch;
6. the import time of the handler module (median of 5 fresh interpreters).

Every method writes the same kind of rows (the handler's own output) with fresh uids. The
cold forward runs the real FirehoseColdForwarder (row JSON, chunking) against a client that
accepts every record, so network time is left out. Figures vary with the machine's load;
compare the numbers of one run.
"""

from __future__ import annotations

import argparse
import base64
import cProfile
import gzip
import io
import json
import math
import os
import pstats
import random
import resource
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT)]

import psycopg  # noqa: E402

from adapters.postgres.events import (  # noqa: E402
    EVENT_COPY_TYPES,
    INITIAL_EVENT_COPY_TYPES,
    copy_values,
)
from analytics_core.rows import EVENT_COLUMNS, INITIAL_EVENT_COLUMNS, iso_millis  # noqa: E402

ACCESS_KEY = "bench-access-key"
BATCH_BYTES = 3 * 1024 * 1024
SITES = [f"01JDQ7ZK3M0000000000BENCH{n}" for n in range(3)]
LEVELS = [0, 1, 2]
NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
PATHS = ["/", "/pricing", "/features", "/docs", "/blog", "/about", "/signup", "/changelog"] + [
    f"/blog/post-{n}" for n in range(60)
]
REFERRERS = [None] * 38 + [
    "https://www.google.com/",
    "https://news.ycombinator.com/item?id=41234567",
    "https://t.co/abc123",
    "https://www.reddit.com/r/programming/",
    "https://github.com/example/sdk",
    "https://www.linkedin.com/",
    "https://duckduckgo.com/",
] * 4
CUSTOM = [
    ("click", {"button": "cta-hero"}),
    ("signup", {"plan": "pro"}),
    ("outbound", {"url": "https://github.com/x"}),
]


# ------------------------------------------------------------------------------ the data


def user_agents() -> tuple[list[str], list[float]]:
    agents, weights = [], []
    for line in (ROOT / "bench" / "data" / "user_agents.tsv").read_text().splitlines():
        if line.startswith("#") or not line.strip():
            continue
        weight, agent = line.split("\t", 1)
        agents.append(agent)
        weights.append(float(weight))
    return agents, weights


def ulid(rng: random.Random, moment: datetime) -> str:
    alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
    millis = int(moment.timestamp() * 1000)
    head = "".join(alphabet[(millis >> (5 * (9 - i))) & 31] for i in range(10))
    return head + "".join(rng.choice(alphabet) for _ in range(16))


def envelope(rng: random.Random, agents: list[str], weights: list[float]) -> bytes:
    """One realistic envelope: CloudFront geo (so no IP), a skewed user agent."""
    site = rng.choice(SITES)
    received = NOW + timedelta(milliseconds=rng.randrange(60_000))
    initial = rng.random() < 0.30
    body: dict[str, Any] = {
        "type": "initial" if initial else "event",
        "session_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        "event": "pageview",
        "pathname": rng.choice(PATHS),
        "timestamp": int(received.timestamp() * 1000) - rng.randrange(2_000),
    }
    if initial:
        body["referrer"] = rng.choice(REFERRERS)
        body["screen"] = rng.choice(
            [{"width": 1920, "height": 1080}, {"width": 390, "height": 844}]
        )
        if rng.random() < 0.12:
            body["url"] = (
                "https://example.com/?utm_source=newsletter&utm_medium=email&utm_campaign=weekly"
            )
    elif rng.random() < 0.12:
        body["event"], body["properties"] = rng.choice(CUSTOM)
    data = {
        "v": 1,
        "uid": ulid(rng, received),
        "site_id": site,
        "received_at": iso_millis(received),
        "payload": body,
        "ctx": {
            "ip": None,
            "user_agent": rng.choices(agents, weights)[0],
            "origin": "https://example.com",
            "referer": "https://example.com" + body["pathname"],
            "geo": {"country": "DE", "region": "BY", "city": "Munich"},
        },
    }
    return json.dumps(data, separators=(",", ":")).encode()


def batch_records(seed: int) -> list[bytes]:
    """Envelopes adding up to 3 MiB: a full IngestHttp buffer."""
    rng = random.Random(seed)
    agents, weights = user_agents()
    records: list[bytes] = []
    size = 0
    while True:
        data = envelope(rng, agents, weights)
        if size + len(data) > BATCH_BYTES:
            return records
        records.append(data)
        size += len(data)


def firehose_event(records: Sequence[bytes], request_id: str) -> dict[str, Any]:
    """A Function URL event: the gzipped Firehose body, base64-encoded."""
    body = json.dumps(
        {
            "requestId": request_id,
            "timestamp": int(NOW.timestamp() * 1000),
            "records": [{"data": base64.b64encode(r).decode()} for r in records],
        }
    ).encode()
    packed = gzip.compress(body)
    return {
        "version": "2.0",
        "rawPath": "/",
        "headers": {
            "content-type": "application/json",
            "content-encoding": "gzip",
            "x-amz-firehose-request-id": request_id,
            "x-amz-firehose-access-key": ACCESS_KEY,
        },
        "requestContext": {"http": {"method": "POST", "path": "/"}},
        "body": base64.b64encode(packed).decode(),
        "isBase64Encoded": True,
    }


# ------------------------------------------------------------------------------ database


def prepare_database(url: str, preload: int) -> None:
    """Migrations, sites with room to spare, today's partitions, and `preload` older rows."""
    from adapters.postgres.migrations import PostgresMigrator  # noqa: PLC0415
    from adapters.postgres.partitions import PostgresEventPartitions  # noqa: PLC0415
    from adapters.postgres.pool import open_pool  # noqa: PLC0415

    pool = open_pool(url, name="bench-setup")
    try:
        PostgresMigrator(pool).migrate()
        partitions = PostgresEventPartitions(pool)
        for offset in range(-1, 3):
            partitions.create_day((NOW + timedelta(days=offset)).date())
    finally:
        pool.close()
    with psycopg.connect(url, autocommit=True) as conn:
        for site, level in zip(SITES, LEVELS, strict=True):
            conn.execute(
                "INSERT INTO sites (site_id, owner_sub, name, domains, request_allowance, "
                "compliance_level) VALUES (%s, 'bench', 'bench', ARRAY['example.com'], %s, %s)",
                (site, 10**12, level),
            )
    if preload:
        with psycopg.connect(url) as conn:
            copy_rows(conn, handler_rows(seed=10_000, count=preload))
            conn.execute("ANALYZE")


def handler_rows(
    seed: int, count: int | None = None
) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """The rows the handler would store for a batch (events, initial events), as tuples."""
    from tests.support.world import World  # noqa: PLC0415

    from analytics_core.sites import ComplianceLevel  # noqa: PLC0415

    world = World()
    for site, level in zip(SITES, LEVELS, strict=True):
        world.add_site(site, allowance=10**12, level=ComplianceLevel(level))
    events: list[tuple[Any, ...]] = []
    initial: list[tuple[Any, ...]] = []
    round_ = 0
    while count is None or len(events) + len(initial) < count:
        result = world.process(batch_records(seed + round_))
        events += [copy_values(r) for r in result.events]
        initial += [copy_values(r) for r in result.initial_events]
        round_ += 1
        if count is None:
            break
    return events, initial


def columns(names: Sequence[str]) -> str:
    return ", ".join(f'"{name}"' for name in names)


Rows = tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]
Connection = psycopg.Connection[Any]


def tables(rows: Rows) -> list[tuple[str, tuple[str, ...], list[tuple[Any, ...]]]]:
    return [
        ("events", EVENT_COLUMNS, rows[0]),
        ("initial_events", INITIAL_EVENT_COLUMNS, rows[1]),
    ]


COPY_TYPES = {"events": EVENT_COPY_TYPES, "initial_events": INITIAL_EVENT_COPY_TYPES}


def copy_rows(conn: Connection, rows: Rows, *, binary: bool = False) -> None:
    """COPY in text format (psycopg's default), or binary (what the store sends)."""
    for table, names, data in tables(rows):
        statement = f"COPY {table} ({columns(names)}) FROM STDIN"
        with conn.cursor().copy(statement + (" (FORMAT BINARY)" if binary else "")) as copy:
            if binary:
                copy.set_types(COPY_TYPES[table])
            for row in data:
                copy.write_row(row)
    conn.commit()


def copy_binary(conn: Connection, rows: Rows) -> None:
    copy_rows(conn, rows, binary=True)


def raw_copy_rate(conn: Connection, rows: Rows, tag: str) -> float:
    """Rows/s of one binary raw COPY (the ceiling's format), now."""
    total = len(rows[0]) + len(rows[1])
    data = fresh_uids(rows, tag)
    started = time.perf_counter()
    copy_rows(conn, data, binary=True)
    return total / (time.perf_counter() - started)


def insert_values(conn: Connection, rows: Rows) -> None:
    for table, names, data in tables(rows):
        one = "(" + ", ".join(["%s"] * len(names)) + ")"
        for start in range(0, len(data), 1000):
            chunk = data[start : start + 1000]
            values = ", ".join([one] * len(chunk))
            conn.execute(
                f"INSERT INTO {table} ({columns(names)}) VALUES {values}",
                [value for row in chunk for value in row],
            )
    conn.commit()


def executemany(conn: Connection, rows: Rows) -> None:
    with conn.cursor() as cursor:
        for table, names, data in tables(rows):
            placeholders = ", ".join(["%s"] * len(names))
            cursor.executemany(
                f"INSERT INTO {table} ({columns(names)}) VALUES ({placeholders})", data
            )
    conn.commit()


def staged_on_conflict(conn: Connection, rows: Rows) -> None:
    for table, names, data in tables(rows):
        conn.execute(
            f"CREATE TEMPORARY TABLE stage (LIKE {table} INCLUDING DEFAULTS) ON COMMIT DROP"
        )
        with conn.cursor().copy(f"COPY stage ({columns(names)}) FROM STDIN") as copy:
            for row in data:
                copy.write_row(row)
        conn.execute(
            f"INSERT INTO {table} ({columns(names)}) SELECT {columns(names)} FROM stage "
            "ON CONFLICT DO NOTHING"
        )
        conn.execute("DROP TABLE stage")
    conn.commit()


def fresh_uids(rows: Rows, tag: str) -> Rows:
    """The same rows under new event uids (so that every method inserts new rows)."""
    return (
        [(tag + row[0][len(tag) :], *row[1:]) for row in rows[0]],
        [(tag + row[0][len(tag) :], *row[1:]) for row in rows[1]],
    )


Method = tuple[str, str, Callable[[Connection, Rows], None]]


def measure(
    conn: Connection, methods: Sequence[Method], *, rows: Rows, rounds: int
) -> dict[str, float]:
    """Median rows/s of each write method (one transaction a run), over `rounds` rounds that
    run every method once, in turn: a method is never measured only while the machine is in
    a slow (or fast) spell."""
    runs: dict[str, list[float]] = {name: [] for name, _, _ in methods}
    total = len(rows[0]) + len(rows[1])
    for round_ in range(rounds):
        for name, _, write in methods:
            data = fresh_uids(rows, f"{name}{round_}")
            started = time.perf_counter()
            write(conn, data)
            runs[name].append(total / (time.perf_counter() - started))
    rates = {name: statistics.median(values) for name, values in runs.items()}
    for name, label, _ in methods:
        print(f"  {label:<48} {rates[name]:>10,.0f} rows/s")
    return rates


# ------------------------------------------------------------------------------ the handler


def peak_rss_mb() -> float:
    """This process's peak RSS. Linux's `ru_maxrss` survives fork and exec (a child reports
    its parent's peak if that was higher), so VmHWM of the process's own memory map is read."""
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class AcceptingFirehose:
    """A Firehose client that accepts every record (the cold leg minus the network)."""

    def put_record_batch(self, **call: Any) -> dict[str, Any]:
        return {"FailedPutCount": 0, "RequestResponses": [{"RecordId": "r"}] * len(call["Records"])}


def fold(url: str) -> tuple[int, float]:
    """The read model's fold of every pending row (what the schedule runs): rows, seconds."""
    from adapters.postgres.read_model import fold_pending  # noqa: PLC0415

    with psycopg.connect(url) as conn:
        started = time.perf_counter()
        folded = fold_pending(conn)
        conn.commit()
        return folded, time.perf_counter() - started


def child_handler(url: str, batches: int, *, profile: bool) -> None:
    """In a fresh interpreter: build the handler as the Lambda shim does, run the batches;
    after each, the read model's fold of its rows (timed apart: it is not the handler's)."""
    from adapters.config import Settings  # noqa: PLC0415
    from entrypoints import bootstrap  # noqa: PLC0415
    from entrypoints.api.firehose_endpoint import make_handler  # noqa: PLC0415

    settings = Settings(
        database_url=url,
        firehose_access_key=ACCESS_KEY,
        events_stream_name="events",
        initial_events_stream_name="initial_events",
    )
    services = bootstrap.build(settings, application="bench", firehose=AcceptingFirehose())
    handler = make_handler(services)

    # Requests are built one at a time, so that peak RSS is the handler's, not the test data's.
    def request(seed: int) -> tuple[dict[str, Any], int]:
        records = batch_records(seed)
        return firehose_event(records, f"bench-{seed}"), len(records)

    sizes: list[int] = []
    warm, _ = request(0)
    started = time.perf_counter()
    assert handler(warm, None)["statusCode"] == 200
    first = time.perf_counter() - started
    sizes.append(len(warm["body"]) * 3 // 4)
    del warm
    fold(url)
    # The ceiling again, around each batch: raw COPY of the handler's rows (fresh uids) just
    # before the batch and again after it (and its fold); the batch's ratio is against their
    # geometric mean, so that it compares measures taken seconds apart on both sides.
    ceiling_rows = handler_rows(seed=1)
    records = 0
    rates = []
    folds = []
    ratios = []
    for seed in range(1, batches + 1):
        event, n = request(seed)
        sizes.append(len(event["body"]) * 3 // 4)
        with psycopg.connect(url) as conn:
            copy_before = raw_copy_rate(conn, ceiling_rows, f"Q{seed}")
        started = time.perf_counter()
        response = handler(event, None)
        took = time.perf_counter() - started
        assert response["statusCode"] == 200, response
        records += n
        rates.append(n / took)
        del event, response
        folded, fold_s = fold(url)
        assert folded > 0
        folds.append((took, folded, fold_s))
        with psycopg.connect(url) as conn:
            copy_after = raw_copy_rate(conn, ceiling_rows, f"P{seed}")
        ratios.append(rates[-1] / math.sqrt(copy_before * copy_after))
    result: dict[str, Any] = {
        "paired_ratio": statistics.median(ratios),
        "paired_ratios": [round(r, 2) for r in ratios],
        "events_per_batch": records // batches,
        "gzip_body_bytes": statistics.median(sizes),
        "first_batch_s": first,
        "events_per_s": statistics.median(rates),
        "peak_rss_mb": peak_rss_mb(),
        "fold_ms": statistics.median(f[2] for f in folds) * 1000,
        "fold_rows_per_s": statistics.median(f[1] / f[2] for f in folds),
        "with_fold_events_per_s": statistics.median(n / (t + f) for t, n, f in folds),
    }
    if profile:
        to_profile, _ = request(batches + 1)
        profiler = cProfile.Profile()
        profiler.enable()
        assert handler(to_profile, None)["statusCode"] == 200
        profiler.disable()
        out = io.StringIO()
        stats = pstats.Stats(profiler, stream=out)
        stats.sort_stats("cumulative").print_stats(
            r"firehose_endpoint.py:\d+\(decode_body|pipeline.py:\d+\(ingest_records|"
            r"envelopes.py:\d+\((read_record|envelope)|ingest.py:\d+\((process_batch|build|_precheck)|"
            r"events.py:\d+\(store|events.py:\d+\(_insert_all|firehose.py:\d+\((forward|encode_cold_row)|"
            r"useragents.py:\d+\(_classify|site_configs.py:\d+\(load|salts.py:\d+\(salt_for|"
            r"events.py:\d+\(_copy|events.py:\d+\(_mark_pending|events.py:\d+\(_count"
        )
        stats.sort_stats("tottime").print_stats(12)
        result["profile"] = out.getvalue()
    print(json.dumps(result))


def child_import() -> None:
    started = time.perf_counter()
    import entrypoints.lambdas.process_ingest  # noqa: F401, PLC0415

    print(json.dumps({"import_s": time.perf_counter() - started}))


def run_child(args: list[str], environ: dict[str, str] | None = None) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": f"{ROOT / 'src'}{os.pathsep}{ROOT}", **(environ or {})}
    done = subprocess.run(  # noqa: S603  # this very script, in a fresh interpreter
        [sys.executable, __file__, *args], capture_output=True, text=True, check=True, env=env
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


# ------------------------------------------------------------------------------ main


def show(label: str, value: str) -> None:
    print(f"  {label:<48} {value:>10}")


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n", 1)[0])
    parser.add_argument("--batches", type=int, default=5, help="measured handler batches")
    parser.add_argument("--preload", type=int, default=200_000, help="rows stored first")
    parser.add_argument("--profile", action="store_true", help="print a cProfile of one batch")
    parser.add_argument("--child", choices=["handler", "import"], help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child == "handler":
        child_handler(args.url, args.batches, profile=args.profile)
        return
    if args.child == "import":
        child_import()
        return

    from tests.support.db import temporary_database  # noqa: PLC0415

    with temporary_database(prefix="bench_ingest") as url:
        started = time.perf_counter()
        prepare_database(url, args.preload)
        took = time.perf_counter() - started
        print(f"database ready ({args.preload:,} rows preloaded) in {took:.1f} s")
        rows = handler_rows(seed=1)
        total = len(rows[0]) + len(rows[1])
        print(f"a 3 MiB batch = {total:,} stored rows ({len(rows[1]):,} initial events)\n")
        print("bulk writes of the handler's rows (median of 5 rounds, one transaction each):")
        with psycopg.connect(url) as conn:
            methods: list[Method] = [
                ("B", "raw COPY, binary (the ceiling)", copy_binary),
                ("C", "raw COPY, text", copy_rows),
                ("V", "multi-row INSERT ... VALUES (1,000 rows)", insert_values),
                ("M", "executemany (pipelined)", executemany),
                ("S", "COPY to staging + INSERT ON CONFLICT", staged_on_conflict),
            ]
            rates = measure(conn, methods, rows=rows, rounds=5)
        print("\nprocessIngest handler (fresh interpreter, median over batches):")
        command = ["--child", "handler", "--url", url, "--batches", str(args.batches)]
        handler = run_child(command + (["--profile"] if args.profile else []))
        env = {
            "DATABASE_URL": url,
            "FIREHOSE_ACCESS_KEY": ACCESS_KEY,
            "EVENTS_STREAM_NAME": "events",
            "INITIAL_EVENTS_STREAM_NAME": "initial_events",
            "AWS_DEFAULT_REGION": "eu-west-1",
        }
        imports = [run_child(["--child", "import"], env)["import_s"] for _ in range(5)]

    copy_rate = rates["B"]  # the ceiling: binary raw COPY
    ratio = handler["paired_ratio"]
    import_ms = statistics.median(imports) * 1000
    rss = handler["peak_rss_mb"]
    show("events per batch", f"{handler['events_per_batch']:,}")
    show("gzip request body", f"{handler['gzip_body_bytes'] / 1024:,.0f} KiB")
    show("first batch of the container (cold caches)", f"{handler['first_batch_s']:.2f} s")
    show("handler throughput", f"{handler['events_per_s']:,.0f} events/s")
    show("peak RSS", f"{rss:.0f} MB")
    show("import of entrypoints.lambdas.process_ingest", f"{import_ms:.0f} ms")
    show("read-model fold of one batch's rows (not in the handler)", f"{handler['fold_ms']:.0f} ms")
    show("fold rate", f"{handler['fold_rows_per_s']:,.0f} rows/s")
    show("handler + fold of its rows", f"{handler['with_fold_events_per_s']:,.0f} events/s")
    print("\ntargets:")
    print(
        f"  handler >= 50% of raw COPY: {ratio:.0%} {'met' if ratio >= 0.5 else 'NOT met'} "
        f"(median over the batches of handler / raw COPY measured around each: "
        f"{', '.join(f'{r:.0%}' for r in handler['paired_ratios'])}; against the raw COPY "
        f"above: {handler['events_per_s'] / copy_rate:.0%})"
    )
    print(f"  peak RSS < 300 MB: {rss:.0f} MB {'met' if rss < 300 else 'NOT met'}")
    print(f"  import < 400 ms: {import_ms:.0f} ms {'met' if import_ms < 400 else 'NOT met'}")
    print(
        f"\nof binary raw COPY: text COPY = {rates['C'] / copy_rate:.0%}, INSERT VALUES = "
        f"{rates['V'] / copy_rate:.0%}, executemany = {rates['M'] / copy_rate:.0%}, "
        f"staging + ON CONFLICT = {rates['S'] / copy_rate:.0%}"
    )
    if "profile" in handler:
        print("\nprofile of one batch:\n" + handler["profile"])


if __name__ == "__main__":
    main()
