"""Resolve what a killed load or rollback left behind, so CERT is either unchanged or fully
loaded (resp. fully rolled back) again.

PostgreSQL: each prepared transaction 'datamig:<run>:<store>[:rollback]' is committed when the
run has a commit decision, rolled back otherwise. A decision is the durable record in the
run folder, or, should that file be lost, the same operation already committed in another
store (COMMIT PREPARED only ever follows the decision).

Neo4j (no prepared state; its batches commit as they go):
- a load still `applying`/`applied`: decided -> marked committed; not decided -> compensated
  from its ledger (the PostgreSQL side was just rolled back, so undoing the graph makes the
  whole run as if it never happened);
- a `committed` run with a rollback decision: the rollback's graph undo is (re)done.

Runs first, before any new load or rollback, under the runs folder's lock.

A killed process's last request may still be running on a server when recovery starts: a
PREPARE TRANSACTION or COMMIT PREPARED a PostgreSQL backend has not finished, a Neo4j batch
whose COMMIT was already sent. Resolving from what the servers show at that moment would miss
it, and it would land afterwards (a transaction prepared behind recovery's back, graph nodes
no compensation removes). So, before looking:
- PostgreSQL: the backends of the loads and rollbacks of this runs folder (named
  'datamig-load:<run>' / 'datamig-rollback:<run>'; under the folder's lock no live process of
  ours owns one) are terminated and waited for; a PREPARE or COMMIT PREPARED is atomic, so
  once they are gone pg_prepared_xacts is final;
- Neo4j: the undo waits on the run's fence (graph.py), which a batch holds until it ends.
"""
from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Callable, Mapping
from pathlib import Path

from ..config import Config
from ..errors import DatamigError, MigrationFailed
from ..services.manager import check_cert_apart
from . import decision, ledger
from .graph import connect as connect_graph
from .graph_undo import undo
from .pgstore import PgStore, parse_gid

log = logging.getLogger("datamig.load")
ORPHAN_WAIT_S = 60.0
_NAMEDATALEN = 63  # application_name is cut to this many bytes
_COMMITTED_STATUS = {"load": "loaded", "rollback": "rolled_back"}


def recover(cfg: Config, env: Mapping[str, str], out_dir: Path,
            progress: Callable[[str], None] | None = None) -> dict:
    out_dir = Path(out_dir)
    check_cert_apart(cfg, env)
    with decision.locked(out_dir):
        return recover_locked(cfg, env, out_dir, progress or log.info)


def recover_locked(cfg: Config, env: Mapping[str, str], out_dir: Path, progress: Callable[[str], None]) -> dict:
    report = {"committed": [], "rolled_back": [], "graph_committed": [], "graph_compensated": [],
              "graph_rolled_back": []}
    errors: list[DatamigError] = []
    stores: dict[str, PgStore] = {}
    for store in cfg.postgres_stores():
        url = env.get(store.cert_env)
        if not url:
            continue  # not part of this environment: nothing of datamig's can be pending there
        try:
            stores[store.name] = PgStore(store, url, env, "recover")
        except DatamigError as exc:
            errors.append(exc)
    try:
        _resolve_prepared(stores, out_dir, report, errors, progress)
        _resolve_graph(cfg, env, stores, out_dir, report, errors, progress)
    finally:
        for pg in stores.values():
            pg.close()
    if errors:
        raise errors[0]
    return report


def _resolve_prepared(stores, out_dir, report, errors, progress) -> None:
    pending: dict[tuple[str, str], list[tuple[PgStore, str]]] = defaultdict(list)
    for pg in stores.values():
        try:
            _end_orphans(pg, out_dir, progress)
            for gid in pg.prepared():
                parsed = parse_gid(gid)
                if parsed:
                    pending[(parsed[0], parsed[2])].append((pg, gid))
        except DatamigError as exc:
            errors.append(exc)
    for (run_id, op), items in sorted(pending.items()):
        commit = decision.exists(out_dir / run_id, op) or _pg_says(stores, run_id, _COMMITTED_STATUS[op])
        for pg, gid in items:
            try:
                if commit:
                    pg.commit_prepared(gid)
                    report["committed"].append(gid)
                else:
                    pg.rollback_prepared(gid)
                    report["rolled_back"].append(gid)
                progress(f"recovery: {'committed' if commit else 'rolled back'} {gid}")
            except DatamigError as exc:
                errors.append(exc)


def _ours(out_dir: Path, app: str) -> bool:
    """application_name 'datamig-load:<run>' or 'datamig-rollback:<run>' of a run of this folder."""
    run_id = app.split(":", 1)[1] if ":" in app else ""
    if not run_id or "/" in run_id or run_id in (".", ".."):
        return False
    if (out_dir / run_id).is_dir():
        return True
    if len(app.encode()) >= _NAMEDATALEN:  # cut by the server: the run's name starts with it
        try:
            return any(p.is_dir() and p.name.startswith(run_id) for p in out_dir.iterdir())
        except OSError:
            return False
    return False


def _end_orphans(pg: PgStore, out_dir: Path, progress: Callable[[str], None]) -> None:
    """Terminate and wait for the backends a killed load or rollback of this folder left."""
    rows = pg.execute("SELECT pid, application_name FROM pg_stat_activity WHERE datname = current_database() "
                      "AND pid <> pg_backend_pid() AND (application_name LIKE 'datamig-load:%' "
                      "OR application_name LIKE 'datamig-rollback:%')", doing="listing datamig sessions").fetchall()
    pids = [pid for pid, app in rows if _ours(out_dir, app)]
    if not pids:
        return
    for pid in pids:
        try:
            pg.execute("SELECT pg_terminate_backend(%s)", (pid,), doing=f"ending session {pid}")
        except DatamigError:
            pass  # not allowed: a dead client's backend still ends by itself, wait for it
    deadline = time.monotonic() + ORPHAN_WAIT_S
    while True:
        left = [r[0] for r in pg.execute("SELECT pid FROM pg_stat_activity WHERE pid = ANY(%s)", (pids,),
                                         doing="waiting for datamig sessions to end").fetchall()]
        if not left:
            break
        if time.monotonic() > deadline:
            raise MigrationFailed(f"store {pg.name}: session {left[0]} of an earlier datamig load or rollback "
                                  f"is still running after {ORPHAN_WAIT_S:.0f} s; recovery cannot tell what it "
                                  f"will leave prepared")
        time.sleep(0.05)
    progress(f"recovery: {pg.name}: ended {len(pids)} session(s) of a killed load or rollback")


def _pg_says(stores: dict[str, PgStore], run_id: str, status: str) -> bool:
    """Some store has committed `run_id` in `status`: its decision was commit."""
    for pg in stores.values():
        try:
            state = ledger.status(pg.conn, run_id)
        except Exception:
            continue
        if state and state["status"] == status:
            return True
    return False


def _resolve_graph(cfg, env, stores, out_dir, report, errors, progress) -> None:
    if cfg.graph is None:
        return
    store = cfg.stores[cfg.graph.store]
    if not env.get(store.cert_env):
        return
    try:
        graph = connect_graph(store, env)
    except DatamigError as exc:
        errors.append(exc)
        return
    try:
        for run in graph.runs_in(["applying", "applied"]):
            run_id = run["run_id"]
            decided = run["status"] == "applied" and (
                decision.exists(out_dir / run_id, "load") or _pg_says(stores, run_id, "loaded"))
            if decided:
                graph.set_status(run_id, "committed")
                report["graph_committed"].append(run_id)
                progress(f"recovery: graph part of {run_id} committed")
            else:
                undo(graph, run_id, "compensated")
                report["graph_compensated"].append(run_id)
                progress(f"recovery: graph part of {run_id} compensated")
        for run in graph.runs_in(["committed"]):
            run_id = run["run_id"]
            if decision.exists(out_dir / run_id, "rollback"):
                undo(graph, run_id, "rolled_back")
                report["graph_rolled_back"].append(run_id)
                progress(f"recovery: graph part of {run_id} rolled back")
    except DatamigError as exc:
        errors.append(exc)
    finally:
        graph.close()
