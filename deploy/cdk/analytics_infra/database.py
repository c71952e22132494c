"""Aurora Serverless v2 PostgreSQL 16, its generated secret, and RDS Proxy in front of it.

Security groups make the path one-way: the functions' group may reach the proxy on 5432, the
proxy's group may reach the cluster on 5432, and nothing else can reach either.
"""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_logs as logs
from aws_cdk import aws_rds as rds
from constructs import Construct

from analytics_infra.nag import acknowledge
from analytics_infra.settings import DeploySettings

POSTGRES_PORT = 5432
MASTER_USERNAME = "analytics_admin"


class Database(Construct):
    """The hot store: cluster, secret, proxy and their security groups."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        vpc: ec2.IVpc,
        subnets: ec2.SubnetSelection,
        client_security_group: ec2.ISecurityGroup,
        settings: DeploySettings,
        log_retention: logs.RetentionDays,
    ) -> None:
        super().__init__(scope, construct_id)
        self.name = settings.db_name
        self.proxy_security_group = ec2.SecurityGroup(
            self,
            "ProxySecurityGroup",
            vpc=vpc,
            description="RDS Proxy: PostgreSQL from the Lambda functions only",
            allow_all_outbound=False,
        )
        self.cluster_security_group = ec2.SecurityGroup(
            self,
            "ClusterSecurityGroup",
            vpc=vpc,
            description="Aurora cluster: PostgreSQL from RDS Proxy only",
            allow_all_outbound=False,
        )
        self.proxy_security_group.add_ingress_rule(
            client_security_group,
            ec2.Port.tcp(POSTGRES_PORT),
            "PostgreSQL from the Lambda functions",
        )
        # The proxy -> cluster rules (ingress on the cluster's group, egress on the proxy's)
        # are added by `add_proxy` below, on the cluster's port.

        major = settings.aurora_postgres_version.split(".", 1)[0]
        cluster_identifier = f"{settings.stack_name.lower()}-postgres"
        self.cluster = rds.DatabaseCluster(
            self,
            "Cluster",
            cluster_identifier=cluster_identifier,
            engine=rds.DatabaseClusterEngine.aurora_postgres(
                version=rds.AuroraPostgresEngineVersion.of(settings.aurora_postgres_version, major)
            ),
            credentials=rds.Credentials.from_generated_secret(MASTER_USERNAME),
            default_database_name=settings.db_name,
            writer=rds.ClusterInstance.serverless_v2("Writer", publicly_accessible=False),
            readers=(
                [
                    rds.ClusterInstance.serverless_v2(
                        "Reader", publicly_accessible=False, scale_with_writer=True
                    )
                ]
                if settings.db_reader
                else []
            ),
            serverless_v2_min_capacity=settings.db_min_acu,
            serverless_v2_max_capacity=settings.db_max_acu,
            vpc=vpc,
            vpc_subnets=subnets,
            security_groups=[self.cluster_security_group],
            port=POSTGRES_PORT,
            storage_encrypted=True,
            deletion_protection=settings.db_deletion_protection,
            backup=rds.BackupProps(retention=Duration.days(settings.db_backup_retention_days)),
            cloudwatch_logs_exports=["postgresql"],
            removal_policy=RemovalPolicy.SNAPSHOT,
        )
        # The exported PostgreSQL log gets a retention like every other log group. Declaring
        # it (instead of `cloudwatch_logs_retention`) avoids CDK's log-retention Lambda.
        logs.LogGroup(
            self,
            "PostgresLog",
            log_group_name=f"/aws/rds/cluster/{cluster_identifier}/postgresql",
            retention=log_retention,
            removal_policy=RemovalPolicy.DESTROY,
        )
        secret = self.cluster.secret
        if secret is None:  # pragma: no cover - from_generated_secret always creates one
            raise RuntimeError("the cluster has no generated secret")
        self.secret = secret
        self.proxy = self.cluster.add_proxy(
            "Proxy",
            secrets=[secret],
            vpc=vpc,
            vpc_subnets=subnets,
            security_groups=[self.proxy_security_group],
            require_tls=True,
            debug_logging=False,
            borrow_timeout=Duration.seconds(30),
        )

        acknowledge(
            self.cluster,
            "AwsSolutions-RDS11",
            "The functions and the migration runner use PostgreSQL's standard port 5432; the "
            "cluster is reachable only from RDS Proxy's security group, so a non-default port "
            "would add no protection.",
        )
        acknowledge(
            self.cluster,
            "AwsSolutions-RDS6",
            "Clients authenticate to RDS Proxy with the generated secret (TLS required); IAM "
            "database authentication is not used by the functions' connection code.",
        )
        acknowledge(
            self.cluster.node.find_child("Secret"),
            "AwsSolutions-SMG4",
            "Warm Lambda containers cache the database password for their lifetime; automatic "
            "single-user rotation would break them between rotation and their next cold start. "
            "the README's deploy section describes the manual rotation procedure.",
        )
