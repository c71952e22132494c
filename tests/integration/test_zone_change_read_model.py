"""A site's change of time zone drops its fact blocks (kept by local day) and nothing else:
the other site's blocks stay, and the next reads build the site's blocks in the new zone and
answer as the raw rows do."""

from __future__ import annotations

from tests.integration.test_fact_blocks import (
    DATA,
    END,
    SITES,
    START,
    add_sites,
    blocks,
    fold,
    raw,
    rows_of,
    same,
    store,
)

from adapters.postgres.fact_blocks import BlockCache, FactBlockStatsReader
from adapters.postgres.pool import Pool
from adapters.postgres.read_model import PostgresReadModel
from analytics_core.stats import Dimension, Interval, StatsQuery


def test_forgetting_a_sites_local_days_drops_only_its_blocks(db: Pool, database_url: str) -> None:
    add_sites(database_url)
    store(db, rows_of(DATA))
    fold(db)
    reader = FactBlockStatsReader(db, cache=BlockCache(), rollups_first=False)
    changed, kept = SITES
    for site in SITES:
        reader.read(StatsQuery((site,), START, END, group_by=Dimension.PATHNAME))
    before = blocks(database_url)
    assert {site for site, _ in before} == set(SITES)

    PostgresReadModel(db).forget_local_days([changed])

    after = blocks(database_url)
    assert {site for site, _ in after} == {kept}
    assert {key: value for key, value in before.items() if key[0] == kept} == after
    new_york = StatsQuery(
        (changed,), START, END, interval=Interval.HOUR, timezone="America/New_York"
    )
    assert same(reader.read(new_york), raw(db).read(new_york), new_york)
    assert {zone for (site, _), (zone, _) in blocks(database_url).items() if site == changed} == {
        "America/New_York"
    }
