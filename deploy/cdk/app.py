"""The CDK app of the analytics backend (`cdk.json` runs `python app.py`).

    cdk synth                                  # offline, placeholders allowed
    cdk deploy -c deploy=true -c cognito_user_pool_id=... -c cognito_client_id=... \\
               -c dashboard_origin=https://...

Every context value has a default (see `analytics_infra/settings.py`), so synth needs no
arguments and never touches the network. The CDK CLI does not tell an app whether it is
synthesising or deploying, so a deploy says so with `-c deploy=true`: the app then stops, before
building anything, with a message naming every placeholder still in place and a missing Lambda
asset. Without the flag, a template with placeholders still synthesises but carries a
CloudFormation rule that makes any deploy of it fail before a resource is created.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

# jsii starts Node when aws_cdk is imported; Node 20 would print an end-of-life banner.
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
# The app imports the code's own environment names (analytics_core is pure Python, attrs
# only), its constructs, and the packaging script's constants; nothing under src/ is run.
for path in (REPO / "src", REPO / "deploy", HERE):
    if str(path) not in sys.path:
        sys.path.append(str(path))

import package_lambda  # noqa: E402
from analytics_infra.asset import LambdaAsset, locate_asset  # noqa: E402
from analytics_infra.settings import (  # noqa: E402
    ContextError,
    DeployRefusedError,
    DeploySettings,
)
from analytics_infra.stack import AnalyticsStack  # noqa: E402
from aws_cdk import Annotations, App, Validations  # noqa: E402
from cdk_nag import AwsSolutionsChecks  # noqa: E402

BUILD_COMMAND = "python deploy/package_lambda.py"
# CDK feature flags the stack relies on, set here (not in cdk.json) so that the CLI and the
# tests synthesise the same template.
FEATURE_FLAGS: Mapping[str, Any] = {
    # Server access logs are granted by bucket policy, so every bucket can keep ACLs disabled.
    "@aws-cdk/aws-s3:serverAccessLogsUseBucketPolicy": True,
}


def resolve_asset(settings: DeploySettings) -> LambdaAsset:
    """The built Lambda asset, or the placeholder when it has not been built."""
    asset_dir = (
        Path(settings.lambda_asset_dir) if settings.lambda_asset_dir else package_lambda.DEFAULT_OUT
    )
    if not asset_dir.is_absolute():
        asset_dir = REPO / asset_dir
    return locate_asset(
        asset_dir,
        repo=REPO,
        manifest_name=package_lambda.MANIFEST_NAME,
        build_command=BUILD_COMMAND,
    )


def refusals(settings: DeploySettings, asset: LambdaAsset) -> tuple[str, ...]:
    """Everything that makes this configuration undeployable (empty when deployable)."""
    return settings.placeholders() + asset.problems()


def migration_run_id(settings: DeploySettings) -> str:
    """A value that changes on every deploy, so the migration trigger runs every time.

    Synth without `deploy=true` uses a fixed value, so its template is reproducible.
    """
    if settings.migration_run_id:
        return settings.migration_run_id
    if settings.deploy:
        return datetime.now(UTC).strftime("%Y%m%dT%H%M%S.%fZ")
    return "synth"


def create_app(
    context: Mapping[str, Any] | None = None,
    *,
    outdir: str | None = None,
    with_nag: bool = True,
) -> tuple[App, AnalyticsStack]:
    """Build the app and its stack; raises DeployRefusedError when deploying placeholders."""
    app = App(context={**FEATURE_FLAGS, **(context or {})}, outdir=outdir)
    settings = DeploySettings.from_context(app.node.try_get_context)
    asset = resolve_asset(settings)
    problems = refusals(settings, asset)
    if settings.deploy and problems:
        raise DeployRefusedError(problems)
    stack = AnalyticsStack(
        app,
        settings.stack_name,
        settings=settings,
        asset=asset,
        migration_run_id=migration_run_id(settings),
        refusals=problems,
    )
    if problems:
        for problem in problems:
            Annotations.of(stack).add_warning_v2("analytics:not-deployable", problem)
    if with_nag:
        register_checks(app)
    return app, stack


def register_checks(app: App) -> None:
    """Run cdk-nag's AwsSolutions pack on every synth: an unacknowledged finding, error or
    warning, fails the synth (and so `cdk synth` and `cdk deploy`)."""
    Validations.of(app).add_plugins(AwsSolutionsChecks(app))


def main() -> int:
    """Synthesise (what `cdk synth` and `cdk deploy` run); 1 with a message when refused."""
    try:
        app, _ = create_app()
    except (DeployRefusedError, ContextError) as exc:
        print(f"analytics cdk app: {exc}", file=sys.stderr)
        return 1
    app.synth()
    return 0


if __name__ == "__main__":
    sys.exit(main())
