"""The one error tree of the product.

Exceptions mean "this operation cannot continue"; expected per-record outcomes (rejected,
duplicate, over allowance) are returned values, never raised. Adapters translate foreign
errors (psycopg, botocore) into these with ``raise ... from exc`` and let unknown ones through.
Entrypoints map each class to one response; nothing else reaches a caller.

    AnalyticsError
    ├── ConfigurationError        a required setting is missing or malformed (cold start stops)
    ├── InvalidRequestError       the caller's input breaks a rule; `fields` names what (400)
    ├── UnauthenticatedError      no caller identity on a request that needs one (401)
    ├── NotFoundError             absent, or belonging to someone else: indistinguishable (404)
    ├── UnreadableObjectError     a backed-up failure object that cannot be read (replay goes on)
    └── InfrastructureError       a dependency failed; nothing of the operation took effect
        ├── StoreUnavailableError     the database refused, timed out or dropped the connection
        ├── MigrationError            a migration failed, or an applied file was edited
        ├── ColdForwardError          the cold store (Firehose) kept refusing rows
        ├── SourceUnavailableError    a source to import from is missing or may not be read
        └── QueryTimeoutError         a stats query passed its deadline and was cancelled (504)
"""

from __future__ import annotations

from collections.abc import Mapping


class AnalyticsError(Exception):
    """Base of every error this product raises on purpose."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ConfigurationError(AnalyticsError):
    """A setting the running function needs is missing or malformed."""

    def __init__(self, setting: str, message: str) -> None:
        super().__init__(message)
        self.setting = setting


class InvalidRequestError(AnalyticsError):
    """Input that breaks a rule of the API; `fields` maps each offending field to why."""

    def __init__(self, message: str, fields: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.fields: dict[str, str] = dict(fields or {})

    @classmethod
    def for_field(cls, field: str, problem: str) -> InvalidRequestError:
        """An error about a single field, with the field named in the message too."""
        return cls(f"{field}: {problem}", {field: problem})


class UnauthenticatedError(AnalyticsError):
    """The request carries no verified caller identity."""


class NotFoundError(AnalyticsError):
    """The resource does not exist for this caller (it may exist for someone else)."""

    def __init__(self, resource: str, key: str) -> None:
        super().__init__(f"{resource} not found")
        self.resource = resource
        self.key = key


class InfrastructureError(AnalyticsError):
    """A dependency failed; the operation had no effect and may be retried."""


class StoreUnavailableError(InfrastructureError):
    """The database refused, timed out or dropped the connection."""


class MigrationError(InfrastructureError):
    """A migration could not be applied, or an applied migration file was changed."""

    def __init__(self, message: str, version: str | None = None) -> None:
        super().__init__(message)
        self.version = version


class ColdForwardError(InfrastructureError):
    """The cold store kept refusing rows after the retries; `failed` says how many."""

    def __init__(self, message: str, failed: int) -> None:
        super().__init__(message)
        self.failed = failed


class SourceUnavailableError(InfrastructureError):
    """A source to import from (a legacy DynamoDB table) is missing or may not be read;
    `source` names it."""

    def __init__(self, message: str, source: str) -> None:
        super().__init__(message)
        self.source = source


class QueryTimeoutError(InfrastructureError):
    """A stats query ran past its deadline and was cancelled."""


class UnreadableObjectError(AnalyticsError):
    """A failure object (a batch Firehose backed up) that is not one: corrupt, too large once
    decompressed, not text. Replay names it, leaves it in place and goes on."""
