"""The composition root: the one place where adapters are chosen and wired to the core.

`build(settings, **overrides)` returns a `Services` whose parts are created on first use, so a
handler builds only what it needs and nothing touches the network here: the pool connects on
the first query, the database secret is read on the first connection. A part that needs a
missing setting raises `ConfigurationError` when the handler factory asks for it, which is
at cold start. Tests pass ready-made parts (fakes) as keyword overrides.
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import cached_property
from typing import Any

import boto3

from adapters.aws.secrets import SecretsManagerReader
from adapters.ids import new_ulid
from adapters.postgres.migrations import PostgresMigrator
from adapters.postgres.partitions import PostgresEventPartitions
from adapters.postgres.pool import Pool, SecretReader, conninfo_factory, open_pool
from adapters.postgres.sites import PostgresAccountRepository, PostgresSiteRepository
from analytics_core.config import DatabaseUrl, Settings
from analytics_core.ports import (
    AccountRepository,
    Clock,
    EventPartitions,
    IdGenerator,
    SiteRepository,
)


def utc_now() -> datetime:
    """The real clock."""
    return datetime.now(UTC)


class Services:
    """Everything the entrypoints use, created lazily and at most once per container."""

    def __init__(
        self, settings: Settings, *, application: str = "analytics", **overrides: Any
    ) -> None:
        self.settings = settings
        self.application = application
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
        """The PostgreSQL pool (connects on first use)."""

        database = self.settings.database()
        read_secret = None if isinstance(database, DatabaseUrl) else self.secrets
        return open_pool(
            conninfo_factory(database, read_secret, application=self.application),
            name=self.application,
        )

    @cached_property
    def secrets(self) -> SecretReader:
        """Secrets Manager reads, cached per container."""

        return SecretsManagerReader(boto3.client("secretsmanager"))

    @cached_property
    def sites(self) -> SiteRepository:
        """Sites, scoped by owner."""

        return PostgresSiteRepository(self.pool)

    @cached_property
    def accounts(self) -> AccountRepository:
        """Account preferences."""

        return PostgresAccountRepository(self.pool)

    @cached_property
    def migrator(self) -> PostgresMigrator:
        """The migration runner over `sql/migrations`."""

        return PostgresMigrator(self.pool)

    @cached_property
    def partitions(self) -> EventPartitions:
        """The event tables' daily partitions."""

        return PostgresEventPartitions(self.pool)

    def close(self) -> None:
        """Release what was opened (the pool); for CLIs and tests, not Lambda."""
        pool = self.__dict__.get("pool")
        if pool is not None:
            pool.close()


def build(settings: Settings, *, application: str = "analytics", **overrides: Any) -> Services:
    """The services for `settings`; keyword overrides replace parts (tests, local stack)."""
    return Services(settings, application=application, **overrides)
