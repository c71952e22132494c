"""cdk-nag's AwsSolutions pack: it runs on every synth and finds nothing unacknowledged."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tests.deploy.conftest import Synthesis

# Every rule the stack acknowledges, and why in a word; the reasons themselves are in code.
# A new acknowledgment must be added here, in review.
ACKNOWLEDGED_RULES = {
    "AwsSolutions-L1": "Python 3.12 is the contract runtime",
    "AwsSolutions-IAM5": "generated object names under one prefix; Lambda ENI actions",
    "AwsSolutions-SMG4": "rotation is manual, documented",
    "AwsSolutions-RDS6": "password auth through RDS Proxy",
    "AwsSolutions-RDS11": "standard port, reachable from the proxy only",
    "AwsSolutions-RDS10": "deletion protection turned on after the deploy, not at creation",
    "AwsSolutions-IAM4": "CDK's AwsCustomResource provider role (basic execution only)",
    "AwsSolutions-S1": "the access-log bucket itself",
    "AwsSolutions-CFR1": "worldwide collection",
    "AwsSolutions-CFR2": "WAF optional (ingest_waf); reserved concurrency caps a flood",
    "AwsSolutions-CFR3": "no CloudFront logs: they would store visitor IPs",
    "AwsSolutions-CFR4": "default certificate until a custom domain",
    "AwsSolutions-SNS2": "alarm topic carries no data",
}


def _acknowledgments(app: Any) -> Iterator[tuple[str, str, str]]:
    """(construct path, rule id, reason) of every cdk-nag acknowledgment in the app."""
    from aws_cdk import Validations

    for construct in app.node.find_all():
        for entry in construct.node.metadata:
            if entry.type != Validations.ACKNOWLEDGED_RULES_METADATA_KEY:
                continue
            for key, reason in dict(entry.data).items():
                # CDK records a bare id as `Annotation::<id>`.
                rule = str(key).removeprefix("Annotation::")
                if rule.startswith("AwsSolutions-"):
                    yield construct.node.path, rule, str(reason)


def test_aws_solutions_pack_reports_nothing_unacknowledged(synthesis: Synthesis) -> None:
    """Running the AwsSolutions pack on the app yields no error and no warning."""
    from cdk_nag import AwsSolutionsChecks

    report = AwsSolutionsChecks().validate_scope(synthesis.app)
    findings = [
        f"{violation.severity} {violation.rule_name} at "
        + ", ".join(resource.construct_path for resource in violation.violating_resources)
        for violation in report.violations
    ]
    assert findings == []
    assert report.success is True


def test_every_acknowledgment_has_a_reason(synthesis: Synthesis) -> None:
    """Each acknowledged finding carries a real reason, and only the reviewed rules are
    acknowledged at all."""
    acknowledgments = list(_acknowledgments(synthesis.app))
    assert acknowledgments
    for path, rule, reason in acknowledgments:
        assert len(reason) >= 20, f"{rule} at {path}: {reason!r}"
        base = rule.split("[", 1)[0]
        assert base in ACKNOWLEDGED_RULES, f"unreviewed acknowledgment {rule} at {path}"


def test_scheduled_functions_need_only_the_common_acknowledgments(synthesis: Synthesis) -> None:
    """The scheduled functions (maintenance, foldStats) are acknowledged for nothing beyond
    what every VPC function is: the runtime and Lambda's ENI actions; the maintenance function
    also for the query function's Athena object patterns (it retries site deletions)."""
    common = {"AwsSolutions-L1", "AwsSolutions-IAM5[Resource::*]"}
    query_prefix = f"{synthesis.stack.node.path}/QueryFn/"
    athena = {
        rule
        for path, rule, _ in _acknowledgments(synthesis.app)
        if path.startswith(query_prefix) and rule not in common
    }
    assert athena
    for construct_id in (
        "MaintenanceFn",
        "FoldStatsFn",
        "MaintenanceSchedule",
        "FoldStatsSchedule",
    ):
        prefix = f"{synthesis.stack.node.path}/{construct_id}/"
        rules = {
            rule for path, rule, _ in _acknowledgments(synthesis.app) if path.startswith(prefix)
        }
        expected = common if construct_id.endswith("Fn") else set()
        if construct_id == "MaintenanceFn":
            expected = common | athena
        assert rules == expected, construct_id


def test_wildcard_acknowledgments_are_specific_findings(synthesis: Synthesis) -> None:
    """IAM5 is only ever acknowledged finding by finding, for a resource pattern, never for
    a wildcard action."""
    iam5 = [rule for _, rule, _ in _acknowledgments(synthesis.app) if "IAM5" in rule]
    assert iam5
    for rule in iam5:
        assert rule.startswith("AwsSolutions-IAM5[Resource::"), rule
        assert "Action::" not in rule


def test_acknowledge_refuses_a_missing_reason() -> None:
    """The acknowledgment helper will not record a rule without a real reason."""
    from analytics_infra.nag import acknowledge
    from aws_cdk import App, Stack

    stack = Stack(App(), "Scratch")
    with pytest.raises(ValueError, match="reason"):
        acknowledge(stack, "AwsSolutions-L1", "because")
    with pytest.raises(ValueError, match="AwsSolutions"):
        acknowledge(
            stack, "CloudFormation-Validate::W1", "a long enough reason, but not a nag rule"
        )


def test_registered_pack_fails_a_synth_with_findings(
    app_module: ModuleType, tmp_path: Path
) -> None:
    """The pack as the app registers it fails a synth on an unacknowledged error or warning,
    which is what keeps `cdk synth` and `cdk deploy` clean."""
    from aws_cdk import App, Stack
    from aws_cdk import aws_sns as sns

    app = App(outdir=str(tmp_path))
    sns.Topic(Stack(app, "Scratch"), "NoTls")
    app_module.register_checks(app)
    with pytest.raises(RuntimeError, match="ValidationFailed"):
        app.synth()
    report = (tmp_path / "validation-report.json").read_text(encoding="utf-8")
    assert "AwsSolutions-SNS3" in report
