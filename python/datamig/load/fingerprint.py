"""Fingerprints of CERT's data, to prove "unchanged" or "exactly as before" after a dry run,
a rollback or a recovery (and for post-load checks).

PostgreSQL: per table, md5 of every row's text form in primary-key order (all columns, so a
CERT-only column counts). Neo4j: sha256 of a canonical dump (labels, typed properties, and
relationships with the canonical form of both ends), leaving out datamig's own ledger nodes.
"""
from __future__ import annotations

import hashlib
import json

import neo4j
import psycopg
from psycopg import sql

from .graph import LEDGER_LABELS

_TABLES = """
SELECT c.relname,
       coalesce((SELECT array_agg(a.attname ORDER BY k.pos)
                 FROM pg_index i CROSS JOIN LATERAL unnest(i.indkey::int2[]) WITH ORDINALITY k(attnum, pos)
                 JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
                 WHERE i.indrelid = c.oid AND i.indisprimary), '{}') AS pk
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = %s AND c.relkind IN ('r', 'p') AND NOT c.relispartition
ORDER BY c.relname
"""


def pg_fingerprint(url: str, schema: str = "public") -> dict[str, str]:
    """table -> md5 of its rows (count included, so an empty table is not a missing one)."""
    out = {}
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SET extra_float_digits = 1")
        for table, pk in conn.execute(_TABLES, (schema,)).fetchall():
            # (t.*), the row: a bare t is the column t when the table has one
            order = sql.SQL(", ").join(sql.Identifier("t", c) for c in pk) if pk else sql.SQL("(t.*)::text")
            query = sql.SQL("SELECT count(*), md5(coalesce(string_agg((t.*)::text, E'\\n' ORDER BY {}), '')) "
                            "FROM {} t").format(order, sql.Identifier(schema, table))
            count, digest = conn.execute(query).fetchone()
            out[table] = f"{count}:{digest}"
    return out


def _canon(value):
    """JSON-able, type-tagged: 1 and 1.0, or a date and its string, must not look alike."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int):
        return {"int": str(value)}
    if isinstance(value, float):
        return {"float": repr(value)}
    if isinstance(value, (list, tuple)):
        return [_canon(v) for v in value]
    if isinstance(value, bytes | bytearray):
        return {"bytes": bytes(value).hex()}
    return {type(value).__name__: str(value)}


def _node_text(labels, props) -> str:
    return json.dumps([sorted(labels), {k: _canon(v) for k, v in sorted(props.items())}], sort_keys=True)


def graph_dump(url: str, user: str, password: str) -> list[str]:
    """Sorted canonical lines: one per node, one per relationship."""
    lines = []
    with neo4j.GraphDatabase.driver(url, auth=(user, password)) as driver, driver.session() as session:
        nodes = {}
        for rec in session.run("MATCH (n) RETURN elementId(n) AS id, labels(n) AS labels, properties(n) AS props"):
            if set(rec["labels"]) & set(LEDGER_LABELS):
                continue
            nodes[rec["id"]] = _node_text(rec["labels"], rec["props"])
            lines.append("N " + nodes[rec["id"]])
        for rec in session.run("MATCH (a)-[r]->(b) RETURN elementId(a) AS a, type(r) AS type, "
                               "properties(r) AS props, elementId(b) AS b"):
            if rec["a"] not in nodes or rec["b"] not in nodes:
                continue
            props = {k: _canon(v) for k, v in sorted(rec["props"].items())}
            lines.append("R " + json.dumps([nodes[rec["a"]], rec["type"], props, nodes[rec["b"]]], sort_keys=True))
    return sorted(lines)


def graph_fingerprint(url: str, user: str, password: str) -> str:
    lines = graph_dump(url, user, password)
    return f"{len(lines)}:" + hashlib.sha256("\n".join(lines).encode()).hexdigest()
