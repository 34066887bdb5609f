"""`rollback_run`: put CERT back exactly as it was before one run, from the ledger that run left.

Per PostgreSQL store, in one transaction: restore the before-image of every row the run
updated (CERT-only columns included), cut the nullable cycle FKs of the rows it inserted,
delete those rows children first, drop the run's ledger entries and mark it rolled back;
then PREPARE. Once every store is prepared the decision is written, then COMMIT PREPARED
everywhere, then the Neo4j undo. The graph undo comes after the decision (not before, as in
a load) because it is idempotent and replayable from its ledger: recovery finishes it, while
compensating an undo would need after-images nobody kept.

Refused when a later run, still loaded, loaded one of the keys this run inserted or updated
(written, or found unchanged by a merge): restoring this run's before-images or deleting its
rows would silently destroy what that run holds. Refused too when a node the run created has
relationships it did not create (drawn in CERT since): deleting the node would take them,
as PostgreSQL's foreign keys refuse to delete a loaded row CERT's own rows reference. When a
later run still loaded created them, the refusal names that run, to roll back first.
Refused too, unless forced, when CERT wrote a row the run inserted or updated since the load
(its xmin, the transaction that wrote its current version, is not the load's: ledger.writers):
deleting or restoring it would silently destroy that change. Checked inside the undo's transaction, so a change
committed after the check stops the undo (a serialization failure) rather than being lost.
"""
from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from psycopg import sql

from ..config import Config
from ..errors import DatamigError, MigrationFailed, NotFound
from ..runfiles import write_json
from ..services.manager import check_cert_apart
from . import decision, faults, graph_undo, ledger, pg_sql
from .catalog import read_catalog
from .graph import GraphStore
from .graph import connect as connect_graph
from .pg_load import key_of, load_order, restorable
from .pg_sql import TableLoad
from .pgstore import PgStore, cert_url, gid, parse_gid
from .recovery import recover_locked

log = logging.getLogger("datamig.load")
REPORT = "rollback-report.json"


def rollback_run(cfg: Config, env: Mapping[str, str], out_dir: Path, run_id: str,
                 progress: Callable[[str], None] | None = None, force: bool = False) -> dict:
    """`force`: roll back over the rows CERT wrote since the load (their change is lost)."""
    out_dir = Path(out_dir)
    progress = progress or log.info
    check_cert_apart(cfg, env)
    with decision.locked(out_dir):
        recovery = recover_locked(cfg, env, out_dir, progress)
        return _Rollback(cfg, env, out_dir, run_id, progress, force).run(recovery)


class _Rollback:
    def __init__(self, cfg, env, out_dir: Path, run_id: str, progress, force: bool = False):
        self.cfg, self.env, self.run_id, self.progress, self.force = cfg, env, run_id, progress, force
        self.run_dir = out_dir / run_id
        self.stores: dict[str, PgStore] = {}
        self.undo: dict[str, list[TableLoad]] = {}
        self.graph: GraphStore | None = None
        self.graph_ledger: graph_undo.RunLedger | None = None  # read once, for the checks and the undo
        self.prepared: list[tuple[PgStore, str]] = []
        self.sequences: dict[str, list[tuple]] = {}  # per store: what the run moved up
        self.decided = False

    def run(self, recovery: dict) -> dict:
        started = time.monotonic()
        try:
            loaded, graph_state = self._find()
            if not loaded and graph_state is None:
                return self._nothing_loaded(recovery, started)
            self._refuse_if_overwritten(loaded, graph_state)
            self.run_dir.mkdir(parents=True, exist_ok=True)
            decision.clear(self.run_dir, "rollback")
            counts = self._undo_postgres(loaded)
            if self.graph is not None and graph_state is not None:
                self.graph.run_state(self.run_id)  # reachable now, or fail before deciding
            decision.write(self.run_dir, "rollback", self.run_id, [g for _, g in self.prepared],
                           self.graph.name if self.graph else None)
            self.decided = True
            faults.failpoint("rollback:after-decision")
            for pg, g in self.prepared:
                pg.commit_prepared(g)
                faults.failpoint(f"rollback:after-commit:{pg.name}")
            graph_counts = None
            if self.graph is not None and graph_state is not None:
                graph_counts = graph_undo.undo(self.graph, self.run_id, "rolled_back", self.graph_ledger)
            report = {"run_id": self.run_id, "status": "ROLLED_BACK",
                      "finished_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                      "elapsed_s": round(time.monotonic() - started, 3), "stores": counts,
                      "graph": graph_counts, "sequences": self._restore_sequences(), "recovery": recovery}
            write_json(self.run_dir / REPORT, report)
            return report
        except BaseException as exc:
            self._abort()
            if self.decided and isinstance(exc, DatamigError):
                raise type(exc)(f"{exc} (run {self.run_id}: rollback decided; the next recovery finishes it)") \
                    from None
            raise
        finally:
            for pg in self.stores.values():
                pg.close()
            if self.graph is not None:
                self.graph.close()

    def _find(self) -> tuple[list[str], dict | None]:
        loaded = []
        for store in self.cfg.postgres_stores():
            pg = PgStore(store, cert_url(store, self.env), self.env, f"rollback:{self.run_id}")
            self.stores[store.name] = pg
            state = ledger.status(pg.conn, self.run_id)
            if state and state["status"] == "loaded":
                loaded.append(store.name)
        graph_state = None
        if self.cfg.graph is not None:
            # Its setting unset is an error (connect says which), not a graph to skip: only CERT's
            # graph tells whether the run wrote to it, and the rollback would say done without it.
            self.graph = connect_graph(self.cfg.stores[self.cfg.graph.store], self.env)
            state = self.graph.run_state(self.run_id)
            graph_state = state if state and state.get("status") == "committed" else None
        return loaded, graph_state

    def _nothing_loaded(self, recovery: dict, started: float) -> dict:
        """Not loaded now: an error, unless the recovery this rollback ran first has just undone
        this run (its killed load, or finished its killed rollback): then that is the rollback."""
        undone = undone_by_recovery(recovery, self.run_id)
        if not undone:
            raise NotFound(f"run {self.run_id} is not loaded in CERT; nothing to roll back")
        report = {"run_id": self.run_id, "status": "ROLLED_BACK", "by_recovery": undone,
                  "finished_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                  "elapsed_s": round(time.monotonic() - started, 3), "stores": {}, "graph": None,
                  "recovery": recovery}
        self.run_dir.mkdir(parents=True, exist_ok=True)
        write_json(self.run_dir / REPORT, report)
        self.progress(f"run {self.run_id}: {undone}")
        return report

    def _refuse_if_overwritten(self, loaded: list[str], graph_state: dict | None) -> None:
        for name in loaded:
            pg = self.stores[name]
            catalog = read_catalog(pg.store, pg.url)
            tables = [t.split(".", 1)[1] for t in ledger.tables_of(pg.conn, self.run_id)]
            missing = [t for t in tables if t not in catalog.tables]
            if missing:
                raise MigrationFailed(f"store {name}: table {missing[0]} of run {self.run_id} no longer exists in CERT")
            order, nullify = load_order(catalog, tables)
            recorded = ledger.key_columns(pg.conn, self.run_id)
            loads = []
            for table in order:
                key = self._recorded_key(name, catalog, table, recorded.get(f"{pg.store.schema}.{table}", []))
                loads.append(TableLoad(
                    store=name, schema=pg.store.schema, name=table, parquet=None, columns=[], source_types={},
                    pg_types={c.name: c.data_type for c in catalog.tables[table].columns}, key=key,
                    nullify=nullify.get(table, ()), restorable=restorable(catalog, table, key),
                    base_types=catalog.base_types(table)))
            self.undo[name] = loads
            for t in loads:
                row = pg.execute(pg_sql.later_rekeyed(t), {"run": self.run_id, "table": t.table_name},
                                 f"checking later runs on {t.name}").fetchone()
                if row:
                    raise MigrationFailed(
                        f"run {self.run_id}: cannot roll back: later run {row[0]} recorded {name}.{t.name} by other "
                        f"key columns than this run's ({', '.join(t.key)}), so the rows both wrote cannot be told "
                        f"apart; roll back {row[0]} first")
                row = pg.execute(pg_sql.later_overlap(t), {"run": self.run_id, "table": t.table_name},
                                 f"checking later runs on {t.name}").fetchone()
                if row:
                    raise MigrationFailed(
                        f"run {self.run_id}: cannot roll back: later run {row[0]} loaded rows this run wrote "
                        f"({name}.{t.name} {row[1]}); roll back {row[0]} first")
        if graph_state is not None:
            self.graph_ledger = graph_undo.RunLedger(self.graph, self.run_id)  # undo works from it too
            hit = graph_undo.later_overlap(self.graph, self.graph_ledger, graph_state.get("loaded_at"))
            if hit:
                raise MigrationFailed(
                    f"run {self.run_id}: cannot roll back: later run {hit[0]} loaded graph entities this run wrote "
                    f"({self.graph.name} {hit[1]}); roll back {hit[0]} first")
            linked = graph_undo.foreign_link(self.graph, self.graph_ledger)
            if linked:
                self._refuse_linked(*linked)

    def _recorded_key(self, store: str, catalog, table: str, recorded: list[str]) -> tuple[str, ...]:
        """The key the ledger names the run's rows by (CERT's key at the load), while CERT still
        holds it as a primary or unique key: a unique key CERT added since must not block the
        rollback. Matched by another key, every entry would find nothing, and the run's rows
        would stay while the rollback said done."""
        key = key_of(catalog, table)
        if not recorded or set(key) == set(recorded):
            return key
        cert = catalog.tables[table]
        same = [tuple(k) for k in (cert.primary_key, *cert.unique_keys) if k and set(k) == set(recorded)]
        if not same:
            raise MigrationFailed(
                f"run {self.run_id}: cannot roll back: {store}.{table} is keyed by ({', '.join(key)}) in CERT now; "
                f"the run recorded its rows by ({', '.join(recorded)}), CERT's key when it loaded; "
                f"give the table that key again first")
        return same[0]

    def _refuse_linked(self, label: str, key, types: list[str]) -> None:
        """Drawn by a later run still loaded: that run is rolled back first (its own rollback
        deletes them, and deleting them by hand would leave its ledger lying); else by CERT."""
        node = f"{self.graph.name} {label} {json.dumps(key, default=str)}, a node this run created,"
        owners = graph_undo.link_owners(self.graph, self.run_id, label, key, types)
        if owners:
            raise MigrationFailed(
                f"run {self.run_id}: cannot roll back: {node} has relationships later run {owners[0]} created "
                f"({', '.join(types)}); roll back {owners[0]} first")
        raise MigrationFailed(
            f"run {self.run_id}: cannot roll back: {node} has relationships it did not create "
            f"({', '.join(types)}); delete them first")

    def _undo_postgres(self, loaded: list[str]) -> dict:
        counts = {}
        for name in loaded:
            pg, loads = self.stores[name], self.undo[name]
            ledgered = ledger.count_entries(pg.conn, self.run_id)
            undone = {t.table_name: _TableUndo(**ledgered.get(t.table_name, {})) for t in loads}
            pg.begin()
            if not self.force:
                self._refuse_if_changed(pg, loads)
            # Before-images first: an updated row may point at a row the run inserted, and
            # its old value points at a row that existed before the run (never deleted).
            for t in loads:
                if t.restorable:
                    self._restore(pg, t, undone[t.table_name])
            for t in loads:
                if t.nullify:
                    pg.execute(pg_sql.null_out_inserted(t), self._params(t), f"cutting cycle keys of {t.name}")
            self._refuse_if_cascading(pg, loads)
            for t in reversed(loads):  # children first
                undone[t.table_name].deleted = pg.execute(pg_sql.delete_inserted(t), self._params(t),
                                                          f"deleting rows of {t.name}").rowcount
            counts[name] = {table: u.report() for table, u in undone.items()}
            try:
                self.sequences[name] = ledger.moved_sequences(pg.conn, self.run_id)
                ledger.record_rollback(pg.conn, self.run_id)
            except Exception as exc:
                raise pg.error(exc, "recording the rollback") from None
            pg.check_constraints()
            g = gid(self.run_id, name, "rollback")
            pg.prepare(g)
            self.prepared.append((pg, g))
            self.progress(f"{name}: rollback of {self.run_id} prepared")
            faults.failpoint(f"rollback:after-prepare:{name}")
        return counts

    def _refuse_if_changed(self, pg: PgStore, loads: list[TableLoad]) -> None:
        xids = ledger.writers(pg.conn, self.run_id)
        if xids is None:
            return
        for t in loads:
            row = pg.execute(pg_sql.changed_since(t), {**self._params(t), "xids": xids},
                             f"looking for rows of {t.name} written since the load").fetchone()
            if row:
                undo = "delete it" if row[1] == "inserted" else "overwrite it with the row before the run"
                raise MigrationFailed(
                    f"run {self.run_id}: cannot roll back: CERT wrote {pg.name}.{t.name} {row[0]}, a row this run "
                    f"{row[1]}, since the load, and the rollback would {undo}; delete that row first, or roll back "
                    f"with --force")

    def _refuse_if_cascading(self, pg: PgStore, loads: list[TableLoad]) -> None:
        """After the restores, before any delete: a row the run did not insert that references a
        row it did, by a key that cascades or sets on delete. PostgreSQL refuses such a delete
        under NO ACTION or RESTRICT; under these it would change that row, unasked."""
        own = {(t.schema, t.name): t for t in loads}
        for t in loads:
            fks = pg.execute(pg_sql.cascading_fks(t), doing=f"reading the foreign keys onto {t.name}").fetchall()
            for name, action, schema, table, columns, referenced in fks:
                child = sql.Identifier(schema, table)
                row = pg.execute(pg_sql.cascaded_row(t, child, columns, referenced, own.get((schema, table))),
                                 self._params(t), f"checking the rows referencing {t.name}").fetchone()
                if row:
                    effect = "delete those rows with it" if action == "CASCADE" else "change their key"
                    raise MigrationFailed(
                        f"run {self.run_id}: cannot roll back: rows of {pg.name}.{table} the run did not insert "
                        f"reference {pg.name}.{t.name} {row[0]}, a row this run inserted, by {name} (ON DELETE "
                        f"{action}): deleting it would {effect}; delete them or point them elsewhere first")

    def _restore(self, pg: PgStore, t: TableLoad, undone: _TableUndo) -> None:
        changed = [r[0] for r in pg.execute(pg_sql.restore_updates(t), self._params(t), f"restoring rows of {t.name}")]
        undone.changed_back, undone.unchanged = sum(changed), changed.count(False)

    def _restore_sequences(self) -> dict[str, list[str]]:
        """Last, once the rollback has committed (setval is not transactional: done before, a
        rollback that then failed would leave the run's ids above the sequence, and CERT's next
        insert would clash). Killed before this, a sequence stays ahead: a gap, never a clash."""
        restored: dict[str, list[str]] = {}
        for name, moved in self.sequences.items():
            pg = self.stores[name]
            for table, column, seq, before, called, after in moved:
                row = pg.execute(pg_sql.restore_sequence(pg.store.schema, table, column, seq),
                                 {"before": before, "called": called, "after": after},
                                 f"moving the sequence of {table}.{column} back").fetchone()
                if row:
                    restored.setdefault(name, []).append(seq)
        return restored

    def _params(self, t: TableLoad) -> dict:
        return {"run": self.run_id, "table": t.table_name}

    def _abort(self) -> None:
        for pg in self.stores.values():
            pg.abort()
        if self.decided:
            return  # recovery commits the rest and finishes the graph undo
        for pg, g in self.prepared:
            try:
                pg.rollback_prepared(g)
            except DatamigError:
                pass  # left prepared without a decision: the next recovery rolls it back


@dataclass
class _TableUndo:
    """One table's rollback: the run's rows and before-images by its ledger, then what the
    statements did to them. What the ledger names and the statements did not find, CERT
    deleted since (`already_gone`: CERT's change, kept)."""
    inserted: int = 0  # the ledger's
    updated: int = 0
    changed_back: int | None = None  # None: no column an undo may set (all key or generated)
    unchanged: int = 0  # images of rows an upsert rewrote with the values they held
    deleted: int = 0

    def report(self) -> dict:
        if self.changed_back is None:
            changed, gone = self.updated, 0
        else:
            changed, gone = self.changed_back, self.updated - self.changed_back - self.unchanged
        return {"inserted": self.deleted, "updated": changed, "unchanged": self.unchanged,
                "already_gone": gone + self.inserted - self.deleted}


def undone_by_recovery(recovery: dict, run_id: str) -> str | None:
    """What a recovery report did to `run_id` that leaves it out of CERT, in words, or None."""
    ops = {parse_gid(g)[2] for g in recovery.get("rolled_back", []) if parse_gid(g)[0] == run_id}
    finished = {parse_gid(g)[2] for g in recovery.get("committed", []) if parse_gid(g)[0] == run_id}
    if "rollback" in finished or run_id in recovery.get("graph_rolled_back", []):
        return "recovery finished the interrupted rollback of this run"
    if "load" in ops or run_id in recovery.get("graph_compensated", []):
        return "recovery undid the interrupted load of this run"
    return None
