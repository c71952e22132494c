"""The sites and accounts Lambda modules, imported as Lambda does, on a real PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from types import ModuleType
from typing import Any

import pytest
from tests.support.db import fetch_all
from tests.support.events import OWNER_A, OWNER_B, api_event, body_of, load_event
from tests.support.modules import lambda_module

from adapters.postgres.pool import Pool
from analytics_core.errors import ConfigurationError


@pytest.fixture(scope="module")
def sites_module(database_url: str) -> Iterator[ModuleType]:
    with lambda_module("entrypoints.lambdas.sites", {"DATABASE_URL": database_url}) as module:
        yield module


@pytest.fixture(scope="module")
def accounts_module(database_url: str) -> Iterator[ModuleType]:
    with lambda_module("entrypoints.lambdas.accounts", {"DATABASE_URL": database_url}) as module:
        yield module


def call(module: ModuleType, event: dict[str, Any]) -> dict[str, Any]:
    return module.handler(event, None)


def create(module: ModuleType, body: dict[str, Any], sub: str = OWNER_A) -> dict[str, Any]:
    response = call(module, api_event("POST", "/api/sites", body=body, sub=sub))
    assert response["statusCode"] == 201, response["body"]
    return body_of(response)


def test_create_list_get_update_on_postgres(
    db: Pool, database_url: str, sites_module: ModuleType
) -> None:
    """The full site lifecycle through the real handler lands in the sites table."""
    response = call(sites_module, load_event("apigw_v2_jwt_post_sites"))
    assert response["statusCode"] == 201
    site = body_of(response)
    rows = fetch_all(
        database_url,
        "SELECT owner_sub, name, domains, plan, request_allowance, compliance_level FROM sites WHERE site_id = %s",
        (site["siteId"],),
    )
    assert rows == [
        (OWNER_A, "Example blog", ["example.com", "blog.example.com"], "free_tier", 10000, 1)
    ]

    second = create(
        sites_module, {"name": "Second", "domains": ["second.example"], "complianceLevel": 0}
    )
    listed = body_of(call(sites_module, api_event("GET", "/api/sites")))["sites"]
    assert [s["siteId"] for s in listed] == [site["siteId"], second["siteId"]]

    params = {"id": second["siteId"]}
    path = f"/api/sites/{second['siteId']}"
    assert body_of(call(sites_module, api_event("GET", path, path_parameters=params))) == second
    updated = body_of(
        call(
            sites_module,
            api_event("PUT", path, body={"domains": ["new.example"]}, path_parameters=params),
        )
    )
    assert updated["domains"] == ["new.example"]
    assert updated["updatedAt"] > second["updatedAt"]
    assert updated["createdAt"] == second["createdAt"]
    assert fetch_all(
        database_url, "SELECT domains FROM sites WHERE site_id = %s", (second["siteId"],)
    ) == [(["new.example"],)]


def test_owners_never_see_or_change_each_others_sites(
    db: Pool, database_url: str, sites_module: ModuleType
) -> None:
    """Every route tried by another owner: not found, not listed, not changed."""
    mine = create(sites_module, {"name": "A's", "domains": ["a.example"]}, sub=OWNER_A)
    theirs = create(sites_module, {"name": "B's", "domains": ["b.example"]}, sub=OWNER_B)
    for owner, other in ((OWNER_A, theirs), (OWNER_B, mine)):
        params = {"id": other["siteId"]}
        path = f"/api/sites/{other['siteId']}"
        assert (
            call(sites_module, api_event("GET", path, path_parameters=params, sub=owner))[
                "statusCode"
            ]
            == 404
        )
        put = api_event(
            "PUT",
            path,
            body={"name": "hijacked", "domains": ["evil.example"]},
            path_parameters=params,
            sub=owner,
        )
        assert call(sites_module, put)["statusCode"] == 404
        listed = body_of(call(sites_module, api_event("GET", "/api/sites", sub=owner)))["sites"]
        assert [s["siteId"] for s in listed] == [
            mine["siteId"] if owner == OWNER_A else theirs["siteId"]
        ]
    names = dict(fetch_all(database_url, "SELECT site_id, name FROM sites"))
    assert names == {mine["siteId"]: "A's", theirs["siteId"]: "B's"}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "x", "domains": ["10.0.0.1"]}, "domains"),
        ({"name": "", "domains": ["a.example"]}, "name"),
        ({"name": "x", "domains": ["a.example"], "complianceLevel": 7}, "complianceLevel"),
        ({"name": "x", "domains": ["a.example"], "requestAllowance": 1}, "requestAllowance"),
    ],
)
def test_validation_on_the_real_handler(
    db: Pool, database_url: str, sites_module: ModuleType, body: dict[str, Any], field: str
) -> None:
    """Rejected requests are 400 naming the field and store nothing."""
    response = call(sites_module, api_event("POST", "/api/sites", body=body))
    assert response["statusCode"] == 400
    assert field in body_of(response)["error"]["fields"]
    assert fetch_all(database_url, "SELECT count(*) FROM sites") == [(0,)]


def test_accounts_get_or_create_and_update(
    db: Pool, database_url: str, accounts_module: ModuleType
) -> None:
    """GET creates the row with defaults once; PUT changes it; theme is refused."""
    first = body_of(call(accounts_module, api_event("GET", "/api/accounts")))
    again = body_of(call(accounts_module, api_event("GET", "/api/accounts")))
    assert first == again
    assert first["emailNotifications"] == "daily"
    assert fetch_all(database_url, "SELECT cognito_sub, email_notifications FROM accounts") == [
        (OWNER_A, "daily")
    ]
    updated = call(
        accounts_module, api_event("PUT", "/api/accounts", body={"emailNotifications": "never"})
    )
    assert body_of(updated)["emailNotifications"] == "never"
    refused = call(accounts_module, api_event("PUT", "/api/accounts", body={"theme": "dark"}))
    assert refused["statusCode"] == 400
    assert fetch_all(database_url, "SELECT email_notifications FROM accounts") == [("never",)]


def test_missing_database_setting_stops_the_cold_start() -> None:
    """Importing a handler module without DATABASE_URL fails, naming the variable."""
    with (
        pytest.raises(ConfigurationError, match="DATABASE_URL"),
        lambda_module("entrypoints.lambdas.sites", {"DATABASE_URL": ""}),
    ):
        pass


def test_database_outage_is_503_without_details(db: Pool) -> None:
    """When PostgreSQL cannot be reached the API answers 503 with no connection details."""
    url = "postgresql://postgres@127.0.0.1:1/nowhere?connect_timeout=1"
    with lambda_module("entrypoints.lambdas.sites", {"DATABASE_URL": url}) as module:
        response = module.handler(api_event("GET", "/api/sites"), None)
    assert response["statusCode"] == 503
    assert "127.0.0.1" not in response["body"]
    assert body_of(response)["error"]["code"] == "unavailable"
