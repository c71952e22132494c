"""Issue 15: a deploy that works on a real account, survives its own failure, keeps the lake
healthy: creatable engine version, collision-free names, retryable first deploy, ingest only
through CloudFront, flood protection, Iceberg maintenance, schema before code."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from analytics_infra.api import ORIGIN_SECRET_HEADER
from analytics_infra.iceberg_maintenance import OPTIMIZER_LOG_GROUPS, OPTIMIZER_TYPES
from analytics_infra.settings import DEFAULTS
from analytics_infra.stack import AWS_CUSTOM_RESOURCE_PROVIDER_ID, NO_FUNCTION_URL_REGIONS

from adapters.config import Env
from entrypoints.api.collect import ORIGIN_SECRET_HEADER as CHECKED_HEADER
from tests.deploy.conftest import (
    TWIN_STACKS,
    VARIANT_CONTEXT,
    VARIANT_STACK,
    MultiStackSynthesis,
    Synthesis,
)
from tests.deploy.helpers import (
    Resources,
    as_list,
    depends_on,
    flatten_strings,
    function_by_handler,
    of_type,
    role_id,
    role_statements,
)

CFN_LINT_DATA = Path(__import__("cfnlint").__file__).parent / "data" / "schemas" / "extensions"
TRIGGER = "MigrateOnDeploy"
# Properties that hold a physical name: unique per account and region, so never shared by
# two stacks. (Type, property path.)
PHYSICAL_NAMES = {
    "AWS::RDS::DBCluster": ("DBClusterIdentifier",),
    "AWS::RDS::DBProxy": ("DBProxyName",),
    "AWS::Glue::Database": ("DatabaseInput", "Name"),
    "AWS::Athena::WorkGroup": ("Name",),
    "AWS::KinesisFirehose::DeliveryStream": ("DeliveryStreamName",),
    "AWS::Logs::LogGroup": ("LogGroupName",),
    "AWS::Lambda::Function": ("FunctionName",),
    "AWS::IAM::Role": ("RoleName",),
    "AWS::S3::Bucket": ("BucketName",),
    "AWS::SecretsManager::Secret": ("Name",),
    "AWS::SNS::Topic": ("TopicName",),
    "AWS::CloudFront::OriginRequestPolicy": ("OriginRequestPolicyConfig", "Name"),
    "AWS::WAFv2::WebACL": ("Name",),
    "AWS::Events::Rule": ("Name",),
}
# (API Gateway's API names need not be unique: APIs are told apart by generated ids.)
_REFERENCE = re.compile(r"\$\{(?!AWS::)([A-Za-z0-9.]+)\}")


def _engine_versions(kind: str) -> set[str]:
    """cfn-lint's aurora-postgresql versions: `engine_version` (known) or `_deprecated`."""
    path = CFN_LINT_DATA / "aws_rds_dbcluster" / f"{kind}.json"
    found: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            condition = node.get("if", {}).get("properties", {})
            if condition.get("Engine", {}).get("const") == "aurora-postgresql":
                values = condition.get("EngineVersion", {}).get("enum") or (
                    node.get("then", {}).get("properties", {}).get("EngineVersion", {}).get("enum")
                )
                found.update(str(value) for value in values or [])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(json.loads(path.read_text(encoding="utf-8")))
    return found


def _minor(version: str) -> tuple[int, int]:
    major, minor = version.split(".")
    return int(major), int(minor)


def test_default_engine_version_is_the_newest_creatable_16x(synthesis: Synthesis) -> None:
    """The default Aurora PostgreSQL version is the newest 16.x minor in cfn-lint's current
    list that is not deprecated (a deprecated one cannot create a cluster)."""
    deprecated = _engine_versions("engine_version_deprecated")
    assert "16.6" in deprecated  # the old default, which the first deploy choked on
    creatable = {
        version
        for version in _engine_versions("engine_version") - deprecated
        if version.startswith("16.") and version.count(".") == 1 and version[3:].isdigit()
    }
    newest = max(creatable, key=_minor)
    (cluster,) = of_type(synthesis.resources, "AWS::RDS::DBCluster").values()
    assert cluster["Properties"]["EngineVersion"] == DEFAULTS["aurora_postgres_version"] == newest


def test_no_fixed_cluster_identifier_or_proxy_name(synthesis: Synthesis) -> None:
    """The cluster's identifier is left to CloudFormation, the proxy's name is the stack's own
    (CloudFormation requires one), and the PostgreSQL log group follows the generated id."""
    (cluster_id, cluster), *_ = of_type(synthesis.resources, "AWS::RDS::DBCluster").items()
    assert "DBClusterIdentifier" not in cluster["Properties"]
    (proxy,) = of_type(synthesis.resources, "AWS::RDS::DBProxy").values()
    name = proxy["Properties"]["DBProxyName"]
    assert isinstance(name, str)
    assert name.startswith("Analytics")
    assert name != "Proxy"
    groups = [
        flatten_strings(group["Properties"]["LogGroupName"])
        for group in of_type(synthesis.resources, "AWS::Logs::LogGroup").values()
        if "LogGroupName" in group["Properties"]
    ]
    assert groups == [f"/aws/rds/cluster/${{{cluster_id}}}/postgresql"]


def test_a_stack_deployed_before_can_keep_its_cluster_identifier(
    multi_stack: MultiStackSynthesis,
) -> None:
    """Only when db_cluster_identifier is given (an existing cluster, which a new identifier
    would replace) does the template name the cluster, and its log group follows."""
    resources = multi_stack.templates[VARIANT_STACK]["Resources"]
    (cluster,) = of_type(resources, "AWS::RDS::DBCluster").values()
    identifier = VARIANT_CONTEXT["db_cluster_identifier"]
    assert cluster["Properties"]["DBClusterIdentifier"] == identifier
    names = [
        flatten_strings(group["Properties"]["LogGroupName"])
        for group in of_type(resources, "AWS::Logs::LogGroup").values()
        if "LogGroupName" in group["Properties"]
    ]
    assert names == [f"/aws/rds/cluster/{identifier}/postgresql"]
    for name in TWIN_STACKS:
        (twin,) = of_type(multi_stack.templates[name]["Resources"], "AWS::RDS::DBCluster").values()
        assert "DBClusterIdentifier" not in twin["Properties"]


def test_the_postgres_log_group_exists_before_the_instances(synthesis: Synthesis) -> None:
    """Every instance waits for the log group it exports to, or RDS would create it first."""
    (group_id,) = [
        key
        for key, group in of_type(synthesis.resources, "AWS::Logs::LogGroup").items()
        if "LogGroupName" in group["Properties"]
    ]
    for instance in of_type(synthesis.resources, "AWS::RDS::DBInstance").values():
        assert group_id in depends_on(instance)


def _physical_names(template: dict[str, Any], stack_name: str) -> dict[str, str]:
    """Every physical name in a template, with the stack's name substituted for its token."""
    names = {}
    for key, resource in template["Resources"].items():
        path = PHYSICAL_NAMES.get(resource["Type"])
        value: Any = resource.get("Properties", {})
        for part in path or ("-",):
            value = value.get(part) if isinstance(value, dict) else None
        if path is not None and value is not None:
            text = flatten_strings(value).replace("${AWS::StackName}", stack_name)
            # A reference to a resource of this stack (the generated cluster id, say) is a
            # value CloudFormation makes unique to the stack.
            names[f"{resource['Type']} {key}"] = _REFERENCE.sub(rf"${{{stack_name}/\1}}", text)
    return names


def test_two_stacks_in_one_app_share_no_physical_name(multi_stack: MultiStackSynthesis) -> None:
    """Staging next to production: every name that must be unique in an account and region
    (proxy, Glue database, workgroup, streams, log groups, ...) differs between the two."""
    first, second = (_physical_names(multi_stack.templates[name], name) for name in TWIN_STACKS)
    assert len(first) >= 6  # proxy, Glue database, workgroup, three streams (at least)
    assert set(first.values()).isdisjoint(second.values())
    kinds = {key.split(" ")[0] for key in first}
    assert {"AWS::RDS::DBProxy", "AWS::Glue::Database", "AWS::Athena::WorkGroup"} <= kinds


def test_glue_database_is_derived_from_the_stack_unless_given(
    synthesis: Synthesis, multi_stack: MultiStackSynthesis
) -> None:
    """No glue_database: the stack's name lower-cased; given: exactly that name, used by the
    tables, streams, optimizers and the query function alike."""
    expected = {
        "Analytics": (synthesis.json, "analytics"),
        "AnalyticsStaging": (multi_stack.templates["AnalyticsStaging"], "analyticsstaging"),
        VARIANT_STACK: (multi_stack.templates[VARIANT_STACK], VARIANT_CONTEXT["glue_database"]),
    }
    for stack, (template, name) in expected.items():
        resources = template["Resources"]
        (database,) = of_type(resources, "AWS::Glue::Database").values()
        assert database["Properties"]["DatabaseInput"]["Name"] == name, stack
        for table in of_type(resources, "AWS::Glue::Table").values():
            assert table["Properties"]["DatabaseName"] == name
        for optimizer in of_type(resources, "AWS::Glue::TableOptimizer").values():
            assert optimizer["Properties"]["DatabaseName"] == name
        _, query = function_by_handler(resources, "entrypoints.lambdas.query.handler")
        assert query["Environment"]["Variables"][Env.ATHENA_DATABASE.value] == name


def _deletion_guard(resources: Resources) -> tuple[str, dict[str, Any]]:
    (found,) = of_type(resources, "Custom::AWS").items()
    return found


def test_a_failed_first_deploy_can_roll_back_the_cluster(synthesis: Synthesis) -> None:
    """The cluster is created without deletion protection (so a rollback can delete it) and
    with a snapshot on removal; the protection is switched on by a custom resource calling
    rds:ModifyDBCluster on this cluster only, on create and on update, never on delete."""
    (cluster_id, cluster), *_ = of_type(synthesis.resources, "AWS::RDS::DBCluster").items()
    assert "DeletionProtection" not in cluster["Properties"]
    assert cluster["DeletionPolicy"] == "Snapshot"
    guard_id, guard = _deletion_guard(synthesis.resources)
    for event in ("Create", "Update"):
        call = flatten_strings(guard["Properties"][event])
        assert '"action":"ModifyDBCluster"' in call
        assert f'"DBClusterIdentifier":"${{{cluster_id}}}"' in call
        assert '"DeletionProtection":true' in call
    assert "Delete" not in guard["Properties"]
    assert (
        guard["Properties"]["DeployRunId"]
        == synthesis.resources[TRIGGER]["Properties"]["DeployRunId"]
    )
    (policy,) = [
        value
        for key, value in of_type(synthesis.resources, "AWS::IAM::Policy").items()
        if key.startswith(guard_id.removesuffix(guard_id[-8:]))
    ]
    (statement,) = policy["Properties"]["PolicyDocument"]["Statement"]
    assert statement["Action"] == "rds:ModifyDBCluster"
    assert flatten_strings(statement["Resource"]).endswith(f":cluster:${{{cluster_id}}}")


def test_deletion_protection_is_switched_on_last(synthesis: Synthesis) -> None:
    """The protecting custom resource depends on every other resource of the stack (but its
    own provider), so CloudFormation runs it only once everything else has succeeded."""
    _, guard = _deletion_guard(synthesis.resources)
    own = {
        key
        for key in synthesis.resources
        if key.startswith(("DeletionProtectionAfterDeploy", AWS_CUSTOM_RESOURCE_PROVIDER_ID))
    }
    others = set(synthesis.resources) - own
    assert TRIGGER in others
    assert others <= depends_on(guard)


def test_without_the_flag_nothing_protects_the_cluster(multi_stack: MultiStackSynthesis) -> None:
    """db_deletion_protection=false: no protecting custom resource at all."""
    resources = multi_stack.templates[VARIANT_STACK]["Resources"]
    assert of_type(resources, "Custom::AWS") == {}
    assert _deletion_guard(multi_stack.templates["AnalyticsProd"]["Resources"])


def _distribution(resources: Resources) -> dict[str, Any]:
    """The ingest distribution (the dashboard's static files have their own)."""
    (distribution,) = [
        value
        for key, value in of_type(resources, "AWS::CloudFront::Distribution").items()
        if key.startswith("IngestDistribution")
    ]
    config: dict[str, Any] = distribution["Properties"]["DistributionConfig"]
    return config


def test_cloudfront_sends_the_origin_secret_the_function_checks(synthesis: Synthesis) -> None:
    """The distribution's only origin carries X-Origin-Verify resolved from the generated
    secret at deploy time (never in the template); the ingest function gets that secret's ARN
    and may read that secret alone."""
    assert ORIGIN_SECRET_HEADER == CHECKED_HEADER
    (origin,) = _distribution(synthesis.resources)["Origins"]
    (header,) = origin["OriginCustomHeaders"]
    assert header["HeaderName"] == "X-Origin-Verify"
    (secret_id, secret), *_ = [
        (key, value)
        for key, value in of_type(synthesis.resources, "AWS::SecretsManager::Secret").items()
        if key.startswith("IngestOriginSecret")
    ]
    assert flatten_strings(header["HeaderValue"]) == (
        f"{{{{resolve:secretsmanager:${{{secret_id}}}:SecretString:value::}}}}"
    )
    generated = secret["Properties"]["GenerateSecretString"]
    assert generated["GenerateStringKey"] == "value"
    assert generated["PasswordLength"] >= 32
    _, ingest = function_by_handler(synthesis.resources, "entrypoints.lambdas.ingest.handler")
    variables = ingest["Environment"]["Variables"]
    assert variables[Env.CLOUDFRONT_ORIGIN_SECRET_ARN.value] == {"Ref": secret_id}
    assert Env.CLOUDFRONT_ORIGIN_SECRET.value not in variables
    reads = [
        statement
        for statement in role_statements(synthesis.resources, role_id(ingest))
        if "secretsmanager:GetSecretValue" in as_list(statement["Action"])
    ]
    assert [statement["Resource"] for statement in reads] == [{"Ref": secret_id}]
    assert synthesis.json["Outputs"]["OriginSecretArn"]["Value"] == {"Ref": secret_id}


def test_a_rotation_pins_the_secret_version_cloudfront_sends(
    multi_stack: MultiStackSynthesis,
) -> None:
    """origin_secret_version_id puts that VersionId into the dynamic reference, which changes
    the distribution, so CloudFormation resolves the new value on that deploy."""
    resources = multi_stack.templates[VARIANT_STACK]["Resources"]
    (origin,) = _distribution(resources)["Origins"]
    value = flatten_strings(origin["OriginCustomHeaders"][0]["HeaderValue"])
    assert value.endswith(f":SecretString:value::{VARIANT_CONTEXT['origin_secret_version_id']}}}}}")


def test_ingest_has_reserved_concurrency_and_nothing_else_does(
    synthesis: Synthesis, multi_stack: MultiStackSynthesis
) -> None:
    """The ingest function reserves (and is capped at) 100 concurrent executions by default,
    the context value otherwise; no other function reserves any."""
    for resources, expected in (
        (synthesis.resources, DEFAULTS["ingest_reserved_concurrency"]),
        (multi_stack.templates[VARIANT_STACK]["Resources"], 25),
    ):
        reserved = {
            properties.get("Handler"): properties.get("ReservedConcurrentExecutions")
            for properties in (
                function["Properties"]
                for function in of_type(resources, "AWS::Lambda::Function").values()
            )
            if properties.get("ReservedConcurrentExecutions") is not None
        }
        assert reserved == {"entrypoints.lambdas.ingest.handler": expected}
    assert DEFAULTS["ingest_reserved_concurrency"] == 100


def test_waf_rate_rule_only_with_the_flag(
    synthesis: Synthesis, multi_stack: MultiStackSynthesis
) -> None:
    """Without ingest_waf there is no web ACL; with it, a CloudFront web ACL blocks an IP over
    the rate limit, is attached to the distribution, and a rule refuses regions but us-east-1."""
    assert of_type(synthesis.resources, "AWS::WAFv2::WebACL") == {}
    assert "WebACLId" not in _distribution(synthesis.resources)
    template = multi_stack.templates[VARIANT_STACK]
    resources = template["Resources"]
    ((acl_id, acl),) = of_type(resources, "AWS::WAFv2::WebACL").items()
    properties = acl["Properties"]
    assert properties["Scope"] == "CLOUDFRONT"
    assert properties["DefaultAction"] == {"Allow": {}}
    (rule,) = properties["Rules"]
    assert rule["Action"] == {"Block": {}}
    assert rule["Statement"]["RateBasedStatement"]["AggregateKeyType"] == "IP"
    assert rule["Statement"]["RateBasedStatement"]["Limit"] == 500
    assert rule["VisibilityConfig"]["SampledRequestsEnabled"] is False
    assert _distribution(resources)["WebACLId"] == {"Fn::GetAtt": [acl_id, "Arn"]}
    (region_rule,) = [
        rule for key, rule in template["Rules"].items() if key.startswith("IngestWafNeedsUsEast1")
    ]
    (assertion,) = region_rule["Assertions"]
    assert assertion["Assert"] == {"Fn::Equals": [{"Ref": "AWS::Region"}, "us-east-1"]}


def test_regions_without_function_urls_are_refused(synthesis: Synthesis) -> None:
    """A rule makes CloudFormation reject the template, before creating anything, in every
    region where Lambda Function URLs do not exist."""
    rule = synthesis.json["Rules"]["RefuseRegionsWithoutFunctionUrls"]
    (assertion,) = rule["Assertions"]
    assert assertion["Assert"] == {
        "Fn::Not": [{"Fn::Contains": [list(NO_FUNCTION_URL_REGIONS), {"Ref": "AWS::Region"}]}]
    }
    assert {"ap-south-2", "eu-central-2", "eu-south-2", "il-central-1", "me-central-1"} <= set(
        NO_FUNCTION_URL_REGIONS
    )
    assert "us-east-1" not in NO_FUNCTION_URL_REGIONS


def test_each_iceberg_table_has_each_optimizer(synthesis: Synthesis) -> None:
    """Compaction, snapshot retention and orphan-file deletion, enabled, on both Iceberg
    tables, each after its table and after the role's policy."""
    optimizers = of_type(synthesis.resources, "AWS::Glue::TableOptimizer")
    seen = set()
    for resource in optimizers.values():
        properties = resource["Properties"]
        configuration = properties["TableOptimizerConfiguration"]
        assert configuration["Enabled"] is True
        assert properties["CatalogId"] == {"Ref": "AWS::AccountId"}
        seen.add((properties["TableName"], properties["Type"]))
        assert any(
            key.startswith("IcebergMaintenanceRoleDefaultPolicy") for key in depends_on(resource)
        )
        assert any(key.startswith("Lake") and "Table" in key for key in depends_on(resource))
        if properties["Type"] == "retention":
            retention = configuration["RetentionConfiguration"]["IcebergConfiguration"]
            assert retention["CleanExpiredFiles"] is True
        if properties["Type"] == "orphan_file_deletion":
            location = configuration["OrphanFileDeletionConfiguration"]["IcebergConfiguration"]
            assert flatten_strings(location["Location"]).endswith(
                f"/iceberg/{properties['TableName']}"
            )
    assert seen == {
        (table, kind) for table in ("events", "initial_events") for kind in OPTIMIZER_TYPES
    }
    assert len(optimizers) == 6


def test_optimizer_role_holds_what_aws_documents_and_no_more(synthesis: Synthesis) -> None:
    """The optimizers' role is assumed by Glue and holds exactly AWS's documented policy for
    tables outside Lake Formation, scoped to these tables: S3 get/put/delete of their files,
    list of the bucket, Glue get/update of the tables, and the optimizer log groups."""
    (role_key, role), *_ = [
        (key, value)
        for key, value in of_type(synthesis.resources, "AWS::IAM::Role").items()
        if key.startswith("IcebergMaintenanceRole")
    ]
    trust = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert trust == [
        {
            "Action": "sts:AssumeRole",
            "Effect": "Allow",
            "Principal": {"Service": "glue.amazonaws.com"},
        }
    ]
    assert "ManagedPolicyArns" not in role["Properties"]
    granted = {
        frozenset(as_list(statement["Action"])): sorted(
            flatten_strings(resource) for resource in as_list(statement["Resource"])
        )
        for statement in role_statements(synthesis.resources, role_key)
    }
    bucket = "LakeAnalyticsBucketF31D4965Arn"  # flatten_strings' form of the GetAtt
    glue = "arn:${AWS::Partition}:glue:${AWS::Region}:${AWS::AccountId}"
    logs = "arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:log-group:"
    assert granted == {
        frozenset({"s3:GetObject", "s3:PutObject", "s3:DeleteObject"}): [
            f"{bucket}/iceberg/events/*",
            f"{bucket}/iceberg/initial_events/*",
        ],
        frozenset({"s3:ListBucket"}): [bucket],
        frozenset({"glue:GetTable", "glue:UpdateTable"}): sorted(
            [
                f"{glue}:catalog",
                f"{glue}:database/analytics",
                f"{glue}:table/analytics/events",
                f"{glue}:table/analytics/initial_events",
            ]
        ),
        frozenset({"logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"}): sorted(
            f"{logs}{name}:*" for name in OPTIMIZER_LOG_GROUPS
        ),
    }


def test_database_functions_are_updated_after_the_migration_trigger(
    synthesis: Synthesis,
) -> None:
    """Schema before code: every function that reaches the database, except migrate (which
    the trigger runs), depends on the trigger, so CloudFormation updates its code and
    configuration only after the migrations ran; migrate itself is updated before it."""
    functions = of_type(synthesis.resources, "AWS::Lambda::Function")
    database_functions = {
        key: function
        for key, function in functions.items()
        if Env.DB_SECRET_ARN.value
        in function["Properties"].get("Environment", {}).get("Variables", {})
    }
    migrate_id, _ = function_by_handler(synthesis.resources, "entrypoints.lambdas.migrate.handler")
    assert len(database_functions) == 7
    for key, function in database_functions.items():
        if key == migrate_id:
            assert TRIGGER not in depends_on(function)
        else:
            assert TRIGGER in depends_on(function), key
    trigger = synthesis.resources[TRIGGER]
    assert flatten_strings(trigger["Properties"]["HandlerArn"]).startswith("${MigrateFn")
    _, ingest = function_by_handler(synthesis.resources, "entrypoints.lambdas.ingest.handler")
    assert Env.DB_SECRET_ARN.value not in ingest["Environment"]["Variables"]
