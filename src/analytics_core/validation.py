"""Checks of one tracker request: site id, where it came from, the shape of its body, its time.

The body (`payload`) is the tracker's JSON as sent, so its shape is checked here field by
field: the required fields (`type`, `session_id`, `event`, `pathname`) make a record malformed
when missing or of the wrong type; an optional field of the wrong type is ignored, so that a
tracker bug in, say, `screen` does not lose the pageview. Texts come out cleaned (no NUL, no
lone surrogates) but not yet cut: the compliance filter works on the whole text first.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from functools import lru_cache
from typing import Any, NamedTuple

from analytics_core.domains import host_matches, request_host
from analytics_core.envelopes import RequestContext
from analytics_core.ids import is_ulid
from analytics_core.limits import clean_text, finite_number

MAX_CLOCK_SKEW = timedelta(hours=24)
_MAX_CLOCK_SKEW_MS = MAX_CLOCK_SKEW.total_seconds() * 1000
# Epoch milliseconds beyond this (the year 5138) are nobody's clock. Comparing first keeps the
# arithmetic total: an integer of 400 digits minus a float would raise OverflowError.
_MAX_TIMESTAMP_MS = 10**14
# Longer texts than this are cut before any other work; the column limits are all shorter.
_MAX_INPUT_TEXT = 4096


class EventKind(StrEnum):
    """`initial` marks the first event of a session (stored in `initial_events`)."""

    INITIAL = "initial"
    EVENT = "event"


_KINDS: dict[object, EventKind] = {kind.value: kind for kind in EventKind}


class Payload(NamedTuple):
    """A tracker body whose shape has been checked; texts cleaned.

    A named tuple rather than a frozen attrs class: one is made for every record of a batch,
    and a tuple is made in a third of the time.
    """

    kind: EventKind
    session_id: str
    event: str
    pathname: str
    timestamp_ms: float | None = None
    properties: Mapping[str, Any] | None = None
    referrer: str | None = None
    url: str | None = None
    utm: Mapping[str, Any] | None = None
    screen: Mapping[str, Any] | None = None


def is_site_id(value: str) -> bool:
    """Whether `value` can be a site id (a canonical ULID)."""
    return is_ulid(value)


def _text(value: object) -> str | None:
    if not isinstance(value, str):
        return None
    if value.isascii() and "\x00" not in value and len(value) <= _MAX_INPUT_TEXT:
        return value  # nothing to clean or cut (the common case, without a call)
    return clean_text(value, _MAX_INPUT_TEXT)


def _mapping(value: object) -> Mapping[str, Any] | None:
    return value if type(value) is dict or isinstance(value, Mapping) else None


def parse_payload(payload: Mapping[str, Any]) -> Payload | None:
    """The checked body, or None when it is malformed (a required field missing or wrong)."""
    get = payload.get
    kind_name = get("type")
    kind = _KINDS.get(kind_name) if isinstance(kind_name, str) else None
    if kind is None:
        return None
    session_id = _text(get("session_id"))
    event = _text(get("event"))
    pathname = _text(get("pathname"))
    if not session_id or not event or pathname is None:
        return None
    properties, referrer, url = get("properties"), get("referrer"), get("url")
    utm, screen = get("utm"), get("screen")
    # Positional arguments, in field order: cheaper than keywords.
    # Optional fields are mostly absent: None is None without a call.
    return Payload(
        kind,
        session_id,
        event,
        pathname or "/",
        finite_number(get("timestamp")),
        None if properties is None else _mapping(properties),
        None if referrer is None else _text(referrer),
        None if url is None else _text(url),
        None if utm is None else _mapping(utm),
        None if screen is None else _mapping(screen),
    )


def event_time(timestamp_ms: float | None, received_at: datetime) -> datetime:
    """The time to store: the client's, unless absent or more than 24 h from `received_at`.

    Total over every number: an integer of any size, a negative or fractional one."""
    if timestamp_ms is None or not -_MAX_TIMESTAMP_MS < timestamp_ms < _MAX_TIMESTAMP_MS:
        return received_at
    received_ms = received_at.timestamp() * 1000
    if abs(timestamp_ms - received_ms) > _MAX_CLOCK_SKEW_MS:
        return received_at
    # Whole milliseconds, like the tracker's clock and `received_at`.
    return datetime.fromtimestamp(round(timestamp_ms) / 1000, UTC)


@lru_cache(maxsize=4096)
def _host(value: str) -> str | None:
    host = request_host(value)
    return None if host == "null" else host  # `Origin: null` (sandboxed or file pages)


def request_origin_host(ctx: RequestContext) -> str | None:
    """The host the request came from: `ctx.origin`'s, else `ctx.referer`'s."""
    if ctx.origin:
        host = _host(ctx.origin)
        if host is not None:
            return host
    return _host(ctx.referer) if ctx.referer else None


def domain_allowed(ctx: RequestContext, domains: Iterable[str]) -> bool:
    """Whether the request came from one of the site's domains or a subdomain of one
    (case-insensitive, port and trailing dot ignored, IDN compared in punycode)."""
    host = request_origin_host(ctx)
    return host is not None and host_matches(host, domains)
