"""Neo4j side of seeding: uniqueness constraints on the business keys, wiping a graph, and
writing nodes and relationships in batched UNWIND statements.

Batches are sent column-wise (`$c0[i]`, `$c1[i]`, ...) instead of as a list of maps: packing
a few long lists is several times cheaper for the Python driver than one small dict per row.
Relationships are matched on business keys (indexed by the constraints, created first) --
never on internal node ids, which differ from one database to another.
"""
from __future__ import annotations

import hashlib
import re
from collections.abc import Callable

import pyarrow as pa
import pyarrow.compute as pc
from neo4j import Driver, GraphDatabase

from .gen_graph import NODE_KEYS, Graph, RelSet
from .pg_writer import to_csv

BATCH = 10_000
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _ident(name: str) -> str:
    # Labels, types and property names come from our own generator; refuse anything else
    # rather than splice it into Cypher.
    if not _NAME.match(name):
        raise ValueError(f"unsafe Cypher identifier {name!r}")
    return name


def connect(url: str, user: str, password: str) -> Driver:
    driver = GraphDatabase.driver(url, auth=(user, password))
    driver.verify_connectivity()
    return driver


def constraint_name(label: str, key: str) -> str:
    return f"{label.lower()}_{key}_unique"


def apply_constraints(driver: Driver) -> None:
    """Uniqueness constraint (hence an index) per label's business key. Idempotent."""
    with driver.session() as session:
        for label, key in NODE_KEYS.items():
            session.run(f"CREATE CONSTRAINT {_ident(constraint_name(label, key))} IF NOT EXISTS "
                        f"FOR (n:{_ident(label)}) REQUIRE n.{_ident(key)} IS UNIQUE").consume()
        session.run("CALL db.awaitIndexes(300)").consume()


def wipe(driver: Driver, batch: int = 20_000) -> int:
    """Delete every relationship, then every node, in bounded transactions. Returns nodes deleted."""
    deleted = 0
    with driver.session() as session:
        while True:
            n = session.run("MATCH ()-[r]->() WITH r LIMIT $n DELETE r RETURN count(*) AS c", n=batch).single()["c"]
            if n == 0:
                break
        while True:
            n = session.run("MATCH (x) WITH x LIMIT $n DETACH DELETE x RETURN count(*) AS c", n=batch).single()["c"]
            deleted += n
            if n == 0:
                break
    return deleted


def _wire(column: pa.ChunkedArray) -> list:
    """Python values to send for one column. Temporal values travel as plain ints / ISO text
    and are rebuilt by Cypher (see _value): the pure-Python driver packs a datetime object
    roughly ten times slower than an int."""
    if pa.types.is_timestamp(column.type):
        return pc.cast(column, pa.timestamp("ms", tz="UTC")).cast(pa.int64()).to_pylist()
    if pa.types.is_date(column.type):
        return pc.cast(column, pa.string()).to_pylist()
    return column.to_pylist()


def _value(column_type: pa.DataType, ref: str) -> str:
    """Cypher expression that turns the wire value of a column back into its property value."""
    if pa.types.is_timestamp(column_type):
        return f"CASE WHEN {ref} IS NULL THEN null ELSE datetime({{epochMillis: {ref}}}) END"
    if pa.types.is_date(column_type):
        return f"date({ref})"
    return ref


def _columns(table: pa.Table, start: int, length: int) -> dict[str, list]:
    part = table.slice(start, length)
    return {f"c{i}": _wire(part.column(i)) for i in range(part.num_columns)}


def _run_batches(driver: Driver, query: str, table: pa.Table, batch: int) -> None:
    with driver.session() as session:
        for start in range(0, table.num_rows, batch):
            params = _columns(table, start, batch)
            params["n"] = min(batch, table.num_rows - start)
            session.execute_write(lambda tx: tx.run(query, params).consume())


def node_query(label: str, table: pa.Table) -> str:
    # A null in a CREATE property map leaves that property unset, as a NULL column should.
    props = ", ".join(f"{_ident(field.name)}: {_value(field.type, f'$c{i}[i]')}" for i, field in enumerate(table.schema))
    return f"UNWIND range(0, $n - 1) AS i CREATE (:{_ident(label)} {{{props}}})"


def rel_query(rel: RelSet) -> str:
    fields = rel.table.schema              # start, end, properties...
    props = ", ".join(f"{_ident(f.name)}: {_value(f.type, f'$c{i}[i]')}" for i, f in enumerate(fields) if i >= 2)
    skey, ekey = NODE_KEYS[rel.start_label], NODE_KEYS[rel.end_label]
    return (f"UNWIND range(0, $n - 1) AS i "
            f"MATCH (a:{_ident(rel.start_label)} {{{_ident(skey)}: $c0[i]}}) "
            f"MATCH (b:{_ident(rel.end_label)} {{{_ident(ekey)}: $c1[i]}}) "
            f"CREATE (a)-[:{_ident(rel.type)}{' {' + props + '}' if props else ''}]->(b)")


def write_graph(driver: Driver, graph: Graph, batch: int = BATCH,
                progress: Callable[[str], None] | None = None) -> dict[str, str]:
    """Create every node, then every relationship. Returns sha256 per node label / rel type of
    the rows written (same CSV canonical form as the PostgreSQL checksums)."""
    checksums: dict[str, str] = {}
    for label, table in graph.nodes.items():
        if progress:
            progress(f"sp: {table.num_rows} {label} nodes")
        _run_batches(driver, node_query(label, table), table, batch)
        checksums[f"node:{label}"] = hashlib.sha256(to_csv(table)).hexdigest()
    for rel in graph.rels:
        if progress:
            progress(f"sp: {rel.table.num_rows} {rel.type} relationships")
        _run_batches(driver, rel_query(rel), rel.table, batch)
        checksums[f"rel:{rel.type}"] = hashlib.sha256(to_csv(rel.table)).hexdigest()
    return checksums


def graph_counts(driver: Driver) -> dict:
    with driver.session() as session:
        nodes = session.run("MATCH (n) RETURN count(n) AS c").single()["c"]
        rels = session.run("MATCH ()-[r]->() RETURN count(r) AS c").single()["c"]
    return {"nodes": nodes, "relationships": rels}
