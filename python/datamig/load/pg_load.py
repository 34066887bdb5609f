"""One CERT PostgreSQL store's part of a run, all inside one transaction.

Stage the keys of every final table (COPY from the Parquet through DuckDB) and count those
CERT already has; stage full rows only where the strategy needs them (upsert, merge, a cycle
written twice) and classify them new / changed / unchanged; then (unless dry run) record the
ledger and write each table with one set-based statement, parents first. A plain insert, the
bulk case, is one COPY straight into the target: no full staging, each row written once.

Order and cycles come from the analyze phase's dependency plan over CERT's own FKs:
- a deferrable FK is simply deferred (SET CONSTRAINTS ALL DEFERRED, checked before PREPARE);
- a cycle closed by a nullable, non-deferrable FK is loaded with that FK written NULL, then
  set by one UPDATE per table once every table of the store is written;
- a self-reference needs nothing: one statement writes the table and PostgreSQL checks a
  non-deferred FK at the end of the statement.
"""
from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from pathlib import Path

from ..analyze.dependency import DEFER, NULLIFY, plan_dependencies
from ..errors import MigrationFailed
from . import faults, ledger, pg_sql
from .catalog import StoreCatalog
from .parquet_source import ParquetSource
from .pg_sql import TableLoad
from .pgstore import PgStore
from .strategy import CONFLICT_LIMIT, effect, rewrites

Progress = Callable[[str], None]


def load_order(catalog: StoreCatalog, names) -> tuple[list[str], dict[str, tuple[str, ...]]]:
    """Table names parents first, and per table the FK columns a nullify break writes twice."""
    store = catalog.store
    ids = {f"{store.name}.{name}": name for name in names}
    fks = [fk for fk in catalog.fks if fk.child in ids and fk.parent in ids]
    plan = plan_dependencies(ids, fks)
    nullify: dict[str, list[str]] = {}
    for cycle in plan.cycles:
        if not cycle.breakable:
            raise MigrationFailed(f"store {store.name}: tables {', '.join(cycle.members)} form a foreign-key cycle "
                                  f"that no nullable or deferrable key can break")
        for brk in cycle.breaks:
            # A deferrable FK is cheaper to defer than to write twice, even when nullable.
            if brk.method == NULLIFY and not brk.fk.deferrable:
                nullify.setdefault(brk.fk.table, []).extend(brk.fk.columns)
            elif brk.method not in (NULLIFY, DEFER):
                raise MigrationFailed(f"store {store.name}: cannot load cycle break {brk.fk.name} ({brk.method})")
    return [ids[i] for i in plan.order], {t: tuple(dict.fromkeys(c)) for t, c in nullify.items()}


def key_of(catalog: StoreCatalog, name: str) -> tuple[str, ...]:
    key = catalog.tables[name].row_key()
    if not key:
        raise MigrationFailed(f"store {catalog.store.name}: table {name} has no primary or unique key in CERT; "
                              f"rows could not be matched, updated or undone")
    return tuple(key)


def restorable(catalog: StoreCatalog, name: str, key: tuple[str, ...]) -> tuple[str, ...]:
    """Columns an undo may set: not the key, not generated, not GENERATED ALWAYS AS IDENTITY."""
    return tuple(c.name for c in catalog.tables[name].columns if c.name not in key
                 and not catalog.fact(name, c.name).generated and catalog.fact(name, c.name).identity != "a")


def table_loads(catalog: StoreCatalog, run_id: str, tables: dict[str, Path],
                schemas: dict[str, list[tuple[str, str]]], temp: bool) -> list[TableLoad]:
    """TableLoads in load order (parents first), with their cycle-break columns."""
    store = catalog.store
    order, nullify = load_order(catalog, tables)
    tag = hashlib.sha1(run_id.encode()).hexdigest()[:8]
    loads = []
    for i, name in enumerate(order):
        cert = catalog.tables[name]
        columns = [c for c, _ in schemas[name] if not catalog.fact(name, c).generated]
        key = key_of(catalog, name)
        missing = [k for k in key if k not in columns]
        if missing:
            raise MigrationFailed(f"store {store.name}: table {name}: the final has no key column {missing[0]}")
        loads.append(TableLoad(
            store=store.name, schema=store.schema, name=name, parquet=tables[name], columns=columns,
            source_types=dict(schemas[name]), pg_types={c.name: c.data_type for c in cert.columns}, key=key,
            staging=f"stg_{tag}_{i}", temp=temp, nullify=nullify.get(name, ()),
            identity_always=any(catalog.fact(name, c).identity == "a" for c in columns),
            restorable=restorable(catalog, name, key), base_types=catalog.base_types(name)))
    return loads


class StoreLoad:
    def __init__(self, pg: PgStore, loads: list[TableLoad], source: ParquetSource, run_id: str,
                 dry_run: bool, progress: Progress):
        self.pg = pg
        self.loads = loads
        self.source = source
        self.run_id = run_id
        self.dry_run = dry_run
        self.progress = progress
        self.timings: dict[str, float] = {}
        self._sequences: dict[str, list[tuple[str, str]]] = {}  # table -> owned (column, sequence)

    @property
    def name(self) -> str:
        return self.pg.name

    def _timed(self, phase: str, started: float) -> None:
        self.timings[phase] = round(self.timings.get(phase, 0.0) + time.monotonic() - started, 3)

    def begin(self) -> None:
        """Dry run: TEMP staging tables are created first, outside the transaction, which is
        then READ ONLY; COPY into a temporary table is allowed there, any write to CERT is not."""
        if self.dry_run:
            for t in self.loads:
                for keys_only in (True, False):
                    self.pg.execute(pg_sql.create_staging(t, keys_only), doing=f"creating staging for {t.name}")
            self.pg.begin(read_only=True)
        else:
            self.pg.begin()
            self.pg.execute(ledger.DDL, doing="creating the datamig ledger schema")
            if not ledger.records_writers(self.pg.conn):
                self.pg.execute(ledger.XID_COLUMNS, doing="adding the writers' columns to datamig.runs")

    def _copy(self, t: TableLoad, query, columns: list[str], with_row: bool, doing: str) -> None:
        try:
            with self.pg.conn.cursor() as cur, cur.copy(query) as copy:
                for block in self.source.csv_blocks(t.parquet, [(c, t.source_types[c]) for c in columns], with_row):
                    copy.write(block)
        except Exception as exc:
            raise self.pg.error(exc, doing) from None

    def stage_keys(self) -> None:
        """Keys only, every table: duplicates and NULLs refused, existing keys counted. That is all
        the strategy choice and the conflict check need, for a fraction of the bytes."""
        for t in self.loads:
            started = time.monotonic()
            doing = f"staging keys of {t.name}"
            self._check_keys(t)
            if not self.dry_run:
                self.pg.execute(pg_sql.create_staging(t, keys_only=True), doing=doing)
            self._copy(t, pg_sql.copy_into_staging(t, keys_only=True), list(t.key), True, doing)
            rows, existing = self.pg.execute(pg_sql.count_keys(t), doing=f"comparing keys of {t.name}").fetchone()
            t.counts = {"rows": rows, "existing": existing}
            self._timed("stage_s", started)
            self.progress(f"{self.name}.{t.name}: {rows} keys staged, {existing} already in CERT")
            faults.failpoint("load:after-stage")

    def _check_keys(self, t: TableLoad) -> None:
        nulls, dups = self.source.key_problems(t.parquet, t.key)
        if nulls:
            # said why: the key is CERT's (a unique key of nullable columns, PROD's key aside), and
            # the line alone left the user to guess what to change
            raise MigrationFailed(f"store {self.name}: table {t.name}: {nulls} final rows have a NULL in CERT's key "
                                  f"of the table ({', '.join(t.key)}), by which the load matches, records and undoes "
                                  f"rows, and a NULL matches no row; give the table in CERT a primary key or a unique "
                                  f"key of NOT NULL columns")
        if dups:
            raise MigrationFailed(f"store {self.name}: table {t.name}: the final repeats keys {', '.join(dups)}")

    def stage_rows(self) -> None:
        """Full rows for the tables that need them (upsert, merge, cycle-broken inserts, and any
        table with existing keys in a dry run, to tell changed from unchanged rows), then the
        row-level classification. A plain insert needs neither: every row is new."""
        for t in self.loads:
            c = t.counts
            if t.direct and not (self.dry_run and c["existing"]):
                c.update(new=c["rows"] - c["existing"], changed=0, unchanged=0)
                continue
            started = time.monotonic()
            doing = f"staging table {t.name}"
            if not self.dry_run:
                self.pg.execute(pg_sql.create_staging(t, keys_only=False), doing=doing)
            self._copy(t, pg_sql.copy_into_staging(t, keys_only=False), t.columns, True, doing)
            if not self.dry_run:
                self.pg.execute(pg_sql.analyze(t.stg), doing=doing)
            self._timed("stage_s", started)
            started = time.monotonic()
            _, new, changed, same = self.pg.execute(pg_sql.classify(t), doing=f"comparing {t.name}").fetchone()
            c.update(new=new, changed=changed, unchanged=same)
            self._timed("classify_s", started)
            self.progress(f"{self.name}.{t.name}: {c['rows']} rows staged")

    def existing_keys(self, t: TableLoad) -> list[str]:
        return [r[0] for r in self.pg.execute(pg_sql.existing_keys(t, CONFLICT_LIMIT),
                                              doing=f"listing conflicts of {t.name}")]

    def write(self, district: int | None, strategy: str) -> None:
        params = {"run": self.run_id}
        # A reload after a rollback starts its key record afresh.
        self.pg.execute("DELETE FROM datamig.run_keys WHERE run_id = %(run)s", params, "clearing the run's keys")
        self.pg.execute("DELETE FROM datamig.sequences WHERE run_id = %(run)s", params,
                        "clearing the run's sequence record")
        defaults = self._default_sequences()
        for t in self.loads:
            started = time.monotonic()
            params["table"] = t.table_name
            c = t.counts
            doing = f"writing table {t.name} ({t.strategy})"
            inserted, updated = effect(t.strategy, c)
            replaced = rewrites(t.strategy, c)
            if c["rows"]:
                self.pg.execute(pg_sql.record_run_keys(t), params, doing)
            if t.strategy == "insert":
                if c["rows"]:
                    self.pg.execute(pg_sql.ledger_inserts(t, all_new=True), params, doing)
                    if t.direct:  # the bulk path: straight from the Parquet into the table
                        self._copy(t, pg_sql.copy_into_target(t), t.columns, False, doing)
                    else:
                        self.pg.execute(pg_sql.write_insert(t), doing=doing)
            else:
                if replaced:  # before-images of exactly the rows the write will replace
                    # an upsert with nothing to set (every column a key or a cycle key) leaves the
                    # rows alike as they are: imaged, they read as CERT's writes at the rollback
                    only_changed = t.strategy == "merge" or not pg_sql.updatable(t)
                    self.pg.execute(pg_sql.ledger_updates(t, only_changed=only_changed), params, doing)
                if inserted:
                    self.pg.execute(pg_sql.ledger_inserts(t, all_new=False), params, doing)
                if inserted or replaced:
                    self.pg.execute(pg_sql.write_upsert(t) if t.strategy == "upsert" else pg_sql.write_merge(t),
                                    doing=doing)
            c.update(inserted=inserted, updated=updated)
            self._timed("write_s", started)
            self.progress(f"{self.name}.{t.name}: {t.strategy}: {inserted} inserted, {updated} updated")
        started = time.monotonic()
        for t in self.loads:
            if t.nullify and (t.counts["new"] or t.counts["changed"] or t.strategy == "upsert"):
                self.pg.execute(pg_sql.fix_nullified(t), doing=f"setting {', '.join(t.nullify)} of {t.name}")
        self._advance_sequences()
        self._record_drawn(defaults)
        try:
            ledger.record_load(self.pg.conn, self.run_id, district, strategy, self.report())
        except Exception as exc:
            raise self.pg.error(exc, "recording the run in datamig.runs") from None
        for t in self.loads:
            self.pg.execute(pg_sql.drop_staging(t), doing="dropping staging tables")
        self.pg.check_constraints()
        self._timed("write_s", started)

    def _advance_sequences(self) -> None:
        """Explicit ids were written: serial and identity sequences of those columns move up to
        at least the column's max, so CERT's own next insert does not collide with a loaded row."""
        for t in self.loads:
            if not t.counts.get("inserted"):
                continue
            doing = f"advancing sequences of {t.name}"
            for column, seq in self._owned_sequences(t):
                if column in t.columns:
                    row = self.pg.execute(pg_sql.advance_sequence(t, column, seq), doing=doing).fetchone()
                    if row:
                        # where it stood, so the rollback can move it back (ledger.moved_sequences)
                        self.pg.execute(pg_sql.record_sequence(), {
                            "run": self.run_id, "table": t.name, "column": column, "seq": seq,
                            "before": row[1], "called": row[2], "after": row[0]}, doing)
                        self.progress(f"{self.name}.{t.name}: sequence of {column} advanced to {row[0]}")

    def _default_sequences(self) -> list[tuple]:
        """(table, column, sequence, last_value, is_called) of the serial and identity columns
        the final does not write, read before any write: their default draws from the sequence
        for each row an insert writes (an upsert's conflicting rows too)."""
        states = []
        for t in self.loads:
            if not t.counts["rows"]:
                continue
            doing = f"reading the sequences of {t.name}"
            for column, seq in self._owned_sequences(t):
                if column not in t.columns:
                    states.append((t.name, column, seq, *self.pg.execute(pg_sql.sequence_state(seq), doing=doing)
                                   .fetchone()))
        return states

    def _owned_sequences(self, t) -> list[tuple[str, str]]:
        """(column, sequence) of t's serial and identity columns, read once per load: both the
        advance and the record of default draws need them."""
        if t.name not in self._sequences:
            self._sequences[t.name] = self.pg.execute(pg_sql.owned_sequences(t),
                                                      doing=f"reading the sequences of {t.name}").fetchall()
        return self._sequences[t.name]

    def _record_drawn(self, states: list[tuple]) -> None:
        """Those the write drew from are recorded as an advance is, so the rollback moves them
        back too (restore_sequence: only while CERT has drawn nothing since)."""
        for table, column, seq, before, called in states:
            doing = f"reading the sequence of {table}.{column}"
            after, drawn = self.pg.execute(pg_sql.sequence_state(seq), doing=doing).fetchone()
            if (after, drawn) != (before, called):
                self.pg.execute(pg_sql.record_sequence(), {
                    "run": self.run_id, "table": table, "column": column, "seq": seq,
                    "before": before, "called": called, "after": after}, doing)

    def report(self) -> dict:
        return {t.name: {"strategy": t.strategy, **t.counts} for t in self.loads}

    def plan_report(self) -> None:
        """Dry run: what the chosen strategy would insert and update."""
        for t in self.loads:
            if "new" in t.counts:
                t.counts["to_insert"], t.counts["to_update"] = effect(t.strategy, t.counts)

    def discard(self) -> None:
        """Dry run or failure before PREPARE: nothing of this transaction survives."""
        self.pg.abort()
        if self.dry_run and not self.pg.conn.closed:
            for t in self.loads:
                try:
                    self.pg.execute(pg_sql.drop_staging(t))
                except Exception:
                    break
