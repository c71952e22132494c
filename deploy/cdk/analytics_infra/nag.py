"""cdk-nag acknowledgments: every one names its rule (or finding) and says why, in code.

cdk-nag 3 reports through CDK's policy-validation framework, and an acknowledgment is CDK's
`Validations.of(construct).acknowledge(...)`. This wrapper refuses an empty or token reason,
so a suppression without a justification cannot be written.
"""

from __future__ import annotations

from aws_cdk import Acknowledgment, CfnElement, Stack, Validations
from aws_cdk import aws_s3 as s3
from constructs import IConstruct

MIN_REASON_LENGTH = 20


def acknowledge(construct: IConstruct, rule: str, reason: str) -> None:
    """Acknowledge the cdk-nag `rule` (e.g. `AwsSolutions-L1` or `AwsSolutions-IAM5[...]`)."""
    if not rule.startswith("AwsSolutions-"):
        raise ValueError(f"not an AwsSolutions rule: {rule!r}")
    if len(reason.strip()) < MIN_REASON_LENGTH:
        raise ValueError(f"the acknowledgment of {rule} needs a real reason, not {reason!r}")
    # The bare rule id is honoured both by the synth-time plugin and by a direct
    # `validate_scope` (the tests); the plugin-qualified `AwsSolutions::...` form is not.
    Validations.of(construct).acknowledge(Acknowledgment(id=rule, reason=reason.strip()))


def objects_finding(bucket: s3.IBucket, key_pattern: str) -> str:
    """The IAM5 finding id of a statement on `bucket`'s objects matching `key_pattern`.

    cdk-nag names such a resource by the bucket's logical id: `<LogicalId.Arn>/prefix/*`; an
    imported bucket (the adopted lake's) by its ARN, the partition as `<AWS::Partition>`.
    """
    resource = bucket.node.default_child
    if not isinstance(resource, CfnElement):
        return (
            f"AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:s3:::{bucket.bucket_name}"
            f"/{key_pattern}]"
        )
    logical_id = Stack.of(bucket).get_logical_id(resource)
    return f"AwsSolutions-IAM5[Resource::<{logical_id}.Arn>/{key_pattern}]"
