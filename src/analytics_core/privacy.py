"""The compliance filter: what a site's compliance level lets us keep of an event.

| field                 | 0 (required)             | 1 (maybe)                | 2 (not required) |
|-----------------------|--------------------------|--------------------------|------------------|
| client IP, user agent | never stored             | never stored             | never stored     |
| session_id            | HMAC with the daily salt | as sent                  | as sent          |
| country               | kept                     | kept                     | kept             |
| region                | null                     | kept                     | kept             |
| city                  | null                     | null                     | kept             |
| referer (full URL)    | null (domain kept)       | without query, fragment  | kept             |
| pathname              | without query, fragment  | without query, fragment  | kept             |
| properties            | e-mails, IPs redacted    | e-mails, IPs redacted    | kept             |
| every other free text | e-mails, IPs redacted    | e-mails, IPs redacted    | kept             |

The IP address and the raw user agent never reach a row at any level: enrichment reads them
and keeps only the country/region/city and browser/os/device derived from them.

At levels 0 and 1 no e-mail address or IP address (v4 or v6) is stored in any text: each
pathname segment, the event name, the referrer and its domain, every UTM value (from the body
or the page URL), the browser and OS names, property keys and values. In pathnames, referrers,
event names and UTM values each such piece (a path segment, a query value; percent-encoded or
not) becomes "[redacted]" and the rest is kept; a property key or value that holds one is
replaced whole; a level-1 session id that holds one is stored as its level-0 hash instead.
The rule is checked on the stored result: a text that still looks personal after its pieces
were redacted is replaced whole.

The salt of level 0 is random, one per UTC day (the day of the stored event), created on first
use and deleted two days later (`expire_salts`, run by the daily maintenance); once it is gone
nobody, us included, can link a stored session id back to the id the visitor's browser sent.
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
from collections.abc import Callable, Mapping
from datetime import date, timedelta
from functools import lru_cache
from typing import Any
from urllib.parse import unquote_plus

from analytics_core.ports import Clock, DailySalts
from analytics_core.sites import ComplianceLevel

SALT_BYTES = 32
SALT_KEEP_DAYS = 2
"""A day's salt is deleted once the day is this many days in the past (today's and
yesterday's are kept, so that late deliveries of yesterday's events still link up)."""
SESSION_HASH_CHARS = 32  # 128 bits of the HMAC-SHA256, in hex
REDACTED = "[redacted]"

_EMAIL = re.compile(r"[^\s@]+@[^\s@]+\.[^\s@]+")
_IPV4 = re.compile(r"(?<![\d.])(?:\d{1,3}\.){3}\d{1,3}(?![\d.])")
_IPV6_RUN = re.compile(r"[0-9A-Fa-f:.]{2,}")  # linear: maximal runs, checked one by one


_SHA256_BLOCK = 64
_INNER_PAD = bytes(byte ^ 0x36 for byte in range(256))  # each key byte XOR ipad
_OUTER_PAD = bytes(byte ^ 0x5C for byte in range(256))  # each key byte XOR opad


def session_hasher(salt: bytes) -> Callable[[str, str], str]:
    """The level-0 session id for the day of `salt`: (site id, session id) -> HMAC-SHA256 of
    their concatenation keyed by the salt (RFC 2104). The keyed inner and outer hashes are set
    up once and copied per call: half the time of copying a keyed `hmac` object, and level-0
    sites hash every event."""
    key = hashlib.sha256(salt).digest() if len(salt) > _SHA256_BLOCK else salt
    key = key.ljust(_SHA256_BLOCK, b"\0")
    inner_keyed = hashlib.sha256(key.translate(_INNER_PAD))
    outer_keyed = hashlib.sha256(key.translate(_OUTER_PAD))

    def hashed(site_id: str, session_id: str) -> str:
        # A site id is a fixed-length ULID, so the concatenation is unambiguous.
        inner = inner_keyed.copy()
        inner.update((site_id + session_id).encode("utf-8"))
        outer = outer_keyed.copy()
        outer.update(inner.digest())
        return outer.hexdigest()[:SESSION_HASH_CHARS]

    return hashed


def hash_session(salt: bytes, site_id: str, session_id: str) -> str:
    """One level-0 session id (see `session_hasher`)."""
    return session_hasher(salt)(site_id, session_id)


def without_query(url: str) -> str:
    """`url` cut at its query string or fragment, whichever comes first."""
    if "?" not in url and "#" not in url:
        return url
    cut = len(url)
    for separator in "?#":
        position = url.find(separator)
        if 0 <= position < cut:
            cut = position
    return url[:cut]


def _is_ip(candidate: str) -> bool:
    try:
        ipaddress.ip_address(candidate.strip(".:"))
    except ValueError:
        try:
            ipaddress.ip_address(candidate)
        except ValueError:
            return False
    return True


@lru_cache(maxsize=8192)
def looks_personal(value: str) -> bool:
    """Whether `value` contains something that looks like an e-mail or an IP address."""
    if "@" in value and _EMAIL.search(value):
        return True
    if "." in value and any(_is_ip(m.group()) for m in _IPV4.finditer(value)):
        return True
    return ":" in value and any(
        m.group().count(":") >= 2 and _is_ip(m.group()) for m in _IPV6_RUN.finditer(value)
    )


# What separates the pieces of a URL or a text: an e-mail or an IP address lies within one.
_PIECES = re.compile(r"([/?&=#;,|\s]+)")
# Something@something: an address even without a dot (and what a cut-off address leaves).
_AT_SIGN = re.compile(r"[^\s@]@[^\s@]")


def _personal_piece(piece: str) -> bool:
    if _AT_SIGN.search(piece) or looks_personal(piece):
        return True
    if "%" in piece or "+" in piece:
        decoded = unquote_plus(piece)
        return decoded != piece and (
            _AT_SIGN.search(decoded) is not None or looks_personal(decoded)
        )
    return False


def _still_personal(text: str) -> bool:
    if looks_personal(text):
        return True
    return ("%" in text or "+" in text) and looks_personal(unquote_plus(text))


@lru_cache(maxsize=16384)
def _redacted(text: str) -> str:
    pieces = _PIECES.split(text)
    changed = False
    for index in range(0, len(pieces), 2):  # the separators are at the odd positions
        piece = pieces[index]
        if piece and _personal_piece(piece):
            pieces[index] = REDACTED
            changed = True
    result = "".join(pieces) if changed else text
    return REDACTED if _still_personal(result) else result


def redact_text(text: str) -> str:
    """`text` with each piece that holds an e-mail or an IP address replaced by "[redacted]"
    (a piece is what lies between `/ ? & = # ; , |` and white space, read percent-decoded too);
    the whole text when it still looks personal after that."""
    if "@" not in text and "." not in text and ":" not in text and "%" not in text:
        return text  # no address of any kind can be in it (most texts: without a call)
    return _redacted(text)


def is_personal(text: str) -> bool:
    """Whether `text` holds something `redact_text` would remove."""
    return redact_text(text) != text


def redact_properties(properties: Mapping[str, Any]) -> dict[str, Any]:
    """`properties` with every key and string value that holds an e-mail or an IP address
    replaced whole by "[redacted]"."""
    return {
        (REDACTED if is_personal(key) else key): (
            REDACTED if isinstance(value, str) and is_personal(value) else value
        )
        for key, value in properties.items()
    }


def filter_properties(
    level: ComplianceLevel, properties: Mapping[str, Any] | None
) -> Mapping[str, Any] | None:
    """The properties to store at `level`."""
    if properties is None or level is ComplianceLevel.NOT_REQUIRED:
        return properties
    return redact_properties(properties)


def filter_text(level: ComplianceLevel, text: str | None) -> str | None:
    """A free text (event name, UTM value, referrer domain, browser or OS name) to store at
    `level`: e-mails and IP addresses redacted below level 2."""
    if text is None or level is ComplianceLevel.NOT_REQUIRED:
        return text
    return redact_text(text)


def filter_pathname(level: ComplianceLevel, pathname: str) -> str:
    """The pathname to store at `level`."""
    if level is ComplianceLevel.NOT_REQUIRED:
        return pathname
    return redact_text(without_query(pathname) or "/")


def filter_referer(level: ComplianceLevel, referer: str | None) -> str | None:
    """The full referrer URL to store at `level`."""
    if referer is None or level is ComplianceLevel.NOT_REQUIRED:
        return referer
    if level is ComplianceLevel.REQUIRED:
        return None
    return redact_text(without_query(referer)) or None


def filter_region(level: ComplianceLevel, region: str | None) -> str | None:
    """The region to store at `level`."""
    return None if level is ComplianceLevel.REQUIRED else region


def filter_city(level: ComplianceLevel, city: str | None) -> str | None:
    """The city to store at `level`."""
    return city if level is ComplianceLevel.NOT_REQUIRED else None


def salt_cutoff(today: date) -> date:
    """Salts of days before this one must be gone."""
    return today - timedelta(days=SALT_KEEP_DAYS - 1)


def expire_salts(salts: DailySalts, clock: Clock) -> int:
    """Delete the salts that are two days old or more; returns how many were deleted."""
    return salts.delete_before(salt_cutoff(clock().date()))
