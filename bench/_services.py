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
    """The services, stopped at the end of the block, or on SIGTERM or SIGHUP (the script then
    exits 128 + the signal), unless KEEP."""
    from datamig.config import load_config
    from datamig.estate.seed import apply_schemas
    from datamig.services import manager, termination

    state = Path(tempfile.mkdtemp(prefix="datamig-bench-"))
    state.chmod(0o755)
    os.environ["DATAMIG_STATE_DIR"] = str(state)
    cfg = load_config(ROOT / "config" / "datamig.yaml")
    with termination.exit_on_signals():
        try:  # up inside: a signal or failure halfway through still stops what had started
            env = manager.up(ROOT, cfg, apply_schemas=lambda v: (apply_schemas(v, "prod"),
                                                                 apply_schemas(v, "cert")))
            yield cfg, env, state
        finally:
            if not keep:
                with termination.held():  # a signal now must not stop the stop halfway
                    manager.down(ROOT)
                    shutil.rmtree(state, ignore_errors=True)
