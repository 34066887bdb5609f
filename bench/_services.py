"""Private services for a benchmark: its own PostgreSQL + Neo4j under a state folder of its
own, so a developer's `.datamig/` estate is never touched."""
from __future__ import annotations

import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


@contextmanager
def private_estate(keep: bool = False):
    from datamig.config import load_config
    from datamig.estate.seed import apply_schemas
    from datamig.services import manager

    state = Path(tempfile.mkdtemp(prefix="datamig-bench-"))
    state.chmod(0o755)
    os.environ["DATAMIG_STATE_DIR"] = str(state)
    cfg = load_config(ROOT / "config" / "datamig.yaml")
    env = manager.up(ROOT, cfg, apply_schemas=lambda v: (apply_schemas(v, "prod"), apply_schemas(v, "cert")))
    try:
        yield cfg, env, state
    finally:
        if not keep:
            manager.down(ROOT)
            shutil.rmtree(state, ignore_errors=True)
