"""An embedded PostgreSQL server for the local stack, kept in a folder of its own.

`EmbeddedPostgres(folder)` initialises a cluster in `folder` on first use, starts it when it is
not running, and hands out a connection string for its `analytics` database. The server listens
on a unix socket only (no TCP port, so it never collides with another PostgreSQL on 5432); the
socket lives in the cluster's 0700 folder, which is why trust authentication is safe here: only
the folder's owner (and root) can reach it.

Several processes may use one server at once (`analytics serve` and an `analytics replay` beside
it). Each registers itself while it uses the server; whoever releases it last stops it, so the
server runs exactly as long as somebody needs it and the data stays for the next start. Start and
stop are serialised with a file lock.

PostgreSQL refuses to run as root. As root the server runs as an unprivileged user inside a
user namespace (`unshare --user --map-user=<uid>`): inside, the process has an ordinary user id
and passes PostgreSQL's check; outside, it is still the caller, so the folder keeps its owner
and needs no loosened permissions anywhere up the path. Where user namespaces are not allowed,
it falls back to `runuser -u postgres`, which needs the folder's parents to be traversable by
that user. As any other user the binaries simply run as that user.

Binaries: those bundled with the `pgserver` package when it is installed, else the machine's
(`pg_config --bindir`, `/usr/lib/postgresql/<N>/bin`, PATH). A cluster is always started with
binaries of the major version that created it.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import importlib.util
import logging
import os
import pwd
import re
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import attrs
import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo

from adapters.config import Env
from analytics_core.errors import ConfigurationError, StoreUnavailableError

logger = logging.getLogger(__name__)

DATABASE_NAME = "analytics"
SUPERUSER = "postgres"
START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 60.0
# Unix socket paths are limited to 107 bytes on Linux; PostgreSQL appends "/.s.PGSQL.5432".
_MAX_SOCKET_DIR = 90
_VERSION = re.compile(r"\(PostgreSQL\)\s+(\d+)")
_POLL_S = 0.05


def _default_runner(argv: Sequence[str], timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603  # fixed binaries, arguments built here
        list(argv), capture_output=True, text=True, timeout=timeout, check=False
    )


Runner = Callable[[Sequence[str], float], subprocess.CompletedProcess[str]]


@attrs.frozen
class Binaries:
    """A PostgreSQL installation: the folder holding initdb, pg_ctl and postgres."""

    bin_dir: Path
    major: int

    @classmethod
    def at(cls, bin_dir: Path) -> Binaries | None:
        """The installation in `bin_dir`, if it is a complete one."""
        postgres = bin_dir / "postgres"
        if not all((bin_dir / name).is_file() for name in ("initdb", "pg_ctl", "postgres")):
            return None
        try:
            result = _default_runner([str(postgres), "--version"], 10.0)
        except (OSError, subprocess.SubprocessError):
            return None
        match = _VERSION.search(result.stdout)
        if result.returncode != 0 or match is None:
            return None
        return cls(bin_dir, int(match[1]))


def candidate_bin_dirs() -> list[Path]:
    """Where PostgreSQL binaries may be, best first (bundled, then the machine's)."""
    candidates: list[Path] = []
    spec = importlib.util.find_spec("pgserver")
    if spec is not None and spec.submodule_search_locations:
        candidates.extend(
            Path(location) / "pginstall" / "bin" for location in spec.submodule_search_locations
        )
    pg_config = shutil.which("pg_config")
    if pg_config is not None:
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            result = _default_runner([pg_config, "--bindir"], 10.0)
            if result.returncode == 0 and result.stdout.strip():
                candidates.append(Path(result.stdout.strip()))
    debian = Path("/usr/lib/postgresql")
    if debian.is_dir():
        versions = [p for p in debian.iterdir() if p.name.isdigit()]
        candidates.extend(p / "bin" for p in sorted(versions, key=lambda p: -int(p.name)))
    initdb = shutil.which("initdb")
    if initdb is not None:
        candidates.append(Path(initdb).parent)
    unique: list[Path] = []
    for candidate in candidates:
        if candidate not in unique:
            unique.append(candidate)
    return unique


def find_binaries(major: int | None = None, candidates: Sequence[Path] | None = None) -> Binaries:
    """The first complete installation (of major version `major`, when given)."""
    for bin_dir in candidate_bin_dirs() if candidates is None else candidates:
        found = Binaries.at(bin_dir)
        if found is not None and (major is None or found.major == major):
            return found
    wanted = f"PostgreSQL {major} " if major is not None else "PostgreSQL "
    raise ConfigurationError(
        Env.DATABASE_URL.value,
        f"no {wanted}binaries found for the embedded database (install the 'local' extra, which "
        f"brings pgserver, or PostgreSQL itself), or set {Env.DATABASE_URL.value}",
    )


class AsUser:
    """How the server's commands are run: directly, or as an unprivileged user when root."""

    def __init__(self, mode: str, user: str | None = None) -> None:
        if mode not in {"direct", "userns", "runuser"}:
            raise ValueError(f"unknown mode {mode!r}")
        self.mode = mode
        self.user = user

    @classmethod
    def detect(cls, runner: Runner = _default_runner) -> AsUser:
        """Direct for an ordinary user; for root, a user namespace when the kernel allows
        one, else `runuser` to the `postgres` account."""
        if os.geteuid() != 0:
            return cls("direct")
        user = _unprivileged_account()
        unshare = shutil.which("unshare")
        if unshare is not None:
            probe = runner([unshare, *_userns_flags(user), "true"], 10.0)
            if probe.returncode == 0:
                return cls("userns", user)
        if shutil.which("runuser") is not None and _has_account(SUPERUSER):
            return cls("runuser", SUPERUSER)
        raise ConfigurationError(
            Env.DATABASE_URL.value,
            "PostgreSQL refuses to run as root, and neither user namespaces (unshare) nor "
            f"runuser to a '{SUPERUSER}' account are available here; run as an ordinary user "
            f"or set {Env.DATABASE_URL.value}",
        )

    def argv(self, command: Sequence[str]) -> list[str]:
        """`command` wrapped so that it runs as the chosen user."""
        if self.mode == "userns":
            assert self.user is not None  # noqa: S101  # set by detect()
            return ["unshare", *_userns_flags(self.user), *command]
        if self.mode == "runuser":
            assert self.user is not None  # noqa: S101
            return ["runuser", "-u", self.user, "--", *command]
        return list(command)

    def prepare(self, folder: Path) -> None:
        """Give the server's user the folder (only `runuser` needs a change of owner)."""
        if self.mode != "runuser":
            return
        assert self.user is not None  # noqa: S101
        account = pwd.getpwnam(self.user)
        for parent in folder.resolve().parents:
            if not parent.stat().st_mode & 0o001:
                raise ConfigurationError(
                    Env.DATABASE_URL.value,
                    f"the embedded database runs as '{self.user}', who cannot enter {parent}; "
                    "choose a --data-dir elsewhere or set DATABASE_URL",
                )
        os.chown(folder, account.pw_uid, account.pw_gid)


def _has_account(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


def _unprivileged_account() -> str:
    """An existing non-root account to appear as inside the namespace (PostgreSQL looks its
    own user id up in /etc/passwd)."""
    for name in (SUPERUSER, "nobody"):
        if _has_account(name):
            return name
    for entry in pwd.getpwall():
        if entry.pw_uid != 0:
            return entry.pw_name
    raise ConfigurationError(Env.DATABASE_URL.value, "no unprivileged account on this machine")


def _userns_flags(user: str) -> list[str]:
    account = pwd.getpwnam(user)
    return ["--user", f"--map-user={account.pw_uid}", f"--map-group={account.pw_gid}"]


def _pid_alive(pid: int) -> bool:
    """True when `pid` runs (a zombie waiting for its parent to reap it does not count)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    # The state follows the parenthesised command name, which may itself contain spaces.
    return stat.rpartition(")")[2].split()[:1] != ["Z"]


class EmbeddedPostgres:
    """A PostgreSQL cluster in `folder`, started on demand and shared between processes."""

    def __init__(
        self,
        folder: Path,
        *,
        binaries: Binaries | None = None,
        as_user: AsUser | None = None,
        runner: Runner = _default_runner,
    ) -> None:
        self.folder = folder.absolute()
        self._binaries = binaries
        self._as_user = as_user
        self._runner = runner
        self._registered = False

    # Paths -------------------------------------------------------------------------------
    @property
    def pgdata(self) -> Path:
        """The cluster's data folder."""
        return self.folder / "data"

    @property
    def log_file(self) -> Path:
        """The server's log."""
        return self.folder / "server.log"

    @property
    def socket_dir(self) -> Path:
        """The folder of the server's unix socket (the data folder, unless its path is too
        long for a socket, then a short private folder under /tmp)."""
        if len(str(self.pgdata)) <= _MAX_SOCKET_DIR:
            return self.pgdata
        digest = hashlib.sha256(str(self.pgdata).encode()).hexdigest()[:12]
        return Path("/tmp") / f"analytics-pg-{os.geteuid()}-{digest}"  # noqa: S108  # 0700, ours

    def _clients_dir(self) -> Path:
        return self.folder / "clients"

    # Public API ----------------------------------------------------------------------------
    def conninfo(self, dbname: str = DATABASE_NAME) -> str:
        """The connection string of `dbname` on this server (unix socket, trust)."""
        return make_conninfo(host=str(self.socket_dir), dbname=dbname, user=SUPERUSER)

    def url(self, dbname: str = DATABASE_NAME) -> str:
        """The connection string as a URL (what DATABASE_URL holds)."""
        return f"postgresql://{SUPERUSER}@/{dbname}?host={self.socket_dir}"

    def running_pid(self) -> int | None:
        """The postmaster's pid when this cluster's server is running."""
        pid_file = self.pgdata / "postmaster.pid"
        try:
            first = pid_file.read_text().split("\n", 1)[0].strip()
        except (FileNotFoundError, PermissionError):
            return None
        if not first.isdigit() or not _pid_alive(int(first)):
            return None
        try:  # after a reboot the pid may belong to something else
            command = Path(f"/proc/{first}/cmdline").read_bytes()
        except OSError:
            return int(first)
        return int(first) if b"postgres" in command else None

    def acquire(self) -> str:
        """Make sure the server runs (initialising the cluster the first time) and register
        this process as a user of it; returns the `analytics` database's URL."""
        self.folder.mkdir(parents=True, exist_ok=True)
        with self._lock():
            if not (self.pgdata / "PG_VERSION").is_file():
                self._initdb()
            if self.running_pid() is None:
                self._start()
            self._wait_ready()
            self._ensure_database()
            self._register()
        return self.url()

    def release(self) -> bool:
        """Unregister this process; the last user stops the server. True when it stopped."""
        if not self._registered:
            return False
        with self._lock():
            self._unregister()
            if self._live_clients():
                return False
            self.stop()
            return True

    def stop(self) -> None:
        """Stop the server now (fast shutdown: open sessions are ended, data is kept)."""
        pid = self.running_pid()
        if pid is None:
            return
        logger.info("stopping the embedded PostgreSQL (pid %s)", pid)
        os.kill(pid, signal.SIGINT)
        deadline = time.monotonic() + STOP_TIMEOUT_S
        while _pid_alive(pid):
            if time.monotonic() > deadline:
                os.kill(pid, signal.SIGQUIT)
                break
            time.sleep(_POLL_S)

    @contextlib.contextmanager
    def running(self) -> Iterator[str]:
        """`acquire()` for the duration of a block, then `release()`."""
        url = self.acquire()
        try:
            yield url
        finally:
            self.release()

    # Internals -----------------------------------------------------------------------------
    @contextlib.contextmanager
    def _lock(self) -> Iterator[None]:
        with (self.folder / "lock").open("a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _user(self) -> AsUser:
        if self._as_user is None:
            self._as_user = AsUser.detect(self._runner)
        return self._as_user

    def _bins(self) -> Binaries:
        if self._binaries is None:
            version_file = self.pgdata / "PG_VERSION"
            major = int(version_file.read_text().strip()) if version_file.is_file() else None
            self._binaries = find_binaries(major)
        return self._binaries

    def _run(self, command: Sequence[str], timeout: float, what: str) -> None:
        result = self._runner(self._user().argv(command), timeout)
        if result.returncode != 0:
            detail = (result.stderr or result.stdout).strip()
            if self.log_file.is_file():
                detail += "\n" + self.log_file.read_text(errors="replace")[-2000:]
            raise StoreUnavailableError(f"embedded PostgreSQL: {what} failed: {detail}")

    def _initdb(self) -> None:
        logger.info("initialising an embedded PostgreSQL cluster in %s", self.pgdata)
        if self.pgdata.exists():  # a half-made cluster from an interrupted first start
            shutil.rmtree(self.pgdata)
        self.pgdata.mkdir(mode=0o700)
        self._user().prepare(self.pgdata)
        bins = self._bins()
        self._run(
            [
                str(bins.bin_dir / "initdb"),
                "--pgdata",
                str(self.pgdata),
                "--username",
                SUPERUSER,
                "--auth",
                "trust",
                "--encoding",
                "UTF8",
                "--locale",
                "C",
                "--no-instructions",
            ],
            START_TIMEOUT_S,
            "initdb",
        )

    def _start(self) -> None:
        socket_dir = self.socket_dir
        if socket_dir != self.pgdata:
            socket_dir.mkdir(mode=0o700, exist_ok=True)
            self._user().prepare(socket_dir)
        if self._user().mode == "runuser":
            self.log_file.touch()
            self._user().prepare(self.log_file)
        options = f"-c listen_addresses='' -c unix_socket_directories='{socket_dir}'"
        logger.info("starting the embedded PostgreSQL in %s", self.pgdata)
        self._run(
            [
                str(self._bins().bin_dir / "pg_ctl"),
                "start",
                "--pgdata",
                str(self.pgdata),
                "--log",
                str(self.log_file),
                "--options",
                options,
                "--wait",
                f"--timeout={int(START_TIMEOUT_S)}",
                "--silent",
            ],
            START_TIMEOUT_S + 5,
            "start",
        )

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            try:
                with psycopg.connect(self.conninfo(SUPERUSER), connect_timeout=5) as conn:
                    conn.execute("SELECT 1")
                    return
            except psycopg.OperationalError as exc:
                if time.monotonic() > deadline:
                    raise StoreUnavailableError(
                        f"embedded PostgreSQL did not accept connections: {exc}"
                    ) from exc
                time.sleep(_POLL_S * 4)

    def _ensure_database(self) -> None:
        with psycopg.connect(self.conninfo(SUPERUSER), autocommit=True) as conn:
            exists = conn.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE_NAME,)
            ).fetchone()
            if exists is None:
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(DATABASE_NAME)))

    def _register(self) -> None:
        clients = self._clients_dir()
        clients.mkdir(exist_ok=True)
        (clients / str(os.getpid())).touch()
        self._registered = True

    def _unregister(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            (self._clients_dir() / str(os.getpid())).unlink()
        self._registered = False

    def _live_clients(self) -> list[int]:
        clients = self._clients_dir()
        if not clients.is_dir():
            return []
        alive: list[int] = []
        for entry in clients.iterdir():
            if entry.name.isdigit() and _pid_alive(int(entry.name)):
                alive.append(int(entry.name))
            else:
                entry.unlink(missing_ok=True)
        return alive
