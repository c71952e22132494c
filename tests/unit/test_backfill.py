"""`backfill_hot` and `verify_migration` with the in-memory fakes: batches of whole sessions,
resumable after an interruption, coverage moved back day by day and never forward, unknown
sites skipped, mismatches named by site and day."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import UTC, date, datetime, timedelta

import pytest
from tests.support.legacy_lake import recent, strip_uids

from adapters.memory import InMemoryEventPartitions, InMemoryHotCoverage
from adapters.memory_stats import InMemoryHotEventCopies, InMemoryReadModel, InMemoryStatsReader
from analytics_core.backfill import (
    BackfillReport,
    Mismatch,
    VerificationReport,
    backfill_hot,
    covered_days,
    verify_migration,
)
from analytics_core.migration_counts import CopyCounts, DayCounts
from analytics_core.rows import Row
from analytics_core.stats import Dimension, StatsQuery

NOW = datetime(2026, 12, 7, 15, 0, tzinfo=UTC)
TODAY = NOW.date()
SITES, EVENTS, INITIAL = recent(TODAY, days=6, seed=3, sessions=150)
UNKNOWN = "01JDQ7ZK3M0000000000000ZZZ"


def cold_store() -> InMemoryStatsReader:
    """The cold store: a third of the rows without uids, one site unknown to the hot one."""
    cold = InMemoryStatsReader("cold")
    cold.add(strip_uids(EVENTS[::3]), strip_uids(INITIAL[::3]))
    cold.add(
        [e for n, e in enumerate(EVENTS) if n % 3], [i for n, i in enumerate(INITIAL) if n % 3]
    )
    cold.add([EVENTS[0]._replace(site_id=UNKNOWN, event_uid="01JDQ7ZK3M00000000000UNKN1")], [])
    return cold


class CrashError(Exception):
    """The stand-in for a crash."""


class FailingCopies(InMemoryHotEventCopies):
    """Copies that stop the run after `budget` batches."""

    def __init__(self, store: InMemoryStatsReader, budget: int) -> None:
        super().__init__(store, lambda: SITES)
        self.budget = budget
        self.batches: list[int] = []

    def copy(self, table: str, rows: Sequence[Row], *, dry_run: bool = False) -> CopyCounts:
        if len(self.batches) == self.budget:
            raise CrashError
        self.batches.append(len(rows))
        return super().copy(table, rows, dry_run=dry_run)


def run(
    hot: InMemoryHotEventCopies,
    coverage: InMemoryHotCoverage,
    *,
    days: int = 8,
    sites: Collection[str] | None = None,
    dry_run: bool = False,
    batch_rows: int = 25,
    read_model: InMemoryReadModel | None = None,
) -> tuple[BackfillReport, list[tuple[date, int]]]:
    seen: list[tuple[date, int]] = []
    report = backfill_hot(
        cold=cold_store(),
        hot=hot,
        read_model=read_model or InMemoryReadModel(),
        partitions=InMemoryEventPartitions(),
        coverage=coverage,
        clock=lambda: NOW,
        days=days,
        site_ids=None if sites is None else list(sites),
        dry_run=dry_run,
        batch_rows=batch_rows,
        progress=lambda day, n: seen.append((day, n)),
    )
    return report, seen


def test_backfill_copies_everything_once_and_equals_the_cold_answers() -> None:
    """Every cold row of a known site is inserted once, the unknown site's row is skipped,
    the read model folds once per day copied, and the hot store then answers like the cold
    one."""
    hot_rows = InMemoryStatsReader("hot")
    coverage = InMemoryHotCoverage(TODAY)
    read_model = InMemoryReadModel(sites=lambda: SITES)
    copies = InMemoryHotEventCopies(hot_rows, lambda: SITES, read_model)
    report, seen = run(copies, coverage, read_model=read_model)
    total = len(EVENTS) + len(INITIAL)
    assert (report.read, report.inserted, report.present) == (total, total, 0)
    assert (report.skipped, report.unknown_sites) == (1, (UNKNOWN,))
    assert (report.first, report.last) == (TODAY - timedelta(days=7), TODAY)
    assert coverage.since() == TODAY - timedelta(days=7)
    assert [d for d, n in seen if n == 0] == [TODAY - timedelta(days=k) for k in range(8)]
    query = StatsQuery(SITES, TODAY - timedelta(days=4), TODAY)
    assert hot_rows.read(query) == cold_store().read(query)
    assert read_model.reader.read(query) == cold_store().read(query)  # folded, day by day
    days_with_rows = {row.dt for row in [*EVENTS, *INITIAL]}
    assert len(read_model.folds) == len(days_with_rows)
    assert all(set(sites or ()) <= set(SITES) for sites in read_model.folds)
    again, _ = run(InMemoryHotEventCopies(hot_rows, lambda: SITES), coverage)
    assert (again.inserted, again.present) == (0, total)


def test_batches_hold_whole_sessions() -> None:
    """A batch never splits a session's rows of one day and table."""
    hot = FailingCopies(InMemoryStatsReader("hot"), budget=10_000)
    batches: list[list[Row]] = []
    original = hot.copy

    def record(table: str, rows: Sequence[Row], *, dry_run: bool = False) -> CopyCounts:
        batches.append(list(rows))
        return original(table, rows, dry_run=dry_run)

    hot.copy = record  # type: ignore[method-assign]
    run(hot, InMemoryHotCoverage(), batch_rows=5)
    owners: dict[tuple[str, str, date, type], int] = {}
    for number, batch in enumerate(batches):
        for row in batch:
            key = (row.site_id, row.session_id, row.dt, type(row))
            assert owners.setdefault(key, number) == number


@pytest.mark.parametrize("budget", [0, 1, 4, 9])
def test_an_interrupted_backfill_is_completed_by_a_rerun(budget: int) -> None:
    """After a crash the coverage covers only whole days copied, newest first; a rerun
    inserts the rest and nothing twice."""
    hot_rows = InMemoryStatsReader("hot")
    coverage = InMemoryHotCoverage(TODAY)
    failing = FailingCopies(hot_rows, budget)
    with pytest.raises(CrashError):
        run(failing, coverage, batch_rows=10)
    since = coverage.since()
    assert since is not None
    complete = [TODAY - timedelta(days=k) for k in range((TODAY - since).days + 1)]
    for day in complete[1:] if since == TODAY else complete:
        cold_day = cold_store().daily_counts(day, day, SITES)
        assert hot_rows.daily_counts(day, day, SITES) == cold_day
    first = sum(failing.batches)
    report, _ = run(InMemoryHotEventCopies(hot_rows, lambda: SITES), coverage)
    assert report.inserted == len(EVENTS) + len(INITIAL) - first
    assert report.present == first
    assert coverage.since() == TODAY - timedelta(days=7)


def test_dry_run_changes_nothing_and_coverage_never_moves_forward() -> None:
    """A dry run reports what it would do and changes neither store nor coverage; a run over
    fewer days than the coverage already reaches leaves it where it is."""
    hot_rows = InMemoryStatsReader("hot")
    coverage = InMemoryHotCoverage(TODAY)
    dry, _ = run(InMemoryHotEventCopies(hot_rows, lambda: SITES), coverage, dry_run=True)
    assert dry.inserted == len(EVENTS) + len(INITIAL)
    assert dry.hot_since == TODAY - timedelta(days=7)
    assert coverage.since() == TODAY
    assert hot_rows.daily_counts(TODAY - timedelta(days=9), TODAY, None) == {}
    early = TODAY - timedelta(days=30)
    coverage.set_since(early)
    report, _ = run(InMemoryHotEventCopies(hot_rows, lambda: SITES), coverage, days=2)
    assert report.hot_since == early


def test_verify_names_the_differing_site_days_within_the_coverage() -> None:
    """Only the covered days are compared; a missing hot row shows as its site and day."""
    hot_rows = InMemoryStatsReader("hot")
    coverage = InMemoryHotCoverage(TODAY)
    run(InMemoryHotEventCopies(hot_rows, lambda: SITES), coverage)
    copies = InMemoryHotEventCopies(hot_rows, lambda: SITES)

    def verify(days: int, sites: list[str] | None = None) -> VerificationReport:
        return verify_migration(
            cold=cold_store(), hot=copies, coverage=coverage, clock=lambda: NOW, days=days,
            site_ids=sites,
        )  # fmt: skip

    clean = verify(8)
    assert (len(clean.days), clean.sites, clean.mismatches) == (8, len(SITES), ())
    extra = EVENTS[0]._replace(event_uid="01JDQ7ZK3M00000000000EXTRA", dt=TODAY - timedelta(days=2))
    hot_rows.add([extra], [])
    found = verify(8)
    before = cold_store().daily_counts(extra.dt, extra.dt, None).get((extra.site_id, extra.dt))
    before = before or DayCounts()
    assert found.mismatches == (
        Mismatch(
            extra.site_id,
            extra.dt,
            hot_rows.daily_counts(extra.dt, extra.dt, None)[extra.site_id, extra.dt],
            before,
        ),
    )
    other = next(site for site in SITES if site != extra.site_id)
    assert verify(8, [other]).mismatches == ()
    coverage.set_since(TODAY - timedelta(days=1))
    assert verify(8).days == (TODAY - timedelta(days=1), TODAY)


def test_covered_days() -> None:
    """The compared days are the last N days from the coverage on, oldest first."""
    assert covered_days(TODAY, 3, None) == [
        TODAY - timedelta(days=2),
        TODAY - timedelta(days=1),
        TODAY,
    ]
    assert covered_days(TODAY, 3, TODAY) == [TODAY]
    assert covered_days(TODAY, 3, TODAY + timedelta(days=1)) == []


def test_a_range_starting_on_the_coverage_day_is_exact() -> None:
    """With the day before's initial events copied too, the hot store answers a range
    starting on its coverage day like the cold store (sessions spanning midnight included)."""
    spanning_days = 0
    for days in range(1, 6):
        read_model = InMemoryReadModel(sites=lambda: SITES)
        coverage = InMemoryHotCoverage(TODAY)
        copies = InMemoryHotEventCopies(InMemoryStatsReader("hot"), lambda: SITES, read_model)
        report, _ = run(copies, coverage, days=days, read_model=read_model)
        assert coverage.since() == report.first == TODAY - timedelta(days=days - 1)
        first_day = {(r.site_id, r.session_id) for r in EVENTS if r.dt == report.first}
        day_before = {
            (r.site_id, r.session_id) for r in INITIAL if r.dt == report.first - timedelta(days=1)
        }
        spanning_days += bool(first_day & day_before)
        for group_by in (None, Dimension.COUNTRY):
            query = StatsQuery(SITES, report.first, TODAY, group_by=group_by)
            assert read_model.reader.read(query) == cold_store().read(query), (days, group_by)
    assert spanning_days  # some first day has sessions that began the day before


def test_a_run_for_some_sites_leaves_the_coverage_alone() -> None:
    """The coverage holds for every site, so a `--site` run copies that site's rows and moves
    it neither back nor forward."""
    hot_rows = InMemoryStatsReader("hot")
    coverage = InMemoryHotCoverage(TODAY)
    report, _ = run(InMemoryHotEventCopies(hot_rows, lambda: SITES), coverage, sites=[SITES[0]])
    assert report.sites == 1
    assert report.inserted == sum(1 for r in [*EVENTS, *INITIAL] if r.site_id == SITES[0])
    assert coverage.since() == report.hot_since == TODAY
    dry, _ = run(
        InMemoryHotEventCopies(hot_rows, lambda: SITES), coverage, sites=[SITES[1]], dry_run=True
    )
    assert dry.hot_since == TODAY
