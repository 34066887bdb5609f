"""A throwaway PostgreSQL 15 cluster for tests.

The server refuses to run as root, so the cluster belongs to the `postgres` user and lives
in a fresh directory under /tmp that `postgres` owns (a 0700 directory of root's on the
path would stop it). Trust auth on 127.0.0.1 only; fsync off because nothing here must
survive a crash.
"""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg

PG_BIN = Path(os.environ.get("DATAMIG_PG_BIN", "/usr/lib/postgresql/15/bin"))


@dataclass
class PgCluster:
    root: Path
    port: int

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    def url(self, dbname: str = "postgres", password: str | None = None) -> str:
        auth = f"postgres:{password}" if password else "postgres"
        return f"postgresql://{auth}@127.0.0.1:{self.port}/{dbname}"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _as_postgres(*args: str) -> None:
    result = subprocess.run(["runuser", "-u", "postgres", "--", *args], capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"{Path(args[0]).name} failed: {result.stderr.strip() or result.stdout.strip()}")


def start() -> PgCluster:
    if not (PG_BIN / "initdb").exists():
        raise RuntimeError(f"PostgreSQL 15 binaries not found in {PG_BIN} (apt-get install postgresql-15)")
    root = Path(tempfile.mkdtemp(prefix="datamig-pg-"))
    shutil.chown(root, "postgres", "postgres")
    cluster = PgCluster(root=root, port=free_port())
    try:
        _as_postgres(str(PG_BIN / "initdb"), "-D", str(cluster.data_dir), "-A", "trust", "-U", "postgres")
        options = f"-p {cluster.port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off"
        _as_postgres(str(PG_BIN / "pg_ctl"), "-D", str(cluster.data_dir), "-o", options,
                     "-l", str(root / "log"), "-w", "start")
    except BaseException:
        shutil.rmtree(root, ignore_errors=True)
        raise
    return cluster


def stop(cluster: PgCluster) -> None:
    try:
        _as_postgres(str(PG_BIN / "pg_ctl"), "-D", str(cluster.data_dir), "-m", "immediate", "-w", "stop")
    finally:
        shutil.rmtree(cluster.root, ignore_errors=True)


@contextmanager
def running(databases: Mapping[str, str]) -> Iterator[PgCluster]:
    """A cluster holding each database of `databases` (name -> the SQL it starts with), stopped
    on leaving."""
    cluster = start()
    try:
        with psycopg.connect(cluster.url(), autocommit=True) as conn:
            for name in databases:
                conn.execute(f"CREATE DATABASE {name}")
        for name, sql in databases.items():
            if sql:
                with psycopg.connect(cluster.url(name), autocommit=True) as conn:
                    conn.execute(sql)
        yield cluster
    finally:
        stop(cluster)
