"""Servers a test starts for itself, so that it can stop, kill or restart them without touching
the shared ones: a PostgreSQL cluster of its own (initdb into a temporary directory, its own
loopback port) and a Redis server of its own."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import psycopg
import redis


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _postgres_bin() -> Path:
    """The newest installed server's bin directory (Debian puts it off PATH)."""
    found = shutil.which("initdb")
    if found:
        return Path(found).parent
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: int(p.parent.name))
    if not versions:
        raise RuntimeError("no PostgreSQL server binaries (initdb) on this machine")
    return versions[-1]


def _as_postgres_user() -> dict:
    """initdb and postgres refuse to run as root: run them as the `postgres` account then."""
    if os.geteuid() != 0:
        return {}
    import pwd

    account = pwd.getpwnam("postgres")

    def demote() -> None:
        os.setgid(account.pw_gid)
        os.setuid(account.pw_uid)

    return {"preexec_fn": demote, "owner": (account.pw_uid, account.pw_gid)}


class OwnPostgres:
    """A PostgreSQL cluster in `directory` on its own port, trust authentication for `postgres`."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.data = directory / "data"
        self.port = free_port()
        self.bin = _postgres_bin()
        user = _as_postgres_user()
        self._preexec = user.get("preexec_fn")
        directory.mkdir(parents=True, exist_ok=True)
        self._as_root = "owner" in user
        if "owner" in user:
            os.chown(directory, *user["owner"])
            self._let_postgres_through()
        self._run(
            "initdb",
            "-D",
            str(self.data),
            "-U",
            "postgres",
            "--auth=trust",
            "--no-sync",
            "-E",
            "UTF8",
        )

    def _let_postgres_through(self) -> None:
        """Parents of a pytest tmp_path are 0700 root: the postgres account must reach the
        cluster's directory. Done again before every start: a pytest session starting
        anywhere on the machine resets /tmp/pytest-of-root to 0700, and a server restarted
        after that could not reach its data directory."""
        if not self._as_root:
            return
        for parent in self.directory.parents:
            if str(parent).startswith("/tmp/") and parent.stat().st_uid == 0:
                # Search (x) only, not read: the account can pass through, not list.
                os.chmod(parent, parent.stat().st_mode | 0o111)  # noqa: S103

    def _run(self, tool: str, *args: str) -> None:
        subprocess.run(
            [str(self.bin / tool), *args],
            check=True,
            capture_output=True,
            preexec_fn=self._preexec,  # drops root before exec
        )

    def url(self, database: str = "postgres") -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{database}"

    def config(self, database: str) -> dict:
        """A `postgres` connector config for `database` on this cluster."""
        return {
            "host": "127.0.0.1",
            "port": self.port,
            "database": database,
            "username": "postgres",
            "password": "",
        }

    def start(self) -> None:
        self._let_postgres_through()
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.directory}"
            " -c fsync=off -c full_page_writes=off -c max_connections=100"
        )
        self._run(
            "pg_ctl",
            "-D",
            str(self.data),
            "-o",
            options,
            "-l",
            str(self.directory / "server.log"),
            "-w",
            "-t",
            "30",
            "start",
        )

    def stop(self, mode: str = "fast") -> None:
        """Stop the server: `fast` disconnects clients cleanly, `immediate` is a crash."""
        self._let_postgres_through()  # pg_ctl runs as the postgres account (see start)
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "-t", "30", "stop")

    def is_running(self) -> bool:
        return (self.data / "postmaster.pid").exists()

    def create_database(self, name: str) -> None:
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')

    def connect(self, database: str) -> psycopg.Connection:
        return psycopg.connect(self.url(database), autocommit=True)

    def close(self) -> None:
        if self.is_running():
            with contextlib.suppress(subprocess.CalledProcessError):
                self.stop("immediate")
        shutil.rmtree(self.directory, ignore_errors=True)


class OwnRedis:
    """A Redis server on its own port; `kill` is a crash. With `persistent`, every write is in
    an append-only file first (as a production broker is set up), so a restart keeps them."""

    def __init__(self, directory: Path, *, persistent: bool = False) -> None:
        self.directory = directory
        self.persistent = persistent
        self.port = free_port()
        self.process: subprocess.Popen | None = None
        directory.mkdir(parents=True, exist_ok=True)

    def url(self, db: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                "redis-server",
                "--bind",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--save",
                "",
                "--appendonly",
                "yes" if self.persistent else "no",
                "--appendfsync",
                "always",
                "--dir",
                str(self.directory),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                if redis.Redis(port=self.port, socket_timeout=0.5).ping():
                    return
            except redis.ConnectionError:
                time.sleep(0.05)
        raise RuntimeError(f"redis-server did not start on port {self.port}")

    def kill(self) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def close(self) -> None:
        self.kill()
