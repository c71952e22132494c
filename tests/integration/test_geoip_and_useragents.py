"""Enrichment adapters against the real libraries: ua-parser on real user agents, and a GeoIP2
City database written by the test with mmdb-writer."""

from __future__ import annotations

from pathlib import Path

import attrs
import pytest
from mmdb_writer import MMDBWriter
from netaddr import IPSet
from tests.support.ingest import envelope, payload
from tests.support.world import World

from adapters.config import Settings
from adapters.geoip import GeoIP2CityLookup
from adapters.useragents import UaParserUserAgents, build_parser
from analytics_core.envelopes import Geo
from analytics_core.errors import ConfigurationError
from analytics_core.sites import ComplianceLevel
from analytics_core.user_agents import DeviceType, UserAgentInfo
from entrypoints import bootstrap

D, M, T = DeviceType.DESKTOP, DeviceType.MOBILE, DeviceType.TABLET
BOT = UserAgentInfo(is_bot=True)

# (user agent, expected classification): desktop, mobile, tablet and bot traffic as seen in
# real logs (most from the traffic sample in bench/data/user_agents.tsv).
USER_AGENTS: list[tuple[str, UserAgentInfo]] = [
    (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/125.0.0.0 Safari/537.36",
        UserAgentInfo("Chrome", "Windows", D),
    ),
    (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36 Edg/120.0.0.0",
        UserAgentInfo("Edge", "Windows", D),
    ),
    (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:120.0) Gecko/20100101 Firefox/120.0",
        UserAgentInfo("Firefox", "Windows", D),
    ),
    (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/129.0.0.0 Safari/537.36 OPR/114.0.0.0",
        UserAgentInfo("Opera", "Windows", D),
    ),
    (
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 13_6_1) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Safari/605.1.15",
        UserAgentInfo("Safari", "Mac OS X", D),
    ),
    (
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/119.0.0.0 Safari/537.36",
        UserAgentInfo("Chrome", "Mac OS X", D),
    ),
    (
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5; rv:118.0) Gecko/20100101 Firefox/118.0",
        UserAgentInfo("Firefox", "Mac OS X", D),
    ),
    (
        "Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0",
        UserAgentInfo("Firefox", "Ubuntu", D),
    ),
    (
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/118.0.0.0 Safari/537.36",
        UserAgentInfo("Chrome", "Linux", D),
    ),
    (
        "Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/129.0.0.0 Safari/537.36",
        UserAgentInfo("Chrome", "Chrome OS", D),
    ),
    (
        "Mozilla/5.0 (compatible; MSIE 9.0; Windows NT 6.1; Trident/5.0)",
        UserAgentInfo("IE", "Windows", D),
    ),
    (
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1",
        UserAgentInfo("Mobile Safari", "iOS", M),
    ),
    (
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/129.0.6668.69 Mobile/15E148 Safari/604.1",
        UserAgentInfo("Chrome Mobile iOS", "iOS", M),
    ),
    (
        "Mozilla/5.0 (Linux; Android 10; moto g(60)) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/129.0.6723.58 Mobile Safari/537.36",
        UserAgentInfo("Chrome Mobile", "Android", M),
    ),
    (
        "Mozilla/5.0 (Linux; Android 14; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/26.0 Chrome/121.0.0.0 Mobile Safari/537.36",
        UserAgentInfo("Samsung Internet", "Android", M),
    ),
    (
        "Mozilla/5.0 (Android 14; Mobile; rv:121.0) Gecko/121.0 Firefox/121.0",
        UserAgentInfo("Firefox Mobile", "Android", M),
    ),
    (
        "Mozilla/5.0 (Linux; Android 14; Pixel 8 Build/AP2A.240805.005; wv) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/129.0.6668.70 Mobile Safari/537.36",
        UserAgentInfo("Chrome Mobile WebView", "Android", M),
    ),
    (
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 Instagram 334.0.4.32.98 (iPhone15,3; iOS 17_5; en_US; en; scale=3.00; 1290x2796; 606374404)",
        UserAgentInfo("Instagram", "iOS", M),
    ),
    (
        "Mozilla/5.0 (iPod touch; CPU iPhone OS 15_8 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/15.6 Mobile/15E148 Safari/604.1",
        UserAgentInfo("Mobile Safari", "iOS", M),
    ),
    (
        "Mozilla/5.0 (Windows Phone 10.0; Android 6.0.1; Microsoft; Lumia 950) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/52.0.2743.116 Mobile Safari/537.36 Edge/15.14977",
        UserAgentInfo("Edge Mobile", "Windows Phone", M),
    ),
    (
        "Mozilla/5.0 (iPad; CPU OS 17_6_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.6 Mobile/15E148 Safari/604.1",
        UserAgentInfo("Mobile Safari", "iOS", T),
    ),
    (
        "Mozilla/5.0 (iPad; CPU OS 18_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.0 Mobile/15E148 Safari/604.1",
        UserAgentInfo("Mobile Safari", "iOS", T),
    ),
    (
        "Mozilla/5.0 (Linux; Android 13; SM-X710) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
        UserAgentInfo("Chrome", "Android", T),
    ),
    (
        "Mozilla/5.0 (Linux; Android 12; SM-T870) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/23.0 Chrome/115.0.0.0 Safari/537.36",
        UserAgentInfo("Samsung Internet", "Android", T),
    ),
    (
        "Mozilla/5.0 (Linux; Android 11; KFTRWI) AppleWebKit/537.36 (KHTML, like Gecko) Silk/120.3.1 like Chrome/120.0.6099.230 Safari/537.36",
        UserAgentInfo("Amazon Silk", "Android", T),
    ),
    (
        "Mozilla/5.0 (Android 14; Tablet; rv:121.0) Gecko/121.0 Firefox/121.0",
        UserAgentInfo("Firefox Mobile", "Android", T),
    ),
    ("Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", BOT),
    (
        "Mozilla/5.0 (Linux; Android 6.0.1; Nexus 5X Build/MMB29P) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/129.0.6668.70 Mobile Safari/537.36 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
        BOT,
    ),
    ("Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)", BOT),
    (
        "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; GPTBot/1.2; +https://openai.com/gptbot)",
        BOT,
    ),
    ("Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)", BOT),
    (
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/13.1.1 Safari/605.1.15 (Applebot/0.1; +http://www.apple.com/go/applebot)",
        BOT,
    ),
    ("Mozilla/5.0 (compatible; YandexBot/3.0; +http://yandex.com/bots)", BOT),
    ("DuckDuckBot/1.1; (+http://duckduckgo.com/duckduckbot.html)", BOT),
    ("facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)", BOT),
    ("Twitterbot/1.0", BOT),
    ("Mozilla/5.0 (compatible; SemrushBot/7~bl; +http://www.semrush.com/bot.html)", BOT),
    ("curl/8.5.0", BOT),
    ("Wget/1.21.4", BOT),
    ("python-requests/2.32.3", BOT),
    ("Go-http-client/1.1", BOT),
    ("okhttp/4.12.0", BOT),
    ("Apache-HttpClient/4.5.14 (Java/17)", BOT),
    ("python-httpx/0.27.0", BOT),
    ("node-fetch/1.0", BOT),
    (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/129.0.0.0 Safari/537.36",
        BOT,
    ),
    (
        "Mozilla/5.0 (Unknown; Linux x86_64) AppleWebKit/538.1 (KHTML, like Gecko) PhantomJS/2.1.1 Safari/538.1",
        BOT,
    ),
    (
        "Mozilla/5.0 (Linux; Android 11; moto g power (2022)) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/125.0.0.0 Mobile Safari/537.36 Chrome-Lighthouse",
        BOT,
    ),
    ("Mozilla/5.0", BOT),
    ("", BOT),
    ("   ", BOT),
]


@pytest.fixture(scope="module")
def user_agents() -> UaParserUserAgents:
    return UaParserUserAgents(build_parser())


@pytest.mark.parametrize(("user_agent", "expected"), USER_AGENTS, ids=range(len(USER_AGENTS)))
def test_real_user_agents_are_classified(
    user_agents: UaParserUserAgents, user_agent: str, expected: UserAgentInfo
) -> None:
    """Browser, OS and device type of real browsers; spiders, tools, headless and empty are bots."""
    assert user_agents.parse(user_agent) == expected


def test_the_table_covers_every_kind() -> None:
    """At least 30 user agents, with desktop, mobile, tablet and bot traffic all present."""
    assert len(USER_AGENTS) >= 30
    kinds = {info.device for _, info in USER_AGENTS} | {info.is_bot for _, info in USER_AGENTS}
    assert kinds >= {D, M, T, True}


@pytest.fixture(scope="module")
def city_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small City database: one German and one US network (IPv4 in an IPv6 tree), one IPv6."""
    writer = MMDBWriter(6, "GeoIP2-City", languages=["en"], ipv4_compatible=True)
    writer.insert_network(
        IPSet(["81.2.69.0/24"]),
        {
            "country": {"iso_code": "DE", "names": {"en": "Germany"}},
            "subdivisions": [
                {"iso_code": "BY", "names": {"en": "Bavaria"}},
                {"iso_code": "09162", "names": {"en": "Upper Bavaria"}},
            ],
            "city": {"names": {"en": "Munich", "de": "München"}},
        },
    )
    writer.insert_network(
        IPSet(["2001:db8:1::/48"]),
        {
            "country": {"iso_code": "US", "names": {"en": "United States"}},
            "subdivisions": [{"iso_code": "CA", "names": {"en": "California"}}],
            "city": {"names": {"en": "San Francisco"}},
        },
    )
    writer.insert_network(IPSet(["198.51.100.0/24"]), {"country": {"iso_code": "NL"}})
    path = tmp_path_factory.mktemp("geoip") / "city.mmdb"
    writer.to_db_file(str(path))
    return path


def test_geoip_lookups(city_db: Path) -> None:
    """Country, first-level subdivision and English city name; unknown, private and malformed
    addresses are None."""
    lookup = GeoIP2CityLookup.from_path(str(city_db))
    try:
        assert lookup.lookup("81.2.69.160") == Geo("DE", "BY", "Munich")
        assert lookup.lookup("2001:db8:1::7") == Geo("US", "CA", "San Francisco")
        assert lookup.lookup("198.51.100.9") == Geo("NL", None, None)
        assert lookup.lookup("203.0.113.1") is None
        assert lookup.lookup("10.0.0.1") is None
        assert lookup.lookup("not an ip") is None
    finally:
        lookup.close()


def test_geoip_feeds_enrichment_when_cloudfront_gave_nothing(city_db: Path) -> None:
    """Through bootstrap (GEOIP_CITY_DB): an initial event without viewer headers is located by
    its IP; with viewer headers CloudFront wins."""
    world = World()
    world.add_site(level=ComplianceLevel.NOT_REQUIRED)
    services = bootstrap.build(Settings(geoip_city_db=str(city_db)))
    world.ports = attrs.evolve(world.ports, geo=services.geo)
    world.process(
        [
            envelope(1, payload("initial"), ip="81.2.69.160", geo=None),
            envelope(
                2, payload("initial"), ip=None, geo={"country": "AT", "region": "9", "city": "Wien"}
            ),
        ]
    )
    located = {
        row.event_uid: (row.country, row.region, row.city)
        for row in world.store.initial_events.values()
    }
    assert sorted(located.values()) == [("AT", "AT-9", "Wien"), ("DE", "DE-BY", "Munich")]


def test_a_bad_geoip_setting_stops_the_cold_start(tmp_path: Path) -> None:
    """A missing file or a file that is not a City database is a ConfigurationError."""
    with pytest.raises(ConfigurationError, match="GEOIP_CITY_DB"):
        bootstrap.build(Settings(geoip_city_db=str(tmp_path / "missing.mmdb"))).geo  # noqa: B018
    junk = tmp_path / "junk.mmdb"
    junk.write_bytes(b"not a database")
    with pytest.raises(ConfigurationError, match="GEOIP_CITY_DB"):
        bootstrap.build(Settings(geoip_city_db=str(junk))).geo  # noqa: B018
