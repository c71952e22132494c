# ruff: noqa: B905, E501, PLR0911, PLR0917, PT018, PTH103, PTH118, PTH123, RUF005, UP017
# A copy of the team's shared generator (/work/shared/bench/dataset.py; the CI clone has no
# /work/shared), changed only by `ruff format`, so that both write byte-identical data.
"""Deterministic web-analytics dataset for the query and ingest benchmarks.

Writes two Parquet files into --out:

  initial_events.parquet  one row per session: its first event (always a pageview)
                          with the session attributes (referer, UTM, device, geo, screen)
  events.parquet          the session's later events (mostly pageviews, some custom events)

plus meta.json (parameters, date window, site ids, row counts).  The column names
follow the `initial_events` / `events` tables, so the hot store, the local cold store
and any other system can be loaded from the same files.

Same --seed and --end-date give byte-identical data.

    python dataset.py --out DIR [--events 1000000] [--days 30] [--sites 50] [--seed 42]
"""

import argparse
import datetime as dt
import json
import os
import time

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

CROCKFORD = np.frombuffer(b"0123456789ABCDEFGHJKMNPQRSTVWXYZ", dtype=np.uint8)
HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)

# ---------------------------------------------------------------- distributions

BOUNCE_SHARE = 0.45  # sessions with a single pageview
MAX_EVENTS_PER_SESSION = 10
MAX_SESSION_SECONDS = 20 * 60

COUNTRIES = [  # (ISO2, weight, [(ISO 3166-2 region, [cities])])
    (
        "US",
        28,
        [
            ("US-CA", ["San Francisco", "Los Angeles", "San Jose"]),
            ("US-NY", ["New York", "Brooklyn"]),
            ("US-TX", ["Austin", "Dallas", "Houston"]),
            ("US-WA", ["Seattle"]),
            ("US-IL", ["Chicago"]),
            ("US-MA", ["Boston"]),
        ],
    ),
    (
        "DE",
        8,
        [
            ("DE-BE", ["Berlin"]),
            ("DE-BY", ["Munich", "Nuremberg"]),
            ("DE-HH", ["Hamburg"]),
            ("DE-NW", ["Cologne", "Düsseldorf"]),
        ],
    ),
    (
        "GB",
        7,
        [("GB-ENG", ["London", "Manchester", "Bristol"]), ("GB-SCT", ["Edinburgh", "Glasgow"])],
    ),
    (
        "IN",
        6.5,
        [
            ("IN-KA", ["Bengaluru"]),
            ("IN-MH", ["Mumbai", "Pune"]),
            ("IN-DL", ["New Delhi"]),
            ("IN-TG", ["Hyderabad"]),
        ],
    ),
    ("FR", 4.5, [("FR-IDF", ["Paris"]), ("FR-ARA", ["Lyon"]), ("FR-OCC", ["Toulouse"])]),
    (
        "CA",
        4,
        [("CA-ON", ["Toronto", "Ottawa"]), ("CA-BC", ["Vancouver"]), ("CA-QC", ["Montreal"])],
    ),
    ("NL", 3, [("NL-NH", ["Amsterdam"]), ("NL-ZH", ["Rotterdam", "The Hague"])]),
    ("BR", 3, [("BR-SP", ["São Paulo"]), ("BR-RJ", ["Rio de Janeiro"])]),
    ("ES", 2.5, [("ES-MD", ["Madrid"]), ("ES-CT", ["Barcelona"])]),
    ("IT", 2.5, [("IT-25", ["Milan"]), ("IT-62", ["Rome"])]),
    ("PL", 2, [("PL-14", ["Warsaw"]), ("PL-12", ["Kraków"])]),
    ("SE", 2, [("SE-AB", ["Stockholm"]), ("SE-O", ["Gothenburg"])]),
    ("AU", 2, [("AU-NSW", ["Sydney"]), ("AU-VIC", ["Melbourne"])]),
    ("JP", 2, [("JP-13", ["Tokyo"]), ("JP-27", ["Osaka"])]),
    ("CH", 1.2, [("CH-ZH", ["Zurich"]), ("CH-GE", ["Geneva"])]),
    ("BE", 1.1, [("BE-BRU", ["Brussels"]), ("BE-VAN", ["Antwerp"])]),
    ("AT", 1, [("AT-9", ["Vienna"])]),
    ("MX", 1, [("MX-CMX", ["Mexico City"])]),
    ("DK", 0.9, [("DK-84", ["Copenhagen"])]),
    ("TR", 0.9, [("TR-34", ["Istanbul"])]),
    ("UA", 0.9, [("UA-30", ["Kyiv"])]),
    ("NO", 0.8, [("NO-03", ["Oslo"])]),
    ("FI", 0.8, [("FI-18", ["Helsinki"])]),
    ("IE", 0.8, [("IE-D", ["Dublin"])]),
    ("PT", 0.8, [("PT-11", ["Lisbon"]), ("PT-13", ["Porto"])]),
    ("CZ", 0.8, [("CZ-10", ["Prague"])]),
    ("SG", 0.8, [("SG-01", ["Singapore"])]),
    ("KR", 0.8, [("KR-11", ["Seoul"])]),
    ("AR", 0.7, [("AR-C", ["Buenos Aires"])]),
    ("IL", 0.7, [("IL-TA", ["Tel Aviv"])]),
]
GEO_UNKNOWN_COUNTRY = 0.005  # no country at all
GEO_UNKNOWN_CITY = 0.03  # country known, region and city not

DEVICES = [("desktop", 0.56), ("mobile", 0.40), ("tablet", 0.04)]
OS_BY_DEVICE = {
    "desktop": [("Windows", 0.58), ("Mac OS X", 0.30), ("Linux", 0.08), ("Chrome OS", 0.04)],
    "mobile": [("iOS", 0.55), ("Android", 0.45)],
    "tablet": [("iOS", 0.70), ("Android", 0.30)],
}
BROWSER_BY_OS = {
    "Windows": [("Chrome", 0.66), ("Edge", 0.20), ("Firefox", 0.10), ("Opera", 0.04)],
    "Mac OS X": [("Chrome", 0.52), ("Safari", 0.38), ("Firefox", 0.07), ("Edge", 0.03)],
    "Linux": [("Chrome", 0.55), ("Firefox", 0.40), ("Chromium", 0.05)],
    "Chrome OS": [("Chrome", 1.0)],
    "iOS": [("Mobile Safari", 0.85), ("Chrome Mobile iOS", 0.12), ("Firefox iOS", 0.03)],
    "Android": [
        ("Chrome Mobile", 0.78),
        ("Samsung Internet", 0.15),
        ("Firefox Mobile", 0.04),
        ("Opera Mobile", 0.03),
    ],
}
SCREENS = {
    "desktop": [
        ((1920, 1080), 0.35),
        ((1536, 864), 0.15),
        ((1440, 900), 0.12),
        ((2560, 1440), 0.12),
        ((1366, 768), 0.10),
        ((1680, 1050), 0.06),
        ((3840, 2160), 0.05),
        ((1280, 800), 0.05),
    ],
    "mobile": [
        ((390, 844), 0.25),
        ((393, 873), 0.15),
        ((414, 896), 0.15),
        ((375, 667), 0.10),
        ((412, 915), 0.15),
        ((360, 800), 0.12),
        ((430, 932), 0.08),
    ],
    "tablet": [((810, 1080), 0.30), ((820, 1180), 0.30), ((768, 1024), 0.25), ((800, 1280), 0.15)],
}

# referer_domain for sessions without UTM; None = direct / no referrer
REFERRERS = [
    (None, 38),
    ("google.com", 24),
    ("news.ycombinator.com", 6),
    ("t.co", 5),
    ("reddit.com", 4),
    ("github.com", 4),
    ("linkedin.com", 3),
    ("bing.com", 2),
    ("duckduckgo.com", 2),
    ("facebook.com", 2),
    ("stackoverflow.com", 1.5),
    ("youtube.com", 1.5),
    ("producthunt.com", 1.5),
    ("dev.to", 1),
    ("medium.com", 1),
]
LONG_TAIL_REFERRERS = [
    "substack.com",
    "lobste.rs",
    "indiehackers.com",
    "chatgpt.com",
    "perplexity.ai",
    "ecosia.org",
    "search.brave.com",
    "startpage.com",
    "qwant.com",
    "mastodon.social",
    "bsky.app",
    "instagram.com",
    "pinterest.com",
    "quora.com",
    "en.wikipedia.org",
    "hashnode.com",
    "dzone.com",
    "alternativeto.net",
    "g2.com",
    "capterra.com",
    "betalist.com",
    "techcrunch.com",
    "theverge.com",
    "baidu.com",
    "yandex.ru",
] + [f"blog-{i}.example.net" for i in range(1, 36)]
LONG_TAIL_SHARE = 4  # same unit as the REFERRERS weights

UTM_SHARE = 0.12
CAMPAIGNS = [  # (weight, source, medium, campaign, contents, terms, referer_domain)
    (3.0, "newsletter", "email", "weekly-digest", [None, "header", "footer"], [None], None),
    (2.0, "twitter", "social", "launch-week", ["thread", "pinned"], [None], "t.co"),
    (
        3.0,
        "google",
        "cpc",
        "brand-search",
        ["ad-a", "ad-b"],
        ["web analytics", "privacy analytics", "analytics dashboard"],
        "google.com",
    ),
    (1.5, "linkedin", "social", "q4-webinar", [None], [None], "linkedin.com"),
    (1.0, "producthunt", "referral", "ph-launch", [None], [None], "producthunt.com"),
    (
        1.0,
        "partner",
        "referral",
        "integration-guide",
        ["sidebar", "inline"],
        [None],
        "blog-1.example.net",
    ),
    (1.5, "facebook", "paid-social", "retargeting", ["carousel", "video"], [None], "facebook.com"),
]

# later events: mostly pageviews, some custom events with string-valued properties
CUSTOM_EVENT_SHARE = 0.12
CUSTOM_EVENTS = [  # (name, weight, property key, values)
    ("click", 5, "button", ["cta-hero", "nav-pricing", "footer-newsletter", "cta-docs"]),
    (
        "outbound",
        2.5,
        "url",
        [
            "https://github.com/example/sdk",
            "https://twitter.com/example",
            "https://discord.gg/example",
        ],
    ),
    ("signup", 2, "plan", ["free", "pro", "team"]),
    ("download", 1.5, "file", ["whitepaper.pdf", "sdk-1.4.2.tar.gz", "pricing.pdf"]),
    ("purchase", 1, "plan", ["pro", "team", "enterprise"]),
]
AB_TEST_SHARE = 0.03  # initial pageviews carrying {"ab_test": ...}

# ------------------------------------------------------------------- helpers


def pick(rng, items, n):
    """n draws from [(value, weight), ...] -> index array."""
    w = np.array([x[1] for x in items], dtype=float)
    return rng.choice(len(items), size=n, p=w / w.sum())


def zipf_weights(n, s):
    w = 1.0 / np.arange(1, n + 1) ** s
    return w / w.sum()


def ulid_strings(ms, rng):
    """ULIDs (Crockford base32: 48-bit ms time + 80 random bits) for an int64 ms array."""
    n = len(ms)
    out = np.empty((n, 26), dtype=np.uint8)
    t = ms.astype(np.uint64)
    for i in range(10):
        out[:, i] = CROCKFORD[((t >> np.uint64(5 * (9 - i))) & np.uint64(31)).astype(np.intp)]
    out[:, 10:] = CROCKFORD[rng.integers(0, 32, size=(n, 16))]
    return pa.array(out.view("S26").ravel()).cast(pa.string())


def uuid4_strings(n, rng):
    """Random (version 4) UUID strings, as a browser's crypto.randomUUID() makes them."""
    b = rng.integers(0, 256, size=(n, 16), dtype=np.uint8)
    b[:, 6] = (b[:, 6] & 0x0F) | 0x40
    b[:, 8] = (b[:, 8] & 0x3F) | 0x80
    hexed = np.empty((n, 32), dtype=np.uint8)
    hexed[:, 0::2] = HEX[b >> 4]
    hexed[:, 1::2] = HEX[b & 15]
    out = np.full((n, 36), ord("-"), dtype=np.uint8)
    for src, dst in (
        (slice(0, 8), slice(0, 8)),
        (slice(8, 12), slice(9, 13)),
        (slice(12, 16), slice(14, 18)),
        (slice(16, 20), slice(19, 23)),
        (slice(20, 32), slice(24, 36)),
    ):
        out[:, dst] = hexed[:, src]
    return pa.array(out.view("S36").ravel()).cast(pa.string())


def pathnames(rng):
    """~290 paths in two orders: landing popularity and in-site navigation popularity."""
    core = [
        "/",
        "/pricing",
        "/features",
        "/docs",
        "/blog",
        "/about",
        "/signup",
        "/login",
        "/changelog",
        "/integrations",
        "/customers",
        "/contact",
        "/security",
        "/compare",
        "/faq",
        "/demo",
        "/careers",
        "/status",
        "/privacy",
        "/terms",
    ]
    words = [
        "privacy",
        "analytics",
        "cookie",
        "gdpr",
        "dashboard",
        "metrics",
        "postgres",
        "tracking",
        "funnel",
        "retention",
        "seo",
        "growth",
        "lambda",
        "serverless",
        "bounce",
        "rate",
    ]
    blog = sorted({f"/blog/{words[i % 16]}-{words[(i * 7 + 3) % 16]}-{i}" for i in range(140)})
    sections = ["getting-started", "api", "guides", "integrations", "self-hosting"]
    docs = [f"/docs/{s}/topic-{j}" for s in sections for j in range(1, 21)]
    integ = [
        f"/integrations/{x}"
        for x in [
            "wordpress",
            "shopify",
            "nextjs",
            "gatsby",
            "hugo",
            "webflow",
            "ghost",
            "django",
            "rails",
            "laravel",
            "vue",
            "react",
            "svelte",
            "astro",
            "remix",
            "nuxt",
            "angular",
            "wix",
            "squarespace",
            "framer",
        ]
    ]
    compare = [
        f"/compare/{x}"
        for x in [
            "google-analytics",
            "matomo",
            "fathom",
            "simple-analytics",
            "umami",
            "plausible",
            "posthog",
            "mixpanel",
            "amplitude",
            "heap",
        ]
    ]
    rest = list(rng.permutation(core[1:] + blog + docs + integ + compare))
    landing = ["/"] + rest  # "/" gets a fixed share, the rest Zipf over a shuffled order
    navigation = core + list(rng.permutation(docs)) + list(rng.permutation(blog)) + integ + compare
    return landing, navigation


def referer_url(domain, rng):
    if domain == "news.ycombinator.com":
        return f"https://news.ycombinator.com/item?id={rng.integers(38_000_000, 42_000_000)}"
    if domain == "t.co":
        return "https://t.co/" + "".join(
            rng.choice(list("abcdefghijkmnopqrstuvwxyzABCDEFGH0123456789"), 10)
        )
    if domain == "reddit.com":
        sub = ["programming", "webdev", "selfhosted", "privacy", "analytics"][rng.integers(0, 5)]
        return f"https://www.reddit.com/r/{sub}/comments/{rng.integers(10**5, 10**6):x}/"
    if domain == "github.com":
        return f"https://github.com/{['awesome', 'example', 'opensource'][rng.integers(0, 3)]}/list"
    if domain in ("google.com", "bing.com", "linkedin.com", "facebook.com", "youtube.com"):
        return f"https://www.{domain}/"
    if domain.startswith("blog-"):
        return f"https://{domain}/posts/{rng.integers(1, 200)}"
    return f"https://{domain}/"


# ------------------------------------------------------------------- generator


def generate(n_events, days, n_sites, seed, end_date, big_share=0.40):
    rng = np.random.default_rng(seed)
    start_date = end_date - dt.timedelta(days=days - 1)
    start_ms = int(dt.datetime.combine(start_date, dt.time(), dt.timezone.utc).timestamp() * 1000)
    end_ms = start_ms + days * 86_400_000 - 1  # last ms of end_date

    # sites: ULIDs minted some time during the year before the window; site 0 is the big one
    created = (
        start_ms
        - rng.integers(30, 365, size=n_sites) * 86_400_000
        - rng.integers(0, 86_400_000, n_sites)
    )
    site_ids = ulid_strings(created, rng).to_pylist()
    share = np.empty(n_sites)
    share[0] = big_share
    share[1:] = zipf_weights(n_sites - 1, 1.1) * (1 - big_share) if n_sites > 1 else []

    # sessions: 45% single pageview, otherwise 2..10 events with a decaying tail
    lens_2_10 = np.arange(2, MAX_EVENTS_PER_SESSION + 1)
    p_2_10 = 0.72 ** (lens_2_10 - 2)
    p_2_10 /= p_2_10.sum()
    mean_len = BOUNCE_SHARE + (1 - BOUNCE_SHARE) * (lens_2_10 * p_2_10).sum()
    draw = int(n_events / mean_len * 1.1) + 100
    lens = np.where(rng.random(draw) < BOUNCE_SHARE, 1, rng.choice(lens_2_10, size=draw, p=p_2_10))
    cum = np.cumsum(lens)
    n_sess = int(np.searchsorted(cum, n_events) + 1)
    lens = lens[:n_sess].copy()
    lens[-1] -= int(cum[n_sess - 1] - n_events)  # trim the last session to hit n_events exactly
    assert lens.sum() == n_events and lens.min() >= 1

    sess_site = rng.choice(n_sites, size=n_sess, p=share)

    # session start: weekday/weekend + slight growth per day, diurnal curve peaking ~15:00 UTC
    day_idx = np.arange(days)
    weekday = np.array([(start_date + dt.timedelta(days=int(d))).weekday() for d in day_idx])
    day_w = np.where(weekday >= 5, 0.75, 1.0) * (1 + 0.005 * day_idx)
    hour_w = 0.3 + 0.7 * (0.5 - 0.5 * np.cos(2 * np.pi * (np.arange(24) - 3) / 24))
    sess_day = rng.choice(days, size=n_sess, p=day_w / day_w.sum())
    sess_hour = rng.choice(24, size=n_sess, p=hour_w / hour_w.sum())
    sess_start = (
        start_ms
        + sess_day * 86_400_000
        + sess_hour * 3_600_000
        + rng.integers(0, 3_600_000, n_sess)
    )

    # events of each session: gaps ~ lognormal (median ~35 s), session capped at 20 minutes
    first_of = np.concatenate([[0], np.cumsum(lens)[:-1]])
    ev_sess = np.repeat(np.arange(n_sess), lens)
    ev_pos = np.arange(n_events) - first_of[ev_sess]  # 0 = initial event
    gaps = np.clip(rng.lognormal(np.log(35_000), 1.0, n_events), 2_000, 600_000)
    gaps[ev_pos == 0] = 0
    offsets = np.cumsum(gaps) - np.repeat(np.cumsum(gaps)[first_of], lens)
    duration = offsets[first_of + lens - 1]
    scale = np.minimum(1.0, MAX_SESSION_SECONDS * 1000 / np.maximum(duration, 1))
    offsets = np.round(offsets * scale[ev_sess]).astype(np.int64)
    duration = offsets[first_of + lens - 1]
    sess_start -= np.maximum(0, sess_start + duration - end_ms)  # keep whole sessions in the window
    ev_ts = sess_start[ev_sess] + offsets

    # pages and event names
    landing, navigation = pathnames(rng)
    land_p = np.concatenate([[0.25], zipf_weights(len(landing) - 1, 1.05) * 0.75])
    ev_path_idx = rng.choice(len(navigation), size=n_events, p=zipf_weights(len(navigation), 1.15))
    ev_path = np.array(navigation, dtype=object)[ev_path_idx]
    ev_path[first_of] = np.array(landing, dtype=object)[
        rng.choice(len(landing), size=n_sess, p=land_p)
    ]
    ev_name = np.full(n_events, "pageview", dtype=object)
    ev_props = np.full(n_events, None, dtype=object)
    is_custom = (ev_pos > 0) & (rng.random(n_events) < CUSTOM_EVENT_SHARE)
    custom_idx = np.nonzero(is_custom)[0]
    kinds = pick(rng, [(c[0], c[1]) for c in CUSTOM_EVENTS], len(custom_idx))
    vals = rng.integers(0, 1000, len(custom_idx))
    for i, k, v in zip(custom_idx, kinds, vals):
        name, _, key, values = CUSTOM_EVENTS[k]
        ev_name[i] = name
        ev_props[i] = json.dumps({key: values[v % len(values)]})
    ab = np.nonzero(rng.random(n_sess) < AB_TEST_SHARE)[0]
    for s in ab:
        ev_props[first_of[s]] = json.dumps({"ab_test": "variant_" + "ab"[s % 2]})

    # session attributes (initial event only)
    dev = pick(rng, DEVICES, n_sess)
    device = np.array([d[0] for d in DEVICES], dtype=object)[dev]
    os_ = np.empty(n_sess, dtype=object)
    browser = np.empty(n_sess, dtype=object)
    sw = np.zeros(n_sess, dtype=np.int16)
    sh = np.zeros(n_sess, dtype=np.int16)
    for dname, _ in DEVICES:
        m = np.nonzero(device == dname)[0]
        oss = OS_BY_DEVICE[dname]
        os_[m] = np.array([o[0] for o in oss], dtype=object)[pick(rng, oss, len(m))]
        scr = SCREENS[dname]
        si = pick(rng, scr, len(m))
        sw[m] = np.array([s[0][0] for s in scr])[si]
        sh[m] = np.array([s[0][1] for s in scr])[si]
    for oname, brs in BROWSER_BY_OS.items():
        m = np.nonzero(os_ == oname)[0]
        browser[m] = np.array([b[0] for b in brs], dtype=object)[pick(rng, brs, len(m))]

    ci = pick(rng, [(c[0], c[1]) for c in COUNTRIES], n_sess)
    country = np.array([c[0] for c in COUNTRIES], dtype=object)[ci]
    region = np.empty(n_sess, dtype=object)
    city = np.empty(n_sess, dtype=object)
    r1, r2 = rng.random(n_sess), rng.random(n_sess)
    for s in range(n_sess):
        regions = COUNTRIES[ci[s]][2]
        reg, cities = regions[min(int(r1[s] ** 1.6 * len(regions)), len(regions) - 1)]
        region[s], city[s] = reg, cities[min(int(r2[s] ** 1.6 * len(cities)), len(cities) - 1)]
    no_city = rng.random(n_sess) < GEO_UNKNOWN_CITY
    region[no_city] = None
    city[no_city] = None
    no_country = rng.random(n_sess) < GEO_UNKNOWN_COUNTRY
    country[no_country] = region[no_country] = city[no_country] = None

    utm = {
        k: np.full(n_sess, None, dtype=object)
        for k in ("source", "medium", "campaign", "content", "term")
    }
    ref_domain = np.full(n_sess, None, dtype=object)
    has_utm = rng.random(n_sess) < UTM_SHARE
    u_idx = np.nonzero(has_utm)[0]
    camp = pick(rng, [(c[1], c[0]) for c in CAMPAIGNS], len(u_idx))
    for s, c in zip(u_idx, camp):
        _, src, med, name, contents, terms, rdom = CAMPAIGNS[c]
        utm["source"][s], utm["medium"][s], utm["campaign"][s] = src, med, name
        utm["content"][s] = contents[s % len(contents)]
        utm["term"][s] = terms[s % len(terms)]
        ref_domain[s] = rdom
    o_idx = np.nonzero(~has_utm)[0]
    ref_items = REFERRERS + [("__tail__", LONG_TAIL_SHARE)]
    ri = pick(rng, ref_items, len(o_idx))
    tail = rng.choice(
        len(LONG_TAIL_REFERRERS), size=len(o_idx), p=zipf_weights(len(LONG_TAIL_REFERRERS), 1.0)
    )
    for s, r, t in zip(o_idx, ri, tail):
        d = ref_items[r][0]
        ref_domain[s] = LONG_TAIL_REFERRERS[t] if d == "__tail__" else d
    referer = np.array(
        [None if d is None else referer_url(d, rng) for d in ref_domain], dtype=object
    )

    # ids
    sess_id = uuid4_strings(n_sess, rng)
    ev_uid = ulid_strings(ev_ts, rng)
    site_arr = pa.array(site_ids)

    def ts_col(ms):
        return pa.array(ms, type=pa.int64()).cast(pa.timestamp("ms", tz="UTC"))

    def dt_col(ms):
        return pa.array((ms // 86_400_000).astype(np.int32), type=pa.int32()).cast(pa.date32())

    init_ts = ev_ts[first_of]
    initial = pa.table(
        {
            "site_id": site_arr.take(pa.array(sess_site)),
            "session_id": sess_id,
            "event_uid": ev_uid.take(pa.array(first_of)),
            "timestamp": ts_col(init_ts),
            "dt": dt_col(init_ts),
            "event": pa.array(ev_name[first_of], type=pa.string()),
            "pathname": pa.array(ev_path[first_of], type=pa.string()),
            "properties": pa.array(ev_props[first_of], type=pa.string()),
            "referer": pa.array(referer, type=pa.string()),
            "referer_domain": pa.array(ref_domain, type=pa.string()),
            "utm_source": pa.array(utm["source"], type=pa.string()),
            "utm_medium": pa.array(utm["medium"], type=pa.string()),
            "utm_campaign": pa.array(utm["campaign"], type=pa.string()),
            "utm_content": pa.array(utm["content"], type=pa.string()),
            "utm_term": pa.array(utm["term"], type=pa.string()),
            "device": pa.array(device, type=pa.string()),
            "os": pa.array(os_, type=pa.string()),
            "browser": pa.array(browser, type=pa.string()),
            "country": pa.array(country, type=pa.string()),
            "region": pa.array(region, type=pa.string()),
            "city": pa.array(city, type=pa.string()),
            "screen_width": pa.array(sw, type=pa.int16()),
            "screen_height": pa.array(sh, type=pa.int16()),
        }
    )
    later = np.nonzero(ev_pos > 0)[0]
    events = pa.table(
        {
            "site_id": site_arr.take(pa.array(sess_site[ev_sess[later]])),
            "session_id": sess_id.take(pa.array(ev_sess[later])),
            "event_uid": ev_uid.take(pa.array(later)),
            "timestamp": ts_col(ev_ts[later]),
            "dt": dt_col(ev_ts[later]),
            "event": pa.array(ev_name[later], type=pa.string()),
            "pathname": pa.array(ev_path[later], type=pa.string()),
            "properties": pa.array(ev_props[later], type=pa.string()),
        }
    )
    # rows arrive in time order, as an ingest pipeline would write them
    initial = initial.take(pa.array(np.argsort(init_ts, kind="stable")))
    events = events.take(pa.array(np.argsort(ev_ts[later], kind="stable")))

    events_per_site = np.bincount(sess_site, weights=lens, minlength=n_sites).astype(int)
    meta = {
        "seed": seed,
        "events_total": int(n_events),
        "days": days,
        "start_date": start_date.isoformat(),
        "end_date": end_date.isoformat(),
        "big_site_id": site_ids[0],
        "sites": [
            {"site_id": s, "domain": f"site{i:02d}.example.com", "events": int(e)}
            for i, (s, e) in enumerate(zip(site_ids, events_per_site))
        ],
        "rows": {"initial_events": initial.num_rows, "events": events.num_rows},
        "bounce_sessions": int((lens == 1).sum()),
    }
    return initial, events, meta


def main():
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--out", required=True, help="output folder (keep it outside the repo)")
    ap.add_argument("--events", type=int, default=1_000_000, help="total events (initial + later)")
    ap.add_argument("--days", type=int, default=30)
    ap.add_argument("--sites", type=int, default=50)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument(
        "--end-date",
        type=dt.date.fromisoformat,
        default=dt.datetime.now(dt.timezone.utc).date(),
        help="last day of the window, YYYY-MM-DD (default: today, UTC)",
    )
    args = ap.parse_args()

    t0 = time.perf_counter()
    initial, events, meta = generate(args.events, args.days, args.sites, args.seed, args.end_date)
    os.makedirs(args.out, exist_ok=True)
    for name, table in (("initial_events", initial), ("events", events)):
        pq.write_table(
            table,
            os.path.join(args.out, f"{name}.parquet"),
            compression="zstd",
            row_group_size=131_072,
        )
    with open(os.path.join(args.out, "meta.json"), "w") as f:
        json.dump(meta, f, indent=1)

    big = meta["sites"][0]
    print(f"window      {meta['start_date']} .. {meta['end_date']} ({args.days} days, UTC)")
    print(
        f"initial_events rows  {meta['rows']['initial_events']:>9,}  (= sessions; "
        f"{meta['bounce_sessions'] / meta['rows']['initial_events']:.0%} single-pageview)"
    )
    print(f"events rows          {meta['rows']['events']:>9,}")
    print(f"total events         {meta['events_total']:>9,}")
    print(
        f"big site    {big['site_id']}  ({big['events']:,} events, {big['events'] / args.events:.1%})"
    )
    print(f"written to  {args.out}  in {time.perf_counter() - t0:.1f} s")


if __name__ == "__main__":
    main()
