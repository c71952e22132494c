"""`RealtimeReader` on the hot store (PostgreSQL): who is on a site now, from the event tables
themselves (`events` and `initial_events`), so that rows ingested since the read model's last
fold count as well.

The window is minutes long: the statement reads only the daily partitions of the UTC days it
touches (`dt`, one or two of them: partitions are pruned at planning time) and, in them, the
rows of the site in the window through the (site_id, timestamp) indexes. One statement
answers both the distinct sessions and the top pages (visitors descending, then pathname in
code-point order: `COLLATE "C"` compares UTF-8 bytes, which sort as code points).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from adapters.postgres.pool import Pool, deadline, transaction
from analytics_core.stats import Realtime

STATEMENT_TIMEOUT_MS = 5_000
"""A realtime answer is a few minutes of one site: seconds would mean something is wrong."""

_REALTIME = """
WITH recent AS (
    SELECT session_id, pathname FROM events
    WHERE site_id = %(site_id)s AND dt BETWEEN %(first_day)s AND %(last_day)s
      AND "timestamp" BETWEEN %(since)s AND %(until)s
    UNION ALL
    SELECT session_id, pathname FROM initial_events
    WHERE site_id = %(site_id)s AND dt BETWEEN %(first_day)s AND %(last_day)s
      AND "timestamp" BETWEEN %(since)s AND %(until)s
), pages AS (
    SELECT pathname, count(DISTINCT session_id) AS visitors
    FROM recent
    GROUP BY pathname
    ORDER BY visitors DESC, pathname COLLATE "C"
    LIMIT %(limit)s
)
SELECT NULL::text, (SELECT count(DISTINCT session_id) FROM recent), 0
UNION ALL
SELECT pathname, visitors, row_number() OVER (ORDER BY visitors DESC, pathname COLLATE "C")
FROM pages
ORDER BY 3
"""


class PostgresRealtimeReader:
    """Distinct sessions and top pages of a site's last minutes, from the raw event rows."""

    def __init__(self, pool: Pool, *, statement_timeout_ms: int = STATEMENT_TIMEOUT_MS) -> None:
        self._pool = pool
        self._timeout_ms = statement_timeout_ms

    @staticmethod
    def statement(
        site_id: str, since: datetime, until: datetime, limit: int
    ) -> tuple[str, dict[str, Any]]:
        """The SQL and parameters of a realtime answer (tests look at its plan)."""
        return _REALTIME, {
            "site_id": site_id,
            "since": since,
            "until": until,
            "first_day": since.astimezone(UTC).date(),
            "last_day": until.astimezone(UTC).date(),
            "limit": limit,
        }

    def realtime(self, site_id: str, since: datetime, until: datetime, limit: int) -> Realtime:
        """The sessions with an event timestamped from `since` to `until` (both included) and
        their top `limit` pathnames; a statement past the timeout is `QueryTimeoutError`."""
        text, params = self.statement(site_id, since, until, limit)
        with (
            deadline("the realtime query"),
            transaction(self._pool, statement_timeout_ms=self._timeout_ms) as conn,
        ):
            rows = conn.execute(text, params).fetchall()
        (_, visitors, _), *pages = rows
        return Realtime(
            site_id=site_id,
            visitors=int(visitors),
            pages=tuple((str(pathname), int(count)) for pathname, count, _ in pages),
        )
