"""What becomes of the records of a batch: the outcome of each, the counts per site and day,
and what ingest knows of a site (values only; the use case is `ingest.process_batch`)."""

from __future__ import annotations

from datetime import date
from enum import StrEnum

import attrs

from analytics_core.sites import ComplianceLevel


class Outcome(StrEnum):
    """What became of one record of a batch."""

    ACCEPTED = "accepted"
    DUPLICATE = "duplicate"
    MALFORMED = "malformed"
    UNKNOWN_SITE = "unknown_site"
    DOMAIN_MISMATCH = "domain_mismatch"
    BOT = "bot"
    OVER_ALLOWANCE = "over_allowance"


@attrs.frozen
class SiteConfig:
    """What ingest needs to know of a site (its allowance is read only under lock, at store)."""

    site_id: str
    domains: tuple[str, ...]
    compliance_level: ComplianceLevel


@attrs.frozen
class OutcomeTally:
    """How many records of a site and UTC day ended in `outcome` (for `ingest_outcomes`)."""

    site_id: str
    day: date
    outcome: Outcome
    count: int
