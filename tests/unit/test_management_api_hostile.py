"""The management API never answers 500 for a request body: any JSON (recursive values, huge
integers, 1e999, NaN) sent to POST /api/sites, PUT /api/sites/{id} or PUT /api/accounts is
either taken or refused with a 4xx."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from tests.support.clock import FakeClock
from tests.support.events import api_event
from tests.support.hostile import Raw, json_values, to_json

from adapters.config import Settings
from adapters.memory import InMemoryAccountRepository, InMemorySiteRepository
from entrypoints import bootstrap
from entrypoints.api import accounts as accounts_api
from entrypoints.api import sites as sites_api

SERVICES = bootstrap.build(
    Settings(),
    sites=InMemorySiteRepository(),
    accounts=InMemoryAccountRepository(),
    clock=FakeClock(),
)
SITES = sites_api.make_handler(SERVICES)
ACCOUNTS = accounts_api.make_handler(SERVICES)
SITE_ID = json.loads(
    SITES(api_event("POST", "/api/sites", body={"name": "A", "domains": ["example.com"]}), None)[
        "body"
    ]
)["siteId"]

bodies = (
    st.fixed_dictionaries(
        {},
        optional=dict.fromkeys(
            ("name", "domains", "complianceLevel", "emailNotifications", "plan"), json_values
        ),
    )
    | json_values
)


def answer(route: str, text: str) -> dict[str, Any]:
    if route == "accounts":
        return ACCOUNTS(api_event("PUT", "/api/accounts", raw_body=text), None)
    if route == "create":
        return SITES(api_event("POST", "/api/sites", raw_body=text), None)
    return SITES(
        api_event("PUT", f"/api/sites/{SITE_ID}", raw_body=text, path_parameters={"id": SITE_ID}),
        None,
    )


@settings(max_examples=300)
@given(body=bodies, route=st.sampled_from(["create", "update", "accounts"]))
def test_any_json_body_is_taken_or_refused_never_a_500(body: Any, route: str) -> None:
    """Whatever JSON the body holds, the answer is 2xx or 4xx with a JSON body."""
    response = answer(route, to_json(body))
    assert response["statusCode"] < 500, response["body"]
    json.loads(response["body"])


def test_an_integer_too_long_for_python_is_a_400() -> None:
    """A 10,000-digit integer (which Python refuses to convert) is invalid JSON: 400, not 500."""
    text = to_json({"name": Raw("9" * 10_000), "domains": ["example.com"]})
    for route in ("create", "update", "accounts"):
        assert answer(route, text)["statusCode"] == 400
