"""Session-wide real PostgreSQL server (initdb + pg_ctl, no Docker) and per-test schemas."""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import psycopg
import pytest

from rarematch.ports import free_port

__all__ = ["find_pg_bindir", "postgres_schema", "postgres_url"]

INSTALL_HINT = "PostgreSQL server binaries (initdb, pg_ctl) not found: apt-get install postgresql"
SUPERUSER = "rarematch"
DATABASE = "rarematch"
# initdb and postgres refuse to run as root; as root the server runs as the first of these.
UNPRIVILEGED_USERS = ("postgres", "nobody")


def find_pg_bindir() -> Path | None:
    """The newest /usr/lib/postgresql/<version>/bin (Debian), else initdb's directory on PATH."""

    def version(bindir: Path) -> tuple[int, ...]:
        parts = bindir.parent.name.split(".")
        return tuple(int(p) for p in parts) if all(p.isdigit() for p in parts) else (0,)

    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=version, reverse=True)
    on_path = shutil.which("initdb")
    if on_path:
        candidates.append(Path(on_path).parent)
    for bindir in candidates:
        if (bindir / "initdb").is_file() and (bindir / "pg_ctl").is_file():
            return bindir
    return None


class _Server:
    """One throwaway cluster under `base`, run as the current user or, for root, unprivileged."""

    def __init__(self, bindir: Path, base: Path) -> None:
        self.bindir = bindir
        self.base = base
        self.data = base / "data"
        self.sockets = base / "sockets"
        self.log = base / "server.log"
        self.account: pwd.struct_passwd | None = None
        if os.geteuid() == 0:
            self.account = _unprivileged_account()
            os.chown(base, self.account.pw_uid, self.account.pw_gid)
        self.sockets.mkdir()
        if self.account is not None:
            os.chown(self.sockets, self.account.pw_uid, self.account.pw_gid)

    def run(self, *argv: str, timeout_s: float = 60) -> None:
        """Run a PostgreSQL tool (as the unprivileged account when we are root)."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        env["LC_ALL"] = "C"
        account = self.account
        result = subprocess.run(
            [str(self.bindir / argv[0]), *argv[1:]],
            cwd=self.base,
            env=env,
            user=None if account is None else account.pw_uid,
            group=None if account is None else account.pw_gid,
            extra_groups=None if account is None else [],
            capture_output=True,
            text=True,
            timeout=timeout_s,
            check=False,
        )
        if result.returncode != 0:
            raise RuntimeError(
                f"{argv[0]} exited {result.returncode}: {result.stdout}{result.stderr}"
                f"{self.log_tail()}"
            )

    def log_tail(self) -> str:
        try:
            lines = self.log.read_text(errors="replace").splitlines()[-20:]
        except OSError:
            return ""
        return "\nserver log:\n" + "\n".join(lines)

    def init(self) -> None:
        self.run(
            "initdb",
            "--pgdata",
            str(self.data),
            "--username",
            SUPERUSER,
            "--auth",
            "trust",
            "--encoding",
            "UTF8",
            "--locale",
            "C",
            "--no-sync",
        )

    def start(self, port: int) -> None:
        sockets = str(self.sockets).replace("'", "''")
        with (self.data / "postgresql.conf").open("a", encoding="utf-8") as conf:
            conf.write(
                f"\nport = {port}\nlisten_addresses = '127.0.0.1'\n"
                f"unix_socket_directories = '{sockets}'\n"
                "fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n"
            )
        self.run("pg_ctl", "--pgdata", str(self.data), "--log", str(self.log), "-w", "start")

    def stop(self) -> None:
        self.run("pg_ctl", "--pgdata", str(self.data), "--mode", "fast", "-w", "stop")


def _unprivileged_account() -> pwd.struct_passwd:
    for name in UNPRIVILEGED_USERS:
        with contextlib.suppress(KeyError):
            return pwd.getpwnam(name)
    raise RuntimeError(f"running as root and none of the users {UNPRIVILEGED_USERS} exists")


def _create_database(port: int) -> str:
    admin = f"postgresql://{SUPERUSER}@127.0.0.1:{port}/postgres"
    with psycopg.connect(admin, autocommit=True, connect_timeout=10) as conn:
        conn.execute(f'CREATE DATABASE "{DATABASE}"')
    return f"postgresql://{SUPERUSER}@127.0.0.1:{port}/{DATABASE}"


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A running PostgreSQL's URL; missing or failing PostgreSQL fails the test, never skips."""
    bindir = find_pg_bindir()
    if bindir is None:
        pytest.fail(INSTALL_HINT, pytrace=False)
    # Not pytest's tmp dir: as root that is private to root, and socket paths must stay short.
    base = Path(tempfile.mkdtemp(prefix="rarematch-pg-"))
    server = _Server(bindir, base)
    started = False
    try:
        try:
            server.init()
            for attempt in range(3):  # another process may grab the free port first
                port = free_port()
                try:
                    server.start(port)
                except RuntimeError:
                    if attempt == 2:
                        raise
                else:
                    break
            started = True
            url = _create_database(port)
        except (RuntimeError, OSError, psycopg.Error, subprocess.TimeoutExpired) as error:
            pytest.fail(f"PostgreSQL ({bindir}) could not start: {error}", pytrace=False)
        yield url
    finally:
        if started:
            server.stop()
        shutil.rmtree(base, ignore_errors=True)


@contextlib.contextmanager
def postgres_schema(url: str) -> Iterator[str]:
    """A fresh, empty schema, dropped afterwards; the URL yielded puts it first on search_path."""
    schema = f"test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    try:
        yield f"{url}?options={quote(f'-c search_path={schema}')}"
    finally:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")
