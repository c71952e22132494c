"""The public surface: the dashboard's HTTP API and the tracker's ingest endpoint.

- HTTP API (payload 2.0) with a Cognito JWT authorizer on every route; CORS for the dashboard's
  origin; JSON access logs without client addresses.
- `/ingest`: the ingest function's URL (auth NONE, the function answers POST and the OPTIONS
  preflight itself) behind a CloudFront distribution that forwards the viewer headers the
  function reads: `CloudFront-Viewer-Address`, `-Country`, `-Country-Region`, `-City`.
"""

from __future__ import annotations

import json

import jsii
from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_apigateway as restapi
from aws_cdk import aws_apigatewayv2 as apigw
from aws_cdk import aws_apigatewayv2_authorizers as authorizers
from aws_cdk import aws_apigatewayv2_integrations as integrations
from aws_cdk import aws_cloudfront as cloudfront
from aws_cdk import aws_cloudfront_origins as origins
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from analytics_infra.nag import acknowledge

GET = apigw.HttpMethod.GET
POST = apigw.HttpMethod.POST
PUT = apigw.HttpMethod.PUT

# The viewer headers processIngest's envelope is built from, plus what the ingest function
# reads from the tracker's request itself.
FORWARDED_HEADERS = (
    "CloudFront-Viewer-Address",
    "CloudFront-Viewer-Country",
    "CloudFront-Viewer-Country-Region",
    "CloudFront-Viewer-City",
    "Origin",
    "Referer",
    "User-Agent",
    "Content-Type",
)

_ACCESS_LOG_FORMAT = json.dumps(
    {
        "requestId": "$context.requestId",
        "requestTime": "$context.requestTime",
        "routeKey": "$context.routeKey",
        "status": "$context.status",
        "responseLength": "$context.responseLength",
        "integrationLatency": "$context.integrationLatency",
        "integrationError": "$context.integrationErrorMessage",
        "authorizerError": "$context.authorizer.error",
    }
)


class DashboardApi(Construct):
    """HTTP API with the JWT authorizer and the dashboard routes."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        issuer: str,
        audience: str,
        dashboard_origin: str,
        sites: lambda_.IFunction,
        accounts: lambda_.IFunction,
        query: lambda_.IFunction,
        log_retention: logs.RetentionDays,
    ) -> None:
        super().__init__(scope, construct_id)
        self.authorizer = authorizers.HttpJwtAuthorizer(
            "CognitoJwt", issuer, jwt_audience=[audience], authorizer_name="cognito-jwt"
        )
        self.http_api = apigw.HttpApi(
            self,
            "HttpApi",
            description="Dashboard API: sites, accounts, query (Cognito JWT)",
            create_default_stage=False,
            default_authorizer=self.authorizer,
            cors_preflight=apigw.CorsPreflightOptions(
                allow_origins=[dashboard_origin],
                allow_methods=[
                    apigw.CorsHttpMethod.GET,
                    apigw.CorsHttpMethod.POST,
                    apigw.CorsHttpMethod.PUT,
                    apigw.CorsHttpMethod.OPTIONS,
                ],
                allow_headers=["authorization", "content-type"],
                max_age=Duration.hours(1),
            ),
        )
        access_logs = logs.LogGroup(
            self, "AccessLogs", retention=log_retention, removal_policy=RemovalPolicy.DESTROY
        )
        self.stage = apigw.HttpStage(
            self,
            "DefaultStage",
            http_api=self.http_api,
            stage_name="$default",
            auto_deploy=True,
            throttle=apigw.ThrottleSettings(rate_limit=50, burst_limit=100),
            access_log_settings=_AccessLogSettings(access_logs),
        )

        sites_integration = integrations.HttpLambdaIntegration("Sites", sites)
        accounts_integration = integrations.HttpLambdaIntegration("Accounts", accounts)
        query_integration = integrations.HttpLambdaIntegration("Query", query)
        self.routes: list[apigw.HttpRoute] = []
        for path, methods, integration in (
            ("/api/sites", [POST, GET], sites_integration),
            ("/api/sites/{id}", [GET, PUT], sites_integration),
            ("/api/accounts", [GET, PUT], accounts_integration),
            ("/api/query", [GET], query_integration),
        ):
            self.routes += self.http_api.add_routes(
                path=path, methods=methods, integration=integration
            )

    @property
    def url(self) -> str:
        """The API's base URL."""
        return self.stage.url


@jsii.implements(apigw.IAccessLogSettings)
class _AccessLogSettings:
    """Access logs to a log group, as JSON lines without client addresses."""

    def __init__(self, group: logs.ILogGroup) -> None:
        self._destination = apigw.LogGroupLogDestination(group)

    @property
    def destination(self) -> apigw.IAccessLogDestination:
        """Where the access log lines go."""
        return self._destination

    @property
    def format(self) -> restapi.AccessLogFormat:
        """The line format."""
        return restapi.AccessLogFormat.custom(_ACCESS_LOG_FORMAT)


class IngestEndpoint(Construct):
    """The ingest function's URL behind CloudFront, with the viewer geo headers forwarded."""

    def __init__(self, scope: Construct, construct_id: str, *, ingest: lambda_.Function) -> None:
        super().__init__(scope, construct_id)
        self.function_url = ingest.add_function_url(
            auth_type=lambda_.FunctionUrlAuthType.NONE, invoke_mode=lambda_.InvokeMode.BUFFERED
        )
        self.origin_request_policy = cloudfront.OriginRequestPolicy(
            self,
            "ViewerHeaders",
            comment="Ingest: tracker headers and CloudFront viewer address and geo headers",
            header_behavior=cloudfront.OriginRequestHeaderBehavior.allow_list(*FORWARDED_HEADERS),
            query_string_behavior=cloudfront.OriginRequestQueryStringBehavior.all(),
            cookie_behavior=cloudfront.OriginRequestCookieBehavior.none(),
        )
        self.distribution = cloudfront.Distribution(
            self,
            "Distribution",
            comment="Analytics ingest (POST/OPTIONS /ingest)",
            price_class=cloudfront.PriceClass.PRICE_CLASS_100,
            http_version=cloudfront.HttpVersion.HTTP2_AND_3,
            enable_logging=False,
            default_behavior=cloudfront.BehaviorOptions(
                origin=origins.FunctionUrlOrigin(self.function_url),
                allowed_methods=cloudfront.AllowedMethods.ALLOW_ALL,
                cached_methods=cloudfront.CachedMethods.CACHE_GET_HEAD,
                cache_policy=cloudfront.CachePolicy.CACHING_DISABLED,
                origin_request_policy=self.origin_request_policy,
                viewer_protocol_policy=cloudfront.ViewerProtocolPolicy.HTTPS_ONLY,
            ),
        )
        reasons = {
            "AwsSolutions-CFR1": "Analytics is collected worldwide; there is no country to block.",
            "AwsSolutions-CFR2": "A WAF web ACL costs more than this endpoint's traffic; the "
            "ingest function validates and bounds every request and the allowance caps storage.",
            "AwsSolutions-CFR3": "Privacy: CloudFront access logs would store every visitor's IP "
            "address, which this product promises never to store.",
            "AwsSolutions-CFR4": "The distribution uses the default *.cloudfront.net certificate "
            "until an operator attaches a custom domain; viewers are HTTPS-only.",
        }
        for rule, reason in reasons.items():
            acknowledge(self.distribution, rule, reason)

    @property
    def url(self) -> str:
        """The public ingest URL the tracker posts to."""
        return f"https://{self.distribution.distribution_domain_name}/ingest"
