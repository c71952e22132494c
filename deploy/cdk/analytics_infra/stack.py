"""The analytics stack: network, hot store, cold store, streams, functions, API, alarms.

Environment variable names come from `adapters.config.Env`, the code's own definition,
so the infrastructure cannot drift from what the handlers read.

Order on every deploy: the database and proxy come up, then the migrate function runs through
a `triggers.Trigger` (a failed migration fails the deploy), and only then are the functions
that touch the database (their code and configuration), the API's routes and stage, the
IngestHttp stream and the maintenance and fold schedules created or updated: new code never
runs against the old schema. Last of all the cluster's deletion protection is turned on
(`DeletionProtectionAfterDeploy`), so a failed first deploy rolls back completely.

Two guards run before CloudFormation creates anything: a rule refusing the regions without
Lambda Function URLs, and (with `ingest_waf`) one refusing every region but us-east-1.

Two functions run on EventBridge schedules: maintenance daily (partitions, expired salts) and
foldStats every minute (the rows ingested since, into the hot store's read model; dashboard
queries fold before answering too, so the schedule only keeps the backlog small).
"""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import (
    Aws,
    CfnOutput,
    CfnParameter,
    CfnResource,
    CfnRule,
    CfnRuleAssertion,
    Duration,
    Fn,
    RemovalPolicy,
    Stack,
    triggers,
)
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from adapters.config import Env
from analytics_infra.alarms import Alarms
from analytics_infra.api import DashboardApi, IngestEndpoint
from analytics_infra.asset import LambdaAsset
from analytics_infra.dashboard import Dashboard
from analytics_infra.database import Database, DeletionProtectionAfterDeploy
from analytics_infra.functions import AnalyticsFunction, FunctionSpec, VpcPlacement
from analytics_infra.iceberg_maintenance import IcebergMaintenance
from analytics_infra.lake import ICEBERG_PREFIX, Lake
from analytics_infra.nag import acknowledge, objects_finding
from analytics_infra.network import Network
from analytics_infra.settings import DeploySettings
from analytics_infra.streams import Streams

INGEST = FunctionSpec(
    name="ingest",
    handler="entrypoints.lambdas.ingest.handler",
    memory_mb=128,
    timeout=Duration.seconds(5),
    in_vpc=False,
    description="Tracker collect endpoint: validate the request, PutRecord to IngestHttp",
)
PROCESS_INGEST = FunctionSpec(
    name="processIngest",
    handler="entrypoints.lambdas.process_ingest.handler",
    memory_mb=1024,
    # Below Firehose's 3-minute response wait, or a slow success would be redelivered.
    timeout=Duration.seconds(150),
    in_vpc=True,
    description="Firehose HTTP endpoint: store a batch in Postgres, forward to Iceberg",
)
QUERY = FunctionSpec(
    name="query",
    handler="entrypoints.lambdas.query.handler",
    memory_mb=1024,
    # The HTTP API waits at most 30 s for an integration.
    timeout=Duration.seconds(29),
    in_vpc=True,
    description="GET /api/query: statistics from Postgres (hot) or Athena (cold)",
)
SITES = FunctionSpec(
    name="sites",
    handler="entrypoints.lambdas.sites.handler",
    memory_mb=256,
    # A deletion erases the cold rows within the request (Athena DELETE, up to 20 s); past
    # the HTTP API's 30 s the job stays pending and the daily maintenance retries it.
    timeout=Duration.seconds(29),
    in_vpc=True,
    description="/api/sites: create, list, read, update and delete the caller's sites",
)
ACCOUNTS = FunctionSpec(
    name="accounts",
    handler="entrypoints.lambdas.accounts.handler",
    memory_mb=256,
    timeout=Duration.seconds(10),
    in_vpc=True,
    description="/api/accounts: the caller's account preferences",
)
MIGRATE = FunctionSpec(
    name="migrate",
    handler="entrypoints.lambdas.migrate.handler",
    memory_mb=256,
    timeout=Duration.minutes(2),
    in_vpc=True,
    description="Apply pending SQL migrations; run by the deploy before the API serves",
)
MAINTENANCE = FunctionSpec(
    name="maintenance",
    handler="entrypoints.lambdas.maintenance.handler",
    memory_mb=256,
    timeout=Duration.minutes(5),
    in_vpc=True,
    description="Daily: event partitions, expired salts, pending site deletions",
)
FOLD_STATS = FunctionSpec(
    name="foldStats",
    handler="entrypoints.lambdas.fold_stats.handler",
    memory_mb=512,
    # Longer than the fold's 5-minute statement timeout, so the database gives up first.
    timeout=Duration.minutes(6),
    in_vpc=True,
    description="Every minute: fold newly ingested rows into the hot store's read model",
)
# The singleton provider that `triggers.Trigger` adds to the stack.
TRIGGER_PROVIDER_ID = "AWSCDK.TriggerCustomResourceProviderCustomResourceProvider"

SPECS = (INGEST, PROCESS_INGEST, QUERY, SITES, ACCOUNTS, MIGRATE, MAINTENANCE, FOLD_STATS)

# Regions without Lambda Function URLs (AWS Lambda developer guide, "Creating and managing
# Lambda function URLs"; mx-central-1 from cfn-lint's resource lists): ingest and
# processIngest are Function URLs, so the stack cannot work there.
NO_FUNCTION_URL_REGIONS = (
    "ap-east-2",
    "ap-south-2",
    "ap-southeast-4",
    "ap-southeast-5",
    "ap-southeast-6",
    "ap-southeast-7",
    "ca-west-1",
    "eu-central-2",
    "eu-south-2",
    "il-central-1",
    "me-central-1",
    "mx-central-1",
)
# The id of the singleton function `custom_resources.AwsCustomResource` adds to the stack.
AWS_CUSTOM_RESOURCE_PROVIDER_ID = "AWS679f53fac002430cb0da5b7982bd2287"

# Daily at 00:15 UTC, after midnight's partition is in use and well before the next one.
MAINTENANCE_SCHEDULE = events.Schedule.cron(minute="15", hour="0")
# Every minute: the fold only keeps the backlog small (queries fold their sites first).
FOLD_STATS_SCHEDULE = events.Schedule.rate(Duration.minutes(1))


class AnalyticsStack(Stack):
    """Everything the product runs on, in one stack."""

    def __init__(  # noqa: PLR0915  # the stack's parts in deploy order, one declarative list
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: DeploySettings,
        asset: LambdaAsset,
        migration_run_id: str,
        refusals: Sequence[str] = (),
    ) -> None:
        super().__init__(
            scope,
            construct_id,
            description="Privacy-first web analytics: ingest, hot Postgres, cold Iceberg, API",
        )
        retention = retention_period(settings.log_retention_days)
        self.retention = retention
        self.settings = settings

        self.network = Network(self, "Network", max_azs=settings.max_azs, log_retention=retention)
        self.database = Database(
            self,
            "Database",
            vpc=self.network.vpc,
            subnets=self.network.private_subnets,
            client_security_group=self.network.lambda_security_group,
            settings=settings,
            log_retention=retention,
        )
        self.lake = Lake(self, "Lake", settings=settings)
        self.iceberg_maintenance = IcebergMaintenance(self, "IcebergMaintenance", lake=self.lake)

        code = asset.code()
        placement = VpcPlacement(
            self.network.vpc, self.network.private_subnets, self.network.lambda_security_group
        )
        database_env = {
            Env.DB_SECRET_ARN.value: self.database.secret.secret_arn,
            Env.DB_HOST.value: self.database.proxy.endpoint,
            Env.DB_NAME.value: self.database.name,
        }
        read_db_secret = iam.PolicyStatement(
            sid="ReadDatabaseSecret",
            actions=["secretsmanager:GetSecretValue"],
            resources=[self.database.secret.secret_arn],
        )

        def function(
            spec: FunctionSpec,
            environment: dict[str, str],
            statements: Sequence[iam.PolicyStatement] = (),
            reserved_concurrency: int | None = None,
        ) -> AnalyticsFunction:
            return AnalyticsFunction(
                self,
                spec.name[0].upper() + spec.name[1:] + "Fn",
                spec=spec,
                code=code,
                environment=environment,
                statements=statements,
                placement=placement,
                log_retention=retention,
                description_suffix=asset.description_suffix,
                reserved_concurrency=reserved_concurrency,
            )

        # processIngest first: IngestHttp needs its URL, and it needs the streams' names.
        self.process_ingest = function(PROCESS_INGEST, {})
        process_ingest_url = self.process_ingest.function.add_function_url(
            auth_type=lambda_.FunctionUrlAuthType.NONE,
            invoke_mode=lambda_.InvokeMode.BUFFERED,
        )
        self.streams = Streams(
            self,
            "Streams",
            lake=self.lake,
            stack_name=settings.stack_name,
            process_ingest_url=process_ingest_url.url,
            retry_seconds=settings.http_retry_seconds,
            log_retention=retention,
        )
        events_stream = self.streams.iceberg_streams["events"]
        initial_stream = self.streams.iceberg_streams["initial_events"]
        for name, value in {
            **database_env,
            Env.FIREHOSE_ACCESS_KEY_SECRET_ARN.value: self.streams.access_key.secret_arn,
            Env.EVENTS_STREAM_NAME.value: events_stream.ref,
            Env.INITIAL_EVENTS_STREAM_NAME.value: initial_stream.ref,
            Env.HOT_RETENTION_DAYS.value: str(settings.hot_retention_days),
        }.items():
            self.process_ingest.function.add_environment(name, value)
        self.process_ingest.role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="ForwardToIceberg",
                actions=["firehose:PutRecordBatch"],
                resources=self.streams.iceberg_stream_arns(),
            )
        )
        self.process_ingest.role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="ReadSecrets",
                actions=["secretsmanager:GetSecretValue"],
                resources=[self.database.secret.secret_arn, self.streams.access_key.secret_arn],
            )
        )

        self.ingest = function(
            INGEST,
            {Env.INGEST_STREAM_NAME.value: self.streams.ingest_http.ref},
            [
                iam.PolicyStatement(
                    sid="PutToIngestHttp",
                    actions=["firehose:PutRecord"],
                    resources=[self.streams.ingest_http.attr_arn],
                )
            ],
            reserved_concurrency=settings.ingest_reserved_concurrency or None,
        )
        self.query = function(
            QUERY,
            {
                **database_env,
                Env.ATHENA_WORKGROUP.value: self.lake.workgroup_name,
                Env.ATHENA_DATABASE.value: self.lake.database_name,
                Env.ATHENA_OUTPUT_LOCATION.value: self.lake.output_location,
                Env.HOT_WINDOW_DAYS.value: str(settings.hot_window_days),
            },
            [read_db_secret, *self._query_statements()],
        )
        self.query.function.node.add_dependency(self.lake.workgroup)
        self._acknowledge_query_wildcards()
        athena_env = {
            Env.ATHENA_WORKGROUP.value: self.lake.workgroup_name,
            Env.ATHENA_DATABASE.value: self.lake.database_name,
            Env.ATHENA_OUTPUT_LOCATION.value: self.lake.output_location,
        }
        self.sites = function(
            SITES,
            {**database_env, **athena_env},
            [read_db_secret, *self._site_deletion_statements()],
        )
        self.accounts = function(ACCOUNTS, dict(database_env), [read_db_secret])
        self.migrate = function(MIGRATE, dict(database_env), [read_db_secret])
        self.maintenance = function(
            MAINTENANCE,
            {
                **database_env,
                **athena_env,
                Env.HOT_RETENTION_DAYS.value: str(settings.hot_retention_days),
            },
            [read_db_secret, *self._site_deletion_statements()],
        )
        self._after_workgroup(self.sites, self.maintenance)
        self.fold_stats = function(FOLD_STATS, dict(database_env), [read_db_secret])
        # A failed or stale tick is not retried: the next minute's run folds the same rows.
        # (No reserved concurrency: overlapping folds serialise on the sites' row locks, and
        # reserving any would fail deploys in accounts with a low concurrency quota.)
        self.fold_stats.function.configure_async_invoke(
            retry_attempts=0, max_event_age=Duration.minutes(1)
        )
        self.functions = (
            self.ingest,
            self.process_ingest,
            self.query,
            self.sites,
            self.accounts,
            self.migrate,
            self.maintenance,
            self.fold_stats,
        )

        self.dashboard = Dashboard(
            self,
            "Dashboard",
            user_pool_id=settings.cognito_user_pool_id,
            cognito_domain=settings.cognito_domain,
            access_logs=self.lake.access_logs,
            log_retention=retention,
        )
        self.api = DashboardApi(
            self,
            "Api",
            issuer=settings.cognito_issuer,
            audiences=[settings.cognito_client_id, self.dashboard.client.user_pool_client_id],
            dashboard_origins=[settings.dashboard_origin, self.dashboard.origin],
            sites=self.sites.function,
            accounts=self.accounts.function,
            query=self.query.function,
            log_retention=retention,
        )
        self.ingest_endpoint = IngestEndpoint(
            self,
            "Ingest",
            ingest=self.ingest.function,
            origin_secret_version_id=settings.origin_secret_version_id,
            waf_rate_limit=settings.ingest_waf_rate_limit if settings.ingest_waf else None,
        )
        origin_secret_arn = self.ingest_endpoint.origin_secret.secret_arn
        self.ingest.function.add_environment(
            Env.CLOUDFRONT_ORIGIN_SECRET_ARN.value, origin_secret_arn
        )
        self.ingest.role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="ReadOriginSecret",
                actions=["secretsmanager:GetSecretValue"],
                resources=[origin_secret_arn],
            )
        )

        self.maintenance_rule = events.Rule(
            self,
            "MaintenanceSchedule",
            description="Daily partition maintenance of the hot event tables",
            schedule=MAINTENANCE_SCHEDULE,
            targets=[targets.LambdaFunction(self.maintenance.function, retry_attempts=2)],
        )
        self.fold_stats_rule = events.Rule(
            self,
            "FoldStatsSchedule",
            description="Fold newly ingested rows into the hot store's read model",
            schedule=FOLD_STATS_SCHEDULE,
            targets=[targets.LambdaFunction(self.fold_stats.function, retry_attempts=0)],
        )

        self.migration = self._migration_trigger(migration_run_id)
        # Schema before code: every function that touches the database is created or updated
        # only after the migrations ran (migrate itself is, necessarily, updated before).
        self.database_functions = tuple(
            fn for fn in self.functions if fn is not self.migrate and fn.spec.in_vpc
        )
        self.migration.execute_before(*(fn.function for fn in self.database_functions))

        self.alarms = Alarms(
            self,
            "Alarms",
            process_ingest=self.process_ingest.function,
            maintenance=self.maintenance.function,
            fold_stats=self.fold_stats.function,
            bucket=self.lake.data,
            ingest_http=self.streams.ingest_http,
            iceberg_streams=self.streams.iceberg_streams,
            alarm_email=settings.alarm_email,
        )

        self._refuse_regions_without_function_urls()
        if refusals:
            self._refuse_deploy(refusals)
        self._deploy_dashboard_files()
        self._outputs()
        self.deletion_protection = (
            self._protect_database_after_deploy(migration_run_id)
            if settings.db_deletion_protection
            else None
        )

    def _query_statements(self) -> list[iam.PolicyStatement]:
        """Athena on its workgroup, Glue reads of the tables, S3 reads of the data prefix,
        reads and writes of the results prefix (Athena acts with the caller's permissions)."""
        lake = self.lake
        data, results = lake.data, lake.results
        tables = [lake.table_arn(name) for name in lake.tables]
        return [
            iam.PolicyStatement(
                sid="AthenaWorkgroup",
                actions=[
                    "athena:GetQueryExecution",
                    "athena:GetQueryResults",
                    "athena:GetWorkGroup",
                    "athena:StartQueryExecution",
                    "athena:StopQueryExecution",
                ],
                resources=[lake.workgroup_arn],
            ),
            iam.PolicyStatement(
                sid="GlueRead",
                actions=[
                    "glue:GetDatabase",
                    "glue:GetPartitions",
                    "glue:GetTable",
                    "glue:GetTables",
                ],
                resources=[lake.catalog_arn, lake.database_arn, *tables],
            ),
            iam.PolicyStatement(
                sid="DataBucket",
                actions=["s3:GetBucketLocation", "s3:ListBucket"],
                resources=[data.bucket_arn],
            ),
            iam.PolicyStatement(
                sid="DataRead",
                actions=["s3:GetObject"],
                resources=[data.arn_for_objects(f"{ICEBERG_PREFIX}*")],
            ),
            iam.PolicyStatement(
                sid="ResultsBucket",
                actions=["s3:GetBucketLocation", "s3:ListBucket", "s3:ListBucketMultipartUploads"],
                resources=[results.bucket_arn],
            ),
            iam.PolicyStatement(
                sid="ResultsReadWrite",
                actions=[
                    "s3:AbortMultipartUpload",
                    "s3:GetObject",
                    "s3:ListMultipartUploadParts",
                    "s3:PutObject",
                ],
                resources=[results.arn_for_objects("*")],
            ),
        ]

    def _site_deletion_statements(self) -> list[iam.PolicyStatement]:
        """What `DELETE FROM` on the Iceberg tables needs (the sites function and the daily
        maintenance run it): the query statements, plus the commit of a new snapshot (Glue
        UpdateTable on the two tables) and the position-delete and metadata files it writes
        under the tables' prefix. Nothing may delete an object: the Glue optimizers' snapshot
        retention removes the files that only old snapshots reference."""
        lake = self.lake
        return [
            *self._query_statements(),
            iam.PolicyStatement(
                sid="GlueCommitDeletes",
                actions=["glue:UpdateTable"],
                resources=[lake.catalog_arn, lake.database_arn]
                + [lake.table_arn(name) for name in lake.tables],
            ),
            iam.PolicyStatement(
                sid="DataWriteDeletes",
                actions=["s3:AbortMultipartUpload", "s3:PutObject"],
                resources=[lake.data.arn_for_objects(f"{ICEBERG_PREFIX}*")],
            ),
        ]

    def _after_workgroup(self, *deleting: AnalyticsFunction) -> None:
        """The functions that run site deletions start after the workgroup exists; their
        Athena wildcards are acknowledged as the query function's are."""
        for each in deleting:
            each.function.node.add_dependency(self.lake.workgroup)
            self._acknowledge_athena_wildcards(each.role)

    def _acknowledge_query_wildcards(self) -> None:
        self._acknowledge_athena_wildcards(self.query.role)

    def _acknowledge_athena_wildcards(self, role: iam.IRole) -> None:
        acknowledge(
            role,
            objects_finding(self.lake.data, f"{ICEBERG_PREFIX}*"),
            "Athena reads the Iceberg tables' data and metadata files (a site deletion also "
            "writes delete and metadata files), whose names Firehose and Iceberg generate, "
            "under the iceberg/ prefix only (never the failure backups).",
        )
        acknowledge(
            role,
            objects_finding(self.lake.results, "*"),
            "Athena writes each query's result under a generated name; the results bucket holds "
            "nothing else and expires objects after 7 days.",
        )

    def _migration_trigger(self, run_id: str) -> triggers.Trigger:
        """Invoke migrate on every deploy, after the database, before anything serves."""
        trigger = triggers.Trigger(
            self,
            "MigrateOnDeploy",
            handler=self.migrate.function,
            invocation_type=triggers.InvocationType.REQUEST_RESPONSE,
            timeout=MIGRATE.timeout.plus(Duration.minutes(1)),
            execute_on_handler_change=True,
            execute_after=[self.database.cluster, self.database.proxy],
            execute_before=[
                self.api.http_api,
                self.api.stage,
                self.streams.ingest_http,
                self.maintenance_rule,
                self.fold_stats_rule,
            ],
        )
        # The trigger runs on create and on every update of its properties; a new run id per
        # deploy makes every deploy an update, so migrations run on every deploy.
        resource = trigger.node.find_child("Default").node.default_child
        if not isinstance(resource, CfnResource):  # pragma: no cover - CDK internals
            raise TypeError("unexpected trigger structure")
        resource.add_property_override("DeployRunId", run_id)
        self._retain_trigger_provider_logs()
        return trigger

    def _retain_trigger_provider_logs(self) -> None:
        """Give CDK's trigger provider function a log group with retention, like ours."""
        provider = self.node.try_find_child(TRIGGER_PROVIDER_ID)
        handler = provider.node.try_find_child("Handler") if provider is not None else None
        if not isinstance(handler, CfnResource):  # pragma: no cover - CDK internals
            raise TypeError("the trigger provider's function was not found")
        group = logs.LogGroup(
            self,
            "MigrateTriggerProviderLogs",
            retention=self.retention,
            removal_policy=RemovalPolicy.DESTROY,
        )
        handler.add_property_override("LoggingConfig", {"LogGroup": group.log_group_name})
        handler.node.add_dependency(group)

    def _protect_database_after_deploy(self, run_id: str) -> DeletionProtectionAfterDeploy:
        """Turn deletion protection on once everything else has been deployed."""
        guard = DeletionProtectionAfterDeploy(
            self,
            "DeletionProtectionAfterDeploy",
            cluster=self.database.cluster,
            log_retention=self.retention,
            run_id=run_id,
        )
        for child in self.node.children:
            if child is guard or child.node.id == AWS_CUSTOM_RESOURCE_PROVIDER_ID:
                continue
            guard.node.add_dependency(child)
        acknowledge(
            self.node.find_child(AWS_CUSTOM_RESOURCE_PROVIDER_ID),
            "AwsSolutions-L1",
            "CDK's AwsCustomResource provider function (one SDK call at deploy time, the "
            "deletion protection) runs the Node.js runtime that CDK pins for it.",
        )
        acknowledge(
            self.node.find_child(AWS_CUSTOM_RESOURCE_PROVIDER_ID),
            "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
            "AWSLambdaBasicExecutionRole]",
            "CDK's AwsCustomResource provider role uses AWSLambdaBasicExecutionRole for its own "
            "logs; its one permission beyond that is rds:ModifyDBCluster on this cluster.",
        )
        return guard

    def _refuse_regions_without_function_urls(self) -> None:
        """Make CloudFormation reject the template in a region without Function URLs."""
        CfnRule(
            self,
            "RefuseRegionsWithoutFunctionUrls",
            assertions=[
                CfnRuleAssertion(
                    assert_=Fn.condition_not(
                        Fn.condition_contains(list(NO_FUNCTION_URL_REGIONS), Aws.REGION)
                    ),
                    assert_description=(
                        "Lambda Function URLs (ingest, processIngest) are not available in this "
                        "region; deploy to another one"
                    ),
                )
            ],
        )

    def _refuse_deploy(self, refusals: Sequence[str]) -> None:
        """Make CloudFormation reject this template before creating anything.

        The app refuses at once when asked to deploy (`-c deploy=true`); this rule is the net
        under it, for a `cdk deploy` without the flag: the template still synthesises (for
        review), but CloudFormation's rule check fails the change set and prints the reasons.
        """
        guard = CfnParameter(
            self,
            "PlaceholderGuard",
            type="String",
            default="placeholders-present",
            allowed_values=["placeholders-present"],
            description="Set by the app; this template still holds placeholders (see the rule).",
        )
        CfnRule(
            self,
            "RefuseDeployWithPlaceholders",
            assertions=[
                CfnRuleAssertion(
                    assert_=Fn.condition_equals(guard.value_as_string, "placeholders-resolved"),
                    assert_description="Not deployable: " + "; ".join(refusals),
                )
            ],
        )

    def _deploy_dashboard_files(self) -> None:
        """The dashboard's files and config, once the API and the ingest endpoint exist."""
        self.dashboard.deploy_files(
            api_url=self.api.url,
            ingest_origin=f"https://{self.ingest_endpoint.distribution.distribution_domain_name}",
        )

    def _outputs(self) -> None:
        CfnOutput(self, "ApiUrl", value=self.api.url, description="Dashboard API base URL")
        CfnOutput(
            self, "DashboardUrl", value=f"{self.dashboard.origin}/", description="The dashboard"
        )
        CfnOutput(self, "IngestUrl", value=self.ingest_endpoint.url, description="Tracker POST URL")
        CfnOutput(
            self,
            "IngestFunctionUrl",
            value=self.ingest_endpoint.function_url.url,
            description="Ingest origin: answers 403 to requests that bypass CloudFront",
        )
        CfnOutput(
            self,
            "FailedBatchesLocation",
            value=self.lake.data.s3_url_for_object("http-firehose-failures/"),
            description="Replay with: analytics replay <this URL>",
        )
        CfnOutput(self, "AnalyticsBucketName", value=self.lake.data.bucket_name)
        CfnOutput(self, "AthenaWorkgroup", value=self.lake.workgroup_name)
        CfnOutput(self, "FirehoseAccessKeySecretArn", value=self.streams.access_key.secret_arn)
        CfnOutput(
            self,
            "OriginSecretArn",
            value=self.ingest_endpoint.origin_secret.secret_arn,
            description="X-Origin-Verify, which CloudFront sends to the ingest function",
        )
        CfnOutput(self, "DatabaseSecretArn", value=self.database.secret.secret_arn)
        CfnOutput(self, "AlarmTopicArn", value=self.alarms.topic.topic_arn)
        CfnOutput(self, "Region", value=Aws.REGION)


# CloudWatch Logs' retention periods, in days, as CDK names them.
_RETENTION_PERIODS = (
    (1, logs.RetentionDays.ONE_DAY),
    (3, logs.RetentionDays.THREE_DAYS),
    (5, logs.RetentionDays.FIVE_DAYS),
    (7, logs.RetentionDays.ONE_WEEK),
    (14, logs.RetentionDays.TWO_WEEKS),
    (30, logs.RetentionDays.ONE_MONTH),
    (60, logs.RetentionDays.TWO_MONTHS),
    (90, logs.RetentionDays.THREE_MONTHS),
    (120, logs.RetentionDays.FOUR_MONTHS),
    (150, logs.RetentionDays.FIVE_MONTHS),
    (180, logs.RetentionDays.SIX_MONTHS),
    (365, logs.RetentionDays.ONE_YEAR),
    (400, logs.RetentionDays.THIRTEEN_MONTHS),
    (545, logs.RetentionDays.EIGHTEEN_MONTHS),
    (731, logs.RetentionDays.TWO_YEARS),
    (1096, logs.RetentionDays.THREE_YEARS),
    (1827, logs.RetentionDays.FIVE_YEARS),
    (2192, logs.RetentionDays.SIX_YEARS),
    (2557, logs.RetentionDays.SEVEN_YEARS),
    (2922, logs.RetentionDays.EIGHT_YEARS),
    (3288, logs.RetentionDays.NINE_YEARS),
    (3653, logs.RetentionDays.TEN_YEARS),
)


def retention_period(days: int) -> logs.RetentionDays:
    """The shortest CloudWatch Logs retention period of at least `days`."""
    for period_days, period in _RETENTION_PERIODS:
        if period_days >= days:
            return period
    return _RETENTION_PERIODS[-1][1]
