"""A throwaway PostgreSQL cluster for the tests that need a real server.

`postgres_server` (session) runs `initdb` into a temporary directory and starts the
server with `pg_ctl` on a free 127.0.0.1 port: fsync off, its unix socket inside
the same directory, password (scram) login for TCP. At the end of the session it is
stopped through `pg_ctl stop` (which signals this cluster's own postmaster PID) and
the directory is removed. `pg_url` (function) gives each test a fresh database.

initdb refuses to run as root. When the tests run as root (CI does), the cluster is
owned and run by the unprivileged system user `chaintap-pg`, created with `useradd`
on first use (falling back to `nobody`), through `runuser`.

NOTE: pg_ctl detaches the postmaster, so a test session killed with SIGKILL leaves
its cluster running (stop it with `pg_ctl -D /tmp/chaintap-pg-*/data stop`).

Binaries come from PATH or /usr/lib/postgresql/<version>/bin. The tests skip only
when neither has them; CI installs the Debian `postgresql` package.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import pwd
import re
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

SERVICE_USER = "chaintap-pg"
FALLBACK_USER = "nobody"
DB_USER = "chaintap"
# fsync off keeps the cluster fast; synchronous_commit stays on, so a commit has
# reached the OS before it returns and survives `stop(mode="immediate")`.
# pg_ctl waits this long for the server to accept connections (or to exit).
PG_CTL_TIMEOUT_S = 60
SERVER_SETTINGS = {
    "listen_addresses": "'127.0.0.1'",
    "fsync": "off",
    "full_page_writes": "off",
    "max_connections": "50",
    "shared_buffers": "128MB",
    "log_min_messages": "warning",
}


def find_postgres_bin() -> Path | None:
    """The directory holding initdb, pg_ctl and postgres, or None when absent."""
    candidates: list[Path] = []
    on_path = shutil.which("initdb")
    if on_path:
        candidates.append(Path(on_path).resolve().parent)
        candidates.append(Path(on_path).parent)
    versions = sorted(
        Path("/usr/lib/postgresql").glob("*/bin"),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
        reverse=True,
    )
    candidates.extend(versions)
    for directory in candidates:
        if all((directory / tool).exists() for tool in ("initdb", "pg_ctl")):
            return directory
    return None


def service_user() -> str | None:
    """The OS user the cluster runs as: None when we are not root."""
    if os.geteuid() != 0:
        return None
    if _user_exists(SERVICE_USER):
        return SERVICE_USER
    created = subprocess.run(
        [
            "useradd",
            "--system",
            "--no-create-home",
            "--home-dir",
            "/nonexistent",
            "--shell",
            "/usr/sbin/nologin",
            SERVICE_USER,
        ],
        capture_output=True,
        check=False,
    )
    if created.returncode == 0 or _user_exists(SERVICE_USER):
        return SERVICE_USER
    return FALLBACK_USER


def _user_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class PostgresServer:
    """One cluster in its own directory; `stop()` and `start()` may be repeated."""

    def __init__(self, bin_dir: Path, root: Path, os_user: str | None) -> None:
        self.bin_dir = bin_dir
        self.root = root
        self.os_user = os_user
        self.data_dir = root / "data"
        self.log_file = root / "server.log"
        self.port = _free_port()
        self.password = secrets.token_hex(12)

    @property
    def url(self) -> str:
        """Login URL of the cluster's default `postgres` database."""
        return self.url_for("postgres")

    def url_for(self, database: str) -> str:
        return (
            f"postgresql://{DB_USER}:{self.password}@127.0.0.1:{self.port}/{database}"
        )

    @property
    def pid(self) -> int | None:
        """The postmaster PID from this cluster's own postmaster.pid, if running."""
        pid_file = self.data_dir / "postmaster.pid"
        try:
            return int(pid_file.read_text().split("\n", 1)[0])
        except (OSError, ValueError):
            return None

    def init(self) -> None:
        """1. own the directory as the service user; 2. initdb; 3. settings."""
        pwfile = self.root / "pwfile"
        pwfile.write_text(self.password + "\n")
        self._own(self.root, pwfile)

        self._run(
            "initdb",
            "-D",
            str(self.data_dir),
            "-U",
            DB_USER,
            f"--pwfile={pwfile}",
            "--auth-local=trust",
            "--auth-host=scram-sha-256",
            "--encoding=UTF8",
            "--locale=C",
            "--no-sync",
        )
        pwfile.unlink()

        settings = dict(SERVER_SETTINGS)
        settings["port"] = str(self.port)
        settings["unix_socket_directories"] = f"'{self.root}'"
        with (self.data_dir / "postgresql.conf").open("a") as conf:
            conf.write("\n# chaintap test cluster\n")
            conf.writelines(f"{key} = {value}\n" for key, value in settings.items())

    def start(self) -> None:
        """Start the server and wait until it accepts connections."""
        self._run(
            "pg_ctl",
            "-D",
            str(self.data_dir),
            "-l",
            str(self.log_file),
            "-w",
            "-t",
            str(PG_CTL_TIMEOUT_S),
            "start",
        )

    def stop(self, mode: str = "fast") -> None:
        """Stop the server: `fast` ends sessions with an admin shutdown,
        `immediate` drops them the way a crash does."""
        pid = self.pid
        if pid is None:
            return
        done = self._run(
            "pg_ctl",
            "-D",
            str(self.data_dir),
            "-m",
            mode,
            "-w",
            "-t",
            str(PG_CTL_TIMEOUT_S),
            "stop",
            check=False,
        )
        if done.returncode != 0 and self.pid == pid:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGQUIT)

    @property
    def running(self) -> bool:
        return self.pid is not None

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_file.read_text().splitlines()[-lines:])
        except OSError:
            return "(no server log)"

    def _own(self, *paths: Path) -> None:
        if self.os_user is not None:
            group = _primary_group(self.os_user)
            for path in paths:
                shutil.chown(path, user=self.os_user, group=group)

    def _run(
        self, tool: str, *args: str, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        command = [str(self.bin_dir / tool), *args]
        if self.os_user is not None:
            command = ["runuser", "-u", self.os_user, "--", *command]
        done = subprocess.run(
            command, capture_output=True, text=True, check=False, cwd=self.root
        )
        if check and done.returncode != 0:
            raise RuntimeError(
                f"{tool} failed ({done.returncode}): {done.stderr.strip()}\n"
                f"{self.log_tail()}"
            )
        return done


def _primary_group(user: str) -> int:
    return pwd.getpwnam(user).pw_gid


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """A running throwaway cluster for the whole session; see the module docstring."""
    bin_dir = find_postgres_bin()
    if bin_dir is None:
        pytest.skip(
            "no PostgreSQL server binaries (initdb, pg_ctl) on PATH or in "
            "/usr/lib/postgresql/*/bin; CI installs them (apt-get install postgresql)"
        )

    root = Path(tempfile.mkdtemp(prefix="chaintap-pg-"))
    server = PostgresServer(bin_dir, root, service_user())
    try:
        server.init()
        server.start()
        yield server
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


_database_numbers = itertools.count(1)


@pytest.fixture
def pg_url(
    postgres_server: PostgresServer, request: pytest.FixtureRequest
) -> Iterator[str]:
    """A login URL to a fresh, empty database for this test only."""
    label = re.sub(r"[^a-z0-9]+", "_", request.node.name.lower())
    database = f"t{next(_database_numbers)}_{label}"[:60]
    with psycopg.connect(postgres_server.url, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))

    yield postgres_server.url_for(database)

    if not postgres_server.running:
        postgres_server.start()
    with psycopg.connect(postgres_server.url, autocommit=True) as admin:
        admin.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                sql.Identifier(database)
            )
        )
