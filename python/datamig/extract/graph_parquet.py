"""Subgraph rows to Parquet: one file per label and per relationship type, rows sorted by
business key so the same slice gives the same bytes.

Rows are streamed: each chunk read from Neo4j lands as a small Parquet part at once (Arrow
infers its types), and each final file is then written from DuckDB, which sorts the parts
(spilling to disk if it must), cast to the parts' unified schema. Memory holds one chunk and
one Arrow batch, not a label."""
from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq


def _native(value):
    to_native = getattr(value, "to_native", None)
    if to_native is not None:
        return to_native()
    if isinstance(value, list):
        return [_native(v) for v in value]
    return value


def _lit(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


class GraphWriter:
    """Collects chunks of rows per (kind, name) as Parquet parts under `scratch`."""

    def __init__(self, scratch: Path, memory_limit: str = "256MB", threads: int = 2):
        self.scratch = scratch
        scratch.mkdir(parents=True, exist_ok=True)
        self.parts: dict[tuple[str, str], list[Path]] = {}
        self.schemas: dict[tuple[str, str], list[pa.Schema]] = {}
        self.rows: dict[tuple[str, str], int] = {}
        self.memory_limit, self.threads = memory_limit, threads

    def add(self, kind: str, name: str, rows: list[dict]) -> None:
        if not rows:
            return
        columns = sorted({k for row in rows for k in row})
        table = pa.Table.from_pylist([{c: _native(row.get(c)) for c in columns} for row in rows])
        key = (kind, name)
        part = self.scratch / f"{kind}__{len(self.parts.get(key, []))}__{abs(hash(name))}.parquet"
        pq.write_table(table, part)
        self.parts.setdefault(key, []).append(part)
        self.schemas.setdefault(key, []).append(table.schema)
        self.rows[key] = self.rows.get(key, 0) + table.num_rows

    def names(self, kind: str) -> list[str]:
        return sorted(name for k, name in self.parts if k == kind)

    def finish(self, kind: str, name: str, sort_keys: list[str], out: Path) -> dict:
        key = (kind, name)
        schema = pa.unify_schemas(self.schemas[key], promote_options="permissive")
        columns = sorted(schema.names, key=lambda c: (c not in sort_keys, c))
        schema = pa.schema([schema.field(c) for c in columns])
        # str() of each sort key, as Python would compare them (None as 'None'); every column
        # after that, so ties come out in one order too.
        order = [f"coalesce(CAST({_q(k)} AS VARCHAR), 'None')" for k in sort_keys if k in columns]
        order += [f"CAST({_q(c)} AS VARCHAR) NULLS FIRST" for c in columns]
        files = "[" + ", ".join(_lit(str(p)) for p in self.parts[key]) + "]"
        out.parent.mkdir(parents=True, exist_ok=True)
        db = duckdb.connect()
        try:
            db.execute(f"SET memory_limit = '{self.memory_limit}'")
            db.execute(f"SET threads = {self.threads}")
            db.execute(f"SET temp_directory = {_lit(str(self.scratch / 'spill'))}")
            db.execute("SET TimeZone = 'UTC'")
            reader = db.execute(
                f"SELECT {', '.join(map(_q, columns))} FROM read_parquet({files}, union_by_name = true) "
                f"ORDER BY {', '.join(order)}").to_arrow_reader(64_000)
            with pq.ParquetWriter(out, schema, compression="zstd") as writer:
                for batch in reader:
                    writer.write_batch(batch.cast(schema))
        finally:
            db.close()
        for part in self.parts.pop(key):
            part.unlink(missing_ok=True)
        return {"rows": self.rows[key], "columns": [{"name": f.name, "type": str(f.type)} for f in schema]}

    def close(self) -> None:
        shutil.rmtree(self.scratch, ignore_errors=True)

