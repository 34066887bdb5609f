"""The district's subgraph from Neo4j: a breadth-first walk from the root node over the
configured relationship types and directions, bounded in depth, read in one read
transaction. Neo4j's reads are read-committed, so the slice read is checked to be one state of
the graph (_Reach) and read again when it is not (extract/run.py). Nodes land per label and
relationships per type, each end named by its label and business key (internal ids mean
nothing in another database).

The walk's memory does not grow with strings: a node's element id is the database's prefix
(`4:<database id>:`) and a number, so the visited set and each frontier are sorted numpy int64
arrays (8 bytes a node; ~1M nodes at `large` hold 8 MB, where Python sets of element id strings
held hundreds). The numbers go to Neo4j one chunk at a time as a list of integers, and Cypher
turns them back into element ids (still a seek by element id) and sends numbers back: Python
handles no id strings. Each chunk's list is emptied once its query is read (see `_records`):
the transaction would otherwise keep them all.

What costs: the walk is one query per depth and chunk (all rules in it, one pattern per
direction, types as alternatives), nodes one query per chunk and relationships one per chunk,
and the rows come back as columns (graph_columns): a list of values per property, temporal
values as numbers, so the driver makes no object per temporal value and Arrow builds each
column in one call. Key labels are label tests in a CASE (`labels()` makes a list of strings
per node), each start node's key is computed once, not once per relationship.

A node's other labels (`:Staff:Teacher` lands in Staff's file) travel in the column LABELS:
those besides its key label, sorted, NULL when it has none. `labels()` is asked only of the
nodes one label test says have another (a label expression of every label the database holds
but the key label, from `db.labels()`), so a graph of single-label nodes pays one test per
node. The labels in use are read again at the end: a label first used while the slice was
read may sit on a node read before it, and the read is then done again as a changed graph."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import neo4j
import numpy as np
import pyarrow as pa

from ..analyze.graph_keys import LABELS, key_label
from ..config.model import GraphConfig
from ..config.neo4j_url import check_neo4j_url, neo4j_address
from ..errors import ConfigError, ConnectionFailed, MigrationFailed, NotFound
from ..quoting import cypher_ident as _q
from . import graph_columns as gc

BATCH = 10_000
PIECE = 5_000          # relationships per record
FETCH = 8              # records the driver buffers: at most FETCH x PIECE relationships in memory
Sink = Callable[[str, str, pa.Table], None]     # (kind "nodes"/"relationships", label/type, rows)


@dataclass
class Subgraph:
    nodes: dict[str, list[dict]] = field(default_factory=dict)  # label -> property maps
    relationships: dict[str, list[dict]] = field(default_factory=dict)  # type -> rows
    depth_reached: int = 0
    # the walk stopped at max_depth with nodes one step further still unvisited (left out)
    beyond_max_depth: bool = False
    # nodes of the walk that the nodes and relationships read do not hold or connect to the root:
    # the graph changed while it was read (see _Reach); 0 for a consistent slice
    orphans: int = 0
    # a label came into use in the graph while the slice was read (a node read may lack it)
    labels_changed: bool = False


class _Reach:
    """Whether the slice read is one state of the graph. A Neo4j transaction reads committed
    data query by query (no snapshot), so the walk, the nodes and the relationships can each
    see another state: a review's Guardian was walked over a GUARDIAN_OF the relationship read
    no longer found, and landed without it. The walk's nodes must all be read, and each must
    be reached from the root, within max_depth, over the followed relationships read."""

    def __init__(self, cfg: GraphConfig, codes: np.ndarray):
        self.cfg, self.codes, self.nodes_read = cfg, codes, 0
        self.directions = {}
        for rule in cfg.follow:  # `from` / `to` labels are not applied: a check, not the walk
            self.directions.setdefault(rule.type, set()).add(rule.direction)
        self.src: list[np.ndarray] = []
        self.dst: list[np.ndarray] = []

    def add(self, rel_type: str, starts: np.ndarray, ends: np.ndarray) -> None:
        for direction in self.directions.get(rel_type, ()):
            a, b = (starts, ends) if direction == "out" else (ends, starts)
            self.src.append(np.searchsorted(self.codes, a))
            self.dst.append(np.searchsorted(self.codes, b))

    def orphans(self, root: int) -> int:
        src = np.concatenate(self.src) if self.src else np.empty(0, dtype=np.int64)
        dst = np.concatenate(self.dst) if self.dst else np.empty(0, dtype=np.int64)
        reached = np.zeros(len(self.codes), dtype=bool)
        reached[np.searchsorted(self.codes, root)] = True
        for _ in range(self.cfg.max_depth):
            grown = reached.copy()
            grown[dst[reached[src]]] = True
            if (grown == reached).all():
                break
            reached = grown
        return int(len(self.codes) - reached.sum()) + max(0, len(self.codes) - self.nodes_read)


def _chunks(items, size: int = BATCH):
    for i in range(0, len(items), size):
        yield items[i:i + size]


class _Ids:
    """Element ids as int64: the number after the prefix every node of the database shares.
    Codes travel as integers both ways: Cypher rebuilds the element ids (`IDS`, still a seek by
    element id) and sends back the numbers (`code`), so Python never handles id strings."""

    def __init__(self, sample: str):
        self.prefix = sample[:sample.rindex(":") + 1]

    def encode(self, ids: list[str]) -> np.ndarray:
        n, prefix = len(self.prefix), self.prefix
        out = np.empty(len(ids), dtype=np.int64)
        for i, element_id in enumerate(ids):
            if not element_id.startswith(prefix) or not element_id[n:].isdigit():
                raise ValueError(f"graph: element id {element_id!r} is not {prefix}<number> like the root's; "
                                 f"cannot hold the walk as integers")
            out[i] = int(element_id[n:])
        return out

    def params(self, codes: np.ndarray) -> dict:
        return {"codes": codes.tolist(), "prefix": self.prefix, "plen": len(self.prefix)}


# the element ids of the chunk $codes; the code of an element id (-1: not of this database's form)
IDS = "[i IN $codes | $prefix + toString(i)]"


def _code(element_id: str) -> str:
    return (f"CASE WHEN {element_id} STARTS WITH $prefix "
            f"THEN coalesce(toInteger(substring({element_id}, $plen)), -1) ELSE -1 END")


def _keyed_by(label: str, cfg: GraphConfig) -> str:
    """Cypher WHERE: node `x` is keyed by `label` (has none of the key labels sorted before it)."""
    before = [lb for lb in sorted(cfg.node_keys) if lb < label]
    return f"WHERE NOT (x:{'|'.join(_q(lb) for lb in before)}) " if before else ""


def _records(tx, query: str, params: dict):
    """The records of `query`, then its chunk of ids emptied: a transaction keeps every result it ran,
    with its parameters, until it ends, so each chunk of ids sent would otherwise stay in
    memory for the whole read (the slice again, once per query)."""
    try:
        yield from tx.run(query, params)
    finally:
        params["codes"].clear()


def _lit(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _step_query(cfg: GraphConfig) -> str:
    """Every node one followed relationship away from the chunk, in one query: one pattern per
    direction (and `from` / `to` labels), its types as alternatives."""
    groups: dict[tuple, list[str]] = {}
    for rule in cfg.follow:
        groups.setdefault((rule.direction, rule.from_label, rule.to_label), []).append(rule.type)
    branches = []
    for (direction, from_label, to_label), types in sorted(groups.items(), key=str):
        rel = "|".join(_q(t) for t in sorted(set(types)))
        pattern = f"(n)<-[:{rel}]-(m)" if direction == "in" else f"(n)-[:{rel}]->(m)"
        # a rule's optional `from` / `to` labels restrict the node left and the node reached
        where = [f"elementId(n) IN {IDS}"] + ([f"n:{_q(from_label)}"] if from_label else []) + \
            ([f"m:{_q(to_label)}"] if to_label else [])
        branches.append(f"MATCH {pattern} WHERE {' AND '.join(where)} RETURN m")
    # one record per chunk: the driver's cost is per record, not per value
    return (f"CALL () {{ {' UNION '.join(branches)} }} "
            "WITH collect(DISTINCT elementId(m)) AS ids "
            f"RETURN [x IN ids | {_code('x')}] AS codes, [x IN ids WHERE {_code('x')} < 0][0..1] AS odd")


def _walk(tx, cfg: GraphConfig, district) -> tuple[np.ndarray, int, _Ids, int, bool]:
    """The slice's node ids, sorted, as int64 codes of `_Ids`; the depth; the root's code; whether
    nodes one step beyond max_depth were left out."""
    root = tx.run(f"MATCH (r:`{cfg.root_label}` {{`{cfg.root_key}`: $k}}) RETURN elementId(r) AS id",
                  k=district).single()
    if root is None:
        raise NotFound(f"district {district} not found: no ({cfg.root_label} {{{cfg.root_key}: {district}}}) "
                       f"in graph store {cfg.store}")
    ids = _Ids(root["id"])
    selected = frontier = ids.encode([root["id"]])
    depth = 0
    query = _step_query(cfg)
    while frontier.size and depth < cfg.max_depth:
        depth += 1
        frontier = np.setdiff1d(_step(tx, query, ids, frontier, cfg), selected, assume_unique=True)
        selected = np.union1d(selected, frontier)
    # one step more, only to tell whether the bound cut the slice short (said, not followed)
    beyond = bool(frontier.size) and bool(np.setdiff1d(_step(tx, query, ids, frontier, cfg), selected).size)
    return selected, depth, ids, int(ids.encode([root["id"]])[0]), beyond


def _step(tx, query: str, ids: _Ids, frontier: np.ndarray, cfg: GraphConfig) -> np.ndarray:
    """Every node one followed relationship away from `frontier`, sorted and unique."""
    reached = np.empty(0, dtype=np.int64)
    for chunk in _chunks(frontier if cfg.follow else frontier[:0]):
        (rec,) = _records(tx, query, ids.params(chunk))
        if rec["odd"]:
            ids.encode(rec["odd"])                        # raises, naming the id
        reached = np.union1d(reached, np.array(rec["codes"], dtype=np.int64))
    return reached


def _key_label(labels: list[str], cfg: GraphConfig) -> str:
    label = key_label(labels, cfg.node_keys)
    if label is None:
        raise ConfigError(f"graph: a node labelled {':'.join(sorted(labels)) or '(none)'} was reached but "
                          f"graph.node_keys names no key for any of its labels")
    return label


def _key_label_of(var: str, cfg: GraphConfig) -> str:
    """Cypher: the key label of node `var`, the first of its labels in sorted order that
    graph.node_keys names (what _key_label picks in Python); null when none does. Label tests,
    not `labels()`: that builds a list of strings per node, twice as dear."""
    return "CASE " + " ".join(f"WHEN {var}:{_q(lb)} THEN {_lit(lb)}" for lb in sorted(cfg.node_keys)) + " END"


def _other_labels(var: str, kind: str, cfg: GraphConfig, in_use: list[str]) -> str:
    """Cypher: the labels of node `var` besides its key label `kind`, or null when it has none.
    One label expression per key label (is any other label of the database on the node?), and
    `labels()` only when one is: most nodes carry their key label alone."""
    tests = []
    for keyed in sorted(cfg.node_keys):
        others = [lb for lb in in_use if lb != keyed]
        if others:
            tests.append(f"WHEN {_lit(keyed)} THEN {var}:{'|'.join(_q(lb) for lb in others)}")
    if not tests:
        return "null"
    return (f"CASE WHEN CASE {kind} {' '.join(tests)} ELSE false END "
            f"THEN [lb IN labels({var}) WHERE lb <> {kind}] END")


def _labels_in_use(tx) -> list[str]:
    return sorted(rec["label"] for rec in tx.run("CALL db.labels() YIELD label RETURN label"))


def _key_of(var: str, cfg: GraphConfig) -> str:
    """Cypher: [key label, business key] of node `var` ([null, null] when no key names it)."""
    return ("CASE " + " ".join(f"WHEN {var}:{_q(lb)} THEN [{_lit(lb)}, {var}.{_q(key)}]"
                               for lb, key in sorted(cfg.node_keys.items())) + " ELSE [null, null] END")


def _labels(tx, element_id: str) -> list[str]:
    """Labels of one node (only to name them in an error)."""
    found = tx.run("MATCH (n) WHERE elementId(n) = $id RETURN labels(n) AS labels", id=element_id).single()
    return found["labels"] if found else []


def _seen_keys(tx, what: list[str], node: bool, cfg: GraphConfig | None = None) -> dict[str, list[str]]:
    """Property keys of up to 100 nodes per key label / relationships per type, a first guess
    of each one's columns (a chunk with more sends them back as `unseen`, and is read again).
    Nodes keyed by the label only: a `:Guardian:Staff` node's staff_id is no column of
    Guardian's file (it is keyed Guardian), and its guess made one of nulls alone."""
    if not what:
        return {}
    pattern = "(x:%s)" if node else "()-[x:%s]->()"
    branches = [f"MATCH {pattern % _q(name)} {_keyed_by(name, cfg) if node else ''}"
                f"WITH x LIMIT 100 UNWIND keys(x) AS k RETURN {_lit(name)} AS kind, k" for name in what]
    query = f"CALL () {{ {' UNION '.join(branches)} }} RETURN kind, collect(DISTINCT k) AS ks"
    return {rec["kind"]: list(rec["ks"]) for rec in tx.run(query)}


def _read_rows(tx, query: str, params: dict, known: dict[str, list[str]], handle) -> None:
    """Run a chunk's `query` with the `known` keys per label / type; a label or type whose rows
    carry keys not known yet (`unseen`) is skipped, its keys added, and read again alone."""
    only = None
    while True:
        again: set[str] = set()
        for rec in _records(tx, query, {**params, "codes": list(params["codes"]), "known": known, "only": only}):
            if rec["unseen"] and rec["kind"] is not None:
                known.setdefault(rec["kind"], [])
                known[rec["kind"]] += [k for k in dict.fromkeys(rec["unseen"]) if k not in known[rec["kind"]]]
                again.add(rec["kind"])
            elif not only or rec["kind"] in only:
                handle(rec)
        if not again:
            return
        only = sorted(again)


def _others_column(n: int, others: list) -> pa.Array:
    """LABELS of `n` rows from [row, labels] pairs of the rows whose node has other labels."""
    values: list = [None] * n
    for i, labels in others:
        values[i] = sorted(labels)
    return pa.array(values, pa.list_(pa.string()))


def _node_rows(tx, codes: np.ndarray, ids: _Ids, cfg: GraphConfig, sink: Sink, reach: _Reach,
               in_use: list[str]) -> None:
    """Property columns per key label, one record per label and chunk (see graph_columns):
    each node as the list of the values of its label's known keys (Cypher reads a node's
    properties fast only while the node is a row, not once collected)."""
    query = (f"MATCH (n) WHERE elementId(n) IN {IDS} "
             f"WITH n, {_key_label_of('n', cfg)} AS kind "
             "WITH n, kind, coalesce($known[kind], []) AS ks WHERE $only IS NULL OR kind IN $only "
             f"WITH kind, ks, collect([k IN ks | n[k]]) AS rows, collect([{_other_labels('n', 'kind', cfg, in_use)}]) "
             "AS others, collect(DISTINCT [k IN keys(n) WHERE NOT k IN ks]) AS unseen, min(elementId(n)) AS sample "
             "RETURN kind, ks, reduce(u = [], x IN unseen | u + x) AS unseen, size(rows) AS n, "
             "CASE WHEN kind IS NULL THEN sample END AS sample, "
             # each in a list of one: collect() drops nulls, and the rows would not line up
             "[i IN range(0, size(rows) - 1) WHERE others[i][0] IS NOT NULL | [i, others[i][0]]] AS others, "
             f"[j IN range(0, size(ks) - 1) | {gc.column('[p IN rows | p[j]]')}] AS cols")
    known = _seen_keys(tx, sorted(cfg.node_keys), node=True, cfg=cfg)

    def handle(rec):
        if rec["kind"] is None:                               # a node no key names: say which labels
            _key_label(_labels(tx, rec["sample"]), cfg)
        columns = sorted(zip(rec["ks"], rec["cols"]))
        if LABELS in rec["ks"]:
            raise MigrationFailed(f"graph store {cfg.store}: label {rec['kind']}: property {LABELS!r} has the name "
                                  f"of the column that carries a node's other labels; rename it in PROD")
        reach.nodes_read += rec["n"]
        table = {k: _arrow(col, cfg, f"label {rec['kind']}", k) for k, col in columns}
        table[LABELS] = _others_column(rec["n"], rec["others"])
        sink("nodes", rec["kind"], pa.table(table))

    for chunk in _chunks(codes):
        _read_rows(tx, query, {**ids.params(chunk), **gc.PARAMS}, known, handle)


_ENDS = ("start_label", "start_key", "end_label", "end_key")


def _rel_rows(tx, codes: np.ndarray, ids: _Ids, cfg: GraphConfig, sink: Sink, reach: _Reach) -> None:
    """Every followed-type relationship whose two ends are both in the slice. The end check is
    done here, not in Cypher: `elementId(b) IN <the whole slice>` costs Neo4j a lookup of every
    end node per chunk, quadratic in the slice. `codes` is sorted: membership is a binary search."""
    types = sorted({r.type for r in cfg.follow})
    # rows [start label, start key, end label, end key, end code, start code, properties...]
    query = (f"MATCH (a) WHERE elementId(a) IN {IDS} "                                     # once per start
             f"WITH a, {_key_of('a', cfg)} AS ak, {_code('elementId(a)')} AS ac "
             "MATCH (a)-[r]->(b) WHERE type(r) IN $types AND ($only IS NULL OR type(r) IN $only) "
             "WITH ak, ac, r, b, type(r) AS kind "
             "WITH ak, ac, r, b, kind, coalesce($known[kind], []) AS ks "
             f"WITH kind, ks, collect(ak + {_key_of('b', cfg)} + [{_code('elementId(b)')}, ac] + [k IN ks | r[k]]) "
             "AS rows, collect(DISTINCT [k IN keys(r) WHERE NOT k IN ks]) AS unseen "
             # in records of at most PIECE relationships: a chunk's nodes may have many
             "UNWIND range(0, size(rows) - 1, $piece) AS i "
             "WITH kind, ks, unseen, rows[i..i + $piece] AS rows "
             "RETURN kind, ks, reduce(u = [], x IN unseen | u + x) AS unseen, [p IN rows | p[0]] AS al, "
             "[p IN rows | p[2]] AS bl, [p IN rows | p[4]] AS bcodes, [p IN rows | p[5]] AS acodes, "
             f"{gc.column('[p IN rows | p[1]]')} AS ak, {gc.column('[p IN rows | p[3]]')} AS bk, "
             f"[j IN range(0, size(ks) - 1) | {gc.column('[p IN rows | p[6 + j]]')}] AS cols")
    known = _seen_keys(tx, types, node=False)

    def handle(rec, chunk):
        ends = np.array(rec["bcodes"], dtype=np.int64)
        at = np.minimum(np.searchsorted(codes, ends), len(codes) - 1)
        inside = codes[at] == ends
        if not inside.any():
            return
        reach.add(rec["kind"], np.array(rec["acodes"], dtype=np.int64)[inside], ends[inside])
        keep = None if inside.all() else inside.tolist()
        if None in rec["al"] or None in rec["bl"]:             # an end no key names: say which labels
            for j, (al, bl) in enumerate(zip(rec["al"], rec["bl"])):
                if inside[j] and al is None:
                    _key_label(_labels(tx, _unnamed(tx, chunk, ids, cfg)), cfg)
                if inside[j] and bl is None:
                    _key_label(_labels(tx, ids.prefix + str(ends[j])), cfg)
        table = {"start_label": gc.arrow(["plain", rec["al"]], keep), "start_key": gc.arrow(rec["ak"], keep),
                 "end_label": gc.arrow(["plain", rec["bl"]], keep), "end_key": gc.arrow(rec["bk"], keep)}
        for name, col in sorted(zip(rec["ks"], rec["cols"])):
            values = _arrow(col, cfg, f"relationship type {rec['kind']}", name, keep)
            if values.null_count == len(values):              # only on relationships left out
                continue
            if name in _ENDS:                                 # a property named like an end column wins
                merged = [p if p is not None else e for p, e in zip(values.to_pylist(), table[name].to_pylist())]
                values = pa.array(merged)
            table[name] = values
        sink("relationships", rec["kind"], pa.table(table))

    for chunk in _chunks(codes):
        params = {**ids.params(chunk), "types": types, "piece": PIECE, **gc.PARAMS}
        _read_rows(tx, query, params, known, lambda rec: handle(rec, chunk))


def _arrow(col: list, cfg: GraphConfig, owner: str, prop: str, keep: list[bool] | None = None) -> pa.Array:
    """gc.arrow, or one line naming the property whose values no one column can hold (a grade
    'K' on one node and 5 on another was pyarrow's traceback)."""
    try:
        return gc.arrow(col, keep)
    except gc.Uncarried as exc:
        raise MigrationFailed(f"graph store {cfg.store}: {owner}: property {prop!r} holds {exc.args[0]} values, "
                              f"which datamig cannot carry into CERT as Neo4j holds them (Parquet has no such "
                              f"type); it stops rather than change their type") from None
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        kinds = sorted({_kind(v) for v in col[1] if v is not None})
        raise gc.mixed_types(cfg.store, owner, prop, kinds) from None


def _kind(value) -> str:
    if isinstance(value, list):
        return "list of " + "/".join(sorted({_kind(v) for v in value if v is not None}) or ["nulls"])
    return {str: "string", int: "integer", float: "float", bool: "boolean"}.get(type(value), type(value).__name__)


def _unnamed(tx, chunk: np.ndarray, ids: _Ids, cfg: GraphConfig) -> str:
    """Element id of a node of `chunk` that no key label names (only to name it in an error)."""
    rec = tx.run(f"MATCH (n) WHERE elementId(n) IN {IDS} AND {_key_label_of('n', cfg)} IS NULL "
                 "RETURN elementId(n) AS id LIMIT 1", ids.params(chunk)).single()
    return rec["id"] if rec else ""


def extract_subgraph(url: str, user: str, password: str, cfg: GraphConfig, district,
                     sink: Sink | None = None) -> Subgraph:
    """The subgraph; with `sink`, rows are handed over chunk by chunk as they are read
    (sink(kind, label or type, rows)) and the Subgraph returned carries only the depth."""
    check_neo4j_url(cfg.store, url)
    try:
        driver = neo4j.GraphDatabase.driver(url, auth=(user, password), connection_timeout=10,
                                              notifications_min_severity="OFF")
        driver.verify_connectivity()
    except Exception:  # the address only: a URL may carry a user and password
        raise ConnectionFailed(f"store {cfg.store}: cannot connect to Neo4j at {neo4j_address(url)}") from None
    with driver, driver.session(default_access_mode=neo4j.READ_ACCESS, fetch_size=FETCH) as session:
        # One explicit read transaction, not execute_read: that retries the whole function, and
        # a sink may already have written what the first attempt read.
        with session.begin_transaction() as tx:
            return _read_all(tx, cfg, district, sink)


def _read_all(tx, cfg: GraphConfig, district, sink: Sink | None) -> Subgraph:
    codes, depth, ids, root, beyond = _walk(tx, cfg, district)
    sub = Subgraph(depth_reached=depth, beyond_max_depth=beyond)
    if sink is None:
        def sink(kind, name, table):
            getattr(sub, kind).setdefault(name, []).extend(table.to_pylist())
    reach = _Reach(cfg, codes)
    in_use = _labels_in_use(tx)
    _node_rows(tx, codes, ids, cfg, sink, reach, in_use)
    _rel_rows(tx, codes, ids, cfg, sink, reach)
    sub.orphans = reach.orphans(root)
    sub.labels_changed = not set(_labels_in_use(tx)) <= set(in_use)
    return sub
