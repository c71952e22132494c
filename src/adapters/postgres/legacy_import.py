"""Imported legacy sites and accounts written to PostgreSQL (`LegacyImportTarget`).

One transaction and one upsert statement per batch: an INSERT of the missing rows and an
UPDATE of the rows whose `updated_at` is older than the item's `updatedAt`, as two
data-modifying CTEs over the same VALUES. Both see the snapshot taken before the statement, so
a row the INSERT creates is never also counted as updated. Attributes an item did not carry
(plan, allowance, level, notifications: NULL here) take the table's default on insert and keep
the row's value on update; `created_at` is never changed by an update.

The batch's existing sites are locked first in site id order, the order the ingest
transaction locks them in, so that an import beside live ingest cannot deadlock with it.
A dry run reads the rows' `updated_at` and applies the same rule (`write_outcome`) in Python.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from psycopg import sql

from adapters.postgres.pool import Pool, transaction
from analytics_core.legacy_import import WriteOutcome, record_timestamps, write_outcome
from analytics_core.legacy_records import AccountRecord, SiteRecord, WriteCounts
from analytics_core.sites import (
    DEFAULT_PLAN,
    DEFAULT_REQUEST_ALLOWANCE,
    ComplianceLevel,
    EmailNotifications,
)

_SITE_VALUES = sql.SQL(
    "(%s::text, %s::text, %s::text, %s::text[], %s::text, %s::bigint, %s::smallint, "
    "%s::timestamptz, %s::timestamptz, %s::timestamptz)"
)
_UPSERT_SITES = """
WITH v (site_id, owner_sub, name, domains, plan, request_allowance, compliance_level,
        created_at, updated_at, item_updated_at) AS (VALUES {values}),
created AS (
    INSERT INTO sites (site_id, owner_sub, name, domains, plan, request_allowance,
                       compliance_level, created_at, updated_at)
    SELECT site_id, owner_sub, name, domains, COALESCE(plan, %s),
           COALESCE(request_allowance, %s), COALESCE(compliance_level, %s),
           created_at, updated_at
    FROM v
    ON CONFLICT (site_id) DO NOTHING
    RETURNING site_id
),
updated AS (
    UPDATE sites
    SET owner_sub = v.owner_sub,
        name = v.name,
        domains = v.domains,
        plan = COALESCE(v.plan, sites.plan),
        request_allowance = COALESCE(v.request_allowance, sites.request_allowance),
        compliance_level = COALESCE(v.compliance_level, sites.compliance_level),
        updated_at = v.item_updated_at
    FROM v
    WHERE sites.site_id = v.site_id AND sites.updated_at < v.item_updated_at
    RETURNING sites.site_id
)
SELECT (SELECT count(*) FROM created), (SELECT count(*) FROM updated)
"""

_ACCOUNT_VALUES = sql.SQL("(%s::text, %s::text, %s::timestamptz, %s::timestamptz, %s::timestamptz)")
_UPSERT_ACCOUNTS = """
WITH v (cognito_sub, email_notifications, created_at, updated_at, item_updated_at) AS (
    VALUES {values}
),
created AS (
    INSERT INTO accounts (cognito_sub, email_notifications, created_at, updated_at)
    SELECT cognito_sub, COALESCE(email_notifications, %s), created_at, updated_at
    FROM v
    ON CONFLICT (cognito_sub) DO NOTHING
    RETURNING cognito_sub
),
updated AS (
    UPDATE accounts
    SET email_notifications = COALESCE(v.email_notifications, accounts.email_notifications),
        updated_at = v.item_updated_at
    FROM v
    WHERE accounts.cognito_sub = v.cognito_sub AND accounts.updated_at < v.item_updated_at
    RETURNING accounts.cognito_sub
)
SELECT (SELECT count(*) FROM created), (SELECT count(*) FROM updated)
"""


def _site_params(record: SiteRecord, now: datetime) -> tuple[Any, ...]:
    created_at, updated_at = record_timestamps(record.created_at, record.updated_at, now)
    level = record.compliance_level
    return (
        record.site_id,
        record.owner_sub,
        record.name,
        list(record.domains),
        record.plan,
        record.request_allowance,
        None if level is None else int(level),
        created_at,
        updated_at,
        record.updated_at,
    )


def _account_params(record: AccountRecord, now: datetime) -> tuple[Any, ...]:
    created_at, updated_at = record_timestamps(record.created_at, record.updated_at, now)
    notifications = record.email_notifications
    return (
        record.cognito_sub,
        None if notifications is None else notifications.value,
        created_at,
        updated_at,
        record.updated_at,
    )


def _counts(total: int, row: tuple[Any, ...] | None) -> WriteCounts:
    assert row is not None  # noqa: S101  # a SELECT of two counts yields one row
    created, updated = int(row[0]), int(row[1])
    return WriteCounts(created, updated, total - created - updated)


def _dry_counts(
    existing: dict[str, datetime], keys_and_updates: Sequence[tuple[str, datetime | None]]
) -> WriteCounts:
    outcomes = [write_outcome(existing.get(key), updated) for key, updated in keys_and_updates]
    return WriteCounts(
        outcomes.count(WriteOutcome.CREATED),
        outcomes.count(WriteOutcome.UPDATED),
        outcomes.count(WriteOutcome.UNCHANGED),
    )


class PostgresLegacyImportTarget:
    """`sites` and `accounts`, written by the rule of `write_outcome`."""

    def __init__(self, pool: Pool) -> None:
        self._pool = pool

    def write_sites(
        self, records: Sequence[SiteRecord], now: datetime, *, dry_run: bool
    ) -> WriteCounts:
        """Create, update or leave each site (see the module docstring); count only when
        `dry_run`."""
        if not records:
            return WriteCounts()
        keys = [record.site_id for record in records]
        with transaction(self._pool) as conn:
            if dry_run:
                rows = conn.execute(
                    "SELECT site_id, updated_at FROM sites WHERE site_id = ANY(%s)", (keys,)
                ).fetchall()
                return _dry_counts(
                    dict(rows), [(record.site_id, record.updated_at) for record in records]
                )
            conn.execute(
                "SELECT 1 FROM sites WHERE site_id = ANY(%s) ORDER BY site_id FOR UPDATE", (keys,)
            )
            statement = sql.SQL(_UPSERT_SITES).format(
                values=sql.SQL(", ").join([_SITE_VALUES] * len(records))
            )
            params = [part for record in records for part in _site_params(record, now)]
            params += [DEFAULT_PLAN, DEFAULT_REQUEST_ALLOWANCE, int(ComplianceLevel.MAYBE)]
            return _counts(len(records), conn.execute(statement, params).fetchone())

    def write_accounts(
        self, records: Sequence[AccountRecord], now: datetime, *, dry_run: bool
    ) -> WriteCounts:
        """Create, update or leave each account; count only when `dry_run`."""
        if not records:
            return WriteCounts()
        with transaction(self._pool) as conn:
            if dry_run:
                rows = conn.execute(
                    "SELECT cognito_sub, updated_at FROM accounts WHERE cognito_sub = ANY(%s)",
                    ([record.cognito_sub for record in records],),
                ).fetchall()
                return _dry_counts(
                    dict(rows), [(record.cognito_sub, record.updated_at) for record in records]
                )
            statement = sql.SQL(_UPSERT_ACCOUNTS).format(
                values=sql.SQL(", ").join([_ACCOUNT_VALUES] * len(records))
            )
            params = [part for record in records for part in _account_params(record, now)]
            params.append(EmailNotifications.DAILY.value)
            return _counts(len(records), conn.execute(statement, params).fetchone())
