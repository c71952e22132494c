"""Rows without `event_uid` in a zoned query: a local day may hold two stored (UTC) days, whose
uid-less rows are numbered per stored day; the lake's stand-in uids stay unique within the
local day, so two old initial events of one session on one New York evening (either side of
UTC midnight) are one visit and one plain event, as in the in-memory reference. Also: DuckDB's
time zones and JSON functions are built into its Python package (the lake works offline)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import duckdb
import pytest
from tests.support.legacy_lake import write_legacy_rows

from adapters.lake import LocalStatsReader
from adapters.memory_stats import InMemoryStatsReader
from analytics_core.legacy_uids import MISSING_UID
from analytics_core.rows import EventRow, InitialEventRow
from analytics_core.stats import Dimension, Field, Interval, StatsQuery

SITE = "01JDQ7ZK3M000000000000SL01"
NEW_YORK = "America/New_York"
DAY = date(2026, 11, 10)  # local; 23:00 UTC on it is 18:00 in New York


def _at(day: int, hour: int, minute: int) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=UTC)


def _initial(moment: datetime, path: str) -> InitialEventRow:
    return InitialEventRow(
        MISSING_UID, SITE, "old", moment, moment.date(), "pageview", path, None, country="NL"
    )


def _event(moment: datetime, path: str) -> EventRow:
    return EventRow(MISSING_UID, SITE, "old", moment, moment.date(), "pageview", path, None)


INITIAL = [_initial(_at(10, 23, 0), "/start"), _initial(_at(11, 0, 30), "/again")]
EVENTS = [
    _event(_at(10, 23, 10), "/a"),
    _event(_at(11, 0, 10), "/b"),
    _event(_at(11, 1, 0), "/last"),
    _event(_at(11, 6, 0), "/next-day"),  # 01:00 on 11-11 in New York
]


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("zoned-legacy")
    write_legacy_rows(root, EVENTS, INITIAL)
    return root


@pytest.mark.parametrize(
    "group_by", [None, Dimension.ENTRY_PAGE, Dimension.EXIT_PAGE, Dimension.PATHNAME]
)
@pytest.mark.parametrize("interval", [None, Interval.HOUR])
def test_old_rows_on_one_local_day_of_two_stored_days(
    lake: Path, group_by: Field | None, interval: Interval | None
) -> None:
    """The lake answers like the reference: one visit (the earlier initial event), the later
    initial event a plain event, the exit page the visit's last pageview of its local day and
    the next."""
    memory = InMemoryStatsReader()
    memory.add(EVENTS, INITIAL)
    query = StatsQuery(
        (SITE,),
        DAY,
        DAY + timedelta(days=1),
        group_by=group_by,
        interval=interval,
        timezone=NEW_YORK,
    )
    expected = memory.read(query)
    assert expected.totals.visits == 1
    assert expected.totals.events == 6
    assert LocalStatsReader(lake).read(query) == expected
    if group_by is Dimension.EXIT_PAGE:
        assert expected.breakdown[0][0] == "/next-day"


def test_duckdb_time_zones_and_json_are_built_in() -> None:
    """DuckDB's ICU and JSON extensions come inside the Python package (nothing is downloaded,
    the lake reader works offline), and `timezone(zone, ts)` knows New York's fall back."""
    con = duckdb.connect(":memory:")
    try:
        con.execute("SET TimeZone = 'UTC'")
        built_in = con.execute(
            "SELECT extension_name FROM duckdb_extensions() "
            "WHERE install_mode = 'STATICALLY_LINKED'"
        ).fetchall()
        assert {"icu", "json"} <= {name for (name,) in built_in}
        local = con.execute(
            "SELECT timezone(?, TIMESTAMPTZ '2026-11-01 05:30:00+00'), "
            "timezone(?, TIMESTAMPTZ '2026-11-01 06:30:00+00')",
            [NEW_YORK, NEW_YORK],
        ).fetchone()
    finally:
        con.close()
    assert local == (datetime(2026, 11, 1, 1, 30), datetime(2026, 11, 1, 1, 30))  # noqa: DTZ001  # DuckDB's local wall clock
