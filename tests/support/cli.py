"""The `analytics` command as a subprocess against a given database: the environment of this
process without AWS, Athena or lake settings, `DATABASE_URL` set, `--data-dir` appended."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

ANALYTICS = str(Path(sys.executable).with_name("analytics"))


def run_analytics(
    database_url: str, data_dir: Path, *args: str, stdin: str = ""
) -> subprocess.CompletedProcess[str]:
    """Run `analytics ARGS --data-dir DATA_DIR` on `database_url`; output captured as text."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("AWS_", "ATHENA_")) and key != "LOCAL_LAKE_DIR"
    }
    env["DATABASE_URL"] = database_url
    return subprocess.run(
        [ANALYTICS, *args, "--data-dir", str(data_dir)],
        capture_output=True,
        text=True,
        env=env,
        input=stdin,
        timeout=180,
        check=False,
    )


def only_json(done: subprocess.CompletedProcess[str]) -> Any:
    """The whole of a successful command's stdout as one JSON value (fails on anything else
    printed there)."""
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)
