"""/api/sites: create, list, get and update the caller's sites."""

from __future__ import annotations

from analytics_core import management as core
from entrypoints.api.schemas import parse_site_changes, parse_site_draft, site_json
from entrypoints.bootstrap import Services
from entrypoints.http import ApiRequest, LambdaHandler, Response, Router, json_response


def make_handler(services: Services) -> LambdaHandler:
    """The API Gateway handler of the sites routes, over `services`."""
    sites, clock, new_id = services.sites, services.clock, services.new_id

    def create(request: ApiRequest) -> Response:
        owner = request.caller()
        draft = parse_site_draft(request.json_body())
        return json_response(201, site_json(core.create_site(sites, clock, new_id, owner, draft)))

    def list_(request: ApiRequest) -> Response:
        owner = request.caller()
        return json_response(200, {"sites": [site_json(s) for s in core.list_sites(sites, owner)]})

    def get(request: ApiRequest) -> Response:
        owner = request.caller()
        return json_response(
            200, site_json(core.get_site(sites, owner, request.path_parameters["id"]))
        )

    def update(request: ApiRequest) -> Response:
        owner = request.caller()
        changes = parse_site_changes(request.json_body())
        site = core.update_site(sites, clock, owner, request.path_parameters["id"], changes)
        return json_response(200, site_json(site))

    return Router(
        {
            "POST /api/sites": create,
            "GET /api/sites": list_,
            "GET /api/sites/{id}": get,
            "PUT /api/sites/{id}": update,
        }
    )
