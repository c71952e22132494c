"""The network: a VPC with isolated private subnets and the endpoints the functions use.

There is no NAT gateway and no internet route: the functions in the VPC reach AWS services
through endpoints only (S3 through a gateway endpoint; Secrets Manager, Firehose, Athena and
Glue through interface endpoints that accept HTTPS from the functions' security group alone).
"""

from __future__ import annotations

from aws_cdk import RemovalPolicy
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_logs as logs
from constructs import Construct

INTERFACE_ENDPOINTS = {
    "SecretsManager": ec2.InterfaceVpcEndpointAwsService.SECRETS_MANAGER,
    "Firehose": ec2.InterfaceVpcEndpointAwsService.KINESIS_FIREHOSE,
    "Athena": ec2.InterfaceVpcEndpointAwsService.ATHENA,
    "Glue": ec2.InterfaceVpcEndpointAwsService.GLUE,
}


class Network(Construct):
    """VPC, the functions' security group and the VPC endpoints."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        max_azs: int,
        log_retention: logs.RetentionDays,
    ) -> None:
        super().__init__(scope, construct_id)
        self.vpc = ec2.Vpc(
            self,
            "Vpc",
            ip_addresses=ec2.IpAddresses.cidr("10.40.0.0/16"),
            max_azs=max_azs,
            nat_gateways=0,
            subnet_configuration=[
                ec2.SubnetConfiguration(
                    name="private", subnet_type=ec2.SubnetType.PRIVATE_ISOLATED, cidr_mask=22
                )
            ],
        )
        self.private_subnets = ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_ISOLATED)

        flow_logs = logs.LogGroup(
            self, "FlowLogs", retention=log_retention, removal_policy=RemovalPolicy.DESTROY
        )
        # Rejected traffic only: enough to debug security groups, cheap, and it carries no
        # visitor addresses (visitors never reach this VPC).
        self.vpc.add_flow_log(
            "RejectedTraffic",
            destination=ec2.FlowLogDestination.to_cloud_watch_logs(flow_logs),
            traffic_type=ec2.FlowLogTrafficType.REJECT,
        )

        self.lambda_security_group = ec2.SecurityGroup(
            self,
            "FunctionsSecurityGroup",
            vpc=self.vpc,
            description="Lambda functions in the VPC (the only clients of RDS Proxy)",
            allow_all_outbound=True,
        )
        endpoint_security_group = ec2.SecurityGroup(
            self,
            "EndpointsSecurityGroup",
            vpc=self.vpc,
            description="Interface VPC endpoints: HTTPS from the Lambda functions only",
            allow_all_outbound=False,
        )
        endpoint_security_group.add_ingress_rule(
            self.lambda_security_group, ec2.Port.tcp(443), "HTTPS from the Lambda functions"
        )

        self.vpc.add_gateway_endpoint(
            "S3", service=ec2.GatewayVpcEndpointAwsService.S3, subnets=[self.private_subnets]
        )
        for name, service in INTERFACE_ENDPOINTS.items():
            self.vpc.add_interface_endpoint(
                name,
                service=service,
                subnets=self.private_subnets,
                security_groups=[endpoint_security_group],
                private_dns_enabled=True,
                open=False,
            )
