"""Site deletion in the template (issue 18, item 3): the sites function (DELETE
/api/sites/{id}) and the daily maintenance (its retries) run Athena's `DELETE FROM` on the
Iceberg tables, so each has the workgroup's settings and exactly the Athena, Glue and S3
permissions a DELETE needs, scoped to the lake's tables, and no S3 delete."""

from __future__ import annotations

from typing import Any

import pytest

from adapters.aws.athena import ERASE_DEADLINE_S
from adapters.config import Env
from tests.deploy.conftest import Synthesis
from tests.deploy.helpers import (
    as_list,
    depends_on,
    flatten_strings,
    function_by_handler,
    get_att,
    of_type,
    role_id,
    role_statements,
    statements_with_action,
)

ARN, REGION, ACCOUNT = "arn:${AWS::Partition}", "${AWS::Region}", "${AWS::AccountId}"
DELETING = {
    "sites": "entrypoints.lambdas.sites.handler",
    "maintenance": "entrypoints.lambdas.maintenance.handler",
}
ATHENA_ENV = (Env.ATHENA_WORKGROUP, Env.ATHENA_DATABASE, Env.ATHENA_OUTPUT_LOCATION)


def _statements(synthesis: Synthesis, handler: str) -> list[dict[str, Any]]:
    _, properties = function_by_handler(synthesis.resources, handler)
    return role_statements(synthesis.resources, role_id(properties))


def _resources(statements: list[dict[str, Any]], action: str) -> list[Any]:
    return [
        resource
        for statement in statements_with_action(statements, action)
        for resource in as_list(statement["Resource"])
    ]


@pytest.mark.parametrize("name", sorted(DELETING))
def test_deleting_functions_have_the_query_functions_athena_settings(
    synthesis: Synthesis, name: str
) -> None:
    """The sites and maintenance functions name the same workgroup, database and output
    location as the query function, and are created after the workgroup."""
    _, query = function_by_handler(synthesis.resources, "entrypoints.lambdas.query.handler")
    key, properties = function_by_handler(synthesis.resources, DELETING[name])
    variables = properties["Environment"]["Variables"]
    expected = query["Environment"]["Variables"]
    assert {env: variables[env] for env in ATHENA_ENV} == {env: expected[env] for env in ATHENA_ENV}
    workgroup = next(iter(of_type(synthesis.resources, "AWS::Athena::WorkGroup")))
    assert workgroup in depends_on(synthesis.resources[key])


@pytest.mark.parametrize("name", sorted(DELETING))
def test_deleting_functions_may_commit_deletes_to_the_iceberg_tables_only(
    synthesis: Synthesis, name: str
) -> None:
    """Athena on the workgroup only; Glue UpdateTable (the DELETE's snapshot commit) on the
    catalog, the database and the two tables only; S3 writes under iceberg/ and the results
    bucket only; no S3 delete at all (snapshot retention removes old files)."""
    resources = synthesis.resources
    statements = _statements(synthesis, DELETING[name])
    workgroup = next(iter(of_type(resources, "AWS::Athena::WorkGroup").values()))["Properties"]
    assert [flatten_strings(r) for r in _resources(statements, "athena:StartQueryExecution")] == [
        f"{ARN}:athena:{REGION}:{ACCOUNT}:workgroup/{workgroup['Name']}"
    ]
    assert sorted(flatten_strings(r) for r in _resources(statements, "glue:UpdateTable")) == sorted(
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
    writable = sorted(map(str, _resources(statements, "s3:PutObject")))
    assert writable == sorted(map(str, [iceberg_files, result_files]))
    assert _resources(statements, "s3:DeleteObject") == []


def test_the_sites_function_outlasts_the_athena_deadline_within_the_api_limit(
    synthesis: Synthesis,
) -> None:
    """The sites function may wait for the Athena deletion's deadline and still answer
    before the HTTP API's 30 s integration limit."""
    _, properties = function_by_handler(synthesis.resources, DELETING["sites"])
    assert ERASE_DEADLINE_S < properties["Timeout"] < 30
