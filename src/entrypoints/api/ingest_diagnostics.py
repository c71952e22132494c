"""GET /api/sites/{id}/ingest's edge: the query string read into a date range (400 naming the
field) and the diagnostics as camelCase JSON (docs/api.md, "Ingest diagnostics"):

    {"siteId", "startDate", "endDate",
     "totals": {"accepted", "duplicate", "malformed", "unknownSite", "domainMismatch", "bot",
                "overAllowance"},
     "days": [{"date": "YYYY-MM-DD", <the seven outcomes>}, ...]}
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date, timedelta

from analytics_core.diagnostics import IngestDiagnostics, ingest_range
from analytics_core.errors import InvalidRequestError
from analytics_core.outcomes import Outcome
from analytics_core.stats import EARLIEST_DATE

_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_PARAMETERS = ("startDate", "endDate")


def outcome_key(outcome: Outcome) -> str:
    """The camelCase key of an outcome (`domain_mismatch` -> `domainMismatch`)."""
    head, *rest = outcome.value.split("_")
    return head + "".join(part.title() for part in rest)


def _parse_date(name: str, raw: str, latest: date) -> date:
    if _DATE.fullmatch(raw):
        try:
            parsed = date.fromisoformat(raw)
        except ValueError:
            pass
        else:
            # Bounded like the query API's dates: the range arithmetic stays far from date.max.
            if EARLIEST_DATE <= parsed <= latest:
                return parsed
            raise InvalidRequestError.for_field(
                name, f"must be a date from {EARLIEST_DATE.isoformat()} to {latest.isoformat()}"
            )
    raise InvalidRequestError.for_field(name, "must be a date YYYY-MM-DD")


def parse_ingest_range(params: Mapping[str, str], *, today: date) -> tuple[date, date]:
    """The range of the query string (`startDate`, `endDate`, both optional, each from
    2000-01-01 to a year after `today`; see `ingest_range` for the defaults and limits)."""
    for name in params:
        if name not in _PARAMETERS:
            raise InvalidRequestError.for_field(str(name), "unknown parameter")
    latest = today + timedelta(days=366)
    start, end = (
        None if params.get(name) is None else _parse_date(name, params[name], latest)
        for name in _PARAMETERS
    )
    return ingest_range(today, start, end)


def _counts_json(counts: Mapping[Outcome, int]) -> dict[str, int]:
    return {outcome_key(outcome): counts[outcome] for outcome in Outcome}


def diagnostics_json(diagnostics: IngestDiagnostics) -> dict[str, object]:
    """The answer's JSON body."""
    return {
        "siteId": diagnostics.site_id,
        "startDate": diagnostics.start_date.isoformat(),
        "endDate": diagnostics.end_date.isoformat(),
        "totals": _counts_json(diagnostics.totals),
        "days": [
            {"date": day.day.isoformat(), **_counts_json(day.counts)} for day in diagnostics.days
        ],
    }
