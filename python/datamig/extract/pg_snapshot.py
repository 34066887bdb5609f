"""One consistent, read-only view of a PostgreSQL store for the whole extraction.

Every query of a store runs in a REPEATABLE READ READ ONLY transaction on one snapshot, so
rows written to PROD while the extraction runs are never seen, and nothing can be written:
no temp tables, no scratch objects; filters travel inline as array literals.

The snapshot is taken (and exported) by a psycopg session that stays open, idle in its
transaction, until the extraction ends and rolls it back. The rows themselves are read by
DuckDB's PostgreSQL scanner (binary COPY decoded in C++, straight into the workspace): its
session imports the exported snapshot with SET TRANSACTION SNAPSHOT, so both sessions see
exactly the same data.
"""
from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from ..analyze.model import Table
from ..errors import ConfigError
from ..pg_address import cannot_connect
from ..quoting import sql_literal
from . import pg_types

CHUNK = 50_000  # keys per query: keeps statements a few MB at most
APPLICATION_NAME = "datamig-extract"
# Settings that decide the text PostgreSQL prints for each value (read back as VARCHAR).
SESSION_SETTINGS = {"TimeZone": "UTC", "DateStyle": "ISO, YMD", "IntervalStyle": "iso_8601",
                    "extra_float_digits": "3", "standard_conforming_strings": "on"}


def describe_url(url: str) -> str:
    info = psycopg.conninfo.conninfo_to_dict(url)
    return f"{info.get('host', 'localhost')}:{info.get('port', 5432)}/{info.get('dbname', '')}"


@contextmanager
def snapshot(store: str, url: str) -> Iterator["Snapshot"]:
    try:
        conn = psycopg.connect(url, connect_timeout=10, application_name=APPLICATION_NAME)
    except psycopg.Error as exc:
        raise cannot_connect(store, url, exc) from None
    try:
        conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        for name, value in SESSION_SETTINGS.items():
            conn.execute(f"SET LOCAL {name} = '{value}'")
        yield Snapshot(store, conn, url)
    finally:
        conn.rollback()
        conn.close()


class Snapshot:
    def __init__(self, store: str, conn: psycopg.Connection, url: str):
        self.store = store
        self.conn = conn
        self.id = conn.execute("SELECT pg_current_snapshot()::text").fetchone()[0]
        self.exported = conn.execute("SELECT pg_export_snapshot()").fetchone()[0]
        self.started = time.time()
        self._url = url

    def scanner_conninfo(self) -> str:
        """libpq connection string for DuckDB's scanner session: same server and role, named like
        ours, with the settings that fix how values print."""
        params = conninfo_to_dict(self._url)
        params["application_name"] = APPLICATION_NAME
        params.setdefault("connect_timeout", "10")
        options = " ".join(f"-c {k}={v.replace(' ', '')}" for k, v in SESSION_SETTINGS.items())
        params["options"] = (params.get("options", "") + " " + options).strip()
        return make_conninfo(**params)

    def describe(self) -> str:
        return describe_url(self._url)

    def select_where(self, table: Table, columns: Sequence[str], arrays: Sequence[str], within: str = "") -> str:
        """SELECT of every row of `table` whose `columns` equal one of the tuples given as one
        PostgreSQL array literal per column (text, cast to each column's type). `within`, a quoted
        qualified partition name from the catalog, narrows it to that partition's rows."""
        return _select(table, _tuple_filter(table, columns, arrays), within)

    def select_all(self, table: Table) -> str:
        return _select(table, "TRUE")

    def check_readable(self, tables: Sequence[Table]) -> None:
        """Every table to extract may be read by the role, every row of it: a table without a
        SELECT grant (new in PROD, say) stopped the extract in a traceback ('permission denied for
        table ...'); one whose row-level security hid rows from the role landed without them, exit 0."""
        names = [f"{qi(t.schema)}.{qi(t.name)}" for t in tables]
        found = self.conn.execute(_UNREADABLE, [names]).fetchall()
        if not found:
            return
        name, denied, _ = found[0]
        table = next(t for t in tables if f"{qi(t.schema)}.{qi(t.name)}" == name)
        head = f"store {self.store}: role {self.conn.info.user} may not read "
        if denied:
            raise ConfigError(f"{head}table {table.schema}.{table.name} (no SELECT privilege); grant it, or list "
                              f"{table.id} in exclude_tables")
        raise ConfigError(f"{head}every row of table {table.schema}.{table.name} (row-level security is on for it); "
                          f"extract as a role with BYPASSRLS, or list {table.id} in exclude_tables")

    def leaves(self, partition: str) -> list[str]:
        """The oids (as text) of the leaf partitions holding `partition`'s rows (a quoted,
        qualified name from the catalog; itself, when it is a leaf)."""
        return [r[0] for r in self.conn.execute(
            "SELECT relid::oid::text FROM pg_partition_tree(%s::regclass) WHERE isleaf", [partition])]

    def count(self, table: Table) -> int:
        return self.conn.execute(f"SELECT count(*) FROM {_from(table)}").fetchone()[0]


# A table is readable with a table-level SELECT grant, or with one on each of its columns (GRANT
# SELECT (id, name) ON ...): the extract reads every column, so both will do.
_UNREADABLE = """
SELECT n, denied, rls FROM (
    SELECT n, NOT has_table_privilege(r, 'SELECT') AND NOT coalesce(
               (SELECT bool_and(has_column_privilege(r, a.attnum, 'SELECT')) FROM pg_attribute a
                WHERE a.attrelid = r AND a.attnum > 0 AND NOT a.attisdropped), false) AS denied,
           row_security_active(r) AS rls
    FROM (SELECT n, n::regclass AS r FROM unnest(%s::text[]) AS n) AS named) AS checked
WHERE denied OR rls"""


def qi(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def ql(text: str) -> str:
    """A PostgreSQL string literal (standard_conforming_strings is on in our sessions)."""
    if "\x00" in text:
        raise ValueError("NUL byte in a key")
    return sql_literal(text)


def array_literal(values: Sequence[str]) -> str:
    """'{"a","b"}': the array input syntax, every element quoted."""
    return "{" + ",".join('"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"' for v in values) + "}"


# A table without a primary key: the row's ctid, within the store's one snapshot, tells apart rows
# equal in every column (all of them belong to the slice) from one row fetched twice. A ctid is a
# place in one table: a partitioned table's rows are told apart by partition (tableoid) and ctid.
ROW_ID = "_datamig_ctid"
# A partitioned table's rows carry their partition (tableoid, a leaf's oid): an FK declared on one
# partition is walked from that partition's rows only (Snapshot.leaves).
PART = "_datamig_tableoid"


def _select(table: Table, where: str, within: str = "") -> str:
    cols = ", ".join(f"{pg_types.select_text(c.name, c.data_type)} AS {qi(c.name)}" for c in table.columns)
    place = "tableoid::text || ':' || ctid::text" if table.partitioned else "ctid::text"
    row_id = "" if table.primary_key else f", {place} AS {qi(ROW_ID)}"
    if table.partitioned:
        row_id += f", tableoid::text AS {qi(PART)}"
    # a partition has its table's columns, by name, and no rows of other tables: no ONLY
    source = within or _from(table)
    return f"SELECT {cols}{row_id} FROM {source} WHERE {where}"


def _from(table: Table) -> str:
    """The table's own rows: a table another INHERITS from would also return the child's rows, which
    the child's own Parquet holds (so they landed twice, once in the wrong table). A partitioned
    table has no rows of its own: ONLY would return none."""
    name = f"{qi(table.schema)}.{qi(table.name)}"
    return name if table.partitioned else f"ONLY {name}"


def _typed_array(literal: str, pg_type: str) -> str:
    """The array literal of workspace values as an array of the column's type. A bytea value sits
    in the workspace as base64 (pg_types.select_text): cast to bytea, that text was read as bytea's
    escape format and matched no row, so the walk through a bytea key found nothing."""
    if pg_type != "bytea":
        return f"{literal}::text[]::{pg_type}[]"
    return (f"array(SELECT decode(u.v, 'base64') FROM unnest({literal}::text[]) WITH ORDINALITY AS u(v, n) "
            "ORDER BY u.n)")


def _tuple_filter(table: Table, columns: Sequence[str], arrays: Sequence[str]) -> str:
    """`col = ANY(array)` for one column, `(a, b) IN (SELECT * FROM unnest(...))` for several."""
    typed = [_typed_array(ql(a), table.column(c).data_type) for c, a in zip(columns, arrays)]
    if len(columns) == 1:
        return f"{qi(columns[0])} = ANY({typed[0]})"
    return f"({', '.join(map(qi, columns))}) IN (SELECT * FROM unnest({', '.join(typed)}))"
