"""Migrations on a real PostgreSQL: the resulting schema, idempotence, concurrency, tamper."""

from __future__ import annotations

import shutil
import threading
from datetime import date
from pathlib import Path

import pytest
from tests.support.db import fetch_all

from adapters.postgres.migrations import PostgresMigrator, default_migrations_dir, discover
from adapters.postgres.pool import open_pool, transaction
from adapters.postgres.read_model import fold_pending, pending_rows
from analytics_core.errors import MigrationError

EVENT_COLUMNS = {
    "event_id": ("bigint", "NO", "nextval"),
    "site_id": ("text", "NO", None),
    "session_id": ("text", "NO", None),
    "timestamp": ("timestamp with time zone", "NO", None),
    "dt": ("date", "NO", None),
    "event": ("text", "NO", None),
    "pathname": ("text", "NO", None),
    "properties": ("jsonb", "YES", None),
    "event_uid": ("text", "NO", None),
}
INITIAL_ONLY = {
    "referer": ("text", "YES", None),
    "referer_domain": ("text", "YES", None),
    **{
        f"utm_{k}": ("character varying(255)", "YES", None)
        for k in ("source", "medium", "campaign", "content", "term")
    },
    **dict.fromkeys(
        ("device", "os", "browser", "country", "region", "city"),
        ("character varying(100)", "YES", None),
    ),
    "screen_width": ("smallint", "YES", None),
    "screen_height": ("smallint", "YES", None),
}
EXPECTED_COLUMNS = {
    "sites": {
        "site_id": ("text", "NO", None),
        "owner_sub": ("text", "NO", None),
        "name": ("text", "NO", None),
        "domains": ("text[]", "NO", None),
        "plan": ("text", "NO", "'free_tier'::text"),
        "request_allowance": ("bigint", "NO", "10000"),
        "compliance_level": ("smallint", "NO", "1"),
        "created_at": ("timestamp with time zone", "NO", "CURRENT_TIMESTAMP"),
        "updated_at": ("timestamp with time zone", "NO", "CURRENT_TIMESTAMP"),
        "allowance_period_start": ("date", "NO", "(date_trunc('month'"),  # 0010
        "timezone": ("text", "NO", "'UTC'::text"),  # 0012
    },
    "plans": {  # 0010
        "plan": ("text", "NO", None),
        "monthly_allowance": ("bigint", "NO", None),
    },
    "accounts": {
        "cognito_sub": ("text", "NO", None),
        "email_notifications": ("text", "NO", "'daily'::text"),
        "created_at": ("timestamp with time zone", "NO", "CURRENT_TIMESTAMP"),
        "updated_at": ("timestamp with time zone", "NO", "CURRENT_TIMESTAMP"),
    },
    "events": EVENT_COLUMNS,
    "initial_events": {**EVENT_COLUMNS, **INITIAL_ONLY},
    "daily_salts": {
        "day": ("date", "NO", None),
        "salt": ("bytea", "NO", None),
        "created_at": ("timestamp with time zone", "NO", "CURRENT_TIMESTAMP"),
    },
    "ingest_outcomes": {
        "site_id": ("text", "NO", None),
        "dt": ("date", "NO", None),
        "outcome": ("text", "NO", None),
        "count": ("bigint", "NO", "0"),
    },
    "stats_pending_ranges": {
        "site_id": ("text", "NO", None),
        "is_initial": ("boolean", "NO", None),
        "after_id": ("bigint", "NO", None),
        "last_id": ("bigint", "NO", None),
        "first_dt": ("date", "NO", None),
        "last_dt": ("date", "NO", None),
        "row_count": ("bigint", "NO", None),
    },
}


@pytest.fixture
def migrated_url(empty_database_url: str) -> str:
    pool = open_pool(empty_database_url)
    try:
        report = PostgresMigrator(pool).migrate()
    finally:
        pool.close()
    assert report.applied == tuple(m.version for m in discover(default_migrations_dir()))
    return empty_database_url


def columns_of(url: str, table: str) -> dict[str, tuple[str, str, str | None]]:
    rows = fetch_all(
        url,
        """
        SELECT a.attname, format_type(a.atttypid, a.atttypmod),
               CASE WHEN a.attnotnull THEN 'NO' ELSE 'YES' END,
               pg_get_expr(d.adbin, d.adrelid)
        FROM pg_attribute a
        LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
        WHERE a.attrelid = %s::regclass AND a.attnum > 0 AND NOT a.attisdropped
        """,
        (table,),
    )
    return {name: (type_, nullable, default) for name, type_, nullable, default in rows}


def test_schema_has_the_briefs_tables_columns_types_and_defaults(migrated_url: str) -> None:
    """Each table has exactly the planned columns, with their types, nullability and defaults."""
    for table, expected in EXPECTED_COLUMNS.items():
        actual = columns_of(migrated_url, table)
        assert set(actual) == set(expected), table
        for column, (type_, nullable, default) in expected.items():
            got_type, got_nullable, got_default = actual[column]
            assert (got_type, got_nullable) == (type_, nullable), (table, column)
            if default is None:
                assert got_default is None, (table, column)
            else:
                assert got_default is not None, (table, column)
                assert got_default.startswith(default), (table, column, got_default)


def test_check_constraints(migrated_url: str) -> None:
    """compliance_level is limited to 0, 1, 2; the additions' checks are present."""
    rows = fetch_all(
        migrated_url,
        """
        SELECT conrelid::regclass::text, pg_get_constraintdef(oid) FROM pg_constraint
        WHERE contype = 'c' AND connamespace = 'public'::regnamespace
          AND conrelid::regclass::text IN ('sites', 'accounts', 'ingest_outcomes')
        """,
    )
    checks = {(table, definition) for table, definition in rows}
    assert ("sites", "CHECK ((compliance_level = ANY (ARRAY[0, 1, 2])))") in checks
    assert ("sites", "CHECK ((request_allowance >= 0))") in checks
    definitions = " ".join(d for t, d in checks if t == "accounts")
    assert all(v in definitions for v in ("daily", "weekly", "monthly", "never"))
    outcomes = " ".join(d for t, d in checks if t == "ingest_outcomes")
    for outcome in (
        "accepted",
        "duplicate",
        "malformed",
        "unknown_site",
        "domain_mismatch",
        "bot",
        "over_allowance",
    ):
        assert outcome in outcomes


def index_columns(url: str, table: str) -> dict[tuple[str, ...], bool]:
    rows = fetch_all(
        url,
        """
        SELECT array_agg(a.attname ORDER BY k.ordinality), i.indisunique
        FROM pg_index i
        CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, ordinality)
        JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
        WHERE i.indrelid = %s::regclass
        GROUP BY i.indexrelid, i.indisunique
        """,
        (table,),
    )
    return {tuple(cols): unique for cols, unique in rows}


def test_indexes(migrated_url: str) -> None:
    """The plan's indexes, plus (site_id, timestamp), (session_id, timestamp), unique uid."""
    assert index_columns(migrated_url, "sites") == {
        ("site_id",): True,
        ("owner_sub",): False,
        ("plan",): False,
    }
    assert index_columns(migrated_url, "accounts") == {("cognito_sub",): True}
    for table in ("events", "initial_events"):
        assert index_columns(migrated_url, table) == {
            ("event_id", "dt"): True,
            ("event_uid", "dt"): True,
            ("site_id",): False,
            ("session_id",): False,
            ("timestamp",): False,
            ("dt",): False,
            ("site_id", "timestamp"): False,
            ("session_id", "timestamp"): False,
        }


def test_pending_ranges_are_checked_and_the_id_sequences_cache_one_value(
    migrated_url: str,
) -> None:
    """stats_pending_ranges refuses an empty or reversed range, no rows and reversed days, and
    is indexed by site; the event id sequences hand out one value at a time (CACHE 1), which
    the ranges rely on."""
    import psycopg

    assert index_columns(migrated_url, "stats_pending_ranges") == {("site_id",): False}
    caches = fetch_all(
        migrated_url,
        "SELECT seqcache FROM pg_sequence WHERE seqrelid IN ("
        "pg_get_serial_sequence('events', 'event_id')::regclass, "
        "pg_get_serial_sequence('initial_events', 'event_id')::regclass)",
    )
    assert caches == [(1,), (1,)]
    with psycopg.connect(migrated_url) as conn:
        insert = (
            "INSERT INTO stats_pending_ranges (site_id, is_initial, after_id, last_id, "
            "first_dt, last_dt, row_count) VALUES ('s', false, %s, %s, %s, %s, %s)"
        )
        day, next_day = date(2026, 10, 1), date(2026, 10, 2)
        conn.execute(insert, (1, 3, day, next_day, 2))
        for values in (
            (3, 3, day, day, 1),
            (3, 2, day, day, 1),
            (1, 3, day, day, 0),
            (1, 3, next_day, day, 2),
        ):
            with pytest.raises(psycopg.errors.CheckViolation), conn.transaction():
                conn.execute(insert, values)


def test_keys_pending_before_0007_are_folded_after_it(
    empty_database_url: str, tmp_path: Path
) -> None:
    """A database with rows pending as keys (written by the ingest code of 0006) keeps them
    through 0007, and the next fold takes them into the read model."""
    import psycopg

    migrations = tmp_path / "migrations"
    migrations.mkdir()
    for path in sorted(default_migrations_dir().glob("*.sql")):
        if path.name < "0007":
            shutil.copy(path, migrations / path.name)
    pool = open_pool(empty_database_url)
    try:
        PostgresMigrator(pool, migrations).migrate()
        with psycopg.connect(empty_database_url) as conn:
            conn.execute(
                "INSERT INTO sites (site_id, owner_sub, name, domains) "
                "VALUES ('s', 'o', 'n', ARRAY['a.example'])"
            )
            conn.execute(
                "INSERT INTO events (event_uid, site_id, session_id, timestamp, dt, event, "
                "pathname) VALUES ('u1', 's', 'x', '2026-10-01 12:00Z', '2026-10-01', "
                "'pageview', '/')"
            )
            conn.execute(
                "INSERT INTO stats_pending (site_id, dt, event_uid, is_initial) "
                "VALUES ('s', '2026-10-01', 'u1', false)"
            )
        report = PostgresMigrator(pool).migrate()
        assert [v for v in report.applied if v.startswith("0007")] == ["0007_stats_pending_ranges"]
        with transaction(pool) as conn:
            assert pending_rows(conn) == 1
            assert fold_pending(conn) == 1
            assert pending_rows(conn) == 0
    finally:
        pool.close()
    assert fetch_all(
        empty_database_url, "SELECT events FROM stats_daily WHERE site_id = 's' AND dim = ''"
    ) == [(1,)]


def test_event_tables_are_range_partitioned_by_dt_with_a_default(migrated_url: str) -> None:
    """events and initial_events are partitioned by range on dt and have a default partition."""
    rows = fetch_all(
        migrated_url,
        """
        SELECT c.relname, p.partstrat, a.attname
        FROM pg_partitioned_table p
        JOIN pg_class c ON c.oid = p.partrelid
        JOIN pg_attribute a ON a.attrelid = p.partrelid AND a.attnum = p.partattrs[0]
        """,
    )
    assert {("events", "r", "dt"), ("initial_events", "r", "dt")} <= set(rows)
    defaults = fetch_all(
        migrated_url,
        "SELECT c.relname FROM pg_partitioned_table p JOIN pg_class c ON c.oid = p.partdefid",
    )
    assert {("events_default",), ("initial_events_default",)} <= set(defaults)


def test_compliance_level_check_rejects_other_values(migrated_url: str) -> None:
    """The database itself refuses compliance level 3 and a negative allowance."""
    import psycopg

    with psycopg.connect(migrated_url) as conn:
        for values in ("3, 10", "1, -1"):
            with pytest.raises(psycopg.errors.CheckViolation), conn.transaction():
                conn.execute(
                    "INSERT INTO sites (site_id, owner_sub, name, domains, compliance_level, request_allowance) "
                    f"VALUES ('s', 'o', 'n', ARRAY['a.example'], {values})"
                )


def test_second_run_applies_nothing(migrated_url: str) -> None:
    """Running the migrations again applies nothing and reports them as already applied."""
    pool = open_pool(migrated_url)
    try:
        report = PostgresMigrator(pool).migrate()
    finally:
        pool.close()
    assert report.applied == ()
    assert len(report.already_applied) == len(discover(default_migrations_dir()))
    history = fetch_all(migrated_url, "SELECT version, checksum, applied_at FROM schema_migrations")
    assert len(history) == len(report.already_applied)


def test_concurrent_runs_apply_each_file_once(empty_database_url: str, tmp_path: Path) -> None:
    """Four runs started together apply every file exactly once between them."""
    migrations = tmp_path / "migrations"
    shutil.copytree(default_migrations_dir(), migrations)
    # A slow extra migration widens the window in which the runs overlap.
    (migrations / "9000_slow.sql").write_text(
        "SELECT pg_sleep(0.3); CREATE TABLE slow_marker (id int);"
    )
    reports = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(4)

    def run() -> None:
        pool = open_pool(empty_database_url)
        try:
            barrier.wait()
            reports.append(PostgresMigrator(pool, migrations).migrate())
        except BaseException as exc:  # noqa: BLE001  # collected and asserted below
            errors.append(exc)
        finally:
            pool.close()

    threads = [threading.Thread(target=run) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors
    applied = [version for report in reports for version in report.applied]
    assert sorted(applied) == sorted(m.version for m in discover(migrations))
    assert sum(1 for report in reports if report.applied) == 1


def test_edited_applied_file_is_refused(empty_database_url: str, tmp_path: Path) -> None:
    """Changing an applied migration stops the run with a message naming the file, and
    applies nothing else."""
    migrations = tmp_path / "migrations"
    shutil.copytree(default_migrations_dir(), migrations)
    pool = open_pool(empty_database_url)
    try:
        PostgresMigrator(pool, migrations).migrate()
        first = sorted(migrations.glob("*.sql"))[0]
        first.write_text(first.read_text() + "\n-- an innocent-looking edit\n")
        (migrations / "9001_new.sql").write_text("CREATE TABLE should_not_exist (id int);")
        with pytest.raises(MigrationError, match=first.stem) as info:
            PostgresMigrator(pool, migrations).migrate()
        assert "changed after it was applied" in info.value.message
    finally:
        pool.close()
    assert fetch_all(empty_database_url, "SELECT to_regclass('should_not_exist')") == [(None,)]


def test_failing_migration_is_rolled_back_and_reported(
    empty_database_url: str, tmp_path: Path
) -> None:
    """A file with an error applies nothing of itself, is not recorded, and is named."""
    migrations = tmp_path / "migrations"
    migrations.mkdir()
    (migrations / "0001_ok.sql").write_text("CREATE TABLE ok_table (id int);")
    (migrations / "0002_broken.sql").write_text(
        "CREATE TABLE half (id int); SELECT no_such_function();"
    )
    pool = open_pool(empty_database_url)
    try:
        with pytest.raises(MigrationError, match="0002_broken"):
            PostgresMigrator(pool, migrations).migrate()
    finally:
        pool.close()
    assert fetch_all(empty_database_url, "SELECT version FROM schema_migrations") == [("0001_ok",)]
    assert fetch_all(empty_database_url, "SELECT to_regclass('half')") == [(None,)]


@pytest.mark.parametrize("name", ["1_short.sql", "0001-dash.sql", "0001_Upper.sql"])
def test_misnamed_files_are_refused(tmp_path: Path, name: str) -> None:
    """Migration files must be named NNNN_lower_case.sql."""
    (tmp_path / name).write_text("SELECT 1;")
    with pytest.raises(MigrationError, match="must look like"):
        discover(tmp_path)


def test_duplicate_numbers_are_refused(tmp_path: Path) -> None:
    """Two files with the same number are refused."""
    (tmp_path / "0001_a.sql").write_text("SELECT 1;")
    (tmp_path / "0001_b.sql").write_text("SELECT 1;")
    with pytest.raises(MigrationError, match="two migrations numbered 0001"):
        discover(tmp_path)
