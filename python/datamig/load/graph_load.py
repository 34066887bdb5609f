"""The run's nodes and relationships into CERT Neo4j: classify (read only), then apply in
batches of BATCH rows, each batch one transaction holding its data and its ledger.

Nodes are MERGEd on their label's business key; relationships are matched by the business
keys of their two ends (internal ids of PROD mean nothing in CERT) and MERGEd, keeping their
properties; one without properties is just the pattern. `SET x += props` writes the final's
properties and keeps CERT-only ones; a NULL in the final means "no value", never "remove".

A node's other labels (the final's LABELS column, `:Staff:Teacher` in Staff's file) are added
to it the same way: CERT-only labels stay, and a CERT node lacking one of them is changed (its
before-image records the labels it had and those the run added, for the undo to take off).
Labels are spliced into Cypher quoted (a label can be any name), one statement per set of
labels in a batch; a label the graph cannot hold, or one of the ledger's, is refused in classify.
"""
from __future__ import annotations

import decimal
import json
import threading
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from ..analyze.graph_keys import LABELS
from ..errors import MigrationFailed
from . import faults
from .graph import BATCH, LEDGER_LABELS, UNZERO, GraphStore, now, q, value_differs, zeros
from .strategy import effect
from .parquet_source import prefetch

CONFLICT_LIMIT = 20


@dataclass
class GraphSet:
    """One label's nodes or one (type, start label, end label) group of relationships."""

    kind: str        # node | rel
    name: str        # label or relationship type
    path: Path
    key_prop: str = ""                 # node: the label's business key
    start_label: str = ""
    start_prop: str = ""
    end_label: str = ""
    end_prop: str = ""
    counts: dict = field(default_factory=dict)
    strategy: str = ""
    conflicts: list = field(default_factory=list)
    duplicates: int | None = None      # rows naming the key (node) or (start, end) (rel) of an earlier row

    @property
    def id(self) -> str:
        return self.name if self.kind == "node" else f"({self.start_label})-[{self.name}]->({self.end_label})"


def _value(v):
    """Parquet values as Bolt can carry them."""
    if isinstance(v, decimal.Decimal):
        return float(v)
    if isinstance(v, uuid.UUID):
        return str(v)
    if isinstance(v, dict):
        return json.dumps(v, sort_keys=True, default=str)
    if isinstance(v, list):
        return [_value(x) for x in v]
    return v


def _plain(t: pa.DataType) -> bool:
    """Types whose Python values Bolt carries as they are (`_value` would return them unchanged)."""
    return (pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_boolean(t) or pa.types.is_date(t)
            or pa.types.is_string(t) or pa.types.is_large_string(t))


# pandas Timestamps the driver can pack: nanoseconds since the epoch must fit an int64.
_PANDAS_RANGE = (datetime(1678, 1, 1, tzinfo=timezone.utc), datetime(2261, 12, 31, tzinfo=timezone.utc))


def _timestamps(col: pa.Array) -> list | None:
    """A UTC or naive timestamp column as pandas Timestamps: the driver packs them to the same
    Bolt value as a datetime (same instant, same zone name) in a fraction of the time; None
    when some value lies outside the range a Timestamp can be packed from."""
    t = col.type
    if not pa.types.is_timestamp(t) or t.tz not in (None, "UTC"):
        return None
    low, high = pc.min_max(col).values()
    if low.is_valid and not (_PANDAS_RANGE[0] <= low.as_py().replace(tzinfo=timezone.utc) and
                             high.as_py().replace(tzinfo=timezone.utc) <= _PANDAS_RANGE[1]):
        return None
    values = col.to_pandas().tolist()
    return [None if null else v for v, null in zip(values, col.is_null().to_pylist())]


def _column(col: pa.Array) -> list:
    values = _timestamps(col)
    if values is not None:
        return values
    values = col.to_pylist()
    return values if _plain(col.type) else [_value(v) for v in values]


def _columns(batch: pa.RecordBatch, skip: tuple[str, ...] = ()) -> dict[str, list]:
    return {name: _column(batch.column(i)) for i, name in enumerate(batch.schema.names) if name not in skip}


def _prop_maps(columns: dict[str, list], n: int) -> list[dict]:
    """One property map per row; a NULL is no property at all."""
    items = list(columns.items())
    return [{k: v[i] for k, v in items if v[i] is not None} for i in range(n)]


def plan_sets(store: str, nodes: dict[str, Path], rels: dict[str, Path], node_keys: dict[str, str]) -> list[GraphSet]:
    """Node sets first (relationships need their ends), each relationship type split by its
    (start label, end label) pair so every query names its labels and uses their indexes."""
    sets = []
    for label, path in sorted(nodes.items()):
        key = node_keys.get(label)
        if not key:
            raise MigrationFailed(f"store {store}: label {label} has no business key in config graph.node_keys")
        sets.append(GraphSet("node", label, path, key_prop=key))
    for rel_type, path in sorted(rels.items()):
        ends = pq.read_table(path, columns=["start_label", "end_label"]).group_by(["start_label", "end_label"])
        pairs = {(r["start_label"], r["end_label"]) for r in ends.aggregate([]).to_pylist()}
        for start, end in sorted(pairs):
            for label in (start, end):
                if not node_keys.get(label):
                    raise MigrationFailed(f"store {store}: relationship {rel_type}: label {label} has no business key "
                                          f"in config graph.node_keys")
            sets.append(GraphSet("rel", rel_type, path, start_label=start, start_prop=node_keys[start],
                                 end_label=end, end_prop=node_keys[end]))
    return sets


def _own(s: GraphSet, batch: pa.RecordBatch) -> pa.RecordBatch:
    """A relationship file holds every (start label, end label) pair of its type: this set's."""
    if s.kind == "node":
        return batch
    return batch.filter(pc.and_(pc.equal(batch.column("start_label"), s.start_label),
                                pc.equal(batch.column("end_label"), s.end_label)))


def _other_labels(s: GraphSet, batch: pa.RecordBatch) -> list[list[str]]:
    """Each node's labels besides `s`'s (none in a final made before they travelled), checked."""
    if LABELS not in batch.schema.names:
        return [[] for _ in range(batch.num_rows)]
    out = []
    for labels in batch.column(LABELS).to_pylist():
        labels = sorted(set(labels or ()) - {s.name})
        for label in labels:
            _check_label(s, label)
        out.append(labels)
    return out


def _check_label(s: GraphSet, label) -> None:
    """A label Neo4j cannot hold (empty, not text) or one of the ledger's, which would make a
    node of the district a ledger entry: one line, before anything is written."""
    if not isinstance(label, str) or not label or label in LEDGER_LABELS:
        raise MigrationFailed(f"label {s.name}: a node has the label {label!r} besides it, which cannot be "
                              f"loaded into CERT" + (" (the load's ledger uses it)" if label in LEDGER_LABELS else ""))


def _batch_rows(s: GraphSet, batch: pa.RecordBatch, props: bool = True) -> list[dict]:
    """Rows of an `_own` batch; without `props`, the keys alone. A node's "l": its other labels."""
    if s.kind == "node":
        columns = _columns(batch, (LABELS,)) if props else {s.key_prop: _column(batch.column(s.key_prop))}
        keys = columns[s.key_prop]
        if any(k is None for k in keys):
            raise MigrationFailed(f"label {s.name}: a node has no {s.key_prop} (its business key)")
        labels = _other_labels(s, batch)
        if not props:
            return [{"k": k} for k in keys]
        return [{"k": k, "p": p, "l": lb} for k, p, lb in zip(keys, _prop_maps(columns, batch.num_rows), labels)]
    if not props:
        return [{"s": a, "e": b} for a, b in zip(_column(batch.column("start_key")), _column(batch.column("end_key")))]
    columns = _columns(batch, ("start_label", "end_label"))
    starts, ends = columns.pop("start_key"), columns.pop("end_key")
    return [{"s": a, "e": b, "p": p} for a, b, p in zip(starts, ends, _prop_maps(columns, batch.num_rows))]


def _subset(s: GraphSet, batch: pa.RecordBatch, indices: list[int]) -> list[dict]:
    """The rows at `indices`, properties and all."""
    return _batch_rows(s, batch.take(pa.array(indices, pa.int64())))


def _identity(s: GraphSet) -> list[str]:
    """The columns naming the one node or relationship a row is MERGEd into."""
    return [s.key_prop] if s.kind == "node" else ["start_key", "end_key"]


def _duplicates(s: GraphSet) -> int:
    """Rows of the set naming the same node (key) or relationship (start key, end key) as an
    earlier row; counted once per set (the identity columns only) and kept on it."""
    if s.duplicates is None:
        columns = _identity(s) if s.kind == "node" else ["start_label", "start_key", "end_label", "end_key"]
        keys = _own(s, pq.read_table(s.path, columns=columns))
        s.duplicates = keys.num_rows - keys.group_by(_identity(s)).aggregate([]).num_rows
    return s.duplicates


def _merged(s: GraphSet) -> pa.Table:
    """One row per node or relationship, in the order they first appear, holding what MERGE
    and `SET x += props` row after row leave on the one the graph draws for them: a later
    row's value wins, its NULL (no property) keeps the earlier value."""
    table = _own(s, pq.read_table(s.path))
    identity = _identity(s)
    merged: dict[tuple, dict] = {}
    for row in table.to_pylist():
        key = tuple(row[c] for c in identity)
        if key in merged:
            merged[key].update({k: v for k, v in row.items() if v is not None})
        else:
            merged[key] = row
    return pa.Table.from_pylist(list(merged.values()), schema=table.schema)


def _own_batches(s: GraphSet) -> Iterator[pa.RecordBatch]:
    if _duplicates(s):
        # One node per key, one relationship per pair is what the graph will hold, so one row
        # each is what classify counts and apply writes and ledgers (rows naming it twice were
        # counted twice, and one in a later batch was taken for CERT's own). Rare: read whole.
        yield from (b for b in _merged(s).to_batches(max_chunksize=BATCH) if b.num_rows)
        return
    for batch in pq.ParquetFile(s.path).iter_batches(batch_size=BATCH):
        batch = _own(s, batch)
        if batch.num_rows:
            yield batch


def _converted(s: GraphSet) -> Iterator[list[dict]]:
    for batch in _own_batches(s):
        yield _batch_rows(s, batch)


def _keys_first(s: GraphSet) -> Iterator[tuple[list[dict], pa.RecordBatch]]:
    """Classify's input: keys, and the batch to take the properties of the rows CERT has from."""
    for batch in _own_batches(s):
        yield _batch_rows(s, batch, props=False), batch


def batches(s: GraphSet) -> Iterator[list[dict]]:
    """Rows as {"k": key, "p": props} (nodes) or {"s", "e", "p"} (relationships), column by
    column (the per-value conversions are decided once per column type), made in a thread a
    batch ahead: the next batch is converted while Neo4j works on this one."""
    return prefetch(_converted(s), depth=1)


# --- classification ---------------------------------------------------------------------------
#
# Almost every row of a first load is new: existence is asked with keys only, and properties
# travel only for the rows that exist, to tell changed from unchanged.



_CHANGED = f"any(p IN keys(row.p) WHERE x[p] IS NULL OR {value_differs('x[p]', 'row.p[p]')})"
# a node is changed too when it lacks one of the final's labels (CERT-only labels stay)
_CHANGED_NODE = f"({_CHANGED} OR any(lb IN row.l WHERE NOT lb IN labels(x)))"


def _existing_nodes(tx, s: GraphSet, keys: list) -> set:
    """Which of `keys` are the business keys of `s`'s nodes in CERT."""
    query = f"UNWIND $keys AS k MATCH (x:{q(s.name)} {{{q(s.key_prop)}: k}}) RETURN collect(k) AS found"
    return set(tx.run(query, keys=keys).single()["found"])


def _changed_nodes(tx, s: GraphSet, rows: list[dict]) -> set:
    """Keys of the existing nodes among `rows` whose final properties differ from CERT's."""
    if not rows:
        return set()
    query = (f"UNWIND $rows AS row MATCH (x:{q(s.name)} {{{q(s.key_prop)}: row.k}}) "
             f"WITH row, x WHERE {_CHANGED_NODE} RETURN collect(row.k) AS changed")
    return set(tx.run(query, rows=rows).single()["changed"])


def _node_status(tx, s: GraphSet, keys: list[dict], batch: pa.RecordBatch) -> tuple[set, set]:
    """(keys existing in CERT, keys existing and changed)."""
    found = _existing_nodes(tx, s, [r["k"] for r in keys])
    existing = [i for i, r in enumerate(keys) if r["k"] in found]
    return found, _changed_nodes(tx, s, _subset(s, batch, existing))


def _rel_pattern(s: GraphSet) -> str:
    return (f"(a:{q(s.start_label)} {{{q(s.start_prop)}: row.s}})-[x:{q(s.name)}]->"
            f"(b:{q(s.end_label)} {{{q(s.end_prop)}: row.e}})")


def _changed_rels(tx, s: GraphSet, rows: list[dict]) -> dict[tuple, bool]:
    """(start key, end key) -> changed, for the rows whose relationship exists in CERT."""
    if not rows:
        return {}
    query = (f"UNWIND $rows AS row MATCH {_rel_pattern(s)} WITH row, head(collect(x)) AS x "
             f"RETURN row.s AS s, row.e AS e, {_CHANGED} AS changed")
    return {(r["s"], r["e"]): r["changed"] for r in tx.run(query, rows=rows)}


class _CertNodes:
    """Whether a node is in CERT, per label and key: known for the run's own nodes from their
    classification, asked (keys only, once per key) for the ends that only CERT has."""

    def __init__(self, graph: GraphStore):
        self.graph = graph
        self.known: dict[str, dict] = defaultdict(dict)

    def learn(self, label: str, keys: list, found: set) -> None:
        self.known[label].update((k, k in found) for k in keys)

    def ask(self, label: str, prop: str, keys: set) -> dict:
        known = self.known[label]
        unknown = [k for k in keys if k not in known]
        if unknown:
            probe = GraphSet("node", label, Path(), key_prop=prop)
            found = self.graph.read(lambda tx: _existing_nodes(tx, probe, unknown), doing=f"reading label {label}")
            self.learn(label, unknown, found)
        return known


def _classify_nodes(graph: GraphStore, s: GraphSet, rows: list[dict], batch: pa.RecordBatch,
                    cert: _CertNodes) -> list[tuple]:
    found, changed = graph.read(lambda tx: _node_status(tx, s, rows, batch), doing=f"reading label {s.name}")
    cert.learn(s.name, [r["k"] for r in rows], found)
    return [(r["k"], r["k"] in found, r["k"] in changed) for r in rows]


def _classify_rels(graph: GraphStore, s: GraphSet, rows: list[dict], batch: pa.RecordBatch, cert: _CertNodes,
                   final_keys: dict[str, set], missing: list) -> list[tuple]:
    """A relationship can only exist in CERT when both its ends do: only those rows are asked."""
    starts = cert.ask(s.start_label, s.start_prop, {r["s"] for r in rows})
    ends = cert.ask(s.end_label, s.end_prop, {r["e"] for r in rows})
    both = []
    for i, r in enumerate(rows):
        if (not starts[r["s"]] and r["s"] not in final_keys[s.start_label]) or \
                (not ends[r["e"]] and r["e"] not in final_keys[s.end_label]):
            missing.append(r)
        elif starts[r["s"]] and ends[r["e"]]:
            both.append(i)
    existing = graph.read(lambda tx: _changed_rels(tx, s, _subset(s, batch, both)),
                          doing=f"reading relationship {s.name}") if both else {}
    return [({"start": r["s"], "end": r["e"]}, (r["s"], r["e"]) in existing, existing.get((r["s"], r["e"]), False))
            for r in rows]


def classify(graph: GraphStore, sets: list[GraphSet]) -> None:
    """Counts per set (rows, new, changed, unchanged) and the first existing keys, read only.
    A relationship whose end is neither in CERT nor among the run's nodes can never be
    created: that is an error now, not a silent gap later."""
    final_keys: dict[str, set] = defaultdict(set)
    cert = _CertNodes(graph)
    for s in sets:
        counts = {"rows": 0, "existing": 0, "new": 0, "changed": 0, "unchanged": 0}
        missing = []
        for rows, batch in prefetch(_keys_first(s), depth=1):
            if s.kind == "node":
                final_keys[s.name] |= {r["k"] for r in rows}
                status = _classify_nodes(graph, s, rows, batch, cert)
            else:
                status = _classify_rels(graph, s, rows, batch, cert, final_keys, missing)
            existing = [(key, changed) for key, found, changed in status if found]
            counts["rows"] += len(status)
            counts["new"] += len(status) - len(existing)
            counts["existing"] += len(existing)
            counts["changed"] += sum(1 for _, changed in existing if changed)
            counts["unchanged"] += sum(1 for _, changed in existing if not changed)
            s.conflicts += [key for key, _ in existing[:CONFLICT_LIMIT - len(s.conflicts)]]
        if s.duplicates:
            counts["duplicate_rows_merged"] = s.duplicates  # the file's rows = rows + these
        if missing:
            first = missing[0]
            raise MigrationFailed(
                f"store {graph.name}: relationship {s.id}: {len(missing)} rows whose end nodes are neither in CERT "
                f"nor in the run (first: {s.start_label} {first['s']!r} -> {s.end_label} {first['e']!r})")
        s.counts = counts


# --- apply -------------------------------------------------------------------------------------

# Neo4j reads committed data without locks: a node or relationship imaged by a plain read
# could be changed and committed by CERT before this transaction's write took its lock, and
# the image (what the rollback restores) would not be what the load overwrote. A write locks
# it first, until this transaction ends. The write sets the property `_datamig_lock`, then puts
# back what the item held of it: CERT's own property of that name (which a plain REMOVE took away,
# and left out of the image) is kept, and none is left on an item that had none.
def _lock(x: str, carried: str) -> str:
    """Cypher locking item `x` (`carried`: the other variables the query goes on with)."""
    return (f"WITH {carried}, {x}, {x}.`_datamig_lock` AS held "
            f"SET {x}.`_datamig_lock` = true SET {x}.`_datamig_lock` = held ")


def _hold_run(tx, run_id: str) -> None:
    """First statement of every batch: lock the run node until this batch ends (the fence an
    undo waits on, graph.py), then go on only if the run is still being applied. The status
    is read after the lock is held: no undo can have started in between."""
    tx.run("MATCH (r:DatamigRun {run_id: $run}) SET r.batch_at = $at", run=run_id, at=now()).consume()
    rows = tx.run("MATCH (r:DatamigRun {run_id: $run}) RETURN r.status AS s", run=run_id).data()
    status = rows[0]["s"] if rows else None
    if status != "applying":
        raise MigrationFailed(f"run {run_id} is {status or 'not recorded'} in the graph ledger, not applying: "
                              f"batch refused")


def _create_nodes(tx, s: GraphSet, rows: list[dict]) -> None:
    """MERGE the nodes the existence check did not find. That check read the graph as committed
    then (read committed: another session can commit the same key before the write), so the
    write is its own check: under the label's uniqueness constraint the MERGE finds or creates
    atomically, a node found instead keeps its values (ON CREATE), and the counter tells; the
    whole batch is refused then, as its ledger would name that node the run's to delete."""
    if not rows:
        return
    result = tx.run(f"UNWIND $rows AS row MERGE (x:{q(s.name)} {{{q(s.key_prop)}: row.k}}) ON CREATE SET x += row.p",
                    rows=rows)
    if result.consume().counters.nodes_created < len({r["k"] for r in rows}):
        raise MigrationFailed(f"label {s.name}: nodes appeared in CERT since the existence check")


def _add_labels(tx, s: GraphSet, rows: list[dict]) -> None:
    """Each node its other labels: one statement per set of them (labels are names in the
    query's text, not parameters), most nodes having none."""
    groups: dict[tuple, list] = defaultdict(list)
    for r in rows:
        if r.get("l"):
            groups[tuple(r["l"])].append(r["k"])
    for labels, keys in sorted(groups.items()):
        spliced = "".join(":" + q(lb) for lb in labels)
        tx.run(f"UNWIND $keys AS k MATCH (x:{q(s.name)} {{{q(s.key_prop)}: k}}) SET x{spliced}", keys=keys).consume()


def _node_batch(tx, s: GraphSet, rows: list[dict], run_id: str) -> dict:
    _hold_run(tx, run_id)
    found = _existing_nodes(tx, s, [r["k"] for r in rows])  # again: CERT may have changed since classify
    faults.failpoint("load:graph-batch-checked")  # CERT may still change: the writes re-check
    if s.strategy == "insert" and found:
        raise MigrationFailed(f"label {s.name}: nodes appeared in CERT since the conflict check")
    if s.strategy == "upsert":
        rewrite = found
    else:
        rewrite = _changed_nodes(tx, s, [r for r in rows if r["k"] in found])
    created = [r["k"] for r in rows if r["k"] not in found]
    changed = [r["k"] for r in rows if r["k"] in rewrite]
    kept = [r["k"] for r in rows if r["k"] in found and r["k"] not in rewrite]
    if changed:
        # the image holds the labels too: those the node had and those the run adds to it
        tx.run(f"MATCH (run:DatamigRun {{run_id: $run}}) UNWIND $rows AS row "
               f"MATCH (x:{q(s.name)} {{{q(s.key_prop)}: row.k}}) {_lock('x', 'run, row')}"
               f"CREATE (b:DatamigBefore) SET b = properties(x) "
               f"CREATE (run)-[:DATAMIG_BEFORE {{kind: 'node', label: $label, key_prop: $prop, key: row.k, "
               f"labels: labels(x), added: [lb IN row.l WHERE NOT lb IN labels(x)]}}]->(b)",
               run=run_id, rows=[{"k": r["k"], "l": r["l"]} for r in rows if r["k"] in rewrite],
               label=s.name, prop=s.key_prop).consume()
        faults.failpoint("load:graph-imaged")
    for kind, keys in (("node", created), ("node_kept", kept)):
        if keys:
            tx.run("CREATE (:DatamigLedger {run_id: $run, kind: $kind, label: $label, key_prop: $prop, keys: $keys, "
                   "at: $at})", run=run_id, kind=kind, label=s.name, prop=s.key_prop, keys=keys, at=now()).consume()
    _create_nodes(tx, s, [r for r in rows if r["k"] not in found])
    rewritten = [r for r in rows if r["k"] in rewrite]
    if rewritten:
        tx.run(f"UNWIND $rows AS row MATCH (x:{q(s.name)} {{{q(s.key_prop)}: row.k}}) {UNZERO}SET x += row.p",
               rows=[{"k": r["k"], "p": r["p"], "z": zeros(r["p"])} for r in rewritten]).consume()
    _add_labels(tx, s, [r for r in rows if r["k"] not in found or r["k"] in rewrite])
    faults.failpoint("load:graph-batch-commit")  # every statement done, COMMIT not yet sent
    return {"inserted": len(created), "updated": len(changed)}


def _existing_rels(tx, s: GraphSet, rows: list[dict]) -> set:
    """(start key, end key) of the rows whose relationship is in CERT; every end must be."""
    ends = [{"s": r["s"], "e": r["e"]} for r in rows]
    found = tx.run(f"UNWIND $rows AS row MATCH (a:{q(s.start_label)} {{{q(s.start_prop)}: row.s}}) "
                   f"MATCH (b:{q(s.end_label)} {{{q(s.end_prop)}: row.e}}) "
                   f"RETURN count(*) AS n, "
                   f"collect(CASE WHEN EXISTS {{ (a)-[:{q(s.name)}]->(b) }} THEN [row.s, row.e] END) AS existing",
                   rows=ends).single()
    if found["n"] < len(rows):
        raise MigrationFailed(f"relationship {s.id}: {len(rows) - found['n']} rows whose end nodes are not in CERT")
    return {tuple(pair) for pair in found["existing"]}


def _rel_ledger(tx, s: GraphSet, rows: list[dict], run_id: str, kind: str = "rel") -> None:
    """Rows {"s", "e"}; for the relationships the run created (kind 'rel') also "id", the
    elementId of exactly that relationship: the undo deletes it and never a parallel one of the
    same type that CERT (or a later run) drew between the same ends since."""
    meta = _rel_meta(s) | ({"rel_ids": [r["id"] for r in rows]} if kind == "rel" else {})
    tx.run("CREATE (l:DatamigLedger {run_id: $run, kind: $kind, start_keys: $s, end_keys: $e, at: $at}) "
           "SET l += $meta", run=run_id, kind=kind, s=[r["s"] for r in rows], e=[r["e"] for r in rows],
           meta=meta, at=now()).consume()


def _rel_meta(s: GraphSet) -> dict:
    return {"type": s.name, "start_label": s.start_label, "start_prop": s.start_prop,
            "end_label": s.end_label, "end_prop": s.end_prop}


def _create_rels(tx, s: GraphSet, rows: list[dict], run_id: str) -> int:
    """MERGE the rows' relationships, none of which the existence check found, and ledger each
    by its elementId. The MERGE re-checks: a relationship found instead of created, or an end
    missing, means CERT changed since that check. Returns the relationships created."""
    result = tx.run(f"UNWIND $rows AS row MATCH (a:{q(s.start_label)} {{{q(s.start_prop)}: row.s}}) "
                    f"MATCH (b:{q(s.end_label)} {{{q(s.end_prop)}: row.e}}) "
                    f"MERGE (a)-[x:{q(s.name)}]->(b) ON CREATE SET x += row.p "
                    f"RETURN row.s AS s, row.e AS e, elementId(x) AS id", rows=rows)
    made = list({r["id"]: r for r in result.data()}.values())  # rows naming the same ends: one relationship
    pairs = {(r["s"], r["e"]) for r in rows}
    missing = len(pairs) - len({(r["s"], r["e"]) for r in made})
    if missing:
        raise MigrationFailed(f"relationship {s.id}: {missing} rows whose end nodes are not in CERT")
    if result.consume().counters.relationships_created < len(pairs):
        raise MigrationFailed(f"relationship {s.id}: relationships appeared in CERT since the conflict check")
    _rel_ledger(tx, s, made, run_id)
    return len(made)


def _insert_rels(tx, s: GraphSet, rows: list[dict], run_id: str) -> dict:
    """Every row must create its relationship: the MERGE's own re-check is the conflict check,
    where the general path first reads every row's ends and relationship."""
    inserted = _create_rels(tx, s, rows, run_id)
    faults.failpoint("load:graph-batch-commit")
    return {"inserted": inserted, "updated": 0}


def _rewrite_rels(tx, s: GraphSet, rows: list[dict], run_id: str) -> None:
    """One relationship per row (the first CERT holds between its ends) is imaged, then that
    very relationship, by element id, is rewritten: a MERGE rewrote every parallel relationship
    between the two ends, and only the one imaged came back on rollback. Every image is taken
    before any write, so rows naming the same ends all image CERT's own properties."""
    imaged = tx.run(f"MATCH (run:DatamigRun {{run_id: $run}}) UNWIND $rows AS row MATCH {_rel_pattern(s)} "
                    f"WITH run, row, head(collect(x)) AS x {_lock('x', 'run, row')}"
                    f"CREATE (bi:DatamigBefore) SET bi = properties(x) "
                    f"CREATE (run)-[:DATAMIG_BEFORE {{kind: 'rel', type: $meta.type, start_label: $meta.start_label, "
                    f"start_prop: $meta.start_prop, start_key: row.s, end_label: $meta.end_label, "
                    f"end_prop: $meta.end_prop, end_key: row.e, rel_id: elementId(x)}}]->(bi) "
                    f"RETURN row.i AS i, elementId(x) AS id",
                    run=run_id, rows=[{"s": r["s"], "e": r["e"], "i": i} for i, r in enumerate(rows)],
                    meta=_rel_meta(s)).data()
    ids = {r["i"]: r["id"] for r in imaged}
    faults.failpoint("load:graph-imaged")
    tx.run(f"UNWIND $rows AS row MATCH ()-[x]->() WHERE elementId(x) = row.id {UNZERO}SET x += row.p",
           rows=[{"id": ids[i], "p": r["p"], "z": zeros(r["p"])} for i, r in enumerate(rows)]).consume()


def _rel_batch(tx, s: GraphSet, rows: list[dict], run_id: str) -> dict:
    _hold_run(tx, run_id)
    if s.strategy == "insert" and len({(r["s"], r["e"]) for r in rows}) == len(rows):
        return _insert_rels(tx, s, rows, run_id)
    found = _existing_rels(tx, s, rows)  # again: CERT may have changed since classify
    faults.failpoint("load:graph-batch-checked")  # CERT may still change: _create_rels re-checks
    if s.strategy == "insert" and found:
        raise MigrationFailed(f"relationship {s.id}: relationships appeared in CERT since the conflict check")
    existing = [r for r in rows if (r["s"], r["e"]) in found]
    if s.strategy == "upsert":
        rewrite = found
    else:
        rewrite = {pair for pair, changed in _changed_rels(tx, s, existing).items() if changed}
    created = [r for r in rows if (r["s"], r["e"]) not in found]
    changed = [r for r in existing if (r["s"], r["e"]) in rewrite]
    kept = [r for r in existing if (r["s"], r["e"]) not in rewrite]
    if changed:
        _rewrite_rels(tx, s, changed, run_id)
    inserted = _create_rels(tx, s, created, run_id) if created else 0
    if kept:
        _rel_ledger(tx, s, kept, run_id, "rel_kept")
    faults.failpoint("load:graph-batch-commit")
    return {"inserted": inserted, "updated": len(changed)}


def apply(graph: GraphStore, sets: list[GraphSet], run_id: str, district: int | None,
          progress: Callable[[str], None], stop: threading.Event | None = None,
          constraints: list[str] = ()) -> None:
    """stop: set when another store's part of the load failed; checked before every batch.
    constraints: the ones this load created, recorded on the run node for its undo."""
    graph.start_run(run_id, district, constraints)
    for s in sets:
        done = {"inserted": 0, "updated": 0}
        for rows in batches(s):
            if stop is not None and stop.is_set():
                raise MigrationFailed(f"store {graph.name}: load stopped: another store failed")
            fn = _node_batch if s.kind == "node" else _rel_batch
            result = graph.write(fn, s, rows, run_id, doing=f"writing {s.kind} {s.id}")
            done = {k: done[k] + result[k] for k in done}
            faults.failpoint("load:graph-batch")
        if s.strategy == "upsert":  # it rewrote every existing one; the updated are those whose values changed
            done["updated"] = effect(s.strategy, s.counts)[1]
        s.counts.update(done)
        progress(f"{graph.name}: {s.id}: {done['inserted']} created, {done['updated']} updated")
    graph.set_status(run_id, "applied", loaded_at=now())
