"""Deployment settings read from the CDK context, with placeholder defaults for offline synth.

Every value has a default so that `cdk synth` works with no arguments. The values that only
the operator can know (the Cognito user pool and app client, the dashboard's origin) default to
placeholders containing `PLACEHOLDER`; `DeploySettings.placeholders()` names those still in
place, and the app refuses to deploy while any is left (see `app.py`).

Context values come from `cdk.json`, `-c key=value` on the command line (always strings) or
`App(context=...)` in tests; `from_context` accepts all three.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from typing import Any

PLACEHOLDER_MARK = "PLACEHOLDER"

# Context key -> default. The keys are the public interface of the app (docs/deploy.md).
DEFAULTS: Mapping[str, Any] = {
    "stack_name": "Analytics",
    "cognito_user_pool_id": "us-east-1_PLACEHOLDER",
    "cognito_client_id": "PLACEHOLDER-cognito-app-client-id",
    "dashboard_origin": "https://PLACEHOLDER.dashboard.example.com",
    # The user pool's hosted-UI domain (https://...); empty: the app adds a Cognito-prefix
    # domain, <stack name lower-cased>-<account id>, to the pool (a pool has at most one).
    "cognito_domain": "",
    "alarm_email": "",
    # The newest 16.x minor that cfn-lint's list does not mark deprecated: a deprecated
    # version can no longer create a cluster, so the first deploy would fail.
    "aurora_postgres_version": "16.15",
    "db_name": "analytics",
    "db_min_acu": 0.5,
    "db_max_acu": 4,
    "db_reader": False,
    # Turned on once the first deploy has succeeded (see database.py), never at creation.
    "db_deletion_protection": True,
    "db_backup_retention_days": 7,
    # Empty: CloudFormation generates the identifier. Only for a stack deployed before the
    # identifier was generated: its old fixed identifier, or the update replaces the cluster.
    "db_cluster_identifier": "",
    "max_azs": 2,
    # Empty: derived from stack_name, so two stacks in one account and region never share it.
    "glue_database": "",
    # Adopting the DynamoDB version's lake (issue 16): the name of its analytics bucket and of
    # its Glue database holding `events` and `initial_events`; empty: the stack creates its own.
    "existing_analytics_bucket": "",
    "existing_glue_database": "",
    "athena_bytes_scanned_cutoff_mb": 10_240,
    "failed_batch_expiry_days": 30,
    "log_retention_days": 30,
    "hot_window_days": 30,
    "hot_retention_days": 32,
    "http_retry_seconds": 3600,
    # Concurrent executions reserved for (and capping) the public ingest function, so that a
    # flood cannot take the account's concurrency from processIngest and the API; 0 = none.
    "ingest_reserved_concurrency": 100,
    # An AWS WAF web ACL with a per-IP rate-based rule on the ingest distribution.
    "ingest_waf": False,
    "ingest_waf_rate_limit": 2000,
    # The VersionId of the origin secret CloudFront sends (set while rotating it; docs/deploy.md).
    "origin_secret_version_id": "",
    "lambda_asset_dir": "",
    "migration_run_id": "",
    "deploy": False,
}

# Context keys that must be set to real values before a deploy.
REQUIRED_FOR_DEPLOY = ("cognito_user_pool_id", "cognito_client_id", "dashboard_origin")

_USER_POOL_ID = re.compile(r"(?P<region>[a-z]{2}(?:-[a-z]+)+-\d)_[0-9A-Za-z]+")
_STACK_NAME = re.compile(r"[A-Za-z][A-Za-z0-9-]{0,63}")
_GLUE_NAME = re.compile(r"[a-z][a-z0-9_]{0,254}")
_BUCKET_NAME = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
_CLUSTER_ID = re.compile(r"[a-z](?!.*--)[a-z0-9-]{0,61}[a-z0-9]")
_VERSION_ID = re.compile(r"[A-Za-z0-9-]{32,64}")
_TRUE = frozenset({"true", "1", "yes"})
_FALSE = frozenset({"false", "0", "no", ""})


class ContextError(ValueError):
    """A context value is malformed (wrong type, out of range); raised at synth and deploy."""


class DeployRefusedError(RuntimeError):
    """A deploy was requested while placeholders or a placeholder asset are still in place."""

    def __init__(self, problems: tuple[str, ...]) -> None:
        self.problems = problems
        listing = "\n".join(f"  - {problem}" for problem in problems)
        super().__init__(f"refusing to deploy:\n{listing}")


def _as_bool(key: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ContextError(f"context value {key!r} must be true or false, not {value!r}")


def _as_number(key: str, value: Any, *, minimum: float, maximum: float) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ContextError(f"context value {key!r} must be a number, not {value!r}") from None
    if not minimum <= number <= maximum:
        raise ContextError(
            f"context value {key!r} must be in [{minimum}, {maximum}], not {value!r}"
        )
    return number


def _as_int(key: str, value: Any, *, minimum: int, maximum: int) -> int:
    number = _as_number(key, value, minimum=minimum, maximum=maximum)
    if number != int(number):
        raise ContextError(f"context value {key!r} must be a whole number, not {value!r}")
    return int(number)


@dataclass(frozen=True)
class DeploySettings:
    """The typed, validated context of one synth or deploy."""

    stack_name: str
    cognito_user_pool_id: str
    cognito_client_id: str
    dashboard_origin: str
    cognito_domain: str
    alarm_email: str
    aurora_postgres_version: str
    db_name: str
    db_min_acu: float
    db_max_acu: float
    db_reader: bool
    db_deletion_protection: bool
    db_backup_retention_days: int
    db_cluster_identifier: str
    max_azs: int
    glue_database: str
    existing_analytics_bucket: str
    existing_glue_database: str
    athena_bytes_scanned_cutoff_mb: int
    failed_batch_expiry_days: int
    log_retention_days: int
    hot_window_days: int
    hot_retention_days: int
    http_retry_seconds: int
    ingest_reserved_concurrency: int
    ingest_waf: bool
    ingest_waf_rate_limit: int
    origin_secret_version_id: str
    lambda_asset_dir: str
    migration_run_id: str
    deploy: bool

    @classmethod
    def from_context(cls, get: Callable[[str], Any] | Mapping[str, Any]) -> DeploySettings:
        """Read and validate every key of `DEFAULTS` from a context getter or mapping."""
        lookup: Callable[[str], Any] = get.get if isinstance(get, Mapping) else get

        def raw(key: str) -> Any:
            value = lookup(key)
            return DEFAULTS[key] if value is None else value

        def text(key: str) -> str:
            return str(raw(key)).strip()

        settings = cls(
            stack_name=text("stack_name"),
            cognito_user_pool_id=text("cognito_user_pool_id"),
            cognito_client_id=text("cognito_client_id"),
            dashboard_origin=text("dashboard_origin").rstrip("/"),
            cognito_domain=text("cognito_domain").rstrip("/"),
            alarm_email=text("alarm_email"),
            aurora_postgres_version=text("aurora_postgres_version"),
            db_name=text("db_name"),
            db_min_acu=_as_number("db_min_acu", raw("db_min_acu"), minimum=0, maximum=256),
            db_max_acu=_as_number("db_max_acu", raw("db_max_acu"), minimum=1, maximum=256),
            db_reader=_as_bool("db_reader", raw("db_reader")),
            db_deletion_protection=_as_bool(
                "db_deletion_protection", raw("db_deletion_protection")
            ),
            db_backup_retention_days=_as_int(
                "db_backup_retention_days", raw("db_backup_retention_days"), minimum=1, maximum=35
            ),
            db_cluster_identifier=text("db_cluster_identifier").lower(),
            max_azs=_as_int("max_azs", raw("max_azs"), minimum=2, maximum=3),
            # An adopted database is the one the tables live in.
            glue_database=text("existing_glue_database")
            or text("glue_database")
            or derived_glue_database(text("stack_name")),
            existing_analytics_bucket=text("existing_analytics_bucket"),
            existing_glue_database=text("existing_glue_database"),
            athena_bytes_scanned_cutoff_mb=_as_int(
                "athena_bytes_scanned_cutoff_mb",
                raw("athena_bytes_scanned_cutoff_mb"),
                minimum=10,
                maximum=10_000_000,
            ),
            failed_batch_expiry_days=_as_int(
                "failed_batch_expiry_days", raw("failed_batch_expiry_days"), minimum=1, maximum=3650
            ),
            log_retention_days=_as_int(
                "log_retention_days", raw("log_retention_days"), minimum=1, maximum=3653
            ),
            hot_window_days=_as_int(
                "hot_window_days", raw("hot_window_days"), minimum=1, maximum=3650
            ),
            hot_retention_days=_as_int(
                "hot_retention_days", raw("hot_retention_days"), minimum=1, maximum=3650
            ),
            # Firehose accepts 0-7200 s; below a few minutes a short database outage loses
            # batches to the S3 backup that a retry would have delivered.
            http_retry_seconds=_as_int(
                "http_retry_seconds", raw("http_retry_seconds"), minimum=300, maximum=7200
            ),
            ingest_reserved_concurrency=_as_int(
                "ingest_reserved_concurrency",
                raw("ingest_reserved_concurrency"),
                minimum=0,
                maximum=10_000,
            ),
            ingest_waf=_as_bool("ingest_waf", raw("ingest_waf")),
            # AWS WAF's bounds for a rate-based rule's limit (per 5 minutes, per IP).
            ingest_waf_rate_limit=_as_int(
                "ingest_waf_rate_limit",
                raw("ingest_waf_rate_limit"),
                minimum=10,
                maximum=2_000_000_000,
            ),
            origin_secret_version_id=text("origin_secret_version_id"),
            lambda_asset_dir=text("lambda_asset_dir"),
            migration_run_id=text("migration_run_id"),
            deploy=_as_bool("deploy", raw("deploy")),
        )
        settings._check()
        return settings

    def _check(self) -> None:
        if not _STACK_NAME.fullmatch(self.stack_name):
            raise ContextError(
                f"context value 'stack_name' is not a valid stack name: {self.stack_name!r}"
            )
        if self.cognito_domain and not self.cognito_domain.startswith("https://"):
            raise ContextError(
                "context value 'cognito_domain' must be the hosted UI's https:// URL, "
                f"not {self.cognito_domain!r}"
            )
        if not _USER_POOL_ID.fullmatch(self.cognito_user_pool_id):
            raise ContextError(
                "context value 'cognito_user_pool_id' must look like <region>_<id>, "
                f"not {self.cognito_user_pool_id!r}"
            )
        if not self.dashboard_origin.startswith("https://"):
            raise ContextError(
                "context value 'dashboard_origin' must be an https:// origin, "
                f"not {self.dashboard_origin!r}"
            )
        if not self.aurora_postgres_version.startswith("16."):
            raise ContextError(
                "context value 'aurora_postgres_version' must be a PostgreSQL 16.x version, "
                f"not {self.aurora_postgres_version!r}"
            )
        if self.existing_analytics_bucket and not _BUCKET_NAME.fullmatch(
            self.existing_analytics_bucket
        ):
            raise ContextError(
                "context value 'existing_analytics_bucket' is not an S3 bucket name: "
                f"{self.existing_analytics_bucket!r}"
            )
        if self.existing_glue_database and not _GLUE_NAME.fullmatch(self.existing_glue_database):
            raise ContextError(
                "context value 'existing_glue_database' is not a Glue name: "
                f"{self.existing_glue_database!r}"
            )
        if not _GLUE_NAME.fullmatch(self.glue_database):
            raise ContextError(
                f"context value 'glue_database' is not a Glue name: {self.glue_database!r}"
            )
        if self.origin_secret_version_id and not _VERSION_ID.fullmatch(
            self.origin_secret_version_id
        ):
            raise ContextError(
                "context value 'origin_secret_version_id' must be a Secrets Manager VersionId, "
                f"not {self.origin_secret_version_id!r}"
            )
        if self.db_cluster_identifier and not _CLUSTER_ID.fullmatch(self.db_cluster_identifier):
            raise ContextError(
                "context value 'db_cluster_identifier' is not an RDS cluster identifier: "
                f"{self.db_cluster_identifier!r}"
            )
        if self.db_min_acu > self.db_max_acu:
            raise ContextError(
                f"context value 'db_min_acu' ({self.db_min_acu}) exceeds "
                f"'db_max_acu' ({self.db_max_acu})"
            )
        if self.hot_retention_days <= self.hot_window_days:
            raise ContextError(
                f"context value 'hot_retention_days' ({self.hot_retention_days}) must be longer "
                f"than 'hot_window_days' ({self.hot_window_days})"
            )

    @property
    def cognito_region(self) -> str:
        """The region of the user pool, which is the prefix of its id."""
        match = _USER_POOL_ID.fullmatch(self.cognito_user_pool_id)
        if match is None:  # pragma: no cover - rejected by _check
            raise ContextError("malformed cognito_user_pool_id")
        return match["region"]

    @property
    def cognito_issuer(self) -> str:
        """The JWT issuer URL of the Cognito user pool."""
        return (
            f"https://cognito-idp.{self.cognito_region}.amazonaws.com/{self.cognito_user_pool_id}"
        )

    def placeholders(self) -> tuple[str, ...]:
        """One message per context value that still holds its placeholder."""
        return tuple(
            f"context value '{key}' is still the placeholder {getattr(self, key)!r}: "
            f"pass -c {key}=<real value>"
            for key in REQUIRED_FOR_DEPLOY
            if PLACEHOLDER_MARK in str(getattr(self, key))
        )


def derived_glue_database(stack_name: str) -> str:
    """The Glue database of a stack that names none: its name, lower-cased, `-` -> `_`."""
    return stack_name.lower().replace("-", "_")


def context_keys() -> tuple[str, ...]:
    """Every context key the app reads (for documentation tests)."""
    return tuple(field.name for field in fields(DeploySettings))
