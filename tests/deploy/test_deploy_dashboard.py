"""What the dashboard needs of the deployed API: its origin may call every route it uses."""

from __future__ import annotations

import json
from typing import Any

from tests.deploy.conftest import REPO, Synthesis
from tests.deploy.helpers import of_type


def test_the_api_answers_the_dashboards_preflights_for_every_method_it_sends(
    synthesis: Synthesis,
) -> None:
    """CORS allows the dashboard's origin GET, POST, PUT and DELETE (deleting a site) with the
    Authorization and Content-Type headers."""
    (api,) = of_type(synthesis.resources, "AWS::ApiGatewayV2::Api").values()
    cors = api["Properties"]["CorsConfiguration"]
    assert cors["AllowOrigins"][0] == "https://PLACEHOLDER.dashboard.example.com"
    assert {"GET", "POST", "PUT", "DELETE"} <= set(cors["AllowMethods"])
    assert {"authorization", "content-type"} <= {h.lower() for h in cors["AllowHeaders"]}


def _one(synthesis: Synthesis, resource_type: str, marker: str) -> tuple[str, dict[str, Any]]:
    found = [
        (key, value)
        for key, value in of_type(synthesis.resources, resource_type).items()
        if marker in key
    ]
    assert len(found) == 1, f"expected one {resource_type} named like {marker}: {found}"
    return found[0]


def _refs(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


def test_the_dashboard_bucket_is_private_and_read_by_cloudfront_through_oac(
    synthesis: Synthesis,
) -> None:
    """The bucket blocks public access, is encrypted and TLS-only, and only the dashboard
    distribution (origin access control, HTTPS, index at /) reads it."""
    bucket_id, bucket = _one(synthesis, "AWS::S3::Bucket", "DashboardBucket")
    props = bucket["Properties"]
    assert props["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    assert "BucketEncryption" in props
    assert "LoggingConfiguration" in props
    _, distribution = _one(synthesis, "AWS::CloudFront::Distribution", "DashboardDistribution")
    config = distribution["Properties"]["DistributionConfig"]
    assert config["DefaultRootObject"] == "dashboard/index.html"
    assert config["DefaultCacheBehavior"]["ViewerProtocolPolicy"] == "redirect-to-https"
    (origin,) = config["Origins"]
    assert "OriginAccessControlId" in origin
    assert origin["S3OriginConfig"]["OriginAccessIdentity"] == ""
    policies = [
        value["Properties"]["PolicyDocument"]["Statement"]
        for value in of_type(synthesis.resources, "AWS::S3::BucketPolicy").values()
        if value["Properties"]["Bucket"] == {"Ref": bucket_id}
    ]
    (statements,) = policies
    readers = [s for s in statements if s["Effect"] == "Allow"]
    assert readers
    assert all(s["Principal"] == {"Service": "cloudfront.amazonaws.com"} for s in readers)


def test_the_static_files_and_a_generated_config_are_deployed_and_invalidated(
    synthesis: Synthesis,
) -> None:
    """A BucketDeployment copies the local stack's static folder (no build step) plus a
    config.json naming the API, the hosted UI and the app client, then invalidates /*."""
    _, deployment = _one(synthesis, "Custom::CDKBucketDeployment", "DashboardFiles")
    props = deployment["Properties"]
    assert len(props["SourceObjectKeys"]) == 2
    assert props["DistributionPaths"] == ["/*"]
    markers = _refs(props.get("SourceMarkers", props))
    assert "DashboardClient" in markers
    assert "ApiDefaultStage" in markers or "ApiHttpApi" in markers
    static = REPO / "src" / "entrypoints" / "local" / "static"
    for name in ("dashboard/index.html", "dashboard/app.js", "dashboard/style.css", "script.js"):
        assert (static / name).is_file(), name
    assert 'src="dashboard/app.js"' in (static / "dashboard" / "index.html").read_text("utf-8")


def test_the_hosted_ui_client_is_public_uses_code_flow_and_is_trusted_by_the_api(
    synthesis: Synthesis,
) -> None:
    """The app client has no secret, only the authorization-code flow with its callback on the
    dashboard distribution, and the API's JWT authorizer lists it as an audience; CORS allows
    the distribution's origin and DELETE."""
    client_id, client = _one(synthesis, "AWS::Cognito::UserPoolClient", "DashboardClient")
    props = client["Properties"]
    assert props.get("GenerateSecret", False) is False
    assert props["AllowedOAuthFlows"] == ["code"]
    assert props["AllowedOAuthFlowsUserPoolClient"] is True
    assert set(props["AllowedOAuthScopes"]) == {"openid", "email"}
    assert "DashboardDistribution" in _refs(props["CallbackURLs"])
    assert props["SupportedIdentityProviders"] == ["COGNITO"]
    (authorizer,) = of_type(synthesis.resources, "AWS::ApiGatewayV2::Authorizer").values()
    audiences = authorizer["Properties"]["JwtConfiguration"]["Audience"]
    assert {"Ref": client_id} in audiences
    (api,) = of_type(synthesis.resources, "AWS::ApiGatewayV2::Api").values()
    cors = api["Properties"]["CorsConfiguration"]
    assert "DashboardDistribution" in _refs(cors["AllowOrigins"])
    assert "DELETE" in cors["AllowMethods"]
    (domain,) = of_type(synthesis.resources, "AWS::Cognito::UserPoolDomain").values()
    assert "Fn::Join" in domain["Properties"]["Domain"]
    assert "DashboardUrl" in synthesis.json["Outputs"]


def test_the_deployment_handler_has_explicit_actions_and_a_scoped_invalidation(
    synthesis: Synthesis,
) -> None:
    """CDK's BucketDeployment handler gets the explicit S3 actions it uses instead of CDK's
    wildcards, may invalidate only the dashboard distribution, and logs to a log group with
    retention."""
    _, policy = _one(synthesis, "AWS::IAM::Policy", "CustomCDKBucketDeployment")
    statements = policy["Properties"]["PolicyDocument"]["Statement"]
    actions = {action for statement in statements for action in statement["Action"]}
    assert all("*" not in action for action in actions)
    assert {"s3:GetObject", "s3:ListBucket", "s3:PutObject", "s3:DeleteObject"} <= actions
    (invalidation,) = [s for s in statements if "cloudfront:CreateInvalidation" in s["Action"]]
    assert invalidation["Resource"] != "*"
    assert "DashboardDistribution" in _refs(invalidation["Resource"])
    _, function = _one(synthesis, "AWS::Lambda::Function", "CustomCDKBucketDeployment")
    group = function["Properties"]["LoggingConfig"]["LogGroup"]["Ref"]
    assert group.startswith("DashboardFilesLogs")
    assert synthesis.resources[group]["Properties"]["RetentionInDays"] == 30
