"""Site deletion's ports: `SiteDeletions` (in-memory fake, PostgreSQL) and `ColdSiteEraser`
(in-memory fake, the local lake, Athena through moto) keep the same contracts.

moto never runs SQL, so Athena's side of the contract is what it was asked to run: a site
counts as erased there once both DELETE statements, pinned by golden files
(tests/golden/athena/site_deletion_*.sql, UPDATE_GOLDEN=1 rewrites them), were executed in the
configured workgroup, database and output location."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import sqlglot
from tests.support.aws import athena_executions, moto_athena_server

from adapters.aws.athena import AthenaColdSiteEraser, site_deletion_sql
from adapters.config import Settings
from adapters.lake import LocalLakeColdSiteEraser, ParquetLakeWriter
from adapters.memory import InMemoryColdForwarder, InMemoryEventStore, InMemorySiteRepository
from adapters.memory_deletion import InMemoryColdSiteEraser, InMemorySiteDeletions
from adapters.postgres.deletions import PostgresSiteDeletions
from adapters.postgres.pool import Pool
from adapters.postgres.sites import PostgresSiteRepository
from analytics_core.deletions import DeletionRequest
from analytics_core.errors import StoreUnavailableError
from analytics_core.ports import ColdSiteEraser, SiteDeletions, SiteRepository
from analytics_core.rows import EventRow, InitialEventRow
from analytics_core.sites import ComplianceLevel, NewSite

GOLDEN = Path(__file__).resolve().parent.parent / "golden" / "athena"
SITE = "01JDQ7ZK3M0000000000DELE01"
OTHER = "01JDQ7ZK3M0000000000DELE02"
OWNER = "owner-a"
WORKGROUP = "analytics-queries"
DATABASE = "analytics_lake"
OUTPUT = "s3://analytics-athena-results/athena-results/"
NOW = datetime(2026, 12, 7, 9, 30, tzinfo=UTC)
DAY = date(2026, 12, 6)


def new_site(site_id: str, owner: str = OWNER) -> NewSite:
    """A site to register."""
    return NewSite(
        site_id=site_id,
        owner_sub=owner,
        name="Example",
        domains=("example.com",),
        compliance_level=ComplianceLevel(1),
        created_at=NOW,
    )


@pytest.fixture(params=["memory", "postgres"])
def hot(request: pytest.FixtureRequest) -> tuple[SiteDeletions, SiteRepository]:
    if request.param == "memory":
        sites = InMemorySiteRepository()
        return InMemorySiteDeletions(sites, InMemoryEventStore(sites)), sites
    pool: Pool = request.getfixturevalue("db")
    return PostgresSiteDeletions(pool), PostgresSiteRepository(pool)


def test_a_deletion_removes_the_owners_site_and_tracks_its_cold_job(
    hot: tuple[SiteDeletions, SiteRepository],
) -> None:
    """Someone else's or a missing site is left alone (False); the owner's goes (True) and its
    cold job is pending, oldest first, until it is done; failed attempts keep it pending."""
    deletions, sites = hot
    sites.add(new_site(SITE))
    sites.add(new_site(OTHER))
    assert deletions.delete_hot("someone-else", SITE, NOW) is False
    assert deletions.delete_hot(OWNER, "01JDQ7ZK3M0000000000NOPE00", NOW) is False
    assert sites.get_for_owner(OWNER, SITE) is not None
    assert deletions.pending() == []
    assert deletions.delete_hot(OWNER, OTHER, NOW) is True
    assert deletions.delete_hot(OWNER, SITE, NOW.replace(hour=10)) is True
    assert deletions.delete_hot(OWNER, SITE, NOW) is False  # already gone
    assert sites.get_for_owner(OWNER, SITE) is None
    assert sites.list_for_owner(OWNER) == []
    assert deletions.pending() == [
        DeletionRequest(OTHER, NOW),
        DeletionRequest(SITE, NOW.replace(hour=10)),
    ]
    deletions.cold_failed(OTHER, "Athena said no")
    deletions.cold_done(SITE, NOW.replace(hour=11))
    assert deletions.pending() == [DeletionRequest(OTHER, NOW)]
    deletions.cold_done(OTHER, NOW.replace(hour=12))
    assert deletions.pending() == []


# ------------------------------------------------------------------ the cold store


def rows(site_id: str) -> tuple[list[EventRow], list[InitialEventRow]]:
    """Two plain events and one initial event of the site, on two days."""
    stamp = datetime(2026, 12, 6, 8, tzinfo=UTC)
    events = [
        EventRow(f"{site_id[-4:]}E{n}", site_id, "s1", stamp, DAY, "pageview", "/", None)
        for n in range(2)
    ]
    first = InitialEventRow(
        f"{site_id[-4:]}I0", site_id, "s1", stamp, date(2026, 12, 5), "pageview", "/", None
    )
    return events, [first]


GOLDEN_STATEMENTS = {
    f"site_deletion_{table}": site_deletion_sql(table, SITE)
    for table in ("events", "initial_events")
}


@pytest.mark.parametrize("name", GOLDEN_STATEMENTS)
def test_athena_deletion_sql_is_pinned(name: str) -> None:
    """The DELETE equals its golden file and parses as Trino; an id that is not made of
    letters, digits, `_` and `-` is refused rather than quoted into SQL."""
    path = GOLDEN / f"{name}.sql"
    if os.environ.get("UPDATE_GOLDEN") == "1":
        path.write_text(GOLDEN_STATEMENTS[name] + "\n")
    assert GOLDEN_STATEMENTS[name] + "\n" == path.read_text()
    sqlglot.parse_one(GOLDEN_STATEMENTS[name], read="trino")
    with pytest.raises(ValueError, match="not a site id"):
        site_deletion_sql("events", "x' OR '1'='1")
    with pytest.raises(ValueError, match="not an Iceberg table"):
        site_deletion_sql("sites", SITE)


Remaining = Callable[[], set[str]]


@pytest.fixture(scope="module")
def moto_url() -> Iterator[str]:
    with moto_athena_server(WORKGROUP, OUTPUT) as url:
        yield url


def athena_erased() -> set[str]:
    """The sites whose DELETE ran on both tables, as moto recorded the executions."""
    executions = athena_executions(WORKGROUP)
    for execution in executions:
        assert execution["QueryExecutionContext"]["Database"] == DATABASE
        assert execution["ResultConfiguration"]["OutputLocation"].startswith(OUTPUT)
        assert "ExecutionParameters" not in execution
    queries = {execution["Query"] for execution in executions}
    return {
        site
        for site in (SITE, OTHER)
        if {site_deletion_sql(t, site) for t in ("events", "initial_events")} <= queries
    }


@pytest.fixture(params=["memory", "lake", "athena"])
def cold(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[ColdSiteEraser, Remaining]:
    """An eraser over a cold store holding rows of SITE and OTHER, and what is left there."""
    if request.param == "memory":
        forwarder = InMemoryColdForwarder()
        for site in (SITE, OTHER):
            forwarder.forward(*rows(site))
        return InMemoryColdSiteEraser(forwarder), lambda: {
            *(row.site_id for row in forwarder.events),
            *(row.site_id for row in forwarder.initial_events),
        }
    if request.param == "lake":
        writer = ParquetLakeWriter(tmp_path)
        for site in (SITE, OTHER):
            writer.write_rows(*rows(site))
        writer.write_rows(rows(SITE)[0] + rows(OTHER)[0], [])  # a file holding both sites

        def in_lake() -> set[str]:
            files = sorted(tmp_path.rglob("*.parquet"))
            assert not list(tmp_path.rglob("*.tmp"))
            return {s for path in files for s in pq.read_table(path).column("site_id").to_pylist()}

        return LocalLakeColdSiteEraser(tmp_path), in_lake
    request.getfixturevalue("moto_url")
    settings = Settings(
        athena_workgroup=WORKGROUP, athena_database=DATABASE, athena_output_location=OUTPUT
    )
    eraser = AthenaColdSiteEraser.from_settings(settings, poll_interval_s=0.01)
    return eraser, lambda: {SITE, OTHER} - athena_erased()


def test_an_erasure_removes_the_sites_cold_rows_only_and_can_be_repeated(
    cold: tuple[ColdSiteEraser, Remaining],
) -> None:
    """After erasing a site (twice: a retried job), the cold store holds the other site's
    rows and none of the erased one's."""
    eraser, remaining = cold
    assert remaining() == {SITE, OTHER}
    eraser.erase(SITE)
    eraser.erase(SITE)
    assert remaining() == {OTHER}


def test_an_athena_deletion_that_cannot_run_is_a_store_error_naming_the_site(
    moto_url: str,
) -> None:
    """A DELETE Athena refuses (here: an unknown workgroup) becomes `StoreUnavailableError`
    naming the site and the table, which leaves the job pending for the next attempt."""
    assert moto_url
    settings = Settings(
        athena_workgroup="no-such-workgroup",
        athena_database=DATABASE,
        athena_output_location=OUTPUT,
    )
    eraser = AthenaColdSiteEraser.from_settings(settings, poll_interval_s=0.01)
    with pytest.raises(StoreUnavailableError, match=f"site {SITE} from events"):
        eraser.erase(SITE)
