"""The processIngest handler's Python work per batch, in instructions (not a test).

    .venv/bin/python bench/ingest_instructions.py [--batches 3]

Wall-clock figures on these shared machines drift by up to 2x within minutes; instruction
counts do not. This runs the handler's process twice under `valgrind --tool=callgrind`, on a
fresh database: once handling one batch and once handling 1 + `--batches` batches (the same
realistic 3 MiB batches as bench/ingest.py, all built before the first is handled in both
runs), and prints the difference per batch: the instructions the handler's own process
executes for one batch, the first batch's one-off work (ua-parser's matcher, caches) left
out. PostgreSQL's work is not counted (another process), nor waiting. Compare two versions of
the code with it (about 7 minutes: callgrind is some 50 times slower).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT), str(ROOT / "bench")]


def child(url: str, total: int, handled: int) -> None:
    """Build `total` requests, handle the first `handled` (under callgrind)."""
    import ingest as bench  # noqa: PLC0415  # bench/ingest.py

    from adapters.config import Settings  # noqa: PLC0415
    from entrypoints import bootstrap  # noqa: PLC0415
    from entrypoints.api.firehose_endpoint import make_handler  # noqa: PLC0415

    settings = Settings(
        database_url=url,
        firehose_access_key=bench.ACCESS_KEY,
        events_stream_name="events",
        initial_events_stream_name="initial_events",
    )
    services = bootstrap.build(settings, application="bench", firehose=bench.AcceptingFirehose())
    handler = make_handler(services)
    requests = [bench.firehose_event(bench.batch_records(100 + n), f"i{n}") for n in range(total)]
    for request in requests[:handled]:
        assert handler(request, None)["statusCode"] == 200


def instructions(valgrind: str, url: str, total: int, handled: int) -> int:
    """The instructions of one child run under callgrind."""
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "callgrind.out"
        done = subprocess.run(  # noqa: S603  # valgrind on this very script
            [
                valgrind,
                "--tool=callgrind",
                f"--callgrind-out-file={out}",
                sys.executable,
                __file__,
                "--child",
                url,
                str(total),
                str(handled),
            ],
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "PYTHONHASHSEED": "0"},
        )
    found = re.search(r"Collected : (\d+)", done.stderr)
    if found is None:
        raise RuntimeError(f"no instruction count in valgrind's output:\n{done.stderr}")
    return int(found.group(1))


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n", 1)[0])
    parser.add_argument("--batches", type=int, default=3, help="batches counted")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        url, total, handled = args.child
        child(url, int(total), int(handled))
        return
    valgrind = shutil.which("valgrind")
    if valgrind is None:
        raise SystemExit("valgrind is needed (Debian: apt-get install valgrind)")
    import ingest as bench  # noqa: PLC0415
    from tests.support.db import temporary_database  # noqa: PLC0415

    total = args.batches + 1
    counts = []
    for handled in (1, total):
        with temporary_database(prefix="bench_instructions") as url:
            bench.prepare_database(url, 0)
            counts.append(instructions(valgrind, url, total, handled))
    per_batch = (counts[1] - counts[0]) / args.batches
    print(f"handler instructions per 3 MiB batch: {per_batch / 1e6:,.0f} million")
    print(f"(runs handling 1 and {total} batches: {counts[0]:,} and {counts[1]:,})")


if __name__ == "__main__":
    main()
