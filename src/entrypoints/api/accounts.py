"""/api/accounts: the caller's preferences, created with defaults on first read."""

from __future__ import annotations

from analytics_core import management as core
from entrypoints.api.schemas import account_json, parse_account_changes
from entrypoints.bootstrap import Services
from entrypoints.http import ApiRequest, LambdaHandler, Response, Router, json_response


def make_handler(services: Services) -> LambdaHandler:
    """The API Gateway handler of the accounts routes, over `services`."""
    accounts, clock = services.accounts, services.clock

    def get(request: ApiRequest) -> Response:
        return json_response(200, account_json(core.get_account(accounts, clock, request.caller())))

    def update(request: ApiRequest) -> Response:
        sub = request.caller()
        choice = parse_account_changes(request.json_body())
        return json_response(200, account_json(core.update_account(accounts, clock, sub, choice)))

    return Router({"GET /api/accounts": get, "PUT /api/accounts": update})
