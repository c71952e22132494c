"""`StatsReader` on the cold store: Athena (Trino) over the Glue/Iceberg tables.

The statement is the raw-row statement of `adapters.stats_sql` in the Trino dialect: it reads
`events` and `initial_events` of the configured Glue database, prunes on `dt` (the tables'
partition column), keeps one copy per `event_uid` (Firehose delivers at least once), and
passes every user value as an execution parameter (Athena's prepared-statement parameters,
given as SQL literals that this module quotes), never in the SQL text: property keys too, as
JSON paths (`$["key"]`) over the `properties` column (a string holding the JSON text), and the
time zone, which `at_timezone` applies to `timestamp` (an Iceberg timestamptz) since Athena
sessions have no time zone setting of their own. Results map to bucket starts in the query's
zone (`result_from_rows`).

The query runs in the configured workgroup with results in the configured output location.
pyathena polls its state; past the deadline (25 s by default, under API Gateway's 29 s) the
query is stopped and `QueryTimeoutError` raised (504). A query that fails or is cancelled
becomes `StoreUnavailableError` (503) carrying Athena's reason for the logs. Results are read
page by page through GetQueryResults.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Collection, Iterator
from datetime import date
from typing import Any, cast

import pyathena
from pyathena.connection import Connection
from pyathena.cursor import Cursor
from pyathena.error import Error as AthenaError
from pyathena.model import AthenaQueryExecution

from adapters.config import Env, Settings
from adapters.migration_sql import (
    counts_from_rows,
    daily_counts_statement,
    day_rows_statement,
    row_from_values,
)
from adapters.stats_sql import Dialect, Statement, build_statement, result_from_rows
from analytics_core.errors import QueryTimeoutError, StoreUnavailableError
from analytics_core.migration_counts import DayCounts
from analytics_core.rows import Row
from analytics_core.stats import StatsQuery, StatsResult

logger = logging.getLogger(__name__)

DEADLINE_S = 25.0
POLL_INTERVAL_S = 0.5


def athena_literal(value: object) -> str:
    """A parameter value as the SQL literal Athena's ExecutionParameters expect."""
    if isinstance(value, bool):
        raise TypeError("booleans are not query parameters here")
    if isinstance(value, int):
        return str(value)
    if isinstance(value, date):
        return f"DATE '{value.isoformat()}'"
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    raise TypeError(f"unsupported parameter type {type(value).__name__}")


class _DeadlinePassedError(Exception):
    """Raised from pyathena's poll callback to stop waiting."""


def _connect(
    settings: Settings, *, poll_interval_s: float, kill_on_interrupt: bool
) -> tuple[Connection[Any], str, str]:
    """pyathena's connection for ATHENA_WORKGROUP, ATHENA_DATABASE and ATHENA_OUTPUT_LOCATION
    (each missing one stops the cold start, named), with the work group and the output
    location each query names. No network I/O happens here."""
    work_group = settings.require(Env.ATHENA_WORKGROUP)
    database = settings.require(Env.ATHENA_DATABASE)
    output_location = settings.require(Env.ATHENA_OUTPUT_LOCATION)
    connection = pyathena.connect(
        work_group=work_group,
        schema_name=database,
        s3_staging_dir=output_location,
        poll_interval=poll_interval_s,
        kill_on_interrupt=kill_on_interrupt,
    )
    return connection, work_group, output_location


def _deadline_check(monotonic: Callable[[], float], deadline: float) -> Callable[[Any], None]:
    """pyathena's poll callback: raises `_DeadlinePassedError` once `deadline` has passed and
    the query is still running."""

    def check(execution: Any) -> None:
        if execution.state in AthenaQueryExecution.TERMINAL_STATES:
            return
        if monotonic() > deadline:
            raise _DeadlinePassedError

    return check


class AthenaStatsReader:
    """Stats from Athena, within a deadline."""

    source = "athena"

    def __init__(
        self,
        connection: Connection[Any],
        *,
        work_group: str,
        output_location: str,
        deadline_s: float = DEADLINE_S,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._connection = connection
        self._work_group = work_group
        self._output_location = output_location
        self._deadline_s = deadline_s
        self._monotonic = monotonic

    @classmethod
    def from_settings(
        cls, settings: Settings, *, poll_interval_s: float = POLL_INTERVAL_S, **kwargs: Any
    ) -> AthenaStatsReader:
        """A reader for ATHENA_WORKGROUP, ATHENA_DATABASE and ATHENA_OUTPUT_LOCATION (each
        missing one stops the cold start, named). No network I/O happens here."""
        connection, work_group, output_location = _connect(
            settings, poll_interval_s=poll_interval_s, kill_on_interrupt=False
        )
        return cls(connection, work_group=work_group, output_location=output_location, **kwargs)

    def read(self, query: StatsQuery) -> StatsResult:
        """Run the statement for `query` and map its rows."""
        statement = build_statement(query, Dialect.TRINO)
        parameters = [athena_literal(value) for value in statement.parameters]
        check_deadline = _deadline_check(self._monotonic, self._monotonic() + self._deadline_s)

        cursor: Cursor = self._connection.cursor(on_poll=check_deadline)
        try:
            cursor.execute(
                statement.sql,
                parameters,
                paramstyle="qmark",
                work_group=self._work_group,
                s3_staging_dir=self._output_location,
            )
            rows = cast("list[tuple[Any, ...]]", cursor.fetchall())  # a tuple cursor
        except _DeadlinePassedError:  # raised by check_deadline while execute polls
            self._cancel(cursor)
            raise QueryTimeoutError(
                f"Athena query {cursor.query_id} passed its {self._deadline_s:g} s deadline "
                "and was cancelled"
            ) from None
        except AthenaError as exc:
            raise StoreUnavailableError(
                f"Athena query {cursor.query_id or '(not started)'} did not succeed: {exc}"
            ) from exc
        finally:
            cursor.close()
        return result_from_rows(rows, query.zone)

    @staticmethod
    def _cancel(cursor: Cursor) -> None:
        try:
            cursor.cancel()
        except AthenaError:  # best effort: the timeout is what the caller must hear about
            logger.warning("could not cancel Athena query %s", cursor.query_id, exc_info=True)


class AthenaColdEvents:
    """The `ColdEventSource` in AWS: the Iceberg tables' rows through Athena, for
    `backfill-hot` and `verify-migration` (operator commands: no deadline but Athena's own).

    Rows are read page by page as the caller consumes them (GetQueryResults, 1,000 rows a
    call); a failed or cancelled query becomes `StoreUnavailableError`."""

    def __init__(
        self, connection: Connection[Any], *, work_group: str, output_location: str
    ) -> None:
        self._connection = connection
        self._work_group = work_group
        self._output_location = output_location

    @classmethod
    def from_settings(
        cls, settings: Settings, *, poll_interval_s: float = POLL_INTERVAL_S
    ) -> AthenaColdEvents:
        """A source for ATHENA_WORKGROUP, ATHENA_DATABASE and ATHENA_OUTPUT_LOCATION."""
        connection, work_group, output_location = _connect(
            settings, poll_interval_s=poll_interval_s, kill_on_interrupt=True
        )
        return cls(connection, work_group=work_group, output_location=output_location)

    def _rows(self, statement: Statement) -> Iterator[tuple[Any, ...]]:
        cursor: Cursor = self._connection.cursor()
        try:
            cursor.execute(
                statement.sql,
                [athena_literal(value) for value in statement.parameters],
                paramstyle="qmark",
                work_group=self._work_group,
                s3_staging_dir=self._output_location,
            )
            while page := cursor.fetchmany(1000):
                yield from cast("list[tuple[Any, ...]]", page)
        except AthenaError as exc:
            raise StoreUnavailableError(
                f"Athena query {cursor.query_id or '(not started)'} did not succeed: {exc}"
            ) from exc
        finally:
            cursor.close()

    def read_rows(self, table: str, day: date, site_ids: Collection[str] | None) -> Iterator[Row]:
        """One copy of each event of `table` dated `day`, by site and session."""
        statement = day_rows_statement(table, day, site_ids, Dialect.TRINO)
        for values in self._rows(statement):
            yield row_from_values(table, values)

    def daily_counts(
        self, first: date, last: date, site_ids: Collection[str] | None
    ) -> dict[tuple[str, date], DayCounts]:
        """Events and distinct sessions per site and day."""
        statement = daily_counts_statement(first, last, site_ids, Dialect.TRINO)
        return counts_from_rows(self._rows(statement))


ERASE_DEADLINE_S = 20.0
_ERASABLE_ID = re.compile(r"[0-9A-Za-z_-]{1,64}")
ICEBERG_TABLES = ("events", "initial_events")


def site_deletion_sql(table: str, site_id: str) -> str:
    """The statement erasing a site's rows from one Iceberg table. Athena takes execution
    parameters only in SELECT, INSERT INTO, CTAS and UNLOAD, not in DELETE: the id is a
    quoted literal, and only ids of letters, digits, `_` and `-` (ULIDs, the DynamoDB
    version's ids) are accepted."""
    if table not in ICEBERG_TABLES:
        raise ValueError(f"not an Iceberg table of ours: {table!r}")
    if not _ERASABLE_ID.fullmatch(site_id):
        raise ValueError(f"not a site id: {site_id!r}")
    return f"DELETE FROM {table} WHERE site_id = {athena_literal(site_id)}"  # noqa: S608


class AthenaColdSiteEraser:
    """The `ColdSiteEraser` in AWS: `DELETE FROM` each Iceberg table (Athena writes position
    delete files; the weekly Iceberg maintenance rewrites the data files and expires the
    snapshots that still hold the rows), one after the other, within a deadline.

    Past the deadline the query is left running (a DELETE is transactional, and stopping it
    gains nothing) and `QueryTimeoutError` is raised: the job stays pending and the daily
    maintenance runs both statements again, which is harmless. A failed query becomes
    `StoreUnavailableError` with Athena's reason."""

    def __init__(
        self,
        connection: Connection[Any],
        *,
        work_group: str,
        output_location: str,
        deadline_s: float = ERASE_DEADLINE_S,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._connection = connection
        self._work_group = work_group
        self._output_location = output_location
        self._deadline_s = deadline_s
        self._monotonic = monotonic

    @classmethod
    def from_settings(
        cls, settings: Settings, *, poll_interval_s: float = POLL_INTERVAL_S, **kwargs: Any
    ) -> AthenaColdSiteEraser:
        """An eraser for ATHENA_WORKGROUP, ATHENA_DATABASE and ATHENA_OUTPUT_LOCATION."""
        connection, work_group, output_location = _connect(
            settings, poll_interval_s=poll_interval_s, kill_on_interrupt=False
        )
        return cls(connection, work_group=work_group, output_location=output_location, **kwargs)

    def erase(self, site_id: str) -> None:
        """Run the DELETE on `events`, then on `initial_events`."""
        check_deadline = _deadline_check(self._monotonic, self._monotonic() + self._deadline_s)

        for table in ICEBERG_TABLES:
            cursor: Cursor = self._connection.cursor(on_poll=check_deadline)
            try:
                cursor.execute(
                    site_deletion_sql(table, site_id),
                    work_group=self._work_group,
                    s3_staging_dir=self._output_location,
                )
            except _DeadlinePassedError:
                raise QueryTimeoutError(
                    f"Athena deletion {cursor.query_id} of site {site_id} from {table} passed "
                    f"its {self._deadline_s:g} s deadline (left running)"
                ) from None
            except AthenaError as exc:
                raise StoreUnavailableError(
                    f"Athena deletion {cursor.query_id or '(not started)'} of site {site_id} "
                    f"from {table} did not succeed: {exc}"
                ) from exc
            finally:
                cursor.close()
