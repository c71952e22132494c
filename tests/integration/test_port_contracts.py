"""Contract tests of the ports whose fakes had none (acceptance 3 of issue 17), each run
against every fake and every real adapter: `EventPartitions` (memory, PostgreSQL),
`SiteConfigs` (memory, PostgreSQL), `GeoLookup` (memory, a GeoIP2 City database),
`IngestStream` (memory, the local Firehose-style stream, Firehose through moto),
`ColdForwarder` (memory, the local Parquet lake, Firehose through moto) and `LegacyTables`
(memory, DynamoDB through moto)."""

from __future__ import annotations

import base64
import gzip
import json
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import attrs
import boto3
import pytest
from tests.integration.test_geoip_and_useragents import city_db  # noqa: F401  # a fixture
from tests.support.aws import REGION, create_stream, delivered_json, fake_aws
from tests.support.ingest import OTHER_SITE, SITE, uid

from adapters.aws.dynamodb import DynamoDBLegacyTables
from adapters.aws.firehose import FirehoseColdForwarder, FirehoseIngestStream
from adapters.geoip import GeoIP2CityLookup
from adapters.lake import LocalLakeColdEvents, LocalLakeColdForwarder, ParquetLakeWriter
from adapters.local.firehose import Buffering, LocalFirehoseStream
from adapters.memory import (
    InMemoryColdForwarder,
    InMemoryEventPartitions,
    InMemoryGeoLookup,
    InMemoryIngestStream,
    InMemorySiteConfigs,
    InMemorySiteRepository,
)
from adapters.memory_legacy import InMemoryLegacyTables
from adapters.postgres.partitions import PostgresEventPartitions
from adapters.postgres.pool import Pool
from adapters.postgres.site_configs import PostgresSiteConfigs
from adapters.postgres.sites import PostgresSiteRepository
from analytics_core.envelopes import Geo
from analytics_core.errors import ColdForwardError, InfrastructureError, SourceUnavailableError
from analytics_core.outcomes import SiteConfig
from analytics_core.ports import (
    ColdForwarder,
    EventPartitions,
    GeoLookup,
    IngestStream,
    LegacyTables,
    SiteConfigs,
    SiteRepository,
)
from analytics_core.rows import EventRow, InitialEventRow
from analytics_core.sites import ComplianceLevel, NewSite

BUCKET = "contract-stand-in"
NOW = datetime(2026, 11, 25, 11, 39, 34, 123000, tzinfo=UTC)
FAR_DAYS = (date(2031, 1, 1), date(2031, 1, 2))  # no other test partitions these


# ---------------------------------------------------------------- EventPartitions


@pytest.fixture(params=["memory", "postgres"])
def partitions(request: pytest.FixtureRequest) -> Iterator[EventPartitions]:
    """Each `EventPartitions`; the PostgreSQL one drops the days it was given afterwards."""
    if request.param == "memory":
        yield InMemoryEventPartitions()
        return
    real = PostgresEventPartitions(request.getfixturevalue("db"))
    yield real
    for day in FAR_DAYS:
        real.drop_day(day)


def test_partitions_are_created_once_and_dropped(partitions: EventPartitions) -> None:
    """A created day exists (creating it again changes nothing), a dropped day is gone
    (dropping it again is no error), and with no stray rows nothing expires."""
    first, second = FAR_DAYS
    assert first not in partitions.existing_days()
    partitions.create_day(first)
    partitions.create_day(first)
    partitions.create_day(second)
    assert {first, second} <= partitions.existing_days()
    partitions.drop_day(first)
    partitions.drop_day(first)
    assert first not in partitions.existing_days()
    assert second in partitions.existing_days()
    assert partitions.expire_before(date(2000, 1, 1)) == 0


# ---------------------------------------------------------------- SiteConfigs


@pytest.fixture(params=["memory", "postgres"])
def site_stores(request: pytest.FixtureRequest) -> tuple[SiteRepository, SiteConfigs]:
    """A site repository and the `SiteConfigs` reading the same sites."""
    if request.param == "memory":
        sites = InMemorySiteRepository()
        return sites, InMemorySiteConfigs(sites)
    pool: Pool = request.getfixturevalue("db")
    return PostgresSiteRepository(pool), PostgresSiteConfigs(pool, lambda: NOW)


def test_site_configs_load_the_sites_that_exist(
    site_stores: tuple[SiteRepository, SiteConfigs],
) -> None:
    """`load` answers the domains and compliance level of the asked sites that exist, and
    nothing for the others."""
    sites, configs = site_stores
    sites.add(NewSite(SITE, "owner", "A", ("a.example",), ComplianceLevel.MAYBE, NOW))
    sites.add(
        NewSite(OTHER_SITE, "owner", "B", ("b.example", "c.example"), ComplianceLevel.REQUIRED, NOW)
    )
    unknown = uid(999)
    assert dict(configs.load([SITE, OTHER_SITE, unknown])) == {
        SITE: SiteConfig(SITE, ("a.example",), ComplianceLevel.MAYBE),
        OTHER_SITE: SiteConfig(OTHER_SITE, ("b.example", "c.example"), ComplianceLevel.REQUIRED),
    }
    assert dict(configs.load([unknown])) == {}


# ---------------------------------------------------------------- GeoLookup

LOCATIONS = {
    "81.2.69.160": Geo("DE", "BY", "Munich"),
    "2001:db8:1::7": Geo("US", "CA", "San Francisco"),
    "198.51.100.9": Geo("NL", None, None),
}


@pytest.fixture(params=["memory", "geoip2"])
def geo(request: pytest.FixtureRequest) -> Iterator[GeoLookup]:
    """The fake with the table of the test City database, and a lookup in that database."""
    if request.param == "memory":
        yield InMemoryGeoLookup(LOCATIONS)
        return
    lookup = GeoIP2CityLookup.from_path(str(request.getfixturevalue("city_db")))
    yield lookup
    lookup.close()


def test_geo_lookup_knows_its_addresses_only(geo: GeoLookup) -> None:
    """Known addresses give their country, subdivision and city; unknown, private and
    malformed ones give None."""
    for address, location in LOCATIONS.items():
        assert geo.lookup(address) == location
    for address in ("203.0.113.1", "10.0.0.1", "not an ip"):
        assert geo.lookup(address) is None


# ---------------------------------------------------------------- IngestStream


@attrs.frozen
class StreamSide:
    """A stream, what its intake received so far (as JSON values), and a refusing one."""

    stream: IngestStream
    received: Callable[[], list[Any]]
    refusing: Callable[[], IngestStream]


def _endpoint_records(events: list[Mapping[str, Any]]) -> list[Any]:
    """The records of the Firehose HTTP endpoint requests the local stream sent."""
    records = []
    for event in events:
        body = json.loads(gzip.decompress(base64.b64decode(event["body"])))
        records += [json.loads(base64.b64decode(r["data"])) for r in body["records"]]
    return records


@pytest.fixture(params=["memory", "local", "firehose"])
def stream_side(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StreamSide]:
    """Each `IngestStream` with a view of what it delivered."""
    if request.param == "memory":
        memory = InMemoryIngestStream()

        def refusing_memory() -> IngestStream:
            refused = InMemoryIngestStream()
            refused.refusing = True
            return refused

        yield StreamSide(memory, lambda: [json.loads(r) for r in memory.records], refusing_memory)
    elif request.param == "local":
        events: list[Mapping[str, Any]] = []

        def endpoint(event: Mapping[str, Any]) -> dict[str, Any]:
            events.append(event)
            body = json.loads(gzip.decompress(base64.b64decode(event["body"])))
            return {"statusCode": 200, "body": json.dumps({"requestId": body["requestId"]})}

        def local_stream() -> LocalFirehoseStream:
            return LocalFirehoseStream(
                endpoint,
                access_key="key",
                failures_dir=tmp_path / "failures",
                buffering=Buffering(size_bytes=1024 * 1024, interval_s=3600),
            )

        local = local_stream()

        def received_local() -> list[Any]:
            local.flush()
            return _endpoint_records(events)

        def refusing_local() -> IngestStream:
            closed = local_stream()
            closed.close()
            return closed

        yield StreamSide(local, received_local, refusing_local)
    else:
        with fake_aws():
            create_stream("IngestHttp", BUCKET)
            client = boto3.client("firehose", region_name=REGION)
            yield StreamSide(
                FirehoseIngestStream(client, "IngestHttp"),
                lambda: delivered_json(BUCKET, "IngestHttp"),
                lambda: FirehoseIngestStream(client, "Missing"),
            )


def test_a_stream_takes_each_record_as_is(stream_side: StreamSide) -> None:
    """Every accepted record reaches the intake unchanged; a stream that cannot take a record
    says so with `InfrastructureError`."""
    records = [{"v": 1, "uid": uid(n), "payload": {"n": n, "text": "é ✓"}} for n in range(3)]
    for record in records:
        stream_side.stream.put(json.dumps(record).encode())
    assert sorted(stream_side.received(), key=lambda r: r["uid"]) == records
    with pytest.raises(InfrastructureError):
        stream_side.refusing().put(b'{"v":1}')


# ---------------------------------------------------------------- ColdForwarder


@attrs.frozen
class ForwarderSide:
    """A forwarder, the uids its cold store holds per table, and a failing forwarder."""

    forwarder: ColdForwarder[Any]
    uids: Callable[[str], set[str]]
    failing: Callable[[], ColdForwarder[Any]]


@pytest.fixture(params=["memory", "lake", "firehose"])
def forwarder_side(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ForwarderSide]:
    """Each `ColdForwarder` with a view of the cold store it writes to."""
    if request.param == "memory":
        memory = InMemoryColdForwarder()

        def memory_uids(table: str) -> set[str]:
            rows = memory.events if table == "events" else memory.initial_events
            return {row.event_uid for row in rows}

        yield ForwarderSide(memory, memory_uids, lambda: InMemoryColdForwarder(failures=1))
    elif request.param == "lake":
        root = tmp_path / "lake"
        source = LocalLakeColdEvents(root)

        def lake_uids(table: str) -> set[str]:
            return {row.event_uid for row in source.read_rows(table, NOW.date(), None)}

        def failing_lake() -> ColdForwarder[Any]:
            blocked = tmp_path / "not-a-folder"
            blocked.write_text("a file where the lake should be")
            return LocalLakeColdForwarder(ParquetLakeWriter(blocked))

        yield ForwarderSide(
            LocalLakeColdForwarder(ParquetLakeWriter(root)), lake_uids, failing_lake
        )
    else:
        with fake_aws():
            for name in ("events", "initial_events"):
                create_stream(name, BUCKET)
            client = boto3.client("firehose", region_name=REGION)

            def firehose_uids(table: str) -> set[str]:
                return {item["event_uid"] for item in delivered_json(BUCKET, table)}

            def failing_firehose() -> ColdForwarder[Any]:
                return FirehoseColdForwarder(
                    client, events_stream="missing", initial_events_stream="missing"
                )

            yield ForwarderSide(
                FirehoseColdForwarder(
                    client, events_stream="events", initial_events_stream="initial_events"
                ),
                firehose_uids,
                failing_firehose,
            )


def _event(n: int) -> EventRow:
    return EventRow(uid(n), SITE, "s", NOW, NOW.date(), "pageview", "/", {"n": n})


def _initial(n: int) -> InitialEventRow:
    return InitialEventRow(
        uid(n), OTHER_SITE, "t", NOW, NOW.date(), "pageview", "/landing", None,
        referer="https://news.example/a", referer_domain="news.example", country="DE",
    )  # fmt: skip


def test_a_forward_delivers_every_prepared_row(forwarder_side: ForwarderSide) -> None:
    """Prepared rows of both tables reach the cold store's matching table; a forwarder whose
    store refuses them raises `ColdForwardError`."""
    forwarder = forwarder_side.forwarder
    events, initial = [_event(n) for n in range(3)], [_initial(n) for n in range(10, 12)]
    forwarder.forward(
        [forwarder.prepare(row) for row in events], [forwarder.prepare(row) for row in initial]
    )
    assert forwarder_side.uids("events") == {row.event_uid for row in events}
    assert forwarder_side.uids("initial_events") == {row.event_uid for row in initial}
    failing = forwarder_side.failing()
    with pytest.raises(ColdForwardError):
        failing.forward([failing.prepare(_event(20))], [])


# ---------------------------------------------------------------- LegacyTables

ITEMS = [{"siteId": f"site-{n}", "name": f"Site {n}", "allowance": Decimal(n)} for n in range(7)]


@pytest.fixture(params=["memory", "dynamodb"])
def legacy(request: pytest.FixtureRequest) -> Iterator[LegacyTables]:
    """Each `LegacyTables` holding `ITEMS` in the table "Sites"."""
    if request.param == "memory":
        yield InMemoryLegacyTables(
            {"Sites": ITEMS}, key_attributes={"Sites": ["siteId"]}, page_size=3
        )
        return
    with fake_aws():
        client = boto3.client("dynamodb", region_name=REGION)
        client.create_table(
            TableName="Sites",
            KeySchema=[{"AttributeName": "siteId", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "siteId", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        for item in ITEMS:
            client.put_item(
                TableName="Sites",
                Item={
                    "siteId": {"S": str(item["siteId"])},
                    "name": {"S": str(item["name"])},
                    "allowance": {"N": str(item["allowance"])},
                },
            )
        yield DynamoDBLegacyTables(client, segments=2)


def test_legacy_tables_describe_and_scan_every_item(legacy: LegacyTables) -> None:
    """A table describes its key (and at most its true size), a scan yields every item once,
    deserialised; a missing table is `SourceUnavailableError` naming it."""
    info = legacy.describe("Sites")
    assert info.key_attributes == ("siteId",)
    assert info.estimated_items in (None, len(ITEMS))
    items = [dict(item) for page in legacy.scan("Sites") for item in page]
    assert sorted(items, key=lambda item: str(item["siteId"])) == ITEMS
    with pytest.raises(SourceUnavailableError) as info_error:
        legacy.describe("Missing")
    assert info_error.value.source == "Missing"
    with pytest.raises(SourceUnavailableError):
        list(legacy.scan("Missing"))
