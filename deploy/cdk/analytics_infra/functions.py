"""The Lambda functions: one role each, holding exactly the actions that function needs.

Roles are written out rather than built from `grant*` helpers, whose action lists are broader
than these functions need (DescribeSecret, Get*/List* on buckets, ...). Every function logs to
its own log group with a retention; functions in the VPC get the ENI permissions Lambda needs
and the shared security group that RDS Proxy admits.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from analytics_infra.nag import acknowledge

RUNTIME = lambda_.Runtime.PYTHON_3_12
# What Lambda itself needs to attach a function to the VPC; these EC2 actions do not support
# resource-level permissions, hence `*` (on EC2 network interfaces, no data).
VPC_ACCESS_ACTIONS = (
    "ec2:AssignPrivateIpAddresses",
    "ec2:CreateNetworkInterface",
    "ec2:DeleteNetworkInterface",
    "ec2:DescribeNetworkInterfaces",
    "ec2:DescribeSubnets",
    "ec2:UnassignPrivateIpAddresses",
)


@dataclass(frozen=True)
class FunctionSpec:
    """The fixed shape of one function: handler path, size, time limit, placement."""

    name: str
    handler: str
    memory_mb: int
    timeout: Duration
    in_vpc: bool
    description: str


@dataclass(frozen=True)
class VpcPlacement:
    """Where functions in the VPC run."""

    vpc: ec2.IVpc
    subnets: ec2.SubnetSelection
    security_group: ec2.ISecurityGroup


class AnalyticsFunction(Construct):
    """A Python 3.12 function with its own role and log group."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        spec: FunctionSpec,
        code: lambda_.Code,
        environment: Mapping[str, str],
        statements: Sequence[iam.PolicyStatement],
        placement: VpcPlacement,
        log_retention: logs.RetentionDays,
        description_suffix: str = "",
        reserved_concurrency: int | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        self.spec = spec
        self.log_group = logs.LogGroup(
            self, "Logs", retention=log_retention, removal_policy=RemovalPolicy.DESTROY
        )
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"{spec.name}: {spec.description}",
        )
        self.role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="WriteOwnLogs",
                actions=["logs:CreateLogStream", "logs:PutLogEvents"],
                resources=[self.log_group.log_group_arn],
            )
        )
        if spec.in_vpc:
            self.role.add_to_principal_policy(
                iam.PolicyStatement(
                    sid="AttachToVpc", actions=list(VPC_ACCESS_ACTIONS), resources=["*"]
                )
            )
            acknowledge(
                self.role,
                "AwsSolutions-IAM5[Resource::*]",
                "Lambda's VPC attachment needs EC2 network-interface actions that do not support "
                "resource-level permissions; the statement holds only those actions, on no data.",
            )
        for statement in statements:
            self.role.add_to_principal_policy(statement)

        self.function = lambda_.Function(
            self,
            "Function",
            runtime=RUNTIME,
            architecture=lambda_.Architecture.X86_64,
            code=code,
            handler=spec.handler,
            memory_size=spec.memory_mb,
            timeout=spec.timeout,
            description=f"{spec.description}{description_suffix}",
            environment=dict(environment),
            role=self.role,
            log_group=self.log_group,
            logging_format=lambda_.LoggingFormat.JSON,
            vpc=placement.vpc if spec.in_vpc else None,
            vpc_subnets=placement.subnets if spec.in_vpc else None,
            security_groups=[placement.security_group] if spec.in_vpc else None,
            reserved_concurrent_executions=reserved_concurrency,
        )
        # The role's policy must exist before the function, or a cold start during the
        # deploy could run without its permissions.
        policy = self.role.node.try_find_child("DefaultPolicy")
        if policy is not None:
            self.function.node.add_dependency(policy)
        acknowledge(
            self.function,
            "AwsSolutions-L1",
            "The handlers and their wheels are built for CPython 3.12 (deploy/package_lambda.py "
            "installs cp312 manylinux wheels); moving the runtime is a deliberate, tested change.",
        )
