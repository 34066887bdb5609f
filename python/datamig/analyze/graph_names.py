"""The `graph:` settings name what PROD's graph holds. A misspelt relationship type or label
walked nothing, in silence (the district's slice lost a whole part of the graph); a misspelt
node key was a pyarrow traceback late in the extract, after the run folder was made.

Checked on the server's catalog (labels and types in use) and, per key, one indexed or
label-scan lookup that stops at the first node: cheap at any scale.
"""
from __future__ import annotations

from collections.abc import Mapping

import neo4j

from ..config import Config
from ..config.env import graph_login
from ..quoting import cypher_ident
from .neo4j_introspect import open_driver


def check_graph_names(cfg: Config, env: Mapping[str, str]) -> None:
    """One ConfigError `file:LINE` for the first graph setting PROD's graph does not hold."""
    if cfg.graph is None:
        return
    store = cfg.stores[cfg.graph.store]
    with open_driver(store, *graph_login(env, store)) as driver:
        with driver.session(default_access_mode=neo4j.READ_ACCESS) as session:
            session.execute_read(_check, cfg, store.name)


def _check(tx: neo4j.ManagedTransaction, cfg: Config, store: str) -> None:
    graph = cfg.graph
    labels = set(tx.run("CALL db.labels() YIELD label RETURN label").value())
    types = set(tx.run("CALL db.relationshipTypes() YIELD relationshipType RETURN relationshipType").value())

    def label(keys: list, name: str) -> None:
        if name not in labels:
            raise cfg.error_at(keys, f"no node has the label {name!r} in store {store} (PROD)"
                               + _known(labels))

    def key(keys: list, name: str, prop: str) -> None:
        query = (f"MATCH (n:{cypher_ident(name)}) WHERE n.{cypher_ident(prop)} IS NOT NULL "
                 f"RETURN 1 LIMIT 1")
        if tx.run(query).single() is None:
            raise cfg.error_at(keys, f"no {name} node has the property {prop!r} in store {store} (PROD)")

    label(["graph", "root", "label"], graph.root_label)
    key(["graph", "root", "key"], graph.root_label, graph.root_key)
    for name, prop in graph.node_keys.items():
        label(["graph", "node_keys", name], name)
        key(["graph", "node_keys", name], name, prop)
    for i, rule in enumerate(graph.follow):
        if rule.type not in types:
            raise cfg.error_at(["graph", "follow", i, "type"],
                               f"no relationship has the type {rule.type!r} in store {store} (PROD)" + _known(types))
        for end, name in (("from", rule.from_label), ("to", rule.to_label)):
            if name is not None:
                label(["graph", "follow", i, end], name)


def _known(names: set[str]) -> str:
    shown = sorted(names)
    return f" (it has: {', '.join(shown[:12])}{', ...' if len(shown) > 12 else ''})" if shown else ""
