"""The dashboard in AWS: the local stack's static files on S3 behind CloudFront, and the
Cognito app client its hosted-UI login (authorization code with PKCE) uses.

The files are `src/entrypoints/local/static/` as they are (`dashboard/index.html`, `app.js`,
`style.css`, and the tracker `script.js`), deployed by a BucketDeployment, with a
`dashboard/config.json` written at deploy time naming the API, the ingest origin and the hosted
UI (the local stack generates its own, saying "dev login"). The bucket is private: CloudFront
reads it through origin access control. The user pool is the one the API's JWT authorizer
trusts (`cognito_user_pool_id`); this app adds a public client (no secret: a browser cannot keep
one) whose only callback is the distribution, and, unless `cognito_domain` names the pool's
existing hosted-UI domain, a Cognito-prefix domain for it (`<stack name>-<account id>`;
a pool has at most one domain, so stacks sharing a pool pass `cognito_domain`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aws_cdk import Aws, Duration, Fn, RemovalPolicy, Stack
from aws_cdk import aws_cloudfront as cloudfront
from aws_cdk import aws_cloudfront_origins as origins
from aws_cdk import aws_cognito as cognito
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_s3_deployment as s3deploy
from constructs import Construct

from analytics_infra.nag import acknowledge, objects_finding

STATIC_DIR = Path(__file__).resolve().parents[3] / "src" / "entrypoints" / "local" / "static"
INDEX = "dashboard/index.html"
CONFIG_KEY = "dashboard/config.json"

# What CDK's grants give the BucketDeployment handler as wildcards, as the actions it uses:
# it downloads the asset zips, then `aws s3 sync --delete`s them into the dashboard bucket
# (list, put, delete, multipart uploads for large files).
HANDLER_ACTIONS = {
    "s3:GetObject*": ["s3:GetObject"],
    "s3:GetBucket*": ["s3:GetBucketLocation"],
    "s3:List*": ["s3:ListBucket"],
    "s3:DeleteObject*": ["s3:DeleteObject"],
    "s3:Abort*": ["s3:AbortMultipartUpload"],
}


class Dashboard(Construct):
    """Bucket, distribution and the hosted-UI app client; `deploy_files` adds the files and
    config once the API exists (the API's authorizer trusts this client, the config names the
    API: two steps, no cycle)."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        user_pool_id: str,
        cognito_domain: str,
        access_logs: s3.IBucket,
        log_retention: logs.RetentionDays,
    ) -> None:
        super().__init__(scope, construct_id)
        self.log_retention = log_retention
        self.bucket = s3.Bucket(
            self,
            "Bucket",
            encryption=s3.BucketEncryption.S3_MANAGED,
            enforce_ssl=True,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            versioned=True,
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="expire-old-versions", noncurrent_version_expiration=Duration.days(30)
                )
            ],
            server_access_logs_bucket=access_logs,
            server_access_logs_prefix="dashboard-bucket/",
            # Only the deployed files live here: the deployment puts them back at any time.
            removal_policy=RemovalPolicy.DESTROY,
        )
        self.distribution = cloudfront.Distribution(
            self,
            "Distribution",
            comment="Analytics dashboard (static files)",
            default_root_object=INDEX,
            price_class=cloudfront.PriceClass.PRICE_CLASS_100,
            http_version=cloudfront.HttpVersion.HTTP2_AND_3,
            enable_logging=False,
            default_behavior=cloudfront.BehaviorOptions(
                origin=origins.S3BucketOrigin.with_origin_access_control(self.bucket),
                viewer_protocol_policy=cloudfront.ViewerProtocolPolicy.REDIRECT_TO_HTTPS,
                cache_policy=cloudfront.CachePolicy.CACHING_OPTIMIZED,
                response_headers_policy=cloudfront.ResponseHeadersPolicy.SECURITY_HEADERS,
            ),
        )
        self.origin = f"https://{self.distribution.distribution_domain_name}"
        for rule, reason in {
            "AwsSolutions-CFR1": "The dashboard's users are the site owners, anywhere; there is "
            "no country to block.",
            "AwsSolutions-CFR2": "Static files only; every API call is authorised by Cognito "
            "JWTs at API Gateway, so a WAF in front of the files would protect nothing.",
            "AwsSolutions-CFR3": "Access logs of a static bundle would only hold the site "
            "owners' IP addresses; the bucket's own access is logged.",
            "AwsSolutions-CFR4": "The distribution uses the default *.cloudfront.net "
            "certificate until an operator attaches a custom domain; viewers are redirected "
            "to HTTPS.",
        }.items():
            acknowledge(self.distribution, rule, reason)

        pool = cognito.UserPool.from_user_pool_id(self, "UserPool", user_pool_id)
        if cognito_domain:
            self.hosted_ui = cognito_domain.rstrip("/")
        else:
            domain = pool.add_domain(
                "HostedUi",
                cognito_domain=cognito.CognitoDomainOptions(
                    domain_prefix=Fn.join("-", [self._name_part(), Aws.ACCOUNT_ID])
                ),
            )
            self.hosted_ui = domain.base_url()
        self.client = pool.add_client(
            "DashboardClient",
            user_pool_client_name=f"{Stack.of(self).stack_name}-dashboard",
            generate_secret=False,
            auth_flows=cognito.AuthFlow(user_srp=False),
            o_auth=cognito.OAuthSettings(
                flows=cognito.OAuthFlows(authorization_code_grant=True),
                scopes=[cognito.OAuthScope.OPENID, cognito.OAuthScope.EMAIL],
                callback_urls=[f"{self.origin}/"],
                logout_urls=[f"{self.origin}/"],
            ),
            supported_identity_providers=[cognito.UserPoolClientIdentityProvider.COGNITO],
            prevent_user_existence_errors=True,
            id_token_validity=Duration.hours(1),
            access_token_validity=Duration.hours(1),
            refresh_token_validity=Duration.days(1),
        )

    def _name_part(self) -> str:
        """The stack's name as a domain prefix allows it (lower case, short enough)."""
        return Stack.of(self).stack_name.lower()[:40].strip("-")

    def deploy_files(self, *, api_url: str, ingest_origin: str) -> s3deploy.BucketDeployment:
        """The static files and their config.json, then a CloudFront invalidation."""
        deployment = s3deploy.BucketDeployment(
            self,
            "Files",
            destination_bucket=self.bucket,
            sources=[
                s3deploy.Source.asset(str(STATIC_DIR)),
                s3deploy.Source.json_data(
                    CONFIG_KEY,
                    {
                        "apiBase": api_url.rstrip("/"),
                        "trackerUrl": self.origin,
                        "ingestOrigin": ingest_origin,
                        "auth": {
                            "mode": "cognito",
                            "domain": self.hosted_ui,
                            "clientId": self.client.user_pool_client_id,
                            "redirectUri": f"{self.origin}/",
                            "logoutUri": f"{self.origin}/",
                            "scopes": ["openid", "email"],
                        },
                    },
                ),
            ],
            distribution=self.distribution,
            distribution_paths=["/*"],
            memory_limit=256,
            log_group=logs.LogGroup(
                self,
                "FilesLogs",
                retention=self.log_retention,
                removal_policy=RemovalPolicy.DESTROY,
            ),
        )
        self._explicit_handler_actions(deployment.handler_role)
        self._acknowledge_deployment_handler(deployment.handler_role)
        return deployment

    def _explicit_handler_actions(self, role: iam.IRole) -> None:
        """Rewrite the wildcard actions of CDK's grants on the handler's policy into the
        explicit actions the handler uses, and its invalidation grant on `*` into one on the
        dashboard distribution. The policy is complete once the BucketDeployment
        exists; a statement added to it later would be dropped, so nothing else may share the
        handler (a second BucketDeployment with the same settings would)."""
        policy = role.node.find_child("DefaultPolicy")
        cfn = policy.node.default_child
        if not isinstance(policy, iam.Policy) or not isinstance(cfn, iam.CfnPolicy):
            msg = f"unexpected BucketDeployment handler policy: {policy.node.path}"
            raise TypeError(msg)
        document: dict[str, Any] = Stack.of(self).resolve(policy.document)
        for statement in document["Statement"]:
            actions = statement["Action"]
            explicit: list[str] = []
            for action in [actions] if isinstance(actions, str) else actions:
                for replacement in HANDLER_ACTIONS.get(action, [action]):
                    if replacement not in explicit:
                        explicit.append(replacement)
            statement["Action"] = explicit[0] if len(explicit) == 1 else explicit
            if statement["Resource"] == "*" and all(
                action.startswith("cloudfront:") for action in explicit
            ):
                # CDK grants the invalidation on `*`; CloudFront scopes it to a distribution.
                statement["Resource"] = Stack.of(self).resolve(self.distribution.distribution_arn)
        # The L1 property itself, so cdk-nag's check sees what CloudFormation gets.
        cfn.policy_document = document

    def _acknowledge_deployment_handler(self, role: iam.IRole) -> None:
        """cdk-nag findings on CDK's BucketDeployment handler (a singleton function CDK
        writes, run only by CloudFormation during a deploy), each with its reason."""
        bucket_objects = objects_finding(self.bucket, "*")
        reasons = {
            "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
            "AWSLambdaBasicExecutionRole]": "CDK's BucketDeployment handler only writes its "
            "own logs with the basic execution policy; it is CDK's construct, not ours.",
            bucket_objects: "The handler writes every file of the bundle, so all keys of the "
            "dashboard bucket (which holds nothing else).",
            "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:s3:::cdk-hnb659fds-assets-"
            "<AWS::AccountId>-<AWS::Region>/*]": "The bootstrap asset bucket's objects: CDK "
            "names the asset key only at deploy time.",
        }
        for rule, reason in reasons.items():
            acknowledge(role, rule, reason)
        function = role.node.scope
        if function is not None:
            acknowledge(
                function,
                "AwsSolutions-L1",
                "CDK pins the BucketDeployment handler's runtime in aws-cdk-lib; it runs only "
                "during deploys and moves with CDK upgrades.",
            )
