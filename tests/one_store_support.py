"""Set-up shared by the tests that take a one-store project (test_odd_column_names' `_project`,
store ids, district root ids.districts) through the pipeline on a PROD and a CERT database of
their own, in a throwaway PostgreSQL 15 cluster."""
from __future__ import annotations

from pathlib import Path

import psycopg
import pytest

import _pg_cluster
from datamig.analyze.run import analyze
from datamig.config import Config, load_config
from datamig.extract.run import extract
from datamig.scaffold.run import live_estate, render, write
from datamig.transform.run import transform
from test_load_support import start_cluster
from test_odd_column_names import _project

SALT = "test-salt-0123456789"
RUN_ID = "mig-20260101-000000-d1"


@pytest.fixture(scope="module")
def pg():
    cluster = start_cluster()  # prepared transactions on: the load commits with them
    try:
        yield cluster
    finally:
        _pg_cluster.stop(cluster)


def create_database(pg, dbname: str, sql: str) -> str:
    """A new database of the cluster holding what `sql` makes; its URL."""
    with psycopg.connect(pg.url(), autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {dbname}")
    with psycopg.connect(pg.url(dbname), autocommit=True) as conn:
        conn.execute(sql)
    return pg.url(dbname)


def transformed(root: Path, env: dict) -> tuple[Config, dict]:
    """The project in `root` analyzed, scaffolded, extracted (district 1, run RUN_ID) and
    transformed: its config and the transform's report."""
    cfg = load_config(_project(root, []))
    analyze(cfg, env, root / "analysis")
    write(root, render(cfg, live_estate(cfg, env), root))
    extract(cfg, env, 1, run_id=RUN_ID)
    return cfg, transform(cfg, env, RUN_ID, 1, root=root)
