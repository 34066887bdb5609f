"""Read one PostgreSQL store's catalog into model Tables and ForeignKeys.

Only pg_catalog is read (information_schema hides constraints on tables the role does not
own and loses the conkey/confkey pairing of composite FKs). The session is read-only, so
introspecting PROD can never change it.
"""
from __future__ import annotations

import psycopg
from psycopg import sql

from ..config import StoreConfig
from ..errors import ConfigError
from ..pg_address import cannot_connect, output_options
from .model import Column, ForeignKey, Table

# Ordinary ('r') and partitioned ('p') tables; partitions themselves are skipped because
# their rows are read and written through the partitioned parent.
_TABLES = """
SELECT c.oid, c.relname, c.reltuples::bigint AS reltuples, c.relkind = 'p' AS partitioned,
       coalesce(obj_description(c.oid, 'pg_class'), '') AS comment,
       CASE WHEN c.relkind = 'p'
            THEN (SELECT coalesce(sum(pg_total_relation_size(t.relid)), 0)::bigint
                  FROM pg_partition_tree(c.oid) t)
            ELSE pg_total_relation_size(c.oid) END AS size_bytes
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = %(schema)s AND c.relkind IN ('r', 'p') AND NOT c.relispartition
ORDER BY c.relname
"""

# attnum is what information_schema reports as ordinal_position (gaps after DROP COLUMN).
_COLUMNS = """
SELECT a.attrelid, a.attname, format_type(a.atttypid, a.atttypmod), NOT a.attnotnull, a.attnum,
       coalesce(col_description(a.attrelid, a.attnum), '')
FROM pg_attribute a
WHERE a.attrelid = ANY(%(oids)s) AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY a.attrelid, a.attnum
"""

# Column names in constraint order (conkey order, not table order). NULLS NOT DISTINCT (PG 15's
# indnullsnotdistinct, read through to_jsonb so an older server answers false): a NULL clashes.
_NULLS_NOT_DISTINCT = "coalesce((to_jsonb(i) ->> 'indnullsnotdistinct')::boolean, false)"
_KEYS = f"""
SELECT con.conrelid, con.contype,
       array(SELECT a.attname FROM unnest(con.conkey) WITH ORDINALITY k(attnum, pos)
             JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.attnum
             ORDER BY k.pos) AS cols,
       (SELECT {_NULLS_NOT_DISTINCT} FROM pg_index i WHERE i.indexrelid = con.conindid) IS TRUE AS nnd
FROM pg_constraint con
WHERE con.conrelid = ANY(%(oids)s) AND con.contype IN ('p', 'u')
ORDER BY con.conrelid, con.contype, con.conname
"""

# Unique indexes that back no constraint still decide ON CONFLICT targets for the loader;
# partial and expression indexes are left out because they do not make a column set unique.
# indkey lists an index's INCLUDE columns after its key's (indnkeyatts of them): those are
# carried, not unique, and (code, label) read as the key of `(code) INCLUDE (label)` was weaker.
_UNIQUE_INDEXES = f"""
SELECT i.indrelid,
       array(SELECT a.attname FROM unnest(i.indkey::int2[]) WITH ORDINALITY k(attnum, pos)
             JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
             WHERE k.pos <= i.indnkeyatts ORDER BY k.pos) AS cols,
       {_NULLS_NOT_DISTINCT} AS nnd
FROM pg_index i
WHERE i.indrelid = ANY(%(oids)s) AND i.indisunique AND NOT i.indisprimary
  AND i.indpred IS NULL AND NOT (0 = ANY(i.indkey::int2[]))
  AND NOT EXISTS (SELECT 1 FROM pg_constraint con WHERE con.conindid = i.indexrelid)
ORDER BY i.indrelid, i.indexrelid
"""

# conkey[i] references confkey[i]: unnesting both arrays together keeps each child column
# paired with its parent column, whatever order either table declares them in.
# conparentid = 0 drops the copies PostgreSQL clones onto partitions. An FK declared on a
# partition alone (no copy of one on its parent) is the FK of the partition tree's root, the
# table datamig reads and writes, named with the partition it holds for; likewise on the
# referenced side. pg_partition_root is NULL for a table in no partition tree.
_FOREIGN_KEYS = """
SELECT con.conname, coalesce(pg_partition_root(con.conrelid)::oid, con.conrelid) AS relid,
       pn.nspname, pc.relname, con.condeferrable,
       array_agg(ca.attname ORDER BY k.pos) AS cols,
       array_agg(pa.attname ORDER BY k.pos) AS ref_cols,
       bool_and(NOT ca.attnotnull) AS nullable,
       CASE WHEN cc.relispartition THEN format('%%I.%%I', cn.nspname, cc.relname) ELSE '' END AS part,
       CASE WHEN fc.relispartition THEN format('%%I.%%I', fn.nspname, fc.relname) ELSE '' END AS ref_part,
       CASE WHEN cc.relispartition THEN coalesce(pg_get_partition_constraintdef(cc.oid), '') ELSE '' END
           AS part_filter
FROM pg_constraint con
JOIN pg_class cc ON cc.oid = con.conrelid
JOIN pg_namespace cn ON cn.oid = cc.relnamespace
JOIN pg_class fc ON fc.oid = con.confrelid
JOIN pg_namespace fn ON fn.oid = fc.relnamespace
JOIN pg_class pc ON pc.oid = coalesce(pg_partition_root(con.confrelid)::oid, con.confrelid)
JOIN pg_namespace pn ON pn.oid = pc.relnamespace
CROSS JOIN LATERAL unnest(con.conkey, con.confkey) WITH ORDINALITY k(attnum, refnum, pos)
JOIN pg_attribute ca ON ca.attrelid = con.conrelid AND ca.attnum = k.attnum
JOIN pg_attribute pa ON pa.attrelid = con.confrelid AND pa.attnum = k.refnum
WHERE coalesce(pg_partition_root(con.conrelid)::oid, con.conrelid) = ANY(%(oids)s)
  AND con.contype = 'f' AND con.conparentid = 0
GROUP BY con.oid, con.conname, relid, pn.nspname, pc.relname, con.condeferrable,
         cc.oid, cc.relispartition, cn.nspname, cc.relname, fc.relispartition, fn.nspname, fc.relname
ORDER BY relid, con.conname, part
"""

# A table never vacuumed or analyzed has reltuples = -1; counting it is exact and, for
# such (usually new, small) tables, cheap. The timeout bounds the worst case on PROD.
_COUNT_TIMEOUT = "30s"


class NoSuchSchema(ConfigError):
    """The store's schema setting names no schema of its database."""

    def __init__(self, store: StoreConfig, database: str):
        self.store, self.database = store, database
        super().__init__(f"store {store.name}: database {database} has no schema {store.schema!r} "
                         f"(stores.{store.name}.schema in the config)")


def introspect_postgres(store: StoreConfig, url: str) -> tuple[list[Table], list[ForeignKey]]:
    """Tables (with columns, keys, row estimates, sizes) and FKs of `store.schema`."""
    with connect_read_only(store, url) as conn:
        try:
            tables = _read_tables(conn, store)
            by_oid = {oid: t for oid, t in tables}
            oids = list(by_oid)
            _attach_columns(conn, by_oid, oids)
            _attach_keys(conn, by_oid, oids)
            fks = _read_foreign_keys(conn, store, by_oid, oids)
        except psycopg.errors.QueryCanceled:
            raise _timed_out(store, conn) from None
        for _, table in tables:
            if table.row_estimate < 0:
                table.row_estimate = _count_rows(conn, table)
    return [t for _, t in tables], fks


def _timed_out(store: StoreConfig, conn: psycopg.Connection) -> ConfigError:
    """A statement_timeout the DBA set for PROD's database or role cancelled a catalog read (a
    busy PROD, a table locked meanwhile): one line, not psycopg's traceback."""
    timeout = conn.execute("SHOW statement_timeout").fetchone()[0]
    return ConfigError(f"store {store.name}: PostgreSQL cancelled the catalog read at the statement_timeout "
                       f"({timeout}) its database or role sets; raise it for role {conn.info.user} "
                       "(ALTER ROLE ... SET statement_timeout) or run again when PROD is less busy")


def connect_read_only(store: StoreConfig, url: str) -> psycopg.Connection:
    """Open an autocommit connection whose every transaction is READ ONLY."""
    try:
        # a partition's bounds are deparsed in the session's styles (OUTPUT_SETTINGS)
        conn = psycopg.connect(url, autocommit=True, connect_timeout=10, options=output_options(url))
    except psycopg.Error as exc:
        raise cannot_connect(store.name, url, exc) from None
    try:
        conn.execute("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY")
    except BaseException:
        conn.close()
        raise
    return conn


def _read_tables(conn: psycopg.Connection, store: StoreConfig) -> list[tuple[int, Table]]:
    rows = conn.execute(_TABLES, {"schema": store.schema}).fetchall()
    if not rows and conn.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", [store.schema]).fetchone() is None:
        # else every table looked missing, and the first link or rule naming one took the blame
        raise NoSuchSchema(store, conn.info.dbname)
    return [
        (oid, Table(store=store.name, schema=store.schema, name=name, columns=[], primary_key=(),
                    row_estimate=int(reltuples), size_bytes=int(size), partitioned=partitioned,
                    comment=comment))
        for oid, name, reltuples, partitioned, comment, size in rows
    ]


def _attach_columns(conn: psycopg.Connection, by_oid: dict[int, Table], oids: list[int]) -> None:
    for oid, name, data_type, nullable, ordinal, comment in conn.execute(_COLUMNS, {"oids": oids}):
        by_oid[oid].columns.append(Column(name, data_type, nullable, ordinal, comment))


def _attach_keys(conn: psycopg.Connection, by_oid: dict[int, Table], oids: list[int]) -> None:
    for oid, contype, cols, nnd in conn.execute(_KEYS, {"oids": oids}):
        if contype == "p":
            by_oid[oid].primary_key = tuple(cols)
        else:
            _add_unique_key(by_oid[oid], tuple(cols), nnd)
    for oid, cols, nnd in conn.execute(_UNIQUE_INDEXES, {"oids": oids}):
        _add_unique_key(by_oid[oid], tuple(cols), nnd)


def _add_unique_key(table: Table, cols: tuple[str, ...], nulls_not_distinct: bool) -> None:
    if cols not in table.unique_keys:
        table.unique_keys.append(cols)
    if nulls_not_distinct and cols not in table.nulls_not_distinct:
        table.nulls_not_distinct.append(cols)


def _read_foreign_keys(conn: psycopg.Connection, store: StoreConfig, by_oid: dict[int, Table],
                       oids: list[int]) -> list[ForeignKey]:
    fks = []
    for name, oid, ref_schema, ref_table, deferrable, cols, ref_cols, nullable, part, ref_part, part_filter \
            in conn.execute(_FOREIGN_KEYS, {"oids": oids}):
        # A parent outside the store's schema keeps its schema in the name so it cannot be
        # mistaken for a same-named table of this schema.
        ref_name = ref_table if ref_schema == store.schema else f"{ref_schema}.{ref_table}"
        fks.append(ForeignKey(
            name=name, store=store.name, table=by_oid[oid].name, columns=tuple(cols),
            ref_store=store.name, ref_table=ref_name, ref_columns=tuple(ref_cols),
            nullable=bool(nullable), deferrable=bool(deferrable), declared=True,
            partition=part, ref_partition=ref_part, partition_filter=part_filter,
        ))
    return fks


def _count_rows(conn: psycopg.Connection, table: Table) -> int:
    query = sql.SQL("SELECT count(*) FROM {}.{}").format(
        sql.Identifier(table.schema), sql.Identifier(table.name))
    try:
        with conn.transaction():
            conn.execute(sql.SQL("SET LOCAL statement_timeout = {}").format(sql.Literal(_COUNT_TIMEOUT)))
            return int(conn.execute(query).fetchone()[0])
    except psycopg.errors.QueryCanceled:
        return 0  # too big to count within the timeout: leave it unknown rather than stall
    except psycopg.errors.InsufficientPrivilege:
        return 0  # the role may not read it (an excluded table, say): the extract says so if it must
