"""deploy/package_lambda.py: what goes into the Lambda asset, tested without downloading."""

from __future__ import annotations

import json
import tomllib
from collections.abc import Sequence
from pathlib import Path

import package_lambda
import pytest
from package_lambda import PackagingError

from tests.deploy.conftest import REPO

LOCAL_AND_DEV = {"duckdb", "pyarrow", "typer", "rich", "pgserver", "pytest", "hypothesis", "moto"}


def _fake_dist(site: Path, name: str, files: dict[str, str]) -> None:
    """Install a fake distribution the way pip lays one out (package files + dist-info)."""
    info = site / f"{name.replace('-', '_')}-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n")
    records = []
    for relative, text in files.items():
        path = site / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        records.append(f"{relative},,")
    records.append(f"{info.name}/METADATA,,")
    (info / "RECORD").write_text("\n".join(records) + "\n")


def _fake_installer(extra: Sequence[str] = ()) -> package_lambda.Installer:
    """An installer that 'installs' one tiny package per requirement, plus `extra` names."""

    def install(requirements: Sequence[str], target: Path) -> None:
        names = [package_lambda.requirement_name(r) for r in requirements] + list(extra)
        for name in names:
            module = name.replace("-", "_")
            _fake_dist(target, name, {f"{module}/__init__.py": f"# {name}\n"})

    return install


def test_selection_never_includes_tests_or_caches(tmp_path: Path) -> None:
    """Test modules, test folders, conftest files and bytecode are left out of the asset."""
    package = tmp_path / "src" / "pkg"
    files = {
        "__init__.py": "",
        "core.py": "",
        "py.typed": "",
        "data/schema.json": "{}",
        "tests/test_core.py": "",
        "tests/helpers.py": "",
        "testing/fakes.py": "",
        "sub/test_thing.py": "",
        "sub/thing_test.py": "",
        "sub/conftest.py": "",
        "sub/contest.py": "",
        "__pycache__/core.cpython-312.pyc": "",
        "stale.pyc": "",
    }
    for relative, text in files.items():
        (package / relative).parent.mkdir(parents=True, exist_ok=True)
        (package / relative).write_text(text)
    selected = package_lambda.select_source_files(tmp_path, ["src/pkg"])
    assert sorted(destination.as_posix() for _, destination in selected) == [
        "pkg/__init__.py",
        "pkg/core.py",
        "pkg/data/schema.json",
        "pkg/py.typed",
        "pkg/sub/contest.py",
    ]


def test_real_selection_is_our_three_packages_without_tests() -> None:
    """From this repository the asset takes analytics_core, adapters and entrypoints (the
    wheel's packages), the handlers included, and nothing test-like or from tests/."""
    project = package_lambda.read_project(REPO / "pyproject.toml")
    assert project.packages == ("src/analytics_core", "src/adapters", "src/entrypoints")
    selected = package_lambda.select_source_files(REPO, project.packages)
    destinations = [destination for _, destination in selected]
    assert {destination.parts[0] for destination in destinations} == {
        "analytics_core",
        "adapters",
        "entrypoints",
    }
    assert Path("adapters/config.py") in destinations
    assert Path("entrypoints/lambdas/migrate.py") in destinations
    for source, destination in selected:
        assert (REPO / "tests") not in source.parents
        assert not package_lambda.is_test_path(destination)
        assert "__pycache__" not in destination.parts
        assert destination.suffix != ".pyc"


def test_migrations_go_where_the_runner_looks() -> None:
    """Every SQL migration is copied to adapters/postgres/sql/, as the wheel does."""
    project = package_lambda.read_project(REPO / "pyproject.toml")
    assert (project.migrations_source, project.migrations_target) == (
        "sql/migrations",
        "adapters/postgres/sql",
    )
    selected = package_lambda.select_migration_files(
        REPO, project.migrations_source, project.migrations_target
    )
    expected = sorted((REPO / "sql" / "migrations").glob("*.sql"))
    assert [source for source, _ in selected] == expected
    assert [destination.as_posix() for _, destination in selected] == [
        f"adapters/postgres/sql/{path.name}" for path in expected
    ]


def test_function_files_go_where_the_runner_looks() -> None:
    """Every read-model function file is copied to adapters/postgres/sql_functions/, as the
    wheel does, where `default_functions_dir` finds them in the asset."""
    project = package_lambda.read_project(REPO / "pyproject.toml")
    assert (project.functions_source, project.functions_target) == (
        "sql/functions",
        "adapters/postgres/sql_functions",
    )
    selected = package_lambda.select_migration_files(
        REPO, project.functions_source, project.functions_target
    )
    expected = sorted((REPO / "sql" / "functions").glob("*.sql"))
    assert expected
    assert [source for source, _ in selected] == expected
    assert [destination.as_posix() for _, destination in selected] == [
        f"adapters/postgres/sql_functions/{path.name}" for path in expected
    ]


def test_a_missing_sql_folder_stops_the_build(tmp_path: Path) -> None:
    """A pyproject.toml that bundles the migrations but not the function files is refused:
    the migrate function would install no read model."""
    text = (REPO / "pyproject.toml").read_text(encoding="utf-8")
    (tmp_path / "pyproject.toml").write_text(
        text.replace('"sql/functions" = "adapters/postgres/sql_functions"\n', ""),
        encoding="utf-8",
    )
    with pytest.raises(PackagingError, match="sql/functions"):
        package_lambda.read_project(tmp_path / "pyproject.toml")


def test_requirements_are_the_project_dependencies_only() -> None:
    """The asset installs `[project] dependencies` but the command line's (typer, rich), and
    none of the local or dev extras."""
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    dependencies = pyproject["project"]["dependencies"]
    chosen = package_lambda.runtime_requirements(dependencies)
    assert chosen == [
        r for r in dependencies if package_lambda.requirement_name(r) not in {"typer", "rich"}
    ]
    assert len(chosen) == len(dependencies) - 2
    names = {package_lambda.requirement_name(requirement) for requirement in chosen}
    assert not names & LOCAL_AND_DEV
    without_sdk = package_lambda.runtime_requirements(dependencies, use_runtime_boto3=True)
    assert "boto3" not in {package_lambda.requirement_name(r) for r in without_sdk}


def test_forbidden_dependency_stops_the_build() -> None:
    """A local-only or test package among the runtime dependencies is an error, not a bundle."""
    with pytest.raises(PackagingError, match="duckdb"):
        package_lambda.runtime_requirements(["attrs>=24", "duckdb>=1.1"])


def test_pip_installs_linux_wheels_for_python_312(tmp_path: Path) -> None:
    """pip is asked for binary manylinux x86_64 wheels for CPython 3.12, into the target."""
    requirements, out = tmp_path / "req.txt", tmp_path / "out"
    command = package_lambda.pip_command(requirements, out, python="py")
    assert command[:4] == ["py", "-m", "pip", "install"]
    assert command[command.index("--target") + 1] == str(out)
    assert command[command.index("--python-version") + 1] == "3.12"
    assert command[command.index("--implementation") + 1] == "cp"
    assert "--only-binary=:all:" in command
    platforms = [command[i + 1] for i, part in enumerate(command) if part == "--platform"]
    assert "manylinux2014_x86_64" in platforms
    assert all(platform.endswith("_x86_64") for platform in platforms)
    assert command[command.index("--requirement") + 1] == str(requirements)


def test_build_lays_out_the_asset(tmp_path: Path) -> None:
    """A build (with a fake installer) holds our packages, the migrations, the dependencies
    and the manifest, and no test file of ours."""
    out = tmp_path / "lambda"
    manifest = package_lambda.build(out, repo=REPO, install=_fake_installer())
    assert (out / package_lambda.MANIFEST_NAME).is_file()
    assert json.loads((out / package_lambda.MANIFEST_NAME).read_text())["python_version"] == "3.12"
    assert (out / "entrypoints" / "lambdas" / "migrate.py").is_file()
    assert (out / "adapters" / "config.py").is_file()
    for migration in manifest.migrations:
        assert (out / migration).is_file()
    assert manifest.functions
    for function_file in manifest.functions:
        assert (out / function_file).is_file()
    assert (out / "psycopg" / "__init__.py").is_file()
    assert (out / "boto3" / "__init__.py").is_file()  # bundled by default
    ours = [
        path
        for top in ("analytics_core", "adapters", "entrypoints")
        for path in (out / top).rglob("*")
    ]
    assert ours
    assert not [path for path in ours if package_lambda.is_test_path(path.relative_to(out))]
    assert not (tmp_path / "lambda.partial").exists()


def test_build_can_leave_boto3_to_the_runtime(tmp_path: Path) -> None:
    """With --use-runtime-boto3 the SDK distributions pip pulled in are removed again."""
    out = tmp_path / "lambda"
    manifest = package_lambda.build(
        out,
        repo=REPO,
        install=_fake_installer(extra=["boto3", "botocore"]),
        use_runtime_boto3=True,
    )
    assert set(manifest.pruned) == {"boto3", "botocore"}
    assert not (out / "boto3").exists()
    assert not (out / "botocore").exists()
    assert not list(out.glob("boto3-*.dist-info"))
    assert (out / "psycopg" / "__init__.py").is_file()


def test_build_refuses_forbidden_distributions(tmp_path: Path) -> None:
    """If pip brought in test or local-only tooling, the build fails and leaves no asset."""
    out = tmp_path / "lambda"
    with pytest.raises(PackagingError, match="pytest"):
        package_lambda.build(out, repo=REPO, install=_fake_installer(extra=["pytest"]))
    assert not (out / package_lambda.MANIFEST_NAME).exists()


def test_failed_build_keeps_the_previous_asset(tmp_path: Path) -> None:
    """A failing rebuild never leaves a half-built folder in place of a complete one."""
    out = tmp_path / "lambda"
    package_lambda.build(out, repo=REPO, install=_fake_installer())

    def broken(requirements: Sequence[str], target: Path) -> None:
        raise PackagingError("pip failed with exit code 1")

    with pytest.raises(PackagingError):
        package_lambda.build(out, repo=REPO, install=broken)
    assert (out / package_lambda.MANIFEST_NAME).is_file()
