"""The ingest (collect) Lambda module with a moto Firehose stream, and the whole path from the
tracker's request to a stored row through the real processIngest handler."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import psycopg
import pytest
from tests.support.aws import create_stream, delivered_objects, fake_aws
from tests.support.db import fetch_all
from tests.support.ingest import ACCESS_KEY, SITE, collect_event, firehose_event
from tests.support.modules import lambda_module

from adapters.config import Env
from adapters.postgres.pool import Pool
from analytics_core.errors import ConfigurationError
from entrypoints.envelopes import decode_envelope

BUCKET = "ingest-stand-in"


@pytest.fixture
def aws() -> Iterator[None]:
    with fake_aws():
        for name in ("IngestHttp", "events", "initial_events"):
            create_stream(name, BUCKET)
        yield


def records_of(stream: str) -> list[bytes]:
    """The records moto delivered for the stream (one object per PutRecord call here)."""
    return delivered_objects(BUCKET, stream)


def test_collect_puts_the_envelope_into_the_ingest_stream(aws: None) -> None:
    """A cold start with INGEST_STREAM_NAME, a tracker POST: 202, one envelope in Firehose
    without the visitor's IP (CloudFront geo headers were present)."""
    with lambda_module("entrypoints.lambdas.ingest", {"INGEST_STREAM_NAME": "IngestHttp"}) as m:
        response = m.handler(collect_event(), None)
    assert response["statusCode"] == 202
    (data,) = records_of("IngestHttp")
    envelope = decode_envelope(data)
    assert envelope is not None
    assert envelope.site_id == SITE
    assert envelope.ctx.ip is None
    assert "2a02:8109" not in data.decode()


def test_collect_answers_503_when_firehose_refuses(aws: None) -> None:
    """A stream that does not exist refuses the record: 503 with a JSON error and CORS."""
    with lambda_module("entrypoints.lambdas.ingest", {"INGEST_STREAM_NAME": "Missing"}) as m:
        response = m.handler(collect_event(), None)
    assert response["statusCode"] == 503
    assert response["headers"]["Access-Control-Allow-Origin"] == "*"
    assert json.loads(response["body"])["error"]["code"] == "unavailable"


def test_collect_needs_its_stream_name(aws: None) -> None:
    """Without INGEST_STREAM_NAME the cold start stops, naming it."""
    with (
        pytest.raises(ConfigurationError, match="INGEST_STREAM_NAME"),
        lambda_module("entrypoints.lambdas.ingest", {"INGEST_STREAM_NAME": ""}),
    ):
        pass


def test_collect_behind_cloudfront_checks_the_origin_secret(aws: None) -> None:
    """With CLOUDFRONT_ORIGIN_SECRET_ARN (the secret in Secrets Manager, as deployed): the
    right X-Origin-Verify is 202, a missing or wrong one 403 with nothing put to the stream."""
    arn = boto3.client("secretsmanager").create_secret(
        Name="origin-verify", SecretString=json.dumps({"value": "v" * 48})
    )["ARN"]
    environ = {"INGEST_STREAM_NAME": "IngestHttp", "CLOUDFRONT_ORIGIN_SECRET_ARN": arn}
    with lambda_module("entrypoints.lambdas.ingest", environ) as m:
        for header in (None, "w" * 48):
            event = collect_event(headers={"x-origin-verify": header})
            response = m.handler(event, None)
            assert response["statusCode"] == 403
            assert json.loads(response["body"])["error"]["code"] == "forbidden"
        assert records_of("IngestHttp") == []
        ok = m.handler(collect_event(headers={"x-origin-verify": "v" * 48}), None)
    assert ok["statusCode"] == 202
    assert len(records_of("IngestHttp")) == 1


def test_from_the_tracker_to_a_stored_row(aws: None, db: Pool, database_url: str) -> None:
    """collect -> Firehose record -> processIngest request -> the row in initial_events, with
    geo from CloudFront, the browser from the user agent, and no IP stored anywhere."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO sites (site_id, owner_sub, name, domains) "
            "VALUES (%s, 'o', 'n', ARRAY['example.com'])",
            (SITE,),
        )
    with lambda_module("entrypoints.lambdas.ingest", {"INGEST_STREAM_NAME": "IngestHttp"}) as m:
        assert m.handler(collect_event(), None)["statusCode"] == 202
    environ = {
        Env.DATABASE_URL.value: database_url,
        Env.FIREHOSE_ACCESS_KEY.value: ACCESS_KEY,
        Env.EVENTS_STREAM_NAME.value: "events",
        Env.INITIAL_EVENTS_STREAM_NAME.value: "initial_events",
    }
    with lambda_module("entrypoints.lambdas.process_ingest", environ) as m:
        response: dict[str, Any] = m.handler(firehose_event(records_of("IngestHttp")), None)
    assert response["statusCode"] == 200
    (row,) = fetch_all(
        database_url,
        "SELECT site_id, event, pathname, referer, referer_domain, device, os, browser, country, "
        "region, city, screen_width, screen_height FROM initial_events",
    )
    assert row == (
        SITE,
        "pageview",
        "/pricing",
        "https://www.google.com/",
        "google.com",
        "desktop",
        "Mac OS X",
        "Chrome",
        "DE",
        "DE-BY",
        None,  # level 1 keeps no city
        1920,
        1080,
    )
    (cold,) = records_of("initial_events")
    assert json.loads(cold)["region"] == "DE-BY"
