"""Subgraph rows to Parquet: one file per label and per relationship type, rows sorted by
business key so the same slice gives the same bytes.

Rows are streamed: each chunk read from Neo4j arrives as an Arrow table (graph_columns) and
is kept in memory while all of them together stay under a budget (64 MB); past it, the
largest label's chunks go to Parquet parts on disk. Each final file is then written from
DuckDB (one connection for the whole graph), which sorts the chunks (spilling to disk if it
must), cast to their unified schema. Memory holds at most the budget, one chunk and one Arrow
batch, not the graph."""
from __future__ import annotations

import shutil
from collections import Counter
from collections.abc import Mapping
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from ..errors import MigrationFailed
from ..quoting import sql_ident as _q, sql_literal as _lit
from . import ROW_GROUP_ROWS
from .graph_columns import mixed_types
from .pg_types import duckdb_type


class GraphWriter:
    """Collects chunks of rows per (kind, name): in memory up to `budget` bytes of Arrow data
    in all, the largest label or type spilled to a Parquet part under `scratch` beyond that."""

    def __init__(self, scratch: Path, memory_limit: str = "256MB", threads: int = 2, budget: int = 64 << 20,
                 store: str = "graph"):
        self.scratch, self.store = scratch, store
        scratch.mkdir(parents=True, exist_ok=True)
        self.parts: dict[tuple[str, str], list[Path]] = {}
        self.buffers: dict[tuple[str, str], list[pa.Table]] = {}
        self.buffered: dict[tuple[str, str], int] = {}
        self.schemas: dict[tuple[str, str], list[pa.Schema]] = {}
        self.rows: dict[tuple[str, str], int] = {}
        self.held: dict[tuple[str, str], Counter] = {}    # per column, the rows with a value in it
        self.memory_limit, self.threads, self.budget = memory_limit, threads, budget
        self._db = None

    def add(self, kind: str, name: str, table: pa.Table) -> None:
        """One chunk of rows, as graph_columns builds them (the types `from_pylist` gives the
        native values)."""
        if not table.num_rows:
            return
        key = (kind, name)
        self.buffers.setdefault(key, []).append(table)
        self.buffered[key] = self.buffered.get(key, 0) + table.nbytes
        self.schemas.setdefault(key, []).append(table.schema)
        self.rows[key] = self.rows.get(key, 0) + table.num_rows
        self.held.setdefault(key, Counter()).update(
            {c: len(col) - col.null_count for c, col in zip(table.column_names, table.columns)})
        while sum(self.buffered.values()) > self.budget:
            self._spill(max(self.buffered, key=self.buffered.get))

    def _spill(self, key: tuple[str, str]) -> None:
        """The buffered chunks of `key` as Parquet parts (one per chunk: each keeps its own types,
        unified when the file is written)."""
        kind, name = key
        for table in self.buffers.pop(key, []):
            part = self.scratch / f"{kind}__{len(self.parts.get(key, []))}__{abs(hash(name))}.parquet"
            pq.write_table(table, part)
            self.parts.setdefault(key, []).append(part)
        self.buffered.pop(key, None)

    def names(self, kind: str) -> list[str]:
        return sorted(name for k, name in self.rows if k == kind)

    def without(self, kind: str, name: str, column: str) -> tuple[int, int]:
        """(rows with no value in `column`, rows) of the label or type: counted as chunks come,
        so it can be asked before a file is written (or spilled parts read back)."""
        rows = self.rows.get((kind, name), 0)
        return rows - self.held.get((kind, name), Counter())[column], rows

    def _connection(self):
        if self._db is None:
            self._db = duckdb.connect()
            self._db.execute(f"SET memory_limit = '{self.memory_limit}'")
            self._db.execute(f"SET threads = {self.threads}")
            self._db.execute(f"SET temp_directory = {_lit(str(self.scratch / 'spill'))}")
            self._db.execute("SET TimeZone = 'UTC'")
        return self._db

    def finish(self, kind: str, name: str, sort_keys: list[str], out: Path,
               expected: Mapping[str, str] | None = None) -> dict:
        """`expected`: every property of the label or type in the whole graph, typed as the scaffold
        types them: one no row read holds a value of is written as a column of NULLs of that type."""
        key = (kind, name)
        try:
            schema = pa.unify_schemas(self.schemas[key], promote_options="permissive")
        except pa.ArrowTypeError:  # chunks read a property as two types: say which (was pyarrow's traceback)
            raise self._clash(kind, name) from None
        _check_names_apart(self.store, kind, name, schema.names)
        # a property only nodes of other districts hold: absent, or read as a column of no type from a
        # chunk that held them (pyarrow's 'Unsupported cast from int32 to null'); either way the models
        # select it, and the drift gate refused its absence
        expected = expected or {}
        nulls = {c: duckdb_type(expected.get(c, "text")) for c in sorted({*expected, *schema.names})
                 if c not in schema.names or pa.types.is_null(schema.field(c).type)}
        fields = {f.name: _typed_empty_lists(f) for f in schema if f.name not in nulls}
        fields.update((c, pa.field(c, self._arrow_type(t))) for c, t in nulls.items())
        columns = sorted(fields, key=lambda c: (c not in sort_keys, c))
        schema = pa.schema([fields[c] for c in columns])
        # str() of each sort key, as Python would compare them (None as 'None'); every column
        # after that, so ties come out in one order too.
        order = [f"coalesce(CAST({_q(k)} AS VARCHAR), 'None')" for k in sort_keys if k in fields and k not in nulls]
        order += [f"CAST({_q(c)} AS VARCHAR) NULLS FIRST" for c in columns if c not in nulls]
        select = [f"CAST(NULL AS {nulls[c]}) AS {_q(c)}" if c in nulls else _q(c) for c in columns]
        if key in self.parts:                                 # spilled: the rest joins it on disk
            self._spill(key)
            files = "[" + ", ".join(_lit(str(p)) for p in self.parts[key]) + "]"
            source = f"read_parquet({files}, union_by_name = true)"
        else:
            source = "graph_chunks"
            chunks = pa.concat_tables(self.buffers.pop(key), promote_options="permissive")
            self.buffered.pop(key, None)
        out.parent.mkdir(parents=True, exist_ok=True)
        db = self._connection()
        try:
            if source == "graph_chunks":
                db.register("graph_chunks", chunks)
            reader = db.execute(f"SELECT {', '.join(select)} FROM {source} "
                                f"ORDER BY {', '.join(order)}").to_arrow_reader(64_000)
            with pq.ParquetWriter(out, schema, compression="zstd") as writer:
                for batch in reader:
                    writer.write_batch(batch.cast(schema), row_group_size=ROW_GROUP_ROWS)
        finally:
            if source == "graph_chunks":
                db.unregister("graph_chunks")
                del chunks
        for part in self.parts.pop(key, []):
            part.unlink(missing_ok=True)
        return {"rows": self.rows[key], "columns": [{"name": f.name, "type": str(f.type)} for f in schema]}

    def _arrow_type(self, duckdb_type: str) -> pa.DataType:
        return self._connection().execute(f"SELECT CAST(NULL AS {duckdb_type}) AS v").to_arrow_table().schema[0].type

    def _clash(self, kind: str, name: str) -> Exception:
        types: dict[str, set[str]] = {}
        for schema in self.schemas[(kind, name)]:
            for f in schema:
                if not pa.types.is_null(f.type):
                    types.setdefault(f.name, set()).add(str(f.type))
        prop = next(p for p, ts in sorted(types.items()) if len(ts) > 1)
        owner = f"label {name}" if kind == "nodes" else f"relationship type {name}"
        return mixed_types(self.store, owner, prop, sorted(types[prop]))

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None
        shutil.rmtree(self.scratch, ignore_errors=True)


def _check_names_apart(store: str, kind: str, name: str, columns: list[str]) -> None:
    """Properties whose names differ only in case ("Name" beside name) are one line naming them:
    DuckDB, which orders and writes the rows, does not tell them apart (it was pyarrow's
    'field names are not matching' traceback)."""
    seen: dict[str, str] = {}
    for column in columns:
        other = seen.setdefault(column.casefold(), column)
        if other != column:
            owner = f"label {name}" if kind == "nodes" else f"relationship type {name}"
            raise MigrationFailed(f"graph store {store}: {owner}: properties {other!r} and {column!r} differ only in "
                                  "case, which DuckDB does not tell apart; rename one in PROD")


def _typed_empty_lists(field: pa.Field) -> pa.Field:
    """A list property empty on every node or relationship read ([] tags) has items of no type:
    DuckDB hands it back as INTEGER[], which Arrow cannot cast back to null items, so the extract
    stopped ('Unsupported cast from int32 to null'). Its lists are written as lists of strings."""
    if pa.types.is_list(field.type) and pa.types.is_null(field.type.value_type):
        return field.with_type(pa.list_(pa.string()))
    return field
