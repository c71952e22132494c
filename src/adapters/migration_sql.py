"""The SQL of `backfill-hot` and `verify-migration` over raw event rows, for Trino (Athena),
DuckDB (the local lake) and PostgreSQL, and the mapping of the rows read back.

Like the stats statement (`adapters.stats_sql`), the cold dialects keep one copy per
`event_uid` among the rows that have one, and every row without one; PostgreSQL has one row
per event already. Values travel as parameters; identifiers come from the tables' column lists.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable, Mapping, Sequence
from datetime import UTC, date, datetime
from typing import Any

from adapters.stats_sql import Dialect, Statement, bind
from analytics_core.legacy_uids import MISSING_UID
from analytics_core.migration_counts import DayCounts
from analytics_core.rows import (
    EVENT_COLUMNS,
    INITIAL_EVENT_COLUMNS,
    EventRow,
    InitialEventRow,
    Row,
)

TABLE_COLUMNS: Mapping[str, tuple[str, ...]] = {
    "events": EVENT_COLUMNS,
    "initial_events": INITIAL_EVENT_COLUMNS,
}


def _quoted(column: str) -> str:
    return '"timestamp"' if column == "timestamp" else column


def _sites(site_ids: Collection[str] | None, values: dict[str, Any]) -> str:
    """` AND site_id IN (...)` with one marker per site, or nothing for every site."""
    if site_ids is None:
        return ""
    if not site_ids:
        raise ValueError("an empty site list selects nothing; pass None for every site")
    markers = []
    for n, site in enumerate(sorted(site_ids)):
        values[f"site_{n}"] = site
        markers.append(f"{{{{site_{n}}}}}")
    return f" AND site_id IN ({', '.join(markers)})"


def _one_per_event(table: str, columns: Sequence[str], where: str, dialect: Dialect) -> str:
    """`table`'s rows matching `where`, one copy per uid, every row without one."""
    listed = ", ".join(_quoted(c) for c in columns)
    if not dialect.deduplicates:
        return f"SELECT {listed} FROM {table} WHERE {where}"  # noqa: S608  # whitelisted names
    return (
        f"SELECT {listed} FROM (\n"  # noqa: S608  # whitelisted names, values as parameters
        f"        SELECT {listed},\n"
        f"            row_number() OVER (PARTITION BY event_uid, site_id, session_id, dt)"
        f" AS copy_no\n"
        f"        FROM {table}\n"
        f"        WHERE {where}\n"
        f"    ) AS copies\n"
        f"    WHERE copy_no = 1 OR event_uid IS NULL"
    )


def day_rows_statement(
    table: str, day: date, site_ids: Collection[str] | None, dialect: Dialect
) -> Statement:
    """Every event of `table` dated `day` (of `site_ids`), ordered by site and session."""
    values: dict[str, Any] = {"day": day}
    where = "dt = {{day}}" + _sites(site_ids, values)
    rows = _one_per_event(table, TABLE_COLUMNS[table], where, dialect)
    return bind(f"{rows}\nORDER BY site_id, session_id", values, dialect)


def daily_counts_statement(
    first: date, last: date, site_ids: Collection[str] | None, dialect: Dialect
) -> Statement:
    """Events and distinct sessions per site and day from `first` to `last`, both tables."""
    values: dict[str, Any] = {"first": first, "last": last}
    where = "dt BETWEEN {{first}} AND {{last}}"
    columns = ("site_id", "session_id", "dt", "event_uid")
    events = _one_per_event("events", columns, where + _sites(site_ids, values), dialect)
    initial = _one_per_event("initial_events", columns, where + _sites(site_ids, values), dialect)
    sql = f"""WITH all_rows AS (
    {events}
    UNION ALL
    {initial}
)
SELECT site_id, dt, count(*) AS events, count(DISTINCT session_id) AS visitors
FROM all_rows
GROUP BY site_id, dt
ORDER BY site_id, dt"""  # noqa: S608  # whitelisted names, values as parameters
    return bind(sql, values, dialect)


def _as_date(value: Any) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


def _as_moment(value: Any) -> datetime:
    if isinstance(value, datetime):
        moment = value
    else:
        text = str(value).strip().removesuffix(" UTC").replace(" ", "T", 1)
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _as_properties(value: Any) -> Mapping[str, Any] | None:
    if value is None or value == "":
        return None
    if isinstance(value, Mapping):
        return value
    try:
        parsed = json.loads(value)
    except ValueError:
        # Not JSON (an old writer's text): kept, not lost.
        return {"value": str(value)}
    return parsed if isinstance(parsed, dict) else {"value": parsed}


def _as_int(value: Any) -> int | None:
    return None if value is None or value == "" else int(value)


def row_from_values(table: str, values: Sequence[Any]) -> Row:
    """A row of `table` from its values in column order, as a cold store returns them
    (a missing uid becomes `MISSING_UID`; timestamps in UTC; `properties` parsed)."""
    uid, site_id, session_id, moment, day, event, pathname, properties, *session = values
    common = (
        MISSING_UID if uid is None else str(uid),
        str(site_id),
        str(session_id),
        _as_moment(moment),
        _as_date(day),
        str(event),
        str(pathname),
        _as_properties(properties),
    )
    if table == "events":
        return EventRow(*common)
    texts = [None if v is None else str(v) for v in session[:-2]]
    return InitialEventRow._make([*common, *texts, _as_int(session[-2]), _as_int(session[-1])])


def counts_from_rows(rows: Iterable[Sequence[Any]]) -> dict[tuple[str, date], DayCounts]:
    """The result of `daily_counts_statement`, keyed by (site, day)."""
    return {
        (str(site), _as_date(day)): DayCounts(int(events), int(visitors))
        for site, day, events, visitors in rows
    }
