"""`RealtimeReader` in memory: who is on a site now, over the rows an `InMemoryStatsReader`
holds (the hot store of the unit tests and of throwaway runs), by the port's definition."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime

from adapters.memory_stats import InMemoryStatsReader
from analytics_core.rows import Row
from analytics_core.stats import Realtime


class InMemoryRealtimeReader:
    """Distinct sessions and top pages of a site's last minutes, from every stored row."""

    def __init__(self, store: InMemoryStatsReader) -> None:
        self._store = store

    def realtime(self, site_id: str, since: datetime, until: datetime, limit: int) -> Realtime:
        """The sessions with an event timestamped from `since` to `until` (both included) and
        their top `limit` pathnames (visitors descending, then pathname by code point)."""
        events, initial_events = self._store.rows()
        sessions: set[str] = set()
        by_page: defaultdict[str, set[str]] = defaultdict(set)
        rows: list[Row] = [*events, *initial_events]
        for row in rows:
            if row.site_id == site_id and since <= row.timestamp <= until:
                sessions.add(row.session_id)
                by_page[row.pathname].add(row.session_id)
        ranked = sorted(((page, len(s)) for page, s in by_page.items()), key=_page_order)
        return Realtime(site_id=site_id, visitors=len(sessions), pages=tuple(ranked[:limit]))


def _page_order(page: tuple[str, int]) -> tuple[int, str]:
    pathname, visitors = page
    return (-visitors, pathname)
