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
from typing import Any

import attrs

from analytics_core.domains import host_matches, request_host
from analytics_core.envelopes import RequestContext
from analytics_core.ids import is_ulid
from analytics_core.limits import clean_text, finite_number

MAX_CLOCK_SKEW = timedelta(hours=24)
_MAX_CLOCK_SKEW_MS = MAX_CLOCK_SKEW.total_seconds() * 1000
# Longer texts than this are cut before any other work; the column limits are all shorter.
_MAX_INPUT_TEXT = 4096


class EventKind(StrEnum):
    """`initial` marks the first event of a session (stored in `initial_events`)."""

    INITIAL = "initial"
    EVENT = "event"


_KINDS: dict[object, EventKind] = {kind.value: kind for kind in EventKind}


@attrs.frozen
class Payload:
    """A tracker body whose shape has been checked; texts cleaned."""

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
    return clean_text(value, _MAX_INPUT_TEXT)


def _mapping(value: object) -> Mapping[str, Any] | None:
    return value if isinstance(value, Mapping) else None


def parse_payload(payload: Mapping[str, Any]) -> Payload | None:
    """The checked body, or None when it is malformed (a required field missing or wrong)."""
    kind_name = payload.get("type")
    kind = _KINDS.get(kind_name) if isinstance(kind_name, str) else None
    if kind is None:
        return None
    session_id = _text(payload.get("session_id"))
    event = _text(payload.get("event"))
    pathname = _text(payload.get("pathname"))
    if not session_id or not event or pathname is None:
        return None
    return Payload(
        kind=kind,
        session_id=session_id,
        event=event,
        pathname=pathname or "/",
        timestamp_ms=finite_number(payload.get("timestamp")),
        properties=_mapping(payload.get("properties")),
        referrer=_text(payload.get("referrer")),
        url=_text(payload.get("url")),
        utm=_mapping(payload.get("utm")),
        screen=_mapping(payload.get("screen")),
    )


def event_time(timestamp_ms: float | None, received_at: datetime) -> datetime:
    """The time to store: the client's, unless absent or more than 24 h from `received_at`."""
    if timestamp_ms is None:
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
