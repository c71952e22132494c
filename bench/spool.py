"""What the local stream's spool costs: records/s accepted without a spool (the baseline,
measured in the same run), with the group-commit spool, and with one fsync per record.

    .venv/bin/python bench/spool.py [--threads 64] [--puts 5000] [--events 4000] [--rounds 3]

Two figures, each the median of `--rounds` interleaved rounds (baseline, group, each, baseline,
...), printed with its ratio to the baseline:

- `stream.put`: `--threads` threads putting `--puts` envelopes in total into the in-process
  stream (processIngest replaced by an endpoint that answers 200 at once): the spool's own cost.
- `POST /ingest`: `analytics serve --spool-sync off|group|each` as a subprocess on a fresh data
  folder and database, `--threads` keep-alive clients sending `--events` tracker requests in
  total, counted until the last 202 (delivery to PostgreSQL runs meanwhile, as in use).
"""

from __future__ import annotations

import argparse
import base64
import gzip
import http.client
import json
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT)]

from adapters.local.firehose import Buffering, LocalFirehoseStream, Retry  # noqa: E402
from adapters.local.spool import Spool, SyncMode  # noqa: E402

ANALYTICS = str(Path(sys.executable).with_name("analytics"))
MODES = ("off", "group", "each")
UA = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)


def envelope(n: int) -> bytes:
    """An envelope of a typical size (~600 bytes)."""
    return json.dumps(
        {
            "v": 1,
            "uid": f"01JBENCH{n:018d}",
            "site_id": "01JBENCHSITE00000000000000",
            "received_at": "2026-12-07T03:00:00.000Z",
            "payload": {
                "type": "event",
                "session_id": f"session-{n // 5:08d}",
                "event": "pageview",
                "pathname": f"/docs/page/{n % 97}",
                "timestamp": 1_796_000_000_000 + n,
                "properties": {"plan": "pro"},
            },
            "ctx": {
                "ip": "203.0.113.7",
                "user_agent": UA,
                "origin": "https://example.com",
                "referer": "https://example.com/docs",
                "geo": {"country": "DE", "region": "BE", "city": "Berlin"},
            },
        }
    ).encode()


def answer_200(event: Mapping[str, Any]) -> dict[str, Any]:
    body = json.loads(gzip.decompress(base64.b64decode(event["body"])))
    return {"statusCode": 200, "body": json.dumps({"requestId": body["requestId"]})}


def in_parallel(threads: int, work: Callable[[int], None], total: int) -> float:
    """Seconds for `threads` threads to call `work(n)` for n in range(total) between them."""
    start = threading.Barrier(threads + 1)

    def run(first: int) -> None:
        start.wait()
        for n in range(first, total, threads):
            work(n)

    workers = [threading.Thread(target=run, args=(i,)) for i in range(threads)]
    for worker in workers:
        worker.start()
    start.wait()
    began = time.perf_counter()
    for worker in workers:
        worker.join()
    return time.perf_counter() - began


def stream_round(mode: str, threads: int, puts: int) -> tuple[float, int]:
    """(records/s, fsyncs) of one round of `stream.put` in `mode`."""
    with tempfile.TemporaryDirectory(prefix="bench-spool-") as folder:
        spool = None if mode == "off" else Spool(Path(folder) / "spool", sync=SyncMode(mode))
        stream = LocalFirehoseStream(
            answer_200,
            access_key="bench",
            failures_dir=Path(folder) / "failures",
            buffering=Buffering(size_bytes=3 * 1024 * 1024, interval_s=1.0),
            retry=Retry(duration_s=1.0),
            spool=spool,
        )
        stream.start()
        records = [envelope(n) for n in range(puts)]
        seconds = in_parallel(threads, lambda n: stream.put(records[n]), puts)
        stream.close()
        return puts / seconds, spool.syncs if spool is not None else 0


class Stack:
    """`analytics serve` on a fresh folder and database, for one round."""

    def __init__(self, mode: str, url: str, folder: Path) -> None:
        from tests.e2e.stack import Serve, clean_environ  # noqa: PLC0415

        self.serve = Serve(
            folder / "data",
            "--spool-sync",
            mode,
            "--buffer-seconds",
            "1",
            env=clean_environ(DATABASE_URL=url),
        )

    def __enter__(self) -> Any:
        return self.serve.start()

    def __exit__(self, *_: object) -> None:
        self.serve.stop()
        self.serve.kill()


def http_round(mode: str, threads: int, events: int) -> float:
    """Tracker requests answered 202 per second by `analytics serve` in `mode`."""
    from tests.support.db import temporary_database  # noqa: PLC0415

    with (
        temporary_database(prefix="bench_spool") as url,
        tempfile.TemporaryDirectory(prefix="bench-spool-serve-") as folder,
        Stack(mode, url, Path(folder)) as serve,
    ):
        site_id = serve.create_site(["example.com"])
        host, port = serve.url.removeprefix("http://").rsplit(":", 1)
        local = threading.local()
        failures: list[int] = []

        def post(n: int) -> None:
            if not hasattr(local, "conn"):
                local.conn = http.client.HTTPConnection(host, int(port), timeout=60)
            body = json.dumps(
                {
                    "type": "initial" if n % 5 == 0 else "event",
                    "session_id": f"session-{n // 5:08d}",
                    "event": "pageview",
                    "pathname": f"/docs/page/{n % 97}",
                }
            )
            local.conn.request(
                "POST",
                f"/ingest?site_id={site_id}",
                body=body,
                headers={"Content-Type": "text/plain", "Origin": "https://example.com"},
            )
            response = local.conn.getresponse()
            response.read()
            if response.status != 202:
                failures.append(response.status)

        seconds = in_parallel(threads, post, events)
        assert not failures, f"answers other than 202: {set(failures)}"
        return events / seconds


def report(title: str, rates: dict[str, list[float]], extra: dict[str, str]) -> None:
    baseline = statistics.median(rates["off"])
    print(title)
    for mode in MODES:
        median = statistics.median(rates[mode])
        label = {"off": "no spool (baseline)", "group": "spool, group commit", "each": ""}[mode]
        label = label or "spool, fsync per record"
        runs = ", ".join(f"{r:,.0f}" for r in rates[mode])
        print(
            f"  {label:<26} {median:>9,.0f}/s  ratio {median / baseline:5.2f}"
            f"  (rounds: {runs}){extra.get(mode, '')}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--threads", type=int, default=64)
    parser.add_argument("--puts", type=int, default=5_000)
    parser.add_argument("--events", type=int, default=4_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    rates: dict[str, list[float]] = {mode: [] for mode in MODES}
    syncs: dict[str, list[int]] = {mode: [] for mode in MODES}
    for _ in range(args.rounds):
        for mode in MODES:
            rate, count = stream_round(mode, args.threads, args.puts)
            rates[mode].append(rate)
            syncs[mode].append(count)
    report(
        f"stream.put, {args.threads} threads, {args.puts:,} envelopes per round",
        rates,
        {
            mode: f"  fsyncs/round {statistics.median(syncs[mode]):,.0f}"
            for mode in ("group", "each")
        },
    )

    rates = {mode: [] for mode in MODES}
    for _ in range(args.rounds):
        for mode in MODES:
            rates[mode].append(http_round(mode, args.threads, args.events))
    report(
        f"POST /ingest to analytics serve, {args.threads} keep-alive clients, "
        f"{args.events:,} events per round",
        rates,
        {},
    )


if __name__ == "__main__":
    try:
        main()
    except subprocess.CalledProcessError as exc:
        sys.exit(exc.returncode)
