"""Row, node and relationship counts of a run: extracted = final = present in CERT (by key).
Keys are read from the final Parquet and looked up in CERT, so CERT's own data neither
helps nor hurts the count."""
from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import NamedTuple

import duckdb
import neo4j
import psycopg
import pyarrow.parquet as pq
from psycopg import sql

from ..analyze.graph_keys import LABELS
from ..quoting import cypher_ident as _cq, sql_ident as _q, sql_literal

CHUNK = 50_000


class Keyed(NamedTuple):
    table: str
    parquet: Path           # the run's final rows of the table
    key: list[str]          # the columns the loader matched rows on
    types: dict[str, str]   # PostgreSQL type of each column


def _distinct(parquet: Path, columns: list[str]) -> Iterator[list[tuple]]:
    """The distinct values of `columns` in the Parquet, CHUNK at a time. The graph load writes one
    node per key of a label and one relationship per (start, end) pair of a type (rows naming
    one again are merged into it, `duplicate_rows_merged`): that is what CERT can hold of a
    final file, and each key in one chunk only is counted once."""
    cols = ", ".join(_q(c) for c in columns)
    cur = duckdb.connect().execute(f"SELECT DISTINCT {cols} FROM read_parquet('{parquet}')")
    while chunk := cur.fetchmany(CHUNK):
        yield chunk


def _pg_text(column: str, duck_type: str) -> str:
    """DuckDB expression: the column's value as text PostgreSQL's input function reads back. A
    list prints as '[1, 2]' and a BLOB as '\\x00\\xFF' in DuckDB, which PostgreSQL refuses (malformed
    array literal, invalid hexadecimal digit): they are written as '{"1","2"}' and '\\x00ff'."""
    if duck_type.endswith("[]"):
        item = "CASE WHEN e IS NULL THEN 'NULL' ELSE '\"' || replace(replace(CAST(e AS VARCHAR), '\\', '\\\\'), " \
               "'\"', '\\\"') || '\"' END"
        return f"'{{' || array_to_string(list_transform({column}, e -> {item}), ',') || '}}'"
    if duck_type == "BLOB":
        return f"'\\x' || lower(hex({column}))"
    return f"CAST({column} AS VARCHAR)"


def _key_json(db: duckdb.DuckDBPyConnection, parquet: Path, key: list[str]) -> list[str]:
    """The Parquet's keys as JSON arrays of {column: text} objects, CHUNK rows each, made by
    DuckDB: no row passes through Python (at `reference` that took seconds of CPU)."""
    types = dict(db.execute("SELECT column_name, column_type FROM (DESCRIBE SELECT * FROM read_parquet(?))",
                            [str(parquet)]).fetchall())
    fields = ", ".join(sql_literal(c) + ": " + _pg_text(_q(c), types[c]) for c in key)
    rows = db.execute(f"SELECT CAST(to_json(list({{{fields}}})) AS VARCHAR) FROM "
                      f"(SELECT *, row_number() OVER () - 1 AS _n FROM read_parquet(?)) GROUP BY _n // {CHUNK}",
                      [str(parquet)]).fetchall()
    return [r[0] for r in rows]


def pg_present(url: str, schema: str, tables: Sequence[Keyed]) -> list[int]:
    """Per table, its CERT rows whose key is one of its Parquet's; one session for the store."""
    out = []
    with psycopg.connect(url) as conn, duckdb.connect() as db:
        conn.execute("SET default_transaction_read_only = on")
        # the key set comes from a function PostgreSQL estimates at 100 rows: without this it
        # probes the table's index once per key rather than hashing the keys (see dbt_cert)
        conn.execute("SET enable_nestloop = off")
        for t in tables:
            query = sql.SQL("SELECT count(*) FROM {} AS t WHERE ROW({})::text IN "
                            "(SELECT ROW({})::text FROM jsonb_to_recordset(%s::jsonb) AS x ({}))").format(
                sql.Identifier(schema, t.table), *_row_texts(t))
            out.append(sum(conn.execute(query, (chunk,)).fetchone()[0] for chunk in _key_json(db, t.parquet, t.key)))
    return out


def _row_texts(t: Keyed) -> tuple[sql.Composable, sql.Composable, sql.Composable]:
    """CERT's key columns, the Parquet's read as their CERT types, and the recordset's columns
    (text). Compared as the text of a row: a key of a table without primary key is all its
    columns, and there a NULL (never equal to itself) or a json (no equality operator) made the
    row count as missing or the query fail."""
    cert = sql.SQL(", ").join(sql.Identifier("t", k) for k in t.key)
    final = sql.SQL(", ").join(sql.SQL("{}::{}").format(sql.Identifier("x", k), sql.SQL(t.types[k])) for k in t.key)
    texts = sql.SQL(", ").join(sql.SQL("{} text").format(sql.Identifier(k)) for k in t.key)
    return cert, final, texts


def parquet_rows(parquet: Path) -> int:
    return duckdb.connect().execute(f"SELECT count(*) FROM read_parquet('{parquet}')").fetchone()[0]


def graph_present(url: str, user: str, password: str, final_dir: Path, node_keys: Mapping[str, str]) -> dict:
    """Per label and relationship type of the final: (its distinct keys or (start, end) pairs,
    how many of them CERT holds)."""
    out = {"nodes": {}, "relationships": {}}
    with neo4j.GraphDatabase.driver(url, auth=(user, password), notifications_min_severity="OFF") as driver, \
            driver.session(default_access_mode=neo4j.READ_ACCESS) as session:
        for path in sorted((final_dir / "nodes").glob("*.parquet")):
            out["nodes"][path.stem] = _nodes_present(session, path, path.stem, node_keys[path.stem])
        for path in sorted((final_dir / "relationships").glob("*.parquet")):
            out["relationships"][path.stem] = _rels_present(session, path, path.stem, node_keys)
    return out


def _nodes_present(session, path: Path, label: str, key: str) -> tuple[int, int]:
    """A node is present with every label the final gives it besides `label` (LABELS): one
    lacking any is not the node PROD has (CERT-only labels do not matter)."""
    if LABELS not in pq.read_schema(path).names:  # a final made before labels travelled
        return _keys_present(session, path, label, key)
    distinct = present = 0
    query = (f"UNWIND $rows AS row MATCH (n:{_cq(label)} {{{_cq(key)}: row[0]}}) "
             "WHERE all(lb IN row[1] WHERE lb IN labels(n)) RETURN count(DISTINCT row[0]) AS n")
    for chunk in _distinct_labels(path, key):
        distinct += len(chunk)
        present += session.run(query, rows=[list(r) for r in chunk]).single()["n"]
    return distinct, present


def _distinct_labels(parquet: Path, key: str) -> Iterator[list[tuple]]:
    """(key, every other label its rows name) per distinct key, CHUNK at a time."""
    cur = duckdb.connect().execute(
        f"SELECT {_q(key)}, list_distinct(flatten(list(coalesce({_q(LABELS)}, [])))) "
        f"FROM read_parquet({sql_literal(str(parquet))}) GROUP BY ALL")
    while chunk := cur.fetchmany(CHUNK):
        yield chunk


def _keys_present(session, path: Path, label: str, key: str) -> tuple[int, int]:
    distinct = present = 0
    for chunk in _distinct(path, [key]):
        distinct += len(chunk)
        present += session.run(f"MATCH (n:{_cq(label)}) WHERE n.{_cq(key)} IN $keys RETURN count(n) AS n",
                               keys=[r[0] for r in chunk]).single()["n"]
    return distinct, present


def _rels_present(session, path: Path, rel_type: str, node_keys: Mapping[str, str]) -> tuple[int, int]:
    distinct = present = 0
    for chunk in _distinct(path, ["start_label", "start_key", "end_label", "end_key"]):
        distinct += len(chunk)
        by_labels: dict[tuple, list] = {}
        for sl, sk, el, ek in chunk:
            by_labels.setdefault((sl, el), []).append({"s": sk, "e": ek})
        for (sl, el), rows in by_labels.items():
            # DISTINCT: CERT may hold parallel relationships of the type between the two ends
            query = (f"UNWIND $rows AS row MATCH (a:{_cq(sl)} {{{_cq(node_keys[sl])}: row.s}})"
                     f"-[r:{_cq(rel_type)}]->(b:{_cq(el)} {{{_cq(node_keys[el])}: row.e}}) "
                     "RETURN count(DISTINCT [row.s, row.e]) AS n")
            present += session.run(query, rows=rows).single()["n"]
    return distinct, present
