"""The composition root: the one place where adapters are chosen and wired to the core.

`build(settings, **overrides)` returns a `Services` whose parts are created on first use, so a
handler builds only what it needs and nothing touches the network here: the pool connects on
the first query, the database secret is read on the first connection. Adapters are imported
on first use as well, so that a cold start loads only the libraries its handler needs (the
collect endpoint, which has no database, never loads psycopg). A part that needs a missing
setting raises `ConfigurationError` when the handler factory asks for it, which is at cold
start. Tests pass ready-made parts (fakes) as keyword overrides.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from functools import cache, cached_property
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config

from adapters.aws.firehose import (
    FirehoseColdForwarder,
    FirehoseIngestStream,
    access_key_from_secret,
)
from adapters.aws.secrets import SecretsManagerReader
from adapters.config import DatabaseUrl, Env, Settings
from adapters.ids import new_ulid
from analytics_core.errors import ConfigurationError
from analytics_core.ingest import IngestPorts
from analytics_core.ports import (
    AccountRepository,
    Clock,
    ColdEventSource,
    ColdForwarder,
    DailySalts,
    EventPartitions,
    EventStore,
    GeoLookup,
    HotCoverage,
    HotEventCopies,
    IdGenerator,
    IngestOutcomes,
    IngestStream,
    Plans,
    ReadModel,
    RealtimeReader,
    SiteConfigs,
    SiteRepository,
    StatsReader,
    UserAgentParser,
)

if TYPE_CHECKING:
    from mypy_boto3_firehose import FirehoseClient
    from mypy_boto3_secretsmanager import SecretsManagerClient

    from adapters.postgres.migrations import PostgresMigrator
    from adapters.postgres.pool import Pool, SecretReader
    from analytics_core.ports import ColdSiteEraser, SiteDeletions

# Firehose calls fail fast: the collect endpoint answers 503 rather than hang, and the cold
# forwarder has its own retries of refused entries.
FIREHOSE_CLIENT_CONFIG = Config(
    connect_timeout=2, read_timeout=10, retries={"mode": "standard", "max_attempts": 3}
)
# Connections per pool: a Lambda container serves one request at a time.
DEFAULT_POOL_SIZE = 2


def utc_now() -> datetime:
    """The real clock."""
    return datetime.now(UTC)


class Services:
    """Everything the entrypoints use, created lazily and at most once per container."""

    def __init__(
        self,
        settings: Settings,
        *,
        application: str = "analytics",
        pool_size: int = DEFAULT_POOL_SIZE,
        **overrides: Any,
    ) -> None:
        self.settings = settings
        self.application = application
        self.pool_size = pool_size
        for name, value in overrides.items():
            if not isinstance(getattr(type(self), name, None), cached_property):
                raise TypeError(f"unknown service {name!r}")
            # cached_property reads the instance dict first: an override is a pre-filled cache.
            self.__dict__[name] = value

    @cached_property
    def clock(self) -> Clock:
        """The current time in UTC."""
        return utc_now

    @cached_property
    def new_id(self) -> IdGenerator:
        """Fresh ULIDs."""
        return new_ulid

    @cached_property
    def pool(self) -> Pool:
        """The PostgreSQL pool of `pool_size` connections (connects on first use)."""
        from adapters.postgres.pool import conninfo_factory, open_pool  # noqa: PLC0415

        database = self.settings.database()
        read_secret = None if isinstance(database, DatabaseUrl) else self.secrets
        return open_pool(
            conninfo_factory(database, read_secret, application=self.application),
            max_size=self.pool_size,
            name=self.application,
        )

    @cached_property
    def secrets(self) -> SecretReader:
        """Secrets Manager reads, cached per container."""

        return SecretsManagerReader(boto3.client("secretsmanager"))

    @cached_property
    def sites(self) -> SiteRepository:
        """Sites, scoped by owner."""
        from adapters.postgres.sites import PostgresSiteRepository  # noqa: PLC0415

        return PostgresSiteRepository(self.pool)

    @cached_property
    def accounts(self) -> AccountRepository:
        """Account preferences."""
        from adapters.postgres.sites import PostgresAccountRepository  # noqa: PLC0415

        return PostgresAccountRepository(self.pool)

    @cached_property
    def migrator(self) -> PostgresMigrator:
        """The migration runner over `sql/migrations`."""
        from adapters.postgres.migrations import PostgresMigrator  # noqa: PLC0415

        return PostgresMigrator(self.pool)

    @cached_property
    def partitions(self) -> EventPartitions:
        """The event tables' daily partitions."""
        from adapters.postgres.partitions import PostgresEventPartitions  # noqa: PLC0415

        return PostgresEventPartitions(self.pool)

    # --- ingest (collect endpoint, processIngest, replay) ------------------------------

    @cached_property
    def site_configs(self) -> SiteConfigs:
        """Sites' ingest configuration, cached for a minute per container."""
        from adapters.postgres.site_configs import PostgresSiteConfigs  # noqa: PLC0415

        return PostgresSiteConfigs(self.pool, self.clock)

    @cached_property
    def event_store(self) -> EventStore:
        """The hot store's intake: one transaction per batch."""
        from adapters.postgres.events import PostgresEventStore  # noqa: PLC0415

        return PostgresEventStore(self.pool)

    @cached_property
    def daily_salts(self) -> DailySalts:
        """The random daily salts of compliance level 0."""
        from adapters.postgres.salts import PostgresDailySalts  # noqa: PLC0415

        return PostgresDailySalts(self.pool, self.clock)

    @cached_property
    def user_agents(self) -> UserAgentParser:
        """ua-parser (Rust backend when installed), cached per user agent."""
        # Imported here: only the ingest functions pay for loading ua-parser.
        from adapters.useragents import UaParserUserAgents  # noqa: PLC0415

        return UaParserUserAgents()

    @cached_property
    def geo(self) -> GeoLookup | None:
        """The GeoIP2 City database of `GEOIP_CITY_DB`, if configured."""
        path = self.settings.geoip_city_db
        if path is None:
            return None
        # Imported here: geoip2 is loaded only where a database is configured.
        from adapters.geoip import GeoIP2CityLookup  # noqa: PLC0415

        return GeoIP2CityLookup.from_path(path, Env.GEOIP_CITY_DB.value)

    @cached_property
    def firehose(self) -> FirehoseClient:
        """The Firehose client (honours AWS_ENDPOINT_URL)."""

        return boto3.client("firehose", config=FIREHOSE_CLIENT_CONFIG)

    @cached_property
    def cold_forwarder(self) -> ColdForwarder[Any]:
        """The cold store's intake: the local Parquet lake when LOCAL_LAKE_DIR is set, else
        the events / initial_events Firehose streams."""
        if self.settings.local_lake_dir is not None:
            from adapters.lake import LocalLakeColdForwarder  # noqa: PLC0415  # pyarrow: local only

            return LocalLakeColdForwarder.from_settings(self.settings)
        # The client is made on the first forward: the cold start skips botocore's model.
        return FirehoseColdForwarder.from_settings(self.settings, lambda: self.firehose)

    @cached_property
    def ingest_stream(self) -> IngestStream:
        """Where the collect endpoint puts envelopes: the IngestHttp Firehose stream."""

        return FirehoseIngestStream.from_settings(self.settings, self.firehose)

    @cached_property
    def firehose_access_key(self) -> Callable[[], str]:
        """The key Firehose sends to processIngest: `FIREHOSE_ACCESS_KEY`, else the secret
        `FIREHOSE_ACCESS_KEY_SECRET_ARN` names (read on first use, once per container)."""
        key = self.settings.firehose_access_key
        if key is not None:
            return lambda: key
        arn = self.settings.firehose_access_key_secret_arn
        if arn is None:
            raise ConfigurationError(
                Env.FIREHOSE_ACCESS_KEY.value,
                "FIREHOSE_ACCESS_KEY is not set (in AWS: FIREHOSE_ACCESS_KEY_SECRET_ARN)",
            )
        read_secret = self.secrets

        @cache
        def from_secret() -> str:
            return access_key_from_secret(read_secret(arn))

        return from_secret

    @cached_property
    def origin_secret(self) -> Callable[[], str] | None:
        """The collect endpoint's CloudFront origin secret, read afresh on every call (so a
        rotation is picked up): `CLOUDFRONT_ORIGIN_SECRET`, else the Secrets Manager secret
        `CLOUDFRONT_ORIGIN_SECRET_ARN` names; None when neither is set (no origin check)."""
        value = self.settings.cloudfront_origin_secret
        if value is not None:
            return lambda: value
        arn = self.settings.cloudfront_origin_secret_arn
        if arn is None:
            return None

        @cache
        def client() -> SecretsManagerClient:
            return boto3.client("secretsmanager")

        return lambda: SecretsManagerReader(client())(arn)

    @cached_property
    def ingest_ports(self) -> IngestPorts:
        """Everything `process_batch` works through."""

        return IngestPorts(
            site_configs=self.site_configs,
            event_store=self.event_store,
            cold_forwarder=self.cold_forwarder,
            salts=self.daily_salts,
            user_agents=self.user_agents,
            geo=self.geo,
        )

    @cached_property
    def hot_stats(self) -> StatsReader:
        """Stats from the hot store: the fact blocks (drill-downs), PostgreSQL's rollups
        (what they hold), else its raw rows; one block cache per process."""
        from adapters.postgres.fact_blocks import FactBlockStatsReader  # noqa: PLC0415
        from adapters.postgres.stats import PostgresStatsReader  # noqa: PLC0415  # query only

        return FactBlockStatsReader(self.pool, fallback=PostgresStatsReader(self.pool))

    @cached_property
    def read_model(self) -> ReadModel:
        """The hot store's read model, for the scheduled fold, rebuilds and expiry (statements
        of up to five minutes)."""
        from adapters.postgres.read_model import PostgresReadModel  # noqa: PLC0415

        return PostgresReadModel(self.pool)

    @cached_property
    def query_read_model(self) -> ReadModel:
        """The read model as a query folds its sites first: within the hot store's query
        deadline (past it, the query is a 504 as when its own statement is)."""
        from adapters.postgres.read_model import PostgresReadModel  # noqa: PLC0415
        from adapters.postgres.stats import STATEMENT_TIMEOUT_MS  # noqa: PLC0415  # query only

        return PostgresReadModel(self.pool, statement_timeout_ms=STATEMENT_TIMEOUT_MS)

    @cached_property
    def realtime(self) -> RealtimeReader:
        """Who is on a site now (GET /api/realtime), from the hot store's event tables."""
        from adapters.postgres.realtime import PostgresRealtimeReader  # noqa: PLC0415  # query only

        return PostgresRealtimeReader(self.pool)

    @cached_property
    def hot_coverage(self) -> HotCoverage:
        """The first day the hot store is complete (`analytics hot-coverage`), read from
        PostgreSQL on every call."""
        from adapters.postgres.coverage import PostgresHotCoverage  # noqa: PLC0415

        return PostgresHotCoverage(self.pool)

    @cached_property
    def ingest_outcomes(self) -> IngestOutcomes:
        """What became of the ingested records per site and day (`ingest_outcomes`)."""
        from adapters.postgres.ingest_outcomes import PostgresIngestOutcomes  # noqa: PLC0415

        return PostgresIngestOutcomes(self.pool)

    @cached_property
    def plans(self) -> Plans:
        """Plans and the sites' monthly allowance periods."""
        from adapters.postgres.plans import PostgresPlans  # noqa: PLC0415

        return PostgresPlans(self.pool)

    @cached_property
    def cold_stats(self) -> StatsReader:
        """Stats from the cold store: the local Parquet lake (DuckDB) when LOCAL_LAKE_DIR is
        set, else Athena (ATHENA_WORKGROUP, ATHENA_DATABASE, ATHENA_OUTPUT_LOCATION)."""
        if self.settings.local_lake_dir is not None:
            from adapters.lake import LocalStatsReader  # noqa: PLC0415  # DuckDB: local only

            return LocalStatsReader.from_settings(self.settings)
        from adapters.aws.athena import AthenaStatsReader  # noqa: PLC0415  # query only

        return AthenaStatsReader.from_settings(self.settings)

    @cached_property
    def cold_events(self) -> ColdEventSource:
        """The cold store's rows read back (backfill-hot, verify-migration): the local lake
        when LOCAL_LAKE_DIR is set, else Athena."""
        if self.settings.local_lake_dir is not None:
            from adapters.lake import LocalLakeColdEvents  # noqa: PLC0415  # DuckDB: local only

            return LocalLakeColdEvents.from_settings(self.settings)
        from adapters.aws.athena import AthenaColdEvents  # noqa: PLC0415  # operations only

        return AthenaColdEvents.from_settings(self.settings)

    @cached_property
    def hot_copies(self) -> HotEventCopies:
        """Copies of cold rows into the hot store, and its per-day counts."""
        from adapters.postgres.backfill import PostgresHotEventCopies  # noqa: PLC0415

        return PostgresHotEventCopies(self.pool)

    # --- site deletion (the sites function, the daily maintenance) -----------------------

    @cached_property
    def site_deletions(self) -> SiteDeletions:
        """Deletes a site with its hot rows, and tracks the cold part (`site_deletions`)."""
        from adapters.postgres.deletions import PostgresSiteDeletions  # noqa: PLC0415

        return PostgresSiteDeletions(self.pool)

    @cached_property
    def cold_site_eraser(self) -> ColdSiteEraser:
        """Erases a deleted site's cold rows: the local lake's files when LOCAL_LAKE_DIR is
        set, else Athena's DELETE on the Iceberg tables (ATHENA_WORKGROUP, ATHENA_DATABASE,
        ATHENA_OUTPUT_LOCATION)."""
        if self.settings.local_lake_dir is not None:
            from adapters.lake import LocalLakeColdSiteEraser  # noqa: PLC0415  # pyarrow: local only

            return LocalLakeColdSiteEraser.from_settings(self.settings)
        from adapters.aws.athena import AthenaColdSiteEraser  # noqa: PLC0415  # pyathena

        return AthenaColdSiteEraser.from_settings(self.settings)

    def close(self) -> None:
        """Release what was opened (the pool); for CLIs and tests, not Lambda."""
        pool = self.__dict__.get("pool")
        if pool is not None:
            pool.close()


def build(
    settings: Settings,
    *,
    application: str = "analytics",
    pool_size: int = DEFAULT_POOL_SIZE,
    **overrides: Any,
) -> Services:
    """The services for `settings`; keyword overrides replace parts (tests, local stack)."""
    return Services(settings, application=application, pool_size=pool_size, **overrides)
