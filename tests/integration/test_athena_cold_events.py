"""The Athena side of `backfill-hot` and `verify-migration` (`AthenaColdEvents`), as the
stats reader is tested: the Trino SQL is pinned by golden files (UPDATE_GOLDEN=1 rewrites
them), parses as Trino and, transpiled by sqlglot, gives the local lake reader's rows on the
same old lake; against moto (which never runs SQL: results are queued through its API) the
queries run in the configured workgroup, database and output location with the values as
execution parameters, and the rows come back mapped (a missing uid, text timestamps,
properties)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pytest
import sqlglot
from tests.support.aws import last_athena_execution, moto_athena_server, queue_athena_results
from tests.support.legacy_lake import recent, write_old_lake

from adapters.aws.athena import AthenaColdEvents, athena_literal
from adapters.config import Settings
from adapters.lake import EVENTS, INITIAL_EVENTS, LocalLakeColdEvents, lake_files, register_table
from adapters.migration_sql import (
    counts_from_rows,
    daily_counts_statement,
    day_rows_statement,
    row_from_values,
)
from adapters.stats_sql import Dialect, Statement
from analytics_core.legacy_uids import MISSING_UID
from analytics_core.migration_counts import DayCounts
from analytics_core.rows import EventRow, InitialEventRow

GOLDEN = Path(__file__).resolve().parent.parent / "golden" / "athena"
SITE = "01JDQ7ZK3M000000000000SA01"
OTHER = "01JDQ7ZK3M000000000000SB02"
WORKGROUP = "analytics-queries"
DATABASE = "analytics_lake"
OUTPUT = "s3://analytics-athena-results/athena-results/"
REGION = "eu-west-1"
DAY = date(2026, 12, 1)

GOLDEN_STATEMENTS = {
    "backfill_events_day": day_rows_statement(EVENTS, DAY, None, Dialect.TRINO),
    "backfill_initial_events_two_sites": day_rows_statement(
        INITIAL_EVENTS, DAY, [SITE, OTHER], Dialect.TRINO
    ),
    "verify_daily_counts": daily_counts_statement(
        DAY - timedelta(days=29), DAY, None, Dialect.TRINO
    ),
}


@pytest.mark.parametrize("name", GOLDEN_STATEMENTS)
def test_trino_sql_is_pinned_and_keeps_rows_without_a_uid(name: str) -> None:
    """The statement equals its golden file, parses as Trino, prunes on dt, keeps one copy
    per uid and every row without one, and carries every value as a `?`."""
    statement = GOLDEN_STATEMENTS[name]
    path = GOLDEN / f"{name}.sql"
    if os.environ.get("UPDATE_GOLDEN") == "1":
        path.write_text(statement.sql + "\n")
    assert statement.sql + "\n" == path.read_text()
    sqlglot.parse_one(statement.sql, read="trino")
    assert statement.sql.count("?") == len(statement.parameters)
    assert "WHERE copy_no = 1 OR event_uid IS NULL" in statement.sql
    assert "dt = ?" in statement.sql or "dt BETWEEN ? AND ?" in statement.sql
    for value in statement.parameters:
        if isinstance(value, str):
            assert f"'{value}'" not in statement.sql


TODAY = date(2026, 12, 7)
SITES, ROWS, INITIAL_ROWS = recent(TODAY, days=3, seed=21, sessions=90)


@pytest.fixture(scope="module")
def old_lake(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("athena-old-lake")
    write_old_lake(root, ROWS, INITIAL_ROWS)
    return root


def _trino_on_duckdb(lake: Path, statement: Statement, first: date, last: date) -> list[Any]:
    sql = sqlglot.transpile(statement.sql, read="trino", write="duckdb")[0]
    con = duckdb.connect(":memory:")
    try:
        con.execute("SET TimeZone = 'UTC'")
        for table in (EVENTS, INITIAL_EVENTS):
            register_table(con, table, lake_files(lake, table, first, last))
        return con.execute(sql, list(statement.parameters)).fetchall()
    finally:
        con.close()


def test_trino_statements_read_what_the_local_source_reads(old_lake: Path) -> None:
    """Run on DuckDB through sqlglot, the Trino statements give the local source's rows (in
    its order) and counts on an old lake with rows lacking uids."""
    local = LocalLakeColdEvents(old_lake)
    for table in (EVENTS, INITIAL_EVENTS):
        statement = day_rows_statement(table, TODAY, None, Dialect.TRINO)
        rows = [
            row_from_values(table, v) for v in _trino_on_duckdb(old_lake, statement, TODAY, TODAY)
        ]
        expected = list(local.read_rows(table, TODAY, None))
        assert sorted(rows) == sorted(expected)
        assert [(r.site_id, r.session_id) for r in rows] == [
            (r.site_id, r.session_id) for r in expected
        ]
        assert any(r.event_uid == MISSING_UID for r in rows)
    first = TODAY - timedelta(days=2)
    statement = daily_counts_statement(first, TODAY, SITES, Dialect.TRINO)
    counts = counts_from_rows(_trino_on_duckdb(old_lake, statement, first, TODAY))
    assert counts == local.daily_counts(first, TODAY, SITES)


# ------------------------------------------------------------------------ against moto


@pytest.fixture(scope="module")
def moto_url() -> Iterator[str]:
    with moto_athena_server(WORKGROUP, OUTPUT) as url:
        yield url


def last_execution() -> dict[str, Any]:
    return last_athena_execution(WORKGROUP)


def source() -> AthenaColdEvents:
    settings = Settings(
        athena_workgroup=WORKGROUP, athena_database=DATABASE, athena_output_location=OUTPUT
    )
    return AthenaColdEvents.from_settings(settings, poll_interval_s=0.01)


EVENT_TYPES = [
    ("event_uid", "varchar"),
    ("site_id", "varchar"),
    ("session_id", "varchar"),
    ("timestamp", "timestamp with time zone"),
    ("dt", "date"),
    ("event", "varchar"),
    ("pathname", "varchar"),
    ("properties", "varchar"),
]


def test_rows_are_read_page_by_page_and_mapped(moto_url: str) -> None:
    """Every row (more than a GetQueryResults page) is mapped in order: a null uid becomes
    MISSING_UID, the text timestamp a UTC moment, properties a mapping; the execution runs
    the golden statement with its values as parameters."""
    rows: list[list[str | None]] = [
        [None, SITE, f"s{n:04d}", f"2026-12-01 10:{n % 60:02d}:00.123 UTC", "2026-12-01",
         "pageview", "/", '{"plan":"pro"}' if n == 0 else None]
        for n in range(1500)
    ]  # fmt: skip
    rows[1][0] = "01JDQ7ZK3M0000000000000E01"
    queue_athena_results(moto_url, EVENT_TYPES, rows)
    read = list(source().read_rows(EVENTS, DAY, None))
    execution = last_execution()
    statement = GOLDEN_STATEMENTS["backfill_events_day"]
    assert execution["WorkGroup"] == WORKGROUP
    assert execution["Query"] == statement.sql
    assert execution["QueryExecutionContext"]["Database"] == DATABASE
    assert execution["ResultConfiguration"]["OutputLocation"].startswith(OUTPUT)
    assert execution["ExecutionParameters"] == [athena_literal(v) for v in statement.parameters]
    assert len(read) == 1500
    assert read[0] == EventRow(
        MISSING_UID,
        SITE,
        "s0000",
        datetime(2026, 12, 1, 10, 0, 0, 123_000, tzinfo=UTC),
        DAY,
        "pageview",
        "/",
        {"plan": "pro"},
    )
    assert read[1].event_uid == "01JDQ7ZK3M0000000000000E01"


def test_initial_rows_and_daily_counts_are_mapped(moto_url: str) -> None:
    """Initial rows carry their session columns (screen sizes as integers); the daily counts
    come back per site and day."""
    session_types = [(c, "varchar") for c in ("referer", "referer_domain", "utm_source",
                     "utm_medium", "utm_campaign", "utm_content", "utm_term", "device", "os",
                     "browser", "country", "region", "city")]  # fmt: skip
    columns = [
        *EVENT_TYPES,
        *session_types,
        ("screen_width", "integer"),
        ("screen_height", "integer"),
    ]
    row: list[str | None] = [None, SITE, "s1", "2026-12-01 23:59:59.000 UTC", "2026-12-01",
                             "pageview", "/", None, None, "t.co", *[None] * 5, "mobile", "iOS",
                             "Mobile Safari", "DE", "BE", "Berlin", "390", "844"]  # fmt: skip
    queue_athena_results(moto_url, columns, [row])
    (initial,) = source().read_rows(INITIAL_EVENTS, DAY, [SITE, OTHER])
    assert isinstance(initial, InitialEventRow)
    assert (initial.event_uid, initial.country, initial.city) == (MISSING_UID, "DE", "Berlin")
    assert (initial.screen_width, initial.screen_height) == (390, 844)
    assert last_execution()["ExecutionParameters"] == [
        "DATE '2026-12-01'",
        f"'{SITE}'",
        f"'{OTHER}'",
    ]

    count_columns = [
        ("site_id", "varchar"),
        ("dt", "date"),
        ("events", "bigint"),
        ("visitors", "bigint"),
    ]
    queue_athena_results(
        moto_url, count_columns, [[SITE, "2026-11-30", "120", "1"], [OTHER, "2026-12-01", "3", "2"]]
    )
    counts = source().daily_counts(DAY - timedelta(days=29), DAY, None)
    assert counts == {(SITE, date(2026, 11, 30)): DayCounts(120, 1), (OTHER, DAY): DayCounts(3, 2)}
    assert last_execution()["Query"] == GOLDEN_STATEMENTS["verify_daily_counts"].sql
