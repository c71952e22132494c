"""No e-mail or IP address is stored anywhere for a site at compliance level 0 or 1.

Three sites (levels 0, 1, 2) receive events carrying an e-mail address and IPv4/IPv6 addresses,
plain and percent-encoded, in every free text a tracker sends: pathname segments, event names,
session ids, referrers, UTM values (body and page URL), property keys and values. They go
through processIngest (imported as Lambda does) into PostgreSQL and the local Parquet lake, the
read model is folded, and then every text, varchar, array and jsonb column of every table and
every column of every lake file is scanned: nothing of levels 0 and 1, while level 2 keeps them
(which shows the scan finds what it looks for).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import psycopg
import pyarrow.parquet as pq
import pytest
from psycopg import sql
from tests.support.hostile import envelope_text
from tests.support.ingest import ACCESS_KEY, firehose_event
from tests.support.modules import lambda_module

from adapters.config import Env
from adapters.postgres.pool import Pool
from adapters.postgres.read_model import fold_pending

LEVEL_SITES = {
    0: "01JDQ7ZK3M0000000000PRXV00",
    1: "01JDQ7ZK3M0000000000PRXV01",
    2: "01JDQ7ZK3M0000000000PRXV02",
}
EMAIL = "ivan.petrov@example.com"
IPV4 = "198.51.100.23"
IPV6 = "2001:db8::7"
# What must not be found, in any case: each address, and the parts an encoding leaves intact.
NEEDLES = ("ivan.petrov", "petrov@", "petrov%40", IPV4, IPV6, "2001%3adb8")


def bodies() -> list[dict[str, Any]]:
    """Tracker bodies with the addresses in every free-text field."""
    encoded = EMAIL.replace("@", "%40")
    return [
        {
            "type": "initial",
            "session_id": "visitor-1",
            "event": "pageview",
            "pathname": f"/users/{EMAIL}/profile?ip={IPV4}",
            "referrer": f"https://mail.example.net/inbox/{EMAIL}?from={IPV4}",
            "utm": {"source": EMAIL, "medium": f"ip {IPV6}", "campaign": f"c-{IPV4}"},
            "properties": {"email": EMAIL, EMAIL: "key", "note": f"from {IPV6}", "plan": "pro"},
        },
        {
            "type": "initial",
            "session_id": EMAIL,
            "event": f"signup:{EMAIL}",
            "pathname": f"/u/{encoded}/{IPV4}",
            "referrer": f"http://{IPV4}/admin",
            "url": f"https://example.com/?utm_source={encoded}&utm_term={IPV4}&utm_content=x",
        },
        {
            "type": "event",
            "session_id": "visitor-1",
            "event": f"clicked {IPV6}",
            "pathname": f"/hosts/{IPV6}/{IPV4}",
            "properties": {"to": f"mailto:{EMAIL}", IPV4: 1},
        },
        {
            "type": "event",
            "session_id": IPV4,
            "event": "download",
            "pathname": f"/files/{encoded}.pdf",
        },
    ]


@pytest.fixture
def lake(tmp_path: Path) -> Path:
    return tmp_path / "lake"


@pytest.fixture
def module(database_url: str, lake: Path) -> Iterator[ModuleType]:
    environment = {
        Env.DATABASE_URL.value: database_url,
        Env.FIREHOSE_ACCESS_KEY.value: ACCESS_KEY,
        Env.LOCAL_LAKE_DIR.value: str(lake),
    }
    with lambda_module("entrypoints.lambdas.process_ingest", environment) as loaded:
        yield loaded


def found(text: str) -> list[str]:
    lowered = text.lower()
    return [needle for needle in NEEDLES if needle.lower() in lowered]


def database_leaks(url: str) -> dict[int, list[str]]:
    """Per level, `table.column: needle` for every stored value holding an address."""
    leaks: dict[int, list[str]] = {level: [] for level in LEVEL_SITES}
    with psycopg.connect(url, autocommit=True) as conn:
        columns = conn.execute(
            "SELECT c.table_name, c.column_name, "
            "  EXISTS (SELECT 1 FROM information_schema.columns s WHERE s.table_schema = 'public'"
            "          AND s.table_name = c.table_name AND s.column_name = 'site_id') "
            "FROM information_schema.columns c JOIN information_schema.tables t "
            "  ON t.table_schema = c.table_schema AND t.table_name = c.table_name "
            "WHERE c.table_schema = 'public' AND t.table_type = 'BASE TABLE' "
            "  AND c.data_type IN ('text', 'character varying', 'jsonb', 'json', 'ARRAY')"
        ).fetchall()
        assert len(columns) > 20  # the scan reaches the read model, not just the event tables
        for table, column, has_site in columns:
            site = sql.Identifier("site_id") if has_site else sql.SQL("NULL")
            query = sql.SQL("SELECT {}::text, {}::text FROM {} WHERE {} IS NOT NULL").format(
                site, sql.Identifier(column), sql.Identifier(table), sql.Identifier(column)
            )
            for site_id, value in conn.execute(query):
                for needle in found(value):
                    for level, level_site in LEVEL_SITES.items():
                        if site_id in (None, level_site):
                            leaks[level].append(f"{table}.{column}: {needle}")
    return leaks


def lake_leaks(root: Path) -> dict[int, list[str]]:
    """Per level, `file.column: needle` for every lake value holding an address."""
    leaks: dict[int, list[str]] = {level: [] for level in LEVEL_SITES}
    files = sorted(root.rglob("*.parquet"))
    assert files
    for path in files:
        table = pq.read_table(path).to_pylist()
        for row in table:
            level = next(lv for lv, site in LEVEL_SITES.items() if site == row["site_id"])
            for column, value in row.items():
                if value is not None:
                    leaks[level].extend(f"{path.name}.{column}: {n}" for n in found(str(value)))
    return leaks


def test_levels_0_and_1_store_no_email_or_ip_address_anywhere(
    module: ModuleType, db: Pool, database_url: str, lake: Path
) -> None:
    """After the load, the scan of every text column of every table and of every lake file
    finds no address for the level 0 and 1 sites, and finds them for the level 2 site."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        for level, site_id in LEVEL_SITES.items():
            conn.execute(
                "INSERT INTO sites (site_id, owner_sub, name, domains, compliance_level) "
                "VALUES (%s, 'owner', 'Example', ARRAY['example.com'], %s)",
                (site_id, level),
            )
    records = [
        envelope_text(100 * level + n, body, site_id=site_id)
        for level, site_id in LEVEL_SITES.items()
        for n, body in enumerate(bodies())
    ]
    response = module.handler(firehose_event(records), None)
    assert response["statusCode"] == 200, response["body"]
    with psycopg.connect(database_url) as conn:
        assert fold_pending(conn) > 0
    stored = database_leaks(database_url)
    in_lake = lake_leaks(lake)
    assert stored[0] == []
    assert stored[1] == []
    assert in_lake[0] == []
    assert in_lake[1] == []
    assert len(stored[2]) > 10
    assert len(in_lake[2]) > 10
