"""Allowance and exactly-once under concurrency: 8 invocations at once, each with its own
pool and connection, against one site on a real PostgreSQL."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Sequence

import psycopg
import pytest
from tests.support.clock import FakeClock
from tests.support.db import fetch_all
from tests.support.ingest import SITE, envelope, payload, record

from adapters.config import Settings
from adapters.memory import InMemoryColdForwarder
from adapters.postgres.pool import Pool, open_pool
from adapters.useragents import UaParserUserAgents
from entrypoints import bootstrap
from entrypoints.pipeline import IngestReport, ingest_records

INVOCATIONS = 8
USER_AGENTS = UaParserUserAgents()


def add_site(url: str, allowance: int) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO sites (site_id, owner_sub, name, domains, request_allowance) "
            "VALUES (%s, 'o', 'n', ARRAY['example.com'], %s)",
            (SITE, allowance),
        )


def run_concurrently(url: str, work: Sequence[Sequence[list[bytes]]]) -> list[IngestReport]:
    """Each worker has its own pool and services, as a Lambda container; all start together."""
    barrier = threading.Barrier(len(work))
    reports: list[IngestReport] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def invoke(index: int, batches: Sequence[list[bytes]]) -> None:
        pool = open_pool(url, max_size=2, name=f"invocation-{index}")  # as a Lambda container
        services = bootstrap.build(
            Settings(database_url=url),
            pool=pool,
            clock=FakeClock(),
            user_agents=USER_AGENTS,
            cold_forwarder=InMemoryColdForwarder(),
        )
        try:
            barrier.wait()
            for number, records in enumerate(batches):
                report = ingest_records(services, records, request_id=f"{index}-{number}")
                with lock:
                    reports.append(report)
        except BaseException as exc:  # noqa: BLE001  # reported to the test thread below
            with lock:
                errors.append(exc)
        finally:
            pool.close()

    threads = [threading.Thread(target=invoke, args=(i, batches)) for i, batches in enumerate(work)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    return reports


def distinct_work(batches: int = 4, size: int = 5) -> list[list[list[bytes]]]:
    """8 invocations x `batches` batches x `size` events, every event distinct."""
    work: list[list[list[bytes]]] = []
    for invocation in range(INVOCATIONS):
        mine = []
        for batch in range(batches):
            first = 1 + (invocation * batches + batch) * size
            mine.append(
                [
                    record(envelope(n, payload("initial" if n % 3 == 0 else "event")))
                    for n in range(first, first + size)
                ]
            )
        work.append(mine)
    return work


def totals(reports: Sequence[IngestReport]) -> Counter[str]:
    found: Counter[str] = Counter()
    for report in reports:
        found.update(report.counts)
    return found


def stored_count(url: str) -> int:
    ((count,),) = fetch_all(
        url, "SELECT (SELECT count(*) FROM events) + (SELECT count(*) FROM initial_events)"
    )
    return int(count)


def allowance(url: str) -> int:
    ((value,),) = fetch_all(url, "SELECT request_allowance FROM sites WHERE site_id = %s", (SITE,))
    return int(value)


@pytest.mark.parametrize(("allowance_a", "stored_n"), [(50, 50), (500, 160)])
def test_eight_invocations_never_exceed_the_allowance(
    db: Pool, database_url: str, allowance_a: int, stored_n: int
) -> None:
    """160 events in 32 batches over 8 concurrent invocations: with A=50 exactly 50 are stored
    and the allowance ends at 0; with A=500 all 160 are stored and 340 remain."""
    add_site(database_url, allowance_a)
    reports = run_concurrently(database_url, distinct_work())
    counts = totals(reports)
    assert counts["accepted"] == stored_n
    assert counts["over_allowance"] == 160 - stored_n
    assert sum(counts.values()) == 160
    assert stored_count(database_url) == stored_n
    assert allowance(database_url) == allowance_a - stored_n
    recorded = dict(
        fetch_all(database_url, "SELECT outcome, sum(count)::int FROM ingest_outcomes GROUP BY 1")
    )
    assert recorded.get("accepted") == stored_n
    assert recorded.get("over_allowance", 0) == 160 - stored_n


def test_concurrent_redeliveries_store_each_event_once(db: Pool, database_url: str) -> None:
    """Two invocations at a time deliver the same batches (Firehose retrying a slow request):
    every event is stored and charged once."""
    add_site(database_url, 1000)
    base = distinct_work(batches=2, size=10)[: INVOCATIONS // 2]
    reports = run_concurrently(database_url, base + base)
    counts = totals(reports)
    assert counts["accepted"] == 80
    assert counts["duplicate"] == 80
    assert stored_count(database_url) == 80
    assert allowance(database_url) == 920
