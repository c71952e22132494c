"""Iceberg table maintenance by AWS Glue's table optimizers, on both tables.

Firehose commits every buffer interval (about 96 commits a day per table), each adding small
data files, a snapshot and metadata. Without maintenance Athena reads ever more small files and
S3 keeps every file ever written. Three `AWS::Glue::TableOptimizer` per table fix that:

- `compaction`: rewrites small data files into large ones (binpack);
- `retention`: expires snapshots older than `SNAPSHOT_RETENTION_DAYS` (keeping at least
  `SNAPSHOTS_TO_RETAIN`) and deletes the files only they referenced;
- `orphan_file_deletion`: deletes files under the table's location that no snapshot references
  (failed or abandoned writes) once they are `ORPHAN_RETENTION_DAYS` old.

One role serves all six; it holds exactly the permissions AWS documents for optimizers of a
table whose data is not registered with Lake Formation ("Table optimization prerequisites",
AWS Glue developer guide), each scoped to these tables: S3 get/put/delete of the tables'
objects, list of the bucket, Glue get/update of the tables, and CloudWatch Logs writes to the
three log groups the optimizers log to. Glue creates those log groups itself, once per account
and region; they are shared by every optimizer there, so the stack does not own them.
"""

from __future__ import annotations

from aws_cdk import Aws
from aws_cdk import aws_glue as glue
from aws_cdk import aws_iam as iam
from constructs import Construct

from analytics_infra.lake import ICEBERG_PREFIX, Lake
from analytics_infra.nag import acknowledge, objects_finding

OPTIMIZER_TYPES = ("compaction", "retention", "orphan_file_deletion")
# Glue's own defaults, written out so that the template says what runs.
SNAPSHOT_RETENTION_DAYS = 5
SNAPSHOTS_TO_RETAIN = 1
ORPHAN_RETENTION_DAYS = 3
# The log groups the optimizers write to (per account and region, created by Glue).
OPTIMIZER_LOG_GROUPS = (
    "/aws-glue/iceberg-compaction/logs",
    "/aws-glue/iceberg-retention/logs",
    "/aws-glue/iceberg-orphan-file-deletion/logs",
)

_Optimizer = glue.CfnTableOptimizer


class IcebergMaintenance(Construct):
    """The optimizers of the lake's Iceberg tables and their role."""

    def __init__(self, scope: Construct, construct_id: str, *, lake: Lake) -> None:
        super().__init__(scope, construct_id)
        bucket = lake.data
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("glue.amazonaws.com"),
            description="Glue table optimizers: compact, expire snapshots, delete orphan files",
        )
        table_objects = [
            bucket.arn_for_objects(f"{ICEBERG_PREFIX}{table}/*") for table in lake.tables
        ]
        self.role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="TableFiles",
                actions=["s3:DeleteObject", "s3:GetObject", "s3:PutObject"],
                resources=table_objects,
            )
        )
        self.role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="ListBucket", actions=["s3:ListBucket"], resources=[bucket.bucket_arn]
            )
        )
        self.role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="Tables",
                actions=["glue:GetTable", "glue:UpdateTable"],
                resources=[
                    lake.catalog_arn,
                    lake.database_arn,
                    *(lake.table_arn(table) for table in lake.tables),
                ],
            )
        )
        self.role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="OptimizerLogs",
                actions=["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
                resources=[_log_group_arn(name) for name in OPTIMIZER_LOG_GROUPS],
            )
        )
        for table in lake.tables:
            acknowledge(
                self.role,
                objects_finding(bucket, f"{ICEBERG_PREFIX}{table}/*"),
                "The optimizers rewrite and delete the Iceberg table's data and metadata files, "
                "whose names Iceberg generates, under the table's own prefix only.",
            )
        for name in OPTIMIZER_LOG_GROUPS:
            acknowledge(
                self.role,
                f"AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:logs:<AWS::Region>:"
                f"<AWS::AccountId>:log-group:{name}:*]",
                "Glue names the optimizer's log streams in this log group itself; AWS documents "
                "exactly this resource for the table optimizer role.",
            )

        policy = self.role.node.find_child("DefaultPolicy")
        self.optimizers: dict[tuple[str, str], _Optimizer] = {}
        for table in lake.tables:
            for kind in OPTIMIZER_TYPES:
                optimizer = _Optimizer(
                    self,
                    f"{table.title().replace('_', '')}{kind.title().replace('_', '')}",
                    catalog_id=Aws.ACCOUNT_ID,
                    database_name=lake.database_name,
                    table_name=table,
                    type=kind,
                    table_optimizer_configuration=self._configuration(kind, lake, table),
                )
                # The role must hold its permissions before Glue first assumes it.
                optimizer.node.add_dependency(lake.tables[table], policy)
                self.optimizers[(table, kind)] = optimizer

    def _configuration(
        self, kind: str, lake: Lake, table: str
    ) -> _Optimizer.TableOptimizerConfigurationProperty:
        if kind == "compaction":
            return _Optimizer.TableOptimizerConfigurationProperty(
                enabled=True,
                role_arn=self.role.role_arn,
                compaction_configuration=_Optimizer.CompactionConfigurationProperty(
                    iceberg_configuration=_Optimizer.IcebergCompactionConfigurationProperty(
                        strategy="binpack"
                    )
                ),
            )
        if kind == "retention":
            return _Optimizer.TableOptimizerConfigurationProperty(
                enabled=True,
                role_arn=self.role.role_arn,
                retention_configuration=_Optimizer.RetentionConfigurationProperty(
                    iceberg_configuration=_Optimizer.IcebergRetentionConfigurationProperty(
                        snapshot_retention_period_in_days=SNAPSHOT_RETENTION_DAYS,
                        number_of_snapshots_to_retain=SNAPSHOTS_TO_RETAIN,
                        clean_expired_files=True,
                    )
                ),
            )
        return _Optimizer.TableOptimizerConfigurationProperty(
            enabled=True,
            role_arn=self.role.role_arn,
            orphan_file_deletion_configuration=_Optimizer.OrphanFileDeletionConfigurationProperty(
                iceberg_configuration=_Optimizer.IcebergConfigurationProperty(
                    orphan_file_retention_period_in_days=ORPHAN_RETENTION_DAYS,
                    location=lake.data.s3_url_for_object(f"{ICEBERG_PREFIX}{table}"),
                )
            ),
        )


def _log_group_arn(name: str) -> str:
    return f"arn:{Aws.PARTITION}:logs:{Aws.REGION}:{Aws.ACCOUNT_ID}:log-group:{name}:*"
