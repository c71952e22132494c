"""`analytics plans list|set`: the plans and their monthly allowances (operators only; the
sites API never changes a plan). `analytics sites set-plan` puts a site on one."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.table import Table

from analytics_core import plans as core
from analytics_core.allowance import Plan
from entrypoints.commands.common import DataDirOption, JsonOption, command_services, out
from entrypoints.local.stack import DEFAULT_DATA_DIR

plans_app = typer.Typer(help="Plans and their monthly allowances.", no_args_is_help=True)


def plan_json(plan: Plan) -> dict[str, object]:
    """A plan as the commands print it."""
    return {"plan": plan.plan, "monthlyAllowance": plan.monthly_allowance}


@plans_app.command("list")
def plans_list(
    data_dir: DataDirOption = DEFAULT_DATA_DIR,
    as_json: JsonOption = False,  # noqa: FBT002  # a typer flag
) -> None:
    """Every plan with its monthly allowance."""
    with command_services(data_dir, "analytics-plans") as services:
        plans = services.plans.list_plans()
    if as_json:
        print(json.dumps([plan_json(p) for p in plans], indent=2))  # noqa: T201
        return
    table = Table(title="Plans")
    table.add_column("plan")
    table.add_column("monthly allowance", justify="right")
    for plan in plans:
        table.add_row(plan.plan, f"{plan.monthly_allowance:,}")
    out.print(table)


@plans_app.command("set")
def plans_set(
    plan: Annotated[str, typer.Argument(help="The plan's name (created when new).")],
    monthly_allowance: Annotated[
        int, typer.Option("--monthly-allowance", min=0, help="Events per site and month.")
    ],
    data_dir: DataDirOption = DEFAULT_DATA_DIR,
    as_json: JsonOption = False,  # noqa: FBT002  # a typer flag
) -> None:
    """Create a plan or change its monthly allowance; its sites get it from their next
    period (the first of the month)."""
    with command_services(data_dir, "analytics-plans") as services:
        saved = core.save_plan(services.plans, plan, monthly_allowance)
    if as_json:
        print(json.dumps(plan_json(saved), indent=2))  # noqa: T201
    else:
        out.print(f"{saved.plan}: {saved.monthly_allowance:,} a month")
