"""PostgreSQL side of seeding: apply the DDL, empty the tables, bulk-load them with COPY, and
checksum table contents.

Loading goes through `COPY ... FROM STDIN (FORMAT csv)` fed with whole CSV buffers written by
pyarrow (C++), never row by row: this is what makes millions of rows take seconds. The load
runs with `session_replication_role = replica` (superuser only), which skips FK triggers --
the generator already guarantees integrity, tests verify every FK afterwards, and per-row FK
checks would otherwise dominate the load time. It also lets the schools <-> staff cycle load
in any order.
"""
from __future__ import annotations

import hashlib
import io

import psycopg
import pyarrow as pa
import pyarrow.csv as pacsv
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from .generate import ddl_tables, ddl_text

COPY_CHUNK = 4 << 20          # bytes per copy.write call


def db_url(admin_url: str, dbname: str) -> str:
    """The admin (superuser) URL pointed at another database of the same cluster."""
    params = conninfo_to_dict(admin_url)
    params["dbname"] = dbname
    return make_conninfo(**params)


def existing_tables(conn: psycopg.Connection) -> set[str]:
    rows = conn.execute("SELECT table_name FROM information_schema.tables "
                        "WHERE table_schema = 'public' AND table_type = 'BASE TABLE'").fetchall()
    return {r[0] for r in rows}


def apply_ddl(url: str, store: str) -> bool:
    """Create the store's tables unless they already exist. Returns True if it created them.

    All-or-nothing: the DDL runs in one transaction; a database holding only some of the
    tables is an error (someone else's half-made schema), not something to patch up.
    """
    wanted = set(ddl_tables(store))
    with psycopg.connect(url, autocommit=True) as conn:
        present = existing_tables(conn) & wanted
        if present == wanted:
            return False
        if present:
            raise RuntimeError(f"{conn.info.dbname}: only some {store} tables exist "
                               f"(missing {sorted(wanted - present)}); drop them or finish the schema by hand")
        with conn.transaction():
            conn.execute(ddl_text(store))
    return True


def to_csv(table: pa.Table) -> bytes:
    """CSV that COPY reads back exactly: strings always quoted, NULL as an unquoted empty
    field, so '' (empty string) and NULL stay distinct."""
    sink = io.BytesIO()
    pacsv.write_csv(table, sink, pacsv.WriteOptions(include_header=False, quoting_style="needed",
                                                      batch_size=8192))
    return sink.getvalue()


def load_tables(url: str, tables: dict[str, pa.Table], analyze: bool = True,
                drop_schemas: tuple[str, ...] = ()) -> dict[str, str]:
    """Truncate the given tables and COPY their rows in, in one transaction, dropping
    `drop_schemas` in it too (bookkeeping about rows the truncate takes away).

    Returns {table: sha256 of the CSV bytes written} (deterministic for deterministic input).
    """
    checksums: dict[str, str] = {}
    with psycopg.connect(url) as conn:
        with conn.cursor() as cur:
            for schema in drop_schemas:
                cur.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))
            cur.execute("SET session_replication_role = replica")
            cur.execute(sql.SQL("TRUNCATE {} RESTART IDENTITY").format(
                sql.SQL(", ").join(sql.Identifier(name) for name in tables)))
            for name, table in tables.items():
                payload = to_csv(table)
                checksums[name] = hashlib.sha256(payload).hexdigest()
                stmt = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT csv)").format(
                    sql.Identifier(name), sql.SQL(", ").join(sql.Identifier(c) for c in table.column_names))
                view = memoryview(payload)
                with cur.copy(stmt) as copy:
                    for start in range(0, len(view), COPY_CHUNK):
                        copy.write(view[start:start + COPY_CHUNK])
            cur.execute("SET session_replication_role = origin")
        conn.commit()
    if analyze:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(sql.SQL("ANALYZE {}").format(sql.SQL(", ").join(sql.Identifier(n) for n in tables)))
    return checksums


def primary_keys(conn: psycopg.Connection) -> dict[str, list[str]]:
    rows = conn.execute("""
        SELECT c.relname, a.attname, k.ord
        FROM pg_constraint p
        JOIN pg_class c ON c.oid = p.conrelid
        JOIN pg_namespace n ON n.oid = c.relnamespace
        CROSS JOIN LATERAL unnest(p.conkey) WITH ORDINALITY AS k(attnum, ord)
        JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = k.attnum
        WHERE p.contype = 'p' AND n.nspname = 'public'
        ORDER BY c.relname, k.ord""").fetchall()
    out: dict[str, list[str]] = {}
    for table, column, _ in rows:
        out.setdefault(table, []).append(column)
    return out


def table_checksums(url: str) -> dict[str, str]:
    """md5 per public table of its rows' text, ordered by primary key (whole row if none).

    The session is pinned to UTC / ISO dates so the text of timestamptz and date values does
    not depend on server or client settings.
    """
    out: dict[str, str] = {}
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SET TimeZone = 'UTC'")
        conn.execute("SET DateStyle = 'ISO, YMD'")
        conn.execute("SET extra_float_digits = 1")
        keys = primary_keys(conn)
        for table in sorted(existing_tables(conn)):
            order = keys.get(table)
            order_sql = (sql.SQL(", ").join(sql.SQL("t.") + sql.Identifier(c) for c in order) if order
                         else sql.SQL("t::text"))
            query = sql.SQL("SELECT md5(coalesce(string_agg(t::text, E'\\n' ORDER BY {}), '')) FROM {} AS t").format(
                order_sql, sql.Identifier(table))
            out[table] = conn.execute(query).fetchone()[0]
    return out


def row_counts(url: str) -> dict[str, int]:
    out = {}
    with psycopg.connect(url, autocommit=True) as conn:
        for table in sorted(existing_tables(conn)):
            out[table] = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table))).fetchone()[0]
    return out


def foreign_keys(conn: psycopg.Connection) -> list[tuple[str, str, list[str], str, list[str]]]:
    """(constraint, child table, child columns, parent table, parent columns) of public FKs."""
    rows = conn.execute("""
        SELECT p.conname, c.relname, f.relname,
               array(SELECT a.attname FROM unnest(p.conkey) WITH ORDINALITY k(n, o)
                     JOIN pg_attribute a ON a.attrelid = p.conrelid AND a.attnum = k.n ORDER BY k.o),
               array(SELECT a.attname FROM unnest(p.confkey) WITH ORDINALITY k(n, o)
                     JOIN pg_attribute a ON a.attrelid = p.confrelid AND a.attnum = k.n ORDER BY k.o)
        FROM pg_constraint p
        JOIN pg_class c ON c.oid = p.conrelid
        JOIN pg_class f ON f.oid = p.confrelid
        JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE p.contype = 'f' AND n.nspname = 'public'
        ORDER BY p.conname""").fetchall()
    return [(name, child, list(ccols), parent, list(pcols)) for name, child, parent, ccols, pcols in rows]


def fk_violations(url: str) -> dict[str, int]:
    """Rows whose FK does not resolve, per constraint (MATCH SIMPLE: a NULL part skips the
    check). Loads skip FK triggers, so this is how integrity is proven after seeding."""
    out = {}
    with psycopg.connect(url, autocommit=True) as conn:
        for name, child, ccols, parent, pcols in foreign_keys(conn):
            not_null = sql.SQL(" AND ").join(sql.SQL("c.{} IS NOT NULL").format(sql.Identifier(col)) for col in ccols)
            match = sql.SQL(" AND ").join(sql.SQL("p.{} = c.{}").format(sql.Identifier(pc), sql.Identifier(cc))
                                          for cc, pc in zip(ccols, pcols))
            query = sql.SQL("SELECT count(*) FROM {} c WHERE {} AND NOT EXISTS (SELECT 1 FROM {} p WHERE {})").format(
                sql.Identifier(child), not_null, sql.Identifier(parent), match)
            out[name] = conn.execute(query).fetchone()[0]
    return out
