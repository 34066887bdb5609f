"""Row, node and relationship counts of a run: extracted = final = present in CERT (by key).
Keys are read from the final Parquet and looked up in CERT, so CERT's own data neither
helps nor hurts the count."""
from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path

import duckdb
import neo4j
import psycopg
from psycopg import sql

CHUNK = 50_000


def _keys(parquet: Path, columns: list[str]) -> Iterator[list[tuple]]:
    cols = ", ".join('"' + c.replace('"', '""') + '"' for c in columns)
    cur = duckdb.connect().execute(f"SELECT {cols} FROM read_parquet('{parquet}')")
    while chunk := cur.fetchmany(CHUNK):
        yield chunk


def pg_present(url: str, schema: str, table: str, parquet: Path, key: list[str], types: dict[str, str]) -> int:
    found = 0
    with psycopg.connect(url) as conn:
        conn.execute("SET default_transaction_read_only = on")
        for chunk in _keys(parquet, key):
            arrays = [[None if row[i] is None else str(row[i]) for row in chunk] for i in range(len(key))]
            casts = sql.SQL(", ").join(sql.SQL("%s::text[]::{}[]").format(sql.SQL(types[k])) for k in key)
            query = sql.SQL("SELECT count(*) FROM {}.{} WHERE ({}) IN (SELECT * FROM unnest({}))").format(
                sql.Identifier(schema), sql.Identifier(table),
                sql.SQL(", ").join(sql.Identifier(k) for k in key), casts)
            found += conn.execute(query, arrays).fetchone()[0]
    return found


def parquet_rows(parquet: Path) -> int:
    return duckdb.connect().execute(f"SELECT count(*) FROM read_parquet('{parquet}')").fetchone()[0]


def graph_present(url: str, user: str, password: str, final_dir: Path, node_keys: Mapping[str, str]) -> dict:
    out = {"nodes": {}, "relationships": {}}
    with neo4j.GraphDatabase.driver(url, auth=(user, password), notifications_min_severity="OFF") as driver, \
            driver.session(default_access_mode=neo4j.READ_ACCESS) as session:
        for path in sorted((final_dir / "nodes").glob("*.parquet")):
            label, key = path.stem, node_keys[path.stem]
            total = 0
            for chunk in _keys(path, [key]):
                total += session.run(f"MATCH (n:`{label}`) WHERE n.`{key}` IN $keys RETURN count(n) AS n",
                                     keys=[r[0] for r in chunk]).single()["n"]
            out["nodes"][label] = total
        for path in sorted((final_dir / "relationships").glob("*.parquet")):
            out["relationships"][path.stem] = _rels_present(session, path, path.stem, node_keys)
    return out


def _rels_present(session, path: Path, rel_type: str, node_keys: Mapping[str, str]) -> int:
    total = 0
    for chunk in _keys(path, ["start_label", "start_key", "end_label", "end_key"]):
        by_labels: dict[tuple, list] = {}
        for sl, sk, el, ek in chunk:
            by_labels.setdefault((sl, el), []).append({"s": sk, "e": ek})
        for (sl, el), rows in by_labels.items():
            query = (f"UNWIND $rows AS row MATCH (a:`{sl}` {{`{node_keys[sl]}`: row.s}})"
                     f"-[r:`{rel_type}`]->(b:`{el}` {{`{node_keys[el]}`: row.e}}) RETURN count(DISTINCT [row.s, row.e]) AS n")
            total += session.run(query, rows=rows).single()["n"]
    return total
