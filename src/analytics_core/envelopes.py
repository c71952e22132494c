"""The envelope: what the collect endpoint hands to processIngest for one tracker request.

One envelope travels as one Firehose record (JSON; the edges convert it, see
`entrypoints.envelopes`). It carries the tracker's body untouched (`payload`, checked only in
processIngest, where the site's configuration is known) and what the collect endpoint saw of
the request (`ctx`). The visitor's IP address is in `ctx.ip` only when CloudFront gave no geo
headers, since the GeoIP fallback is its only use; it is never stored.

These values are named tuples rather than frozen attrs classes: processIngest makes three for
every record of a batch, and a tuple is made in a third of the time. Immutable all the same;
unlike attrs instances, they compare equal to plain tuples of the same values.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, NamedTuple, Protocol

ENVELOPE_VERSION = 1
MAX_ENVELOPE_BYTES = 1_000 * 1024  # Firehose's record limit
MAX_BODY_BYTES = 16 * 1024  # what the collect endpoint accepts from a tracker


class Geo(NamedTuple):
    """Where a visitor is: ISO-3166-1 alpha-2 country, first-level subdivision code
    (without the country prefix, as CloudFront and GeoIP2 give it), English city name."""

    country: str | None = None
    region: str | None = None
    city: str | None = None

    def is_empty(self) -> bool:
        """Whether nothing at all is known."""
        return self.country is None and self.region is None and self.city is None


class RequestContext(NamedTuple):
    """What the collect endpoint saw of the tracker's request, beyond its body."""

    ip: str | None = None
    user_agent: str | None = None
    origin: str | None = None
    referer: str | None = None
    geo: Geo | None = None


class Envelope(NamedTuple):
    """One tracker request as it reaches processIngest."""

    uid: str
    site_id: str
    received_at: datetime
    payload: Mapping[str, Any]
    ctx: RequestContext
    v: int = ENVELOPE_VERSION


class EnvelopeRecord(Protocol):
    """A batch's record whose envelope is decoded on demand.

    The site it names is known at once, so that a batch's sites can be looked up and locked
    before any row is built; the rest of its checks run when the batch gets to the record,
    while the database is storing the rows before it. (`process_batch` takes a decoded
    `Envelope` as well.)
    """

    @property
    def site_id(self) -> str:
        """The site the record names (not checked: `envelope()` may still find it malformed)."""
        ...

    def envelope(self) -> Envelope | None:
        """The envelope, or None when the record is malformed; `site_id` is its site."""
        ...
