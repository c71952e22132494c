"""Settings: every environment variable the product reads, defined once.

`Settings.from_environ(os.environ)` reads them all without doing any I/O. Settings that only
some functions need are optional here; the accessor a composition step calls
(`settings.database()`, `settings.require(...)`) fails with a `ConfigurationError` naming the
missing variable, so a handler stops at cold start with a clear message. Nothing has an insecure
default. `deploy/cdk` imports `Env` so that the infrastructure sets exactly these names. They
are the adapters' settings (connection strings, stream and Athena names): the core reads none.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum

import attrs

from analytics_core.errors import ConfigurationError


class Env(StrEnum):
    """The environment variable names: the contract between the code and the deployment."""

    DATABASE_URL = "DATABASE_URL"
    DB_SECRET_ARN = "DB_SECRET_ARN"  # noqa: S105  # a variable name, not a secret
    DB_HOST = "DB_HOST"
    DB_NAME = "DB_NAME"
    DB_PORT = "DB_PORT"
    FIREHOSE_ACCESS_KEY = "FIREHOSE_ACCESS_KEY"
    FIREHOSE_ACCESS_KEY_SECRET_ARN = "FIREHOSE_ACCESS_KEY_SECRET_ARN"  # noqa: S105  # idem
    INGEST_STREAM_NAME = "INGEST_STREAM_NAME"
    EVENTS_STREAM_NAME = "EVENTS_STREAM_NAME"
    INITIAL_EVENTS_STREAM_NAME = "INITIAL_EVENTS_STREAM_NAME"
    ATHENA_WORKGROUP = "ATHENA_WORKGROUP"
    ATHENA_DATABASE = "ATHENA_DATABASE"
    ATHENA_OUTPUT_LOCATION = "ATHENA_OUTPUT_LOCATION"
    GEOIP_CITY_DB = "GEOIP_CITY_DB"
    HOT_WINDOW_DAYS = "HOT_WINDOW_DAYS"
    HOT_RETENTION_DAYS = "HOT_RETENTION_DAYS"
    LOCAL_LAKE_DIR = "LOCAL_LAKE_DIR"
    # The collect endpoint's CloudFront origin secret (header X-Origin-Verify): the value
    # itself (local runs, tests) or the Secrets Manager secret holding it (AWS).
    CLOUDFRONT_ORIGIN_SECRET = "CLOUDFRONT_ORIGIN_SECRET"  # noqa: S105  # a variable name
    CLOUDFRONT_ORIGIN_SECRET_ARN = "CLOUDFRONT_ORIGIN_SECRET_ARN"  # noqa: S105  # idem


DEFAULT_HOT_WINDOW_DAYS = 30
DEFAULT_HOT_RETENTION_DAYS = 32
DEFAULT_DB_PORT = 5432


@attrs.frozen
class DatabaseUrl:
    """A complete connection string (local runs, tests, or an operator's override)."""

    url: str = attrs.field(repr=False)


@attrs.frozen
class DatabaseSecret:
    """Credentials held in Secrets Manager, reached through RDS Proxy at `host`."""

    secret_arn: str
    host: str
    name: str
    port: int = DEFAULT_DB_PORT


DatabaseSettings = DatabaseUrl | DatabaseSecret


@attrs.frozen
class Settings:
    """The product's configuration, read from one mapping with no I/O."""

    database_url: str | None = attrs.field(default=None, repr=False)
    db_secret_arn: str | None = None
    db_host: str | None = None
    db_name: str | None = None
    db_port: int = DEFAULT_DB_PORT
    firehose_access_key: str | None = attrs.field(default=None, repr=False)
    firehose_access_key_secret_arn: str | None = None
    ingest_stream_name: str | None = None
    events_stream_name: str | None = None
    initial_events_stream_name: str | None = None
    athena_workgroup: str | None = None
    athena_database: str | None = None
    athena_output_location: str | None = None
    geoip_city_db: str | None = None
    hot_window_days: int = DEFAULT_HOT_WINDOW_DAYS
    hot_retention_days: int = DEFAULT_HOT_RETENTION_DAYS
    local_lake_dir: str | None = None
    cloudfront_origin_secret: str | None = attrs.field(default=None, repr=False)
    cloudfront_origin_secret_arn: str | None = None

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> Settings:
        """Read the settings from `environ`; blank values count as unset."""

        def text(name: Env) -> str | None:
            value = environ.get(name.value, "").strip()
            return value or None

        def integer(name: Env, default: int, minimum: int) -> int:
            raw = text(name)
            if raw is None:
                return default
            try:
                value = int(raw)
            except ValueError:
                raise ConfigurationError(name.value, f"{name.value} must be an integer") from None
            if value < minimum:
                raise ConfigurationError(name.value, f"{name.value} must be at least {minimum}")
            return value

        settings = cls(
            database_url=text(Env.DATABASE_URL),
            db_secret_arn=text(Env.DB_SECRET_ARN),
            db_host=text(Env.DB_HOST),
            db_name=text(Env.DB_NAME),
            db_port=integer(Env.DB_PORT, DEFAULT_DB_PORT, 1),
            firehose_access_key=text(Env.FIREHOSE_ACCESS_KEY),
            firehose_access_key_secret_arn=text(Env.FIREHOSE_ACCESS_KEY_SECRET_ARN),
            ingest_stream_name=text(Env.INGEST_STREAM_NAME),
            events_stream_name=text(Env.EVENTS_STREAM_NAME),
            initial_events_stream_name=text(Env.INITIAL_EVENTS_STREAM_NAME),
            athena_workgroup=text(Env.ATHENA_WORKGROUP),
            athena_database=text(Env.ATHENA_DATABASE),
            athena_output_location=text(Env.ATHENA_OUTPUT_LOCATION),
            geoip_city_db=text(Env.GEOIP_CITY_DB),
            hot_window_days=integer(Env.HOT_WINDOW_DAYS, DEFAULT_HOT_WINDOW_DAYS, 1),
            hot_retention_days=integer(Env.HOT_RETENTION_DAYS, DEFAULT_HOT_RETENTION_DAYS, 1),
            local_lake_dir=text(Env.LOCAL_LAKE_DIR),
            cloudfront_origin_secret=text(Env.CLOUDFRONT_ORIGIN_SECRET),
            cloudfront_origin_secret_arn=text(Env.CLOUDFRONT_ORIGIN_SECRET_ARN),
        )
        if settings.hot_retention_days <= settings.hot_window_days:
            raise ConfigurationError(
                Env.HOT_RETENTION_DAYS.value,
                f"{Env.HOT_RETENTION_DAYS.value} ({settings.hot_retention_days}) must be longer "
                f"than {Env.HOT_WINDOW_DAYS.value} ({settings.hot_window_days}), or queries of the "
                "hot window would miss the days already dropped",
            )
        return settings

    def database(self) -> DatabaseSettings:
        """Where PostgreSQL is: `DATABASE_URL`, else the RDS Proxy triple; else stop."""
        if self.database_url is not None:
            return DatabaseUrl(self.database_url)
        if self.db_secret_arn is not None:
            missing = [
                name.value
                for name, value in ((Env.DB_HOST, self.db_host), (Env.DB_NAME, self.db_name))
                if value is None
            ]
            if missing:
                raise ConfigurationError(
                    missing[0], f"{' and '.join(missing)} must be set with DB_SECRET_ARN"
                )
            assert self.db_host is not None  # noqa: S101  # narrowed by the check above
            assert self.db_name is not None  # noqa: S101
            return DatabaseSecret(self.db_secret_arn, self.db_host, self.db_name, self.db_port)
        raise ConfigurationError(
            Env.DATABASE_URL.value,
            "DATABASE_URL is not set (in AWS: DB_SECRET_ARN, DB_HOST and DB_NAME)",
        )

    def require(self, name: Env) -> str:
        """The value of an optional text setting that this function cannot run without."""
        value = getattr(self, name.value.lower(), None)
        if not isinstance(value, str) or not value:
            raise ConfigurationError(name.value, f"{name.value} is not set")
        return value
