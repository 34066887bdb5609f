"""A throwaway PostgreSQL 15 cluster on loopback, run as the `postgres` user.

PostgreSQL refuses to run as root, so initdb and pg_ctl run through `runuser`, and the data
directory must sit where the postgres user can traverse (not under a 0700 folder of root's).
"""
from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import psycopg

from .envfile import server_environment

PG_BIN = Path(os.environ.get("DATAMIG_PG_BIN", "/usr/lib/postgresql/15/bin"))
SUPERUSER = "postgres"


@dataclass
class Cluster:
    data_dir: Path
    port: int
    password: str

    @property
    def socket_dir(self) -> Path:
        return self.data_dir

    def url(self, dbname: str = "postgres", user: str = SUPERUSER, password: str | None = None) -> str:
        pw = self.password if password is None else password
        return f"postgresql://{user}:{pw}@127.0.0.1:{self.port}/{dbname}"


def _as_postgres(*args: str | os.PathLike, check: bool = True) -> subprocess.CompletedProcess:
    cmd = [str(a) for a in args]
    if os.geteuid() == 0:
        cmd = ["runuser", "-u", "postgres", "--", *cmd]
    return subprocess.run(cmd, check=check, capture_output=True, text=True, env=server_environment())


def _postgres_can_traverse(path: Path) -> bool:
    if os.geteuid() != 0:
        return True
    probe = _as_postgres("test", "-x", path, check=False)
    return probe.returncode == 0


def choose_data_dir(state_dir: Path) -> Path:
    """`.datamig/pg` when the postgres user can reach it, else a stable folder under /tmp."""
    state_dir.mkdir(parents=True, exist_ok=True)
    if _postgres_can_traverse(state_dir):
        return state_dir / "pg"
    tag = hashlib.sha1(str(state_dir.resolve()).encode()).hexdigest()[:10]
    return Path(tempfile.gettempdir()) / f"datamig-pg-{tag}"


def _chown_postgres(path: Path) -> None:
    if os.geteuid() == 0:
        shutil.chown(path, "postgres", "postgres")


def initdb(data_dir: Path, password: str) -> None:
    data_dir.mkdir(parents=True, exist_ok=True)
    os.chmod(data_dir, 0o700)
    _chown_postgres(data_dir)
    # The password reaches initdb through a file only the postgres user can read, never argv.
    fd, pwfile = tempfile.mkstemp(prefix="datamig-pw-")
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(password + "\n")
        _chown_postgres(Path(pwfile))
        _as_postgres(PG_BIN / "initdb", "-D", data_dir, "-U", SUPERUSER, "-A", "scram-sha-256",
                     f"--pwfile={pwfile}", "-E", "UTF8", "--locale=C.UTF-8")
    finally:
        os.unlink(pwfile)


def is_initialized(data_dir: Path) -> bool:
    return (data_dir / "PG_VERSION").exists()


def start(cluster: Cluster, fsync: bool = False) -> None:
    opts = (f"-p {cluster.port} -k {cluster.socket_dir} -c listen_addresses=127.0.0.1 "
            f"-c max_prepared_transactions=64 -c max_connections=200 -c shared_buffers=256MB")
    if not fsync:
        opts += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
    _as_postgres(PG_BIN / "pg_ctl", "-D", cluster.data_dir, "-o", opts,
                 "-l", cluster.data_dir / "server.log", "-w", "-t", "60", "start")
    wait_ready(cluster)


def wait_ready(cluster: Cluster, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with psycopg.connect(cluster.url(), connect_timeout=3):
                return
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.3)


def is_running(cluster: Cluster) -> bool:
    if not is_initialized(cluster.data_dir):
        return False
    return _as_postgres(PG_BIN / "pg_ctl", "-D", cluster.data_dir, "status", check=False).returncode == 0


def stop(cluster: Cluster) -> None:
    if is_running(cluster):
        _as_postgres(PG_BIN / "pg_ctl", "-D", cluster.data_dir, "-m", "fast", "-w", "stop")


def remove(cluster: Cluster) -> None:
    stop(cluster)
    shutil.rmtree(cluster.data_dir, ignore_errors=True)
