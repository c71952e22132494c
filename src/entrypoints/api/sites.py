"""/api/sites: create, list, get and update the caller's sites; their ingest diagnostics."""

from __future__ import annotations

from datetime import UTC

from analytics_core import management as core
from analytics_core.diagnostics import diagnose_ingest
from entrypoints.api.ingest_diagnostics import diagnostics_json, parse_ingest_range
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

    def ingest(request: ApiRequest) -> Response:
        owner = request.caller()
        today = clock().astimezone(UTC).date()
        start, end = parse_ingest_range(request.query, today=today)
        diagnostics = diagnose_ingest(
            owner,
            request.path_parameters["id"],
            start,
            end,
            sites=sites,
            outcomes=services.ingest_outcomes,
        )
        return json_response(200, diagnostics_json(diagnostics))

    def delete(request: ApiRequest) -> Response:
        owner = request.caller()
        cold = services.cold_site_eraser  # a missing setting fails before anything is deleted
        core.delete_site(services.site_deletions, cold, clock, owner, request.path_parameters["id"])
        return {"statusCode": 204, "headers": {"Cache-Control": "no-store"}, "body": ""}

    def update(request: ApiRequest) -> Response:
        owner = request.caller()
        changes = parse_site_changes(request.json_body())
        # Only a change of time zone needs the hot store's read model (a rebuild): other
        # updates, and functions without the database's read model, never build it.
        read_model = None if changes.timezone is None else services.read_model
        site = core.update_site(
            sites, clock, owner, request.path_parameters["id"], changes, read_model=read_model
        )
        return json_response(200, site_json(site))

    return Router(
        {
            "POST /api/sites": create,
            "GET /api/sites": list_,
            "GET /api/sites/{id}": get,
            "GET /api/sites/{id}/ingest": ingest,
            "PUT /api/sites/{id}": update,
            "DELETE /api/sites/{id}": delete,
        }
    )
