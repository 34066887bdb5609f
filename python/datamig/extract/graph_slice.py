"""The district's subgraph from Neo4j: a breadth-first walk from the root node over the
configured relationship types and directions, bounded in depth, read in one read
transaction. Nodes land per label and relationships per type, each end named by its
label and business key (internal ids mean nothing in another database)."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import neo4j

from ..config.model import GraphConfig
from ..errors import ConfigError, ConnectionFailed, NotFound

BATCH = 10_000
Sink = Callable[[str, str, list[dict]], None]     # (kind "nodes"/"relationships", label/type, rows)


@dataclass
class Subgraph:
    nodes: dict[str, list[dict]] = field(default_factory=dict)  # label -> property maps
    relationships: dict[str, list[dict]] = field(default_factory=dict)  # type -> rows
    depth_reached: int = 0


def _chunks(items: list, size: int = BATCH):
    for i in range(0, len(items), size):
        yield items[i:i + size]


def _step(tx, ids: list[str], rule) -> set[str]:
    pattern = "(n)<-[:`%s`]-(m)" if rule.direction == "in" else "(n)-[:`%s`]->(m)"
    where = "elementId(n) IN $ids"
    # a rule's optional `from` / `to` labels restrict the node left and the node reached
    if rule.from_label:
        where += f" AND n:`{rule.from_label}`"
    if rule.to_label:
        where += f" AND m:`{rule.to_label}`"
    # one record per chunk: the driver's cost is per record, not per value
    query = f"MATCH {pattern % rule.type} WHERE {where} RETURN collect(DISTINCT elementId(m)) AS ids"
    found = set()
    for chunk in _chunks(ids):
        found.update(tx.run(query, ids=chunk).single()["ids"])
    return found


def _walk(tx, cfg: GraphConfig, district) -> tuple[set[str], int]:
    root = tx.run(f"MATCH (r:`{cfg.root_label}` {{`{cfg.root_key}`: $k}}) RETURN elementId(r) AS id",
                  k=district).single()
    if root is None:
        raise NotFound(f"district {district} not found: no ({cfg.root_label} {{{cfg.root_key}: {district}}}) "
                       f"in graph store {cfg.store}")
    selected, frontier, depth = {root["id"]}, {root["id"]}, 0
    while frontier and depth < cfg.max_depth:
        depth += 1
        reached = set()
        for rule in cfg.follow:
            reached |= _step(tx, sorted(frontier), rule)
        frontier = reached - selected
        selected |= frontier
    return selected, depth


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


def _node_rows(tx, ids: list[str], cfg: GraphConfig, sink: Sink) -> None:
    """Property maps per key label, read as one record per label and chunk (the driver's cost
    is per record)."""
    query = ("MATCH (n) WHERE elementId(n) IN $ids "
             f"WITH n, {_KEY_LABEL % 'n'} AS label "
             "RETURN label, collect(properties(n)) AS props, min(elementId(n)) AS sample")
    for chunk in _chunks(ids):
        for rec in tx.run(query, ids=chunk, klabels=sorted(cfg.node_keys)):
            if rec["label"] is None:                          # a node no key names: say which labels
                _key_label(_labels(tx, rec["sample"]), cfg)
            sink("nodes", rec["label"], [dict(p) for p in rec["props"]])


def _rel_rows(tx, ids: list[str], cfg: GraphConfig, sink: Sink) -> None:
    """Every followed-type relationship whose two ends are both in the slice. The end check is
    done here, not in Cypher: `elementId(b) IN <the whole slice>` costs Neo4j a lookup of every
    end node per chunk, quadratic in the slice."""
    types = sorted({r.type for r in cfg.follow})
    selected = set(ids)
    # each end's key label picked in Cypher; one record per type and chunk, a list per relationship
    query = ("MATCH (a)-[r]->(b) WHERE elementId(a) IN $ids AND type(r) IN $types "
             f"WITH a, r, b, {_KEY_LABEL % 'a'} AS al, {_KEY_LABEL % 'b'} AS bl "
             "RETURN type(r) AS type, collect([al, a[$keys[al]], bl, b[$keys[bl]], elementId(b), properties(r), "
             "CASE WHEN al IS NULL THEN elementId(a) END]) AS rels")
    for chunk in _chunks(ids):
        for rec in tx.run(query, ids=chunk, types=types, keys=dict(cfg.node_keys), klabels=sorted(cfg.node_keys)):
            rows = []
            for al, ak, bl, bk, b, props, a in rec["rels"]:
                if b not in selected:
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
    with driver, driver.session(default_access_mode=neo4j.READ_ACCESS) as session:
        # One explicit read transaction, not execute_read: that retries the whole function, and
        # a sink may already have written what the first attempt read.
        with session.begin_transaction() as tx:
            return _read_all(tx, cfg, district, sink)


def _read_all(tx, cfg: GraphConfig, district, sink: Sink | None) -> Subgraph:
    ids, depth = _walk(tx, cfg, district)
    ordered = sorted(ids)
    del ids
    sub = Subgraph(depth_reached=depth)
    if sink is None:
        def sink(kind, name, rows):
            getattr(sub, kind).setdefault(name, []).extend(rows)
    _node_rows(tx, ordered, cfg, sink)
    _rel_rows(tx, ordered, cfg, sink)
    return sub
