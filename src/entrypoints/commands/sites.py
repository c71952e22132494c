"""`analytics sites create|list|diagnose`: register and list sites, and see what became of
their events, from the command line."""

from __future__ import annotations

import json
import sys
from datetime import UTC
from typing import Annotated

import typer
from rich.table import Table

from analytics_core import management
from analytics_core.diagnostics import diagnose_ingest
from analytics_core.outcomes import Outcome
from analytics_core.plans import assign_plan
from analytics_core.sites import SiteDraft
from analytics_core.stats import DEFAULT_TIMEZONE
from entrypoints.api.ingest_diagnostics import diagnostics_json, outcome_key, parse_ingest_range
from entrypoints.api.schemas import site_json
from entrypoints.commands.common import (
    DEFAULT_OWNER,
    DataDirOption,
    JsonOption,
    OwnerOption,
    command_services,
    err,
    out,
)
from entrypoints.local.stack import DEFAULT_DATA_DIR

sites_app = typer.Typer(help="Register and list sites.", no_args_is_help=True)


@sites_app.command("create")
def sites_create(  # noqa: PLR0917  # typer reads options from parameters
    name: Annotated[str, typer.Argument(help="The site's name.")],
    domain: Annotated[
        list[str],
        typer.Option("--domain", "-d", help="An allowed domain (repeatable; subdomains match)."),
    ],
    compliance_level: Annotated[
        int, typer.Option(min=0, max=2, help="0 compliance required, 1 maybe, 2 not required.")
    ] = 1,
    timezone: Annotated[
        str,
        typer.Option(help="IANA time zone of the site's stats days and hours (Europe/Berlin)."),
    ] = DEFAULT_TIMEZONE,
    owner: OwnerOption = DEFAULT_OWNER,
    data_dir: DataDirOption = DEFAULT_DATA_DIR,
    as_json: JsonOption = False,  # noqa: FBT002  # a typer flag
) -> None:
    """Register a site; prints its id (or the whole site with --json)."""
    with command_services(data_dir, "analytics-sites") as services:
        site = management.create_site(
            services.sites,
            services.clock,
            services.new_id,
            owner,
            SiteDraft(
                name=name, domains=domain, compliance_level=compliance_level, timezone=timezone
            ),
        )
    if as_json:
        print(json.dumps(site_json(site), indent=2))  # noqa: T201
    else:
        print(site.site_id)  # noqa: T201  # alone on stdout, for SITE_ID=$(...)


@sites_app.command("list")
def sites_list(
    owner: OwnerOption = DEFAULT_OWNER,
    data_dir: DataDirOption = DEFAULT_DATA_DIR,
    as_json: JsonOption = False,  # noqa: FBT002  # a typer flag
) -> None:
    """The owner's sites."""
    with command_services(data_dir, "analytics-sites") as services:
        sites = management.list_sites(services.sites, owner)
    if as_json:
        print(json.dumps([site_json(s) for s in sites], indent=2))  # noqa: T201
        return
    table = Table(title=f"Sites of {owner}")
    columns = ("site id", "name", "domains", "plan", "allowance", "level", "time zone", "created")
    for column in columns:
        table.add_column(
            column,
            justify="right" if column == "allowance" else "left",
            no_wrap=column == "site id",
        )
    for site in sites:
        table.add_row(
            site.site_id,
            site.name,
            ", ".join(site.domains),
            site.plan,
            f"{site.request_allowance:,}",
            str(int(site.compliance_level)),
            site.timezone,
            site.created_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M"),
        )
    out.print(table)


@sites_app.command("diagnose")
def sites_diagnose(  # noqa: PLR0917  # typer reads options from parameters
    site_id: Annotated[str, typer.Argument(help="The site's id.")],
    start: Annotated[
        str | None, typer.Option(help="First UTC day, YYYY-MM-DD (default: 29 days before end).")
    ] = None,
    end: Annotated[
        str | None, typer.Option(help="Last UTC day, YYYY-MM-DD (default: today).")
    ] = None,
    owner: OwnerOption = DEFAULT_OWNER,
    data_dir: DataDirOption = DEFAULT_DATA_DIR,
    as_json: JsonOption = False,  # noqa: FBT002  # a typer flag
) -> None:
    """What became of the site's events per day: accepted, or dropped and why (the same as
    GET /api/sites/{id}/ingest)."""
    params = {
        name: value for name, value in (("startDate", start), ("endDate", end)) if value is not None
    }
    with command_services(data_dir, "analytics-sites") as services:
        today = services.clock().astimezone(UTC).date()
        first, last = parse_ingest_range(params, today=today)
        diagnostics = diagnose_ingest(
            owner, site_id, first, last, sites=services.sites, outcomes=services.ingest_outcomes
        )
    body = diagnostics_json(diagnostics)
    if as_json:
        print(json.dumps(body, indent=2))  # noqa: T201
        return
    keys = [outcome_key(outcome) for outcome in Outcome]
    table = Table(title=f"Ingest of {site_id}, {body['startDate']} to {body['endDate']}")
    table.add_column("day")
    for key in keys:
        table.add_column(key, justify="right")
    for day in diagnostics.days:
        table.add_row(day.day.isoformat(), *(f"{day.counts[o]:,}" for o in Outcome))
    table.add_row("total", *(f"{diagnostics.totals[o]:,}" for o in Outcome), style="bold")
    out.print(table)


@sites_app.command("delete")
def sites_delete(
    site_id: Annotated[str, typer.Argument(help="The site's id.")],
    yes: Annotated[bool, typer.Option("--yes", help="Delete without asking.")] = False,  # noqa: FBT002  # a typer flag
    owner: OwnerOption = DEFAULT_OWNER,
    data_dir: DataDirOption = DEFAULT_DATA_DIR,
) -> None:
    """Delete a site and erase all its data, hot and cold (as DELETE /api/sites/{id}). Asks
    first on a terminal; without --yes, refuses when stdin is not a terminal."""
    if not yes:
        if not sys.stdin.isatty():
            err.print("[red]error:[/red] stdin is not a terminal: pass --yes to delete")
            raise typer.Exit(code=2)
        typer.confirm(f"Delete site {site_id} and erase all its data?", abort=True)
    with command_services(data_dir, "analytics-sites") as services:
        cold_done = management.delete_site(
            services.site_deletions, services.cold_site_eraser, services.clock, owner, site_id
        )
    if cold_done:
        err.print(
            f"deleted site {site_id} and erased its data (the daily maintenance erases its cold "
            "rows once more, for late deliveries)"
        )
    else:
        err.print(
            f"deleted site {site_id}; erasing its cold data failed and is retried by "
            "`analytics partitions`"
        )


@sites_app.command("set-plan")
def sites_set_plan(
    site_id: Annotated[str, typer.Argument(help="The site's id (whoever owns it).")],
    plan: Annotated[str, typer.Argument(help="An existing plan (see `analytics plans list`).")],
    data_dir: DataDirOption = DEFAULT_DATA_DIR,
) -> None:
    """Put a site on a plan (operators only); its allowance follows from its next period."""
    with command_services(data_dir, "analytics-sites") as services:
        assign_plan(services.plans, site_id, plan)
    out.print(f"{site_id}: {plan}")
