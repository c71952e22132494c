"""The Lambda functions of the template: size, placement, environment and exact permissions."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from adapters.config import Env
from tests.deploy.conftest import Synthesis
from tests.deploy.helpers import (
    actions,
    as_list,
    flatten_strings,
    function_by_handler,
    get_att,
    of_type,
    ref,
    role_id,
    role_statements,
    statements_with_action,
)

LOGS = {"logs:CreateLogStream", "logs:PutLogEvents"}
VPC_ACCESS = {
    "ec2:AssignPrivateIpAddresses",
    "ec2:CreateNetworkInterface",
    "ec2:DeleteNetworkInterface",
    "ec2:DescribeNetworkInterfaces",
    "ec2:DescribeSubnets",
    "ec2:UnassignPrivateIpAddresses",
}
READ_SECRET = {"secretsmanager:GetSecretValue"}
DB_ENV = {Env.DB_SECRET_ARN, Env.DB_HOST, Env.DB_NAME}
ATHENA_ENV = {Env.ATHENA_WORKGROUP, Env.ATHENA_DATABASE, Env.ATHENA_OUTPUT_LOCATION}
ATHENA_QUERY = {
    "athena:GetQueryExecution",
    "athena:GetQueryResults",
    "athena:GetWorkGroup",
    "athena:StartQueryExecution",
    "athena:StopQueryExecution",
    "glue:GetDatabase",
    "glue:GetPartitions",
    "glue:GetTable",
    "glue:GetTables",
    "s3:AbortMultipartUpload",
    "s3:GetBucketLocation",
    "s3:GetObject",
    "s3:ListBucket",
    "s3:ListBucketMultipartUploads",
    "s3:ListMultipartUploadParts",
    "s3:PutObject",
}
# Site deletion (issue 18): Athena's DELETE FROM commits a snapshot of the Iceberg tables.
ATHENA_DELETE = {"glue:UpdateTable"}
ARN, REGION, ACCOUNT = "arn:${AWS::Partition}", "${AWS::Region}", "${AWS::AccountId}"


@dataclass(frozen=True)
class Expected:
    """What issue 6 and the brief fix for one function."""

    handler: str
    memory: int
    timeout: int
    in_vpc: bool
    env: frozenset[Env]
    actions: frozenset[str]


EXPECTED = {
    "ingest": Expected(
        "entrypoints.lambdas.ingest.handler",
        memory=128,
        timeout=5,
        in_vpc=False,
        env=frozenset({Env.INGEST_STREAM_NAME, Env.CLOUDFRONT_ORIGIN_SECRET_ARN}),
        actions=frozenset(LOGS | READ_SECRET | {"firehose:PutRecord"}),
    ),
    "processIngest": Expected(
        "entrypoints.lambdas.process_ingest.handler",
        memory=1024,
        timeout=150,
        in_vpc=True,
        env=frozenset(
            DB_ENV
            | {
                Env.FIREHOSE_ACCESS_KEY_SECRET_ARN,
                Env.EVENTS_STREAM_NAME,
                Env.INITIAL_EVENTS_STREAM_NAME,
                Env.HOT_RETENTION_DAYS,
            }
        ),
        actions=frozenset(LOGS | VPC_ACCESS | READ_SECRET | {"firehose:PutRecordBatch"}),
    ),
    "query": Expected(
        "entrypoints.lambdas.query.handler",
        memory=1024,
        timeout=29,
        in_vpc=True,
        env=frozenset(
            DB_ENV
            | {
                Env.ATHENA_WORKGROUP,
                Env.ATHENA_DATABASE,
                Env.ATHENA_OUTPUT_LOCATION,
                Env.HOT_WINDOW_DAYS,
            }
        ),
        actions=frozenset(
            LOGS
            | VPC_ACCESS
            | READ_SECRET
            | {
                "athena:GetQueryExecution",
                "athena:GetQueryResults",
                "athena:GetWorkGroup",
                "athena:StartQueryExecution",
                "athena:StopQueryExecution",
                "glue:GetDatabase",
                "glue:GetPartitions",
                "glue:GetTable",
                "glue:GetTables",
                "s3:AbortMultipartUpload",
                "s3:GetBucketLocation",
                "s3:GetObject",
                "s3:ListBucket",
                "s3:ListBucketMultipartUploads",
                "s3:ListMultipartUploadParts",
                "s3:PutObject",
            }
        ),
    ),
    "sites": Expected(
        "entrypoints.lambdas.sites.handler",
        memory=256,
        timeout=29,
        in_vpc=True,
        env=frozenset(DB_ENV | ATHENA_ENV),
        actions=frozenset(LOGS | VPC_ACCESS | READ_SECRET | ATHENA_QUERY | ATHENA_DELETE),
    ),
    "accounts": Expected(
        "entrypoints.lambdas.accounts.handler",
        memory=256,
        timeout=10,
        in_vpc=True,
        env=frozenset(DB_ENV),
        actions=frozenset(LOGS | VPC_ACCESS | READ_SECRET),
    ),
    "migrate": Expected(
        "entrypoints.lambdas.migrate.handler",
        memory=256,
        timeout=120,
        in_vpc=True,
        env=frozenset(DB_ENV),
        actions=frozenset(LOGS | VPC_ACCESS | READ_SECRET),
    ),
    "maintenance": Expected(
        "entrypoints.lambdas.maintenance.handler",
        memory=256,
        timeout=300,
        in_vpc=True,
        env=frozenset(DB_ENV | ATHENA_ENV | {Env.HOT_RETENTION_DAYS}),
        actions=frozenset(LOGS | VPC_ACCESS | READ_SECRET | ATHENA_QUERY | ATHENA_DELETE),
    ),
    "foldStats": Expected(
        "entrypoints.lambdas.fold_stats.handler",
        memory=512,
        timeout=360,
        in_vpc=True,
        env=frozenset(DB_ENV),
        actions=frozenset(LOGS | VPC_ACCESS | READ_SECRET),
    ),
}
# The functions that need the database and nothing else besides their logs and the VPC.
DATABASE_ONLY = sorted(
    name
    for name, expected in EXPECTED.items()
    if expected.actions == LOGS | VPC_ACCESS | READ_SECRET
)


def _function(synthesis: Synthesis, name: str) -> tuple[str, dict[str, Any]]:
    return function_by_handler(synthesis.resources, EXPECTED[name].handler)


def _only(resources: dict[str, dict[str, Any]], resource_type: str, **match: Any) -> str:
    """The logical id of the one resource of `resource_type` whose properties contain `match`."""
    found = [
        key
        for key, value in of_type(resources, resource_type).items()
        if all(value["Properties"].get(name) == wanted for name, wanted in match.items())
    ]
    assert len(found) == 1, f"expected one {resource_type} with {match}, found {found}"
    return found[0]


def _stream(synthesis: Synthesis, table: str | None) -> str:
    """The logical id of the Iceberg stream of `table`, or of IngestHttp for None."""
    for key, value in of_type(synthesis.resources, "AWS::KinesisFirehose::DeliveryStream").items():
        properties = value["Properties"]
        if table is None and "HttpEndpointDestinationConfiguration" in properties:
            return key
        iceberg = properties.get("IcebergDestinationConfiguration")
        if table is not None and iceberg is not None:
            tables = iceberg["DestinationTableConfigurationList"]
            if [entry["DestinationTableName"] for entry in tables] == [table]:
                return key
    pytest.fail(f"no stream for {table or 'IngestHttp'}")


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_function_runtime_memory_and_timeout(synthesis: Synthesis, name: str) -> None:
    """Each function runs Python 3.12 with the memory and timeout the issue fixes."""
    _, properties = _function(synthesis, name)
    expected = EXPECTED[name]
    assert properties["Runtime"] == "python3.12"
    assert properties["MemorySize"] == expected.memory
    assert properties["Timeout"] == expected.timeout


def test_fold_outlasts_its_statement_timeout(synthesis: Synthesis) -> None:
    """foldStats' timeout is longer than the fold's 5-minute statement timeout, so a slow fold
    is cancelled by the database (and rolled back) before Lambda kills the function."""
    _, properties = _function(synthesis, "foldStats")
    assert properties["Timeout"] > 5 * 60


def test_process_ingest_answers_before_firehose_gives_up(synthesis: Synthesis) -> None:
    """processIngest's timeout stays under Firehose's 3-minute wait, so no success is redelivered."""
    _, properties = _function(synthesis, "processIngest")
    assert properties["Timeout"] < 180


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_function_vpc_placement(synthesis: Synthesis, name: str) -> None:
    """Only ingest runs outside the VPC; the others sit in the isolated subnets, in the
    security group that RDS Proxy admits."""
    _, properties = _function(synthesis, name)
    if not EXPECTED[name].in_vpc:
        assert "VpcConfig" not in properties
        return
    vpc_config = properties["VpcConfig"]
    subnets = of_type(synthesis.resources, "AWS::EC2::Subnet")
    assert {item["Ref"] for item in vpc_config["SubnetIds"]} == set(subnets)
    for subnet in subnets.values():
        assert subnet["Properties"]["MapPublicIpOnLaunch"] is False
    proxy = next(iter(of_type(synthesis.resources, "AWS::RDS::DBProxy").values()))
    admitted = _ingress_sources(synthesis, proxy["Properties"]["VpcSecurityGroupIds"])
    assert [group["Fn::GetAtt"][0] for group in vpc_config["SecurityGroupIds"]] == admitted


def _ingress_sources(synthesis: Synthesis, groups: list[Any]) -> list[str]:
    group_ids = {group["Fn::GetAtt"][0] for group in groups}
    return [
        rule["Properties"]["SourceSecurityGroupId"]["Fn::GetAtt"][0]
        for rule in of_type(synthesis.resources, "AWS::EC2::SecurityGroupIngress").values()
        if rule["Properties"]["GroupId"]["Fn::GetAtt"][0] in group_ids
    ]


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_function_environment_names(synthesis: Synthesis, name: str) -> None:
    """Each function gets exactly the environment variables it needs, named as `Env` says."""
    _, properties = _function(synthesis, name)
    variables = properties.get("Environment", {}).get("Variables", {})
    assert set(variables) == {member.value for member in EXPECTED[name].env}


def test_environment_values_point_at_the_right_resources(synthesis: Synthesis) -> None:
    """The environment values are the proxy endpoint, the cluster secret, the streams, the
    workgroup and the Glue database of this stack, and the configured day counts."""
    resources = synthesis.resources
    proxy = _only(resources, "AWS::RDS::DBProxy", RequireTLS=True)
    proxy_secret = resources[proxy]["Properties"]["Auth"][0]["SecretArn"]
    http_stream = resources[_stream(synthesis, None)]["Properties"]
    access_key = http_stream["HttpEndpointDestinationConfiguration"]["SecretsManagerConfiguration"][
        "SecretARN"
    ]
    workgroup = next(iter(of_type(resources, "AWS::Athena::WorkGroup").values()))["Properties"]
    database = next(iter(of_type(resources, "AWS::Glue::Database").values()))["Properties"]

    _, process = _function(synthesis, "processIngest")
    env = process["Environment"]["Variables"]
    assert env[Env.DB_HOST] == get_att(proxy, "Endpoint")
    assert env[Env.DB_SECRET_ARN] == proxy_secret
    assert env[Env.DB_NAME] == "analytics"
    assert env[Env.FIREHOSE_ACCESS_KEY_SECRET_ARN] == access_key
    assert env[Env.EVENTS_STREAM_NAME] == ref(_stream(synthesis, "events"))
    assert env[Env.INITIAL_EVENTS_STREAM_NAME] == ref(_stream(synthesis, "initial_events"))
    assert env[Env.HOT_RETENTION_DAYS] == "32"

    _, ingest = _function(synthesis, "ingest")
    assert ingest["Environment"]["Variables"][Env.INGEST_STREAM_NAME] == ref(
        _stream(synthesis, None)
    )

    _, query = _function(synthesis, "query")
    env = query["Environment"]["Variables"]
    assert env[Env.ATHENA_WORKGROUP] == workgroup["Name"]
    assert env[Env.ATHENA_DATABASE] == database["DatabaseInput"]["Name"]
    assert (
        env[Env.ATHENA_OUTPUT_LOCATION]
        == workgroup["WorkGroupConfiguration"]["ResultConfiguration"]["OutputLocation"]
    )
    assert env[Env.HOT_WINDOW_DAYS] == "30"
    assert env[Env.DB_HOST] == get_att(proxy, "Endpoint")

    _, maintenance = _function(synthesis, "maintenance")
    assert maintenance["Environment"]["Variables"][Env.HOT_RETENTION_DAYS] == "32"

    for name in DATABASE_ONLY:
        _, properties = _function(synthesis, name)
        variables = properties["Environment"]["Variables"]
        assert {key: variables[key] for key in DB_ENV} == {
            Env.DB_HOST: get_att(proxy, "Endpoint"),
            Env.DB_SECRET_ARN: proxy_secret,
            Env.DB_NAME: "analytics",
        }, name


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_function_iam_actions_are_exact(synthesis: Synthesis, name: str) -> None:
    """Each function's role holds exactly the expected actions, no wildcard action, no
    managed policy, and `*` resources only for Lambda's VPC network-interface actions."""
    _, properties = _function(synthesis, name)
    role = role_id(properties)
    assert "ManagedPolicyArns" not in synthesis.resources[role]["Properties"]
    statements = role_statements(synthesis.resources, role)
    assert actions(statements) == EXPECTED[name].actions
    for statement in statements:
        assert statement["Effect"] == "Allow"
        assert all("*" not in action for action in as_list(statement["Action"]))
        if "*" in as_list(statement["Resource"]):
            assert set(as_list(statement["Action"])) <= VPC_ACCESS


def test_ingest_may_only_put_to_ingest_http(synthesis: Synthesis) -> None:
    """ingest's one data permission is PutRecord on the IngestHttp stream."""
    _, properties = _function(synthesis, "ingest")
    statements = role_statements(synthesis.resources, role_id(properties))
    (put,) = statements_with_action(statements, "firehose:PutRecord")
    assert as_list(put["Resource"]) == [get_att(_stream(synthesis, None), "Arn")]


def test_process_ingest_data_permissions_are_scoped(synthesis: Synthesis) -> None:
    """processIngest may PutRecordBatch on the two Iceberg streams only and read exactly its
    two secrets (the database credentials and the Firehose access key)."""
    resources = synthesis.resources
    _, properties = _function(synthesis, "processIngest")
    statements = role_statements(resources, role_id(properties))
    (batch,) = statements_with_action(statements, "firehose:PutRecordBatch")
    assert sorted(map(str, as_list(batch["Resource"]))) == sorted(
        str(get_att(_stream(synthesis, table), "Arn")) for table in ("events", "initial_events")
    )
    secrets = [
        resource
        for statement in statements_with_action(statements, "secretsmanager:GetSecretValue")
        for resource in as_list(statement["Resource"])
    ]
    proxy = _only(resources, "AWS::RDS::DBProxy", RequireTLS=True)
    access_key = resources[_stream(synthesis, None)]["Properties"][
        "HttpEndpointDestinationConfiguration"
    ]["SecretsManagerConfiguration"]["SecretARN"]
    assert sorted(map(str, secrets)) == sorted(
        map(str, [resources[proxy]["Properties"]["Auth"][0]["SecretArn"], access_key])
    )


@pytest.mark.parametrize("name", DATABASE_ONLY)
def test_database_functions_read_only_the_database_secret(synthesis: Synthesis, name: str) -> None:
    """The functions that only use the database (foldStats among them) may read exactly one
    secret: the cluster's credentials, the one RDS Proxy authenticates with."""
    resources = synthesis.resources
    _, properties = _function(synthesis, name)
    statements = role_statements(resources, role_id(properties))
    secrets = [
        resource
        for statement in statements_with_action(statements, "secretsmanager:GetSecretValue")
        for resource in as_list(statement["Resource"])
    ]
    proxy = _only(resources, "AWS::RDS::DBProxy", RequireTLS=True)
    assert secrets == [resources[proxy]["Properties"]["Auth"][0]["SecretArn"]]


def test_fold_stats_is_not_retried_by_lambda(synthesis: Synthesis) -> None:
    """A failed or stale scheduled fold is dropped, not retried: the next minute's run folds
    the same pending rows. No reserved concurrency: overlapping folds wait on the sites' row
    locks, and any reservation fails deploys in accounts with a low concurrency quota."""
    fold_id, properties = _function(synthesis, "foldStats")
    (config,) = [
        value["Properties"]
        for value in of_type(synthesis.resources, "AWS::Lambda::EventInvokeConfig").values()
        if value["Properties"]["FunctionName"] == ref(fold_id)
    ]
    assert config["MaximumRetryAttempts"] == 0
    assert config["MaximumEventAgeInSeconds"] == 60
    assert config["Qualifier"] == "$LATEST"
    assert "ReservedConcurrentExecutions" not in properties


def test_query_permissions_are_scoped(synthesis: Synthesis) -> None:
    """query uses Athena on its workgroup only, reads Glue for the analytics database and its
    tables, reads the iceberg/ prefix only of the data bucket and writes the results bucket."""
    resources = synthesis.resources
    _, properties = _function(synthesis, "query")
    statements = role_statements(resources, role_id(properties))
    workgroup = next(iter(of_type(resources, "AWS::Athena::WorkGroup").values()))["Properties"]
    for statement in statements:
        action_list = as_list(statement["Action"])
        targets = [flatten_strings(resource) for resource in as_list(statement["Resource"])]
        if any(action.startswith("athena:") for action in action_list):
            assert targets == [f"{ARN}:athena:{REGION}:{ACCOUNT}:workgroup/{workgroup['Name']}"]
        if any(action.startswith("glue:") for action in action_list):
            assert sorted(targets) == sorted(
                [
                    f"{ARN}:glue:{REGION}:{ACCOUNT}:catalog",
                    f"{ARN}:glue:{REGION}:{ACCOUNT}:database/analytics",
                    f"{ARN}:glue:{REGION}:{ACCOUNT}:table/analytics/events",
                    f"{ARN}:glue:{REGION}:{ACCOUNT}:table/analytics/initial_events",
                ]
            )
    buckets = of_type(resources, "AWS::S3::Bucket")
    data_bucket = next(key for key in buckets if "AnalyticsBucket" in key)
    results_bucket = next(key for key in buckets if "AthenaResults" in key)
    iceberg_files = {"Fn::Join": ["", [get_att(data_bucket, "Arn"), "/iceberg/*"]]}
    result_files = {"Fn::Join": ["", [get_att(results_bucket, "Arn"), "/*"]]}
    readable = [
        resource
        for statement in statements_with_action(statements, "s3:GetObject")
        for resource in as_list(statement["Resource"])
    ]
    writable = [
        resource
        for statement in statements_with_action(statements, "s3:PutObject")
        for resource in as_list(statement["Resource"])
    ]
    assert sorted(map(str, readable)) == sorted(map(str, [iceberg_files, result_files]))
    assert writable == [result_files]


def test_no_wildcard_action_anywhere(synthesis: Synthesis) -> None:
    """No IAM statement in the whole template (our roles, Firehose's, CDK's) grants a `*` action."""
    documents = [
        policy["PolicyDocument"]
        for role in of_type(synthesis.resources, "AWS::IAM::Role").values()
        for policy in role["Properties"].get("Policies", [])
    ] + [
        policy["Properties"]["PolicyDocument"]
        for policy in of_type(synthesis.resources, "AWS::IAM::Policy").values()
    ]
    assert documents
    for document in documents:
        for statement in document["Statement"]:
            for action in as_list(statement["Action"]):
                assert "*" not in action, statement


def test_every_function_has_log_retention(synthesis: Synthesis) -> None:
    """Every function in the template, ours and CDK's trigger and custom-resource providers,
    logs to a log group with a retention period."""
    functions = of_type(synthesis.resources, "AWS::Lambda::Function")
    # + the trigger and deletion-protection providers, and the dashboard's BucketDeployment
    assert len(functions) == len(EXPECTED) + 3
    for key, function in functions.items():
        group = function["Properties"].get("LoggingConfig", {}).get("LogGroup")
        assert group is not None, f"{key} logs to a log group without retention"
        group_id = group["Ref"]
        assert synthesis.resources[group_id]["Type"] == "AWS::Logs::LogGroup"
        assert synthesis.resources[group_id]["Properties"]["RetentionInDays"] == 30


def test_every_log_group_has_retention(synthesis: Synthesis) -> None:
    """No log group of the stack keeps its events forever."""
    for key, group in of_type(synthesis.resources, "AWS::Logs::LogGroup").items():
        assert group["Properties"].get("RetentionInDays"), key


def test_functions_share_one_code_asset(synthesis: Synthesis) -> None:
    """All our functions run from the same code asset, told apart by their handler strings."""
    codes = {
        str(value["Properties"]["Code"])
        for value in of_type(synthesis.resources, "AWS::Lambda::Function").values()
        if value["Properties"].get("Runtime") == "python3.12"
    }
    assert len(codes) == 1
