"""The /api/sites and /api/accounts handlers over in-memory fakes, with canonical events."""

from __future__ import annotations

from typing import Any

import pytest
from tests.support.clock import FakeClock
from tests.support.events import OWNER_A, OWNER_B, api_event, body_of, load_event

from adapters.config import Settings
from adapters.memory import InMemoryAccountRepository, InMemorySiteRepository
from analytics_core.ids import is_ulid
from entrypoints import bootstrap
from entrypoints.api import accounts as accounts_api
from entrypoints.api import sites as sites_api
from entrypoints.http import LambdaHandler


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def services(clock: FakeClock) -> bootstrap.Services:
    return bootstrap.build(
        Settings(),
        sites=InMemorySiteRepository(),
        accounts=InMemoryAccountRepository(),
        clock=clock,
    )


@pytest.fixture
def sites(services: bootstrap.Services) -> LambdaHandler:
    return sites_api.make_handler(services)


@pytest.fixture
def accounts(services: bootstrap.Services) -> LambdaHandler:
    return accounts_api.make_handler(services)


def create(handler: LambdaHandler, body: object, sub: str = OWNER_A) -> dict[str, Any]:
    response = handler(api_event("POST", "/api/sites", body=body, sub=sub), None)
    assert response["statusCode"] == 201, response["body"]
    return body_of(response)


def test_canonical_create_event(sites: LambdaHandler) -> None:
    """The canonical POST sample creates a site with a ULID, normalised domains and defaults."""
    response = sites(load_event("apigw_v2_jwt_post_sites"), None)
    assert response["statusCode"] == 201
    assert response["headers"]["Content-Type"] == "application/json"
    site = body_of(response)
    assert is_ulid(site["siteId"])
    assert site["domains"] == ["example.com", "blog.example.com"]
    assert site["plan"] == "free_tier"
    assert site["requestAllowance"] == 10000
    assert site["complianceLevel"] == 1
    assert site["ownerSub"] == OWNER_A
    assert site["createdAt"] == site["updatedAt"] == "2026-11-25T12:00:00.000Z"


def test_list_get_update_round_trip(sites: LambdaHandler, clock: FakeClock) -> None:
    """Create, list, get and update; the update bumps updatedAt and keeps createdAt."""
    first = create(sites, {"name": "One", "domains": ["one.example"]})
    second = create(sites, {"name": "Two", "domains": ["two.example"], "complianceLevel": 0})
    listed = body_of(sites(api_event("GET", "/api/sites"), None))
    assert [s["siteId"] for s in listed["sites"]] == [first["siteId"], second["siteId"]]

    path = f"/api/sites/{first['siteId']}"
    got = sites(api_event("GET", path, path_parameters={"id": first["siteId"]}), None)
    assert body_of(got) == first

    clock.advance(minutes=5)
    changes = {
        "name": "One renamed",
        "domains": ["ONE.example", "www.one.example"],
        "complianceLevel": 2,
    }
    updated = body_of(
        sites(api_event("PUT", path, body=changes, path_parameters={"id": first["siteId"]}), None)
    )
    assert updated["name"] == "One renamed"
    assert updated["domains"] == ["one.example", "www.one.example"]
    assert updated["complianceLevel"] == 2
    assert updated["createdAt"] == first["createdAt"]
    assert updated["updatedAt"] == "2026-11-25T12:05:00.000Z"


def test_partial_update_keeps_other_fields(sites: LambdaHandler) -> None:
    """A PUT with only some fields leaves the others unchanged."""
    site = create(sites, {"name": "Keep", "domains": ["keep.example"], "complianceLevel": 0})
    event = api_event(
        "PUT",
        f"/api/sites/{site['siteId']}",
        body={"name": "Kept"},
        path_parameters={"id": site["siteId"]},
    )
    updated = body_of(sites(event, None))
    assert (updated["name"], updated["domains"], updated["complianceLevel"]) == (
        "Kept",
        ["keep.example"],
        0,
    )


def test_owners_are_isolated_on_every_route(sites: LambdaHandler) -> None:
    """Another owner's site is 404 on GET and PUT, and absent from their list."""
    site = create(sites, {"name": "Mine", "domains": ["mine.example"]}, sub=OWNER_A)
    path, params = f"/api/sites/{site['siteId']}", {"id": site["siteId"]}
    assert (
        sites(api_event("GET", path, path_parameters=params, sub=OWNER_B), None)["statusCode"]
        == 404
    )
    put = api_event("PUT", path, body={"name": "Stolen"}, path_parameters=params, sub=OWNER_B)
    assert sites(put, None)["statusCode"] == 404
    assert body_of(sites(api_event("GET", "/api/sites", sub=OWNER_B), None)) == {"sites": []}
    unchanged = body_of(sites(api_event("GET", path, path_parameters=params), None))
    assert unchanged["name"] == "Mine"


def test_missing_and_other_owner_sites_answer_identically(sites: LambdaHandler) -> None:
    """A site of someone else answers byte for byte like one that does not exist."""
    site = create(sites, {"name": "Mine", "domains": ["mine.example"]})
    other = sites(
        api_event(
            "GET",
            f"/api/sites/{site['siteId']}",
            path_parameters={"id": site["siteId"]},
            sub=OWNER_B,
        ),
        None,
    )
    missing_id = "01JDQ7ZK3M0000000000000000"
    missing = sites(
        api_event(
            "GET", f"/api/sites/{missing_id}", path_parameters={"id": missing_id}, sub=OWNER_B
        ),
        None,
    )
    assert other == missing


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/api/sites"),
        ("GET", "/api/sites"),
        ("GET", "/api/sites/X"),
        ("PUT", "/api/sites/X"),
    ],
)
def test_no_sub_is_401_on_every_route(sites: LambdaHandler, method: str, path: str) -> None:
    """Without JWT claims every route answers 401 before looking at the body."""
    params = {"id": "X"} if path.endswith("/X") else None
    event = api_event(method, path, sub=None, raw_body="{not json", path_parameters=params)
    response = sites(event, None)
    assert response["statusCode"] == 401
    assert body_of(response)["error"]["code"] == "unauthorized"


def test_blank_sub_is_401(sites: LambdaHandler) -> None:
    """An empty sub claim is no identity."""
    assert sites(api_event("GET", "/api/sites", sub=" "), None)["statusCode"] == 401


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"domains": ["a.example"]}, "name"),
        ({"name": "x"}, "domains"),
        ({"name": "", "domains": ["a.example"]}, "name"),
        ({"name": "   ", "domains": ["a.example"]}, "name"),
        ({"name": "x" * 101, "domains": ["a.example"]}, "name"),
        ({"name": "bad\u0000name", "domains": ["a.example"]}, "name"),
        ({"name": 5, "domains": ["a.example"]}, "name"),
        ({"name": None, "domains": ["a.example"]}, "name"),
        ({"name": "x", "domains": []}, "domains"),
        ({"name": "x", "domains": "a.example"}, "domains"),
        ({"name": "x", "domains": [1]}, "domains"),
        ({"name": "x", "domains": ["127.0.0.1"]}, "domains"),
        ({"name": "x", "domains": ["[::1]"]}, "domains"),
        ({"name": "x", "domains": ["a..example"]}, "domains"),
        ({"name": "x", "domains": ["a.example", "A.example."]}, "domains"),
        ({"name": "x", "domains": [f"d{i}.example" for i in range(51)]}, "domains"),
        ({"name": "x", "domains": ["a.example"], "complianceLevel": 3}, "complianceLevel"),
        ({"name": "x", "domains": ["a.example"], "complianceLevel": -1}, "complianceLevel"),
        ({"name": "x", "domains": ["a.example"], "complianceLevel": "1"}, "complianceLevel"),
        ({"name": "x", "domains": ["a.example"], "complianceLevel": True}, "complianceLevel"),
        ({"name": "x", "domains": ["a.example"], "complianceLevel": 1.0}, "complianceLevel"),
        ({"name": "x", "domains": ["a.example"], "plan": "pro"}, "plan"),
        ({"name": "x", "domains": ["a.example"], "requestAllowance": 10**9}, "requestAllowance"),
        ({"name": "x", "domains": ["a.example"], "ownerSub": OWNER_B}, "ownerSub"),
        ({"name": "x", "domains": ["a.example"], "siteId": "01JDQ7ZK3M0000000000000000"}, "siteId"),
        ({"name": "x", "domains": ["a.example"], "colour": "red"}, "colour"),
    ],
)
def test_create_rejects_each_rule_naming_the_field(
    sites: LambdaHandler, body: dict[str, Any], field: str
) -> None:
    """Each validation rule is a 400 whose error names the offending field."""
    response = sites(api_event("POST", "/api/sites", body=body), None)
    assert response["statusCode"] == 400
    error = body_of(response)["error"]
    assert error["code"] == "invalid_request"
    assert field in error["fields"]


@pytest.mark.parametrize(
    "body",
    [
        {"plan": "pro"},
        {"requestAllowance": 5},
        {"ownerSub": OWNER_B},
        {"siteId": "x"},
        {"theme": "dark"},
        {},
        {"name": None},
    ],
)
def test_update_rejects_read_only_unknown_and_empty(
    sites: LambdaHandler, body: dict[str, Any]
) -> None:
    """Read-only, unknown, null and empty updates are 400 and change nothing."""
    site = create(sites, {"name": "Same", "domains": ["same.example"]})
    params = {"id": site["siteId"]}
    response = sites(
        api_event("PUT", f"/api/sites/{site['siteId']}", body=body, path_parameters=params), None
    )
    assert response["statusCode"] == 400
    for key in body:
        assert key in body_of(response)["error"]["fields"]
    assert (
        body_of(
            sites(api_event("GET", f"/api/sites/{site['siteId']}", path_parameters=params), None)
        )
        == site
    )


@pytest.mark.parametrize("raw", ["{not json", "[1, 2]", '"text"', "null", "", "\udcff"])
def test_bodies_that_are_not_json_objects_are_400(sites: LambdaHandler, raw: str) -> None:
    """Invalid JSON and JSON that is not an object are 400 with a message, no trace."""
    response = sites(api_event("POST", "/api/sites", raw_body=raw), None)
    assert response["statusCode"] == 400
    assert "Traceback" not in response["body"]


def test_base64_body_is_decoded(sites: LambdaHandler) -> None:
    """A body API Gateway passes base64-encoded is decoded before parsing."""
    event = api_event(
        "POST", "/api/sites", body={"name": "B64", "domains": ["b64.example"]}, base64_body=True
    )
    assert sites(event, None)["statusCode"] == 201


def test_invalid_base64_is_400(sites: LambdaHandler) -> None:
    """A body flagged base64 that is not is a 400."""
    event = api_event("POST", "/api/sites", raw_body="***", base64_body=False)
    event["isBase64Encoded"] = True
    assert sites(event, None)["statusCode"] == 400


@pytest.mark.parametrize(
    ("method", "path"), [("DELETE", "/api/sites"), ("GET", "/api/nope"), ("PATCH", "/api/sites")]
)
def test_unknown_route_is_404(sites: LambdaHandler, method: str, path: str) -> None:
    """A route the API does not have is 404."""
    event = api_event(method, path, route_key="$default")
    assert sites(event, None)["statusCode"] == 404


def test_routes_resolve_without_route_key(sites: LambdaHandler) -> None:
    """Events without a routeKey (Function URL, local server) are routed by method and path."""
    site = create(sites, {"name": "Path", "domains": ["path.example"]})
    event = api_event("GET", f"/api/sites/{site['siteId']}", route_key="$default")
    event.pop("pathParameters", None)
    assert body_of(sites(event, None))["siteId"] == site["siteId"]


def test_unexpected_errors_are_500_without_details(services: bootstrap.Services) -> None:
    """A bug in an adapter becomes a bare 500: no message, no stack trace, no SQL."""

    class Broken(InMemorySiteRepository):
        def list_for_owner(self, owner: str) -> list[Any]:
            raise RuntimeError("SELECT secret FROM sites -- boom")

    handler = sites_api.make_handler(
        bootstrap.build(Settings(), sites=Broken(), clock=services.clock)
    )
    response = handler(api_event("GET", "/api/sites"), None)
    assert response["statusCode"] == 500
    assert "SELECT" not in response["body"]
    assert "boom" not in response["body"]
    assert body_of(response) == {"error": {"code": "internal_error", "message": "internal error"}}


def test_account_created_on_first_read(accounts: LambdaHandler) -> None:
    """GET /api/accounts creates the account with daily notifications."""
    response = accounts(api_event("GET", "/api/accounts"), None)
    assert response["statusCode"] == 200
    assert body_of(response) == {
        "cognitoSub": OWNER_A,
        "emailNotifications": "daily",
        "createdAt": "2026-11-25T12:00:00.000Z",
        "updatedAt": "2026-11-25T12:00:00.000Z",
    }


def test_account_update(accounts: LambdaHandler, clock: FakeClock) -> None:
    """PUT /api/accounts changes the preference and bumps updatedAt."""
    accounts(api_event("GET", "/api/accounts"), None)
    clock.advance(hours=1)
    response = accounts(
        api_event("PUT", "/api/accounts", body={"emailNotifications": "weekly"}), None
    )
    assert body_of(response)["emailNotifications"] == "weekly"
    assert body_of(response)["updatedAt"] == "2026-11-25T13:00:00.000Z"
    assert body_of(response)["createdAt"] == "2026-11-25T12:00:00.000Z"
    other = body_of(accounts(api_event("GET", "/api/accounts", sub=OWNER_B), None))
    assert other["emailNotifications"] == "daily"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"emailNotifications": "hourly"}, "emailNotifications"),
        ({"emailNotifications": 1}, "emailNotifications"),
        ({}, "emailNotifications"),
        ({"emailNotifications": "daily", "theme": "dark"}, "theme"),
        ({"theme": "dark"}, "theme"),
        ({"cognitoSub": OWNER_B}, "cognitoSub"),
    ],
)
def test_account_update_rejections(
    accounts: LambdaHandler, body: dict[str, Any], field: str
) -> None:
    """Unknown values and fields (theme included) are 400 naming the field."""
    response = accounts(api_event("PUT", "/api/accounts", body=body), None)
    assert response["statusCode"] == 400
    assert field in body_of(response)["error"]["fields"]


def test_canonical_event_without_authorizer_is_401(accounts: LambdaHandler) -> None:
    """The canonical unauthenticated sample is refused."""
    assert accounts(load_event("apigw_v2_no_authorizer"), None)["statusCode"] == 401
