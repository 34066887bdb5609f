"""One consistent, read-only view of a PostgreSQL store for the whole extraction.

Every query of a store runs in a single REPEATABLE READ READ ONLY transaction, so rows
written to PROD while the extraction runs are never seen, and nothing can be written:
no temp tables, no scratch objects; filters travel as array parameters.
"""
from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import psycopg
from psycopg import sql

from ..analyze.model import Table
from ..errors import ConnectionFailed
from . import pg_types

CHUNK = 50_000  # keys per query: keeps statements a few MB at most


def describe_url(url: str) -> str:
    info = psycopg.conninfo.conninfo_to_dict(url)
    return f"{info.get('host', 'localhost')}:{info.get('port', 5432)}/{info.get('dbname', '')}"


@contextmanager
def snapshot(store: str, url: str) -> Iterator["Snapshot"]:
    try:
        conn = psycopg.connect(url, connect_timeout=10, application_name="datamig-extract")
    except psycopg.Error:
        raise ConnectionFailed(f"store {store}: cannot connect to PostgreSQL at {describe_url(url)}") from None
    try:
        conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        conn.execute("SET LOCAL TimeZone = 'UTC'")
        conn.execute("SET LOCAL DateStyle = 'ISO, YMD'")
        conn.execute("SET LOCAL IntervalStyle = 'iso_8601'")
        conn.execute("SET LOCAL extra_float_digits = 3")
        yield Snapshot(store, conn)
    finally:
        conn.rollback()
        conn.close()


class Snapshot:
    def __init__(self, store: str, conn: psycopg.Connection):
        self.store = store
        self.conn = conn
        self.id = conn.execute("SELECT pg_current_snapshot()::text").fetchone()[0]
        self.started = time.time()

    def copy_where(self, table: Table, columns: Sequence[str], values: Sequence[Sequence[str]],
                   out: Path) -> int:
        """Append to `out` (CSV) every row of `table` whose `columns` equal one of the tuples in
        `values` (text, cast to each column's type). Returns bytes written."""
        written = 0
        for start in range(0, len(values), CHUNK):
            chunk = values[start:start + CHUNK]
            where, params = _tuple_filter(table, columns, chunk)
            written += self._copy(table, where, params, out)
        return written

    def copy_all(self, table: Table, out: Path) -> int:
        return self._copy(table, sql.SQL("TRUE"), [], out)

    def _copy(self, table: Table, where: sql.Composable, params: list, out: Path) -> int:
        select = sql.SQL(", ").join(pg_types.select_expr(c.name, c.data_type) for c in table.columns)
        query = sql.SQL("COPY (SELECT {} FROM {}.{} WHERE {}) TO STDOUT (FORMAT csv)").format(
            select, sql.Identifier(table.schema), sql.Identifier(table.name), where)
        written = 0
        with self.conn.cursor() as cur, open(out, "ab") as fh:
            with cur.copy(query, params) as copy:
                for block in copy:
                    fh.write(block)
                    written += len(block)
        return written

    def count(self, table: Table) -> int:
        q = sql.SQL("SELECT count(*) FROM {}.{}").format(sql.Identifier(table.schema), sql.Identifier(table.name))
        return self.conn.execute(q).fetchone()[0]


def _tuple_filter(table: Table, columns: Sequence[str], values: Sequence[Sequence[str]]):
    """`col = ANY(array)` for one column, `(a, b) IN (SELECT * FROM unnest(...))` for several."""
    types = [table.column(c).data_type for c in columns]
    if len(columns) == 1:
        where = sql.SQL("{} = ANY(%s::text[]::{}[])").format(
            sql.Identifier(columns[0]), sql.SQL(types[0]))
        return where, [[v[0] for v in values]]
    idents = sql.SQL(", ").join(sql.Identifier(c) for c in columns)
    arrays = sql.SQL(", ").join(sql.SQL("%s::text[]::{}[]").format(sql.SQL(t)) for t in types)
    where = sql.SQL("({}) IN (SELECT * FROM unnest({}))").format(idents, arrays)
    return where, [[v[i] for v in values] for i in range(len(columns))]
