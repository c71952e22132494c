"""The `query_stats` use case: GET /api/query's answer for an owner, from whichever store
fits the range (the query, the metrics and the report are `stats`' values)."""

from __future__ import annotations

import attrs

from analytics_core.errors import NotFoundError
from analytics_core.ports import Clock, HotCoverage, ReadModel, SiteRepository, StatsReader
from analytics_core.routing import Store, choose_store
from analytics_core.stats import Compare, StatsQuery, StatsReport, complete_report


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
    """
    for site_id in query.site_ids:
        if sites.get_for_owner(owner, site_id) is None:
            raise NotFoundError("site", site_id)

    def answer(one: StatsQuery) -> StatsReport:
        store = choose_store(one.start_date, clock, hot_window_days, coverage.since())
        if store is Store.HOT:
            read_model.fold_pending(one.site_ids)
        reader = hot if store is Store.HOT else cold
        return complete_report(reader.source, one, reader.read(one))

    report = answer(query)
    if query.compare is Compare.PREVIOUS_PERIOD:
        report = attrs.evolve(report, comparison=answer(query.previous_period()))
    return report
