"""The management API's JSON (camelCase) to and from core values.

Shape checks live here, in one private cattrs converter with strict hooks: a string is a
string (never a number turned into one), an integer is an integer (never a bool or a float),
and a list of domains is a JSON array of strings. Unknown fields and read-only fields are
refused by name. Business rules (name length, domain syntax) stay in the core.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

import cattrs
from cattrs.gen import make_dict_structure_fn, override

from analytics_core.allowance import next_period_start, used_allowance
from analytics_core.errors import InvalidRequestError
from analytics_core.rows import iso_millis
from analytics_core.sites import Account, Site, SiteChanges, SiteDraft

_T = TypeVar("_T")

SITE_FIELDS = frozenset({"name", "domains", "complianceLevel", "timezone"})
SITE_READ_ONLY = frozenset(
    {"siteId", "ownerSub", "plan", "requestAllowance", "createdAt", "updatedAt"}
)
ACCOUNT_READ_ONLY = frozenset({"cognitoSub", "createdAt", "updatedAt"})


class _ShapeError(ValueError):
    """A JSON value of the wrong type; the message is what the caller reads."""


def _strict_str(value: object, _type: object) -> str:
    if not isinstance(value, str):
        raise _ShapeError("must be a string")
    return value


def _strict_int(value: object, _type: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _ShapeError("must be an integer")
    return value


def _string_list(value: object, _type: object) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise _ShapeError("must be an array of strings")
    return list(value)


def _optional(hook: Any) -> Any:
    def structure(value: object, type_: object) -> object:
        if value is None:
            raise _ShapeError("must not be null")
        return hook(value, type_)

    return structure


_converter = cattrs.Converter(forbid_extra_keys=True)
_converter.register_structure_hook(str, _strict_str)
_converter.register_structure_hook(int, _strict_int)
_converter.register_structure_hook_func(lambda t: t == Sequence[str], _string_list)
_converter.register_structure_hook_func(lambda t: t == str | None, _optional(_strict_str))
_converter.register_structure_hook_func(lambda t: t == int | None, _optional(_strict_int))
_converter.register_structure_hook_func(
    lambda t: t == Sequence[str] | None, _optional(_string_list)
)
for _cls in (SiteDraft, SiteChanges):
    _converter.register_structure_hook(
        _cls,
        make_dict_structure_fn(
            _cls,
            _converter,
            _cattrs_forbid_extra_keys=True,
            compliance_level=override(rename="complianceLevel"),
        ),
    )

_JSON_NAMES = {"compliance_level": "complianceLevel"}


def _structure(
    body: object, cls: type[_T], allowed: frozenset[str], read_only: frozenset[str]
) -> _T:
    if not isinstance(body, Mapping):
        raise InvalidRequestError("request body must be a JSON object")
    problems: dict[str, str] = {}
    for key in body:
        if key in read_only:
            problems[str(key)] = "read-only field"
        elif key not in allowed:
            problems[str(key)] = "unknown field"
    if problems:
        raise InvalidRequestError("request has fields that cannot be set", problems)
    try:
        return _converter.structure(dict(body), cls)
    except cattrs.ClassValidationError as exc:
        raise InvalidRequestError("invalid request body", _field_problems(exc)) from None


def _field_problems(exc: cattrs.ClassValidationError) -> dict[str, str]:
    problems: dict[str, str] = {}
    with_notes, without_notes = exc.group_exceptions()
    for error, note in with_notes:
        name = _JSON_NAMES.get(note.name, note.name)
        if isinstance(error, KeyError):
            problems[name] = "required field"
        else:
            problems[name] = str(error) if isinstance(error, _ShapeError) else "invalid value"
    for error in without_notes:
        problems.setdefault("body", str(error))
    return problems


def parse_site_draft(body: object) -> SiteDraft:
    """A POST /api/sites body: name, domains, optional complianceLevel and timezone."""
    return _structure(body, SiteDraft, SITE_FIELDS, SITE_READ_ONLY)


def parse_site_changes(body: object) -> SiteChanges:
    """A PUT /api/sites/{id} body: any of name, domains, complianceLevel, timezone."""
    return _structure(body, SiteChanges, SITE_FIELDS, SITE_READ_ONLY)


def parse_account_changes(body: object) -> str:
    """A PUT /api/accounts body: the new emailNotifications value."""
    if not isinstance(body, Mapping):
        raise InvalidRequestError("request body must be a JSON object")
    problems = {
        str(key): "read-only field" if key in ACCOUNT_READ_ONLY else "unknown field"
        for key in body
        if key != "emailNotifications"
    }
    if problems:
        raise InvalidRequestError("request has fields that cannot be set", problems)
    if "emailNotifications" not in body:
        raise InvalidRequestError.for_field("emailNotifications", "required field")
    value = body["emailNotifications"]
    if not isinstance(value, str):
        raise InvalidRequestError.for_field("emailNotifications", "must be a string")
    return value


def site_json(site: Site) -> dict[str, object]:
    """A site as the API shows it."""
    return {
        "siteId": site.site_id,
        "ownerSub": site.owner_sub,
        "name": site.name,
        "domains": list(site.domains),
        "plan": site.plan,
        "requestAllowance": site.request_allowance,
        "complianceLevel": int(site.compliance_level),
        "timezone": site.timezone,
        "createdAt": iso_millis(site.created_at),
        "updatedAt": iso_millis(site.updated_at),
        "allowance": allowance_json(site),
    }


def allowance_json(site: Site) -> dict[str, object]:
    """A site's allowance period: its plan's monthly allowance, what remains and what was
    used (null without a known plan), when the period started and when the next one starts."""
    monthly = site.monthly_allowance
    return {
        "plan": site.plan,
        "monthlyAllowance": monthly,
        "remaining": site.request_allowance,
        "used": None if monthly is None else used_allowance(monthly, site.request_allowance),
        "periodStart": site.allowance_period_start.isoformat(),
        "resetsOn": next_period_start(site.allowance_period_start).isoformat(),
    }


def account_json(account: Account) -> dict[str, object]:
    """An account as the API shows it."""
    return {
        "cognitoSub": account.cognito_sub,
        "emailNotifications": account.email_notifications.value,
        "createdAt": iso_millis(account.created_at),
        "updatedAt": iso_millis(account.updated_at),
    }
