"""Issue 16, item 6: the stack adopts the DynamoDB version's lake. With the context values
`existing_analytics_bucket` and `existing_glue_database` it creates neither the analytics
bucket nor the Glue database and tables: the Firehose streams, the query function and the
outputs use the existing ones, and the synth (cdk-nag included) still passes. Without them the
stack creates its own, as before."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from analytics_infra.settings import ContextError, DeploySettings

from adapters.config import Env
from tests.deploy.conftest import Synthesis, load_app_module
from tests.deploy.helpers import (
    flatten_strings,
    function_by_handler,
    of_type,
    role_statements,
    statements_with_action,
)

BUCKET = "old-analytics-bucket"
DATABASE = "legacy_analytics"


@pytest.fixture(scope="module")
def adopted(no_asset_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The stack synthesised with the old bucket and Glue database adopted."""
    app_module = load_app_module()
    outdir = tmp_path_factory.mktemp("cdk.out.adopted")
    app, stack = app_module.create_app(
        {
            "lambda_asset_dir": str(no_asset_dir),
            "existing_analytics_bucket": BUCKET,
            "existing_glue_database": DATABASE,
        },
        outdir=str(outdir),
    )
    try:
        app.synth()
    except RuntimeError as exc:  # cdk-nag findings fail the synth, as in the CLI
        report = outdir / "validation-report.json"
        details = report.read_text(encoding="utf-8") if report.exists() else ""
        pytest.fail(f"synth failed: {exc}\n{details}", pytrace=False)
    from aws_cdk.assertions import Template

    template: dict[str, Any] = Template.from_stack(stack).to_json()
    return template


def _iceberg_destinations(resources: dict[str, Any]) -> dict[str, dict[str, Any]]:
    streams = {}
    for value in of_type(resources, "AWS::KinesisFirehose::DeliveryStream").values():
        config = value["Properties"].get("IcebergDestinationConfiguration")
        if config is not None:
            (table,) = config["DestinationTableConfigurationList"]
            streams[table["DestinationTableName"]] = {"config": config, "table": table}
    return streams


def test_no_bucket_database_or_table_is_created(
    adopted: dict[str, Any], synthesis: Synthesis
) -> None:
    """The analytics bucket, the Glue database and both tables are not in the template; every
    other bucket of the default stack still is."""
    resources = adopted["Resources"]
    assert of_type(resources, "AWS::Glue::Database") == {}
    assert of_type(resources, "AWS::Glue::Table") == {}
    buckets = set(of_type(resources, "AWS::S3::Bucket"))
    default = set(of_type(synthesis.resources, "AWS::S3::Bucket"))
    (created,) = [key for key in default if key.startswith("LakeAnalyticsBucket")]
    assert buckets == default - {created}


def test_streams_write_the_existing_tables_in_the_existing_bucket(adopted: dict[str, Any]) -> None:
    """Both Iceberg streams write the adopted database's tables, back up into the adopted
    bucket, and may write that bucket's table prefixes only."""
    resources = adopted["Resources"]
    streams = _iceberg_destinations(resources)
    assert set(streams) == {"events", "initial_events"}
    for table, stream in streams.items():
        assert stream["table"]["DestinationDatabaseName"] == DATABASE
        backup = stream["config"]["S3Configuration"]["BucketARN"]
        assert flatten_strings(backup).endswith(f":s3:::{BUCKET}")
        role = stream["config"]["RoleARN"]["Fn::GetAtt"][0]
        writes = statements_with_action(role_statements(resources, role), "s3:PutObject")
        resources_written = {flatten_strings(r) for s in writes for r in _list(s["Resource"])}
        assert any(r.endswith(f":s3:::{BUCKET}/iceberg/{table}/*") for r in resources_written)
        glue = statements_with_action(role_statements(resources, role), "glue:UpdateTable")
        assert any(
            flatten_strings(r).endswith(f":table/{DATABASE}/{table}")
            for s in glue
            for r in _list(s["Resource"])
        )


def test_the_query_function_reads_the_existing_lake(adopted: dict[str, Any]) -> None:
    """The query function's ATHENA_DATABASE names the adopted database, and the bucket output
    names the adopted bucket."""
    resources = adopted["Resources"]
    _, query = function_by_handler(resources, "entrypoints.lambdas.query.handler")
    assert query["Environment"]["Variables"][Env.ATHENA_DATABASE] == DATABASE
    assert adopted["Outputs"]["AnalyticsBucketName"]["Value"] == BUCKET


def test_without_the_keys_the_stack_creates_its_own(synthesis: Synthesis) -> None:
    """The default synth still creates the bucket, the database and both tables."""
    resources = synthesis.resources
    assert len(of_type(resources, "AWS::Glue::Database")) == 1
    assert len(of_type(resources, "AWS::Glue::Table")) == 2
    assert [key for key in of_type(resources, "AWS::S3::Bucket") if "AnalyticsBucket" in key]


@pytest.mark.parametrize(
    ("key", "value"),
    [("existing_analytics_bucket", "Not_A_Bucket"), ("existing_glue_database", "Bad-Name")],
)
def test_malformed_names_are_refused(key: str, value: str) -> None:
    """A bucket or Glue database name that cannot exist stops the synth, naming the key."""
    with pytest.raises(ContextError, match=key):
        DeploySettings.from_context({key: value})


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]
