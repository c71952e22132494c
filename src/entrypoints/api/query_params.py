"""The query string of `GET /api/query` read into a `StatsQuery`: every problem named, as a
400 (docs/query-api.md). An edge format, so it lives at the edge; the rules it applies (how
many days, sites, filters) are the core's (`analytics_core.stats`).

API Gateway joins a repeated parameter's values with commas, so `siteId=a&siteId=b` and
`siteId=a,b` mean the same.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Mapping
from datetime import date, timedelta
from enum import StrEnum
from typing import TypeVar

from analytics_core.errors import InvalidRequestError
from analytics_core.ids import is_ulid
from analytics_core.stats import (
    ALTERNATIVES_SEPARATOR,
    CONVERSION_METRICS,
    DEFAULT_LIMIT,
    DEFAULT_METRICS,
    EARLIEST_DATE,
    MAX_ALTERNATIVES,
    MAX_FILTER_VALUE_LENGTH,
    MAX_FILTERS,
    MAX_GOAL_LENGTH,
    MAX_HOURLY_RANGE_DAYS,
    MAX_LIMIT,
    MAX_RANGE_DAYS,
    MAX_SITES,
    PROPERTY_PREFIX,
    Compare,
    Dimension,
    Field,
    Filter,
    Interval,
    Metric,
    Operator,
    StatsQuery,
    parse_field,
)


def parse_stats_query(params: Mapping[str, str], *, today: date) -> StatsQuery:
    """The query of `GET /api/query`'s parameters; `InvalidRequestError` naming every bad one.
    Dates run from 2000-01-01 to a year after `today` (UTC)."""
    problems: dict[str, str] = {}
    for name in params:
        if name not in _PARAMETERS:
            problems[str(name)] = "unknown parameter"

    def field(name: str, parse: Callable[[str], _T], default: _T) -> _T:
        raw = params.get(name)
        if raw is None:
            return default
        try:
            return parse(raw)
        except _ProblemError as problem:
            problems[name] = str(problem)
            return default

    no_sites: tuple[str, ...] = ()
    no_filters: tuple[Filter, ...] = ()
    site_ids = field("siteId", _parse_site_ids, no_sites)
    if "siteId" not in params:
        problems["siteId"] = "required parameter"
    parse_date = functools.partial(_parse_date, latest=_a_year_after(today))
    start = field("startDate", parse_date, None)
    end = field("endDate", parse_date, None)
    for name in ("startDate", "endDate"):
        if name not in params:
            problems[name] = "required parameter"
    metrics = field("metrics", _parse_metrics, DEFAULT_METRICS)
    group_by = field("groupBy", _parse_group_by, None)
    interval = field("interval", _enum_parser(Interval, "interval"), None)
    filters = field("filters", _parse_filters, no_filters)
    limit = field("limit", _parse_limit, DEFAULT_LIMIT)
    compare = field("compare", _enum_parser(Compare, "comparison"), None)
    goal = field("goal", _parse_goal, None)
    _check_metric_needs(problems, metrics, goal, group_by)
    if start is not None and end is not None:
        days = (end - start).days + 1
        if end < start:
            problems["endDate"] = "must not be before startDate"
        elif days > MAX_RANGE_DAYS:
            problems["endDate"] = f"the range covers at most {MAX_RANGE_DAYS} days"
        elif interval is Interval.HOUR and days > MAX_HOURLY_RANGE_DAYS:
            problems["interval"] = f"hour allows a range of at most {MAX_HOURLY_RANGE_DAYS} days"
        elif compare is not None and start - timedelta(days=days) < EARLIEST_DATE:
            # Refused rather than clamped: a shorter previous range would compare unlike
            # lengths without saying so.
            problems["compare"] = (
                f"the previous period would start before {EARLIEST_DATE.isoformat()}"
            )
    if problems:
        raise InvalidRequestError("invalid query", problems)
    assert start is not None  # noqa: S101  # the problems above cover None
    assert end is not None  # noqa: S101
    return StatsQuery(
        site_ids=site_ids,
        start_date=start,
        end_date=end,
        metrics=metrics,
        group_by=group_by,
        interval=interval,
        filters=filters,
        limit=limit,
        compare=compare,
        goal=goal,
    )


def _check_metric_needs(
    problems: dict[str, str], metrics: tuple[Metric, ...], goal: str | None, group_by: Field | None
) -> None:
    """`goal` goes with a conversion metric and the reverse; `percentage` with `groupBy`."""
    converting = [m.value for m in metrics if m in CONVERSION_METRICS]
    if "goal" not in problems:
        if goal is not None and not converting:
            problems["goal"] = "goal needs the metric conversions or conversion_rate in metrics"
        elif goal is None and converting:
            problems["goal"] = f"required with the metric {converting[0]} (the goal's event name)"
    if Metric.PERCENTAGE in metrics and group_by is None and "groupBy" not in problems:
        problems["metrics"] = "percentage is a breakdown metric: it needs groupBy"


_PARAMETERS = frozenset(
    {
        "siteId",
        "startDate",
        "endDate",
        "metrics",
        "groupBy",
        "interval",
        "filters",
        "limit",
        "compare",
        "goal",
    }
)


_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


_LIMIT = re.compile(r"[0-9]{1,4}")


# Values never need these, and they are the material of injection attempts: refused outright
# (filter values are bound as parameters anyway; this makes attempts loud instead of empty).
_FORBIDDEN_IN_VALUES = ("'", '"', "`", "\\", ";", "--", "/*", "*/")


class _ProblemError(ValueError):
    """What is wrong with one parameter; the message is what the caller reads."""


_T = TypeVar("_T")


_E = TypeVar("_E", bound=StrEnum)


def _split(raw: str) -> list[str]:
    items = [item.strip() for item in raw.split(",")]
    if any(not item for item in items):
        raise _ProblemError("empty item in a comma-separated list")
    return items


def _parse_site_ids(raw: str) -> tuple[str, ...]:
    ids = list(dict.fromkeys(_split(raw)))
    bad = [item for item in ids if not is_ulid(item)]
    if bad:
        raise _ProblemError("each siteId must be a site id (a ULID)")
    if len(ids) > MAX_SITES:
        raise _ProblemError(f"at most {MAX_SITES} sites")
    return tuple(ids)


def _a_year_after(day: date) -> date:
    try:
        return day.replace(year=day.year + 1)
    except ValueError:  # 29 February
        return day.replace(year=day.year + 1, day=28)


def _parse_date(raw: str, *, latest: date) -> date:
    if not _DATE.fullmatch(raw):
        raise _ProblemError("must be a date YYYY-MM-DD")
    try:
        parsed = date.fromisoformat(raw)
    except ValueError:
        raise _ProblemError("must be a date YYYY-MM-DD") from None
    if not EARLIEST_DATE <= parsed <= latest:
        raise _ProblemError(
            f"must be a date from {EARLIEST_DATE.isoformat()} to {latest.isoformat()}"
        )
    return parsed


def _parse_metrics(raw: str) -> tuple[Metric, ...]:
    names = _split(raw)
    unknown = [name for name in names if name not in Metric.__members__.values()]
    if unknown:
        raise _ProblemError(f"unknown metric; use {', '.join(m.value for m in Metric)}")
    return tuple(dict.fromkeys(Metric(name) for name in names))


def _enum_parser(enum: type[_E], what: str) -> Callable[[str], _E]:
    def parse(raw: str) -> _E:
        try:
            return enum(raw)
        except ValueError:
            choices = ", ".join(member.value for member in enum)
            raise _ProblemError(f"unknown {what}; use one of {choices}") from None

    return parse


def _parse_limit(raw: str) -> int:
    if not _LIMIT.fullmatch(raw) or not 1 <= int(raw) <= MAX_LIMIT:
        raise _ProblemError(f"must be an integer from 1 to {MAX_LIMIT}")
    return int(raw)


_FIELD_CHOICES = ", ".join(d.value for d in Dimension) + f", {PROPERTY_PREFIX}<key>"


def _parse_field(name: str, what: str) -> Field:
    try:
        return parse_field(name)
    except ValueError as exc:
        if name.startswith(PROPERTY_PREFIX):
            raise _ProblemError(f"invalid property {what}: {exc}") from None
        raise _ProblemError(f"unknown {what}; use one of {_FIELD_CHOICES}") from None


def _parse_group_by(raw: str) -> Field:
    return _parse_field(raw, "dimension")


def _check_value(value: str, what: str) -> str:
    if not value:
        raise _ProblemError(f"{what} must not be empty")
    if len(value) > MAX_FILTER_VALUE_LENGTH:
        raise _ProblemError(f"{what} has at most {MAX_FILTER_VALUE_LENGTH} characters")
    if any(not ch.isprintable() for ch in value) or any(s in value for s in _FORBIDDEN_IN_VALUES):
        raise _ProblemError(
            f"{what} must not contain control characters, quotes, backslashes, "
            "semicolons or comment markers"
        )
    return value


def _parse_goal(raw: str) -> str:
    if len(raw) > MAX_GOAL_LENGTH:
        raise _ProblemError(f"a goal has at most {MAX_GOAL_LENGTH} characters")
    return _check_value(raw, "a goal")


def _parse_filters(raw: str) -> tuple[Filter, ...]:
    parts = raw.split(";")
    if len(parts) > MAX_FILTERS:
        raise _ProblemError(f"at most {MAX_FILTERS} filters")
    return tuple(_parse_filter(part) for part in parts)


def _parse_filter(text: str) -> Filter:
    positions = [(text.find(op.value), op) for op in Operator if op.value in text]
    if not positions:
        operators = ", ".join(op.value for op in Operator)
        raise _ProblemError(
            f"each filter must look like dimension<operator>value with an operator of "
            f"{operators} (alternatives as a|b)"
        )
    position, operator = min(positions, key=lambda found: found[0])
    name, value = text[:position].strip(), text[position + len(operator.value) :]
    dimension = _parse_field(name, "filter dimension")
    alternatives = value.split(ALTERNATIVES_SEPARATOR)
    if len(alternatives) > MAX_ALTERNATIVES:
        raise _ProblemError(f"a filter has at most {MAX_ALTERNATIVES} alternatives")
    values = tuple(dict.fromkeys(_check_value(item, "a filter value") for item in alternatives))
    return Filter(dimension, operator, values)
