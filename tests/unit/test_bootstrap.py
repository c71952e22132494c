"""The composition root picks adapters from the settings and honours overrides."""

from __future__ import annotations

from pathlib import Path

import pytest

from adapters.aws.firehose import FirehoseColdForwarder
from adapters.config import Settings
from adapters.lake import LocalLakeColdForwarder
from adapters.memory import InMemorySiteRepository
from entrypoints import bootstrap


def test_local_lake_dir_selects_the_parquet_lake(tmp_path: Path) -> None:
    """With LOCAL_LAKE_DIR set, rows go cold into the local lake, not to Firehose."""
    services = bootstrap.build(Settings.from_environ({"LOCAL_LAKE_DIR": str(tmp_path)}))
    assert isinstance(services.cold_forwarder, LocalLakeColdForwarder)


def test_without_local_lake_dir_rows_go_to_firehose() -> None:
    """Without LOCAL_LAKE_DIR the cold forwarder is the Firehose one (no AWS call made)."""
    env = {"EVENTS_STREAM_NAME": "events", "INITIAL_EVENTS_STREAM_NAME": "initial_events"}
    services = bootstrap.build(Settings.from_environ(env))
    assert isinstance(services.cold_forwarder, FirehoseColdForwarder)


def test_overrides_replace_parts_and_unknown_names_are_refused() -> None:
    """An override is used as is; a misspelt part name is an error, not silently ignored."""
    fake = InMemorySiteRepository()
    assert bootstrap.build(Settings(), sites=fake).sites is fake
    with pytest.raises(TypeError, match="unknown service 'site'"):
        bootstrap.build(Settings(), site=fake)
