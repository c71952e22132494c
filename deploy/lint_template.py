"""Lint synthesised CloudFormation templates with cfn-lint and checkov, against a baseline.

    python deploy/lint_template.py deploy/cdk/cdk.out/Analytics.template.json
    python deploy/lint_template.py --install-checkov     # once; `make test` does it

A template passes when cfn-lint reports no error and no warning except the rules that
`deploy/lint_baseline.toml` ignores, and every failed checkov check is covered by an exception
in the same file. Each ignore and each exception carries its reason; an exception that covers
nothing any more is reported too, so the baseline cannot rot. The deploy tests
(tests/deploy/test_deploy_lint.py) run this on the app's templates, which is how `make test`
lints them.

cfn-lint runs in this virtualenv (the `dev` extra). checkov cannot: 3.3.30 pins boto3 1.35 and
networkx 2.6, below what the project and moto need, so it lives in a virtualenv of its own
(`.venv/checkov`, or `$CHECKOV_VENV`) installed from PyPI at `CHECKOV_VERSION`.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import os
import subprocess
import sys
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
BASELINE = HERE / "lint_baseline.toml"
CHECKOV_VERSION = "3.3.30"
DEFAULT_CHECKOV_VENV = REPO / ".venv" / "checkov"
# The stack names no region; these cover the ones it is most likely deployed to (us-east-1 is
# required with `ingest_waf`), so a resource or value missing in one of them is reported.
LINT_REGIONS = ("us-east-1", "us-west-2", "eu-west-1", "eu-central-1", "ap-southeast-2")
MIN_REASON_LENGTH = 20


class BaselineError(ValueError):
    """The baseline file is malformed (an entry without a reason, an unknown key, ...)."""


@dataclass(frozen=True, order=True)
class Finding:
    """One problem a linter reported: tool, rule id, resource (`Type.LogicalId`), message."""

    tool: str
    rule: str
    resource: str
    message: str

    def __str__(self) -> str:
        return f"{self.tool} {self.rule} {self.resource}: {self.message}"


@dataclass(frozen=True)
class CheckovException:
    """A checkov check accepted for the resources matching `resources` (fnmatch patterns of
    checkov's `Type.LogicalId`), for `reason`."""

    check: str
    resources: tuple[str, ...]
    reason: str

    def covers(self, finding: Finding) -> bool:
        """Whether this exception explains `finding`."""
        return (
            finding.tool == "checkov"
            and finding.rule == self.check
            and any(fnmatch.fnmatchcase(finding.resource, pattern) for pattern in self.resources)
        )


@dataclass(frozen=True)
class Baseline:
    """The checked-in exceptions: cfn-lint rules ignored, checkov checks accepted."""

    cfn_lint_ignores: Mapping[str, str]
    checkov: tuple[CheckovException, ...]

    @classmethod
    def load(cls, path: Path = BASELINE) -> Baseline:
        """Read and check `path`: every entry needs a reason of at least a sentence."""
        document = tomllib.loads(path.read_text(encoding="utf-8"))
        unknown = set(document) - {"cfn_lint", "checkov"}
        if unknown:
            raise BaselineError(f"{path}: unknown sections {sorted(unknown)}")
        ignores = dict(document.get("cfn_lint", {}).get("ignore", {}))
        for rule, reason in ignores.items():
            _check_reason(f"cfn-lint {rule}", reason)
        exceptions = []
        for entry in document.get("checkov", []):
            if set(entry) != {"check", "resources", "reason"}:
                raise BaselineError(f"{path}: a checkov entry needs check, resources, reason")
            check, resources = str(entry["check"]), tuple(str(r) for r in entry["resources"])
            if not resources:
                raise BaselineError(f"{path}: checkov {check} names no resources")
            _check_reason(f"checkov {check}", entry["reason"])
            exceptions.append(CheckovException(check, resources, str(entry["reason"]).strip()))
        return cls(ignores, tuple(exceptions))

    def unexplained(self, findings: Iterable[Finding]) -> list[Finding]:
        """The findings that no ignore and no exception explains."""
        return sorted(
            finding
            for finding in findings
            if not (finding.tool == "cfn-lint" and finding.rule in self.cfn_lint_ignores)
            and not any(exception.covers(finding) for exception in self.checkov)
        )

    def unused(self, findings: Iterable[Finding]) -> list[CheckovException]:
        """The checkov exceptions that explain none of `findings` (stale entries)."""
        found = list(findings)
        return [
            exception
            for exception in self.checkov
            if not any(exception.covers(finding) for finding in found)
        ]


def _check_reason(what: str, reason: Any) -> None:
    if not isinstance(reason, str) or len(reason.strip()) < MIN_REASON_LENGTH:
        raise BaselineError(f"{what} needs a reason, not {reason!r}")


def cfn_lint_findings(template: Path) -> list[Finding]:
    """The errors and warnings cfn-lint reports on `template` in `LINT_REGIONS`.

    Informational findings (I...) are style advice, mostly on the Fn::Join that CDK writes.
    """
    from cfnlint.api import ManualArgs, lint_file  # noqa: PLC0415  # dev extra only

    matches = lint_file(template, ManualArgs(regions=list(LINT_REGIONS)))
    findings = []
    for match in matches:
        path = [str(part) for part in (getattr(match, "path", None) or [])]
        resource = path[1] if len(path) > 1 and path[0] == "Resources" else "/".join(path)
        findings.append(Finding("cfn-lint", match.rule.id, resource, match.message))
    return findings


def checkov_executable(venv: Path | None = None) -> Path:
    """checkov in its tool virtualenv (`$CHECKOV_VENV` or `.venv/checkov`)."""
    root = venv or Path(os.environ.get("CHECKOV_VENV") or DEFAULT_CHECKOV_VENV)
    return root / "bin" / "checkov"


def install_checkov(venv: Path | None = None) -> Path:
    """Create the checkov virtualenv from PyPI at `CHECKOV_VERSION` unless it is there."""
    executable = checkov_executable(venv)
    if executable.exists() and _checkov_version(executable) == CHECKOV_VERSION:
        return executable
    root = executable.parent.parent
    python = str(root / "bin" / "python")
    for command in (
        [sys.executable, "-m", "venv", str(root)],
        [python, "-m", "pip", "install", "--quiet", "--upgrade", "pip"],
        [python, "-m", "pip", "install", "--quiet", f"checkov=={CHECKOV_VERSION}"],
    ):
        subprocess.run(command, check=True)  # noqa: S603  # fixed arguments, our own venv
    return executable


def _checkov_version(executable: Path) -> str:
    result = subprocess.run(  # noqa: S603  # the checkov we installed, fixed arguments
        [str(executable), "--version"], capture_output=True, text=True, check=False
    )
    return result.stdout.strip()


def checkov_findings(
    templates: Sequence[Path], executable: Path | None = None
) -> dict[Path, list[Finding]]:
    """The failed checkov checks of each template, from one checkov run over all of them."""
    checkov = executable or checkov_executable()
    if not checkov.exists():
        raise FileNotFoundError(
            f"checkov is not installed at {checkov}: run `make checkov` "
            "(or python deploy/lint_template.py --install-checkov)"
        )
    command = [str(checkov), "--framework", "cloudformation", "--output", "json", "--compact"]
    command += ["--quiet", "--skip-download", "--soft-fail"]
    for template in templates:
        command += ["--file", str(template.resolve())]
    # No network: checkov would otherwise fetch its guideline mappings (and fail offline).
    environment = {**os.environ, "BC_SKIP_MAPPING": "TRUE"}
    result = subprocess.run(  # noqa: S603  # the checkov we installed, on our templates
        command,
        capture_output=True,
        text=True,
        check=False,
        cwd=templates[0].resolve().parent if templates else None,
        env=environment,
    )
    if result.returncode != 0:
        raise RuntimeError(f"checkov failed ({result.returncode}):\n{result.stderr[-4000:]}")
    reports = json.loads(result.stdout)
    findings: dict[Path, list[Finding]] = {template.resolve(): [] for template in templates}
    for report in reports if isinstance(reports, list) else [reports]:
        for failed in report.get("results", {}).get("failed_checks", []):
            path = Path(failed["file_abs_path"]).resolve()
            findings.setdefault(path, []).append(
                Finding("checkov", failed["check_id"], failed["resource"], failed["check_name"])
            )
        if report.get("summary", {}).get("parsing_errors"):
            raise RuntimeError(f"checkov could not parse a template: {report['summary']}")
    return findings


@dataclass(frozen=True)
class LintReport:
    """Everything the linters found on some templates, judged against the baseline."""

    findings: Mapping[Path, Sequence[Finding]]
    baseline: Baseline

    @property
    def unexplained(self) -> list[Finding]:
        """Findings the baseline does not explain: each one fails the lint."""
        return self.baseline.unexplained(
            finding for found in self.findings.values() for finding in found
        )

    @property
    def unused(self) -> list[CheckovException]:
        """Baseline exceptions that none of the templates needed: stale, also a failure."""
        return self.baseline.unused(
            finding for found in self.findings.values() for finding in found
        )

    @property
    def ok(self) -> bool:
        """Whether the templates pass."""
        return not self.unexplained and not self.unused


def lint(
    templates: Sequence[Path],
    baseline: Baseline | None = None,
    checkov: Path | None = None,
) -> LintReport:
    """cfn-lint each template, checkov all of them in one run, judge against the baseline."""
    findings = checkov_findings(templates, checkov)
    for template in templates:
        findings[template.resolve()] = [*cfn_lint_findings(template), *findings[template.resolve()]]
    return LintReport(findings, baseline or Baseline.load())


def main(argv: Sequence[str] | None = None) -> int:
    """The command line: lint templates (exit 1 on a finding), or install checkov."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("templates", nargs="*", type=Path)
    parser.add_argument("--baseline", type=Path, default=BASELINE)
    parser.add_argument("--install-checkov", action="store_true")
    args = parser.parse_args(argv)
    if args.install_checkov:
        print(f"checkov {CHECKOV_VERSION}: {install_checkov()}")
    if not args.templates:
        return 0
    report = lint(args.templates, Baseline.load(args.baseline))
    for finding in report.unexplained:
        print(f"not in the baseline: {finding}")
    for exception in report.unused:
        print(f"baseline entry covers nothing (remove it): checkov {exception.check}")
    if report.ok:
        print(f"{len(args.templates)} template(s): cfn-lint and checkov clean (baseline applied)")
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
