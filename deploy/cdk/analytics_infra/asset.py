"""Where the Lambda code comes from: the built asset, or a clearly marked placeholder.

`deploy/package_lambda.py` builds the real asset (our packages, the migrations, Linux wheels)
and writes its manifest last. Synth must work offline on a fresh checkout, so when no manifest
is found the app stages `src/` alone instead: enough for the template, useless at run time
(no dependencies, no migrations). `LambdaAsset.problems()` says so, and a deploy refuses.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from aws_cdk import aws_lambda as lambda_

_PLACEHOLDER_EXCLUDES = ("**/__pycache__", "**/*.pyc", "**/.mypy_cache")


@dataclass(frozen=True)
class LambdaAsset:
    """The folder staged as every function's code, and whether it is the placeholder."""

    path: Path
    placeholder: bool
    build_command: str
    repo: Path

    def code(self) -> lambda_.Code:
        """The CDK code object (one asset shared by every function)."""
        if self.placeholder:
            return lambda_.Code.from_asset(str(self.path), exclude=list(_PLACEHOLDER_EXCLUDES))
        return lambda_.Code.from_asset(str(self.path))

    def problems(self) -> tuple[str, ...]:
        """Why this asset cannot be deployed (empty for a built asset)."""
        if not self.placeholder:
            return ()
        message = (
            f"the Lambda asset is the placeholder {self._shown_path} (src/ only, no "
            f"dependencies or migrations): run `{self.build_command}` first"
        )
        return (message,)

    @property
    def _shown_path(self) -> str:
        """The path relative to the repository when inside it, so messages are reproducible."""
        try:
            return self.path.relative_to(self.repo).as_posix() + "/"
        except ValueError:
            return str(self.path)

    @property
    def description_suffix(self) -> str:
        """Appended to every function's description, so a placeholder is visible in the console."""
        return " [PLACEHOLDER ASSET: not deployable]" if self.placeholder else ""


def locate_asset(
    asset_dir: Path, *, repo: Path, manifest_name: str, build_command: str
) -> LambdaAsset:
    """The built asset when its manifest exists, else the repository's `src/` as a placeholder."""
    if (asset_dir / manifest_name).is_file():
        return LambdaAsset(asset_dir, placeholder=False, build_command=build_command, repo=repo)
    return LambdaAsset(repo / "src", placeholder=True, build_command=build_command, repo=repo)
