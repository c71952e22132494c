"""The `ReadModel` contract, run against PostgreSQL (`PostgresReadModel`) and the in-memory
fake (`InMemoryReadModel`): rows stored by ingest count once a fold of their site takes them
in; a rebuild takes in every stored row of its sites, also those that reached the store
around ingest; an unknown site stops a rebuild before anything is done; expiry forgets the
sessions that ended before a day."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from datetime import timedelta

import attrs
import psycopg
import pytest
from tests.support.hot_store import copy_rows
from tests.support.stats_data import Dataset, generate

from adapters.memory_stats import InMemoryReadModel, InMemoryStatsReader
from adapters.postgres.events import PostgresEventStore
from adapters.postgres.pool import Pool
from adapters.postgres.read_model import PostgresReadModel
from adapters.postgres.stats import PostgresStatsReader
from analytics_core.errors import NotFoundError
from analytics_core.ports import ReadModel
from analytics_core.rows import EventRow, InitialEventRow, Row
from analytics_core.stats import Dimension, Interval, StatsQuery, StatsResult

UNKNOWN_SITE = "01JDQ7ZK3M0000000000000000"
DATA = generate(seed=23, sites=2, days=4, sessions=60)


@attrs.frozen
class Side:
    """One implementation of the port with what the contract needs around it: ingest's side
    (`record`), rows stored around ingest (`store_unrecorded`), the hot reader, and how many
    rows are pending."""

    read_model: ReadModel
    record: Callable[[Sequence[Row]], None]
    store_unrecorded: Callable[[Sequence[Row]], None]
    read: Callable[[StatsQuery], StatsResult]
    pending: Callable[[], int]


def memory_side() -> Side:
    """The fake, with the data's sites registered."""
    fake = InMemoryReadModel(sites=lambda: DATA.sites)
    return Side(fake, fake.record, fake.store_unrecorded, fake.reader.read, fake.pending)


def postgres_side(pool: Pool, url: str) -> Side:
    """PostgreSQL: the real event store records, COPY stores around it, the real reader."""
    with psycopg.connect(url, autocommit=True) as conn:
        for site in DATA.sites:
            conn.execute(
                "INSERT INTO sites (site_id, owner_sub, name, domains, request_allowance) "
                "VALUES (%s, 'o', 'n', ARRAY['example.com'], 1000000)",
                (site,),
            )
    store = PostgresEventStore(pool)
    real = PostgresReadModel(pool)

    def record(rows: Sequence[Row]) -> None:
        store.store(rows, [])

    def store_unrecorded(rows: Sequence[Row]) -> None:
        with psycopg.connect(url) as conn:
            copy_rows(conn, *split(rows), rebuild=False)

    return Side(real, record, store_unrecorded, PostgresStatsReader(pool).read, real.pending)


@pytest.fixture(params=["memory", "postgres"])
def side(request: pytest.FixtureRequest) -> Iterator[Side]:
    """Each implementation of the port, on an emptied store."""
    if request.param == "memory":
        yield memory_side()
    else:
        yield postgres_side(request.getfixturevalue("db"), request.getfixturevalue("database_url"))


def split(rows: Sequence[Row]) -> tuple[list[EventRow], list[InitialEventRow]]:
    """Events and initial events."""
    return (
        [r for r in rows if isinstance(r, EventRow)],
        [r for r in rows if isinstance(r, InitialEventRow)],
    )


def rows_of(data: Dataset, site: str) -> list[Row]:
    """Every row of one site."""
    return [r for r in [*data.events, *data.initial_events] if r.site_id == site]


def answers(read: Callable[[StatsQuery], StatsResult], site: str) -> list[StatsResult]:
    """Totals, a daily series and a country breakdown of one site over the data's days."""
    return [
        read(StatsQuery((site,), DATA.first_day, DATA.last_day, **extra))  # type: ignore[arg-type]
        for extra in ({}, {"interval": Interval.DAY}, {"group_by": Dimension.COUNTRY})
    ]


def truth(site: str) -> list[StatsResult]:
    """What the metric definitions say about every row of the site."""
    reference = InMemoryStatsReader()
    reference.add(DATA.events, DATA.initial_events)
    return answers(reference.read, site)


def nothing(site: str) -> list[StatsResult]:
    """What an empty read model answers."""
    return answers(InMemoryStatsReader().read, site)


def test_a_fold_takes_in_the_pending_rows_of_its_sites_only(side: Side) -> None:
    """Rows stored by ingest are not counted until a fold of their site, which returns how
    many it took in and leaves the other site's rows pending; a fold of every site takes the
    rest; a fold with nothing pending returns 0."""
    site_a, site_b = DATA.sites
    assert side.read_model.fold_pending() == 0
    side.record(rows_of(DATA, site_a))
    side.record(rows_of(DATA, site_b))
    assert answers(side.read, site_a) == nothing(site_a)
    assert side.read_model.fold_pending([site_a]) == len(rows_of(DATA, site_a))
    assert answers(side.read, site_a) == truth(site_a)
    assert answers(side.read, site_b) == nothing(site_b)
    assert side.pending() == len(rows_of(DATA, site_b))
    assert side.read_model.fold_pending() == len(rows_of(DATA, site_b))
    assert answers(side.read, site_b) == truth(site_b)
    assert side.read_model.fold_pending() == 0
    assert side.pending() == 0


def test_a_rebuild_takes_in_every_stored_row_of_its_sites(side: Side) -> None:
    """Rows stored around ingest are never pending; a rebuild of their site takes them in
    (and the site's pending rows, which no fold then finds), leaves the other site alone, and
    reports the read model's size; a rebuild of every site completes the rest."""
    site_a, site_b = DATA.sites
    side.store_unrecorded(rows_of(DATA, site_a))
    side.record(rows_of(DATA, site_b)[:5])
    side.store_unrecorded(rows_of(DATA, site_b)[5:])
    assert side.read_model.fold_pending([site_a]) == 0
    assert answers(side.read, site_a) == nothing(site_a)
    sizes = side.read_model.rebuild([site_a])
    assert sizes
    assert all(isinstance(n, int) and n >= 0 for n in sizes.values())
    assert sum(sizes.values()) > 0
    assert answers(side.read, site_a) == truth(site_a)
    assert answers(side.read, site_b) == nothing(site_b)
    side.read_model.rebuild(timeout=timedelta(minutes=1))
    assert answers(side.read, site_b) == truth(site_b)
    assert side.read_model.fold_pending() == 0


def test_forgetting_local_days_loses_no_answer(side: Side) -> None:
    """After a site's change of zone drops what is kept by its local days, both sites still
    answer the whole truth (nothing else of the read model is lost)."""
    side.record([*DATA.events, *DATA.initial_events])
    side.read_model.fold_pending()
    site_a, site_b = DATA.sites
    side.read_model.forget_local_days([site_a])
    assert answers(side.read, site_a) == truth(site_a)
    assert answers(side.read, site_b) == truth(site_b)
    assert side.read_model.fold_pending() == 0


def test_a_rebuild_naming_an_unknown_site_does_nothing(side: Side) -> None:
    """A rebuild naming a site that does not exist is `NotFoundError` with its id, and the
    known site named with it is not rebuilt."""
    site_a = DATA.sites[0]
    side.store_unrecorded(rows_of(DATA, site_a))
    with pytest.raises(NotFoundError) as info:
        side.read_model.rebuild([site_a, UNKNOWN_SITE])
    assert info.value.key == UNKNOWN_SITE
    assert answers(side.read, site_a) == nothing(site_a)


def test_expiry_forgets_the_sessions_that_ended_before_a_day(side: Side) -> None:
    """Expiry before the first day forgets nothing; before the day after the last it forgets
    every folded session, once."""
    side.record([*DATA.events, *DATA.initial_events])
    side.read_model.fold_pending()
    rows = [*DATA.events, *DATA.initial_events]
    first, last = min(r.dt for r in rows), max(r.dt for r in rows)
    sessions = {(r.site_id, r.session_id) for r in rows}
    assert side.read_model.expire(first) == 0
    assert side.read_model.expire(last + timedelta(days=1)) == len(sessions)
    assert side.read_model.expire(last + timedelta(days=1)) == 0
