"""The district's subgraph from Neo4j: a breadth-first walk from the root node over the
configured relationship types and directions, bounded in depth, read in one read
transaction. Nodes land per label and relationships per type, each end named by its
label and business key (internal ids mean nothing in another database)."""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

import neo4j

from ..config.model import GraphConfig
from ..errors import ConfigError, ConnectionFailed, NotFound

BATCH = 10_000


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
    query = f"MATCH {pattern % rule.type} WHERE {where} RETURN DISTINCT elementId(m) AS id"
    found = set()
    for chunk in _chunks(ids):
        found.update(r["id"] for r in tx.run(query, ids=chunk))
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


def _node_rows(tx, ids: list[str], cfg: GraphConfig) -> dict[str, list[dict]]:
    rows = defaultdict(list)
    for chunk in _chunks(ids):
        for rec in tx.run("MATCH (n) WHERE elementId(n) IN $ids RETURN labels(n) AS labels, "
                          "properties(n) AS props", ids=chunk):
            rows[_key_label(rec["labels"], cfg)].append(dict(rec["props"]))
    return rows


def _rel_rows(tx, ids: list[str], cfg: GraphConfig) -> dict[str, list[dict]]:
    """Every followed-type relationship whose two ends are both in the slice. The end check is
    done here, not in Cypher: `elementId(b) IN <the whole slice>` costs Neo4j a lookup of every
    end node per chunk, quadratic in the slice."""
    types = sorted({r.type for r in cfg.follow})
    selected = set(ids)
    rows = defaultdict(list)
    query = ("MATCH (a)-[r]->(b) WHERE elementId(a) IN $ids AND type(r) IN $types "
             "RETURN type(r) AS type, labels(a) AS al, elementId(b) AS b, labels(b) AS bl, "
             "a[$keys[head([l IN labels(a) WHERE l IN keys($keys)])]] AS ak, "
             "b[$keys[head([l IN labels(b) WHERE l IN keys($keys)])]] AS bk, properties(r) AS rp")
    for chunk in _chunks(ids):
        for rec in tx.run(query, ids=chunk, types=types, keys=dict(cfg.node_keys)):
            if rec["b"] not in selected:
                continue
            rows[rec["type"]].append({
                "start_label": _key_label(rec["al"], cfg), "start_key": rec["ak"],
                "end_label": _key_label(rec["bl"], cfg), "end_key": rec["bk"], **dict(rec["rp"])})
    return rows


def extract_subgraph(url: str, user: str, password: str, cfg: GraphConfig, district) -> Subgraph:
    try:
        driver = neo4j.GraphDatabase.driver(url, auth=(user, password), connection_timeout=10,
                                              notifications_min_severity="OFF")
        driver.verify_connectivity()
    except Exception:
        raise ConnectionFailed(f"store {cfg.store}: cannot connect to Neo4j at {url}") from None
    with driver, driver.session(default_access_mode=neo4j.READ_ACCESS) as session:
        return session.execute_read(_read_all, cfg, district)


def _read_all(tx, cfg: GraphConfig, district) -> Subgraph:
    ids, depth = _walk(tx, cfg, district)
    ordered = sorted(ids)
    return Subgraph(nodes=dict(_node_rows(tx, ordered, cfg)), relationships=dict(_rel_rows(tx, ordered, cfg)),
                    depth_reached=depth)
