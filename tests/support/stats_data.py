"""Datasets for the stats tests: a small hand-built one with hand-computed answers, and a
seeded generated one for the differential test between stores.

The hand-built site (range 2026-11-10 .. 2026-11-11, a Tuesday and a Wednesday):

    s1  US desktop google.com   11-10 10:00:00 initial pageview /      then pageview /pricing
                                10:00:30 and click /pricing 10:01:00    -> 3 events, 2 pageviews,
                                                                           visit of 60 s
    s2  DE mobile  (direct)     11-10 12:00:00 initial pageview /       -> a bounce, 0 s
    s3  US mobile  news.yc...   11-10 23:50:00 initial pageview /blog, pageview /blog/x at
                                11-11 00:10:00 (spans midnight)         -> visit of 1,200 s
    s4  FR desktop              11-09 23:55:00 initial (before the range), pageview /about
                                11-10 00:05:00                          -> a visitor, no visit
    s5  (no initial event)      11-11 09:00:00 pageview /docs           -> a visitor, no visit
    s6  GB desktop              11-11 22:00:00 initial pageview /, pageview /pricing
                                11-12 00:30:00 (after the range)        -> visit of 9,000 s with
                                                                           2 pageviews
    and site B (another site): one session on 11-10, never in site A's answers.

Totals: events 9, pageviews 8, visitors 6, visits 4 (s1 s2 s3 s6), bounce rate 25 (s2),
visit duration (60 + 0 + 1,200 + 9,000) / 4 = 2,565 s, views per visit 8 / 4 = 2.0.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import attrs

from analytics_core.rows import EventRow, InitialEventRow

SITE_A = "01JDQ7ZK3M000000000000SA01"
SITE_B = "01JDQ7ZK3M000000000000SB02"
HAND_START = date(2026, 11, 10)
HAND_END = date(2026, 11, 11)


def _at(day: int, hour: int, minute: int, second: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, second, tzinfo=UTC)


def _event(
    uid: str,
    session: str,
    moment: datetime,
    path: str,
    name: str = "pageview",
    *,
    site: str = SITE_A,
) -> EventRow:
    return EventRow(uid, site, session, moment, moment.date(), name, path, None)


def _initial(
    uid: str, session: str, moment: datetime, path: str, *, site: str = SITE_A, **attributes: Any
) -> InitialEventRow:
    return InitialEventRow(
        uid, site, session, moment, moment.date(), "pageview", path, None, **attributes
    )


HAND_INITIAL_EVENTS = (
    _initial(
        "01JDQ7ZK3M0000000000000I01",
        "s1",
        _at(10, 10, 0),
        "/",
        country="US",
        device="desktop",
        referer_domain="google.com",
        browser="Chrome",
    ),
    _initial(
        "01JDQ7ZK3M0000000000000I02",
        "s2",
        _at(10, 12, 0),
        "/",
        country="DE",
        device="mobile",
        browser="Mobile Safari",
    ),
    _initial(
        "01JDQ7ZK3M0000000000000I03",
        "s3",
        _at(10, 23, 50),
        "/blog",
        country="US",
        device="mobile",
        referer_domain="news.ycombinator.com",
        browser="Chrome Mobile",
    ),
    _initial(
        "01JDQ7ZK3M0000000000000I04",
        "s4",
        _at(9, 23, 55),
        "/",
        country="FR",
        device="desktop",
        browser="Firefox",
    ),
    _initial(
        "01JDQ7ZK3M0000000000000I06",
        "s6",
        _at(11, 22, 0),
        "/",
        country="GB",
        device="desktop",
        browser="Chrome",
    ),
    _initial(
        "01JDQ7ZK3M0000000000000I07",
        "s1",
        _at(10, 11, 0),
        "/",
        site=SITE_B,
        country="US",
        device="desktop",
    ),
)
HAND_EVENTS = (
    _event("01JDQ7ZK3M0000000000000E01", "s1", _at(10, 10, 0, 30), "/pricing"),
    _event("01JDQ7ZK3M0000000000000E02", "s1", _at(10, 10, 1), "/pricing", "click"),
    _event("01JDQ7ZK3M0000000000000E03", "s3", _at(11, 0, 10), "/blog/x"),
    _event("01JDQ7ZK3M0000000000000E04", "s4", _at(10, 0, 5), "/about"),
    _event("01JDQ7ZK3M0000000000000E05", "s5", _at(11, 9, 0), "/docs"),
    _event("01JDQ7ZK3M0000000000000E06", "s6", _at(12, 0, 30), "/pricing"),
    _event("01JDQ7ZK3M0000000000000E07", "s1", _at(10, 11, 5), "/", site=SITE_B),
)


# ---------------------------------------------------------------- generated dataset


@attrs.frozen
class Dataset:
    """Rows of a generated dataset, its sites and its date window."""

    events: tuple[EventRow, ...]
    initial_events: tuple[InitialEventRow, ...]
    sites: tuple[str, ...]
    first_day: date
    last_day: date


PATHS = ["/", "/pricing", "/docs", "/blog/é-accents", "/A", "/a", "/about", "/signup"]
NAMES = ["pageview"] * 6 + ["click", "signup", "Pageview"]
COUNTRIES = ["US", "DE", "GB", "FR", None]
REGIONS = {"US": ["US-CA", "US-NY"], "DE": ["DE-NW", "DE-BE"], "GB": ["GB-ENG"], "FR": [None]}
CITIES = {
    "US-CA": ["San José"],
    "US-NY": ["New York"],
    "DE-NW": ["Düsseldorf", "Köln"],
    "DE-BE": ["Berlin"],
    "GB-ENG": ["London"],
}
DEVICES = ["desktop", "mobile", "tablet", None]
BROWSERS = ["Chrome", "chrome", "Firefox", "Mobile Safari", "Édge", None]
OSES = ["Windows", "Mac OS X", "iOS", "Android", None]
REFERERS = [None, None, "google.com", "news.ycombinator.com", "t.co", "Zürich.example"]
UTM = [
    None,
    None,
    None,
    ("newsletter", "email", "weekly"),
    ("google", "cpc", "brand"),
    ("twitter", "social", None),
]


PROPERTIES: list[dict[str, Any] | None] = [
    None,
    None,
    {"plan": "pro"},
    {"plan": "Pro", "seats": 3},
    {"plan": "free", "seats": -12, "trial": True},
    {"trial": False, "price": 9.5},
    {"seats": 2.0, "plan": "PRO plan"},
    {"nested": {"plan": "pro"}, "tags": ["a", "b"]},
    {"plan": None, "a.b": "dotted", "Plan": "upper-case key"},
    {"plan": "Ünïcode", "seats": 9_223_372_036_854_775_807},
    {"plan": "1", "seats": "1"},
    {"plan": "İstanbul PRO"},  # İ lowers to two code points in Python
]
"""Event properties: strings, integers (64-bit extremes), booleans, floats (fractional or
not), nulls, nested values, keys with a dot, keys differing by case."""
GOAL = "purchase"


def _properties(rng: random.Random) -> dict[str, Any] | None:
    chosen = rng.choice(PROPERTIES)
    return None if chosen is None else dict(chosen)


def generate(
    seed: int = 7,
    *,
    sites: int = 4,
    days: int = 60,
    sessions: int = 1800,
    first_day: date = date(2026, 9, 1),
    site_tag: str = "G",
) -> Dataset:
    """A seeded dataset with the shapes the definitions care about: sessions spanning
    midnight, initial events missing or arriving late in time, two initial events in one
    session, session ids reused on later days, the same session id on two sites, null and
    non-ASCII values, values differing only by case; event properties of every JSON type and
    a few goal events (`GOAL`), drawn from a second generator so that the rest stays as it
    was. Sites are `01JDQ7ZK3M0000000000000<site_tag><nn>`; the tag is in the uids too, so
    that datasets of different tags can share a store."""
    rng = random.Random(seed)
    extra = random.Random(seed * 7919 + 1)
    site_ids = tuple(f"01JDQ7ZK3M0000000000000{site_tag}{n:02d}" for n in range(sites))
    events: list[EventRow] = []
    initial: list[InitialEventRow] = []
    counter = iter(range(1, 10**9))

    # Uids unique across datasets of different tags (the default one's as they always were).
    uid_tag = "0" if site_tag == "G" else site_tag

    def uid() -> str:
        return f"01JDQ7ZK3M{uid_tag}{next(counter):015d}"

    for number in range(sessions):
        site = rng.choices(site_ids, weights=[50, 30, 15, 5][:sites] + [5] * max(0, sites - 4))[0]
        session_id = f"sess-{number % 1700}"  # a few ids repeat, some on other sites
        day = first_day + timedelta(days=rng.randrange(days))
        if rng.random() < 0.08:
            start = datetime(
                day.year,
                day.month,
                day.day,
                23,
                rng.randrange(40, 60),
                rng.randrange(60),
                tzinfo=UTC,
            )
        else:
            start = datetime(
                day.year,
                day.month,
                day.day,
                rng.randrange(24),
                rng.randrange(60),
                rng.randrange(60),
                tzinfo=UTC,
            ) + timedelta(milliseconds=rng.randrange(1000))
        country = rng.choice(COUNTRIES)
        region = rng.choice(REGIONS.get(country, [None])) if country else None
        city = rng.choice(CITIES.get(region, [None])) if region else None
        utm = rng.choice(UTM)
        attributes: dict[str, Any] = {
            "country": country,
            "region": region,
            "city": city,
            "device": rng.choice(DEVICES),
            "browser": rng.choice(BROWSERS),
            "os": rng.choice(OSES),
            "referer_domain": rng.choice(REFERERS),
        }
        if utm is not None:
            attributes.update(
                utm_source=utm[0],
                utm_medium=utm[1],
                utm_campaign=utm[2],
                utm_content=rng.choice([None, "a"]),
                utm_term=rng.choice([None, "privacy analytics"]),
            )
        length = 1 if rng.random() < 0.4 else rng.randrange(2, 9)
        moments = [start]
        for _ in range(length - 1):
            moments.append(
                moments[-1]
                + timedelta(seconds=rng.randrange(2, 900), milliseconds=rng.randrange(1000))
            )
        if rng.random() < 0.04:  # the same session id again some days later
            later = moments[-1] + timedelta(days=rng.randrange(1, 6), hours=rng.randrange(5))
            moments += [later, later + timedelta(seconds=40)]
        has_initial = rng.random() < 0.85
        for position, moment in enumerate(moments):
            path = rng.choice(PATHS)
            name = "pageview" if position == 0 else rng.choice(NAMES)
            if position == 0 and has_initial:
                skew = timedelta(seconds=rng.choice([0, 0, 0, 5])) if length > 1 else timedelta()
                when = moment + skew  # sometimes stamped after the session's next event
                drawn = rng.choice([None, {"ab": "x"}])
                properties = _properties(extra)
                if drawn is not None:
                    properties = {**drawn, **(properties or {})}
                initial.append(
                    InitialEventRow(
                        uid(),
                        site,
                        session_id,
                        when,
                        when.date(),
                        name,
                        path,
                        properties,
                        **attributes,
                    )
                )
            else:
                if position > 0 and extra.random() < 0.03:
                    name = GOAL
                events.append(
                    EventRow(
                        uid(),
                        site,
                        session_id,
                        moment,
                        moment.date(),
                        name,
                        path,
                        _properties(extra),
                    )
                )
        if has_initial and rng.random() < 0.03:  # a second initial event in the same session
            when = moments[-1] + timedelta(seconds=30)
            initial.append(
                InitialEventRow(
                    uid(),
                    site,
                    session_id,
                    when,
                    when.date(),
                    "pageview",
                    "/",
                    _properties(extra),
                    **attributes,
                )
            )
    last_day = first_day + timedelta(days=days - 1)
    return Dataset(tuple(events), tuple(initial), site_ids, first_day, last_day)


def shuffled_batches(
    dataset: Dataset, seed: int, batches: int
) -> Iterator[tuple[list[EventRow], list[InitialEventRow]]]:
    """The rows in a random order, cut into random batches (an initial event may come after
    its session's events, in another batch); a few rows are delivered twice."""
    rng = random.Random(seed)
    rows: list[EventRow] = [*dataset.events, *dataset.initial_events]
    rows += rng.sample(rows, len(rows) // 50)  # redeliveries
    rng.shuffle(rows)
    cuts = sorted(rng.sample(range(1, len(rows)), batches - 1))
    for low, high in zip([0, *cuts], [*cuts, len(rows)], strict=True):
        part = rows[low:high]
        yield (
            [r for r in part if not isinstance(r, InitialEventRow)],
            [r for r in part if isinstance(r, InitialEventRow)],
        )
