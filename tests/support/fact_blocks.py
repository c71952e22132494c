"""The fact-block engine over rows held in memory (no database): blocks built from the rows
as the PostgreSQL adapter builds them from its tables, encoded and decoded, then queried."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import date, timedelta

from adapters.fact_engine import (
    BLOCK_DIMENSIONS,
    Block,
    Interner,
    RawRows,
    View,
    build_blocks,
    decode,
    encode,
    epoch_us,
    evaluate,
    globalise,
)
from analytics_core.rows import EventRow, InitialEventRow, Row
from analytics_core.stats import SESSION_DIMENSIONS, StatsQuery, StatsResult


def raw_rows(rows: Sequence[Row], numbers: dict[tuple[str, str], int]) -> RawRows:
    """The rows as the adapter fetches them, sessions numbered (new ones added)."""
    for row in rows:
        numbers.setdefault((row.site_id, row.session_id), len(numbers) + 1)
    return RawRows(
        session_ids=[r.session_id for r in rows],
        numbers=[numbers[r.site_id, r.session_id] for r in rows],
        timestamps_us=[epoch_us(r.timestamp) for r in rows],
        event_uids=[r.event_uid for r in rows],
        is_initial=[isinstance(r, InitialEventRow) for r in rows],
        events=[r.event for r in rows],
        pathnames=[r.pathname for r in rows],
        properties=[None if r.properties is None else json.dumps(r.properties) for r in rows],
        attributes=[
            [getattr(r, d.value) if isinstance(r, InitialEventRow) else None for r in rows]
            for d in SESSION_DIMENSIONS
        ],
    )


class MemoryBlocks:
    """Blocks of rows held in memory, per site and zone, built on first use."""

    source = "postgres"

    def __init__(self, events: Sequence[EventRow], initial_events: Sequence[InitialEventRow]):
        self.rows: list[Row] = [*events, *initial_events]
        self.numbers: dict[tuple[str, str], int] = {}
        self.interner = Interner()
        self._blocks: dict[tuple[str, str, date], Block] = {}

    def blocks(self, site_id: str, days: Sequence[date], query: StatsQuery) -> list[Block]:
        """The site's blocks of `days` in the query's zone (built, encoded and decoded)."""
        missing = [d for d in days if (site_id, query.timezone, d) not in self._blocks]
        if missing:
            # Rows by UTC date, a generous margin around the local days the blocks read.
            low, high = min(missing) - timedelta(days=3), max(missing) + timedelta(days=3)
            chosen = [r for r in self.rows if r.site_id == site_id and low <= r.dt <= high]
            for block in build_blocks(raw_rows(chosen, self.numbers), missing, query.zone):
                self._blocks[site_id, query.timezone, block.day] = decode(encode(block))
        return [self._blocks[site_id, query.timezone, d] for d in days]

    def read(self, query: StatsQuery) -> StatsResult:
        """The engine's answer."""
        days = [query.start_date + timedelta(days=d) for d in range(query.days)]
        blocks = [
            globalise(block, self.interner, query.zone)
            for site in sorted(set(query.site_ids))
            for block in self.blocks(site, days, query)
        ]
        return evaluate(View(blocks, self.interner), query)


__all__ = ["BLOCK_DIMENSIONS", "MemoryBlocks", "raw_rows"]
