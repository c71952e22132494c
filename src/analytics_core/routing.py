"""Which store answers a stats query: the hot one for recent ranges, the cold one otherwise.

The hot store (PostgreSQL) keeps `HOT_RETENTION_DAYS` days, always more than the hot window,
so a range starting within the window (and the day before it, which attributes the first
day's events to their sessions) is complete there. The decision uses the range's start only:
`start_date >= today - HOT_WINDOW_DAYS` (today in UTC, from the injected clock) goes hot,
unless the hot store's coverage (`analytics hot-coverage`: the first day from which it is
complete, None for every day) begins after the range's start: then the cold store answers.
"""

from __future__ import annotations

from datetime import UTC, date, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from analytics_core.ports import Clock


class Store(StrEnum):
    """The two stores a query can go to."""

    HOT = "hot"
    COLD = "cold"


def route(
    start_date: date, today: date, hot_window_days: int, hot_since: date | None = None
) -> Store:
    """Hot when the range starts no earlier than `hot_window_days` days before `today` and
    no earlier than `hot_since` (the first day the hot store is complete; None: every day)."""
    if hot_since is not None and start_date < hot_since:
        return Store.COLD
    return Store.HOT if start_date >= today - timedelta(days=hot_window_days) else Store.COLD


def choose_store(
    start_date: date, clock: Clock, hot_window_days: int, hot_since: date | None = None
) -> Store:
    """`route` for the current UTC date of `clock`."""
    return route(start_date, clock().astimezone(UTC).date(), hot_window_days, hot_since)
