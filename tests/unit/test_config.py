"""Settings from the environment: defaults, and a clear stop naming what is missing."""

from __future__ import annotations

import pytest

from adapters.config import DatabaseSecret, DatabaseUrl, Env, Settings
from analytics_core.errors import ConfigurationError


def test_defaults_and_blank_values() -> None:
    """Unset and blank variables are None; the day windows take 30 and 32."""
    settings = Settings.from_environ({"DATABASE_URL": "  ", "EVENTS_STREAM_NAME": "events"})
    assert settings.database_url is None
    assert settings.events_stream_name == "events"
    assert (settings.hot_window_days, settings.hot_retention_days) == (30, 32)


def test_database_url_wins_over_the_secret_triple() -> None:
    """DATABASE_URL is used as is when set."""
    settings = Settings.from_environ({"DATABASE_URL": "postgresql://x/y", "DB_SECRET_ARN": "arn"})
    assert settings.database() == DatabaseUrl("postgresql://x/y")


def test_secret_triple() -> None:
    """In AWS the secret ARN, host and name make the database settings."""
    env = {"DB_SECRET_ARN": "arn:aws:secretsmanager:x", "DB_HOST": "proxy", "DB_NAME": "analytics"}
    assert Settings.from_environ(env).database() == DatabaseSecret(
        "arn:aws:secretsmanager:x", "proxy", "analytics", 5432
    )


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({}, "DATABASE_URL"),
        ({"DB_SECRET_ARN": "arn"}, "DB_HOST"),
        ({"DB_SECRET_ARN": "arn", "DB_HOST": "h"}, "DB_NAME"),
    ],
)
def test_missing_database_settings_are_named(env: dict[str, str], named: str) -> None:
    """Asking for the database without its settings names the missing variable."""
    with pytest.raises(ConfigurationError, match=named) as info:
        Settings.from_environ(env).database()
    assert info.value.setting == named


def test_require_names_the_variable() -> None:
    """A function-specific setting that is missing is named in the error."""
    with pytest.raises(ConfigurationError, match="INGEST_STREAM_NAME"):
        Settings.from_environ({}).require(Env.INGEST_STREAM_NAME)
    assert Settings.from_environ({"INGEST_STREAM_NAME": "s"}).require(Env.INGEST_STREAM_NAME) == "s"


@pytest.mark.parametrize(
    "env",
    [
        {"HOT_WINDOW_DAYS": "thirty"},
        {"HOT_RETENTION_DAYS": "0"},
        {"HOT_WINDOW_DAYS": "30", "HOT_RETENTION_DAYS": "30"},
    ],
)
def test_malformed_day_windows_are_refused(env: dict[str, str]) -> None:
    """Non-integers, zero, and a retention not longer than the query window stop the start."""
    with pytest.raises(ConfigurationError):
        Settings.from_environ(env)


def test_secrets_never_appear_in_repr() -> None:
    """The repr of settings (as logged) hides the database URL and the access key."""
    settings = Settings.from_environ(
        {"DATABASE_URL": "postgresql://u:hunter2@h/d", "FIREHOSE_ACCESS_KEY": "k3y-s3cret"}
    )
    assert "hunter2" not in repr(settings)
    assert "k3y-s3cret" not in repr(settings)


def test_every_env_name_is_a_settings_field_or_a_documented_extra() -> None:
    """Each environment variable maps onto a Settings field of the same (lower-case) name."""
    fields = {f.name for f in Settings.__attrs_attrs__}
    assert {name.value.lower() for name in Env} <= fields
