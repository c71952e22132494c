"""The `IngestOutcomes` contract, run against the in-memory fake and PostgreSQL: what an
event store's `store` counted is read back per site and day, within the asked range only."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from tests.integration.test_event_store import (
    DAY,
    Backend,
    MemoryBackend,
    PostgresBackend,
    event,
    initial,
)
from tests.support.ingest import OTHER_SITE, SITE

from adapters.memory import InMemoryIngestOutcomes
from adapters.postgres.ingest_outcomes import PostgresIngestOutcomes
from analytics_core.outcomes import Outcome, OutcomeTally
from analytics_core.ports import IngestOutcomes

Pair = tuple[Backend, IngestOutcomes]


@pytest.fixture(params=["memory", "postgres"])
def pair(request: pytest.FixtureRequest) -> Pair:
    """An event store to count outcomes and the `IngestOutcomes` reading them back."""
    if request.param == "memory":
        memory = MemoryBackend()
        return memory, InMemoryIngestOutcomes(memory.store)
    pool = request.getfixturevalue("db")
    return PostgresBackend(pool, request.getfixturevalue("database_url")), PostgresIngestOutcomes(
        pool
    )


def test_outcomes_are_read_back_per_day_within_the_range(pair: Pair) -> None:
    """Stored and rejected counts come back by day then outcome, only the site's, only the
    range's days, without zeros."""
    backend, outcomes = pair
    backend.add_site(SITE, 2)
    backend.add_site(OTHER_SITE, 10)
    tomorrow = DAY + timedelta(days=1)
    backend.store.store(
        [event(1), initial(2), event(3, day_offset=1), event(4, OTHER_SITE)],
        [
            OutcomeTally(SITE, DAY, Outcome.BOT, 4),
            OutcomeTally(SITE, tomorrow, Outcome.DOMAIN_MISMATCH, 1),
            OutcomeTally(SITE, DAY + timedelta(days=5), Outcome.MALFORMED, 7),
        ],
    )
    read: Callable[..., list[OutcomeTally]] = outcomes.tallies
    assert read(SITE, DAY, tomorrow) == [
        OutcomeTally(SITE, DAY, Outcome.ACCEPTED, 2),
        OutcomeTally(SITE, DAY, Outcome.BOT, 4),
        OutcomeTally(SITE, tomorrow, Outcome.DOMAIN_MISMATCH, 1),
        OutcomeTally(SITE, tomorrow, Outcome.OVER_ALLOWANCE, 1),
    ]
    assert read(SITE, DAY - timedelta(days=3), DAY - timedelta(days=1)) == []
    assert read(OTHER_SITE, DAY, DAY) == [OutcomeTally(OTHER_SITE, DAY, Outcome.ACCEPTED, 1)]
