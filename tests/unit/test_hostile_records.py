"""No record can fail a batch: poison numbers and arbitrary JSON in every payload field go
through processIngest (the Firehose endpoint over in-memory stores) as counted outcomes, and
every row they leave behind can be written by the real adapters."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.support.hostile import envelope_text, good_body, payloads, poison_bodies
from tests.support.ingest import firehose_event, uid
from tests.support.world import firehose_handler, world_with_site

from adapters.aws.firehose import encode_cold_row
from adapters.postgres.events import copy_values
from analytics_core.outcomes import Outcome
from analytics_core.rows import InitialEventRow, Row

RECEIVED_AT = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


class _Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.lines: list[dict[str, Any]] = []

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if message.startswith("{") and '"ingest batch"' in message:
            self.lines.append(json.loads(message))


@contextmanager
def batch_lines() -> Iterator[list[dict[str, Any]]]:
    """The JSON log lines of the batches processed in the block."""
    logger = logging.getLogger("entrypoints.pipeline")
    capture = _Lines()
    level = logger.level
    logger.addHandler(capture)
    logger.setLevel(logging.INFO)
    try:
        yield capture.lines
    finally:
        logger.removeHandler(capture)
        logger.setLevel(level)


def writable(row: Row) -> None:
    """The row goes through what the real stores do with it (COPY values, the cold JSON)."""
    copy_values(row)
    cold = json.loads(encode_cold_row(row))
    assert cold["event_uid"] == row.event_uid
    if row.properties is not None:
        text = json.dumps(row.properties, allow_nan=False)  # finite numbers only
        assert len(text) < 100_000


def test_a_poison_batch_is_answered_200_and_every_good_record_is_stored() -> None:
    """Timestamps of 10^400, -10^400 and 1e999, a 10,000-digit screen width, a timestamp that
    is an object and a property of 10^400 between good records: 200, the good ones stored,
    each poison one stored with the rules' replacements or counted malformed."""
    world = world_with_site()
    handler = firehose_handler(world)
    good = [envelope_text(n, good_body(n)) for n in range(1, 5)]
    poison = [envelope_text(10 + i, body) for i, body in enumerate(poison_bodies())]
    records = [good[0], *poison[:3], good[1], good[2], *poison[3:], good[3]]
    with batch_lines() as lines:
        response = handler(firehose_event(records), None)
    assert response["statusCode"] == 200
    stored = {row.event_uid: row for row in world.store.all_rows()}
    assert {uid(n) for n in range(1, 5)} <= set(stored)
    (line,) = lines
    assert sum(line["outcomes"].values()) == len(records) == line["records"]
    assert line["outcomes"]["accepted"] + line["outcomes"]["malformed"] == len(records)
    for number in (10, 11, 12, 14):  # the timestamps: replaced by received_at
        row = stored[uid(number)]
        assert row.timestamp == RECEIVED_AT
    screen_row = stored[uid(13)]
    assert isinstance(screen_row, InitialEventRow)
    assert screen_row.screen_width is None
    assert screen_row.screen_height == 800
    assert stored[uid(15)].properties == {"plan": "pro"}
    for row in stored.values():
        writable(row)


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(bodies=st.lists(payloads, min_size=1, max_size=12))
def test_arbitrary_json_in_every_field_never_fails_a_batch(bodies: list[Any]) -> None:
    """Payload fields of any JSON value (recursive, big integers, floats, NaN, 1e999): the
    answer is 200, the outcomes add up to the records, and every stored row can be written by
    the PostgreSQL and Firehose adapters."""
    world = world_with_site()
    handler = firehose_handler(world)
    records = [envelope_text(n, body) for n, body in enumerate(bodies, start=1)]
    records.append(envelope_text(999, good_body(999)))
    with batch_lines() as lines:
        response = handler(firehose_event(records), None)
    assert response["statusCode"] == 200, response["body"]
    (line,) = lines
    assert line["records"] == len(records)
    assert sum(line["outcomes"].values()) == len(records)
    rows = world.store.all_rows()
    assert uid(999) in {row.event_uid for row in rows}
    assert len(rows) == line["outcomes"][Outcome.ACCEPTED.value]
    for row in rows:
        writable(row)


def test_a_failure_while_building_one_row_makes_that_record_malformed() -> None:
    """An unexpected exception raised for one record (here by the user-agent parser) counts
    that record as malformed, names the exception class in the log line, and stores the rest."""
    world = world_with_site()
    parse = world.ports.user_agents.parse

    class Exploding:
        def parse(self, user_agent: str) -> Any:
            if "Exploding" in user_agent:
                raise ZeroDivisionError("contains a visitor's data")
            return parse(user_agent)

    ports = world.ports
    world.ports = type(ports)(
        site_configs=ports.site_configs,
        event_store=ports.event_store,
        cold_forwarder=ports.cold_forwarder,
        salts=ports.salts,
        user_agents=Exploding(),
        geo=ports.geo,
    )
    handler = firehose_handler(world)
    bad = json.loads(envelope_text(2, good_body(2)))
    bad["ctx"]["user_agent"] = "Exploding/1.0"
    records = [envelope_text(1, good_body(1)), json.dumps(bad).encode()]
    with batch_lines() as lines:
        assert handler(firehose_event(records), None)["statusCode"] == 200
    (line,) = lines
    assert line["outcomes"]["accepted"] == 1
    assert line["outcomes"]["malformed"] == 1
    assert line["recordErrors"] == {"ZeroDivisionError": 1}
    assert "visitor" not in json.dumps(line)
    assert [row.event_uid for row in world.store.all_rows()] == [uid(1)]
