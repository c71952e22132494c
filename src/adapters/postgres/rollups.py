"""The hot store's read model, maintained inside the ingest transaction.

Contract with the event store (adapters/postgres/events.py): within its transaction, after
inserting a batch, the event store has exactly the rows it inserted in this transaction (never
the duplicates it skipped) in the temporary tables `ingest_new_events` and
`ingest_new_initial_events`, which have the columns of `events` and `initial_events`; it then
calls `apply_rollups(conn)` once, before committing. Whatever this function writes commits or
rolls back with the events themselves.

This is a placeholder until the query issue designs the read model; it does nothing.
"""

from __future__ import annotations

from typing import Any

import psycopg


def apply_rollups(conn: psycopg.Connection[Any]) -> None:
    """Fold the rows inserted by the current transaction into the read model."""
