"""Acceptance 5: the Athena reader against moto (a real HTTP server; moto never runs SQL, so
results are queued through its API): the query starts in the configured workgroup, database
and output location with the values as execution parameters; results are read and mapped;
a failed execution and a timed-out one (cancelled) become clear errors. The Trino SQL itself
is pinned by golden files and parsed as Trino by sqlglot; the query depth's statements (time
zones, properties, entry/exit pages, contains, alternatives, a goal) are also transpiled to
DuckDB and run on a lake, where they answer like the local reader."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pytest
import sqlglot
from botocore.stub import Stubber
from tests.support.aws import (
    last_athena_execution,
    moto_athena_server,
    moto_post,
    queue_athena_results,
)
from tests.support.stats_data import GOAL, generate

from adapters.aws.athena import AthenaStatsReader, athena_literal
from adapters.config import Settings
from adapters.lake import LocalStatsReader, ParquetLakeWriter, lake_files, register_table
from adapters.stats_sql import Dialect, build_statement, result_from_rows, stored_days
from analytics_core.errors import QueryTimeoutError, StoreUnavailableError
from analytics_core.stats import (
    Counts,
    Dimension,
    Filter,
    Interval,
    Metric,
    Operator,
    Property,
    StatsQuery,
)

GOLDEN = Path(__file__).resolve().parent.parent / "golden" / "athena"
SITE = "01JDQ7ZK3M000000000000SA01"
OTHER = "01JDQ7ZK3M000000000000SB02"
WORKGROUP = "analytics-queries"
DATABASE = "analytics_lake"
OUTPUT = "s3://analytics-athena-results/athena-results/"
REGION = "eu-west-1"
COLUMNS = [
    ("kind", "integer"),
    ("bucket_day", "date"),
    ("bucket_hour", "integer"),
    ("group_value", "varchar"),
    ("events", "bigint"),
    ("pageviews", "bigint"),
    ("visitors", "bigint"),
    ("visits", "bigint"),
    ("bounces", "bigint"),
    ("duration_ms", "bigint"),
]

GOLDEN_QUERIES = {
    "totals": StatsQuery((SITE,), date(2026, 1, 1), date(2026, 1, 31)),
    "pathname_by_day": StatsQuery(
        (SITE,),
        date(2026, 1, 1),
        date(2026, 1, 31),
        group_by=Dimension.PATHNAME,
        interval=Interval.DAY,
        limit=10,
    ),
    "two_sites_hourly_filtered": StatsQuery(
        (SITE, OTHER),
        date(2026, 2, 1),
        date(2026, 2, 2),
        interval=Interval.HOUR,
        filters=(
            Filter(Dimension.COUNTRY, Operator.EQ, "DE"),
            Filter(Dimension.PATHNAME, Operator.NE, "/pricing"),
        ),
    ),
    "country_by_month": StatsQuery(
        (SITE,),
        date(2025, 3, 1),
        date(2026, 2, 28),
        group_by=Dimension.COUNTRY,
        interval=Interval.MONTH,
        limit=50,
    ),
    "utm_by_week_event_filter": StatsQuery(
        (SITE,),
        date(2025, 12, 29),
        date(2026, 1, 25),
        group_by=Dimension.UTM_CAMPAIGN,
        interval=Interval.WEEK,
        filters=(Filter(Dimension.EVENT, Operator.EQ, "signup"),),
    ),
    "property_filter_and_breakdown": StatsQuery(
        (SITE,),
        date(2026, 1, 1),
        date(2026, 1, 31),
        group_by=Property("plan"),
        interval=Interval.DAY,
        filters=(Filter(Property("checkout.step"), Operator.EQ, "2"),),
    ),
    "entry_page_breakdown": StatsQuery(
        (SITE,), date(2026, 1, 1), date(2026, 1, 31), group_by=Dimension.ENTRY_PAGE, limit=20
    ),
    "exit_page_breakdown_filtered": StatsQuery(
        (SITE,),
        date(2026, 1, 1),
        date(2026, 1, 31),
        group_by=Dimension.EXIT_PAGE,
        filters=(Filter(Dimension.ENTRY_PAGE, Operator.NE, "/"),),
    ),
    "contains_and_alternatives": StatsQuery(
        (SITE,),
        date(2026, 1, 1),
        date(2026, 1, 31),
        group_by=Dimension.PATHNAME,
        filters=(
            Filter(Dimension.PATHNAME, Operator.CONTAINS, ("Blog", "docs")),
            Filter(Dimension.BROWSER, Operator.NOT_CONTAINS, ("bot",)),
            Filter(Dimension.COUNTRY, Operator.EQ, ("DE", "AT", "CH")),
            Filter(Dimension.UTM_SOURCE, Operator.NE, ("spam", "test")),
        ),
    ),
    "goal_conversions_by_source": StatsQuery(
        (SITE,),
        date(2026, 1, 1),
        date(2026, 1, 31),
        metrics=(Metric.VISITORS, Metric.CONVERSIONS, Metric.CONVERSION_RATE),
        group_by=Dimension.UTM_SOURCE,
        goal="purchase",
    ),
    "new_york_hourly": StatsQuery(
        (SITE,),
        date(2026, 10, 31),
        date(2026, 11, 1),
        interval=Interval.HOUR,
        timezone="America/New_York",
    ),
}
NEW_GOLDEN = (
    "property_filter_and_breakdown",
    "entry_page_breakdown",
    "exit_page_breakdown_filtered",
    "contains_and_alternatives",
    "goal_conversions_by_source",
    "new_york_hourly",
)


@pytest.mark.parametrize("name", GOLDEN_QUERIES)
def test_trino_sql_is_pinned_and_parses(name: str) -> None:
    """The generated Trino SQL equals its golden file (UPDATE_GOLDEN=1 rewrites them), parses
    as Trino, prunes on dt, de-duplicates on event_uid, and carries every value as a `?`."""
    statement = build_statement(GOLDEN_QUERIES[name], Dialect.TRINO)
    path = GOLDEN / f"{name}.sql"
    if os.environ.get("UPDATE_GOLDEN") == "1":
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(statement.sql + "\n")
    assert statement.sql + "\n" == path.read_text()
    parsed = sqlglot.parse_one(statement.sql, read="trino")
    assert parsed.find(sqlglot.exp.Placeholder) is not None
    assert statement.sql.count("?") == len(statement.parameters)
    assert "PARTITION BY event_uid" in statement.sql
    assert statement.sql.count("dt BETWEEN ? AND ?") >= 2
    for value in statement.parameters:
        if isinstance(value, str):
            assert f"'{value}'" not in statement.sql  # values never spliced in as literals


def test_the_depth_sql_binds_keys_zones_and_goals() -> None:
    """The new statements carry property keys as bound JSON paths, lowered contains values,
    each alternative, the goal and the time zone as parameters, and read two stored days
    beyond the local ones in a zoned query."""
    params = {
        name: build_statement(GOLDEN_QUERIES[name], Dialect.TRINO).parameters for name in NEW_GOLDEN
    }
    assert '$["checkout.step"]' in params["property_filter_and_breakdown"]
    assert '$["plan"]' in params["property_filter_and_breakdown"]
    contains = params["contains_and_alternatives"]
    assert {"blog", "docs", "bot", "DE", "AT", "CH", "spam", "test"} <= set(contains)
    assert "purchase" in params["goal_conversions_by_source"]
    zoned = params["new_york_hourly"]
    assert "America/New_York" in zoned
    assert date(2026, 10, 28) in zoned  # the local lookback (10-30) less two days
    assert date(2026, 11, 4) in zoned  # the local lookahead (11-02) plus two days
    utc = build_statement(GOLDEN_QUERIES["totals"], Dialect.TRINO)
    assert "at_timezone" not in utc.sql
    assert "conversions" not in utc.sql


TRANSPILED = generate(
    seed=2026, sites=2, days=10, sessions=300, first_day=date(2026, 10, 27), site_tag="T"
)
TRANSPILED_QUERIES = {
    "new_york_hourly": StatsQuery(
        TRANSPILED.sites,
        date(2026, 10, 31),
        date(2026, 11, 2),
        interval=Interval.HOUR,
        timezone="America/New_York",
    ),
    "kolkata_exit_pages_by_day_with_goal": StatsQuery(
        TRANSPILED.sites,
        date(2026, 10, 29),
        date(2026, 11, 3),
        group_by=Dimension.EXIT_PAGE,
        interval=Interval.DAY,
        goal=GOAL,
        timezone="Asia/Kolkata",
    ),
    "property_contains_by_property": StatsQuery(
        TRANSPILED.sites,
        date(2026, 10, 29),
        date(2026, 11, 3),
        group_by=Property("seats"),
        filters=(Filter(Property("plan"), Operator.CONTAINS, ("pro", "EE")),),
    ),
    "booleans_and_alternatives": StatsQuery(
        TRANSPILED.sites,
        date(2026, 10, 29),
        date(2026, 11, 3),
        group_by=Property("trial"),
        filters=(
            Filter(Dimension.BROWSER, Operator.NOT_CONTAINS, ("chrome",)),
            Filter(Dimension.PATHNAME, Operator.NE, ("/", "/a")),
        ),
    ),
    "entry_pages_by_week": StatsQuery(
        TRANSPILED.sites,
        date(2026, 10, 29),
        date(2026, 11, 3),
        group_by=Dimension.ENTRY_PAGE,
        interval=Interval.WEEK,
        timezone="America/New_York",
    ),
}


@pytest.fixture(scope="module")
def transpiled_lake(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("transpiled-lake")
    writer = ParquetLakeWriter(root)
    writer.write_rows(TRANSPILED.events, TRANSPILED.initial_events)
    writer.write_rows(TRANSPILED.events[::5], TRANSPILED.initial_events[::5])  # redelivered
    return root


def _duckdb_parameter(value: object) -> object:
    """Trino's JSON path `$["key"]` as DuckDB writes it (`$."key"`); other values as they are."""
    if isinstance(value, str) and value.startswith('$["') and value.endswith('"]'):
        return '$."' + value[3:-2] + '"'
    return value


@pytest.mark.parametrize("name", TRANSPILED_QUERIES)
def test_the_trino_depth_statements_answer_like_the_lake(transpiled_lake: Path, name: str) -> None:
    """The Trino statement (zones, properties, entry/exit pages, contains, alternatives, a
    goal), transpiled to DuckDB by sqlglot and run on the lake's files, gives the local
    reader's answer: Athena cannot run here, so DuckDB stands in for Trino, with `at_timezone`
    as a macro over DuckDB's `timezone` and the JSON paths in DuckDB's syntax."""
    query = TRANSPILED_QUERIES[name]
    statement = build_statement(query, Dialect.TRINO)
    sql = sqlglot.transpile(statement.sql, read="trino", write="duckdb")[0]
    con = duckdb.connect(":memory:")
    try:
        con.execute("SET TimeZone = 'UTC'")
        con.execute("CREATE MACRO at_timezone(ts, zone) AS timezone(zone, ts)")
        for table, (first, last) in stored_days(query).items():
            register_table(con, table, lake_files(transpiled_lake, table, first, last))
        rows = con.execute(sql, [_duckdb_parameter(v) for v in statement.parameters]).fetchall()
    finally:
        con.close()
    expected = LocalStatsReader(transpiled_lake).read(query)
    assert expected.totals.events > 0
    assert result_from_rows(rows, query.zone) == expected


def test_parameters_are_athena_literals() -> None:
    """Execution parameters are SQL literals, quotes doubled."""
    assert athena_literal("it's") == "'it''s'"
    assert athena_literal(date(2026, 1, 2)) == "DATE '2026-01-02'"
    assert athena_literal(100) == "100"
    with pytest.raises(TypeError):
        athena_literal(True)


@pytest.fixture(scope="module")
def moto_url() -> Iterator[str]:
    with moto_athena_server(WORKGROUP, OUTPUT) as url:
        yield url


def queue_results(moto_url: str, rows: list[list[str | None]]) -> None:
    """Queue one canned result of the stats statement's COLUMNS."""
    queue_athena_results(moto_url, COLUMNS, rows)


def reader(**kwargs: Any) -> AthenaStatsReader:
    settings = Settings(
        athena_workgroup=WORKGROUP, athena_database=DATABASE, athena_output_location=OUTPUT
    )
    return AthenaStatsReader.from_settings(settings, poll_interval_s=0.01, **kwargs)


def last_execution() -> dict[str, Any]:
    return last_athena_execution(WORKGROUP)


def test_query_runs_in_the_workgroup_and_results_are_mapped(moto_url: str) -> None:
    """The execution uses the configured workgroup, database and output location, the SQL of
    the statement and its values as execution parameters; every result row (more than one
    GetQueryResults page's worth) is mapped: totals, timeseries, ordered breakdown."""
    query = StatsQuery(
        (SITE,),
        date(2025, 1, 1),
        date(2025, 12, 31),
        group_by=Dimension.PATHNAME,
        interval=Interval.DAY,
        limit=1000,
    )
    rows: list[list[str | None]] = [
        ["0", None, None, None, "5000", "4000", "900", "800", "300", "8000000"]
    ]
    day = date(2025, 1, 1)
    rows += [
        ["1", (day + timedelta(days=n)).isoformat(), None, None, "10", "8", "3", "2", "1", "20000"]
        for n in range(365)
    ]
    rows += [
        ["2", None, None, f"/page/{n:04d}", "5", "4", str(1000 - n), "1", "0", "1000"]
        for n in range(1000)
    ]
    rows.append(["2", None, None, None, "1", "1", "0", "0", "0", "0"])  # a null value maps to None
    queue_results(moto_url, rows)

    result = reader().read(query)

    execution = last_execution()
    statement = build_statement(query, Dialect.TRINO)
    assert execution["WorkGroup"] == WORKGROUP
    assert execution["Query"] == statement.sql
    assert execution["QueryExecutionContext"]["Database"] == DATABASE
    assert execution["ResultConfiguration"]["OutputLocation"].startswith(OUTPUT)
    assert execution["ExecutionParameters"] == [athena_literal(v) for v in statement.parameters]
    assert execution["ExecutionParameters"][0] == f"'{SITE}'"
    assert result.totals == Counts(
        events=5000, pageviews=4000, visitors=900, visits=800, bounces=300, duration_ms=8_000_000
    )
    assert len(result.timeseries) == 365
    assert result.timeseries[0] == (datetime(2025, 1, 1, tzinfo=UTC), Counts(10, 8, 3, 2, 1, 20000))
    assert len(result.breakdown) == 1001
    assert result.breakdown[0] == ("/page/0000", Counts(5, 4, 1000, 1, 0, 1000))
    assert result.breakdown[-1][0] is None


def test_hourly_buckets_are_mapped(moto_url: str) -> None:
    """A bucket's hour column becomes the bucket's UTC hour."""
    queue_results(
        moto_url,
        [
            ["0", None, None, None, "1", "1", "1", "1", "1", "0"],
            ["1", "2026-02-01", "13", None, "1", "1", "1", "1", "1", "0"],
        ],
    )
    result = reader().read(
        StatsQuery((SITE,), date(2026, 2, 1), date(2026, 2, 1), interval=Interval.HOUR)
    )
    assert result.timeseries == ((datetime(2026, 2, 1, 13, tzinfo=UTC), Counts(1, 1, 1, 1, 1, 0)),)


def test_new_york_hours_and_conversions_are_mapped(moto_url: str) -> None:
    """In a zoned query the hour column is the local hour's start in epoch milliseconds (the
    two 1 am of 2026-11-01 in New York stay two buckets) and a day bucket starts at local
    midnight; with a goal the eleventh column is the conversions."""
    first_1am = datetime(2026, 11, 1, 5, tzinfo=UTC)  # 1 am EDT
    second_1am = datetime(2026, 11, 1, 6, tzinfo=UTC)  # 1 am EST
    ms = [str(int(moment.timestamp() * 1000)) for moment in (first_1am, second_1am)]
    queue_athena_results(
        moto_url,
        [*COLUMNS, ("conversions", "bigint")],
        [
            ["0", None, None, None, "2", "2", "2", "2", "2", "0", "1"],
            ["1", "2026-11-01", ms[1], None, "1", "1", "1", "1", "1", "0", "0"],
            ["1", "2026-11-01", ms[0], None, "1", "1", "1", "1", "1", "0", "1"],
        ],
    )
    query = StatsQuery(
        (SITE,),
        date(2026, 11, 1),
        date(2026, 11, 1),
        interval=Interval.HOUR,
        goal="purchase",
        timezone="America/New_York",
    )
    result = reader().read(query)
    assert result.totals == Counts(2, 2, 2, 2, 2, 0, conversions=1)
    assert [start.astimezone(UTC) for start, _ in result.timeseries] == [first_1am, second_1am]
    assert [counts.conversions for _, counts in result.timeseries] == [1, 0]
    assert [start.utcoffset() for start, _ in result.timeseries] == [
        timedelta(hours=-4),
        timedelta(hours=-5),
    ]


@pytest.fixture
def stuck_executions(moto_url: str) -> Iterator[None]:
    """Executions stay QUEUED (moto's state manager, manual progression)."""
    moto_post(
        f"{moto_url}/moto-api/state-manager/set-transition",
        {
            "model_name": "athena::execution",
            "transition": {"progression": "manual", "times": 10_000},
        },
    )
    yield
    moto_post(
        f"{moto_url}/moto-api/state-manager/unset-transition", {"model_name": "athena::execution"}
    )


def test_a_query_past_its_deadline_is_cancelled_and_a_timeout(stuck_executions: None) -> None:
    """While the query stays queued the deadline passes: the execution is stopped and the
    reader raises QueryTimeoutError (the API's 504)."""
    ticks = iter(range(0, 1000, 2))
    slow = reader(deadline_s=5.0, monotonic=lambda: float(next(ticks)))
    with pytest.raises(QueryTimeoutError, match="deadline"):
        slow.read(StatsQuery((SITE,), date(2026, 1, 1), date(2026, 1, 2)))
    assert last_execution()["Status"]["State"] == "CANCELLED"


def test_a_failed_execution_is_a_clear_error(moto_url: str) -> None:
    """An execution that ends FAILED (moto never fails one, so botocore's Stubber plays
    Athena here) raises StoreUnavailableError carrying Athena's reason."""
    athena_reader = reader()
    client = athena_reader._connection.client
    statement = build_statement(
        StatsQuery((SITE,), date(2026, 1, 1), date(2026, 1, 2)), Dialect.TRINO
    )
    with Stubber(client) as stub:
        stub.add_response(
            "start_query_execution",
            {"QueryExecutionId": "q-failed"},
            {
                "QueryString": statement.sql,
                "WorkGroup": WORKGROUP,
                "QueryExecutionContext": {"Database": DATABASE, "Catalog": "awsdatacatalog"},
                "ResultConfiguration": {"OutputLocation": OUTPUT},
                "ExecutionParameters": [athena_literal(v) for v in statement.parameters],
            },
        )
        stub.add_response(
            "get_query_execution",
            {
                "QueryExecution": {
                    "QueryExecutionId": "q-failed",
                    "Query": statement.sql,
                    "StatementType": "DML",
                    "Status": {
                        "State": "FAILED",
                        "StateChangeReason": "COLUMN_NOT_FOUND: line 3:5: Column 'dt' cannot be resolved",
                    },
                    "WorkGroup": WORKGROUP,
                }
            },
            {"QueryExecutionId": "q-failed"},
        )
        with pytest.raises(StoreUnavailableError, match=r"q-failed.*COLUMN_NOT_FOUND"):
            athena_reader.read(StatsQuery((SITE,), date(2026, 1, 1), date(2026, 1, 2)))


def test_results_spanning_several_pages_are_all_read(moto_url: str) -> None:
    """GetQueryResults pages (NextToken) are followed to the end (moto answers in one page,
    so the Stubber plays two pages here)."""
    athena_reader = reader()
    client = athena_reader._connection.client
    query = StatsQuery((SITE,), date(2026, 1, 1), date(2026, 1, 2), group_by=Dimension.CITY)
    info = [
        {
            "CatalogName": "hive",
            "SchemaName": "",
            "TableName": "",
            "Name": n,
            "Label": n,
            "Type": t,
            "Precision": 0,
            "Scale": 0,
            "Nullable": "UNKNOWN",
            "CaseSensitive": False,
        }
        for n, t in COLUMNS
    ]

    def page(values: list[list[str | None]]) -> list[dict[str, Any]]:
        return [{"Data": [{} if v is None else {"VarCharValue": v} for v in row]} for row in values]

    header = [[name for name, _ in COLUMNS]]
    first = [
        ["0", None, None, None, "3", "3", "3", "3", "0", "0"],
        ["2", None, None, "Berlin", "2", "2", "2", "2", "0", "0"],
    ]
    second = [["2", None, None, "Köln", "1", "1", "1", "1", "0", "0"]]
    execution = {
        "QueryExecution": {
            "QueryExecutionId": "q-pages",
            "Query": "q",
            "StatementType": "DML",
            "Status": {"State": "SUCCEEDED"},
            "WorkGroup": WORKGROUP,
            "ResultConfiguration": {"OutputLocation": OUTPUT + "q-pages.csv"},
        }
    }
    with Stubber(client) as stub:
        stub.add_response("start_query_execution", {"QueryExecutionId": "q-pages"})
        stub.add_response("get_query_execution", execution)
        stub.add_response(
            "get_query_results",
            {
                "ResultSet": {
                    "Rows": page(header + first),
                    "ResultSetMetadata": {"ColumnInfo": info},
                },
                "NextToken": "page-2",
                "UpdateCount": 0,
            },
        )
        stub.add_response(
            "get_query_results",
            {
                "ResultSet": {"Rows": page(second), "ResultSetMetadata": {"ColumnInfo": info}},
                "UpdateCount": 0,
            },
        )
        result = athena_reader.read(query)
    assert [value for value, _ in result.breakdown] == ["Berlin", "Köln"]
    assert result.totals.visitors == 3


def test_missing_settings_are_named() -> None:
    """Without ATHENA_* settings the reader cannot be built, and says which is missing."""
    from analytics_core.errors import ConfigurationError

    with pytest.raises(ConfigurationError, match="ATHENA_WORKGROUP"):
        AthenaStatsReader.from_settings(Settings())
    with pytest.raises(ConfigurationError, match="ATHENA_OUTPUT_LOCATION"):
        AthenaStatsReader.from_settings(
            Settings(athena_workgroup=WORKGROUP, athena_database=DATABASE)
        )
