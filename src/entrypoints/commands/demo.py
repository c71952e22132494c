"""`analytics demo`: realistic traffic through the real ingest path (collect -> stream ->
processIngest)."""

from __future__ import annotations

import os
import random
from datetime import UTC, datetime, timedelta
from typing import Annotated

import typer

from adapters.local.firehose import MIB, Buffering, LocalFirehoseStream, Retry
from adapters.postgres.allowances import PostgresAllowances
from analytics_core import management
from analytics_core.sites import SiteDraft
from entrypoints import bootstrap
from entrypoints.api import collect, firehose_endpoint
from entrypoints.commands.common import (
    DEFAULT_OWNER,
    DataDirOption,
    OwnerOption,
    command_services,
    out,
    progress_bars,
)
from entrypoints.local import demo as demo_traffic
from entrypoints.local.stack import DEFAULT_DATA_DIR, DataDir


def demo(  # noqa: PLR0917  # typer reads options from parameters
    days: Annotated[int, typer.Option(min=1, max=365, help="Spread the traffic over N days.")] = 7,
    events: Annotated[int, typer.Option(min=1, help="About this many tracker requests.")] = 5000,
    site: Annotated[
        str | None, typer.Option(help="Send to this site (default: a 'Demo site' of the owner).")
    ] = None,
    domain: Annotated[str, typer.Option(help="The demo site's domain.")] = "demo.example.com",
    seed: Annotated[int, typer.Option(help="Random seed (same seed, same traffic).")] = 1,
    owner: OwnerOption = DEFAULT_OWNER,
    data_dir: DataDirOption = DEFAULT_DATA_DIR,
) -> None:
    """Realistic traffic through the real ingest path (collect -> stream -> processIngest)."""
    rng = random.Random(seed)  # noqa: S311  # demo data, not cryptography
    env = dict(os.environ)
    env.setdefault("FIREHOSE_ACCESS_KEY", f"demo-{rng.getrandbits(64):x}")
    stream = LocalFirehoseStream(
        None,
        access_key=env["FIREHOSE_ACCESS_KEY"],
        failures_dir=DataDir(data_dir).failures,
        buffering=Buffering(size_bytes=3 * MIB, interval_s=3600),
        retry=Retry(duration_s=10.0),
    )
    with command_services(
        data_dir, "analytics-demo", environ=env, ingest_stream=stream
    ) as services:
        site_id, site_domain = _demo_site(services, owner, site, domain)
        allowance = PostgresAllowances(services.pool).ensure_at_least(site_id, events * 2)
        process_ingest = firehose_endpoint.make_handler(services)
        stream.connect(lambda event: process_ingest(event, None))
        clock = demo_traffic.SettableClock(datetime.now(UTC))
        collect_services = bootstrap.build(
            services.settings, application="analytics-demo", clock=clock, ingest_stream=stream
        )
        requests = demo_traffic.demo_traffic(
            rng, events=events, days=days, now=clock.now, site_domain=site_domain
        )
        progress = progress_bars()
        task = progress.add_task("sending", total=len(requests))
        with progress:
            report = demo_traffic.send_demo(
                requests,
                collect=collect.make_handler(collect_services),
                clock=clock,
                flush=stream.flush,
                site_id=site_id,
                site_domain=site_domain,
                on_progress=lambda n: progress.advance(task, n),
            )
        stream.close()
    rate = report.sent / report.seconds if report.seconds else 0.0
    out.print(
        f"sent {report.sent:,} requests to site {site_id} ({site_domain}) over {days} day(s) "
        f"in {report.seconds:.1f}s ({rate:,.0f}/s); answers {dict(report.statuses)}; "
        f"allowance {allowance:,}",
        highlight=False,
        soft_wrap=True,
    )
    out.print(
        f"try: analytics query {site_id} --start {datetime.now(UTC).date() - timedelta(days=days)}",
        highlight=False,
        soft_wrap=True,
    )


def _demo_site(
    services: bootstrap.Services, owner: str, site_id: str | None, domain: str
) -> tuple[str, str]:
    if site_id is not None:
        found = management.get_site(services.sites, owner, site_id)
        return found.site_id, found.domains[0]
    for existing in management.list_sites(services.sites, owner):
        if existing.name == "Demo site":
            return existing.site_id, existing.domains[0]
    created = management.create_site(
        services.sites,
        services.clock,
        services.new_id,
        owner,
        SiteDraft(name="Demo site", domains=[domain], compliance_level=1),
    )
    return created.site_id, created.domains[0]
