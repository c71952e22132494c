"""The embedded PostgreSQL of the local stack: start, reuse, sharing, and running as root."""

from __future__ import annotations

import os
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from adapters.postgres.embedded import AsUser, EmbeddedPostgres, candidate_bin_dirs, find_binaries

# As root the server must run as someone else: both ways are exercised. As an ordinary user
# the binaries run directly.
MODES = ["userns", "runuser"] if os.geteuid() == 0 else ["direct"]


@pytest.fixture
def folder() -> Iterator[Path]:
    """A folder every user may enter (runuser needs that of the parents), removed after."""
    base = Path(tempfile.mkdtemp(prefix="analytics-embedded-"))
    base.chmod(0o711)
    server = EmbeddedPostgres(base / "postgres")
    yield base / "postgres"
    server.stop()
    for path in sorted(base.rglob("*"), key=lambda p: -len(p.parts)):
        if path.is_dir() and not path.is_symlink():
            path.rmdir()
        else:
            path.unlink()
    base.rmdir()


def test_binaries_are_found_on_this_machine() -> None:
    """At least one complete PostgreSQL installation is found (bundled or the machine's)."""
    assert candidate_bin_dirs()
    binaries = find_binaries()
    assert binaries.major >= 14


@pytest.mark.parametrize("mode", MODES)
def test_the_server_starts_keeps_its_data_and_stops(folder: Path, mode: str) -> None:
    """The first acquire initialises and starts a server reachable by its URL only over a
    unix socket; release stops it; the next acquire finds the data again."""
    user = {
        "direct": lambda: AsUser("direct"),
        "userns": AsUser.detect,  # root's first choice, where the kernel allows it
        "runuser": lambda: AsUser("runuser", "postgres"),
    }[mode]()
    assert user.mode == mode
    server = EmbeddedPostgres(folder, as_user=user)
    url = server.acquire()
    assert server.running_pid() is not None
    with psycopg.connect(url) as conn:
        conn.execute("CREATE TABLE kept (n int)")
        conn.execute("INSERT INTO kept VALUES (42)")
        listen = conn.execute("SHOW listen_addresses").fetchone()
    assert listen == ("",)
    assert stat.S_IMODE((folder / "data").stat().st_mode) == 0o700
    assert server.release() is True
    assert server.running_pid() is None
    again = EmbeddedPostgres(folder, as_user=user)
    with again.running() as url2, psycopg.connect(url2) as conn:
        assert conn.execute("SELECT n FROM kept").fetchall() == [(42,)]
    assert again.running_pid() is None


def test_the_last_user_stops_the_server(folder: Path) -> None:
    """Two users share one server: the first release leaves it running, the second stops it."""
    first = EmbeddedPostgres(folder)
    second = EmbeddedPostgres(folder)
    first.acquire()
    pid = first.running_pid()
    second._registered = True  # a second process, as far as the registry is concerned
    (folder / "clients" / "1").touch()  # pid 1 is alive: it stands for the other process
    assert first.release() is False
    assert second.running_pid() == pid
    (folder / "clients" / "1").unlink()
    second._registered = False
    second.acquire()
    assert second.running_pid() == pid  # reused, not restarted
    assert second.release() is True
    assert second.running_pid() is None


def test_dead_users_do_not_keep_the_server_alive(folder: Path) -> None:
    """A user that died without releasing (a killed serve) does not count."""
    server = EmbeddedPostgres(folder)
    server.acquire()
    (folder / "clients" / "999999999").touch()
    assert server.release() is True
    assert not (folder / "clients" / "999999999").exists()
