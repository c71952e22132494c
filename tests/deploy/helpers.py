"""Small readers of a synthesised CloudFormation template, shared by the deploy tests."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

Resources = dict[str, dict[str, Any]]


def of_type(resources: Resources, resource_type: str) -> Resources:
    """The resources of one CloudFormation type."""
    return {key: value for key, value in resources.items() if value["Type"] == resource_type}


def as_list(value: Any) -> list[Any]:
    """A CloudFormation scalar-or-list value as a list."""
    return value if isinstance(value, list) else [value]


def function_by_handler(resources: Resources, handler: str) -> tuple[str, dict[str, Any]]:
    """The (logical id, properties) of the one Lambda function with this handler string."""
    found = [
        (key, value["Properties"])
        for key, value in of_type(resources, "AWS::Lambda::Function").items()
        if value["Properties"].get("Handler") == handler
    ]
    assert len(found) == 1, f"expected one function with handler {handler}, found {len(found)}"
    return found[0]


def role_id(function_properties: dict[str, Any]) -> str:
    """The logical id of a function's execution role."""
    role = function_properties["Role"]
    assert "Fn::GetAtt" in role, f"role is not defined in this stack: {role}"
    return str(role["Fn::GetAtt"][0])


def role_statements(resources: Resources, role: str) -> list[dict[str, Any]]:
    """Every IAM statement granted to a role: inline policies and attached AWS::IAM::Policy."""
    statements: list[dict[str, Any]] = []
    for policy in resources[role]["Properties"].get("Policies", []):
        statements += policy["PolicyDocument"]["Statement"]
    for value in of_type(resources, "AWS::IAM::Policy").values():
        if {"Ref": role} in value["Properties"].get("Roles", []):
            statements += value["Properties"]["PolicyDocument"]["Statement"]
    return statements


def actions(statements: Iterable[dict[str, Any]]) -> set[str]:
    """The union of the actions of `statements`."""
    return {action for statement in statements for action in as_list(statement["Action"])}


def statements_with_action(
    statements: Iterable[dict[str, Any]], action: str
) -> list[dict[str, Any]]:
    """The statements that grant `action`."""
    return [statement for statement in statements if action in as_list(statement["Action"])]


def ref(logical_id: str) -> dict[str, str]:
    """A CloudFormation Ref."""
    return {"Ref": logical_id}


def get_att(logical_id: str, attribute: str) -> dict[str, list[str]]:
    """A CloudFormation Fn::GetAtt."""
    return {"Fn::GetAtt": [logical_id, attribute]}


def depends_on(resource: dict[str, Any]) -> set[str]:
    """The logical ids a resource explicitly depends on."""
    return set(as_list(resource.get("DependsOn", [])))


def flatten_strings(value: Any) -> str:
    """A CloudFormation expression as text: strings concatenated, pseudo parameters as
    `${AWS::Region}`, other references as `${LogicalId}` (for ARN checks)."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and set(value) == {"Ref"}:
        return "${" + str(value["Ref"]) + "}"
    if isinstance(value, list):
        return "".join(flatten_strings(item) for item in value)
    if isinstance(value, dict):
        return "".join(flatten_strings(item) for item in value.values())
    return ""
