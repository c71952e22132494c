"""A site's time zone through /api/sites over fakes: shown in the site JSON, `UTC` by
default, settable on create and update, unknown names refused naming `timezone`, and a change
of zone rebuilds the site's read model (and is undone when the rebuild fails)."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

import pytest
from tests.support.clock import FakeClock
from tests.support.events import OWNER_A, OWNER_B, api_event, body_of

from adapters.config import Settings
from adapters.memory import InMemorySiteRepository
from adapters.memory_stats import InMemoryReadModel
from analytics_core.errors import QueryTimeoutError
from entrypoints import bootstrap
from entrypoints.api import sites as sites_api
from entrypoints.http import LambdaHandler


class RecordingReadModel(InMemoryReadModel):
    """The in-memory read model, remembering each zone change (`rebuilds`, the sites whose
    local-day part was dropped, to be rebuilt as read); optionally failing them."""

    def __init__(self, error: Exception | None = None) -> None:
        super().__init__()
        self.rebuilds: list[tuple[str, ...]] = []
        self.error = error

    def forget_local_days(self, site_ids: Collection[str]) -> None:
        self.rebuilds.append(tuple(site_ids))
        if self.error is not None:
            raise self.error
        super().forget_local_days(site_ids)


class World:
    def __init__(self, rebuild_error: Exception | None = None) -> None:
        self.read_model = RecordingReadModel(rebuild_error)
        services = bootstrap.build(
            Settings(),
            sites=InMemorySiteRepository(),
            clock=FakeClock(),
            read_model=self.read_model,
        )
        self.handler: LambdaHandler = sites_api.make_handler(services)

    def create(self, **extra: object) -> dict[str, Any]:
        body = {"name": "Blog", "domains": ["example.com"], **extra}
        return self.handler(api_event("POST", "/api/sites", body=body), None)

    def update(self, site_id: str, body: object, sub: str = OWNER_A) -> dict[str, Any]:
        path = f"/api/sites/{site_id}"
        event = api_event("PUT", path, body=body, path_parameters={"id": site_id}, sub=sub)
        return self.handler(event, None)

    def get(self, site_id: str) -> dict[str, Any]:
        path = f"/api/sites/{site_id}"
        event = api_event("GET", path, path_parameters={"id": site_id})
        site: dict[str, Any] = body_of(self.handler(event, None))
        return site


def test_a_site_is_utc_unless_created_with_a_zone() -> None:
    """POST without `timezone` gives `UTC`; with one, the site keeps it, in every read."""
    world = World()
    plain = world.create()
    assert plain["statusCode"] == 201, plain["body"]
    assert body_of(plain)["timezone"] == "UTC"
    zoned = body_of(world.create(timezone="America/New_York"))
    assert zoned["timezone"] == "America/New_York"
    assert world.get(zoned["siteId"])["timezone"] == "America/New_York"
    listed = body_of(world.handler(api_event("GET", "/api/sites"), None))["sites"]
    assert [s["timezone"] for s in listed] == ["UTC", "America/New_York"]
    assert world.read_model.rebuilds == []


@pytest.mark.parametrize("zone", ["Mars/Olympus_Mons", "utc", "", "Europe/", 5, None])
def test_an_unknown_time_zone_is_a_400_naming_timezone_on_create_and_update(zone: object) -> None:
    """A name outside the IANA database (or not a string) is refused naming `timezone`, on
    create and on update, and the site keeps its zone."""
    world = World()
    refused = world.create(timezone=zone)
    assert refused["statusCode"] == 400, refused["body"]
    assert "timezone" in body_of(refused)["error"]["fields"]
    site = body_of(world.create(timezone="Europe/Berlin"))
    response = world.update(site["siteId"], {"timezone": zone})
    assert response["statusCode"] == 400, response["body"]
    assert set(body_of(response)["error"]["fields"]) == {"timezone"}
    assert world.get(site["siteId"])["timezone"] == "Europe/Berlin"
    assert world.read_model.rebuilds == []


def test_a_change_of_zone_rebuilds_the_sites_read_model_once() -> None:
    """PUT with a new zone stores it and drops that site's local-day read model (rebuilt in
    the new zone as it is read); the same zone again, or other fields, drop nothing."""
    world = World()
    site = body_of(world.create())
    site_id = site["siteId"]
    changed = world.update(site_id, {"timezone": "Asia/Kolkata"})
    assert changed["statusCode"] == 200, changed["body"]
    assert body_of(changed)["timezone"] == "Asia/Kolkata"
    assert world.read_model.rebuilds == [(site_id,)]
    assert world.update(site_id, {"timezone": "Asia/Kolkata"})["statusCode"] == 200
    assert world.update(site_id, {"name": "Renamed"})["statusCode"] == 200
    assert len(world.read_model.rebuilds) == 1
    assert world.get(site_id)["timezone"] == "Asia/Kolkata"
    assert world.get(site_id)["name"] == "Renamed"


def test_someone_elses_site_is_a_404_and_rebuilds_nothing() -> None:
    """Another owner's PUT of a zone is a 404, like a missing site, and changes nothing."""
    world = World()
    site = body_of(world.create())
    response = world.update(site["siteId"], {"timezone": "Asia/Tokyo"}, sub=OWNER_B)
    assert response["statusCode"] == 404
    assert world.get(site["siteId"])["timezone"] == "UTC"
    assert world.read_model.rebuilds == []


def test_a_failed_rebuild_leaves_the_previous_zone() -> None:
    """When dropping the local-day read model passes its deadline the answer is a 504 and the site keeps its
    previous fields, so that the same request can be sent again."""
    world = World(rebuild_error=QueryTimeoutError("the read model's rebuild passed its deadline"))
    site = body_of(world.create(timezone="Europe/Paris"))
    response = world.update(site["siteId"], {"timezone": "UTC", "name": "Renamed"})
    assert response["statusCode"] == 504, response["body"]
    after = world.get(site["siteId"])
    assert (after["timezone"], after["name"], after["updatedAt"]) == (
        "Europe/Paris",
        "Blog",
        site["updatedAt"],
    )
    assert len(world.read_model.rebuilds) == 1
