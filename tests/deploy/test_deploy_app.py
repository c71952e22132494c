"""The CDK app itself: how it is run, its context, and its refusal to deploy placeholders."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from adapters.config import Env
from tests.deploy.conftest import APP_PATH, CDK_DIR, REPO, Synthesis, require_node

REAL_CONTEXT = {
    "cognito_user_pool_id": "eu-west-1_AbCdEf123",
    "cognito_client_id": "4h2k1example0client0id",
    "dashboard_origin": "https://dashboard.example.org",
}


def _built_asset(folder: Path, app_module: ModuleType) -> Path:
    """A folder that looks like a built asset (it has the manifest the build writes last)."""
    folder.mkdir(parents=True, exist_ok=True)
    manifest = app_module.package_lambda.MANIFEST_NAME
    (folder / manifest).write_text("{}", encoding="utf-8")
    return folder


def test_node_is_installed() -> None:
    """Node.js is on this machine: the CDK tests fail here, loudly, rather than skip."""
    assert Path(require_node()).exists()


def test_cdk_json_runs_app_py() -> None:
    """`cdk.json` tells the CDK CLI to run `python app.py` in deploy/cdk."""
    config = json.loads((CDK_DIR / "cdk.json").read_text(encoding="utf-8"))
    assert config["app"] == "python app.py"
    assert APP_PATH.is_file()


def test_synth_with_default_context_builds_the_stack(synthesis: Synthesis) -> None:
    """With every context value at its default the app synthesises one stack, offline."""
    assert synthesis.stack.stack_name == "Analytics"
    assert len(synthesis.resources) > 100
    manifest = json.loads((synthesis.outdir / "manifest.json").read_text(encoding="utf-8"))
    stacks = [
        name
        for name, artifact in manifest["artifacts"].items()
        if artifact["type"] == "aws:cloudformation:stack"
    ]
    assert stacks == ["Analytics"]


def test_synth_is_fast_enough_for_ci(synthesis: Synthesis) -> None:
    """The one synth of the session stays far inside the CI budget."""
    assert synthesis.seconds < 120


def test_every_context_value_has_a_default(app_module: ModuleType) -> None:
    """Every setting the app reads has a default, so no argument is needed to synthesise."""
    settings_module = sys.modules["analytics_infra.settings"]
    keys = settings_module.context_keys()
    assert set(keys) == set(settings_module.DEFAULTS)
    settings = app_module.DeploySettings.from_context({})
    assert settings.stack_name == "Analytics"


def test_placeholders_are_named(app_module: ModuleType) -> None:
    """With the defaults, each operator-only value is reported as a placeholder by name."""
    problems = app_module.DeploySettings.from_context({}).placeholders()
    assert len(problems) == 3
    for key in ("cognito_user_pool_id", "cognito_client_id", "dashboard_origin"):
        assert any(f"'{key}'" in problem for problem in problems), key


def test_deploy_with_placeholders_stops_with_their_names(
    app_module: ModuleType, tmp_path: Path
) -> None:
    """`-c deploy=true` with a placeholder left stops the app before any construct exists,
    naming the placeholder; a missing Lambda asset is named too."""
    context = {
        **REAL_CONTEXT,
        "cognito_client_id": "PLACEHOLDER-cognito-app-client-id",
        "deploy": "true",
        "lambda_asset_dir": str(tmp_path / "never-built"),
    }
    with pytest.raises(app_module.DeployRefusedError) as refused:
        app_module.create_app(context, outdir=str(tmp_path / "out"), with_nag=False)
    message = str(refused.value)
    assert "cognito_client_id" in message
    assert "cognito_user_pool_id" not in message
    assert "package_lambda.py" in message
    assert not (tmp_path / "out" / "manifest.json").exists()


def test_complete_configuration_is_deployable(app_module: ModuleType, tmp_path: Path) -> None:
    """With real context values and a built asset nothing stands in the way of a deploy."""
    settings = app_module.DeploySettings.from_context(
        {**REAL_CONTEXT, "deploy": True, "lambda_asset_dir": str(tmp_path / "lambda")}
    )
    _built_asset(tmp_path / "lambda", app_module)
    asset = app_module.resolve_asset(settings)
    assert asset.placeholder is False
    assert app_module.refusals(settings, asset) == ()
    assert (
        settings.cognito_issuer == "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbCdEf123"
    )


def test_missing_asset_is_a_refusal(app_module: ModuleType, tmp_path: Path) -> None:
    """Without a built asset the app stages src/ as a placeholder and says it cannot deploy."""
    settings = app_module.DeploySettings.from_context(
        {**REAL_CONTEXT, "lambda_asset_dir": str(tmp_path / "nothing")}
    )
    asset = app_module.resolve_asset(settings)
    assert asset.placeholder is True
    assert asset.path == REPO / "src"
    (problem,) = app_module.refusals(settings, asset)
    assert "python deploy/package_lambda.py" in problem


def test_cli_deploy_with_placeholders_exits_with_their_names(tmp_path: Path) -> None:
    """Run as the CDK CLI runs it (`python app.py`, context in CDK_CONTEXT_JSON), a deploy
    with placeholders exits non-zero and prints every placeholder's name."""
    env = {
        **os.environ,
        "CDK_CONTEXT_JSON": json.dumps(
            {"deploy": "true", "lambda_asset_dir": str(tmp_path / "never-built")}
        ),
        "CDK_OUTDIR": str(tmp_path / "cdk.out"),
    }
    result = subprocess.run(  # fixed command line
        [sys.executable, "app.py"],
        cwd=CDK_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 1, result.stderr
    for key in ("cognito_user_pool_id", "cognito_client_id", "dashboard_origin"):
        assert key in result.stderr
    assert "package_lambda.py" in result.stderr
    assert not (tmp_path / "cdk.out" / "manifest.json").exists()


def test_template_with_placeholders_cannot_be_deployed(synthesis: Synthesis) -> None:
    """A template synthesised with placeholders carries a CloudFormation rule that always
    fails, naming what to fix, so even `cdk deploy` without the flag creates nothing."""
    rules = synthesis.json["Rules"]
    rule = rules["RefuseDeployWithPlaceholders"]
    (assertion,) = rule["Assertions"]
    parameter = synthesis.json["Parameters"]["PlaceholderGuard"]
    assert parameter["AllowedValues"] == [parameter["Default"]]
    compared = assertion["Assert"]["Fn::Equals"]
    assert compared[0] == {"Ref": "PlaceholderGuard"}
    assert compared[1] not in parameter["AllowedValues"]
    description = assertion["AssertDescription"]
    for key in ("cognito_user_pool_id", "cognito_client_id", "dashboard_origin"):
        assert key in description
    assert "package_lambda.py" in description


@pytest.mark.parametrize(
    ("override", "fragment"),
    [
        ({"db_min_acu": 8, "db_max_acu": 4}, "db_min_acu"),
        ({"hot_retention_days": 30}, "hot_retention_days"),
        ({"cognito_user_pool_id": "not-a-pool"}, "cognito_user_pool_id"),
        ({"dashboard_origin": "http://insecure.example"}, "dashboard_origin"),
        ({"aurora_postgres_version": "15.4"}, "aurora_postgres_version"),
        ({"db_reader": "maybe"}, "db_reader"),
        ({"http_retry_seconds": 9000}, "http_retry_seconds"),
        ({"ingest_reserved_concurrency": -1}, "ingest_reserved_concurrency"),
        ({"ingest_waf": "sometimes"}, "ingest_waf"),
        ({"ingest_waf_rate_limit": 5}, "ingest_waf_rate_limit"),
        ({"origin_secret_version_id": "v1; rm"}, "origin_secret_version_id"),
        ({"glue_database": "Bad-Name"}, "glue_database"),
        ({"db_cluster_identifier": "two--hyphens"}, "db_cluster_identifier"),
        ({"db_cluster_identifier": "1starts-with-a-digit"}, "db_cluster_identifier"),
    ],
)
def test_malformed_context_is_rejected(
    app_module: ModuleType, override: dict[str, Any], fragment: str
) -> None:
    """A malformed context value stops synth and deploy alike, with the key in the message."""
    with pytest.raises(app_module.ContextError, match=fragment):
        app_module.DeploySettings.from_context(override)


def test_cli_strings_are_parsed(app_module: ModuleType) -> None:
    """Values given as `-c key=value` strings are parsed like their cdk.json counterparts."""
    settings = app_module.DeploySettings.from_context(
        {"db_reader": "true", "db_min_acu": "1", "db_max_acu": "8", "deploy": "false"}
    )
    assert settings.db_reader is True
    assert (settings.db_min_acu, settings.db_max_acu) == (1.0, 8.0)
    assert settings.deploy is False
    assert app_module.DeploySettings.from_context({"ingest_waf": "true"}).ingest_waf is True


def test_an_existing_cluster_can_keep_its_identifier(app_module: ModuleType) -> None:
    """db_cluster_identifier (for a stack deployed with the old fixed identifier) is taken as
    given, lower-cased; by default there is none."""
    assert app_module.DeploySettings.from_context({}).db_cluster_identifier == ""
    kept = app_module.DeploySettings.from_context({"db_cluster_identifier": "Analytics-Postgres"})
    assert kept.db_cluster_identifier == "analytics-postgres"


def test_glue_database_name_follows_the_stack(app_module: ModuleType) -> None:
    """Without glue_database the Glue database is the stack's name in Glue's alphabet; a given
    name wins."""
    derived = app_module.DeploySettings.from_context({"stack_name": "Analytics-Staging"})
    assert derived.glue_database == "analytics_staging"
    given = app_module.DeploySettings.from_context(
        {"stack_name": "Analytics-Staging", "glue_database": "lake"}
    )
    assert given.glue_database == "lake"


def _deploy_sources() -> list[Path]:
    return [APP_PATH, *sorted((CDK_DIR / "analytics_infra").glob("*.py"))]


def test_environment_names_are_never_retyped() -> None:
    """No environment variable name appears as a string literal in the CDK code: every one
    comes from `adapters.config.Env`."""
    names = "|".join(re.escape(member.value) for member in Env)
    literal = re.compile(rf"""["'](?:{names})["']""")
    offenders = [
        f"{path.relative_to(REPO)}:{number}"
        for path in _deploy_sources()
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
        if literal.search(line)
    ]
    assert offenders == []


def test_app_references_handlers_only_by_name() -> None:
    """The CDK code never imports the handlers or adapters; it names handler paths only (and
    takes the environment variable names from `adapters.config.Env`, which does no I/O)."""
    importing = re.compile(
        r"^\s*(?:from|import)\s+(?:entrypoints|adapters)\b(?!\.config import Env$)", re.MULTILINE
    )
    offenders = [
        str(path.relative_to(REPO))
        for path in _deploy_sources()
        if importing.search(path.read_text(encoding="utf-8"))
    ]
    assert offenders == []
