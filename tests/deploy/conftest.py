"""Fixtures of the deploy tests: the CDK app, synthesised once per session.

The synth runs exactly as `cdk synth` does (same `create_app`, cdk-nag's AwsSolutions pack
registered as a validation plugin), with the default context, except that the Lambda asset is
pointed at an empty folder so the result does not depend on whether someone ran the packaging
script on this machine. jsii needs Node.js: without it these tests fail, they never skip.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
CDK_DIR = REPO / "deploy" / "cdk"
APP_PATH = CDK_DIR / "app.py"

# Before anything imports aws_cdk (which starts Node): silence Node 20's end-of-life banner.
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
for _path in (REPO / "src", REPO / "deploy", CDK_DIR):
    if str(_path) not in sys.path:
        sys.path.append(str(_path))


def require_node() -> str:
    """The path of `node`; fails the test (never skips) when it is missing."""
    node = shutil.which("node")
    if node is None:
        pytest.fail(
            "Node.js is not installed: the CDK app cannot be synthesised (jsii runs on Node). "
            "Install Node 20+ (apt-get install nodejs) to run tests/deploy.",
            pytrace=False,
        )
    return node


def load_app_module() -> ModuleType:
    """deploy/cdk/app.py, imported under a unique name (it is a script, not a package)."""
    require_node()
    name = "analytics_cdk_app"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, APP_PATH)
    if spec is None or spec.loader is None:
        pytest.fail(f"cannot load {APP_PATH}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@dataclass(frozen=True)
class Synthesis:
    """The one synthesis of the session and what the tests read from it."""

    app: Any
    stack: Any
    template: Any  # aws_cdk.assertions.Template
    json: dict[str, Any]
    outdir: Path
    seconds: float

    @property
    def resources(self) -> dict[str, dict[str, Any]]:
        """Logical id -> resource."""
        resources: dict[str, dict[str, Any]] = self.json["Resources"]
        return resources


@pytest.fixture(scope="session")
def app_module() -> ModuleType:
    """The CDK app module."""
    return load_app_module()


@pytest.fixture(scope="session")
def no_asset_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A Lambda asset folder that was never built."""
    return tmp_path_factory.mktemp("unbuilt-asset")


@pytest.fixture(scope="session")
def synthesis(
    app_module: ModuleType, no_asset_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Synthesis:
    """The app synthesised once, like `cdk synth` with no arguments."""
    from aws_cdk.assertions import Template

    outdir = tmp_path_factory.mktemp("cdk.out")
    started = time.perf_counter()
    app, stack = app_module.create_app({"lambda_asset_dir": str(no_asset_dir)}, outdir=str(outdir))
    try:
        app.synth()
    except RuntimeError as exc:  # cdk-nag findings make the synth fail, as in the CLI
        report = outdir / "validation-report.json"
        details = report.read_text(encoding="utf-8") if report.exists() else ""
        pytest.fail(f"synth failed: {exc}\n{details}", pytrace=False)
    seconds = time.perf_counter() - started
    template = Template.from_stack(stack)
    return Synthesis(app, stack, template, template.to_json(), outdir, seconds)


# Stacks of the multi-stack app: two with defaults but their names, and a variant with every
# optional feature switched the other way (WAF on, reader, given Glue database, pinned origin
# secret version, smaller ingest reservation, no deletion protection, a kept cluster id).
TWIN_STACKS = ("AnalyticsProd", "AnalyticsStaging")
VARIANT_STACK = "AnalyticsVariant"
VARIANT_CONTEXT: dict[str, Any] = {
    "stack_name": VARIANT_STACK,
    "ingest_waf": True,
    "ingest_waf_rate_limit": 500,
    "ingest_reserved_concurrency": 25,
    "db_reader": True,
    "db_deletion_protection": False,
    "glue_database": "variant_lake",
    "origin_secret_version_id": "0123abcd-4567-89ef-0123-456789abcdef",
    "db_cluster_identifier": "analyticsvariant-postgres",
}


@dataclass(frozen=True)
class MultiStackSynthesis:
    """One app holding the twin stacks and the variant, synthesised once."""

    app: Any
    stacks: dict[str, Any]
    templates: dict[str, dict[str, Any]]
    outdir: Path

    def template_path(self, stack_name: str) -> Path:
        """The synthesised template file of one stack."""
        return self.outdir / f"{stack_name}.template.json"


@pytest.fixture(scope="session")
def multi_stack(
    app_module: ModuleType, no_asset_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> MultiStackSynthesis:
    """Three stacks in one app (cdk-nag registered, as in the CLI), synthesised once."""
    import json

    from analytics_infra.settings import DeploySettings
    from analytics_infra.stack import AnalyticsStack
    from aws_cdk import App

    outdir = tmp_path_factory.mktemp("cdk.out.multi")
    app = App(context=dict(app_module.FEATURE_FLAGS), outdir=str(outdir))
    stacks = {}
    for context in [{"stack_name": name} for name in TWIN_STACKS] + [VARIANT_CONTEXT]:
        settings = DeploySettings.from_context({**context, "lambda_asset_dir": str(no_asset_dir)})
        stacks[settings.stack_name] = AnalyticsStack(
            app,
            settings.stack_name,
            settings=settings,
            asset=app_module.resolve_asset(settings),
            migration_run_id="synth",
        )
    app_module.register_checks(app)
    try:
        app.synth()
    except RuntimeError as exc:
        report = outdir / "validation-report.json"
        details = report.read_text(encoding="utf-8") if report.exists() else ""
        pytest.fail(f"synth failed: {exc}\n{details}", pytrace=False)
    templates = {
        name: json.loads((outdir / f"{name}.template.json").read_text(encoding="utf-8"))
        for name in stacks
    }
    return MultiStackSynthesis(app, stacks, templates, outdir)


@pytest.fixture(scope="session")
def lint_report(synthesis: Synthesis, multi_stack: MultiStackSynthesis) -> Any:
    """cfn-lint and checkov on the default and the variant template: one run of each."""
    import lint_template

    return lint_template.lint(
        [synthesis.outdir / "Analytics.template.json", multi_stack.template_path(VARIANT_STACK)]
    )
