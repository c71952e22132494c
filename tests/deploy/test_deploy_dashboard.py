"""What the dashboard needs of the deployed API: its origin may call every route it uses."""

from __future__ import annotations

from tests.deploy.conftest import Synthesis
from tests.deploy.helpers import of_type


def test_the_api_answers_the_dashboards_preflights_for_every_method_it_sends(
    synthesis: Synthesis,
) -> None:
    """CORS allows the dashboard's origin GET, POST, PUT and DELETE (deleting a site) with the
    Authorization and Content-Type headers."""
    (api,) = of_type(synthesis.resources, "AWS::ApiGatewayV2::Api").values()
    cors = api["Properties"]["CorsConfiguration"]
    assert cors["AllowOrigins"] == ["https://PLACEHOLDER.dashboard.example.com"]
    assert {"GET", "POST", "PUT", "DELETE"} <= set(cors["AllowMethods"])
    assert {"authorization", "content-type"} <= {h.lower() for h in cors["AllowHeaders"]}
