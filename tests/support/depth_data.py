"""Hand-built datasets for the query depth (entry/exit pages, `property:<key>`, the four
filter operators with alternatives, percentage, conversions, the sites' time zones), each
case with the answer worked out by hand from the definitions in `analytics_core.stats`.
The same cases run against the in-memory reference (tests/unit/test_stats_depth_reference.py)
and every store (tests/integration/test_query_depth_stores.py).

Site DEPTH (UTC), range 2026-11-10 .. 2026-11-11 (`I` initial event, `E` event):

    a1 US  I 11-10 10:00:00 pageview /          {plan: pro}
           E 11-10 10:01:00 pageview /pricing
           E 11-10 10:02:00 signup   /pricing   {plan: pro, trial: true}
           E 11-10 10:05:00 pageview /docs        visit: 3 pageviews, 300 s, exit /docs
    a2 DE  I 11-10 12:00:00 pageview /blog/Hello {plan: Pro Max, n: 3}
                                                  visit: a bounce, 0 s, exit /blog/Hello
    a3 US  I 11-10 23:50:00 pageview /pricing
           E 11-11 00:20:00 pageview /Docs/API
           E 11-11 00:25:00 signup   /Docs/API  {plan: free, ratio: 0.5}
                                                  visit: 2 pageviews, 2,100 s, exit /Docs/API
                                                  (both session-days are this visit's)
    a4 --  E 11-11 09:00:00 pageview /docs        no initial event: entry/exit null
           E 11-11 09:01:00 signup   /docs      {plan: [enterprise], n: -7}
    a5 FR  I 11-11 15:00:00 outbound /
           E 11-11 15:00:10 click    /          {trial: false, plan: null}
                                                  visit: 0 pageviews (no bounce), 10 s,
                                                  exit null (no pageview)
    a6 GB  I 11-11 22:00:00 pageview /
           E 11-12 00:30:00 pageview /about       (after the range) visit: 2 pageviews,
                                                  9,000 s, exit /about
    a7 CA  I 11-09 23:00:00 pageview /old         (before the range)
           E 11-10 00:30:00 pageview /new         11-10: attributed to the 11-09 initial
                                                  event: entry /old, exit /new (its window
                                                  is 11-09 .. 11-10)
           E 11-11 00:10:00 pageview /later       11-11: no initial event dated 11-10 or
                                                  11-11: country, entry and exit null

Site CASE (UTC): u1 DE I 11-10 08:00 pageview /Über-uns, E 08:01 pageview /ÜBER/Team, E 08:02
pageview /about, E 08:03 pageview /İstanbul (a visit of 4 pageviews, 180 s): case-insensitive
contains beyond ASCII. `İ` (U+0130) is the one capital whose `str.lower` is two code points
(`i` and U+0307); a text must still contain itself.

Site TIES (UTC): t1 NL I 11-10 09:00:00 pageview /start {a.b: dotted, a: {b: nested}, k-1:x: 5},
E `TS01-t1-1` 09:00:05 pageview /zz, E `TS01-t1-2` 09:00:05 pageview /aa (a visit of 3
pageviews, 5 s): the last pageview by (timestamp, event_uid) is /aa; the key `a.b` is the key
with a dot, not the path a -> b.

Site REPEAT (UTC), range 11-09 .. 11-10: r1 I 11-08 10:00 /first, I 11-09 10:00 /second (a
plain event: the 11-08 one is its day's attributed initial event), E 11-09 10:05 /s-next,
E 11-10 09:00 /third, E 11-10 09:30 /third-last. Session-day 11-09 is attributed to the 11-08
initial event (entry /first; its window 11-08 .. 11-09 ends on /s-next); 11-10 to the 11-09
one (the 11-08 one is two days back): entry /second, exit /third-last (window 11-09 .. 11-10),
though that initial event is not a visit.

Totals (in the range, 15 events): visitors 7; visits 5 (a1 a2 a3 a5 a6); pageviews
3+1+2+1+0+1+2 = 10; events 4+1+3+2+2+1+2 = 15; bounce rate 1/5 = 20; visit duration
(300+0+2,100+10+9,000)/5 = 11,410/5 = 2,282 s; views per visit 10/5 = 2.0. Property texts:
`pro`, `true`, `Pro Max`, `3` (an integer in decimal), `free`, `-7`, `false`; the list, the
null and the fraction 0.5 are null.

Site NEW YORK (America/New_York; EDT is UTC-4 until 2026-11-01 06:00Z, EST UTC-5 after; EST
until 2026-03-08 07:00Z, EDT after). Local 2026-11-01 runs 04:00Z .. 05:00Z the next day (25
hours, 1 am twice); local 2026-03-08 runs 05:00Z .. 04:00Z the next day (23 hours, no 2 am):

    n1  I 2026-11-01T03:30Z pageview /     local 10-31 23:30 -04 (UTC date 11-01)
        E 2026-11-01T04:10Z pageview /a    local 11-01 00:10 -04   visit of 10-31: 2 pv, 2,400 s
    n2  I 2026-11-01T05:30Z pageview /     local 11-01 01:30 -04 (the first 1 am)
        E 2026-11-01T06:30Z pageview /b    local 11-01 01:30 -05 (the second 1 am)
                                                                   visit: 2 pv, 3,600 s
    n3  I 2026-11-02T03:30Z pageview /c    local 11-01 22:30 -05 (UTC date 11-02)
        E 2026-11-02T05:10Z pageview /d    local 11-02 00:10 -05   visit: 2 pv, 6,000 s
    n4  I 2026-11-02T06:00Z pageview /     local 11-02 01:00 -05   visit: a bounce, 0 s
    m3  I 2026-03-08T04:30Z pageview /     local 03-07 23:30 -05 (UTC date 03-08)
        E 2026-03-08T05:20Z pageview /y    local 03-08 00:20 -05   visit of 03-07: 2 pv, 3,000 s
    m1  I 2026-03-08T06:30Z pageview /     local 03-08 01:30 -05
        E 2026-03-08T07:15Z pageview /x    local 03-08 03:15 -04   visit: 2 pv, 2,700 s
    m2  I 2026-03-09T03:45Z pageview /     local 03-08 23:45 -04 (UTC date 03-09)
                                                                   visit: a bounce, 0 s
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime
from typing import Any

import attrs

from analytics_core.ports import StatsReader
from analytics_core.rows import EventRow, InitialEventRow
from analytics_core.stats import (
    DEFAULT_METRICS,
    Dimension,
    Filter,
    Interval,
    Metric,
    Operator,
    Property,
    StatsQuery,
    complete_report,
)

SITE_DEPTH = "01JDQ7ZK3M000000000000DP01"
SITE_NEW_YORK = "01JDQ7ZK3M000000000000NY01"
SITE_CASE = "01JDQ7ZK3M000000000000CS01"
SITE_TIES = "01JDQ7ZK3M000000000000TS01"
SITE_REPEAT = "01JDQ7ZK3M000000000000RP01"
NEW_YORK = "America/New_York"
DEPTH_START = date(2026, 11, 10)
DEPTH_END = date(2026, 11, 11)
GOAL = "signup"


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def _uid(site: str, name: str) -> str:
    return f"{site[-4:]}-{name}"


def _initial(  # noqa: PLR0917  # one positional per column reads like the table
    site: str,
    session: str,
    at: str,
    event: str,
    path: str,
    properties: Mapping[str, Any] | None = None,
    country: str | None = None,
) -> InitialEventRow:
    moment = _at(at)
    return InitialEventRow(
        _uid(site, f"{session}-0"),
        site,
        session,
        moment,
        moment.date(),  # dt is the UTC date, as every store stores it
        event,
        path,
        properties,
        country=country,
        device="desktop",
    )


def _event(  # noqa: PLR0917
    site: str,
    session: str,
    n: int,
    at: str,
    event: str,
    path: str,
    properties: Mapping[str, Any] | None = None,
) -> EventRow:
    moment = _at(at)
    return EventRow(
        _uid(site, f"{session}-{n}"), site, session, moment, moment.date(), event, path, properties
    )


def _with_uid(row: InitialEventRow, uid: str) -> InitialEventRow:
    """The same initial event under another uid (a session's second one)."""
    return row._replace(event_uid=uid)


D, Y, C, T, R = SITE_DEPTH, SITE_NEW_YORK, SITE_CASE, SITE_TIES, SITE_REPEAT
PV = "pageview"

DEPTH_INITIAL_EVENTS = (
    _initial(D, "a1", "2026-11-10T10:00:00", PV, "/", {"plan": "pro"}, "US"),
    _initial(D, "a2", "2026-11-10T12:00:00", PV, "/blog/Hello", {"plan": "Pro Max", "n": 3}, "DE"),
    _initial(D, "a3", "2026-11-10T23:50:00", PV, "/pricing", None, "US"),
    _initial(D, "a5", "2026-11-11T15:00:00", "outbound", "/", None, "FR"),
    _initial(D, "a6", "2026-11-11T22:00:00", PV, "/", None, "GB"),
    _initial(D, "a7", "2026-11-09T23:00:00", PV, "/old", None, "CA"),
)
DEPTH_EVENTS = (
    _event(D, "a1", 1, "2026-11-10T10:01:00", PV, "/pricing"),
    _event(D, "a1", 2, "2026-11-10T10:02:00", GOAL, "/pricing", {"plan": "pro", "trial": True}),
    _event(D, "a1", 3, "2026-11-10T10:05:00", PV, "/docs"),
    _event(D, "a3", 1, "2026-11-11T00:20:00", PV, "/Docs/API"),
    _event(D, "a3", 2, "2026-11-11T00:25:00", GOAL, "/Docs/API", {"plan": "free", "ratio": 0.5}),
    _event(D, "a4", 1, "2026-11-11T09:00:00", PV, "/docs"),
    _event(D, "a4", 2, "2026-11-11T09:01:00", GOAL, "/docs", {"plan": ["enterprise"], "n": -7}),
    _event(D, "a5", 1, "2026-11-11T15:00:10", "click", "/", {"trial": False, "plan": None}),
    _event(D, "a6", 1, "2026-11-12T00:30:00", PV, "/about"),
    _event(D, "a7", 1, "2026-11-10T00:30:00", PV, "/new"),
    _event(D, "a7", 2, "2026-11-11T00:10:00", PV, "/later"),
)
NEW_YORK_INITIAL_EVENTS = (
    _initial(Y, "n1", "2026-11-01T03:30:00", PV, "/"),
    _initial(Y, "n2", "2026-11-01T05:30:00", PV, "/"),
    _initial(Y, "n3", "2026-11-02T03:30:00", PV, "/c"),
    _initial(Y, "n4", "2026-11-02T06:00:00", PV, "/"),
    _initial(Y, "m3", "2026-03-08T04:30:00", PV, "/"),
    _initial(Y, "m1", "2026-03-08T06:30:00", PV, "/"),
    _initial(Y, "m2", "2026-03-09T03:45:00", PV, "/"),
)
NEW_YORK_EVENTS = (
    _event(Y, "n1", 1, "2026-11-01T04:10:00", PV, "/a"),
    _event(Y, "n2", 1, "2026-11-01T06:30:00", PV, "/b"),
    _event(Y, "n3", 1, "2026-11-02T05:10:00", PV, "/d"),
    _event(Y, "m3", 1, "2026-03-08T05:20:00", PV, "/y"),
    _event(Y, "m1", 1, "2026-03-08T07:15:00", PV, "/x"),
)
CASE_INITIAL_EVENTS = (_initial(C, "u1", "2026-11-10T08:00:00", PV, "/Über-uns", None, "DE"),)
CASE_EVENTS = (
    _event(C, "u1", 1, "2026-11-10T08:01:00", PV, "/ÜBER/Team"),
    _event(C, "u1", 2, "2026-11-10T08:02:00", PV, "/about"),
    _event(C, "u1", 3, "2026-11-10T08:03:00", PV, "/İstanbul"),
)
TIES_PROPERTIES = {"a.b": "dotted", "a": {"b": "nested"}, "k-1:x": 5}
TIES_INITIAL_EVENTS = (
    _initial(T, "t1", "2026-11-10T09:00:00", PV, "/start", TIES_PROPERTIES, "NL"),
)
TIES_EVENTS = (
    _event(T, "t1", 1, "2026-11-10T09:00:05", PV, "/zz"),
    _event(T, "t1", 2, "2026-11-10T09:00:05", PV, "/aa"),
)
REPEAT_INITIAL_EVENTS = (
    _initial(R, "r1", "2026-11-08T10:00:00", PV, "/first"),
    _with_uid(_initial(R, "r1", "2026-11-09T10:00:00", PV, "/second"), "RP01-r1-9"),
)
REPEAT_EVENTS = (
    _event(R, "r1", 1, "2026-11-09T10:05:00", PV, "/s-next"),
    _event(R, "r1", 2, "2026-11-10T09:00:00", PV, "/third"),
    _event(R, "r1", 3, "2026-11-10T09:30:00", PV, "/third-last"),
)
ALL_INITIAL_EVENTS = (
    DEPTH_INITIAL_EVENTS
    + NEW_YORK_INITIAL_EVENTS
    + CASE_INITIAL_EVENTS
    + TIES_INITIAL_EVENTS
    + REPEAT_INITIAL_EVENTS
)
ALL_EVENTS = DEPTH_EVENTS + NEW_YORK_EVENTS + CASE_EVENTS + TIES_EVENTS + REPEAT_EVENTS


# ---------------------------------------------------------------- cases

Values = tuple[object, ...]
"""A group's values of the case's metrics, in order."""


def m(  # noqa: PLR0917  # one positional per default metric reads like the table
    visitors: int,
    visits: int,
    pageviews: int,
    events: int,
    bounce_rate: int | None,
    visit_duration: int | None,
    views_per_visit: float | None,
) -> Values:
    """The default metrics' values (visitors, visits, pageviews, events, bounce rate, visit
    duration, views per visit)."""
    return (visitors, visits, pageviews, events, bounce_rate, visit_duration, views_per_visit)


NOTHING = m(0, 0, 0, 0, None, None, None)
CONVERSION = (Metric.VISITORS, Metric.CONVERSIONS, Metric.CONVERSION_RATE)
PERCENTAGE = (Metric.VISITORS, Metric.PERCENTAGE)


@attrs.frozen
class DepthCase:
    """One query over the hand-built rows and its hand-computed answer."""

    name: str
    about: str
    """What the case pins down, in one sentence."""
    totals: Values
    query: Mapping[str, Any] = attrs.field(factory=dict)
    """StatsQuery fields beyond the site and the range."""
    site: str = SITE_DEPTH
    start: date = DEPTH_START
    end: date = DEPTH_END
    metrics: tuple[Metric, ...] = DEFAULT_METRICS
    timeseries: Sequence[tuple[str, Values]] | None = None
    """Every bucket of the range, by its start instant in ISO form with its local offset."""
    breakdown: Sequence[tuple[str | None, Values]] | None = None

    def stats_query(self) -> StatsQuery:
        """The query this case asks."""
        return StatsQuery(
            site_ids=(self.site,),
            start_date=self.start,
            end_date=self.end,
            metrics=self.metrics,
            **self.query,
        )

    def expected(self) -> dict[str, object]:
        """The hand-computed answer, in the shape `answer` gives."""
        found: dict[str, object] = {"totals": self.totals}
        if self.timeseries is not None:
            found["timeseries"] = list(self.timeseries)
        if self.breakdown is not None:
            found["breakdown"] = list(self.breakdown)
        return found


def answer(reader: StatsReader, case: DepthCase) -> dict[str, object]:
    """A reader's answer to a case, completed as the API completes it (every bucket, the
    breakdown's order and limit); percentages of breakdown rows against the totals."""
    query = case.stats_query()
    report = complete_report(reader.source, query, reader.read(query))

    def values(counts: Any, total_visitors: int | None = None) -> Values:
        return tuple(counts.metrics(case.metrics, total_visitors).values())

    found: dict[str, object] = {"totals": values(report.totals)}
    if report.timeseries is not None:
        found["timeseries"] = [
            (start.isoformat(), values(counts)) for start, counts in report.timeseries
        ]
    if report.breakdown is not None:
        found["breakdown"] = [
            (value, values(counts, report.totals.visitors)) for value, counts in report.breakdown
        ]
    return found


def _f(field: str, operator: str, values: str) -> Filter:
    name = field.removeprefix("property:")
    dimension = Property(name) if field.startswith("property:") else Dimension(field)
    return Filter(dimension, Operator(operator), tuple(values.split("|")))


TOTALS = m(7, 5, 10, 15, 20, 2282, 2.0)

DEPTH_CASES = (
    DepthCase(
        "totals",
        "The dataset's totals (the base every other case restricts).",
        TOTALS,
    ),
    DepthCase(
        "entry_page",
        "entry_page is the attributed initial event's pathname, per session-day: a3's next "
        "day keeps /pricing, a7's 11-10 has /old from the day before, a4 and a7's 11-11 are null.",
        TOTALS,
        {"group_by": Dimension.ENTRY_PAGE},
        breakdown=[
            # a1 (4 ev, 3 pv, 300 s) + a5 (2 ev, 0 pv, 10 s) + a6 (1 ev, 1 pv, 9,000 s):
            # 3 visits, 0 bounces, 9,310/3 = 3,103.3 s, 4/3 = 1.33 views per visit
            ("/", m(3, 3, 4, 7, 0, 3103, 1.33)),
            # a4 (2 ev, 1 pv) + a7 on 11-11 (1 ev, 1 pv)
            (None, m(2, 0, 2, 3, None, None, None)),
            ("/blog/Hello", m(1, 1, 1, 1, 100, 0, 1.0)),  # a2
            ("/old", m(1, 0, 1, 1, None, None, None)),  # a7's /new on 11-10
            ("/pricing", m(1, 1, 2, 3, 0, 2100, 2.0)),  # a3, both days
        ],
    ),
    DepthCase(
        "exit_page",
        "exit_page is the pathname of the visit's last pageview in its two-day window (a6's "
        "is after the range, a7's 11-10 one comes from the 11-09 visit); null without a "
        "pageview (a5) or an attributed initial event (a4, a7 on 11-11).",
        TOTALS,
        {"group_by": Dimension.EXIT_PAGE},
        breakdown=[
            # a4 (2 ev, 1 pv) + a5 (2 ev, 0 pv, a visit of 10 s, not a bounce) + a7 on 11-11
            # (1 ev, 1 pv): 1 visit, 2 pageviews, 5 events
            (None, m(3, 1, 2, 5, 0, 10, 2.0)),
            ("/Docs/API", m(1, 1, 2, 3, 0, 2100, 2.0)),  # a3, both days
            ("/about", m(1, 1, 1, 1, 0, 9000, 1.0)),  # a6
            ("/blog/Hello", m(1, 1, 1, 1, 100, 0, 1.0)),  # a2
            ("/docs", m(1, 1, 3, 4, 0, 300, 3.0)),  # a1
            ("/new", m(1, 0, 1, 1, None, None, None)),  # a7 on 11-10
        ],
    ),
    DepthCase(
        "exit_page-tie-by-uid",
        "Two last pageviews at the same instant: the exit page is the greater event_uid's "
        "(/aa, not /zz).",
        m(1, 1, 3, 3, 0, 5, 3.0),
        {"group_by": Dimension.EXIT_PAGE},
        site=SITE_TIES,
        breakdown=[("/aa", m(1, 1, 3, 3, 0, 5, 3.0))],
    ),
    DepthCase(
        "entry_page-of-a-second-initial-event",
        "A session-day attributed to an initial event that is not a visit takes its entry "
        "page from that initial event.",
        m(1, 0, 4, 4, None, None, None),
        {"group_by": Dimension.ENTRY_PAGE},
        site=SITE_REPEAT,
        start=date(2026, 11, 9),
        end=date(2026, 11, 10),
        breakdown=[
            ("/first", m(1, 0, 2, 2, None, None, None)),  # 11-09: /second, /s-next
            ("/second", m(1, 0, 2, 2, None, None, None)),  # 11-10: /third, /third-last
        ],
    ),
    DepthCase(
        "exit_page-of-a-second-initial-event",
        "... and its exit page from that initial event's two-day window.",
        m(1, 0, 4, 4, None, None, None),
        {"group_by": Dimension.EXIT_PAGE},
        site=SITE_REPEAT,
        start=date(2026, 11, 9),
        end=date(2026, 11, 10),
        breakdown=[
            ("/s-next", m(1, 0, 2, 2, None, None, None)),  # 11-09
            ("/third-last", m(1, 0, 2, 2, None, None, None)),  # 11-10
        ],
    ),
    DepthCase(
        "exit_page-filter",
        "A filter on exit_page keeps the whole session-days of those visits.",
        # a1 (4 ev, 3 pv, 300 s) + a6 (1 ev, 1 pv, 9,000 s): 9,300/2 = 4,650 s, 4/2 = 2.0
        m(2, 2, 4, 5, 0, 4650, 2.0),
        {"filters": (_f("exit_page", "==", "/docs|/about"),)},
    ),
    DepthCase(
        "entry_page-filter-null-passes",
        "entry_page!=/ keeps the other entry pages and the session-days without one.",
        # a2 (1 ev, bounce 0 s) + a3 (3 ev, 2 pv, 2,100 s) + a4 (2 ev, 1 pv) + a7 (2 ev,
        # 2 pv, no visit): 2 visits, 1 bounce = 50, 2,100/2 = 1,050 s, 6/2 = 3.0
        m(4, 2, 6, 8, 50, 1050, 3.0),
        {"filters": (_f("entry_page", "!=", "/"),)},
    ),
    DepthCase(
        "property-breakdown",
        "property:plan is the event's own property as text; a list and a null are null.",
        TOTALS,
        {"group_by": Property("plan")},
        breakdown=[
            # the other 11 events: a1's 2, a3's 2, a4's 2, a5's 2, a6's 1, a7's 2 (6
            # sessions); pageviews a1 2 + a3 2 + a4 1 + a6 1 + a7 2 = 8; visits a3 a5 a6:
            # (2,100 + 10 + 9,000)/3 = 3,703.3 s, 8/3 = 2.67
            (None, m(6, 3, 8, 11, 0, 3703, 2.67)),
            ("Pro Max", m(1, 1, 1, 1, 100, 0, 1.0)),  # a2's initial event
            ("free", m(1, 0, 0, 1, None, None, None)),  # a3's signup
            ("pro", m(1, 1, 1, 2, 0, 300, 1.0)),  # a1's initial event (its visit) + signup
        ],
    ),
    DepthCase(
        "property-dotted-key",
        "property:a.b reads the key with a dot, not the nested a -> b.",
        m(1, 1, 3, 3, 0, 5, 3.0),
        {"group_by": Property("a.b")},
        site=SITE_TIES,
        breakdown=[
            ("dotted", m(1, 1, 1, 1, 0, 5, 1.0)),  # t1's start (its visit: 3 pv, 5 s)
            (None, m(1, 0, 2, 2, None, None, None)),  # /zz and /aa have no properties
        ],
    ),
    DepthCase(
        "property-key-characters",
        "A key may hold - and : (k-1:x), read whole.",
        m(1, 1, 1, 1, 0, 5, 1.0),  # t1's start
        {"filters": (_f("property:k-1:x", "==", "5"),)},
        site=SITE_TIES,
    ),
    DepthCase(
        "property-boolean",
        "Booleans are the texts true and false.",
        m(2, 0, 0, 2, None, None, None),  # a1's signup (true), a5's click (false)
        {"filters": (_f("property:trial", "==", "true|false"),)},
    ),
    DepthCase(
        "property-integer",
        "Integers are their decimal text, negative ones included.",
        m(2, 1, 1, 2, 100, 0, 1.0),  # a2's initial event (3, a bounce), a4's signup (-7)
        {"filters": (_f("property:n", "==", "3|-7"),)},
    ),
    DepthCase(
        "property-fraction-is-null",
        "A fractional number is null, so != keeps it (every event passes).",
        TOTALS,
        {"filters": (_f("property:ratio", "!=", "0.5"),)},
    ),
    DepthCase(
        "property-list-is-null",
        "A list is null: no event contains enterprise.",
        NOTHING,
        {"filters": (_f("property:plan", "~=", "enterprise"),)},
    ),
    DepthCase(
        "operator-equals-alternatives",
        "== keeps the values equal to one alternative (case counts: /Docs/API is out).",
        # /pricing: a1 x2, a3's initial event; /docs: a1, a4 x2 -> 6 events of a1 a3 a4;
        # pageviews a1 2, a3 1, a4 1; one visit (a3: 2 pv, 2,100 s): 4/1 = 4.0
        m(3, 1, 4, 6, 0, 2100, 4.0),
        {"filters": (_f("pathname", "==", "/docs|/pricing"),)},
    ),
    DepthCase(
        "operator-not-equals-alternatives",
        "!= keeps the values equal to no alternative, nulls included.",
        # a4 (null: 2 ev, 1 pv), a5 (FR: 2 ev, visit 10 s), a6 (GB: 1 ev, visit 9,000 s),
        # a7 (CA on 11-10, null on 11-11: 2 ev, 2 pv): 9,010/2 = 4,505 s, 4/2 = 2.0
        m(4, 2, 4, 7, 0, 4505, 2.0),
        {"filters": (_f("country", "!=", "US|DE"),)},
    ),
    DepthCase(
        "operator-contains-alternatives",
        "~= keeps the values containing one alternative, ignoring case.",
        # docs: a1's /docs, a3's /Docs/API x2, a4's /docs x2; hello: a2's /blog/Hello.
        # pageviews a1 1 + a3 1 + a4 1 + a2 1 = 4; one visit (a2, a bounce): 4/1 = 4.0
        m(4, 1, 4, 6, 100, 0, 4.0),
        {"filters": (_f("pathname", "~=", "DOCS|hello"),)},
    ),
    DepthCase(
        "operator-not-contains-alternatives",
        "!~ keeps the values containing no alternative, ignoring case.",
        # out: /pricing x3, /docs x3, /Docs/API x2; kept: a1's /, a2, a5 x2, a6, a7 x2 (7
        # events, 5 pageviews); visits a1 (300 s) a2 (bounce) a5 (10 s) a6 (9,000 s):
        # 1/4 = 25, 9,310/4 = 2,327.5 -> 2,328 s, 5/4 = 1.25
        m(5, 4, 5, 7, 25, 2328, 1.25),
        {"filters": (_f("pathname", "!~", "doc|PRIC"),)},
    ),
    DepthCase(
        "operator-not-contains-null-passes",
        "!~ keeps null values.",
        # out: US (a1, a3); kept a2 (1 ev), a4 (null, 2 ev), a5 (2 ev), a6 (1 ev), a7 (CA
        # and null, 2 ev); pageviews 1+1+0+1+2 = 5; visits a2 a5 a6: 1/3 = 33,
        # 9,010/3 = 3,003.3 s, 5/3 = 1.67
        m(5, 3, 5, 8, 33, 3003, 1.67),
        {"filters": (_f("country", "!~", "u"),)},
    ),
    DepthCase(
        "operator-contains-beyond-ascii",
        "~= ignores case beyond ASCII (Python's str.lower on both sides): über finds Über "
        "and ÜBER.",
        # site CASE, u1: /Über-uns (its start; the visit: 4 pageviews, 180 s) and /ÜBER/Team
        m(1, 1, 2, 2, 0, 180, 2.0),
        {"filters": (_f("pathname", "~=", "über"),)},
        site=SITE_CASE,
    ),
    DepthCase(
        "operator-not-contains-beyond-ascii",
        "!~ ignores case beyond ASCII: ÜBER leaves /about and /İstanbul.",
        m(1, 0, 2, 2, None, None, None),
        {"filters": (_f("pathname", "!~", "ÜBER"),)},
        site=SITE_CASE,
    ),
    DepthCase(
        "operator-contains-itself",
        "~= finds a text in itself, even one whose lower case is longer (İ).",
        m(1, 0, 1, 1, None, None, None),  # u1's /İstanbul
        {"filters": (_f("pathname", "~=", "İstanbul"),)},
        site=SITE_CASE,
    ),
    DepthCase(
        "percentage",
        "percentage is a row's visitors over the totals' visitors (7), one decimal half up.",
        (7, None),
        {"group_by": Dimension.COUNTRY},
        metrics=PERCENTAGE,
        breakdown=[
            ("US", (2, 28.6)),  # a1 a3: 200/7 = 28.57
            (None, (2, 28.6)),  # a4, a7 on 11-11
            ("CA", (1, 14.3)),  # 100/7 = 14.29
            ("DE", (1, 14.3)),
            ("FR", (1, 14.3)),
            ("GB", (1, 14.3)),
        ],
    ),
    DepthCase(
        "percentage-of-filtered-totals",
        "percentage is against the filtered totals.",
        (4, None),
        {"group_by": Dimension.COUNTRY, "filters": (_f("country", "!=", "US|DE"),)},
        metrics=PERCENTAGE,
        breakdown=[
            (None, (2, 50.0)),  # a4, a7 on 11-11: 2/4
            ("CA", (1, 25.0)),
            ("FR", (1, 25.0)),
            ("GB", (1, 25.0)),
        ],
    ),
    DepthCase(
        "conversions",
        "conversions counts the sessions that sent the goal, per bucket too.",
        (7, 3, 42.9),  # a1 a3 a4 of 7: 300/7 = 42.86
        {"goal": GOAL, "interval": Interval.DAY},
        metrics=CONVERSION,
        timeseries=[
            ("2026-11-10T00:00:00+00:00", (4, 1, 25.0)),  # a1 a2 a3 a7; a1
            ("2026-11-11T00:00:00+00:00", (5, 2, 40.0)),  # a3 a4 a5 a6 a7; a3 a4
        ],
    ),
    DepthCase(
        "conversions-breakdown",
        "A breakdown row's conversions are among its own events.",
        (7, 3, 42.9),
        {"goal": GOAL, "group_by": Dimension.PATHNAME},
        metrics=CONVERSION,
        breakdown=[
            ("/", (3, 0, 0.0)),  # a1 a5 a6
            ("/docs", (2, 1, 50.0)),  # a1's pageview, a4's signup
            ("/pricing", (2, 1, 50.0)),  # a1's signup, a3's pageview
            ("/Docs/API", (1, 1, 100.0)),  # a3's signup
            ("/blog/Hello", (1, 0, 0.0)),
            ("/later", (1, 0, 0.0)),
            ("/new", (1, 0, 0.0)),
        ],
    ),
    DepthCase(
        "conversions-filtered-by-goal",
        "Filtering on the goal event leaves only converting sessions.",
        (3, 3, 100.0),
        {"goal": GOAL, "filters": (_f("event", "==", GOAL),)},
        metrics=CONVERSION,
    ),
    DepthCase(
        "conversions-unknown-goal",
        "A goal no event has converts nobody (a rate of 0.0, not null).",
        (7, 0, 0.0),
        {"goal": "purchase"},
        metrics=CONVERSION,
    ),
    DepthCase(
        "conversions-without-goal",
        "Without a goal, conversions is 0.",
        (7, 0, 0.0),
        metrics=CONVERSION,
    ),
)


# -------------------------------------------------- time zone (acceptance 2)


def _hours(first: str, offsets: Mapping[int, str], hours: Sequence[int]) -> list[str]:
    """The ISO starts of a local day's hours, written out: `hours` in order, each with its
    offset from `offsets` (keyed by position)."""
    return [f"{first}T{hour:02d}:00:00{offsets[i]}" for i, hour in enumerate(hours)]


FALL_BACK_HOURS = _hours(
    "2026-11-01",
    {i: "-04:00" if i < 2 else "-05:00" for i in range(25)},  # 00:00 and the first 1 am: EDT
    [0, 1, *range(1, 24)],  # 1 am twice: 25 hours
)
SPRING_FORWARD_HOURS = _hours(
    "2026-03-08",
    {i: "-05:00" if i < 2 else "-04:00" for i in range(23)},  # 00:00 and 1 am: EST
    [0, 1, *range(3, 24)],  # no 2 am: 23 hours
)


def _series(starts: Sequence[str], filled: Mapping[str, Values]) -> list[tuple[str, Values]]:
    return [(start, filled.get(start, NOTHING)) for start in starts]


NY = {"timezone": NEW_YORK}
NEW_YORK_CASES = (
    DepthCase(
        "fall-back-days",
        "Local days: n1's 03:30Z start is 10-31, n3's 11-02T03:30Z start is 11-01; a visit "
        "keeps its next local day's events.",
        # n1 (2,400 s) n2 (3,600 s) n3 (6,000 s) n4 (bounce): 7 pageviews, 1/4 = 25,
        # 12,000/4 = 3,000 s, 7/4 = 1.75
        m(4, 4, 7, 7, 25, 3000, 1.75),
        {**NY, "interval": Interval.DAY},
        site=SITE_NEW_YORK,
        start=date(2026, 10, 31),
        end=date(2026, 11, 2),
        timeseries=[
            ("2026-10-31T00:00:00-04:00", m(1, 1, 1, 1, 0, 2400, 1.0)),  # n1's start
            # n1's /a, n2 x2, n3's start: visits n2 n3, 9,600/2 = 4,800 s
            ("2026-11-01T00:00:00-04:00", m(3, 2, 4, 4, 0, 4800, 2.0)),
            # n3's /d (its 11-01 visit's), n4 (a bounce)
            ("2026-11-02T00:00:00-05:00", m(2, 1, 2, 2, 100, 0, 2.0)),
        ],
    ),
    DepthCase(
        "fall-back-hours",
        "2026-11-01 has 25 local hours; the two 1 am are two buckets told apart by offset.",
        m(3, 2, 4, 4, 0, 4800, 2.0),
        {**NY, "interval": Interval.HOUR},
        site=SITE_NEW_YORK,
        start=date(2026, 11, 1),
        end=date(2026, 11, 1),
        timeseries=_series(
            FALL_BACK_HOURS,
            {
                "2026-11-01T00:00:00-04:00": m(1, 0, 1, 1, None, None, None),  # n1's /a
                "2026-11-01T01:00:00-04:00": m(1, 1, 1, 1, 0, 3600, 1.0),  # n2's start
                "2026-11-01T01:00:00-05:00": m(1, 0, 1, 1, None, None, None),  # n2's /b
                "2026-11-01T22:00:00-05:00": m(1, 1, 1, 1, 0, 6000, 1.0),  # n3's start
            },
        ),
    ),
    DepthCase(
        "spring-forward-hours",
        "2026-03-08 has 23 local hours (no 2 am); m3's 00:20 is attributed to its 03-07 start.",
        # m3's /y, m1 x2, m2: visits m1 (2,700 s) m2 (bounce): 50, 1,350 s, 4/2 = 2.0
        m(3, 2, 4, 4, 50, 1350, 2.0),
        {**NY, "interval": Interval.HOUR},
        site=SITE_NEW_YORK,
        start=date(2026, 3, 8),
        end=date(2026, 3, 8),
        timeseries=_series(
            SPRING_FORWARD_HOURS,
            {
                "2026-03-08T00:00:00-05:00": m(1, 0, 1, 1, None, None, None),  # m3's /y
                "2026-03-08T01:00:00-05:00": m(1, 1, 1, 1, 0, 2700, 1.0),  # m1's start
                "2026-03-08T03:00:00-04:00": m(1, 0, 1, 1, None, None, None),  # m1's /x
                "2026-03-08T23:00:00-04:00": m(1, 1, 1, 1, 100, 0, 1.0),  # m2 (UTC 03-09)
            },
        ),
    ),
    DepthCase(
        "spring-forward-days",
        "Local days across the spring change: m3's start (UTC 03-08) is 03-07.",
        # m3 (3,000 s) m1 (2,700 s) m2 (bounce): 1/3 = 33, 5,700/3 = 1,900 s, 5/3 = 1.67
        m(3, 3, 5, 5, 33, 1900, 1.67),
        {**NY, "interval": Interval.DAY},
        site=SITE_NEW_YORK,
        start=date(2026, 3, 7),
        end=date(2026, 3, 8),
        timeseries=[
            ("2026-03-07T00:00:00-05:00", m(1, 1, 1, 1, 0, 3000, 1.0)),
            ("2026-03-08T00:00:00-05:00", m(3, 2, 4, 4, 50, 1350, 2.0)),
        ],
    ),
    DepthCase(
        "fall-back-weeks",
        "Weeks start on local Mondays (10-26 in EDT, 11-02 in EST).",
        m(4, 4, 7, 7, 25, 3000, 1.75),
        {**NY, "interval": Interval.WEEK},
        site=SITE_NEW_YORK,
        start=date(2026, 10, 31),
        end=date(2026, 11, 2),
        timeseries=[
            # n1 x2, n2 x2, n3's start: visits n1 n2 n3, 12,000/3 = 4,000 s, 5/3 = 1.67
            ("2026-10-26T00:00:00-04:00", m(3, 3, 5, 5, 0, 4000, 1.67)),
            ("2026-11-02T00:00:00-05:00", m(2, 1, 2, 2, 100, 0, 2.0)),  # n3's /d, n4
        ],
    ),
    DepthCase(
        "fall-back-months",
        "Months start on local first days: n1's start is October's.",
        m(4, 4, 7, 7, 25, 3000, 1.75),
        {**NY, "interval": Interval.MONTH},
        site=SITE_NEW_YORK,
        start=date(2026, 10, 31),
        end=date(2026, 11, 2),
        timeseries=[
            ("2026-10-01T00:00:00-04:00", m(1, 1, 1, 1, 0, 2400, 1.0)),
            # n1's /a, n2 x2, n3 x2, n4: visits n2 n3 n4: 1/3 = 33, 9,600/3 = 3,200 s
            ("2026-11-01T00:00:00-04:00", m(4, 3, 6, 6, 33, 3200, 2.0)),
        ],
    ),
    DepthCase(
        "local-range-totals",
        "A local day's totals: 11-02 holds n3's /d (00:10 local) and n4, not n3's 03:30Z start.",
        m(2, 1, 2, 2, 100, 0, 2.0),
        NY,
        site=SITE_NEW_YORK,
        start=date(2026, 11, 2),
        end=date(2026, 11, 2),
    ),
    DepthCase(
        "utc-range-totals",
        "The same rows read in UTC: 11-02 holds n3's start too (its visit: 6,000 s).",
        # n3 (2 pv, 6,000 s) and n4 (bounce): 50, 3,000 s, 3/2 = 1.5
        m(2, 2, 3, 3, 50, 3000, 1.5),
        site=SITE_NEW_YORK,
        start=date(2026, 11, 2),
        end=date(2026, 11, 2),
    ),
)
CASES = DEPTH_CASES + NEW_YORK_CASES
