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
