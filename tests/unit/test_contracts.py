"""Every port is held to contract tests that run against its fakes and its real adapters
(acceptance 3 of issue 17): the registry of tests/support/contracts.py, checked against the
ports, the adapters and the test modules."""

from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil
import typing
from pathlib import Path

import pytest
from tests.support.contracts import CONTRACTS, NOT_ADAPTERS, Contract

import adapters
from analytics_core import ports

REPO = Path(__file__).resolve().parents[2]


def protocols() -> dict[str, type]:
    """The `typing.Protocol` classes defined in `analytics_core.ports`, by name."""
    return {
        name: value
        for name, value in vars(ports).items()
        if inspect.isclass(value)
        and getattr(value, "_is_protocol", False)
        and value.__module__ == ports.__name__
    }


def members(port: type) -> set[str]:
    """What an adapter of `port` must have: its public methods and properties."""
    return {name for name in vars(port) if not name.startswith("_")}


def load(reference: str) -> type:
    """The class named `module:Class`."""
    module, _, name = reference.partition(":")
    found = getattr(importlib.import_module(module), name)
    assert inspect.isclass(found), reference
    return found


def adapter_classes() -> dict[str, type]:
    """Every public class defined in the `adapters` package, as `module:Class`."""
    found: dict[str, type] = {}
    for info in pkgutil.walk_packages(adapters.__path__, "adapters."):
        module = importlib.import_module(info.name)
        for name, value in vars(module).items():
            if inspect.isclass(value) and value.__module__ == info.name and name[0] != "_":
                found[f"{info.name}:{name}"] = value
    return found


def defined_tests(path: Path) -> set[str]:
    """The test functions defined at the top of a test module."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return {node.name for node in tree.body if isinstance(node, ast.FunctionDef)}


def test_every_port_has_one_contract_entry() -> None:
    """The registry names each Protocol of ports.py exactly once, and nothing else."""
    names = [contract.port for contract in CONTRACTS]
    assert len(names) == len(set(names))
    assert set(names) == set(protocols())


@pytest.mark.parametrize("contract", CONTRACTS, ids=lambda c: c.port)
def test_each_port_is_held_to_tests_run_against_a_fake_and_a_real_adapter(
    contract: Contract,
) -> None:
    """Each port lists a real adapter and a fake (or says why it has none); each listed
    adapter implements the port; each listed test exists, and the listed test modules together
    name every listed adapter, so that every adapter runs through the contract tests."""
    port = protocols()[contract.port]
    assert contract.reals
    assert contract.fakes or contract.no_fake
    assert not (contract.fakes and contract.no_fake)
    assert contract.tests
    sources: list[str] = []
    for test_id in contract.tests:
        path, _, function = test_id.partition("::")
        assert function in defined_tests(REPO / path), test_id
        sources.append((REPO / path).read_text(encoding="utf-8"))
    for reference in (*contract.fakes, *contract.reals):
        adapter = load(reference)
        missing = members(port) - set(dir(adapter))
        assert not missing, (reference, missing)
        assert any(adapter.__name__ in source for source in sources), reference


def test_every_adapter_shaped_like_a_port_is_registered() -> None:
    """A class of `adapters` that has every member of a port is listed as that port's fake or
    real adapter (or explained in NOT_ADAPTERS), so a new adapter cannot skip the contract."""
    listed = {
        (contract.port, reference)
        for contract in CONTRACTS
        for reference in (*contract.fakes, *contract.reals)
    }
    unlisted = []
    for reference, cls in adapter_classes().items():
        for name, port in protocols().items():
            shaped = members(port) <= set(dir(cls))
            if shaped and (name, reference) not in listed and (name, reference) not in NOT_ADAPTERS:
                unlisted.append((name, reference))
    assert unlisted == []


def test_ports_are_protocols_with_members() -> None:
    """The meta-test sees the ports: at least the ones the core started with, each with a
    member to check."""
    found = protocols()
    assert {"SiteRepository", "EventStore", "StatsReader", "ReadModel"} <= set(found)
    assert all(members(port) for port in found.values())
    assert all(issubclass(port, typing.Protocol) for port in found.values())  # type: ignore[arg-type]
