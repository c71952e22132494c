"""Enrichment of a session's first event: browser, OS, device, geo, referrer, UTM, screen.

User agents are classified by a `UserAgentParser` (ua-parser in production); geo comes from
CloudFront's viewer headers when the collect endpoint saw them, else from a `GeoLookup` of the
visitor's IP (a GeoIP2 City database) when one is configured, else stays unknown. Everything
returned is already cleaned and cut to its column; the compliance filter then removes what the
site's level does not allow.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from functools import lru_cache
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from analytics_core.domains import host_matches, request_host
from analytics_core.envelopes import Geo, RequestContext
from analytics_core.limits import (
    REFERER,
    REFERER_DOMAIN,
    SESSION_ATTRIBUTE,
    UTM,
    optional_text,
    screen_dimension,
)
from analytics_core.ports import GeoLookup
from analytics_core.user_agents import UserAgentInfo
from analytics_core.validation import Payload

UTM_FIELDS = ("source", "medium", "campaign", "content", "term")
_COUNTRY = re.compile(r"[A-Z]{2}")
_SUBDIVISION = re.compile(r"[A-Z0-9]{1,3}")


@lru_cache(maxsize=4096)
def _referrer_host(referrer: str) -> str | None:
    host = request_host(referrer)
    if host is None:
        return None
    return host.removeprefix("www.") or None


def referral(referrer: str | None, site_domains: Iterable[str]) -> tuple[str | None, str | None]:
    """(referer, referer_domain) of a session: the referrer URL as sent and its host,
    lower-case, without `www.` (None when it has no usable host). Both are None when the
    referrer is a page of the site itself (its domain or a subdomain): moving within the site
    is no referral."""
    if not referrer:
        return None, None
    host = _referrer_host(referrer)
    if host is not None and host_matches(host, site_domains):
        return None, None
    return optional_text(referrer, REFERER), None if host is None else host[:REFERER_DOMAIN]


def utm_parameters(payload: Payload) -> tuple[str | None, ...]:
    """source, medium, campaign, content, term: from `payload.utm` when it has any, else from
    the `utm_*` parameters of `payload.url`'s query string."""
    if payload.utm is not None:
        values = tuple(optional_text(payload.utm.get(name), UTM) for name in UTM_FIELDS)
        if any(values):
            return values
    if payload.url and "utm_" in payload.url:
        return _url_utm_parameters(payload.url)
    return (None,) * len(UTM_FIELDS)


@lru_cache(maxsize=512)  # campaign links repeat; parsing a query string is slow
def _url_utm_parameters(url: str) -> tuple[str | None, ...]:
    try:
        query = urlsplit(url).query
    except ValueError:  # e.g. an unbalanced bracket in the host part
        return (None,) * len(UTM_FIELDS)
    params: dict[str, str] = {}
    for key, value in parse_qsl(query):
        params.setdefault(key, value)
    return tuple(optional_text(params.get(f"utm_{name}"), UTM) for name in UTM_FIELDS)


def _screen(screen: Mapping[str, Any] | None) -> tuple[int | None, int | None]:
    if screen is None:
        return None, None
    return screen_dimension(screen.get("width")), screen_dimension(screen.get("height"))


def normalise_geo(geo: Geo) -> tuple[str | None, str | None, str | None]:
    """country (alpha-2), region (ISO-3166-2, `US-CA`), city; each None when not usable."""
    country, region, city = geo.country, geo.region, geo.city
    if _is_text_or_none(country) and _is_text_or_none(region) and _is_text_or_none(city):
        return _normalised_geo(country, region, city)  # visitors come from a few places
    return _normalise_geo(country, region, city)


def _is_text_or_none(value: object) -> bool:
    return value is None or type(value) is str


def _normalise_geo(
    raw_country: object, raw_region: object, raw_city: object
) -> tuple[str | None, str | None, str | None]:
    country = raw_country.strip().upper() if isinstance(raw_country, str) else None
    if country is None or not _COUNTRY.fullmatch(country):
        return None, None, None
    region = None
    if isinstance(raw_region, str):
        code = raw_region.strip().upper().removeprefix(f"{country}-")
        if _SUBDIVISION.fullmatch(code):
            region = f"{country}-{code}"
    return country, region, optional_text(raw_city, SESSION_ATTRIBUTE)


_normalised_geo = lru_cache(maxsize=1024)(_normalise_geo)


def locate(ctx: RequestContext, geo_lookup: GeoLookup | None) -> tuple[str | None, ...]:
    """Geo of the request: CloudFront's headers, else a lookup of the IP, else unknown."""
    if ctx.geo is not None and not ctx.geo.is_empty():
        return normalise_geo(ctx.geo)
    if ctx.ip and geo_lookup is not None:
        found = geo_lookup.lookup(ctx.ip)
        if found is not None:
            return normalise_geo(found)
    return None, None, None


SessionColumns = tuple[
    str | None,  # referer
    str | None,  # referer_domain
    str | None,  # utm_source
    str | None,  # utm_medium
    str | None,  # utm_campaign
    str | None,  # utm_content
    str | None,  # utm_term
    str | None,  # device
    str | None,  # os
    str | None,  # browser
    str | None,  # country
    str | None,  # region
    str | None,  # city
    int | None,  # screen_width
    int | None,  # screen_height
]


def session_columns(
    payload: Payload,
    ctx: RequestContext,
    site_domains: Iterable[str],
    agent: UserAgentInfo,
    geo_lookup: GeoLookup | None,
) -> SessionColumns:
    """The session columns of an initial event (before the compliance filter), in the order of
    `SESSION_COLUMNS` (the ingest loop builds rows from them positionally)."""
    referer, domain = referral(payload.referrer, site_domains)
    source, medium, campaign, content, term = utm_parameters(payload)
    country, region, city = locate(ctx, geo_lookup)
    width, height = _screen(payload.screen)
    return (
        referer,
        domain,
        source,
        medium,
        campaign,
        content,
        term,
        None if agent.device is None else agent.device.value,
        optional_text(agent.os, SESSION_ATTRIBUTE),
        optional_text(agent.browser, SESSION_ATTRIBUTE),
        country,
        region,
        city,
        width,
        height,
    )
