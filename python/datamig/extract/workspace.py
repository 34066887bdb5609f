"""The extraction's scratch space: a DuckDB file holding every selected row as text, one
table per PROD table, with the phase that selected it. Deduplication by key, the keys still
to fetch, and the final typed Parquet all come from set-based SQL here, so memory stays flat
as the district grows (DuckDB spills to disk)."""
from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import duckdb

from ..analyze.model import Table
from . import pg_types


def q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def rel(table: Table) -> str:
    return q(f"t__{table.store}__{table.name}")


def identity(table: Table) -> tuple[str, ...]:
    """Columns that identify a row: the primary key, else every column."""
    return table.primary_key or tuple(c.name for c in table.columns)


class Workspace:
    def __init__(self, path: Path, memory_limit: str = "1GB"):
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self.db = duckdb.connect(str(path))
        self.db.execute(f"SET memory_limit = '{memory_limit}'")
        self.db.execute("SET preserve_insertion_order = false")
        self.db.execute("SET TimeZone = 'UTC'")
        self.tmp = path.parent / "csv"
        self.tmp.mkdir(exist_ok=True)

    def create(self, table: Table) -> None:
        cols = ", ".join(f"{q(c.name)} VARCHAR" for c in table.columns)
        self.db.execute(f"CREATE TABLE IF NOT EXISTS {rel(table)} ({cols}, _down BOOLEAN, _batch INTEGER)")

    def ingest(self, table: Table, csv_path: Path, down: bool, batch: int) -> int:
        """Add the CSV's rows not already selected; returns how many were new."""
        if not csv_path.exists() or csv_path.stat().st_size == 0:
            csv_path.unlink(missing_ok=True)
            return 0
        cols = "{" + ", ".join(f"'{c.name.replace(chr(39), chr(39) * 2)}': 'VARCHAR'" for c in table.columns) + "}"
        key = identity(table)
        on = " AND ".join(f"t.{q(k)} IS NOT DISTINCT FROM c.{q(k)}" for k in key)
        part = ", ".join(f"c.{q(k)}" for k in key)
        inserted = self.db.execute(
            f"INSERT INTO {rel(table)} SELECT c.*, {str(down).upper()}, {batch} "
            f"FROM read_csv('{csv_path}', header=false, columns={cols}, allow_quoted_nulls=false, "
            f"quote='\"', escape='\"', delim=',', auto_detect=false, parallel=false) c "
            f"WHERE NOT EXISTS (SELECT 1 FROM {rel(table)} t WHERE {on}) "
            f"QUALIFY row_number() OVER (PARTITION BY {part}) = 1").fetchone()[0]
        csv_path.unlink()
        return inserted

    def count(self, table: Table, down_only: bool = False) -> int:
        where = " WHERE _down" if down_only else ""
        return self.db.execute(f"SELECT count(*) FROM {rel(table)}{where}").fetchone()[0]

    def max_batch(self, table: Table) -> int:
        return self.db.execute(f"SELECT coalesce(max(_batch), -1) FROM {rel(table)}").fetchone()[0]

    def new_values(self, table: Table, columns: Sequence[str], after: int, upto: int, down_only: bool,
                   exclude: tuple[Table, Sequence[str]] | None = None) -> Iterator[list[tuple]]:
        """Distinct non-null `columns` tuples of rows selected in batches (after, upto], minus
        tuples already present as `exclude` (table, its columns). Yields chunks."""
        cols = ", ".join(f"s.{q(c)}" for c in columns)
        where = [f"s._batch > {after}", f"s._batch <= {upto}"] + [f"s.{q(c)} IS NOT NULL" for c in columns]
        if down_only:
            where.append("s._down")
        if exclude is not None:
            other, other_cols = exclude
            match = " AND ".join(f"x.{q(o)} = s.{q(c)}" for c, o in zip(columns, other_cols))
            where.append(f"NOT EXISTS (SELECT 1 FROM {rel(other)} x WHERE {match})")
        cur = self.db.execute(f"SELECT DISTINCT {cols} FROM {rel(table)} s WHERE {' AND '.join(where)} "
                              f"ORDER BY {cols}")
        while chunk := cur.fetchmany(50_000):
            yield chunk

    def write_parquet(self, table: Table, out: Path) -> None:
        casts = ", ".join(pg_types.cast_expr(c.name, c.data_type) for c in table.columns)
        order = ", ".join(q(k) for k in identity(table))
        # Ordered on the typed key, so the same slice gives byte-identical Parquet.
        self.db.execute(f"COPY (SELECT * FROM (SELECT {casts} FROM {rel(table)}) ORDER BY {order}) "
                        f"TO '{out}' (FORMAT parquet, COMPRESSION zstd)")

    def close(self) -> None:
        self.db.close()
