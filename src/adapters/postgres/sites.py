"""Sites and accounts on PostgreSQL (`SiteRepository`, `AccountRepository`).

Every statement about a site is scoped by `owner_sub` in its WHERE clause, so one owner's
request can never read or change another owner's row, whatever the caller passes.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from adapters.postgres.pool import Pool, transaction
from analytics_core.allowance import period_start
from analytics_core.sites import Account, ComplianceLevel, EmailNotifications, NewSite, Site

_SITE_COLUMNS = (
    "site_id, owner_sub, name, domains, plan, request_allowance, compliance_level, "
    "created_at, updated_at, allowance_period_start, timezone, "
    "(SELECT plans.monthly_allowance FROM plans WHERE plans.plan = sites.plan)"
)


def site_from_row(row: tuple[Any, ...]) -> Site:
    """A `Site` from a row of `_SITE_COLUMNS`."""
    site_id, owner, name, domains, plan, allowance, level, created, updated = row[:9]
    period, zone, monthly = row[9:]
    return Site(
        allowance_period_start=period,
        monthly_allowance=None if monthly is None else int(monthly),
        site_id=site_id,
        owner_sub=owner,
        name=name,
        domains=tuple(domains),
        plan=plan,
        request_allowance=int(allowance),
        compliance_level=ComplianceLevel(level),
        created_at=created,
        updated_at=updated,
        timezone=zone,
    )


def account_from_row(row: tuple[Any, ...]) -> Account:
    """An `Account` from (cognito_sub, email_notifications, created_at, updated_at)."""
    sub, notifications, created, updated = row
    return Account(sub, EmailNotifications(notifications), created, updated)


class PostgresSiteRepository:
    """The `sites` table, always filtered by owner."""

    def __init__(self, pool: Pool) -> None:
        self._pool = pool

    def add(self, site: NewSite) -> Site:
        """Insert the site; plan and allowance take the table's defaults."""
        with transaction(self._pool) as conn:
            row = conn.execute(
                f"""
                INSERT INTO sites (site_id, owner_sub, name, domains, compliance_level,
                                   created_at, updated_at, allowance_period_start, timezone)
                VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)
                RETURNING {_SITE_COLUMNS}
                """,  # noqa: S608  # column list is a constant
                (
                    site.site_id,
                    site.owner_sub,
                    site.name,
                    list(site.domains),
                    int(site.compliance_level),
                    site.created_at,
                    site.created_at,
                    period_start(site.created_at.astimezone(UTC).date()),
                    site.timezone,
                ),
            ).fetchone()
        assert row is not None  # noqa: S101  # INSERT ... RETURNING yields the row
        return site_from_row(row)

    def list_for_owner(self, owner: str) -> list[Site]:
        """The owner's sites, oldest first."""
        with transaction(self._pool) as conn:
            rows = conn.execute(
                f"SELECT {_SITE_COLUMNS} FROM sites WHERE owner_sub = %s "  # noqa: S608
                "ORDER BY created_at, site_id",
                (owner,),
            ).fetchall()
        return [site_from_row(row) for row in rows]

    def get_for_owner(self, owner: str, site_id: str) -> Site | None:
        """The site when it belongs to `owner`."""
        with transaction(self._pool) as conn:
            row = conn.execute(
                f"SELECT {_SITE_COLUMNS} FROM sites "  # noqa: S608
                "WHERE site_id = %s AND owner_sub = %s",
                (site_id, owner),
            ).fetchone()
        return None if row is None else site_from_row(row)

    def update(self, site: Site) -> Site | None:
        """Store the owner-editable fields (name, domains, compliance level, time zone); None
        when the owner no longer has the site."""
        with transaction(self._pool) as conn:
            row = conn.execute(
                f"""
                UPDATE sites
                SET name = %s, domains = %s, compliance_level = %s, timezone = %s,
                    updated_at = %s
                WHERE site_id = %s AND owner_sub = %s
                RETURNING {_SITE_COLUMNS}
                """,  # noqa: S608  # column list is a constant
                (
                    site.name,
                    list(site.domains),
                    int(site.compliance_level),
                    site.timezone,
                    site.updated_at,
                    site.site_id,
                    site.owner_sub,
                ),
            ).fetchone()
        return None if row is None else site_from_row(row)


class PostgresAccountRepository:
    """The `accounts` table."""

    def __init__(self, pool: Pool) -> None:
        self._pool = pool

    def get_or_create(self, sub: str, now: datetime) -> Account:
        """The account; inserted with the table's defaults on first use (race-safe)."""
        with transaction(self._pool) as conn:
            # Two statements, not one CTE: under READ COMMITTED the SELECT takes a fresh
            # snapshot, so it also sees a row that a concurrent first request just committed.
            conn.execute(
                "INSERT INTO accounts (cognito_sub, created_at, updated_at) VALUES (%s, %s, %s) "
                "ON CONFLICT (cognito_sub) DO NOTHING",
                (sub, now, now),
            )
            row = conn.execute(
                "SELECT cognito_sub, email_notifications, created_at, updated_at "
                "FROM accounts WHERE cognito_sub = %s",
                (sub,),
            ).fetchone()
        assert row is not None  # noqa: S101  # either inserted or already there
        return account_from_row(row)

    def save(self, account: Account) -> Account:
        """Store the preferences (the row exists: callers get it first)."""
        with transaction(self._pool) as conn:
            row = conn.execute(
                """
                INSERT INTO accounts (cognito_sub, email_notifications, created_at, updated_at)
                VALUES (%s, %s, %s, %s)
                ON CONFLICT (cognito_sub) DO UPDATE
                SET email_notifications = EXCLUDED.email_notifications,
                    updated_at = EXCLUDED.updated_at
                RETURNING cognito_sub, email_notifications, created_at, updated_at
                """,
                (
                    account.cognito_sub,
                    account.email_notifications.value,
                    account.created_at,
                    account.updated_at,
                ),
            ).fetchone()
        assert row is not None  # noqa: S101  # upsert always returns the row
        return account_from_row(row)
