"""The `query_stats` use case: GET /api/query's answer for an owner, from whichever store
fits the range (the query, the metrics and the report are `stats`' values)."""

from __future__ import annotations

from datetime import timedelta

import attrs

from analytics_core.errors import InvalidRequestError, NotFoundError
from analytics_core.ports import (
    Clock,
    HotCoverage,
    ReadModel,
    RealtimeReader,
    SiteRepository,
    StatsReader,
)
from analytics_core.routing import Store, choose_store
from analytics_core.stats import (
    REALTIME_PAGES,
    REALTIME_WINDOW,
    Compare,
    Realtime,
    StatsQuery,
    StatsReport,
    complete_report,
)


def query_stats(
    query: StatsQuery,
    owner: str,
    *,
    sites: SiteRepository,
    hot: StatsReader,
    cold: StatsReader,
    clock: Clock,
    hot_window_days: int,
    coverage: HotCoverage,
    read_model: ReadModel,
) -> StatsReport:
    """Answer `query` for `owner`: every site must be theirs (else 404, exactly like a missing
    site); the hot store answers ranges starting within the hot window and within its
    coverage (read on every query, so that a change applies at once), the cold one the rest.

    Before the hot store answers, its read model takes in the queried sites' rows ingested
    since its last fold, so that the answer counts every event committed before the query.

    With `compare=previous_period`, the previous range is answered the same way, routed on its
    own (it may well be the cold store's while the range itself is the hot one's).

    Dates and buckets are the sites' local ones: every site of the query must have the same
    time zone (else `InvalidRequestError` naming `siteId`).
    """
    zones = set()
    for site_id in query.site_ids:
        site = sites.get_for_owner(owner, site_id)
        if site is None:
            raise NotFoundError("site", site_id)
        zones.add(site.timezone)
    if len(zones) > 1:
        raise InvalidRequestError.for_field(
            "siteId", f"the sites must share a time zone; they have {', '.join(sorted(zones))}"
        )
    if zones:
        query = attrs.evolve(query, timezone=zones.pop())

    def answer(one: StatsQuery) -> StatsReport:
        # A local day may begin on the UTC day before it: route on the first UTC day read.
        first_utc_day = one.start_date - timedelta(days=0 if one.timezone == "UTC" else 1)
        store = choose_store(first_utc_day, clock, hot_window_days, coverage.since())
        if store is Store.HOT:
            read_model.fold_pending(one.site_ids)
        reader = hot if store is Store.HOT else cold
        return complete_report(reader.source, one, reader.read(one))

    report = answer(query)
    if query.compare is Compare.PREVIOUS_PERIOD:
        report = attrs.evolve(report, comparison=answer(query.previous_period()))
    return report


def realtime(
    site_id: str, owner: str, *, sites: SiteRepository, reader: RealtimeReader, clock: Clock
) -> Realtime:
    """GET /api/realtime's answer: the sessions with an event timestamped in the last five
    minutes (up to now; rows not folded into the read model yet included) and their top ten
    pages. A site that is not the owner's is 404, like a missing one."""
    if sites.get_for_owner(owner, site_id) is None:
        raise NotFoundError("site", site_id)
    now = clock()
    return reader.realtime(site_id, now - REALTIME_WINDOW, now, REALTIME_PAGES)
