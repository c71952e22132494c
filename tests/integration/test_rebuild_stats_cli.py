"""`analytics rebuild-stats` on a real PostgreSQL: rows loaded around the ingest path (a
restore) are invisible to the read model until the command rebuilds it, per site or for all."""

from __future__ import annotations

import json

import psycopg
from tests.support.hot_store import copy_rows
from tests.support.stats_data import Dataset, generate
from typer.testing import CliRunner

from adapters.memory_stats import InMemoryStatsReader
from adapters.postgres.pool import Pool
from adapters.postgres.stats import PostgresStatsReader
from analytics_core.ports import StatsReader
from analytics_core.stats import Dimension, Interval, StatsQuery
from entrypoints.cli import app

UNKNOWN_SITE = "01JDQ7ZK3M0000000000000000"


def answer(reader: StatsReader, data: Dataset, site: str) -> tuple[object, ...]:
    """Totals, a daily series and a country breakdown of one site over the data's window."""
    out: list[object] = []
    for extra in ({}, {"interval": Interval.DAY}, {"group_by": Dimension.COUNTRY}):
        query = StatsQuery(
            site_ids=(site,), start_date=data.first_day, end_date=data.last_day, **extra
        )  # type: ignore[arg-type]
        out.append(reader.read(query))
    return tuple(out)


def rebuild(database_url: str, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["rebuild-stats", *args], env={"DATABASE_URL": database_url})
    return result.exit_code, result.output


def test_rebuild_stats_per_site_then_all(db: Pool, database_url: str) -> None:
    data = generate(seed=11, sites=2, days=6, sessions=150)
    site_a, site_b = data.sites
    with psycopg.connect(database_url) as conn:
        for site in data.sites:
            conn.execute(
                "INSERT INTO sites (site_id, owner_sub, name, domains) "
                "VALUES (%s, 'owner', 'R', ARRAY['r.example'])",
                (site,),
            )
        conn.commit()
        copy_rows(conn, data.events, data.initial_events, rebuild=False)
    reference = InMemoryStatsReader()
    reference.add(data.events, data.initial_events)
    hot = PostgresStatsReader(db)
    assert answer(hot, data, site_a) != answer(reference, data, site_a)  # not in the read model

    code, output = rebuild(database_url, "--site", UNKNOWN_SITE)
    assert code == 1
    assert UNKNOWN_SITE in output
    assert answer(hot, data, site_a) != answer(reference, data, site_a)

    code, output = rebuild(database_url, "--site", site_a)
    assert code == 0, output
    summary = json.loads(output)
    assert summary["sites"] == [site_a]
    assert summary["rows"]["stats_daily"] > 0
    assert answer(hot, data, site_a) == answer(reference, data, site_a)
    assert answer(hot, data, site_b) != answer(reference, data, site_b)  # left alone

    code, output = rebuild(database_url)
    assert code == 0, output
    assert json.loads(output)["sites"] == "all"
    for site in data.sites:
        assert answer(hot, data, site) == answer(reference, data, site)
