"""Real services for the test session: one PostgreSQL 15 cluster and two Neo4j 5 servers on
loopback, started once, in a state folder of their own (a developer's `.datamig/` estate is
never touched), and stopped at the end."""
from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SALT = "test-salt-0123456789"


def _state_dir() -> Path:
    # Under /tmp and world-traversable: the postgres user must reach the data directory.
    path = Path(tempfile.mkdtemp(prefix="datamig-test-"))
    path.chmod(0o755)
    return path


def pytest_configure(config):
    """SIGTERM and SIGHUP end the session as Ctrl-C does, fixtures torn down (`timeout` killing
    a run left its PostgreSQL and Neo4j running)."""
    from datamig.services import termination

    stack = contextlib.ExitStack()
    stack.enter_context(termination.stop_on_signals())
    config.add_cleanup(stack.close)


@pytest.fixture(scope="session")
def project_root() -> Path:
    return ROOT


@pytest.fixture(scope="session")
def cfg():
    from datamig.config import load_config

    return load_config(ROOT / "config" / "datamig.yaml")


@pytest.fixture(scope="session")
def services(cfg):
    """Env mapping (URLs, users, passwords) of the running test estate."""
    from datamig.estate.seed import apply_schemas
    from datamig.services import manager, termination

    state = _state_dir()
    previous = os.environ.get("DATAMIG_STATE_DIR")
    os.environ["DATAMIG_STATE_DIR"] = str(state)
    try:
        values = manager.up(ROOT, cfg, apply_schemas=lambda env: (apply_schemas(env, "prod"),
                                                                  apply_schemas(env, "cert")))
        yield values
    finally:
        with termination.held():  # a signal now must not stop the stop halfway
            manager.down(ROOT)
            shutil.rmtree(state, ignore_errors=True)
            if previous is None:
                os.environ.pop("DATAMIG_STATE_DIR", None)
            else:
                os.environ["DATAMIG_STATE_DIR"] = previous


@pytest.fixture(scope="session")
def tiny_estate(services):
    """PROD seeded at scale tiny (seed 42) and CERT given its own test data; returns
    {"env": ..., "prod": summary, "cert": summary}."""
    from datamig.estate.seed import seed_cert, seed_prod

    prod = seed_prod(services, scale="tiny", seed=42)
    cert = seed_cert(services, seed=7)
    return {"env": services, "prod": prod, "cert": cert}


@pytest.fixture
def salt(monkeypatch):
    monkeypatch.setenv("DATAMIG_SALT", SALT)
    return SALT
