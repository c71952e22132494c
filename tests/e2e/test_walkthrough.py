"""The README's local walkthrough (its "Run it locally" section) works as written, by every
route it offers.

The test turns the walkthrough's `sh` blocks into one bash script and runs it in an empty
folder with the project's `analytics` on PATH. HTML comments steer it: `walkthrough: skip`
(the next block is not run: installing, serving a page for a browser), `walkthrough: serve`
(the next block runs in the background, as in its own terminal), `walkthrough: wait-log TEXT`
(wait until the stack has logged TEXT), `walkthrough: stop-serve` (Ctrl-C), `walkthrough:
route NAME` (the next block is one of several alternatives, such as creating the site with
curl or with the CLI: the script of route NAME runs it, the others leave it out). The whole
walkthrough runs once per route. The only changes made to the commands: a free port instead
of 8000, and a shorter buffering interval and retry duration for `analytics serve`, so that
the test does not wait for the defaults.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from adapters.postgres.embedded import EmbeddedPostgres
from tests.e2e.browser import free_port
from tests.e2e.stack import clean_environ

pytestmark = pytest.mark.slow

README = Path(__file__).resolve().parents[2] / "README.md"
SECTION = "## Run it locally in five minutes"
ROUTES = ("curl", "cli")
"""The alternatives of step 2 (create a site): the API with curl, or the CLI."""
_MARKER = re.compile(r"<!--\s*walkthrough:\s*(?P<action>[a-z-]+)\s*(?P<arg>.*?)\s*-->")
PRELUDE = r"""
set -euo pipefail
SERVE_LOG="$PWD/serve.log"
SERVE_PID=""
trap '[ -n "$SERVE_PID" ] && kill -INT "$SERVE_PID" 2>/dev/null; true' EXIT
wait_for_log() {
  for _ in $(seq 1 900); do
    grep -q -- "$1" "$SERVE_LOG" && return 0
    if [ -n "$SERVE_PID" ] && ! kill -0 "$SERVE_PID" 2>/dev/null; then break; fi
    sleep 0.1
  done
  echo "walkthrough: gave up waiting for '$1'" >&2; cat "$SERVE_LOG" >&2; return 1
}
stop_serve() {
  kill -INT "$SERVE_PID"; wait "$SERVE_PID"; SERVE_PID=""
}
"""


def walkthrough_routes(markdown: str) -> list[str]:
    """The route names of the walkthrough's alternative blocks, in order of appearance."""
    return [m["arg"] for m in _MARKER.finditer(markdown) if m["action"] == "route"]


def walkthrough_script(markdown: str, port: int, route: str) -> str:
    """The bash script of the walkthrough by `route` (see the module docstring)."""
    lines = markdown.splitlines()
    script = [PRELUDE]
    pending: str | None = None
    chosen = True
    index = 0
    while index < len(lines):
        line = lines[index]
        marker = _MARKER.search(line)
        if marker:
            action, arg = marker["action"], marker["arg"]
            if action == "wait-log":
                script.append(f"wait_for_log {arg!r}")
            elif action == "stop-serve":
                script.append("stop_serve")
            elif action == "route":
                pending, chosen = "route", arg == route
            else:
                pending = action
        elif line.strip() == "```sh":
            block: list[str] = []
            index += 1
            while lines[index].strip() != "```":
                block.append(lines[index])
                index += 1
            text = "\n".join(block).replace("127.0.0.1:8000", f"127.0.0.1:{port}")
            if pending == "serve":
                command = text.strip().replace(
                    "analytics serve",
                    f"analytics serve --port {port} --buffer-seconds 0.5 --retry-seconds 0.5",
                )
                script.append(f'{command} > "$SERVE_LOG" 2>&1 &\nSERVE_PID=$!')
                script.append("wait_for_log 'listening on'")
            elif pending != "skip" and chosen:
                script.append(text)
            pending, chosen = None, True
        index += 1
    return "\n".join(script) + "\n"


def walkthrough_markdown() -> str:
    """The README's walkthrough section: from its heading to the next section's."""
    text = README.read_text(encoding="utf-8")
    start = text.index(SECTION)
    end = text.find("\n## ", start + len(SECTION))
    return text[start : end if end != -1 else len(text)]


def test_the_walkthrough_offers_both_routes_of_step_2() -> None:
    """Step 2 has exactly one curl block and one CLI block, each marked as a route."""
    assert sorted(walkthrough_routes(walkthrough_markdown())) == sorted(ROUTES)


@pytest.mark.parametrize("route", ROUTES)
def test_the_walkthrough_parses_into_every_step(route: str) -> None:
    """By each route the walkthrough starts the stack, creates the site that route's way,
    stops the stack, and runs the commands it promises."""
    script = walkthrough_script(walkthrough_markdown(), 18000, route)
    assert "analytics serve --port 18000" in script
    assert "stop_serve" in script
    assert "wait_for_log 'batch backed up for replay'" in script
    for command in ("analytics sites list", "analytics query", "analytics replay", "/ingest?"):
        assert command in script
    via_curl = "SITE_ID=$(curl -s -X POST http://127.0.0.1:18000/api/sites"
    via_cli = "SITE_ID=$(analytics sites create"
    assert (via_curl in script, via_cli in script) == (route == "curl", route == "cli")
    assert "make install" not in script  # skipped: the test runs in the installed venv


@pytest.mark.parametrize("route", ROUTES)
def test_the_local_walkthrough_works_as_written(tmp_path: Path, route: str) -> None:
    """Start, create a site (by curl or by the CLI), send events with curl, query, cause an
    outage, replay: every command succeeds and the numbers come out as the walkthrough says."""
    port = free_port()
    script = tmp_path / "walkthrough.sh"
    script.write_text(walkthrough_script(walkthrough_markdown(), port, route))
    bin_dir = str(Path(sys.executable).parent)
    env = clean_environ(PATH=f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}", COLUMNS="160")
    try:
        result = subprocess.run(
            ["bash", str(script)],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
    finally:
        EmbeddedPostgres(tmp_path / ".analytics" / "postgres").stop()
    log = (tmp_path / "serve.log").read_text() if (tmp_path / "serve.log").exists() else ""
    assert result.returncode == 0, f"{result.stdout}\n{result.stderr}\n--- serve ---\n{log}"
    out = result.stdout
    assert out.count("202") >= 4  # three pageviews, then the one sent during the outage
    assert "batch delivered" in log
    assert "batch backed up for replay" in log
    assert "outcome: accepted" in out  # replay's summary table
    assert "/outage" in out  # the replayed event, in the last query's breakdown
    assert "/pricing" in out
