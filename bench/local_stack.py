"""Local stack figures: embedded PostgreSQL start/stop, `analytics serve` start/stop, and
`analytics demo` throughput through the real ingest path (collect -> local Firehose stream ->
processIngest -> PostgreSQL + Parquet lake).

    .venv/bin/python bench/local_stack.py [--events 20000] [--days 14]

Each figure is printed with the command or call that produced it; every run uses a fresh
temporary data folder.
"""

from __future__ import annotations

import argparse
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from adapters.postgres.embedded import EmbeddedPostgres

ANALYTICS = str(Path(sys.executable).with_name("analytics"))


def embedded(root: Path) -> None:
    server = EmbeddedPostgres(root / "pg")
    started = time.perf_counter()
    server.acquire()
    first = time.perf_counter() - started
    started = time.perf_counter()
    server.release()
    stop = time.perf_counter() - started
    started = time.perf_counter()
    server.acquire()
    again = time.perf_counter() - started
    server.release()
    print(f"embedded PostgreSQL: initdb+start {first:.2f}s, start {again:.2f}s, stop {stop:.2f}s")


def serve_once(data: Path) -> tuple[float, float]:
    started = time.perf_counter()
    process = subprocess.Popen(  # noqa: S603  # our own console script
        [ANALYTICS, "serve", "--port", "0", "--data-dir", str(data)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert process.stdout is not None
    ready = 0.0
    for line in process.stdout:
        if "listening on" in line:
            ready = time.perf_counter() - started
            break
    started = time.perf_counter()
    process.send_signal(signal.SIGTERM)
    process.wait()
    process.stdout.close()
    return ready, time.perf_counter() - started


def serve(root: Path) -> None:
    data = root / "serve"
    ready, stop = serve_once(data)
    print(
        f"analytics serve, first start (initdb, migrations): ready {ready:.2f}s, stop {stop:.2f}s"
    )
    for _ in range(3):
        ready, stop = serve_once(data)
        print(f"analytics serve, restart: ready {ready:.2f}s, SIGTERM to exit {stop:.2f}s")


def demo(root: Path, events: int, days: int) -> None:
    data = root / "demo"
    # Initialise and migrate first, so that the figure is the traffic's alone.
    subprocess.run(  # noqa: S603  # our own console script
        [ANALYTICS, "migrate", "--data-dir", str(data)], capture_output=True, check=True
    )
    command = [
        ANALYTICS,
        "demo",
        "--events",
        str(events),
        "--days",
        str(days),
        "--data-dir",
        str(data),
    ]
    result = subprocess.run(command, capture_output=True, text=True, check=True)  # noqa: S603
    match = re.search(r"in ([\d.]+)s \(([\d,]+)/s\)", result.stdout)
    print(f"{' '.join(command[1:])}: {match[0] if match else result.stdout.strip()}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--days", type=int, default=14)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="bench-local-"))
    try:
        embedded(root)
        serve(root)
        demo(root, args.events, args.days)
    finally:
        for folder in ("pg", "serve", "demo"):
            EmbeddedPostgres(root / folder / "postgres" if folder != "pg" else root / "pg").stop()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
