"""A world of in-memory fakes for the ingest use case (unit tests and property tests)."""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence

from adapters.config import Settings
from adapters.memory import (
    InMemoryColdForwarder,
    InMemoryDailySalts,
    InMemoryEventStore,
    InMemoryGeoLookup,
    InMemorySiteConfigs,
    InMemorySiteRepository,
)
from adapters.useragents import UaParserUserAgents
from analytics_core.envelopes import Geo
from analytics_core.ingest import BatchResult, IngestPorts, process_batch
from analytics_core.sites import ComplianceLevel, Site
from entrypoints import bootstrap
from entrypoints.api.firehose_endpoint import make_handler
from entrypoints.envelopes import decode_envelope
from entrypoints.http import LambdaHandler
from tests.support.clock import FakeClock
from tests.support.ingest import ACCESS_KEY, NOW, SITE, envelope, record

_USER_AGENTS = UaParserUserAgents()  # one per test session: the parser is built once


class World:
    """Sites, stores and the ports of `process_batch`, all in memory."""

    def __init__(self) -> None:
        self.sites = InMemorySiteRepository()
        self.store = InMemoryEventStore(self.sites)
        self.cold = InMemoryColdForwarder()
        salts_made = itertools.count(1)
        # Deterministic "random" salts, different for each day.
        self.salts = InMemoryDailySalts(lambda size: bytes([next(salts_made)]) * size)
        self.geo = InMemoryGeoLookup({"203.0.113.77": Geo("FR", "IDF", "Paris")})
        self.ports = IngestPorts(
            site_configs=InMemorySiteConfigs(self.sites),
            event_store=self.store,
            cold_forwarder=self.cold,
            salts=self.salts,
            user_agents=_USER_AGENTS,
            geo=self.geo,
        )

    def add_site(
        self,
        site_id: str = SITE,
        *,
        allowance: int = 10_000,
        level: ComplianceLevel = ComplianceLevel.MAYBE,
        domains: Iterable[str] = ("example.com",),
    ) -> None:
        """Register a site (owner "owner")."""
        self.sites.put(
            Site(
                site_id, "owner", "a site", tuple(domains), "free_tier", allowance, level, NOW, NOW
            )
        )

    def allowance(self, site_id: str = SITE) -> int:
        """The site's allowance left."""
        return self.sites.get_for_owner("owner", site_id).request_allowance  # type: ignore[union-attr]

    def process(self, records: Sequence[dict[str, object] | bytes | None]) -> BatchResult:
        """Run `process_batch` on records given as envelope dicts or raw bytes."""
        envelopes = [None if r is None else decode_envelope(record(r)) for r in records]
        return process_batch(envelopes, self.ports)

    def run(self, *numbers: int, **fields: object) -> BatchResult:
        """Process default envelopes with these numbers (uids)."""
        return self.process([envelope(n, **fields) for n in numbers])  # type: ignore[arg-type]


def world_with_site(**site: object) -> World:
    """A world with one site (default: example.com, level 1, allowance 10,000)."""
    created = World()
    created.add_site(**site)  # type: ignore[arg-type]
    return created


def firehose_handler(world: World) -> LambdaHandler:
    """processIngest's handler over the world's ports (the access key of the test requests)."""
    services = bootstrap.build(
        Settings(),
        clock=FakeClock(),
        firehose_access_key=lambda: ACCESS_KEY,
        ingest_ports=world.ports,
    )
    return make_handler(services)
