"""User agents read with ua-parser (`UserAgentParser`).

ua-parser's Rust backend (`ua-parser-rs`) is used when installed, with ua-parser's own LRU
cache in front, and our classification is cached again per string: real traffic repeats a few
hundred user agents, so nearly every call is a dictionary hit (FACTS: pure Python 1.5k
parses/s, Rust 74k/s, Rust + cache ~600k/s, our cache millions/s). The parser is built on first
use, not at import, to keep the handler's cold start short.

Classification:
- bot: ua-parser's device family `Spider` (search engines, crawlers, link expanders, many HTTP
  libraries), a known HTTP tool or library family (curl, Wget, python-requests, Go-http-client,
  okhttp, ...), a headless browser (HeadlessChrome, PhantomJS, Lighthouse), or a string in which
  ua-parser finds neither an OS nor a device (no browser sends one);
- device: tablet (iPad, Kindle, Android tablets, which omit `Mobile`, "Tablet" in the string),
  mobile (iPhone, iPod, Android phones, other phone OSes, "Mobi" in the string), else desktop;
- browser and OS: ua-parser's families (`Chrome`, `Mobile Safari`, `Mac OS X`, ...), without
  versions; None when unknown.
"""

from __future__ import annotations

import importlib.util
import threading
from functools import lru_cache
from typing import Any

from analytics_core.limits import SESSION_ATTRIBUTE, replace_surrogates
from analytics_core.user_agents import BOT, DeviceType, UserAgentInfo

TOOL_FAMILIES = frozenset(
    {
        "curl",
        "Wget",
        "Python Requests",
        "Python-urllib",
        "Python aiohttp",
        "Go-http-client",
        "Java",
        "okhttp",
        "Apache-HttpClient",
        "libwww-perl",
        "PostmanRuntime",
        "axios",
        "HTTPClient",
        "Scrapy",
        "PhantomJS",
        "HeadlessChrome",
    }
)
_HEADLESS_MARKERS = ("headless", "phantomjs", "lighthouse", "puppeteer", "playwright")
_MOBILE_OS = frozenset({"iOS", "Windows Phone", "Symbian OS", "BlackBerry OS", "KaiOS"})
_UNKNOWN = "Other"
PARSER_CACHE_SIZE = 2000
CLASSIFICATION_CACHE_SIZE = 4096


def build_parser() -> Any:
    """ua-parser with the fastest available backend and its LRU cache (a `ua_parser.Parser`;
    imported here, on first use, to keep ua-parser out of the cold start)."""
    from ua_parser import (  # noqa: PLC0415
        BasicResolver,
        CachingResolver,
        Parser,
        load_builtins,
        load_lazy_builtins,
    )
    from ua_parser.caching import Lru  # noqa: PLC0415

    if importlib.util.find_spec("ua_parser_rs") is not None:
        from ua_parser.regex import Resolver  # noqa: PLC0415  # only when the backend exists

        return Parser(CachingResolver(Resolver(load_lazy_builtins()), Lru(PARSER_CACHE_SIZE)))
    return Parser(CachingResolver(BasicResolver(load_builtins()), Lru(PARSER_CACHE_SIZE)))


def _family(part: Any) -> str | None:
    family = getattr(part, "family", None)
    if not isinstance(family, str) or not family or family == _UNKNOWN:
        return None
    return family[:SESSION_ATTRIBUTE]


def _device_type(user_agent: str, os_family: str | None, device: Any) -> DeviceType:
    family = getattr(device, "family", None) or ""
    brand = getattr(device, "brand", None) or ""
    if (
        family == "iPad"
        or family.startswith("Kindle")
        or family == "Generic Tablet"
        or brand == "Generic_Android_Tablet"
        or "Tablet" in user_agent
    ):
        return DeviceType.TABLET
    if (
        family in {"iPhone", "iPod", "Generic Smartphone", "Generic Feature Phone"}
        or os_family in _MOBILE_OS
        or "Mobi" in user_agent
    ):
        return DeviceType.MOBILE
    if os_family == "Android":  # Android tablets are the ones without "Mobile"
        return DeviceType.TABLET
    return DeviceType.DESKTOP


def classify(user_agent: str, result: Any) -> UserAgentInfo:
    """Our reading of ua-parser's `Result` for `user_agent` (see the module docstring)."""
    device = result.device
    browser = _family(result.user_agent)
    os_family = _family(result.os)
    if device is not None and device.family == "Spider":
        return BOT
    if browser in TOOL_FAMILIES:
        return BOT
    lowered = user_agent.lower()
    if any(marker in lowered for marker in _HEADLESS_MARKERS):
        return BOT
    if result.os is None and device is None:
        return BOT
    return UserAgentInfo(
        browser=browser, os=os_family, device=_device_type(user_agent, os_family, device)
    )


class UaParserUserAgents:
    """`UserAgentParser` over ua-parser, cached per user agent string; thread-safe."""

    def __init__(self, parser: Any = None) -> None:
        self._parser = parser
        self._lock = threading.Lock()
        self._cached = lru_cache(maxsize=CLASSIFICATION_CACHE_SIZE)(self._classify)

    def _get_parser(self) -> Any:
        if self._parser is None:
            with self._lock:
                if self._parser is None:
                    self._parser = build_parser()
        return self._parser

    def parse(self, user_agent: str) -> UserAgentInfo:
        """The classification of `user_agent` (an empty one is a bot)."""
        return self._cached(user_agent)

    def _classify(self, user_agent: str) -> UserAgentInfo:
        if not user_agent.strip():
            return BOT
        # A lone surrogate (an escape in the record's JSON) cannot cross into the Rust parser.
        user_agent = replace_surrogates(user_agent)
        return classify(user_agent, self._get_parser().parse(user_agent))
