"""The extraction's scratch space: a DuckDB file holding every selected row, one table per
PROD table, with the phase that selected it (columns typed where the scanner reads the type
exactly, else the text PostgreSQL prints; see pg_types). Rows come in through DuckDB's
PostgreSQL scanner (binary COPY decoded in C++, no Python per row, no temp files), each
store attached read-only and reading on its snapshot (see pg_snapshot). Deduplication by
key, the keys still to fetch, and the final typed Parquet all come from set-based SQL here,
so memory stays flat as the district grows (DuckDB spills to disk).

Everything runs in one DuckDB transaction, which is what keeps each store's scanner session
in one PostgreSQL transaction; it is rolled back at the end (the Parquet files are written by
then, and the workspace is scratch)."""
from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from pathlib import Path

import duckdb

from ..analyze.model import Table
from ..errors import ConfigError, ConnectionFailed, MigrationFailed
from ..quoting import sql_ident as q, sql_literal as lit
from . import ROW_GROUP_ROWS, ROW_POSITION, pg_types
from .pg_snapshot import CHUNK, PART, ROW_ID, Snapshot, ql

# PostgreSQL's message when a DBA's statement_timeout (database or role) cancels the scanner's read:
# DuckDB passes it up as an IOException, a traceback rather than a line naming the store
_STATEMENT_TIMEOUT = "canceling statement due to statement timeout"

# DuckDB cannot download extensions here: the duckdb-extension-postgres-scanner wheel ships it.
try:
    import duckdb_extension_postgres_scanner as _pg_ext
except ImportError:  # pragma: no cover - the wheel is a declared dependency
    _pg_ext = None


def rel(table: Table) -> str:
    """The table's workspace table. DuckDB's names ignore case, where PostgreSQL's do not: "Districts"
    beside districts was taken for it (CREATE TABLE IF NOT EXISTS did nothing), so their rows met
    in one table. The name's bytes in hex tell every PostgreSQL name apart."""
    return q(f"t__{table.store}__{table.name.encode().hex()}")


def identity(table: Table) -> tuple[str, ...]:
    """Columns that order the rows: the primary key, else every column (rows equal in all of
    them are alike, so the Parquet is the same whatever their order)."""
    return table.primary_key or tuple(c.name for c in table.columns)


_WIDTH = {"SMALLINT": 2, "INTEGER": 4, "BIGINT": 8, "BOOLEAN": 1, "DATE": 4, "UUID": 16,
          "TIMESTAMP": 8, "TIMESTAMPTZ": 8}


def _width(column: str, pg_type: str) -> str:
    kind = pg_types.workspace_type(pg_type)
    if kind == "VARCHAR":
        return f"coalesce(strlen({q(column)}), 0)"
    return f"CASE WHEN {q(column)} IS NULL THEN 0 ELSE {_WIDTH.get(kind, 16)} END"


def _array_element(column: str, pg_type: str) -> str:
    """SQL for one element of a PostgreSQL array literal: numbers print bare; anything else is
    quoted and escaped."""
    kind = pg_types.workspace_type(pg_type)
    if kind in ("SMALLINT", "INTEGER", "BIGINT") or kind.startswith("DECIMAL"):
        return f"CAST({column} AS VARCHAR)"
    if kind != "VARCHAR":
        column = f"CAST({column} AS VARCHAR)"
    return f"'\"' || replace(replace({column}, '\\', '\\\\'), '\"', '\\\"') || '\"'"


def _same(a: str, a_type: str, b: str, b_type: str) -> str:
    """a = b, compared as text when the two columns sit in the workspace as different types
    (a link between a text and a bigint column, say): text is how PostgreSQL matched them."""
    if pg_types.workspace_type(a_type) == pg_types.workspace_type(b_type):
        return f"{a} = {b}"
    return f"CAST({a} AS VARCHAR) = CAST({b} AS VARCHAR)"


def bounded(col: str) -> str:
    """DuckDB condition: the workspace text is an array's with bounds (pg_types.BOUNDED_ARRAY)."""
    return f"regexp_matches({col}, {lit(pg_types.BOUNDED_ARRAY)})"


def _shorten(value: str, most: int = 60) -> str:
    return value if len(value) <= most else value[:most] + "..."


# The text PostgreSQL's input function of an integer or a numeric takes (DuckDB's cast takes more:
# '20.5' as 21, '1e3', '0x10').
_NUMBER_TEXT = {"INT": r"\s*[+-]?[0-9]+\s*", "DECIMAL": r"\s*[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?\s*"}


def _parses(value: str, value_type: str, key_type: str) -> str:
    """SQL: FALSE when `value` is no key of `key_type` (an integer or numeric column of another
    type than the value's). A link's text column may hold values ('N/A') that are no key of its
    bigint parent: they match no row, where PostgreSQL's cast of them stopped the whole extract
    (invalid input syntax for type integer)."""
    target = pg_types.duckdb_type(key_type)
    # a numeric without precision lands as VARCHAR, yet PostgreSQL casts the values sent to it
    unbounded = key_type.strip().lower() in ("numeric", "decimal")
    kind = "DECIMAL" if target.startswith("DECIMAL") or unbounded else \
        "INT" if target in ("SMALLINT", "INTEGER", "BIGINT") else ""
    # the same PostgreSQL type needs no check; a workspace type alone does not say it (a numeric
    # travels as text, as a text column does)
    same = pg_types.workspace_type(value_type) == pg_types.workspace_type(key_type) and \
        (pg_types.native(key_type) or value_type.strip().lower() == key_type.strip().lower())
    if not kind or same:
        return "TRUE"
    text = f"CAST({value} AS VARCHAR)"
    check = f"regexp_full_match({text}, {lit(_NUMBER_TEXT[kind])})"
    # in range too: an integer beyond the key's type stops PostgreSQL's cast as well
    return check if unbounded else f"({check} AND TRY_CAST({text} AS {target}) IS NOT NULL)"


def _check_names_apart(table: Table) -> None:
    """Columns whose names differ only in case ("Name" beside name) are one line naming them:
    DuckDB's names ignore case (the workspace, the Parquet, dbt), so it stopped in a traceback."""
    seen: dict[str, str] = {}
    for column in table.columns:
        other = seen.setdefault(column.name.casefold(), column.name)
        if other != column.name:
            raise ConfigError(f"table {table.id}: columns {other!r} and {column.name!r} differ only in case, which "
                              f"DuckDB does not tell apart; rename one in PROD, or list {table.id} in exclude_tables")


def _bookkeeping(table: Table) -> list[tuple[str, str]]:
    """The columns the workspace keeps beside a table's own: (name, DuckDB type)."""
    cols = [] if table.primary_key else [(ROW_ID, "VARCHAR")]
    if table.partitioned:
        cols.append((PART, "VARCHAR"))
    return cols + [("_datamig_down", "BOOLEAN"), ("_datamig_batch", "INTEGER")]


def _check_bookkeeping_apart(table: Table) -> None:
    """A PROD column named as one the workspace adds is one line naming it, before anything is
    read: the two were one name ('Column with name _datamig_ctid already exists', a traceback).
    In any case, as DuckDB's names ignore case. (The bookkeeping was named _down and _batch once:
    PROD had columns of those names.)"""
    ours = {name.casefold() for name, _ in _bookkeeping(table)}
    for column in table.columns:
        if column.name.casefold() in ours:
            raise ConfigError(f"table {table.id}: column {column.name!r} has the name of a column the extract adds "
                              f"to each row of it; rename it in PROD, or list {table.id} in exclude_tables")
        if column.name.casefold() == ROW_POSITION:  # else found by the load, after the transform
            raise ConfigError(f"table {table.id}: column {column.name!r} has the name DuckDB gives the row positions "
                              f"the load reads, and it will not give them for a file with such a column; rename it "
                              f"in PROD, or list {table.id} in exclude_tables")


def _load_postgres(db: duckdb.DuckDBPyConnection) -> None:
    if _pg_ext is not None:
        found = sorted(Path(_pg_ext.__file__).parent.glob(f"extensions/{duckdb.__version__}/*.duckdb_extension")
                       ) or sorted(Path(_pg_ext.__file__).parent.glob("extensions/*/*.duckdb_extension"))
        if found:
            db.execute(f"LOAD {lit(str(found[0]))}")
            return
    db.execute("LOAD postgres")


class Workspace:
    def __init__(self, path: Path, memory_limit: str = "256MB", threads: int = 2):
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self.db = duckdb.connect(str(path))
        self.db.execute(f"SET memory_limit = '{memory_limit}'")
        self.db.execute(f"SET threads = {threads}")
        self.db.execute("SET preserve_insertion_order = false")
        self.db.execute("SET TimeZone = 'UTC'")
        self.db.execute(f"SET temp_directory = {lit(str(path.parent / 'spill'))}")
        self.attached: dict[str, str] = {}           # store -> DuckDB catalog name
        self._last_batch: dict[str, int] = {}        # table id -> newest batch holding its rows
        self._in_txn = False

    # ------------------------------------------------------------------ stores

    def attach(self, snapshots: dict[str, Snapshot]) -> None:
        """Attach every store (read-only, no connection pool), then open the one transaction in
        which each scanner session imports its store's exported snapshot."""
        if self._in_txn:
            return
        _load_postgres(self.db)
        self.db.execute("SET pg_pool_max_connections = 0")
        for name, snap in sorted(snapshots.items()):
            alias = q(f"pg__{name}")
            try:
                self.db.execute(f"ATTACH {lit(snap.scanner_conninfo())} AS {alias} (TYPE postgres, READ_ONLY)")
            except duckdb.Error:
                raise ConnectionFailed(f"store {name}: cannot connect to PostgreSQL at {snap.describe()}") from None
            self.attached[name] = alias
        self.db.execute("BEGIN TRANSACTION")
        self._in_txn = True
        for name, snap in sorted(snapshots.items()):
            self.db.execute(f"CALL postgres_execute({lit(self.attached[name][1:-1])}, "
                            f"{lit('SET TRANSACTION SNAPSHOT ' + ql(snap.exported))})")

    # ------------------------------------------------------------------ tables

    def create(self, table: Table) -> None:
        _check_names_apart(table)
        _check_bookkeeping_apart(table)
        cols = [f"{q(c.name)} {pg_types.workspace_type(c.data_type)}" for c in table.columns]
        cols += [f"{q(name)} {kind}" for name, kind in _bookkeeping(table)]
        self.db.execute(f"CREATE TABLE IF NOT EXISTS {rel(table)} ({', '.join(cols)})")

    def ingest(self, table: Table, pg_select: str, down: bool, batch: int) -> int:
        """Add the rows `pg_select` returns in PROD that are not already selected; returns how
        many were new. One query returns each row once, so only rows already in the table need
        excluding: by primary key, else by the row's ctid in the snapshot (rows equal in every
        column are rows all the same: a review's two equal log rows of district 42 landed as one)."""
        key = table.primary_key or (ROW_ID,)
        on = " AND ".join(f"t.{q(k)} = c.{q(k)}" for k in key)
        catalog = self.attached[table.store][1:-1]
        try:
            inserted = self.db.execute(
                f"INSERT INTO {rel(table)} SELECT c.*, {str(down).upper()}, {batch} "
                f"FROM postgres_query({lit(catalog)}, {lit(pg_select)}) c "
                f"WHERE NOT EXISTS (SELECT 1 FROM {rel(table)} t WHERE {on})").fetchone()[0]
        except duckdb.IOException as exc:
            if _STATEMENT_TIMEOUT not in str(exc):
                raise
            raise ConfigError(f"store {table.store}: PostgreSQL cancelled the read of table {table.schema}."
                              f"{table.name} at the statement_timeout its database or role sets; raise it for "
                              "datamig's role (ALTER ROLE ... SET statement_timeout) or run again when PROD is "
                              "less busy") from None
        if inserted:
            self._last_batch[table.id] = batch
        return inserted

    def count(self, table: Table, down_only: bool = False) -> int:
        where = " WHERE _datamig_down" if down_only else ""
        return self.db.execute(f"SELECT count(*) FROM {rel(table)}{where}").fetchone()[0]

    def sizes(self, table: Table) -> tuple[int, int, int]:
        """(rows, rows selected on the way down, bytes of their values as read from PROD: the
        binary width of typed columns, the length of the text of the others)."""
        text = " + ".join(_width(c.name, c.data_type) for c in table.columns) or "0"
        rows, down, nbytes = self.db.execute(
            f"SELECT count(*), count(*) FILTER (WHERE _datamig_down), coalesce(sum({text}), 0) "
            f"FROM {rel(table)}").fetchone()
        return rows, down, int(nbytes)

    def max_batch(self, table: Table) -> int:
        return self._last_batch.get(table.id, -1)

    def new_values(self, table: Table, columns: Sequence[str], after: int, upto: int, down_only: bool,
                   exclude: tuple[Table, Sequence[str]] | None = None,
                   into: tuple[Table, Sequence[str]] | None = None,
                   leaves: Sequence[str] | None = None) -> Iterator[list[str]]:
        """Distinct non-null `columns` tuples of rows selected in batches (after, upto], minus
        tuples already present as `exclude` (table, its columns), and minus those `into`'s columns
        cannot hold; of the rows of the partitions `leaves` (oids) only, if given. Yields chunks of
        at most CHUNK tuples, each as one PostgreSQL array literal per column (built here, in SQL)."""
        where = [f"s._datamig_batch > {after}", f"s._datamig_batch <= {upto}"]
        where += [f"s.{q(c)} IS NOT NULL" for c in columns]
        if into is not None:
            other, other_cols = into
            where += [_parses(f"s.{q(c)}", table.column(c).data_type, other.column(o).data_type)
                      for c, o in zip(columns, other_cols)]
        if down_only:
            where.append("s._datamig_down")
        if leaves is not None:
            where.append(f"s.{q(PART)} IN ({', '.join(map(lit, leaves))})" if leaves else "FALSE")
        if exclude is not None:
            other, other_cols = exclude
            match = " AND ".join(_same(f"x.{q(o)}", other.column(o).data_type, f"s.{q(c)}", table.column(c).data_type)
                                 for c, o in zip(columns, other_cols))
            where.append(f"NOT EXISTS (SELECT 1 FROM {rel(other)} x WHERE {match})")
        names = [f"k{i}" for i in range(len(columns))]
        elements = [_array_element(n, table.column(c).data_type) for n, c in zip(names, columns)]
        # Several columns: every array lists its tuples in the same order. One: any order.
        order = " ORDER BY n" if len(columns) > 1 else ""
        arrays = ", ".join(f"'{{' || string_agg({e}, ','{order}) || '}}'" for e in elements)
        aliased = ", ".join(f"s.{q(c)} AS {n}" for c, n in zip(columns, names))
        rows = self.db.execute(
            f"SELECT {arrays} FROM (SELECT *, row_number() OVER () - 1 AS n FROM "
            f"(SELECT DISTINCT {aliased} FROM {rel(table)} s WHERE {' AND '.join(where)})) "
            f"GROUP BY n // {CHUNK}").fetchall()
        for row in rows:     # fetched first: the caller runs queries on this connection between chunks
            yield list(row)

    def write_parquet(self, table: Table, out: Path) -> None:
        self._check_values(table)
        casts = ", ".join(pg_types.cast_expr(c.name, c.data_type) for c in table.columns)
        order = ", ".join(q(k) for k in identity(table))
        # Ordered on the typed key, so the same slice gives byte-identical Parquet.
        self.db.execute(f"COPY (SELECT * FROM (SELECT {casts} FROM {rel(table)}) ORDER BY {order}) "
                        f"TO {lit(str(out))} (FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE {ROW_GROUP_ROWS})")

    def _check_values(self, table: Table) -> None:
        """A value its Parquet type cannot hold is one line naming it: a numeric(p,s) NaN or
        Infinity (DECIMAL has neither; the cast below stopped in DuckDB's traceback), or an array
        of more than one dimension (PostgreSQL's type does not say how many: as a list of one, a
        text[] {{a,b},{c,d}} landed as the two strings '["a","b"]' and '["c","d"]', in silence)."""
        for column in table.columns:
            target, col = pg_types.duckdb_type(column.data_type), q(column.name)
            if target.startswith("DECIMAL"):
                wrong = f"TRY_CAST({col} AS {target}) IS NULL"
            elif column.data_type.endswith("[]") and column.data_type not in ("json[]", "jsonb[]"):
                # JSON text; PostgreSQL's arrays are rectangular. A json[] element may be an array itself.
                wrong = f"starts_with({col}, '[[') OR {bounded(col)}"
            elif column.data_type.endswith("[]"):
                wrong = bounded(col)
            else:
                continue
            bad = self.db.execute(f"SELECT {col} FROM {rel(table)} WHERE {col} IS NOT NULL AND {wrong} "
                                  "LIMIT 1").fetchone()
            if bad:
                why = " (a list is indexed from 1)" if re.match(pg_types.BOUNDED_ARRAY, bad[0]) else ""
                raise MigrationFailed(f"table {table.id}: column {column.name} ({column.data_type}) holds "
                                      f"{_shorten(bad[0])}, which its Parquet type {target} cannot hold{why}")

    def close(self) -> None:
        try:
            if self._in_txn:
                self.db.execute("ROLLBACK")
            for alias in self.attached.values():
                self.db.execute(f"DETACH {alias}")
        finally:
            self.db.close()
