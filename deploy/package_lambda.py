"""Build the Lambda asset folder: our packages, the SQL files and Linux wheels for 3.12.

    python deploy/package_lambda.py [--out deploy/build/lambda] [--use-runtime-boto3]

The asset holds exactly:
- the packages the wheel ships (`[tool.hatch.build.targets.wheel] packages` in pyproject.toml),
  copied from `src/` without caches and without anything that looks like a test;
- the migrations (`sql/migrations/*.sql`) at `adapters/postgres/sql/` and the read model's
  function files (`sql/functions/*.sql`) at `adapters/postgres/sql_functions/`, where the
  wheel's `force-include` puts them and where the migration runner looks at run time;
- the `[project] dependencies` as manylinux wheels for CPython 3.12 on x86_64, installed by pip
  with `--platform ... --only-binary=:all:`, so the build never compiles and never picks up this
  machine's own binaries. boto3 and botocore are bundled too: the runtime has its own copies,
  but of an unknown, often older version, and pyathena pins a recent botocore.
  `--use-runtime-boto3` leaves them out (about 18 MB less zipped) when you know it is safe.

The manifest (`asset-manifest.json`) is written last: the CDK app treats a folder without it as
"not built" and refuses to deploy. The build happens in a sibling folder that replaces the
output only once complete. This is the only deploy step that uses the network (PyPI); `cdk
synth` never does.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
import tomllib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_OUT = REPO / "deploy" / "build" / "lambda"
MANIFEST_NAME = "asset-manifest.json"
PYTHON_VERSION = "3.12"
# Lambda's python3.12 runtime runs on Amazon Linux 2023 (glibc 2.34): any of these fit.
PLATFORMS = ("manylinux2014_x86_64", "manylinux_2_28_x86_64", "manylinux_2_34_x86_64")
# Provided by the python3.12 runtime; left out with --use-runtime-boto3.
RUNTIME_PROVIDED = frozenset({"boto3", "botocore", "s3transfer", "jmespath"})
# Local-only and test tooling: the build fails if any of these reaches the asset.
FORBIDDEN = frozenset(
    {
        "duckdb",
        "pyarrow",
        "typer",
        "rich",
        "pgserver",
        "pytest",
        "hypothesis",
        "moto",
        "mmdb-writer",
    }
)
# Runtime dependencies of the `analytics` command only (a plain `pip install` gives a working
# command): no handler imports them, so the asset leaves them out.
CLI_ONLY = frozenset({"typer", "rich"})
_SKIPPED_DIRS = frozenset(
    {"__pycache__", ".mypy_cache", ".pytest_cache", ".ruff_cache", ".hypothesis"}
)
_TEST_DIRS = frozenset({"tests", "test", "testing"})
_REQUIREMENT_NAME = re.compile(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)")

Installer = Callable[[Sequence[str], Path], None]
"""Installs requirement strings into a target folder (pip in production, a fake in tests)."""


class PackagingError(RuntimeError):
    """The asset cannot be built as specified (bad pyproject, forbidden dependency, pip failure)."""


@dataclass(frozen=True)
class Project:
    """What pyproject.toml says about the runtime: dependencies, packages, bundled data."""

    dependencies: tuple[str, ...]
    packages: tuple[str, ...]
    migrations_source: str
    migrations_target: str
    functions_source: str = "sql/functions"
    functions_target: str = "adapters/postgres/sql_functions"


@dataclass(frozen=True)
class Manifest:
    """What a build put into the asset; saved as `asset-manifest.json`, written last."""

    python_version: str
    platforms: tuple[str, ...]
    requirements: tuple[str, ...]
    pruned: tuple[str, ...]
    distributions: tuple[str, ...]
    packages: tuple[str, ...]
    source_files: int
    migrations: tuple[str, ...]
    functions: tuple[str, ...] = ()


def normalise(name: str) -> str:
    """A distribution name in PEP 503 normal form (`Foo_Bar` -> `foo-bar`)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def requirement_name(requirement: str) -> str:
    """The normalised distribution name of a PEP 508 requirement string."""
    match = _REQUIREMENT_NAME.match(requirement)
    if match is None:
        raise PackagingError(f"cannot read the requirement {requirement!r}")
    return normalise(match[1])


def read_project(pyproject: Path) -> Project:
    """Read the runtime dependencies and the wheel layout from pyproject.toml."""
    data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
    try:
        dependencies = tuple(data["project"]["dependencies"])
        wheel = data["tool"]["hatch"]["build"]["targets"]["wheel"]
        packages = tuple(wheel["packages"])
        force_include: dict[str, str] = dict(wheel.get("force-include", {}))
    except KeyError as exc:
        raise PackagingError(f"{pyproject} lacks {exc.args[0]!r}") from None
    sql_folders = {src: dst for src, dst in force_include.items() if src.startswith("sql/")}
    if set(sql_folders) != {"sql/migrations", "sql/functions"}:
        raise PackagingError(
            f"{pyproject} must force-include exactly sql/migrations and sql/functions"
        )
    return Project(
        dependencies,
        packages,
        "sql/migrations",
        sql_folders["sql/migrations"],
        "sql/functions",
        sql_folders["sql/functions"],
    )


def runtime_requirements(
    dependencies: Iterable[str], *, use_runtime_boto3: bool = False
) -> list[str]:
    """The requirements to install into the asset: the dependencies less what the runtime has
    and what only the command line uses."""
    chosen = []
    for requirement in dependencies:
        name = requirement_name(requirement)
        if name in CLI_ONLY:
            continue
        if name in FORBIDDEN:
            raise PackagingError(
                f"{name} is local-only or test tooling and must not be a runtime dependency"
            )
        if use_runtime_boto3 and name in RUNTIME_PROVIDED:
            continue
        chosen.append(requirement)
    return chosen


def is_test_path(relative: Path) -> bool:
    """Whether a path inside a package looks like test code (a tests folder, test_*.py, ...)."""
    if any(part in _TEST_DIRS for part in relative.parts[:-1]):
        return True
    name = relative.name
    return name == "conftest.py" or (
        name.endswith(".py") and (name.startswith("test_") or name.endswith("_test.py"))
    )


def select_source_files(repo: Path, packages: Iterable[str]) -> list[tuple[Path, Path]]:
    """(source, destination-in-asset) for every shipped file of our packages, tests excluded."""
    selected: list[tuple[Path, Path]] = []
    for package in packages:
        root = repo / package
        if not root.is_dir():
            raise PackagingError(f"package folder {root} does not exist")
        for path in sorted(root.rglob("*")):
            relative = path.relative_to(root)
            if not path.is_file() or any(part in _SKIPPED_DIRS for part in relative.parts):
                continue
            if path.suffix in {".pyc", ".pyo"} or is_test_path(relative):
                continue
            selected.append((path, Path(root.name) / relative))
    return selected


def select_migration_files(repo: Path, source: str, target: str) -> list[tuple[Path, Path]]:
    """(source, destination-in-asset) for every SQL file of `source` (the migrations, or the
    function files), in order."""
    folder = repo / source
    files = sorted(folder.glob("*.sql"))
    if not files:
        raise PackagingError(f"no SQL files found in {folder}")
    return [(path, Path(target) / path.name) for path in files]


def pip_command(
    requirements_file: Path, target: Path, *, python: str = sys.executable
) -> list[str]:
    """The pip invocation that installs Linux wheels for the Lambda runtime into `target`."""
    command = [python, "-m", "pip", "install", "--target", str(target)]
    for platform in PLATFORMS:
        command += ["--platform", platform]
    command += [
        "--implementation",
        "cp",
        "--python-version",
        PYTHON_VERSION,
        "--only-binary=:all:",
        "--no-compile",
        "--no-input",
        "--disable-pip-version-check",
        "--requirement",
        str(requirements_file),
    ]
    return command


def pip_install(requirements: Sequence[str], target: Path) -> None:
    """Install `requirements` into `target` with pip (the real installer)."""
    with tempfile.TemporaryDirectory() as scratch:
        requirements_file = Path(scratch) / "requirements.txt"
        requirements_file.write_text("\n".join(requirements) + "\n", encoding="utf-8")
        result = subprocess.run(  # noqa: S603  # a fixed pip command line, no shell
            pip_command(requirements_file, target), check=False
        )
    if result.returncode != 0:
        raise PackagingError(f"pip failed with exit code {result.returncode}")


def installed_distributions(site: Path) -> dict[str, Path]:
    """Normalised distribution name -> its .dist-info folder, for a pip --target folder."""
    found = {}
    for info in site.glob("*.dist-info"):
        metadata = info / "METADATA"
        name = None
        if metadata.is_file():
            for line in metadata.read_text(encoding="utf-8", errors="replace").splitlines():
                if line.startswith("Name:"):
                    name = line.partition(":")[2].strip()
                    break
        found[normalise(name or info.name.split("-")[0])] = info
    return found


def prune_distributions(site: Path, names: Iterable[str]) -> list[str]:
    """Remove the named distributions (their RECORD'd files and dist-info) from `site`."""
    wanted = {normalise(name) for name in names}
    removed = []
    for name, info in sorted(installed_distributions(site).items()):
        if name not in wanted:
            continue
        record = info / "RECORD"
        if record.is_file():
            for line in record.read_text(encoding="utf-8").splitlines():
                relative = line.split(",", 1)[0]
                path = (site / relative).resolve()
                if relative and path.is_relative_to(site.resolve()) and path.is_file():
                    path.unlink()
        shutil.rmtree(info, ignore_errors=True)
        removed.append(name)
    # Folders emptied by the pruning (a package's tree) go too.
    for folder in sorted((p for p in site.rglob("*") if p.is_dir()), key=lambda p: -len(p.parts)):
        if not any(folder.iterdir()):
            folder.rmdir()
    return removed


def build(
    out: Path = DEFAULT_OUT,
    *,
    repo: Path = REPO,
    install: Installer = pip_install,
    use_runtime_boto3: bool = False,
) -> Manifest:
    """Build the asset into `out` (replacing it) and return the manifest written there."""
    project = read_project(repo / "pyproject.toml")
    requirements = runtime_requirements(project.dependencies, use_runtime_boto3=use_runtime_boto3)
    sources = select_source_files(repo, project.packages)
    migrations = select_migration_files(repo, project.migrations_source, project.migrations_target)
    functions = select_migration_files(repo, project.functions_source, project.functions_target)

    staging = out.with_name(out.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    install(requirements, staging)
    pruned = prune_distributions(staging, RUNTIME_PROVIDED) if use_runtime_boto3 else []
    present = set(installed_distributions(staging))
    if forbidden := sorted(present & FORBIDDEN):
        raise PackagingError(f"forbidden distributions were installed: {', '.join(forbidden)}")
    for source, destination in [*sources, *migrations, *functions]:
        target = staging / destination
        if target.exists():
            raise PackagingError(f"{destination} would overwrite an installed file")
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target)

    manifest = Manifest(
        python_version=PYTHON_VERSION,
        platforms=PLATFORMS,
        requirements=tuple(requirements),
        pruned=tuple(pruned),
        distributions=tuple(sorted(present)),
        packages=project.packages,
        source_files=len(sources),
        migrations=tuple(destination.as_posix() for _, destination in migrations),
        functions=tuple(destination.as_posix() for _, destination in functions),
    )
    (staging / MANIFEST_NAME).write_text(
        json.dumps(asdict(manifest), indent=2) + "\n", encoding="utf-8"
    )
    shutil.rmtree(out, ignore_errors=True)
    staging.rename(out)
    return manifest


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="asset folder to (re)create")
    parser.add_argument(
        "--use-runtime-boto3",
        action="store_true",
        help="leave boto3/botocore out and use the Lambda runtime's (older) copy",
    )
    args = parser.parse_args(argv)
    try:
        manifest = build(args.out, use_runtime_boto3=args.use_runtime_boto3)
    except PackagingError as exc:
        print(f"package_lambda: {exc}", file=sys.stderr)
        return 1
    size = sum(path.stat().st_size for path in args.out.rglob("*") if path.is_file())
    print(
        f"built {args.out}: {manifest.source_files} source files, "
        f"{len(manifest.migrations)} migrations, {len(manifest.functions)} function files, "
        f"{len(manifest.distributions)} distributions, "
        f"{size / 2**20:.1f} MiB unzipped"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
