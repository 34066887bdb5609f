"""The rows a run loaded into one CERT PostgreSQL database, as SQL: the table restricted to the
keys the loader recorded in datamig.run_keys (the same scope as macros/cert.sql), and the
check of cross-database links over that scope."""
from __future__ import annotations

from collections.abc import Sequence

import psycopg
from psycopg import sql

from ..load import ledger
from ..pg_address import output_options

SAMPLE = 5


def run_tables(conn: psycopg.Connection, run_id: str) -> dict[str, list[str]]:
    """"schema.table" -> key columns, for every table the run recorded keys of."""
    if not ledger.exists(conn, "run_keys"):
        return {}
    rows = conn.execute("SELECT DISTINCT table_name, jsonb_object_keys(key) FROM datamig.run_keys "
                        "WHERE run_id = %s ORDER BY 1, 2", (run_id,)).fetchall()
    out: dict[str, list[str]] = {}
    for table, column in rows:
        out.setdefault(table, []).append(column)
    return out


def column_types(conn: psycopg.Connection, schema: str, table: str) -> dict[str, str]:
    rows = conn.execute(
        "SELECT a.attname, format_type(a.atttypid, a.atttypmod) FROM pg_attribute a "
        "JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = %s AND c.relname = %s AND a.attnum > 0 AND NOT a.attisdropped", (schema, table))
    return dict(rows.fetchall())


def scoped(schema: str, table: str, key: Sequence[str], types: dict[str, str], run_id: str) -> sql.Composable:
    """A subquery: the CERT table's rows whose key the run recorded. Each chunk is read as a
    text[] and each element cast to the column's type: an array column's chunk is a text[] of
    the arrays' texts (load/pg_sql.py _key_arrays), which its own type's array unnest flattened
    into elements; any other column's elements read the same either way."""
    t_cols = sql.SQL(", ").join(sql.Identifier("t", k) for k in key)
    x_cols = sql.SQL(", ").join(sql.SQL("{}::{}").format(sql.Identifier("x", k), sql.SQL(types[k])) for k in key)
    arrays = sql.SQL(", ").join(sql.SQL("(k.key ->> {})::text[]").format(sql.Literal(k)) for k in key)
    names = sql.SQL(", ").join(sql.Identifier(k) for k in key)
    return sql.SQL(
        "(SELECT t.* FROM {rel} AS t WHERE ({t_cols}) IN (SELECT {x_cols} FROM datamig.run_keys AS k "
        "CROSS JOIN LATERAL unnest({arrays}) AS x ({names}) WHERE k.run_id = {run} AND k.table_name = {qual}))").format(
        rel=sql.Identifier(schema, table), t_cols=t_cols, x_cols=x_cols, arrays=arrays, names=names,
        run=sql.Literal(run_id), qual=sql.Literal(f"{schema}.{table}"))


def check_link(child_url: str, child_schema: str, child_table: str, columns: Sequence[str],
               parent_url: str, parent_schema: str, parent_table: str, parent_columns: Sequence[str],
               run_id: str) -> dict:
    """Every non-null child value of the run's rows is present in the parent CERT table (all
    of it: a parent that was there before the run counts). Sample = the child rows' keys."""
    # the child's values travel as text to the parent's database: both print them alike
    with psycopg.connect(child_url, options=output_options(child_url)) as child, \
            psycopg.connect(parent_url, options=output_options(parent_url)) as parent:
        for conn in (child, parent):
            conn.execute("SET default_transaction_read_only = on")
        key = run_tables(child, run_id).get(f"{child_schema}.{child_table}")
        if not key:
            return {"checked": 0, "missing": 0, "sample_keys": [], "note": "the run loaded no rows of the child table"}
        ctypes = column_types(child, child_schema, child_table)
        ptypes = column_types(parent, parent_schema, parent_table)
        rows = scoped(child_schema, child_table, key, ctypes, run_id)
        cols = sql.SQL(", ").join(sql.Identifier(c) for c in columns)
        not_null = sql.SQL(" AND ").join(sql.SQL("{} IS NOT NULL").format(sql.Identifier(c)) for c in columns)
        values = child.execute(sql.SQL("SELECT DISTINCT {}::text[] FROM {} AS r WHERE {}").format(
            sql.SQL("ARRAY[{}]").format(sql.SQL(", ").join(sql.SQL("{}::text").format(sql.Identifier(c))
                                                              for c in columns)), rows, not_null)).fetchall()
        values = [v[0] for v in values]
        missing: list[list[str]] = []
        if values:
            arrays = [[v[i] for v in values] for i in range(len(columns))]
            unnest = sql.SQL(", ").join(sql.SQL("%s::text[]") for _ in columns)
            names = sql.SQL(", ").join(sql.Identifier(f"c{i}") for i in range(len(columns)))
            match = sql.SQL(" AND ").join(
                sql.SQL("p.{} = x.{}::{}").format(sql.Identifier(pc), sql.Identifier(f"c{i}"), sql.SQL(ptypes[pc]))
                for i, pc in enumerate(parent_columns))
            query = sql.SQL("SELECT {} FROM unnest({}) AS x ({}) WHERE NOT EXISTS "
                            "(SELECT 1 FROM {} AS p WHERE {})").format(
                names, unnest, names, sql.Identifier(parent_schema, parent_table), match)
            missing = [list(r) for r in parent.execute(query, arrays).fetchall()]
        sample: list[dict] = []
        if missing:
            arrays = [[m[i] for m in missing] for i in range(len(columns))]
            in_missing = sql.SQL("ARRAY[{}] IN (SELECT ARRAY[{}] FROM unnest({}) AS x ({}))").format(
                sql.SQL(", ").join(sql.SQL("r.{}::text").format(sql.Identifier(c)) for c in columns),
                sql.SQL(", ").join(sql.Identifier(f"c{i}") for i in range(len(columns))),
                sql.SQL(", ").join(sql.SQL("%s::text[]") for _ in columns),
                sql.SQL(", ").join(sql.Identifier(f"c{i}") for i in range(len(columns))))
            kcols = sql.SQL(", ").join(sql.SQL("r.{}").format(sql.Identifier(k)) for k in key)
            found = child.execute(sql.SQL("SELECT {} FROM {} AS r WHERE {} ORDER BY {} LIMIT {}").format(
                kcols, rows, in_missing, kcols, sql.Literal(SAMPLE)), arrays).fetchall()
            sample = [{k: _plain(v) for k, v in zip(key, row)} for row in found]
        return {"checked": len(values), "missing": len(missing), "sample_keys": sample}


def _plain(value):
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)
