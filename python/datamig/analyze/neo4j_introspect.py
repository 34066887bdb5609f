"""Read one Neo4j store's shape into a GraphSchema: labels, relationship types, constraints.

Every query runs in a READ session through execute_read, so the server itself refuses any
write: introspecting PROD cannot change it.
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping

import neo4j
from neo4j.exceptions import AuthError, ConfigurationError, ServiceUnavailable

from ..config import StoreConfig, check_neo4j_url
from ..config.neo4j_url import LOGIN_LOCKED, login_locked, neo4j_address
from ..errors import ConnectionFailed
from ..quoting import cypher_ident as _quote
from .graph_keys import _pg_type, keyed_properties
from .model import GraphSchema, NodeLabel, RelType

# Counts come from the count store (constant time per label).
_LABELS = "CALL db.labels() YIELD label RETURN label ORDER BY label"
_NODE_PROPS = ("CALL db.schema.nodeTypeProperties() YIELD nodeLabels, propertyName, propertyTypes "
               "RETURN nodeLabels, propertyName, propertyTypes")
_REL_PROPS = ("CALL db.schema.relTypeProperties() YIELD relType, propertyName, propertyTypes "
              "RETURN relType, propertyName, propertyTypes")
# The count store cannot answer (start label, type, end label) triples, so this scans the
# relationships once; a node with several labels counts under each of them.
_REL_TRIPLES = """
MATCH (a)-[r]->(b)
UNWIND labels(a) AS start_label
UNWIND labels(b) AS end_label
RETURN start_label, type(r) AS type, end_label, count(*) AS n
ORDER BY type, start_label, end_label
"""
_CONSTRAINTS = "SHOW CONSTRAINTS YIELD name, type, entityType, labelsOrTypes, properties"
# NODE_KEY (enterprise) implies unique + present, so it wins over a plain uniqueness
# constraint, which Neo4j 5 calls UNIQUENESS and Cypher 25 NODE_PROPERTY_UNIQUENESS.
_KEY_TYPES = ("NODE_KEY", "UNIQUENESS", "NODE_PROPERTY_UNIQUENESS")


def introspect_neo4j(store: StoreConfig, url: str, user: str, password: str) -> GraphSchema:
    """Labels with counts and property keys, relationship triples, and constraints."""
    with open_driver(store, url, user, password) as driver:
        with driver.session(default_access_mode=neo4j.READ_ACCESS) as session:
            labels, label_sets = session.execute_read(_read_labels)
            relationships = session.execute_read(_read_relationships)
            # SHOW commands get a transaction of their own: they may not share one with queries.
            constraints = session.execute_read(lambda tx: tx.run(_CONSTRAINTS).data())
    _attach_keys(labels, constraints)
    return GraphSchema(store=store.name, labels=labels, relationships=relationships, constraints=constraints,
                       label_sets=label_sets)


def graph_property_types(store: StoreConfig, url: str, user: str, password: str,
                         node_keys: Mapping[str, str]) -> tuple[dict, dict]:
    """({key label: {property: type}}, {relationship type: {property: type}}) of the whole graph,
    as the scaffold types them, from the schema procedures alone (introspect_neo4j also counts
    and scans every relationship)."""
    with open_driver(store, url, user, password) as driver:
        with driver.session(default_access_mode=neo4j.READ_ACCESS) as session:
            label_sets, rels = session.execute_read(_read_properties)
    return keyed_properties(label_sets, node_keys), {
        rel_type: {prop: _pg_type(types) for prop, types in sorted(props.items())} for rel_type, props in rels.items()}


def _label_sets(tx: neo4j.ManagedTransaction) -> list[dict]:
    """Per set of labels nodes carry together, its properties with their Neo4j types."""
    sets: dict[tuple, dict[str, list[str]]] = defaultdict(dict)
    for node_labels, prop, prop_types in tx.run(_NODE_PROPS).values():
        props = sets[tuple(sorted(node_labels or []))]
        if prop is not None:
            props[prop] = sorted(set(props.get(prop, [])) | set(prop_types or []))
    return [{"labels": list(labels), "property_types": dict(sorted(props.items()))}
            for labels, props in sorted(sets.items())]


def _read_properties(tx: neo4j.ManagedTransaction) -> tuple[list[dict], dict]:
    rels: dict[str, dict[str, set[str]]] = defaultdict(dict)
    for rel_type, prop, prop_types in tx.run(_REL_PROPS).values():
        props = rels[_unquote_rel_type(rel_type)]
        if prop is not None:
            props[prop] = props.get(prop, set()) | set(prop_types or [])
    return _label_sets(tx), dict(rels)


def open_driver(store: StoreConfig, url: str, user: str, password: str) -> neo4j.Driver:
    """A driver that has reached the server and authenticated, or ConnectionFailed.

    Errors raised later by a query are not connection problems and propagate unchanged.
    """
    check_neo4j_url(store.name, url)  # the driver takes http:// too, then fails on a missing module
    try:
        driver = neo4j.GraphDatabase.driver(url, auth=(user, password), connection_timeout=10,
                                              notifications_min_severity="OFF")
    except (ConfigurationError, ValueError) as exc:  # a URL the driver cannot parse
        raise ConnectionFailed(_connection_message(store, url, password, exc)) from None
    try:
        driver.verify_connectivity()
    except (ServiceUnavailable, AuthError, ConfigurationError) as exc:
        driver.close()
        raise ConnectionFailed(_connection_message(store, url, password, exc, user)) from None
    except neo4j.exceptions.ClientError as exc:  # locked out: was a traceback, exit 1
        driver.close()
        if not login_locked(exc):
            raise
        raise ConnectionFailed(f"store {store.name}: cannot connect to Neo4j at {neo4j_address(url)}: "
                               f"{LOGIN_LOCKED}") from None
    return driver


def _connection_message(store: StoreConfig, url: str, password: str, exc: Exception, user: str = "") -> str:
    """One line naming store and host:port; the driver's text is scrubbed of the secrets."""
    where = neo4j_address(url)
    if isinstance(exc, AuthError):  # the server's record ends "Unexpected error ... see debug log"
        return f"store {store.name}: cannot connect to Neo4j at {where}: the server refused the login of " \
               f"user {user!r} (wrong user or password)"
    # The driver explains on its last line ("... (reason [Errno 111] Connection refused)").
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    reason = lines[-1] if lines else type(exc).__name__
    for secret in (password, url):
        if secret:
            reason = reason.replace(secret, "***")
    return f"store {store.name}: cannot connect to Neo4j at {where}: {reason or type(exc).__name__}"


def _read_labels(tx: neo4j.ManagedTransaction) -> tuple[dict[str, NodeLabel], list[dict]]:
    """Every label with the properties of every node carrying it (with others too), and the
    label sets. A property's types are those of all its sets: the type of the last set read
    won, so a date on :Staff and a string on :Staff:Teacher could come out `date`."""
    label_sets = _label_sets(tx)
    types: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    for entry in label_sets:
        for label in entry["labels"]:
            for prop, prop_types in entry["property_types"].items():
                types[label][prop].update(prop_types)
    labels = {}
    for (label,) in tx.run(_LABELS).values():
        count = tx.run(f"MATCH (n:{_quote(label)}) RETURN count(n)").single()[0]
        labels[label] = NodeLabel(label=label, count=count, properties=sorted(types[label]),
                                  property_types={p: _pg_type(ts) for p, ts in sorted(types[label].items())})
    return labels, label_sets


def _read_relationships(tx: neo4j.ManagedTransaction) -> list[RelType]:
    props: dict[str, set[str]] = defaultdict(set)
    types: dict[str, dict[str, str]] = defaultdict(dict)
    for rel_type, prop, prop_types in tx.run(_REL_PROPS).values():
        if prop is not None:
            props[_unquote_rel_type(rel_type)].add(prop)
            types[_unquote_rel_type(rel_type)][prop] = _pg_type(prop_types)
    return [
        RelType(type=rtype, start_label=start, end_label=end, count=n, properties=sorted(props[rtype]),
                property_types=dict(sorted(types[rtype].items())))
        for start, rtype, end, n in tx.run(_REL_TRIPLES).values()
    ]


def _attach_keys(labels: dict[str, NodeLabel], constraints: list[dict]) -> None:
    """NodeLabel.key = the single property of a node uniqueness (or node key) constraint."""
    ranked = sorted(
        (c for c in constraints
         if c.get("entityType") == "NODE" and c.get("type") in _KEY_TYPES and len(c.get("properties") or []) == 1),
        key=lambda c: (c["type"] != "NODE_KEY", c["name"]),
    )
    for c in ranked:
        for label in c.get("labelsOrTypes") or []:
            if label in labels and labels[label].key is None:
                labels[label].key = c["properties"][0]


def _unquote_rel_type(text: str) -> str:
    """db.schema.relTypeProperties prints types as :`TYPE`."""
    text = text[1:] if text.startswith(":") else text
    if text.startswith("`") and text.endswith("`"):
        text = text[1:-1].replace("``", "`")
    return text
