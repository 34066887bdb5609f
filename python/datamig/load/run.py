"""`load_run`: one validated run folder into CERT, all or nothing across every CERT store.

The protocol, in order (each step's failure undoes everything before it):
 1. refuse a run whose validation failed or was never done;
 2. recover whatever an earlier, killed load or rollback left prepared (recovery.py);
 3. drift gate: CERT's catalog must still take every final column (drift.py);
 4. a run already loaded is reported as such and nothing changes;
 5. per PostgreSQL store, one transaction: ledger schema, the keys of every table staged (COPY
    from the Parquet via DuckDB) and matched against CERT; meanwhile Neo4j classified (read only);
 6. a strategy per table; insert conflicts stop the load here, listing the keys;
 7. per store: full rows staged and classified (new / changed / unchanged) where the strategy
    needs them, ledger + one set-based write per table, parents first (a plain insert is a
    COPY straight into the table), FK checks, PREPARE TRANSACTION;
 8. Neo4j, alongside 7 (the stores are independent until the decision, and each side spends
    its time waiting on its own server): batches, each committing its data with its ledger and
    holding the run node's lock while open, the fence an undo waits on (graph_load.py,
    graph.py); a failure on either side stops the other at its next table or batch;
 9. the decision record, durable (decision.py) -- from here on the run is finished, not undone;
10. COMMIT PREPARED in every store, Neo4j run marked committed.
A failure before 9 rolls back open and prepared transactions and compensates Neo4j from its
ledger; a kill at any point is resolved by the next recovery the same way, once the requests
the killed process had already sent are finished or stopped on the servers (recovery.py).
"""
from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor, wait
from datetime import datetime, timezone
from pathlib import Path

from ..config import Config
from ..errors import DatamigError, MigrationFailed
from ..extract.runs import attach_run_log, detach_run_log
from ..runfiles import read_json_or_none, write_json
from ..services.manager import check_cert_apart
from . import decision, drift, faults, graph_load, ledger
from . import strategy as strategies
from .catalog import StoreCatalog, read_catalog
from .graph import GraphStore
from .graph import connect as connect_graph
from .graph_undo import drop_constraints, undo
from .parquet_source import ParquetSource
from .pg_load import StoreLoad, table_loads
from .pgstore import PgStore, cert_url, gid
from .recovery import recover_locked
from .runfolder import RunFolder, check_validation, open_run

log = logging.getLogger("datamig.load")
REPORT = "load-report.json"
# A dry run's plan: load-report.json holds the real load's outcome, which a dry run never
# replaces (it writes its plan there too only while no real load has reported, for the run's report).
DRY_RUN_REPORT = "load-dry-run-report.json"


def load_run(cfg: Config, env: Mapping[str, str], run_dir: Path, strategy: str = "auto",
             dry_run: bool = False, progress: Callable[[str], None] | None = None) -> dict:
    """Load `run_dir` into CERT; returns the load report (also written to run_dir/load-report.json).

    strategy: auto | insert | upsert | merge. dry_run: per table what would be inserted,
    updated, left unchanged or conflict, in read-only transactions; CERT is not changed, and
    the report goes to load-dry-run-report.json (see DRY_RUN_REPORT).
    Per table the report counts the final's rows = new + changed + unchanged (against CERT),
    and what the strategy makes of them: inserted + updated (to_insert + to_update in a dry
    run) + unchanged = rows under upsert and merge, inserted + conflicts = rows under insert.
    An error the user can fix (a store unreachable, a setting missing) that stops the load before
    it writes to CERT writes no report: an earlier load's report stays as it was.
    """
    run_dir = Path(run_dir)
    check_cert_apart(cfg, env)
    requested = strategies.check(strategy)
    validation = check_validation(run_dir)
    folder = open_run(cfg, run_dir)
    handler = attach_run_log(run_dir)
    try:
        with decision.locked(run_dir.parent):
            return _Load(cfg, env, folder, requested, dry_run, progress or log.info, validation).run()
    finally:
        detach_run_log(handler)


class _Load:
    def __init__(self, cfg: Config, env: Mapping[str, str], folder: RunFolder, requested: str, dry_run: bool,
                 progress: Callable[[str], None], validation: str):
        self.cfg, self.env, self.folder = cfg, env, folder
        self.run_id = folder.run_id
        self.requested, self.dry_run, self.progress = requested, dry_run, progress
        self.source = ParquetSource()
        self.catalogs: dict[str, StoreCatalog] = {}
        self.schemas: dict[str, dict[str, list[tuple[str, str]]]] = {}
        self.stores: list[StoreLoad] = []
        self.pgs: dict[str, PgStore] = {}
        self.graph: GraphStore | None = None
        self.sets: list[graph_load.GraphSet] = []
        self.prepared: list[tuple[PgStore, str]] = []
        self.graph_started = False
        self.constraints: list[str] = []  # graph constraints this load created (ensure_constraints)
        self.taken_constraints: list[str] = []  # and those it took on, which a failure before its run leaves
        self.writing = False  # set once this load starts changing CERT (never in a dry run)
        self.decided = False
        self.left: list[str] = []  # what a failed load could not undo itself: the next recovery's
        self.started = time.monotonic()
        self.report: dict = {"run_id": self.run_id, "district": folder.district, "status": "RUNNING",
                             "dry_run": dry_run, "strategy": requested, "validation": validation,
                             "started_at": _now(), "stores": {}}

    # --- the protocol -----------------------------------------------------------------------

    def run(self) -> dict:
        try:
            if not self.dry_run:
                self.report["recovery"] = recover_locked(self.cfg, self.env, self.folder.path.parent, self.progress)
                # a recovery that finished or undid an earlier run changed CERT: its report is kept
                self.writing = any(self.report["recovery"].values())
            self._connect_graph()  # before the drift gate writes its report: a graph down changes no run file
            self._drift_gate()
            self._connect()
            if self._already_loaded():
                return self._finish("ALREADY_LOADED")
            if not self.dry_run:
                self.writing = True
                decision.clear(self.folder.path, "load", "rollback")
            self._stage_keys()
            self._choose_strategies()
            return self._plan() if self.dry_run else self._write_and_commit()
        except BaseException as exc:
            self._abort()
            exc = self._explained(exc)
            self._failed(exc)
            if isinstance(exc, DatamigError):
                raise exc from None
            raise
        finally:
            self._close()

    def _stage_keys(self) -> None:
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="datamig-graph-classify") as pool:
            classifying = pool.submit(self._classify_graph)  # read only, while the keys are staged
            for sl in self.stores:
                sl.begin()
                sl.stage_keys()
            classifying.result()

    def _plan(self) -> dict:
        """A dry run: what each table and graph set would get, then every transaction discarded."""
        for sl in self.stores:
            sl.stage_rows()
            sl.plan_report()
            sl.discard()
        for s in self.sets:
            s.counts["to_insert"], s.counts["to_update"] = strategies.effect(s.strategy, s.counts)
        return self._finish("DRY_RUN")

    def _write_and_commit(self) -> dict:
        self._write_every_store()
        self._fill_report()
        decision.write(self.folder.path, "load", self.run_id, [g for _, g in self.prepared],
                       self.graph.name if self.sets else None)
        self.decided = True
        self.progress(f"run {self.run_id}: decided, committing every store")
        faults.failpoint("load:after-decision")
        for pg, g in self.prepared:
            pg.commit_prepared(g)
            faults.failpoint(f"load:after-commit:{pg.name}")
        if self.sets:
            self.graph.set_status(self.run_id, "committed")
        return self._finish("LOADED")

    def _explained(self, exc: BaseException) -> BaseException:
        """A user's error, told where the run stands in CERT when that is not "unchanged"."""
        if self.decided and isinstance(exc, DatamigError):
            return type(exc)(f"{exc} (run {self.run_id}: load decided; the next recovery finishes it)")
        if self.left and isinstance(exc, DatamigError):
            return type(exc)(f"{exc} (run {self.run_id}: not yet undone in CERT: {'; '.join(self.left)}; "
                             f"the next load or rollback of this runs folder undoes it)")
        return exc

    def _drift_gate(self) -> None:
        problems = []
        for name, tables in self.folder.pg.items():
            store = self.cfg.stores[name]
            catalog = read_catalog(store, cert_url(store, self.env))
            self.catalogs[name] = catalog
            self.schemas[name] = {t: self.source.schema(p) for t, p in tables.items()}
            problems += drift.check_store(catalog, self.schemas[name])
        drift.write_report(self.folder.path, problems, sorted(self.folder.pg))
        if problems:
            more = f" (+{len(problems) - 1} more)" if len(problems) > 1 else ""
            raise MigrationFailed(f"run {self.run_id}: CERT has drifted: {problems[0].describe()}{more}; "
                                  f"see {drift.DRIFT_REPORT}; nothing was written")

    def _connect(self) -> None:
        for name, tables in self.folder.pg.items():
            store = self.cfg.stores[name]
            catalog = self.catalogs[name]
            loads = table_loads(catalog, self.run_id, tables, self.schemas[name], temp=self.dry_run)
            pg = PgStore(store, cert_url(store, self.env), self.env, f"load:{self.run_id}")
            self.pgs[name] = pg
            self.stores.append(StoreLoad(pg, loads, self.source, self.run_id, self.dry_run, self.progress))

    def _connect_graph(self) -> None:
        if self.folder.graph_store and (self.folder.nodes or self.folder.relationships):
            self.graph = connect_graph(self.cfg.stores[self.folder.graph_store], self.env)
            self.sets = graph_load.plan_sets(self.graph.name, self.folder.nodes, self.folder.relationships,
                                             self.cfg.graph.node_keys)

    def _already_loaded(self) -> bool:
        parts, loaded = [], {}
        for name, pg in self.pgs.items():
            parts.append(name)
            state = ledger.status(pg.conn, self.run_id)
            if state and state["status"] == "loaded":
                loaded[name] = state
        if self.sets:
            parts.append(self.graph.name)
            state = self.graph.run_state(self.run_id)
            if state and state.get("status") == "committed":
                loaded[self.graph.name] = state
        if not loaded:
            return False
        if len(loaded) < len(parts):
            missing = [p for p in parts if p not in loaded]
            raise MigrationFailed(f"run {self.run_id} is loaded in {', '.join(sorted(loaded))} but not in "
                                  f"{', '.join(missing)}; roll it back before loading it again")
        for name, state in loaded.items():
            self.report["stores"][name] = {"loaded_at": state.get("loaded_at"), "tables": state.get("tables")}
        self.report["message"] = f"run {self.run_id} is already loaded; nothing changed"
        return True

    def _classify_graph(self) -> None:
        if not self.sets:
            return
        if not self.dry_run:  # schema, not data: MERGE needs the key index to be fast and correct
            labels = {s.name: s.key_prop for s in self.sets if s.kind == "node"}
            for s in self.sets:
                if s.kind == "rel":
                    labels.setdefault(s.start_label, s.start_prop)
                    labels.setdefault(s.end_label, s.end_prop)
            self.constraints, self.taken_constraints = self.graph.ensure_constraints(labels)
        started = time.monotonic()
        graph_load.classify(self.graph, self.sets)
        self.report.setdefault("timings", {})["graph_classify_s"] = round(time.monotonic() - started, 3)

    def _choose_strategies(self) -> None:
        conflicts = []
        for sl in self.stores:
            for t in sl.loads:
                t.strategy = strategies.choose(self.requested, t.counts)
                t.counts["conflicts"] = strategies.conflicts(t.counts, t.strategy)
                if t.counts["conflicts"]:
                    conflicts.append((f"{sl.name}.{t.name}", t.counts["conflicts"], sl.existing_keys(t)))
        for s in self.sets:
            s.strategy = strategies.choose(self.requested, s.counts)
            s.counts["conflicts"] = strategies.conflicts(s.counts, s.strategy)
            if s.counts["conflicts"]:
                keys = [json.dumps(k, default=str) for k in s.conflicts]
                conflicts.append((f"{self.graph.name}.{s.id}", s.counts["conflicts"], keys))
        self._fill_report()
        if conflicts:
            self.report["conflicts"] = {name: {"count": n, "keys": keys} for name, n, keys in conflicts}
            if not self.dry_run:
                listed = "; ".join(f"{name}: {n} existing keys {', '.join(keys)}" for name, n, keys in conflicts)
                raise MigrationFailed(f"run {self.run_id}: insert conflicts, nothing written: {listed}")

    def _write_every_store(self) -> None:
        """PostgreSQL (full rows staged, written, prepared) here, Neo4j in a second thread; both
        have finished when this returns or raises. The error raised is the one that stopped the
        load, not the other side's "stopped"; an interrupt stops Neo4j at its next batch too."""
        stop = threading.Event()
        if not self.sets:
            self._write_and_prepare(stop)
            return
        self.graph_started = True
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="datamig-graph-load") as pool:
            applying = pool.submit(self._apply_graph, stop)
            try:
                try:
                    self._write_and_prepare(stop)
                except _Stopped:
                    pass  # the graph failed first: applying.result() raises its error
                applying.result()
            except BaseException:
                stop.set()
                wait([applying])
                raise

    def _apply_graph(self, stop: threading.Event) -> None:
        try:
            graph_load.apply(self.graph, self.sets, self.run_id, self.folder.district, self.progress, stop,
                             self.constraints + self.taken_constraints)
            faults.failpoint("load:after-graph")
        except BaseException:
            stop.set()
            raise

    def _write_and_prepare(self, stop: threading.Event) -> None:
        for sl in self.stores:
            _check(stop)
            sl.stage_rows()
        for sl in self.stores:
            _check(stop)
            sl.write(self.folder.district, self.requested)
            faults.failpoint(f"load:after-write:{sl.name}")
        for sl in self.stores:
            _check(stop)
            g = gid(self.run_id, sl.name)
            faults.failpoint(f"load:before-prepare:{sl.name}")
            sl.pg.prepare(g)
            self.prepared.append((sl.pg, g))
            self.report["stores"][sl.name]["gid"] = g
            self.progress(f"{sl.name}: prepared {g}")
            faults.failpoint(f"load:after-prepare:{sl.name}")

    # --- failure --------------------------------------------------------------------------

    def _abort(self) -> None:
        """Before the decision: nothing may survive. After it: leave the rest to recovery."""
        for pg in self.pgs.values():
            pg.abort()
        if self.decided:
            return
        # What cannot be undone now is left to the next recovery, and said: CERT holds it until then.
        for pg, g in self.prepared:
            try:
                pg.rollback_prepared(g)
            except DatamigError:
                self.left.append(f"{pg.name} (prepared transaction {g})")  # still prepared, no decision
        if self.graph_started:
            try:
                undo(self.graph, self.run_id, "compensated")
            except DatamigError:
                self.left.append(f"{self.graph.name} (the batches written)")  # 'applying'/'applied', no decision
        elif self.constraints:  # created, but no run node records them for an undo
            try:
                drop_constraints(self.graph, self.constraints, f"undoing run {self.run_id}")
            except DatamigError:
                pass  # schema only: CERT's data is as it was

    # --- report ---------------------------------------------------------------------------

    def _fill_report(self) -> None:
        for sl in self.stores:
            entry = self.report["stores"].setdefault(sl.name, {"kind": "postgres"})
            entry["tables"] = sl.report()
            entry["timings"] = sl.timings
        if self.sets:
            entry = self.report["stores"].setdefault(self.graph.name, {"kind": "neo4j"})
            entry["nodes"] = {s.name: {"strategy": s.strategy, **s.counts} for s in self.sets if s.kind == "node"}
            entry["relationships"] = {s.id: {"strategy": s.strategy, **s.counts} for s in self.sets if s.kind == "rel"}

    def _finish(self, status: str) -> dict:
        if status != "ALREADY_LOADED":
            self._fill_report()
        self.report["status"] = status
        self.report["totals"] = _totals(self.report)
        self.report["finished_at"] = _now()
        self.report["elapsed_s"] = round(time.monotonic() - self.started, 3)
        self._write_report()
        self.progress(f"run {self.run_id}: {status}")
        return self.report

    def _failed(self, exc: BaseException) -> None:
        if isinstance(exc, DatamigError) and not isinstance(exc, MigrationFailed) and not self.writing:
            return  # the user's to fix, and nothing happened: the error line says it all
        self.report["status"] = "FAILED"
        self.report["error"] = str(exc) if isinstance(exc, DatamigError) else type(exc).__name__
        self.report["finished_at"] = _now()
        try:
            self._write_report()
        except OSError:
            pass

    def _write_report(self) -> None:
        real = self.folder.path / REPORT
        if not self.dry_run:
            if self.report["status"] == "ALREADY_LOADED" and (_report_at(real) or {}).get("status") == "LOADED":
                return  # the load's own report (its timings, its recovery) stays; this one is returned
            write_json(real, self.report)
            return
        write_json(self.folder.path / DRY_RUN_REPORT, self.report)
        earlier = _report_at(real)
        if earlier is None or earlier.get("dry_run"):  # no real load's report to keep
            write_json(real, self.report)

    def _close(self) -> None:
        for pg in self.pgs.values():
            pg.close()
        if self.graph is not None:
            self.graph.close()
        self.source.close()


class _Stopped(Exception):
    """The other side of the load failed; its error is the one to report."""


def _check(stop: threading.Event) -> None:
    if stop.is_set():
        raise _Stopped


def _totals(report: dict) -> dict:
    totals = {"rows": 0, "existing": 0, "new": 0, "changed": 0, "unchanged": 0, "conflicts": 0, "inserted": 0,
              "updated": 0}
    for store in report["stores"].values():
        for group in ("tables", "nodes", "relationships"):
            for counts in (store.get(group) or {}).values():
                for k in totals:
                    totals[k] += int(counts.get(k, 0) or 0)
    return totals


def _report_at(path: Path) -> dict | None:
    """The report at `path`; None when there is none; {} when it is unreadable (kept as if real:
    not a dry run's to replace)."""
    if not path.exists():
        return None
    return read_json_or_none(path) or {}


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")
