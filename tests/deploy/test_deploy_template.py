"""The infrastructure of the template: streams, storage, database, network, API, alarms."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from tests.deploy.conftest import REPO, Synthesis
from tests.deploy.helpers import (
    as_list,
    depends_on,
    flatten_strings,
    function_by_handler,
    get_att,
    of_type,
    ref,
)

FAILURE_PREFIX = "http-firehose-failures/"
ROUTES = {
    "POST /api/sites": "entrypoints.lambdas.sites.handler",
    "GET /api/sites": "entrypoints.lambdas.sites.handler",
    "GET /api/sites/{id}": "entrypoints.lambdas.sites.handler",
    "PUT /api/sites/{id}": "entrypoints.lambdas.sites.handler",
    "DELETE /api/sites/{id}": "entrypoints.lambdas.sites.handler",
    "GET /api/sites/{id}/ingest": "entrypoints.lambdas.sites.handler",
    "GET /api/accounts": "entrypoints.lambdas.accounts.handler",
    "PUT /api/accounts": "entrypoints.lambdas.accounts.handler",
    "GET /api/query": "entrypoints.lambdas.query.handler",
    "GET /api/realtime": "entrypoints.lambdas.query.handler",
}


def _streams(synthesis: Synthesis) -> dict[str, dict[str, Any]]:
    return of_type(synthesis.resources, "AWS::KinesisFirehose::DeliveryStream")


def _http_stream(synthesis: Synthesis) -> tuple[str, dict[str, Any]]:
    (found,) = [
        (key, value["Properties"]["HttpEndpointDestinationConfiguration"])
        for key, value in _streams(synthesis).items()
        if "HttpEndpointDestinationConfiguration" in value["Properties"]
    ]
    return found


def _iceberg_streams(synthesis: Synthesis) -> dict[str, dict[str, Any]]:
    """Destination table name -> the stream's Iceberg configuration."""
    streams = {}
    for value in _streams(synthesis).values():
        config = value["Properties"].get("IcebergDestinationConfiguration")
        if config is not None:
            (table,) = config["DestinationTableConfigurationList"]
            streams[table["DestinationTableName"]] = config
    return streams


def _the_one(synthesis: Synthesis, resource_type: str) -> tuple[str, dict[str, Any]]:
    found = of_type(synthesis.resources, resource_type)
    assert len(found) == 1, f"expected one {resource_type}, found {sorted(found)}"
    ((key, value),) = found.items()
    return key, value["Properties"]


def _data_bucket(synthesis: Synthesis) -> tuple[str, dict[str, Any]]:
    (found,) = [
        (key, value["Properties"])
        for key, value in of_type(synthesis.resources, "AWS::S3::Bucket").items()
        if any(
            rule.get("Prefix") == FAILURE_PREFIX
            for rule in value["Properties"].get("LifecycleConfiguration", {}).get("Rules", [])
        )
    ]
    return found


# --- acceptance: no DynamoDB -------------------------------------------------------------


def test_no_dynamodb_anywhere(synthesis: Synthesis) -> None:
    """The plan's DynamoDB tables are gone: no resource, permission or reference mentions it."""
    assert not [key for key, value in synthesis.resources.items() if "DynamoDB" in value["Type"]]
    assert "dynamodb" not in json.dumps(synthesis.json).lower()


# --- Firehose ------------------------------------------------------------------------------


def test_http_stream_delivers_to_process_ingest_function_url(synthesis: Synthesis) -> None:
    """IngestHttp's HTTP endpoint is the Function URL of processIngest, with auth NONE."""
    _, config = _http_stream(synthesis)
    url = config["EndpointConfiguration"]["Url"]
    url_id = url["Fn::GetAtt"][0]
    assert url == get_att(url_id, "FunctionUrl")
    function_url = synthesis.resources[url_id]
    assert function_url["Type"] == "AWS::Lambda::Url"
    assert function_url["Properties"]["AuthType"] == "NONE"
    process_id, _ = function_by_handler(
        synthesis.resources, "entrypoints.lambdas.process_ingest.handler"
    )
    assert function_url["Properties"]["TargetFunctionArn"] == get_att(process_id, "Arn")


def test_http_stream_encoding_buffering_backup_and_key(synthesis: Synthesis) -> None:
    """IngestHttp gzips, buffers at most 3 MiB / 60 s, retries, backs failed data up under
    the failure prefix, and sends the access key held in Secrets Manager."""
    from aws_cdk.assertions import Match

    synthesis.template.has_resource_properties(
        "AWS::KinesisFirehose::DeliveryStream",
        {
            "DeliveryStreamType": "DirectPut",
            "HttpEndpointDestinationConfiguration": Match.object_like(
                {
                    "RequestConfiguration": {"ContentEncoding": "GZIP"},
                    "S3BackupMode": "FailedDataOnly",
                    "S3Configuration": Match.object_like({"Prefix": FAILURE_PREFIX}),
                    "SecretsManagerConfiguration": Match.object_like({"Enabled": True}),
                }
            ),
        },
    )
    _, config = _http_stream(synthesis)
    assert config["BufferingHints"]["SizeInMBs"] <= 3
    assert config["BufferingHints"]["IntervalInSeconds"] <= 60
    assert 300 <= config["RetryOptions"]["DurationInSeconds"] <= 7200
    assert "AccessKey" not in config["EndpointConfiguration"]  # never in the template
    secret_id = config["SecretsManagerConfiguration"]["SecretARN"]["Ref"]
    secret = synthesis.resources[secret_id]["Properties"]
    assert secret["GenerateSecretString"]["GenerateStringKey"] == "api_key"
    backup = config["S3Configuration"]
    assert backup["BucketARN"] == get_att(_data_bucket(synthesis)[0], "Arn")
    assert backup["ErrorOutputPrefix"].startswith(FAILURE_PREFIX)


def test_iceberg_streams_buffer_900_seconds_and_128_mib(synthesis: Synthesis) -> None:
    """events and initial_events each write their own Iceberg table, buffering 900 s / 128 MiB."""
    streams = _iceberg_streams(synthesis)
    assert set(streams) == {"events", "initial_events"}
    for table, config in streams.items():
        assert config["BufferingHints"] == {"IntervalInSeconds": 900, "SizeInMBs": 128}
        (destination,) = config["DestinationTableConfigurationList"]
        assert destination["DestinationDatabaseName"] == "analytics"
        assert destination["S3ErrorOutputPrefix"] == f"iceberg-errors/{table}/"
        assert flatten_strings(config["CatalogConfiguration"]["CatalogArn"]).endswith(":catalog")


def test_streams_are_encrypted(synthesis: Synthesis) -> None:
    """Every Firehose stream encrypts its buffered records."""
    for stream in _streams(synthesis).values():
        encryption = stream["Properties"]["DeliveryStreamEncryptionConfigurationInput"]
        assert encryption == {"KeyType": "AWS_OWNED_CMK"}


# --- buckets, Glue, Athena -------------------------------------------------------------------


def test_analytics_bucket_is_private_encrypted_and_tls_only(synthesis: Synthesis) -> None:
    """Every bucket blocks public access, encrypts at rest and denies non-TLS requests."""
    buckets = of_type(synthesis.resources, "AWS::S3::Bucket")
    assert len(buckets) == 4  # analytics data, Athena results, access logs, dashboard files
    policies = {
        value["Properties"]["Bucket"]["Ref"]: value["Properties"]["PolicyDocument"]
        for value in of_type(synthesis.resources, "AWS::S3::BucketPolicy").values()
    }
    for key, bucket in buckets.items():
        properties = bucket["Properties"]
        assert properties["PublicAccessBlockConfiguration"] == {
            "BlockPublicAcls": True,
            "BlockPublicPolicy": True,
            "IgnorePublicAcls": True,
            "RestrictPublicBuckets": True,
        }
        (encryption,) = properties["BucketEncryption"]["ServerSideEncryptionConfiguration"]
        assert encryption["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
        assert any(
            statement["Effect"] == "Deny"
            and statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
            for statement in policies[key]["Statement"]
        ), f"{key} accepts plain HTTP"


def test_failure_prefix_expires(synthesis: Synthesis) -> None:
    """Backed-up batches under http-firehose-failures/ expire after the configured 30 days,
    and so do the copies `analytics replay` archives under replayed/."""
    _, bucket = _data_bucket(synthesis)
    rules = bucket["LifecycleConfiguration"]["Rules"]
    (rule,) = [rule for rule in rules if rule.get("Prefix") == FAILURE_PREFIX]
    assert rule["Status"] == "Enabled"
    assert rule["ExpirationInDays"] == 30
    (archived,) = [rule for rule in rules if rule.get("Prefix") == "replayed/"]
    assert archived["ExpirationInDays"] == 30


def test_glue_iceberg_tables_partitioned_by_dt(synthesis: Synthesis) -> None:
    """Glue holds Iceberg tables events and initial_events, identity-partitioned by dt."""
    tables = {
        value["Properties"]["Name"]: value["Properties"]
        for value in of_type(synthesis.resources, "AWS::Glue::Table").values()
    }
    assert set(tables) == {"events", "initial_events"}
    for name, table in tables.items():
        assert table["DatabaseName"] == "analytics"
        iceberg = table["OpenTableFormatInput"]["IcebergInput"]
        assert iceberg["MetadataOperation"] == "CREATE"
        table_input = iceberg["IcebergTableInput"]
        assert flatten_strings(table_input["Location"]).endswith(f"/iceberg/{name}")
        fields = {field["Name"]: field for field in table_input["Schema"]["Fields"]}
        (partition,) = table_input["PartitionSpec"]["Fields"]
        assert partition["Transform"] == "identity"
        assert partition["SourceId"] == fields["dt"]["Id"]
        assert fields["dt"]["Type"] == "date"
        assert fields["timestamp"]["Type"] == "timestamptz"


def _postgres_columns(table: str) -> set[str]:
    """The columns of a CREATE TABLE in the repository's migrations."""
    sql = "\n".join(
        path.read_text(encoding="utf-8")
        for path in sorted((REPO / "sql" / "migrations").glob("*.sql"))
    )
    match = re.search(rf"CREATE TABLE {table} \((?P<body>.*?)\n\)", sql, re.DOTALL)
    assert match is not None, f"no CREATE TABLE {table} in sql/migrations"
    columns = set()
    for line in match["body"].splitlines():
        word = line.strip().split(" ", 1)[0].strip('"')
        if word and not word.startswith("--") and word.upper() not in {"CONSTRAINT", "PRIMARY"}:
            columns.add(word)
    return columns


@pytest.mark.parametrize("table", ["events", "initial_events"])
def test_iceberg_columns_are_the_postgres_columns(synthesis: Synthesis, table: str) -> None:
    """Each Iceberg table has the Postgres table's column names, less the Postgres-only
    event_id, so processIngest can forward the same rows to both stores."""
    (glue_table,) = [
        value["Properties"]
        for value in of_type(synthesis.resources, "AWS::Glue::Table").values()
        if value["Properties"]["Name"] == table
    ]
    fields = glue_table["OpenTableFormatInput"]["IcebergInput"]["IcebergTableInput"]["Schema"]
    iceberg_columns = {field["Name"] for field in fields["Fields"]}
    assert iceberg_columns == _postgres_columns(table) - {"event_id"}


def test_initial_events_table_has_the_session_columns(synthesis: Synthesis) -> None:
    """initial_events carries the session attributes the issue lists."""
    (table,) = [
        value["Properties"]
        for value in of_type(synthesis.resources, "AWS::Glue::Table").values()
        if value["Properties"]["Name"] == "initial_events"
    ]
    schema = table["OpenTableFormatInput"]["IcebergInput"]["IcebergTableInput"]["Schema"]
    names = [field["Name"] for field in schema["Fields"]]
    assert names == [
        *("event_uid", "site_id", "session_id", "timestamp", "dt", "event", "pathname"),
        *("properties", "referer", "referer_domain", "utm_source", "utm_medium"),
        *("utm_campaign", "utm_content", "utm_term", "device", "os", "browser", "country"),
        *("region", "city", "screen_width", "screen_height"),
    ]


def test_athena_workgroup_limits_bytes_scanned(synthesis: Synthesis) -> None:
    """The workgroup enforces its settings: a per-query bytes-scanned cutoff and encrypted
    results in the results bucket."""
    _, workgroup = _the_one(synthesis, "AWS::Athena::WorkGroup")
    config = workgroup["WorkGroupConfiguration"]
    assert config["BytesScannedCutoffPerQuery"] == 10_240 * 2**20
    assert config["EnforceWorkGroupConfiguration"] is True
    results = config["ResultConfiguration"]
    assert results["EncryptionConfiguration"] == {"EncryptionOption": "SSE_S3"}
    assert "AthenaResults" in flatten_strings(results["OutputLocation"])


# --- database and network --------------------------------------------------------------------


def test_aurora_serverless_v2_postgres_16(synthesis: Synthesis) -> None:
    """The cluster is Aurora PostgreSQL 16.x, Serverless v2 with the context's ACU range,
    encrypted, with a generated secret, one writer and (by default) no reader."""
    _, cluster = _the_one(synthesis, "AWS::RDS::DBCluster")
    assert cluster["Engine"] == "aurora-postgresql"
    assert cluster["EngineVersion"].startswith("16.")
    assert cluster["ServerlessV2ScalingConfiguration"] == {"MinCapacity": 0.5, "MaxCapacity": 4}
    assert cluster["StorageEncrypted"] is True
    assert "DeletionProtection" not in cluster  # turned on after the deploy (test_deploy_hardening)
    assert cluster["Port"] == 5432
    assert cluster["DatabaseName"] == "analytics"
    (instance,) = of_type(synthesis.resources, "AWS::RDS::DBInstance").values()
    assert instance["Properties"]["DBInstanceClass"] == "db.serverless"
    assert instance["Properties"]["PubliclyAccessible"] is False


def test_rds_proxy_uses_the_cluster_secret_and_tls(synthesis: Synthesis) -> None:
    """RDS Proxy fronts the cluster with its generated secret and requires TLS."""
    _, proxy = _the_one(synthesis, "AWS::RDS::DBProxy")
    assert proxy["EngineFamily"] == "POSTGRESQL"
    assert proxy["RequireTLS"] is True
    (auth,) = proxy["Auth"]
    attachment = auth["SecretArn"]["Ref"]
    assert synthesis.resources[attachment]["Type"] == "AWS::SecretsManager::SecretTargetAttachment"
    _, target_group = _the_one(synthesis, "AWS::RDS::DBProxyTargetGroup")
    (cluster_id,) = of_type(synthesis.resources, "AWS::RDS::DBCluster")
    assert target_group["DBClusterIdentifiers"] == [ref(cluster_id)]


def test_postgres_port_open_only_from_the_functions(synthesis: Synthesis) -> None:
    """5432 is open on the proxy only from the functions' security group, and on the cluster
    only from the proxy's; no security group admits any CIDR range."""
    resources = synthesis.resources
    _, proxy = _the_one(synthesis, "AWS::RDS::DBProxy")
    _, cluster = _the_one(synthesis, "AWS::RDS::DBCluster")
    (proxy_group,) = [group["Fn::GetAtt"][0] for group in proxy["VpcSecurityGroupIds"]]
    (cluster_group,) = [group["Fn::GetAtt"][0] for group in cluster["VpcSecurityGroupIds"]]
    _, query = function_by_handler(resources, "entrypoints.lambdas.query.handler")
    (functions_group,) = [
        group["Fn::GetAtt"][0] for group in query["VpcConfig"]["SecurityGroupIds"]
    ]

    ingress = [
        value["Properties"]
        for value in of_type(resources, "AWS::EC2::SecurityGroupIngress").values()
    ]
    inline = [
        rule
        for value in of_type(resources, "AWS::EC2::SecurityGroup").values()
        for rule in value["Properties"].get("SecurityGroupIngress", [])
    ]
    assert not inline, f"inline ingress rules: {inline}"

    (cluster_id,) = of_type(resources, "AWS::RDS::DBCluster")

    def port(value: Any) -> Any:
        # CDK opens the cluster's own port by reference; the cluster's port is 5432.
        return cluster["Port"] if value == get_att(cluster_id, "Endpoint.Port") else value

    def rules_into(group: str) -> list[tuple[str, int, int, str]]:
        return [
            (
                rule["IpProtocol"],
                port(rule["FromPort"]),
                port(rule["ToPort"]),
                rule["SourceSecurityGroupId"]["Fn::GetAtt"][0],
            )
            for rule in ingress
            if rule["GroupId"]["Fn::GetAtt"][0] == group
        ]

    assert rules_into(proxy_group) == [("tcp", 5432, 5432, functions_group)]
    assert rules_into(cluster_group) == [("tcp", 5432, 5432, proxy_group)]
    assert not [rule for rule in ingress if "CidrIp" in rule or "CidrIpv6" in rule]


def test_network_is_private_with_service_endpoints(synthesis: Synthesis) -> None:
    """The VPC has no internet or NAT gateway; the functions reach S3 through a gateway
    endpoint and Secrets Manager, Firehose, Athena and Glue through interface endpoints."""
    resources = synthesis.resources
    assert not of_type(resources, "AWS::EC2::NatGateway")
    assert not of_type(resources, "AWS::EC2::InternetGateway")
    services = {}
    for value in of_type(resources, "AWS::EC2::VPCEndpoint").values():
        name = flatten_strings(value["Properties"]["ServiceName"]).rsplit(".", 1)[-1]
        services[name] = value["Properties"].get("VpcEndpointType", "Gateway")
    assert services == {
        "s3": "Gateway",
        "secretsmanager": "Interface",
        "kinesis-firehose": "Interface",
        "athena": "Interface",
        "glue": "Interface",
    }
    assert of_type(resources, "AWS::EC2::FlowLog")


# --- the migration trigger -------------------------------------------------------------------


def test_migration_trigger_runs_migrate_before_the_api(synthesis: Synthesis) -> None:
    """A trigger invokes the migrate function synchronously (a raised error fails the deploy)
    after the database and proxy exist and before the API's routes and stage, the IngestHttp
    stream and the maintenance and fold schedules (the fold needs migration 0006)."""
    resources = synthesis.resources
    (trigger_id,) = of_type(resources, "Custom::Trigger")
    trigger = resources[trigger_id]
    properties = trigger["Properties"]
    assert properties["InvocationType"] == "RequestResponse"
    version_id = properties["HandlerArn"]["Ref"]
    migrate_id, _ = function_by_handler(resources, "entrypoints.lambdas.migrate.handler")
    assert resources[version_id]["Type"] == "AWS::Lambda::Version"
    assert resources[version_id]["Properties"]["FunctionName"] == ref(migrate_id)
    assert int(properties["Timeout"]) >= 120_000

    after = depends_on(trigger)
    for resource_type in ("AWS::RDS::DBCluster", "AWS::RDS::DBProxy", "AWS::RDS::DBInstance"):
        assert set(of_type(resources, resource_type)) <= after, resource_type

    gated = {
        **of_type(resources, "AWS::ApiGatewayV2::Route"),
        **of_type(resources, "AWS::ApiGatewayV2::Stage"),
        **of_type(resources, "AWS::Events::Rule"),
    }
    gated[_http_stream(synthesis)[0]] = resources[_http_stream(synthesis)[0]]
    assert len(gated) == len(ROUTES) + 4  # + the stage, the two schedules, IngestHttp
    for key, resource in gated.items():
        assert trigger_id in depends_on(resource), f"{key} does not wait for the migrations"


def test_migration_trigger_runs_on_every_deploy(synthesis: Synthesis, app_module: Any) -> None:
    """The trigger carries a per-deploy run id (fixed at plain synth), so each deploy updates
    it and the provider invokes migrate again."""
    (trigger,) = of_type(synthesis.resources, "Custom::Trigger").values()
    assert trigger["Properties"]["DeployRunId"] == "synth"
    assert trigger["Properties"]["ExecuteOnHandlerChange"] is True
    settings = app_module.DeploySettings.from_context({"deploy": "true"})
    first = app_module.migration_run_id(settings)
    assert first != "synth"
    assert re.fullmatch(r"\d{8}T\d{6}\.\d{6}Z", first)
    pinned = app_module.DeploySettings.from_context({"migration_run_id": "release-42"})
    assert app_module.migration_run_id(pinned) == "release-42"


# --- API -------------------------------------------------------------------------------------


def test_routes_are_the_briefs_and_all_behind_the_jwt_authorizer(synthesis: Synthesis) -> None:
    """The HTTP API has exactly the brief's routes, each with the Cognito JWT
    authorizer and integrated with the function that serves it."""
    resources = synthesis.resources
    (authorizer_id,) = of_type(resources, "AWS::ApiGatewayV2::Authorizer")
    routes = {
        value["Properties"]["RouteKey"]: value["Properties"]
        for value in of_type(resources, "AWS::ApiGatewayV2::Route").values()
    }
    assert set(routes) == set(ROUTES)
    for route_key, route in routes.items():
        assert route["AuthorizationType"] == "JWT", route_key
        assert route["AuthorizerId"] == ref(authorizer_id), route_key
        integration_id = flatten_strings(route["Target"]).removeprefix("integrations/")
        integration_id = integration_id.strip("${}")
        integration = resources[integration_id]["Properties"]
        assert integration["PayloadFormatVersion"] == "2.0"
        function_id, _ = function_by_handler(resources, ROUTES[route_key])
        assert integration["IntegrationUri"] == get_att(function_id, "Arn"), route_key


def test_jwt_authorizer_uses_the_context_user_pool_and_client(synthesis: Synthesis) -> None:
    """The authorizer checks Cognito JWTs from the configured user pool, for the configured
    app client and the dashboard's hosted-UI client, and no other."""
    (client_id,) = [
        key
        for key in of_type(synthesis.resources, "AWS::Cognito::UserPoolClient")
        if key.startswith("DashboardUserPoolDashboardClient")
    ]
    synthesis.template.has_resource_properties(
        "AWS::ApiGatewayV2::Authorizer",
        {
            "AuthorizerType": "JWT",
            "IdentitySource": ["$request.header.Authorization"],
            "JwtConfiguration": {
                "Audience": ["PLACEHOLDER-cognito-app-client-id", ref(client_id)],
                "Issuer": "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_PLACEHOLDER",
            },
        },
    )


def test_api_cors_allows_only_the_dashboard(synthesis: Synthesis) -> None:
    """The API answers CORS preflights for the dashboard's origins only: the configured
    dashboard_origin and the stack's own dashboard distribution."""
    _, api = _the_one(synthesis, "AWS::ApiGatewayV2::Api")
    assert api["ProtocolType"] == "HTTP"
    (distribution_id,) = [
        key
        for key in of_type(synthesis.resources, "AWS::CloudFront::Distribution")
        if key.startswith("DashboardDistribution")
    ]
    assert api["CorsConfiguration"]["AllowOrigins"] == [
        "https://PLACEHOLDER.dashboard.example.com",
        {"Fn::Join": ["", ["https://", get_att(distribution_id, "DomainName")]]},
    ]


def test_ingest_is_public_behind_cloudfront_with_viewer_headers(synthesis: Synthesis) -> None:
    """/ingest is the ingest function's public URL behind CloudFront, which passes POST and
    OPTIONS through uncached and forwards the viewer address and geo headers."""
    resources = synthesis.resources
    ingest_id, _ = function_by_handler(resources, "entrypoints.lambdas.ingest.handler")
    (url_id,) = [
        key
        for key, value in of_type(resources, "AWS::Lambda::Url").items()
        if value["Properties"]["TargetFunctionArn"] == get_att(ingest_id, "Arn")
    ]
    assert resources[url_id]["Properties"]["AuthType"] == "NONE"
    assert "Cors" not in resources[url_id]["Properties"]  # the function answers OPTIONS itself

    (distribution,) = [
        value["Properties"]
        for key, value in of_type(resources, "AWS::CloudFront::Distribution").items()
        if key.startswith("IngestDistribution")
    ]
    config = distribution["DistributionConfig"]
    (origin,) = config["Origins"]
    assert url_id in json.dumps(origin["DomainName"])
    behavior = config["DefaultCacheBehavior"]
    assert {"POST", "OPTIONS"} <= set(behavior["AllowedMethods"])
    assert behavior["ViewerProtocolPolicy"] == "https-only"
    _, policy = _the_one(synthesis, "AWS::CloudFront::OriginRequestPolicy")
    headers = policy["OriginRequestPolicyConfig"]["HeadersConfig"]
    assert headers["HeaderBehavior"] == "whitelist"
    assert {
        "CloudFront-Viewer-Address",
        "CloudFront-Viewer-Country",
        "CloudFront-Viewer-Country-Region",
        "CloudFront-Viewer-City",
    } <= set(headers["Headers"])
    assert policy["OriginRequestPolicyConfig"]["QueryStringsConfig"]["QueryStringBehavior"] == "all"
    assert behavior["OriginRequestPolicyId"] == ref(
        next(iter(of_type(resources, "AWS::CloudFront::OriginRequestPolicy")))
    )


def _schedule_of(synthesis: Synthesis, handler: str) -> tuple[str, dict[str, Any], dict[str, Any]]:
    """(rule id, rule properties, its one target) of the one EventBridge rule that invokes the
    function with `handler`, after checking that EventBridge may invoke it for that rule."""
    resources = synthesis.resources
    function_id, _ = function_by_handler(resources, handler)
    (rule_id,) = [
        key
        for key, value in of_type(resources, "AWS::Events::Rule").items()
        if any(
            target["Arn"] == get_att(function_id, "Arn")
            for target in value["Properties"].get("Targets", [])
        )
    ]
    rule = resources[rule_id]["Properties"]
    (target,) = rule["Targets"]
    assert rule["State"] == "ENABLED"
    permissions = [
        value["Properties"]
        for value in of_type(resources, "AWS::Lambda::Permission").values()
        if value["Properties"].get("SourceArn") == get_att(rule_id, "Arn")
    ]
    assert permissions == [
        {
            "Action": "lambda:InvokeFunction",
            "FunctionName": get_att(function_id, "Arn"),
            "Principal": "events.amazonaws.com",
            "SourceArn": get_att(rule_id, "Arn"),
        }
    ]
    return rule_id, rule, target


def test_schedules_are_maintenance_and_fold_only(synthesis: Synthesis) -> None:
    """The stack has exactly two EventBridge rules: the daily maintenance and the fold."""
    assert len(of_type(synthesis.resources, "AWS::Events::Rule")) == 2


def test_maintenance_runs_daily(synthesis: Synthesis) -> None:
    """An EventBridge schedule invokes the maintenance function once a day."""
    _, rule, _ = _schedule_of(synthesis, "entrypoints.lambdas.maintenance.handler")
    assert rule["ScheduleExpression"] == "cron(15 0 * * ? *)"


def test_fold_stats_runs_every_minute(synthesis: Synthesis) -> None:
    """An EventBridge schedule invokes the fold function every minute, without retries (the
    next minute's run is the retry)."""
    _, rule, target = _schedule_of(synthesis, "entrypoints.lambdas.fold_stats.handler")
    assert rule["ScheduleExpression"] == "rate(1 minute)"
    assert target["RetryPolicy"] == {"MaximumRetryAttempts": 0}
    assert "Input" not in target  # the handler ignores its event


# --- alarms ----------------------------------------------------------------------------------


def _alarms(synthesis: Synthesis) -> list[dict[str, Any]]:
    return [
        value["Properties"]
        for value in of_type(synthesis.resources, "AWS::CloudWatch::Alarm").values()
    ]


def test_alarm_on_process_ingest_errors(synthesis: Synthesis) -> None:
    """An alarm fires on the first processIngest error."""
    process_id, _ = function_by_handler(
        synthesis.resources, "entrypoints.lambdas.process_ingest.handler"
    )
    (alarm,) = [
        alarm
        for alarm in _alarms(synthesis)
        if alarm["MetricName"] == "Errors"
        and alarm["Dimensions"] == [{"Name": "FunctionName", "Value": ref(process_id)}]
    ]
    assert alarm["Threshold"] == 1
    assert alarm["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
    assert alarm["AlarmActions"]


def test_alarm_on_maintenance_errors(synthesis: Synthesis) -> None:
    """An alarm fires on any maintenance error within an hour."""
    maintenance_id, _ = function_by_handler(
        synthesis.resources, "entrypoints.lambdas.maintenance.handler"
    )
    (alarm,) = [
        alarm
        for alarm in _alarms(synthesis)
        if alarm["MetricName"] == "Errors"
        and alarm["Dimensions"] == [{"Name": "FunctionName", "Value": ref(maintenance_id)}]
    ]
    assert alarm["Namespace"] == "AWS/Lambda"
    assert alarm["Threshold"] == 1
    assert alarm["Period"] == 3600
    assert alarm["AlarmActions"]


def test_alarm_on_a_failing_fold(synthesis: Synthesis) -> None:
    """An alarm fires when the every-minute fold has failed in each of three consecutive
    5-minute periods; a single failure is retried by the next run and does not page."""
    fold_id, _ = function_by_handler(synthesis.resources, "entrypoints.lambdas.fold_stats.handler")
    (alarm,) = [
        alarm
        for alarm in _alarms(synthesis)
        if alarm["MetricName"] == "Errors"
        and alarm["Dimensions"] == [{"Name": "FunctionName", "Value": ref(fold_id)}]
    ]
    assert alarm["Namespace"] == "AWS/Lambda"
    assert alarm["Statistic"] == "Sum"
    assert alarm["Period"] == 300
    assert alarm["Threshold"] == 1
    assert alarm["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
    assert alarm["EvaluationPeriods"] == alarm["DatapointsToAlarm"] == 3
    assert alarm["TreatMissingData"] == "notBreaching"
    assert alarm["AlarmDescription"].startswith("Read-model fold failing")
    (topic_id,) = of_type(synthesis.resources, "AWS::SNS::Topic")
    assert alarm["AlarmActions"] == [ref(topic_id)]


def test_alarm_on_objects_under_the_failure_prefix(synthesis: Synthesis) -> None:
    """An alarm fires when any object is written under http-firehose-failures/, measured by
    the bucket's request metrics filtered to that prefix."""
    bucket_id, bucket = _data_bucket(synthesis)
    (metrics,) = bucket["MetricsConfigurations"]
    assert metrics["Prefix"] == FAILURE_PREFIX
    (alarm,) = [
        alarm
        for alarm in _alarms(synthesis)
        if alarm["Namespace"] == "AWS/S3" and alarm["MetricName"] == "PutRequests"
    ]
    assert {"Name": "FilterId", "Value": metrics["Id"]} in alarm["Dimensions"]
    assert {"Name": "BucketName", "Value": ref(bucket_id)} in alarm["Dimensions"]
    assert alarm["Threshold"] == 1
    assert alarm["AlarmActions"]


def test_alarms_on_firehose_delivery_freshness(synthesis: Synthesis) -> None:
    """Each stream has a freshness alarm on its destination's DataFreshness metric."""
    freshness = {
        as_list(alarm["Dimensions"])[0]["Value"]["Ref"]: alarm
        for alarm in _alarms(synthesis)
        if alarm["Namespace"] == "AWS/Firehose"
    }
    assert set(freshness) == set(_streams(synthesis))
    http_id, _ = _http_stream(synthesis)
    assert freshness[http_id]["MetricName"] == "DeliveryToHttpEndpoint.DataFreshness"
    for stream_id, alarm in freshness.items():
        if stream_id != http_id:
            assert alarm["MetricName"] == "DeliveryToIceberg.DataFreshness"
            assert alarm["Threshold"] > 900  # the buffer interval is not an incident
        assert alarm["AlarmActions"]


def test_outputs_name_the_replay_location(synthesis: Synthesis) -> None:
    """The stack outputs where failed batches land, for `analytics replay`."""
    outputs = synthesis.json["Outputs"]
    location = flatten_strings(outputs["FailedBatchesLocation"]["Value"])
    assert location.startswith("s3://")
    assert location.endswith(f"/{FAILURE_PREFIX}")
    assert {"ApiUrl", "IngestUrl"} <= set(outputs)


def test_template_file_written(synthesis: Synthesis) -> None:
    """The synth wrote the stack's template into the cloud assembly, as `cdk synth` does."""
    path: Path = synthesis.outdir / f"{synthesis.stack.stack_name}.template.json"
    assert json.loads(path.read_text(encoding="utf-8"))["Resources"] == synthesis.resources


def test_firehose_roles_are_scoped_to_their_stream(synthesis: Synthesis) -> None:
    """Each stream's role reads only its access key or writes only its table and error
    prefixes, with an exact action list."""
    from tests.deploy.helpers import actions, role_statements, statements_with_action

    resources = synthesis.resources
    bucket_arn = get_att(_data_bucket(synthesis)[0], "Arn")

    def objects(prefix: str) -> dict[str, Any]:
        return {"Fn::Join": ["", [bucket_arn, f"/{prefix}*"]]}

    _, http = _http_stream(synthesis)
    http_role = http["RoleARN"]["Fn::GetAtt"][0]
    statements = role_statements(resources, http_role)
    assert actions(statements) == {
        "secretsmanager:GetSecretValue",
        "s3:GetBucketLocation",
        "s3:ListBucket",
        "s3:ListBucketMultipartUploads",
        "s3:AbortMultipartUpload",
        "s3:PutObject",
        "logs:PutLogEvents",
    }
    (put,) = statements_with_action(statements, "s3:PutObject")
    assert as_list(put["Resource"]) == [objects(FAILURE_PREFIX)]
    (secret,) = statements_with_action(statements, "secretsmanager:GetSecretValue")
    assert as_list(secret["Resource"]) == [http["SecretsManagerConfiguration"]["SecretARN"]]

    for table, config in _iceberg_streams(synthesis).items():
        statements = role_statements(resources, config["RoleARN"]["Fn::GetAtt"][0])
        assert actions(statements) == {
            "glue:GetDatabase",
            "glue:GetTable",
            "glue:UpdateTable",
            "s3:GetBucketLocation",
            "s3:ListBucket",
            "s3:ListBucketMultipartUploads",
            "s3:AbortMultipartUpload",
            "s3:DeleteObject",
            "s3:GetObject",
            "s3:PutObject",
            "logs:PutLogEvents",
        }
        writable = sorted(
            str(resource)
            for statement in statements_with_action(statements, "s3:PutObject")
            for resource in as_list(statement["Resource"])
        )
        assert writable == sorted(
            [str(objects(f"iceberg/{table}/")), str(objects(f"iceberg-errors/{table}/"))]
        )
        (delete,) = statements_with_action(statements, "s3:DeleteObject")
        assert as_list(delete["Resource"]) == [objects(f"iceberg/{table}/")]
        (glue,) = statements_with_action(statements, "glue:UpdateTable")
        tables = [flatten_strings(arn) for arn in as_list(glue["Resource"]) if "table/" in str(arn)]
        assert [arn.rsplit(":", 1)[-1] for arn in tables] == [f"table/analytics/{table}"]
