"""Ingest diagnostics: what became of a site's records, per UTC day and outcome (accepted,
dropped as a bot, for a wrong domain, over the allowance, ...), read from the counts ingest
keeps (`IngestOutcomes`). Values, the range rule and the `diagnose_ingest` use case."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, timedelta
from types import MappingProxyType

import attrs

from analytics_core.errors import InvalidRequestError, NotFoundError
from analytics_core.outcomes import Outcome, OutcomeTally
from analytics_core.ports import IngestOutcomes, SiteRepository

DEFAULT_DAYS = 30
MAX_DAYS = 366


def _all_outcomes(counts: Mapping[Outcome, int]) -> Mapping[Outcome, int]:
    return MappingProxyType({outcome: counts.get(outcome, 0) for outcome in Outcome})


@attrs.frozen
class IngestDay:
    """One UTC day of a site's records: a count for every outcome, zeros included."""

    day: date
    counts: Mapping[Outcome, int] = attrs.field(converter=_all_outcomes)


@attrs.frozen
class IngestDiagnostics:
    """A site's outcomes over an inclusive UTC date range: totals and every day."""

    site_id: str
    start_date: date
    end_date: date
    totals: Mapping[Outcome, int] = attrs.field(converter=_all_outcomes)
    days: tuple[IngestDay, ...]

    @classmethod
    def from_tallies(
        cls, site_id: str, start: date, end: date, tallies: Iterable[OutcomeTally]
    ) -> IngestDiagnostics:
        """Every day of the range from the stored tallies (days without any are zeros; tallies
        outside the range or of another site are ignored)."""
        per_day: dict[date, dict[Outcome, int]] = {}
        totals: dict[Outcome, int] = {}
        for tally in tallies:
            if tally.site_id != site_id or not start <= tally.day <= end:
                continue
            day = per_day.setdefault(tally.day, {})
            day[tally.outcome] = day.get(tally.outcome, 0) + tally.count
            totals[tally.outcome] = totals.get(tally.outcome, 0) + tally.count
        days = tuple(
            IngestDay(day, per_day.get(day, {}))
            for day in (start + timedelta(days=n) for n in range((end - start).days + 1))
        )
        return cls(site_id, start, end, totals, days)


def ingest_range(today: date, start: date | None, end: date | None) -> tuple[date, date]:
    """The range asked for, defaults filled: without both dates the last `DEFAULT_DAYS` UTC
    days up to `today`; with one only, `DEFAULT_DAYS` days from or up to it. At most
    `MAX_DAYS` days, the end not before the start (`InvalidRequestError` naming the field)."""
    span = timedelta(days=DEFAULT_DAYS - 1)
    if start is None and end is None:
        start, end = today - span, today
    elif start is None:
        assert end is not None  # noqa: S101  # the branch above
        start = end - span
    elif end is None:
        end = start + span
    if end < start:
        raise InvalidRequestError.for_field("endDate", "must not be before startDate")
    if (end - start).days + 1 > MAX_DAYS:
        raise InvalidRequestError.for_field("endDate", f"the range covers at most {MAX_DAYS} days")
    return start, end


def diagnose_ingest(
    owner: str,
    site_id: str,
    start: date,
    end: date,
    *,
    sites: SiteRepository,
    outcomes: IngestOutcomes,
) -> IngestDiagnostics:
    """The outcomes of `owner`'s site over `start`..`end` (a site that is not theirs is
    `NotFoundError`, exactly like a missing one)."""
    if sites.get_for_owner(owner, site_id) is None:
        raise NotFoundError("site", site_id)
    return IngestDiagnostics.from_tallies(
        site_id, start, end, outcomes.tallies(site_id, start, end)
    )
