"""The Firehose streams: IngestHttp (to processIngest) and the two Iceberg streams.

IngestHttp buffers at most 3 MiB / 60 s: a Lambda Function URL accepts at most 6 MB of event
JSON and base64 inflates the batch, so the plan's 15 MB buffer could never be delivered. It
gzips its requests, authenticates with an access key kept in Secrets Manager (the JSON
`{"api_key": ...}` that Firehose requires), retries for `http_retry_seconds`, and backs the
batches it finally failed to deliver up under `http-firehose-failures/`.

`events` and `initial_events` write one Iceberg table each (so no routing expression), buffering
900 s / 128 MiB, the largest Firehose allows, for few and large Parquet files.

Each stream has its own role, scoped to exactly what that stream touches.
"""

from __future__ import annotations

from aws_cdk import Aws, RemovalPolicy
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kinesisfirehose as firehose
from aws_cdk import aws_logs as logs
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from analytics_infra.lake import FAILURE_PREFIX, ICEBERG_ERRORS_PREFIX, ICEBERG_PREFIX, Lake
from analytics_infra.nag import acknowledge, objects_finding

HTTP_BUFFER_MIB = 3
HTTP_BUFFER_SECONDS = 60
ICEBERG_BUFFER_MIB = 128
ICEBERG_BUFFER_SECONDS = 900
ACCESS_KEY_FIELD = "api_key"

_CfnStream = firehose.CfnDeliveryStream


def _encryption() -> _CfnStream.DeliveryStreamEncryptionConfigurationInputProperty:
    return _CfnStream.DeliveryStreamEncryptionConfigurationInputProperty(key_type="AWS_OWNED_CMK")


class Streams(Construct):
    """IngestHttp, events and initial_events, their roles and error logs."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        lake: Lake,
        stack_name: str,
        process_ingest_url: str,
        retry_seconds: int,
        log_retention: logs.RetentionDays,
    ) -> None:
        super().__init__(scope, construct_id)
        bucket = lake.data
        self.log_group = logs.LogGroup(
            self, "DeliveryErrors", retention=log_retention, removal_policy=RemovalPolicy.DESTROY
        )

        self.access_key = secretsmanager.Secret(
            self,
            "AccessKey",
            description="Access key Firehose sends to processIngest (X-Amz-Firehose-Access-Key)",
            generate_secret_string=secretsmanager.SecretStringGenerator(
                secret_string_template="{}",  # noqa: S106  # an empty JSON object, not a secret
                generate_string_key=ACCESS_KEY_FIELD,
                exclude_punctuation=True,
                password_length=48,
            ),
        )
        acknowledge(
            self.access_key,
            "AwsSolutions-SMG4",
            "Rotating the Firehose access key must be coordinated with processIngest's "
            "containers, which cache it; the README's deploy section gives the manual "
            "rotation procedure.",
        )

        # --- events / initial_events: Iceberg -------------------------------------------
        self.iceberg_streams: dict[str, _CfnStream] = {}
        for table_name in lake.tables:
            log_stream = self.log_group.add_stream(f"{table_name}-delivery")
            role = iam.Role(
                self,
                f"{table_name.title().replace('_', '')}Role",
                assumed_by=iam.ServicePrincipal(
                    "firehose.amazonaws.com",
                    conditions={"StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID}},
                ),
                description=f"Firehose {table_name}: write the {table_name} Iceberg table",
            )
            role.add_to_principal_policy(
                iam.PolicyStatement(
                    sid="GlueTable",
                    actions=["glue:GetDatabase", "glue:GetTable", "glue:UpdateTable"],
                    resources=[lake.catalog_arn, lake.database_arn, lake.table_arn(table_name)],
                )
            )
            role.add_to_principal_policy(
                iam.PolicyStatement(
                    sid="BucketLevel",
                    actions=[
                        "s3:GetBucketLocation",
                        "s3:ListBucket",
                        "s3:ListBucketMultipartUploads",
                    ],
                    resources=[bucket.bucket_arn],
                )
            )
            role.add_to_principal_policy(
                iam.PolicyStatement(
                    sid="TableFiles",
                    actions=[
                        "s3:AbortMultipartUpload",
                        "s3:DeleteObject",
                        "s3:GetObject",
                        "s3:PutObject",
                    ],
                    resources=[bucket.arn_for_objects(f"{ICEBERG_PREFIX}{table_name}/*")],
                )
            )
            role.add_to_principal_policy(
                iam.PolicyStatement(
                    sid="ErrorOutput",
                    actions=["s3:AbortMultipartUpload", "s3:PutObject"],
                    resources=[bucket.arn_for_objects(f"{ICEBERG_ERRORS_PREFIX}{table_name}/*")],
                )
            )
            role.add_to_principal_policy(
                iam.PolicyStatement(
                    sid="DeliveryErrorLog",
                    actions=["logs:PutLogEvents"],
                    resources=[_log_stream_arn(self.log_group, log_stream.log_stream_name)],
                )
            )
            acknowledge(
                role,
                objects_finding(bucket, f"{ICEBERG_PREFIX}{table_name}/*"),
                "Iceberg data and metadata files get generated names under the table's own prefix.",
            )
            acknowledge(
                role,
                objects_finding(bucket, f"{ICEBERG_ERRORS_PREFIX}{table_name}/*"),
                "Firehose names the objects of rows it could not write, under this error prefix.",
            )
            stream = _CfnStream(
                self,
                f"{table_name.title().replace('_', '')}Stream",
                delivery_stream_name=f"{stack_name}-{table_name}",
                delivery_stream_type="DirectPut",
                delivery_stream_encryption_configuration_input=_encryption(),
                iceberg_destination_configuration=_CfnStream.IcebergDestinationConfigurationProperty(
                    role_arn=role.role_arn,
                    catalog_configuration=_CfnStream.CatalogConfigurationProperty(
                        catalog_arn=lake.catalog_arn
                    ),
                    destination_table_configuration_list=[
                        _CfnStream.DestinationTableConfigurationProperty(
                            destination_database_name=lake.database_name,
                            destination_table_name=table_name,
                            s3_error_output_prefix=f"{ICEBERG_ERRORS_PREFIX}{table_name}/",
                        )
                    ],
                    append_only=True,
                    buffering_hints=_CfnStream.BufferingHintsProperty(
                        interval_in_seconds=ICEBERG_BUFFER_SECONDS, size_in_m_bs=ICEBERG_BUFFER_MIB
                    ),
                    cloud_watch_logging_options=_CfnStream.CloudWatchLoggingOptionsProperty(
                        enabled=True,
                        log_group_name=self.log_group.log_group_name,
                        log_stream_name=log_stream.log_stream_name,
                    ),
                    retry_options=_CfnStream.RetryOptionsProperty(duration_in_seconds=3600),
                    s3_backup_mode="FailedDataOnly",
                    s3_configuration=_CfnStream.S3DestinationConfigurationProperty(
                        bucket_arn=bucket.bucket_arn,
                        role_arn=role.role_arn,
                        error_output_prefix=f"{ICEBERG_ERRORS_PREFIX}{table_name}/",
                        prefix=f"{ICEBERG_ERRORS_PREFIX}{table_name}/",
                        compression_format="GZIP",
                    ),
                ),
            )
            stream.node.add_dependency(role)
            stream.node.add_dependency(lake.tables[table_name])
            self.iceberg_streams[table_name] = stream

        # --- IngestHttp: HTTP endpoint = processIngest ------------------------------------
        http_log_stream = self.log_group.add_stream("ingest-http-delivery")
        http_role = iam.Role(
            self,
            "IngestHttpRole",
            assumed_by=iam.ServicePrincipal(
                "firehose.amazonaws.com",
                conditions={"StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID}},
            ),
            description="Firehose IngestHttp: read its access key, back failed batches up",
        )
        http_role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="AccessKey",
                actions=["secretsmanager:GetSecretValue"],
                resources=[self.access_key.secret_arn],
            )
        )
        http_role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="BackupBucket",
                actions=["s3:GetBucketLocation", "s3:ListBucket", "s3:ListBucketMultipartUploads"],
                resources=[bucket.bucket_arn],
            )
        )
        http_role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="FailedBatches",
                actions=["s3:AbortMultipartUpload", "s3:PutObject"],
                resources=[bucket.arn_for_objects(f"{FAILURE_PREFIX}*")],
            )
        )
        http_role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="DeliveryErrorLog",
                actions=["logs:PutLogEvents"],
                resources=[_log_stream_arn(self.log_group, http_log_stream.log_stream_name)],
            )
        )
        acknowledge(
            http_role,
            objects_finding(bucket, f"{FAILURE_PREFIX}*"),
            "Firehose names the backup objects of failed batches itself, under the failure prefix.",
        )
        self.ingest_http = _CfnStream(
            self,
            "IngestHttpStream",
            delivery_stream_name=f"{stack_name}-IngestHttp",
            delivery_stream_type="DirectPut",
            delivery_stream_encryption_configuration_input=_encryption(),
            http_endpoint_destination_configuration=_CfnStream.HttpEndpointDestinationConfigurationProperty(
                endpoint_configuration=_CfnStream.HttpEndpointConfigurationProperty(
                    url=process_ingest_url, name="processIngest"
                ),
                secrets_manager_configuration=_CfnStream.SecretsManagerConfigurationProperty(
                    enabled=True, secret_arn=self.access_key.secret_arn, role_arn=http_role.role_arn
                ),
                request_configuration=_CfnStream.HttpEndpointRequestConfigurationProperty(
                    content_encoding="GZIP"
                ),
                buffering_hints=_CfnStream.BufferingHintsProperty(
                    interval_in_seconds=HTTP_BUFFER_SECONDS, size_in_m_bs=HTTP_BUFFER_MIB
                ),
                retry_options=_CfnStream.RetryOptionsProperty(duration_in_seconds=retry_seconds),
                role_arn=http_role.role_arn,
                cloud_watch_logging_options=_CfnStream.CloudWatchLoggingOptionsProperty(
                    enabled=True,
                    log_group_name=self.log_group.log_group_name,
                    log_stream_name=http_log_stream.log_stream_name,
                ),
                s3_backup_mode="FailedDataOnly",
                s3_configuration=_CfnStream.S3DestinationConfigurationProperty(
                    bucket_arn=bucket.bucket_arn,
                    role_arn=http_role.role_arn,
                    prefix=FAILURE_PREFIX,
                    error_output_prefix=f"{FAILURE_PREFIX}errors/",
                    compression_format="GZIP",
                ),
            ),
        )
        self.ingest_http.node.add_dependency(http_role)

    def iceberg_stream_arns(self) -> list[str]:
        """The ARNs of events and initial_events."""
        return [stream.attr_arn for stream in self.iceberg_streams.values()]


def _log_stream_arn(group: logs.LogGroup, stream_name: str) -> str:
    return (
        f"arn:{Aws.PARTITION}:logs:{Aws.REGION}:{Aws.ACCOUNT_ID}:log-group:"
        f"{group.log_group_name}:log-stream:{stream_name}"
    )
