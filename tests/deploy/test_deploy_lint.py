"""cfn-lint and checkov on the synthesised templates, judged against the checked-in baseline
(deploy/lint_baseline.toml): this is how `make test` lints what `cdk deploy` would deploy."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any

import lint_template
import pytest
from lint_template import Baseline, BaselineError, CheckovException, Finding

from tests.deploy.conftest import REPO, VARIANT_STACK, MultiStackSynthesis, Synthesis

# A template an AWS reviewer would reject three times over: a deprecated engine version
# (cfn-lint W3690, the first deploy's failure), a property that does not exist (cfn-lint
# E3002) and a public Function URL that the baseline does not cover (checkov CKV_AWS_258).
KNOWN_BAD_TEMPLATE: dict[str, Any] = {
    "AWSTemplateFormatVersion": "2010-09-09",
    "Resources": {
        "Cluster": {
            "Type": "AWS::RDS::DBCluster",
            "DeletionPolicy": "Snapshot",
            "UpdateReplacePolicy": "Snapshot",
            "Properties": {
                "Engine": "aurora-postgresql",
                "EngineVersion": "16.6",
                "ManageMasterUserPassword": True,
                "MasterUsername": "admin_user",
                "StorageEncrypted": True,
            },
        },
        "Topic": {"Type": "AWS::SNS::Topic", "Properties": {"NoSuchProperty": "x"}},
        "PublicUrl": {
            "Type": "AWS::Lambda::Url",
            "Properties": {"AuthType": "NONE", "TargetFunctionArn": "arn:aws:lambda:x"},
        },
    },
}


def _default_template(synthesis: Synthesis) -> Path:
    return (synthesis.outdir / "Analytics.template.json").resolve()


def test_the_default_template_is_lint_clean(
    synthesis: Synthesis, lint_report: lint_template.LintReport
) -> None:
    """cfn-lint reports no error or warning and every checkov failure is in the baseline, on
    the template `cdk synth` writes with no arguments (and both linters did look at it)."""
    findings = lint_report.findings[_default_template(synthesis)]
    unexplained = lint_report.baseline.unexplained(findings)
    assert [str(finding) for finding in unexplained] == []
    assert {finding.tool for finding in findings} == {"cfn-lint", "checkov"}
    assert not any(finding.rule == "W3690" for finding in findings)


def test_the_variant_template_is_lint_clean(
    multi_stack: MultiStackSynthesis, lint_report: lint_template.LintReport
) -> None:
    """The same holds with every option switched (WAF, reader, pinned secret version, ...)."""
    findings = lint_report.findings[multi_stack.template_path(VARIANT_STACK).resolve()]
    assert [str(finding) for finding in lint_report.baseline.unexplained(findings)] == []
    assert any(finding.tool == "checkov" for finding in findings)


def test_no_baseline_entry_is_stale(lint_report: lint_template.LintReport) -> None:
    """Every checkov exception in the baseline still explains a finding of one template, so
    a fixed problem's exception has to go."""
    assert [exception.check for exception in lint_report.unused] == []
    assert lint_report.ok


def test_the_lint_step_fails_on_a_known_bad_template(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The lint command exits 1 on a template with a deprecated engine version, an unknown
    property and an uncovered public Function URL, and names each of them."""
    template = tmp_path / "bad.template.json"
    template.write_text(json.dumps(KNOWN_BAD_TEMPLATE), encoding="utf-8")
    assert lint_template.main([str(template)]) == 1
    output = capsys.readouterr().out
    assert "cfn-lint W3690 Cluster" in output
    assert "cfn-lint E3002 Topic" in output
    assert "checkov CKV_AWS_258 AWS::Lambda::Url.PublicUrl" in output


def test_the_baseline_gives_a_reason_for_everything() -> None:
    """Each cfn-lint ignore and each checkov exception in the checked-in baseline has a
    reason of at least a sentence and names the resources it covers."""
    baseline = Baseline.load()
    raw = tomllib.loads((REPO / "deploy" / "lint_baseline.toml").read_text(encoding="utf-8"))
    assert len(baseline.checkov) == len(raw["checkov"])
    assert set(baseline.cfn_lint_ignores) == {"W3005"}  # warnings only, and only this one
    for exception in baseline.checkov:
        assert len(exception.reason) >= 80, exception.check
        assert all(pattern.startswith("AWS::") for pattern in exception.resources)
    # The ingest function's missing concurrency limit is fixed, not excused; its public URL
    # is excused only for the reason that the origin secret now stands in for IAM auth.
    excused = {(e.check, pattern): e.reason for e in baseline.checkov for pattern in e.resources}
    assert not any(
        check == "CKV_AWS_115" and pattern.startswith("AWS::Lambda::Function.IngestFn")
        for check, pattern in excused
    )
    assert (
        "X-Origin-Verify"
        in excused[("CKV_AWS_258", "AWS::Lambda::Url.IngestFnFunctionFunctionUrl*")]
    )


@pytest.mark.parametrize(
    "text",
    [
        '[cfn_lint.ignore]\nW3005 = "because"\n',
        '[[checkov]]\ncheck = "CKV_AWS_1"\nresources = ["AWS::S3::Bucket.X*"]\nreason = ""\n',
        '[[checkov]]\ncheck = "CKV_AWS_1"\nresources = []\nreason = "a long enough reason"\n',
        '[[checkov]]\ncheck = "CKV_AWS_1"\nreason = "a long enough reason here"\n',
        "[other]\nx = 1\n",
    ],
)
def test_a_baseline_entry_without_reason_or_resources_is_refused(tmp_path: Path, text: str) -> None:
    """The baseline loader refuses an ignore without a reason, an exception without reason
    or resources, and unknown sections."""
    path = tmp_path / "baseline.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(BaselineError):
        Baseline.load(path)


def test_exceptions_cover_only_their_check_and_resources() -> None:
    """An exception explains its own check on matching resources only; anything else stays
    a finding, and an exception nothing needs is reported as unused."""
    exception = CheckovException("CKV_AWS_116", ("AWS::Lambda::Function.QueryFn*",), "r" * 30)
    baseline = Baseline({"W3005": "x" * 30}, (exception,))
    covered = Finding("checkov", "CKV_AWS_116", "AWS::Lambda::Function.QueryFnFunction1", "m")
    other_resource = Finding("checkov", "CKV_AWS_116", "AWS::Lambda::Function.IngestFn1", "m")
    other_check = Finding("checkov", "CKV_AWS_115", "AWS::Lambda::Function.QueryFnFunction1", "m")
    ignored = Finding("cfn-lint", "W3005", "Fn", "m")
    not_ignored = Finding("cfn-lint", "W3690", "Cluster", "m")
    assert baseline.unexplained([covered, other_resource, other_check, ignored, not_ignored]) == (
        sorted([other_resource, other_check, not_ignored])
    )
    assert baseline.unused([other_resource]) == [exception]
    assert baseline.unused([covered]) == []


def test_make_test_lints_with_both_tools() -> None:
    """`make test` installs checkov's tool virtualenv before pytest runs these tests, and
    cfn-lint is in the dev extra (checkov is not: its pins conflict with boto3 and moto)."""
    makefile = (REPO / "Makefile").read_text(encoding="utf-8")
    test_rule = next(line for line in makefile.splitlines() if line.startswith("test:"))
    assert "checkov" in test_rule
    assert "lint_template.py --install-checkov" in makefile
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    dev = pyproject["project"]["optional-dependencies"]["dev"]
    assert any(requirement.startswith("cfn-lint") for requirement in dev)
    assert not any(requirement.startswith("checkov") for requirement in dev)
    assert lint_template.checkov_executable().exists()
