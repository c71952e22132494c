"""The public surface: the dashboard's HTTP API and the tracker's ingest endpoint.

- HTTP API (payload 2.0) with a Cognito JWT authorizer on every route; CORS for the dashboard's
  origin; JSON access logs without client addresses.
- `/ingest`: the ingest function's URL (auth NONE, the function answers POST and the OPTIONS
  preflight itself) behind a CloudFront distribution that forwards the viewer headers the
  function reads: `CloudFront-Viewer-Address`, `-Country`, `-Country-Region`, `-City`.
  CloudFront adds the origin secret (a generated secret in Secrets Manager) as
  `X-Origin-Verify`; the function refuses requests without it, so calling the Function URL
  directly (and forging the viewer headers) gets 403. The URL cannot use AWS_IAM with an origin
  access control instead: for a POST, OAC needs the viewer to send the body's SHA-256, which
  `navigator.sendBeacon` cannot.
- Optionally (`ingest_waf`), an AWS WAF web ACL with a per-IP rate-based rule on the
  distribution; CloudFront web ACLs exist only in us-east-1, so the template then refuses any
  other region.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import jsii
from aws_cdk import Aws, CfnRule, CfnRuleAssertion, Duration, Fn, RemovalPolicy, SecretValue
from aws_cdk import aws_apigateway as restapi
from aws_cdk import aws_apigatewayv2 as apigw
from aws_cdk import aws_apigatewayv2_authorizers as authorizers
from aws_cdk import aws_apigatewayv2_integrations as integrations
from aws_cdk import aws_cloudfront as cloudfront
from aws_cdk import aws_cloudfront_origins as origins
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_wafv2 as wafv2
from constructs import Construct

from analytics_infra.nag import acknowledge

GET = apigw.HttpMethod.GET
POST = apigw.HttpMethod.POST
PUT = apigw.HttpMethod.PUT
DELETE = apigw.HttpMethod.DELETE

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

# The header CloudFront adds to every origin request (entrypoints.api.collect checks it) and
# the JSON field of the secret holding its value (the function also accepts `previous`).
ORIGIN_SECRET_HEADER = "X-Origin-Verify"  # noqa: S105  # a header name, not a secret
ORIGIN_SECRET_FIELD = "value"  # noqa: S105  # a JSON field name, not a secret
# CloudFront-scoped WAF resources can only be created in us-east-1.
WAF_REGION = "us-east-1"

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
        audiences: Sequence[str],
        dashboard_origins: Sequence[str],
        sites: lambda_.IFunction,
        accounts: lambda_.IFunction,
        query: lambda_.IFunction,
        log_retention: logs.RetentionDays,
    ) -> None:
        super().__init__(scope, construct_id)
        self.authorizer = authorizers.HttpJwtAuthorizer(
            "CognitoJwt", issuer, jwt_audience=list(audiences), authorizer_name="cognito-jwt"
        )
        self.http_api = apigw.HttpApi(
            self,
            "HttpApi",
            description="Dashboard API: sites, accounts, query (Cognito JWT)",
            create_default_stage=False,
            default_authorizer=self.authorizer,
            cors_preflight=apigw.CorsPreflightOptions(
                allow_origins=list(dashboard_origins),
                allow_methods=[
                    apigw.CorsHttpMethod.GET,
                    apigw.CorsHttpMethod.POST,
                    apigw.CorsHttpMethod.PUT,
                    apigw.CorsHttpMethod.DELETE,  # the dashboard deletes sites
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
            ("/api/sites/{id}", [GET, PUT, DELETE], sites_integration),
            ("/api/sites/{id}/ingest", [GET], sites_integration),
            ("/api/accounts", [GET, PUT], accounts_integration),
            ("/api/query", [GET], query_integration),
            ("/api/realtime", [GET], query_integration),  # served by the query function
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
    """The ingest function's URL behind CloudFront, with the viewer geo headers forwarded and
    the origin secret added; optionally a WAF rate limit per viewer IP."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        ingest: lambda_.Function,
        origin_secret_version_id: str = "",
        waf_rate_limit: int | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        self.function_url = ingest.add_function_url(
            auth_type=lambda_.FunctionUrlAuthType.NONE, invoke_mode=lambda_.InvokeMode.BUFFERED
        )
        self.origin_secret = secretsmanager.Secret(
            self,
            "OriginSecret",
            description=(
                f"{ORIGIN_SECRET_HEADER}: CloudFront sends it to the ingest function, which "
                "refuses requests without it"
            ),
            generate_secret_string=secretsmanager.SecretStringGenerator(
                secret_string_template="{}",  # noqa: S106  # an empty JSON object, not a secret
                generate_string_key=ORIGIN_SECRET_FIELD,
                exclude_punctuation=True,
                password_length=48,
            ),
        )
        acknowledge(
            self.origin_secret,
            "AwsSolutions-SMG4",
            "Rotating the origin secret is a two-step change (the function accepts the previous "
            "value, then a deploy points CloudFront at the new one); the README's deploy "
            "section gives the procedure.",
        )
        # A dynamic reference: CloudFormation resolves it when it creates or updates the
        # distribution, so the value never appears in the template.
        header_value = SecretValue.secrets_manager(
            self.origin_secret.secret_arn,
            json_field=ORIGIN_SECRET_FIELD,
            version_id=origin_secret_version_id or None,
        ).unsafe_unwrap()
        self.origin_request_policy = cloudfront.OriginRequestPolicy(
            self,
            "ViewerHeaders",
            comment="Ingest: tracker headers and CloudFront viewer address and geo headers",
            header_behavior=cloudfront.OriginRequestHeaderBehavior.allow_list(*FORWARDED_HEADERS),
            query_string_behavior=cloudfront.OriginRequestQueryStringBehavior.all(),
            cookie_behavior=cloudfront.OriginRequestCookieBehavior.none(),
        )
        self.web_acl = None if waf_rate_limit is None else self._rate_limit_acl(waf_rate_limit)
        self.distribution = cloudfront.Distribution(
            self,
            "Distribution",
            comment="Analytics ingest (POST/OPTIONS /ingest)",
            price_class=cloudfront.PriceClass.PRICE_CLASS_100,
            http_version=cloudfront.HttpVersion.HTTP2_AND_3,
            enable_logging=False,
            web_acl_id=self.web_acl.attr_arn if self.web_acl is not None else None,
            default_behavior=cloudfront.BehaviorOptions(
                origin=origins.FunctionUrlOrigin(
                    self.function_url, custom_headers={ORIGIN_SECRET_HEADER: header_value}
                ),
                allowed_methods=cloudfront.AllowedMethods.ALLOW_ALL,
                cached_methods=cloudfront.CachedMethods.CACHE_GET_HEAD,
                cache_policy=cloudfront.CachePolicy.CACHING_DISABLED,
                origin_request_policy=self.origin_request_policy,
                viewer_protocol_policy=cloudfront.ViewerProtocolPolicy.HTTPS_ONLY,
            ),
        )
        reasons = {
            "AwsSolutions-CFR1": "Analytics is collected worldwide; there is no country to block.",
            "AwsSolutions-CFR3": "Privacy: CloudFront access logs would store every visitor's IP "
            "address, which this product promises never to store.",
            "AwsSolutions-CFR4": "The distribution uses the default *.cloudfront.net certificate "
            "until an operator attaches a custom domain; viewers are HTTPS-only.",
        }
        if self.web_acl is None:
            reasons["AwsSolutions-CFR2"] = (
                "The WAF rate limit is optional (-c ingest_waf=true, us-east-1 only); without "
                "it the ingest function's reserved concurrency caps a flood, the function "
                "validates and bounds every request and the allowance caps storage."
            )
        for rule, reason in reasons.items():
            acknowledge(self.distribution, rule, reason)

    def _rate_limit_acl(self, limit: int) -> wafv2.CfnWebACL:
        """A CloudFront web ACL that blocks an IP sending more than `limit` requests in 5 min."""

        def visibility(name: str) -> wafv2.CfnWebACL.VisibilityConfigProperty:
            return wafv2.CfnWebACL.VisibilityConfigProperty(
                cloud_watch_metrics_enabled=True,
                metric_name=name,
                sampled_requests_enabled=False,  # samples would hold visitors' IP addresses
            )

        CfnRule(
            self,
            "WafNeedsUsEast1",
            assertions=[
                CfnRuleAssertion(
                    assert_=Fn.condition_equals(Aws.REGION, WAF_REGION),
                    assert_description=(
                        "ingest_waf=true: a CloudFront web ACL can only be created in "
                        f"{WAF_REGION}; deploy there or without -c ingest_waf=true"
                    ),
                )
            ],
        )
        return wafv2.CfnWebACL(
            self,
            "RateLimit",
            scope="CLOUDFRONT",
            description="Ingest: block an IP address that sends too many events",
            default_action=wafv2.CfnWebACL.DefaultActionProperty(allow={}),
            visibility_config=visibility("IngestWebAcl"),
            rules=[
                wafv2.CfnWebACL.RuleProperty(
                    name="RatePerIp",
                    priority=0,
                    action=wafv2.CfnWebACL.RuleActionProperty(block={}),
                    statement=wafv2.CfnWebACL.StatementProperty(
                        rate_based_statement=wafv2.CfnWebACL.RateBasedStatementProperty(
                            aggregate_key_type="IP", limit=limit, evaluation_window_sec=300
                        )
                    ),
                    visibility_config=visibility("IngestRatePerIp"),
                )
            ],
        )

    @property
    def url(self) -> str:
        """The public ingest URL the tracker posts to."""
        return f"https://{self.distribution.distribution_domain_name}/ingest"
