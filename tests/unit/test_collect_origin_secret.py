"""The collect API behind CloudFront: the X-Origin-Verify origin secret and its rotation."""

from __future__ import annotations

import json
from typing import Any

import pytest
from tests.support.clock import FakeClock, SequentialIds
from tests.support.ingest import collect_event, response_json

from adapters.config import Env, Settings
from adapters.memory import InMemoryIngestStream
from analytics_core.errors import InfrastructureError
from entrypoints import bootstrap
from entrypoints.api import collect
from entrypoints.api.collect import CORS_HEADERS, accepted_origin_secrets, make_handler
from entrypoints.envelopes import decode_envelope
from entrypoints.http import LambdaHandler

SECRET = "origin-secret-0123456789abcdefghijklmnopqrstuv"
FORGED_GEO = {
    "cloudfront-viewer-country": "KP",
    "cloudfront-viewer-country-region": "01",
    "cloudfront-viewer-city": "Pyongyang",
}


class SecretStore:
    """A secret whose text can change (a rotation), counting how often it is read."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.reads = 0
        self.failing = False

    def __call__(self) -> str:
        self.reads += 1
        if self.failing:
            raise InfrastructureError("Secrets Manager unreachable")
        return self.text


@pytest.fixture
def stream() -> InMemoryIngestStream:
    return InMemoryIngestStream()


def handler_with(
    stream: InMemoryIngestStream, settings: Settings, clock: FakeClock | None = None, **parts: Any
) -> LambdaHandler:
    services = bootstrap.build(
        settings,
        clock=clock or FakeClock(),
        new_id=SequentialIds(),
        ingest_stream=stream,
        **parts,
    )
    return make_handler(services)


def with_header(value: str | None, **kwargs: Any) -> dict[str, Any]:
    return collect_event(headers={"X-Origin-Verify": value}, **kwargs)


def test_right_header_is_accepted_and_its_viewer_headers_trusted(
    stream: InMemoryIngestStream,
) -> None:
    """With CLOUDFRONT_ORIGIN_SECRET set, a request carrying it is 202 and its envelope keeps
    the CloudFront geo headers."""
    handler = handler_with(stream, Settings.from_environ({"CLOUDFRONT_ORIGIN_SECRET": SECRET}))
    response = handler(with_header(SECRET), None)
    assert response == {"statusCode": 202, "headers": CORS_HEADERS, "body": ""}
    (record,) = stream.records
    envelope = decode_envelope(record)
    assert envelope is not None
    assert envelope.ctx.geo is not None
    assert envelope.ctx.geo.country == "DE"


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "wrong",
        SECRET[:-1],
        SECRET + "x",
        SECRET.upper(),
        f" {SECRET}",
    ],
)
def test_missing_or_wrong_header_is_403_and_nothing_is_put(
    stream: InMemoryIngestStream, header: str | None
) -> None:
    """A direct call to the Function URL (no header, or a wrong one) is 403 with a JSON error,
    and nothing reaches the stream, forged viewer headers included."""
    handler = handler_with(stream, Settings(cloudfront_origin_secret=SECRET))
    event = with_header(header)
    event["headers"].update(FORGED_GEO)
    response = handler(event, None)
    assert response["statusCode"] == 403
    assert response["headers"]["Content-Type"] == "application/json"
    error = response_json(response)["error"]
    assert error["code"] == "forbidden"
    assert isinstance(error["message"], str)
    assert stream.records == []


def test_preflight_needs_the_header_too(stream: InMemoryIngestStream) -> None:
    """Nothing answers directly: an OPTIONS preflight without the header is 403, with it 204."""
    handler = handler_with(stream, Settings(cloudfront_origin_secret=SECRET))
    assert handler(with_header(None, method="OPTIONS"), None)["statusCode"] == 403
    assert handler(with_header(SECRET, method="OPTIONS"), None)["statusCode"] == 204


def test_without_the_setting_nothing_is_checked(stream: InMemoryIngestStream) -> None:
    """No secret configured (local stack, tests): no header or any header is accepted and the
    viewer headers are read as before."""
    handler = handler_with(stream, Settings())
    for event in (with_header(None), with_header("anything")):
        event["headers"].update(FORGED_GEO)
        assert handler(event, None)["statusCode"] == 202
    assert len(stream.records) == 2
    envelope = decode_envelope(stream.records[0])
    assert envelope is not None
    assert envelope.ctx.geo is not None
    assert envelope.ctx.geo.country == "KP"


def test_the_setting_names_are_the_contract() -> None:
    """Both variables are read from the environment under their documented names."""
    settings = Settings.from_environ(
        {"CLOUDFRONT_ORIGIN_SECRET": f" {SECRET} ", "CLOUDFRONT_ORIGIN_SECRET_ARN": "arn:x"}
    )
    assert Env.CLOUDFRONT_ORIGIN_SECRET.value == "CLOUDFRONT_ORIGIN_SECRET"
    assert Env.CLOUDFRONT_ORIGIN_SECRET_ARN.value == "CLOUDFRONT_ORIGIN_SECRET_ARN"
    assert settings.cloudfront_origin_secret == SECRET
    assert settings.cloudfront_origin_secret_arn == "arn:x"
    assert SECRET not in repr(settings)
    assert Settings.from_environ({}).cloudfront_origin_secret is None


def test_the_comparison_is_constant_time(
    stream: InMemoryIngestStream, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The header is compared with hmac.compare_digest against every accepted value, never
    with ==, so its timing says nothing about how much of it was right."""
    calls: list[tuple[bytes, bytes]] = []
    real = collect.hmac.compare_digest

    def recording(a: bytes, b: bytes) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(collect.hmac, "compare_digest", recording)
    secret = json.dumps({"value": "new-value", "previous": "old-value"})
    handler = handler_with(stream, Settings(), origin_secret=SecretStore(secret))
    assert handler(with_header("old-value"), None)["statusCode"] == 202
    assert calls == [(b"old-value", b"new-value"), (b"old-value", b"old-value")]


def test_a_secret_store_outage_is_503_and_nothing_is_put(stream: InMemoryIngestStream) -> None:
    """When the secret cannot be read the answer is 503 (try again), never an open door."""
    store = SecretStore(SECRET)
    store.failing = True
    handler = handler_with(stream, Settings(), origin_secret=store)
    response = handler(with_header(SECRET), None)
    assert response["statusCode"] == 503
    assert stream.records == []


def test_rotation_accepts_both_values_and_reaches_warm_containers(
    stream: InMemoryIngestStream,
) -> None:
    """A warm container reads the secret once; after a rotation to {value: new, previous: old}
    an unknown header re-reads it at most once a minute, then both values pass."""
    clock = FakeClock()
    store = SecretStore(json.dumps({"value": "old-value"}))
    handler = handler_with(stream, Settings(), clock=clock, origin_secret=store)
    assert handler(with_header("old-value"), None)["statusCode"] == 202
    assert handler(with_header("old-value"), None)["statusCode"] == 202
    assert store.reads == 1

    store.text = json.dumps({"value": "new-value", "previous": "old-value"})
    clock.advance(seconds=30)
    assert handler(with_header("new-value"), None)["statusCode"] == 403  # not re-read yet
    assert store.reads == 1
    clock.advance(seconds=31)
    assert handler(with_header("new-value"), None)["statusCode"] == 202
    assert store.reads == 2
    assert handler(with_header("old-value"), None)["statusCode"] == 202
    assert handler(with_header("bogus"), None)["statusCode"] == 403
    assert store.reads == 2
    assert len(stream.records) == 4


@pytest.mark.parametrize(
    ("text", "accepted"),
    [
        ("plain-value", ("plain-value",)),
        ('{"value": "a"}', ("a",)),
        ('{"value": "a", "previous": "b"}', ("a", "b")),
        ('{"value": "a", "previous": ""}', ("a",)),
        ('{"other": "a"}', ('{"other": "a"}',)),
        ("", ()),
    ],
)
def test_secret_text_formats(text: str, accepted: tuple[str, ...]) -> None:
    """A JSON secret gives its value and previous value; any other text is the value; an
    empty secret accepts nothing."""
    assert accepted_origin_secrets(text) == accepted


def test_an_empty_secret_accepts_no_request(stream: InMemoryIngestStream) -> None:
    """A secret read as empty does not turn a missing header into a match."""
    handler = handler_with(stream, Settings(), origin_secret=SecretStore(""))
    assert handler(with_header(None), None)["statusCode"] == 403
    assert handler(with_header(""), None)["statusCode"] == 403
