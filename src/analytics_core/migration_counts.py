"""What the cutover tools count: a site-day's events and visitors in a store, and what a batch
of copied rows did (values only; the use cases are in `backfill`)."""

from __future__ import annotations

import attrs


@attrs.frozen
class DayCounts:
    """What `verify-migration` compares for one site and day."""

    events: int = 0
    visitors: int = 0


@attrs.frozen
class CopyCounts:
    """What one batch of copied rows did."""

    inserted: int = 0
    present: int = 0
