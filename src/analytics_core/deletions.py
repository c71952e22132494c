"""The value of a site deletion's cold job (the use cases are in `management`)."""

from __future__ import annotations

from datetime import datetime

import attrs


@attrs.frozen
class DeletionRequest:
    """A deleted site whose cold rows are not known to be erased yet."""

    site_id: str
    requested_at: datetime
