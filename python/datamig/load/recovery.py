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
"""
from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Mapping
from pathlib import Path

from ..config import Config
from ..errors import DatamigError
from . import decision, ledger
from .graph import connect as connect_graph
from .graph_undo import undo
from .pgstore import PgStore, parse_gid

log = logging.getLogger("datamig.load")
_COMMITTED_STATUS = {"load": "loaded", "rollback": "rolled_back"}


def recover(cfg: Config, env: Mapping[str, str], out_dir: Path,
            progress: Callable[[str], None] | None = None) -> dict:
    out_dir = Path(out_dir)
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
