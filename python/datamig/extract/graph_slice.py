"""The district's subgraph from Neo4j: a breadth-first walk from the root node over the
configured relationship types and directions, bounded in depth, read in one read
transaction. Nodes land per label and relationships per type, each end named by its
label and business key (internal ids mean nothing in another database).

The walk's memory does not grow with strings: a node's element id is the database's prefix
(`4:<database id>:`) and a number, so the visited set and each frontier are sorted numpy int64
arrays (8 bytes a node; ~1M nodes at `large` hold 8 MB, where Python sets of element id strings
held hundreds), and ids become strings again only one chunk at a time, to be sent to Neo4j.
Each chunk's list is emptied once its query is read (see `_records`): the transaction would
otherwise keep them all."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import neo4j
import numpy as np

from ..config.model import GraphConfig
from ..errors import ConfigError, ConnectionFailed, NotFound

BATCH = 10_000
PIECE = 5_000          # relationships per record
FETCH = 8              # records the driver buffers: at most FETCH x PIECE relationships in memory
Sink = Callable[[str, str, list[dict]], None]     # (kind "nodes"/"relationships", label/type, rows)


@dataclass
class Subgraph:
    nodes: dict[str, list[dict]] = field(default_factory=dict)  # label -> property maps
    relationships: dict[str, list[dict]] = field(default_factory=dict)  # type -> rows
    depth_reached: int = 0


def _chunks(items, size: int = BATCH):
    for i in range(0, len(items), size):
        yield items[i:i + size]


class _Ids:
    """Element ids as int64: the number after the prefix every node of the database shares."""

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

    def decode(self, codes: np.ndarray) -> list[str]:
        prefix = self.prefix
        return [prefix + str(c) for c in codes.tolist()]


def _records(tx, query: str, ids: list[str], **params):
    """The records of `query` run with `$ids`, then `ids` emptied: a transaction keeps every
    result it ran, with its parameters, until it ends, so each chunk of ids sent would
    otherwise stay in memory for the whole read (the slice again, once per query)."""
    try:
        yield from tx.run(query, ids=ids, **params)
    finally:
        ids.clear()


def _step(tx, codes: np.ndarray, rule, ids: _Ids) -> np.ndarray:
    pattern = "(n)<-[:`%s`]-(m)" if rule.direction == "in" else "(n)-[:`%s`]->(m)"
    where = "elementId(n) IN $ids"
    # a rule's optional `from` / `to` labels restrict the node left and the node reached
    if rule.from_label:
        where += f" AND n:`{rule.from_label}`"
    if rule.to_label:
        where += f" AND m:`{rule.to_label}`"
    # one record per chunk: the driver's cost is per record, not per value
    query = f"MATCH {pattern % rule.type} WHERE {where} RETURN collect(DISTINCT elementId(m)) AS ids"
    found = np.empty(0, dtype=np.int64)
    for chunk in _chunks(codes):
        (rec,) = _records(tx, query, ids.decode(chunk))
        reached = ids.encode(rec["ids"])
        found = np.union1d(found, reached)                    # sorted, unique
    return found


def _walk(tx, cfg: GraphConfig, district) -> tuple[np.ndarray, int, _Ids]:
    """The slice's node ids, sorted, as int64 codes of `_Ids`."""
    root = tx.run(f"MATCH (r:`{cfg.root_label}` {{`{cfg.root_key}`: $k}}) RETURN elementId(r) AS id",
                  k=district).single()
    if root is None:
        raise NotFound(f"district {district} not found: no ({cfg.root_label} {{{cfg.root_key}: {district}}}) "
                       f"in graph store {cfg.store}")
    ids = _Ids(root["id"])
    selected = frontier = ids.encode([root["id"]])
    depth = 0
    while frontier.size and depth < cfg.max_depth:
        depth += 1
        reached = np.empty(0, dtype=np.int64)
        for rule in cfg.follow:
            reached = np.union1d(reached, _step(tx, frontier, rule, ids))
        frontier = np.setdiff1d(reached, selected, assume_unique=True)
        selected = np.union1d(selected, frontier)
    return selected, depth, ids


def _key_label(labels: list[str], cfg: GraphConfig) -> str:
    label = next((lb for lb in sorted(labels) if lb in cfg.node_keys), None)
    if label is None:
        raise ConfigError(f"graph: a node labelled {':'.join(sorted(labels)) or '(none)'} was reached but "
                          f"graph.node_keys names no key for any of its labels")
    return label


# The key label of a node: the first of its labels, in sorted order, that graph.node_keys names
# (what _key_label picks in Python); null when none does.
_KEY_LABEL = "head([l IN $klabels WHERE l IN labels(%s)])"


def _labels(tx, element_id: str) -> list[str]:
    """Labels of one node (only to name them in an error)."""
    found = tx.run("MATCH (n) WHERE elementId(n) = $id RETURN labels(n) AS labels", id=element_id).single()
    return found["labels"] if found else []


def _node_rows(tx, codes: np.ndarray, ids: _Ids, cfg: GraphConfig, sink: Sink) -> None:
    """Property maps per key label, read as one record per label and chunk (the driver's cost
    is per record)."""
    query = ("MATCH (n) WHERE elementId(n) IN $ids "
             f"WITH n, {_KEY_LABEL % 'n'} AS label "
             "RETURN label, collect(properties(n)) AS props, min(elementId(n)) AS sample")
    for chunk in _chunks(codes):
        for rec in _records(tx, query, ids.decode(chunk), klabels=sorted(cfg.node_keys)):
            if rec["label"] is None:                          # a node no key names: say which labels
                _key_label(_labels(tx, rec["sample"]), cfg)
            sink("nodes", rec["label"], [dict(p) for p in rec["props"]])


def _rel_rows(tx, codes: np.ndarray, ids: _Ids, cfg: GraphConfig, sink: Sink) -> None:
    """Every followed-type relationship whose two ends are both in the slice. The end check is
    done here, not in Cypher: `elementId(b) IN <the whole slice>` costs Neo4j a lookup of every
    end node per chunk, quadratic in the slice. `codes` is sorted: membership is a binary search."""
    types = sorted({r.type for r in cfg.follow})
    # each end's key label picked in Cypher; records of one type, a list of up to PIECE relationships
    query = ("MATCH (a)-[r]->(b) WHERE elementId(a) IN $ids AND type(r) IN $types "
             f"WITH a, r, b, {_KEY_LABEL % 'a'} AS al, {_KEY_LABEL % 'b'} AS bl "
             "WITH type(r) AS type, collect([al, a[$keys[al]], bl, b[$keys[bl]], elementId(b), properties(r), "
             "CASE WHEN al IS NULL THEN elementId(a) END]) AS rels "
             # in records of at most PIECE relationships: a chunk's nodes may have many
             "UNWIND range(0, size(rels) - 1, $piece) AS i RETURN type, rels[i..i + $piece] AS rels")
    for chunk in _chunks(codes):
        for rec in _records(tx, query, ids.decode(chunk), types=types, keys=dict(cfg.node_keys),
                            klabels=sorted(cfg.node_keys), piece=PIECE):
            rels = rec["rels"]
            ends = ids.encode([rel[4] for rel in rels])
            at = np.minimum(np.searchsorted(codes, ends), len(codes) - 1)
            inside = (codes[at] == ends).tolist()
            rows = []
            for (al, ak, bl, bk, b, props, a), keep in zip(rels, inside):
                if not keep:
                    continue
                if al is None or bl is None:                  # an end no key names: say which labels
                    _key_label(_labels(tx, a if al is None else b), cfg)
                rows.append({"start_label": al, "start_key": ak, "end_label": bl, "end_key": bk, **dict(props)})
            sink("relationships", rec["type"], rows)


def extract_subgraph(url: str, user: str, password: str, cfg: GraphConfig, district,
                     sink: Sink | None = None) -> Subgraph:
    """The subgraph; with `sink`, rows are handed over chunk by chunk as they are read
    (sink(kind, label or type, rows)) and the Subgraph returned carries only the depth."""
    try:
        driver = neo4j.GraphDatabase.driver(url, auth=(user, password), connection_timeout=10,
                                              notifications_min_severity="OFF")
        driver.verify_connectivity()
    except Exception:
        raise ConnectionFailed(f"store {cfg.store}: cannot connect to Neo4j at {url}") from None
    with driver, driver.session(default_access_mode=neo4j.READ_ACCESS, fetch_size=FETCH) as session:
        # One explicit read transaction, not execute_read: that retries the whole function, and
        # a sink may already have written what the first attempt read.
        with session.begin_transaction() as tx:
            return _read_all(tx, cfg, district, sink)


def _read_all(tx, cfg: GraphConfig, district, sink: Sink | None) -> Subgraph:
    codes, depth, ids = _walk(tx, cfg, district)
    sub = Subgraph(depth_reached=depth)
    if sink is None:
        def sink(kind, name, rows):
            getattr(sub, kind).setdefault(name, []).extend(rows)
    _node_rows(tx, codes, ids, cfg, sink)
    _rel_rows(tx, codes, ids, cfg, sink)
    return sub
