"""The cold store: the analytics bucket, Glue's Iceberg tables, Athena's workgroup and results.

Prefixes of the analytics bucket:
- `iceberg/<table>/`: the Iceberg tables (data and metadata), written by Firehose;
- `http-firehose-failures/`: batches the IngestHttp stream could not deliver (replay them with
  `analytics replay`), expired after `failed_batch_expiry_days`;
- `iceberg-errors/`: rows the Iceberg streams could not write, expired likewise;
- `replayed/`: failure objects `analytics replay` has replayed and archived, expired likewise.
"""

from __future__ import annotations

from aws_cdk import Aws, Duration, RemovalPolicy
from aws_cdk import aws_athena as athena
from aws_cdk import aws_glue as glue
from aws_cdk import aws_s3 as s3
from constructs import Construct

from analytics_infra.nag import acknowledge
from analytics_infra.schema import PARTITION_COLUMN, TABLES
from analytics_infra.settings import DeploySettings

ICEBERG_PREFIX = "iceberg/"
FAILURE_PREFIX = "http-firehose-failures/"
ICEBERG_ERRORS_PREFIX = "iceberg-errors/"
# Where `analytics replay` archives the failure objects it has replayed.
REPLAYED_PREFIX = "replayed/"
ATHENA_RESULTS_PREFIX = "athena-results/"
FAILURE_METRICS_ID = "HttpFirehoseFailures"


def _private_bucket(
    scope: Construct,
    construct_id: str,
    *,
    lifecycle_rules: list[s3.LifecycleRule],
    access_logs: s3.IBucket | None = None,
    access_logs_prefix: str | None = None,
    metrics: list[s3.BucketMetrics] | None = None,
) -> s3.Bucket:
    """A retained bucket with SSE-S3, TLS-only access, ACLs off and all public access blocked."""
    return s3.Bucket(
        scope,
        construct_id,
        encryption=s3.BucketEncryption.S3_MANAGED,
        enforce_ssl=True,
        block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
        object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
        lifecycle_rules=lifecycle_rules,
        server_access_logs_bucket=access_logs,
        server_access_logs_prefix=access_logs_prefix,
        metrics=metrics,
        removal_policy=RemovalPolicy.RETAIN,
    )


class Lake(Construct):
    """Buckets, Glue database and Iceberg tables, Athena workgroup."""

    def __init__(self, scope: Construct, construct_id: str, *, settings: DeploySettings) -> None:
        super().__init__(scope, construct_id)
        self.access_logs = _private_bucket(
            self,
            "AccessLogsBucket",
            lifecycle_rules=[
                s3.LifecycleRule(id="expire-access-logs", expiration=Duration.days(90))
            ],
        )
        acknowledge(
            self.access_logs,
            "AwsSolutions-S1",
            "This is the server-access-log bucket of the other buckets; logging it into itself "
            "would loop.",
        )
        expiry = Duration.days(settings.failed_batch_expiry_days)
        self.data: s3.IBucket
        if settings.existing_analytics_bucket:
            # The DynamoDB version's bucket, adopted as it is (its own lifecycle rules and
            # request metrics stay the operator's: docs/migration.md, step 1).
            self.data = s3.Bucket.from_bucket_name(
                self, "AnalyticsBucket", settings.existing_analytics_bucket
            )
        else:
            self.data = self._create_data_bucket(expiry)
        self.results = _private_bucket(
            self,
            "AthenaResultsBucket",
            access_logs=self.access_logs,
            access_logs_prefix="athena-results-bucket/",
            lifecycle_rules=[
                s3.LifecycleRule(id="expire-query-results", expiration=Duration.days(7)),
                s3.LifecycleRule(
                    id="abort-incomplete-uploads",
                    abort_incomplete_multipart_upload_after=Duration.days(1),
                ),
            ],
        )

        self.database_name = settings.glue_database
        # Each table's construct, for dependencies; an adopted table is an empty one.
        self.tables: dict[str, Construct] = {}
        if settings.existing_glue_database:
            for table_name in TABLES:
                self.tables[table_name] = Construct(
                    self, f"{table_name.title().replace('_', '')}AdoptedTable"
                )
        else:
            self._create_tables()
        self.workgroup_name = f"{settings.stack_name.lower()}-queries"
        self.output_location = self.results.s3_url_for_object(ATHENA_RESULTS_PREFIX)
        self.workgroup = athena.CfnWorkGroup(
            self,
            "Workgroup",
            name=self.workgroup_name,
            description="Cold-store queries of the query API",
            state="ENABLED",
            recursive_delete_option=True,
            work_group_configuration=athena.CfnWorkGroup.WorkGroupConfigurationProperty(
                bytes_scanned_cutoff_per_query=settings.athena_bytes_scanned_cutoff_mb * 2**20,
                enforce_work_group_configuration=True,
                publish_cloud_watch_metrics_enabled=True,
                engine_version=athena.CfnWorkGroup.EngineVersionProperty(
                    selected_engine_version="Athena engine version 3"
                ),
                result_configuration=athena.CfnWorkGroup.ResultConfigurationProperty(
                    output_location=self.output_location,
                    encryption_configuration=athena.CfnWorkGroup.EncryptionConfigurationProperty(
                        encryption_option="SSE_S3"
                    ),
                ),
            ),
        )

    def _create_data_bucket(self, expiry: Duration) -> s3.Bucket:
        """The analytics bucket of a new lake."""
        return _private_bucket(
            self,
            "AnalyticsBucket",
            access_logs=self.access_logs,
            access_logs_prefix="analytics-bucket/",
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="expire-failed-http-batches", prefix=FAILURE_PREFIX, expiration=expiry
                ),
                s3.LifecycleRule(
                    id="expire-iceberg-errors", prefix=ICEBERG_ERRORS_PREFIX, expiration=expiry
                ),
                s3.LifecycleRule(
                    id="expire-replayed-batches", prefix=REPLAYED_PREFIX, expiration=expiry
                ),
                s3.LifecycleRule(
                    id="abort-incomplete-uploads",
                    abort_incomplete_multipart_upload_after=Duration.days(7),
                ),
            ],
            # Request metrics on the failure prefix feed the "failed batches" alarm.
            metrics=[s3.BucketMetrics(id=FAILURE_METRICS_ID, prefix=FAILURE_PREFIX)],
        )

    def _create_tables(self) -> None:
        """The Glue database and the Iceberg tables of a new lake."""
        self.database = glue.CfnDatabase(
            self,
            "GlueDatabase",
            catalog_id=Aws.ACCOUNT_ID,
            database_input=glue.CfnDatabase.DatabaseInputProperty(
                name=self.database_name,
                description="Cold analytics events (Iceberg tables written by Firehose)",
                location_uri=self.data.s3_url_for_object(ICEBERG_PREFIX),
            ),
        )
        for table_name, columns in TABLES.items():
            field_ids = {name: index for index, (name, _) in enumerate(columns, start=1)}
            table = glue.CfnTable(
                self,
                f"{table_name.title().replace('_', '')}Table",
                catalog_id=Aws.ACCOUNT_ID,
                database_name=self.database_name,
                name=table_name,
                open_table_format_input=glue.CfnTable.OpenTableFormatInputProperty(
                    iceberg_input=glue.CfnTable.IcebergInputProperty(
                        metadata_operation="CREATE",
                        version="2",
                        iceberg_table_input=glue.CfnTable.IcebergTableInputProperty(
                            location=self.data.s3_url_for_object(f"{ICEBERG_PREFIX}{table_name}"),
                            schema=glue.CfnTable.IcebergSchemaProperty(
                                schema_id=0,
                                type="struct",
                                fields=[
                                    glue.CfnTable.IcebergStructFieldProperty(
                                        id=field_ids[name], name=name, type=kind, required=False
                                    )
                                    for name, kind in columns
                                ],
                            ),
                            partition_spec=glue.CfnTable.IcebergPartitionSpecProperty(
                                spec_id=0,
                                fields=[
                                    glue.CfnTable.IcebergPartitionFieldProperty(
                                        name=PARTITION_COLUMN,
                                        source_id=field_ids[PARTITION_COLUMN],
                                        transform="identity",
                                        field_id=1000,
                                    )
                                ],
                            ),
                            properties={
                                "write.format.default": "parquet",
                                "write.parquet.compression-codec": "zstd",
                            },
                        ),
                    )
                ),
            )
            table.node.add_dependency(self.database)
            self.tables[table_name] = table

    def table_arn(self, table_name: str) -> str:
        """The Glue ARN of one of the Iceberg tables."""
        return (
            f"arn:{Aws.PARTITION}:glue:{Aws.REGION}:{Aws.ACCOUNT_ID}:table/"
            f"{self.database_name}/{table_name}"
        )

    @property
    def database_arn(self) -> str:
        """The Glue ARN of the database."""
        return (
            f"arn:{Aws.PARTITION}:glue:{Aws.REGION}:{Aws.ACCOUNT_ID}:database/{self.database_name}"
        )

    @property
    def catalog_arn(self) -> str:
        """The account's Glue Data Catalog."""
        return f"arn:{Aws.PARTITION}:glue:{Aws.REGION}:{Aws.ACCOUNT_ID}:catalog"

    @property
    def workgroup_arn(self) -> str:
        """The ARN of the Athena workgroup."""
        prefix = f"arn:{Aws.PARTITION}:athena:{Aws.REGION}:{Aws.ACCOUNT_ID}"
        return f"{prefix}:workgroup/{self.workgroup_name}"
