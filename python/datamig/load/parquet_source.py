"""The final Parquet, read through DuckDB: its column types, and its rows as the CSV text
PostgreSQL's COPY parses.

DuckDB formats every value (set-based, multi-threaded) and pyarrow's C++ writer turns each
record batch into CSV, so no Python code touches a row. A reader thread keeps a few blocks
ahead, so DuckDB formats the next block while PostgreSQL parses the previous one (the two
run on different cores).
"""
from __future__ import annotations

import io
import os
import queue
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import TypeVar

import duckdb
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from ..extract import ROW_POSITION
from ..quoting import sql_ident as quote, sql_literal

ROW_COLUMN = "__datamig_row"  # position in the file: groups ledger chunks, orders conflict lists
BLOCK_ROWS = 100_000
_CSV = pacsv.WriteOptions(include_header=False)
T = TypeVar("T")


class ParquetSource:
    def __init__(self, threads: int | None = None):
        self.db = duckdb.connect()
        # TIMESTAMPTZ values print with an explicit +00 offset: unambiguous for PostgreSQL.
        self.db.execute("SET TimeZone = 'UTC'")
        # Half the cores: the other half parses the COPY in PostgreSQL at the same time (on 2
        # cores, 1 DuckDB thread measured ~5% faster and cheaper than 2 for the same load).
        threads = threads or max(1, (os.cpu_count() or 2) // 2)
        self.db.execute(f"SET threads = {int(threads)}")

    def close(self) -> None:
        self.db.close()

    def schema(self, path: Path) -> list[tuple[str, str]]:
        """(column, DuckDB type) in file order."""
        rows = self.db.execute(f"DESCRIBE SELECT * FROM read_parquet({sql_literal(str(path))})").fetchall()
        return [(r[0], r[1]) for r in rows]

    def count(self, path: Path) -> int:
        return pq.ParquetFile(path).metadata.num_rows

    def key_problems(self, path: Path, key: tuple[str, ...], limit: int = 5) -> tuple[int, list[str]]:
        """(rows with a NULL key column, up to `limit` repeated keys as JSON), computed by DuckDB
        on the Parquet itself: columnar and parallel, far cheaper than asking PostgreSQL."""
        src = f"read_parquet({sql_literal(str(path))})"
        nulls = self.db.execute(f"SELECT count(*) FROM {src} WHERE " +
                                " OR ".join(f"{quote(k)} IS NULL" for k in key)).fetchone()[0]
        obj = "json_object(" + ", ".join(f"'{k.replace(chr(39), chr(39) * 2)}', {quote(k)}" for k in key) + ")"
        cols = ", ".join(quote(k) for k in key)
        dups = self.db.execute(f"SELECT CAST({obj} AS VARCHAR) FROM {src} GROUP BY {cols} HAVING count(*) > 1 "
                               f"LIMIT {int(limit)}").fetchall()
        return nulls, [d[0] for d in dups]

    def csv_blocks(self, path: Path, columns: list[tuple[str, str]], with_row: bool) -> Iterator[bytes]:
        """CSV blocks of `columns` (name, DuckDB type), plus the row position if asked, prefetched."""
        exprs = [f"{pg_text(name, dtype)} AS {quote(name)}" for name, dtype in columns]
        if with_row:  # by position, never by name: the CSV has no header
            exprs.append(ROW_POSITION)
        query = f"SELECT {', '.join(exprs)} FROM read_parquet({sql_literal(str(path))}, {ROW_POSITION} = {str(with_row).lower()})"
        return prefetch(self._blocks(query))

    def _blocks(self, query: str) -> Iterator[bytes]:
        cur = self.db.cursor()  # a cursor of its own: the prefetch thread must not share one
        try:
            reader = cur.execute(query).to_arrow_reader(BLOCK_ROWS)
            for batch in reader:
                buf = io.BytesIO()
                pacsv.write_csv(pa.Table.from_batches([batch]), buf, _CSV)
                yield buf.getvalue()
        finally:
            cur.close()


# List elements whose JSON text is their PostgreSQL array text: JSON writes a DOUBLE -0.0 as 0.0 and
# a DECIMAL 1.10 as 1.1, and puts a JSON element in unquoted (no array literal at all)
_JSON_AS_POSTGRES = {"VARCHAR", "BOOLEAN", "TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT",
                     "USMALLINT", "UINTEGER", "UBIGINT", "UUID", "DATE"}


def pg_text(name: str, dtype: str) -> str:
    """DuckDB expression giving the value as PostgreSQL input text (NULL stays NULL).

    The two costly types get a fast path (measured: 2-2.5x less CPU than the general form):
    a finite TIMESTAMPTZ prints through plain TIMESTAMP arithmetic instead of ICU, and a list
    of text, integers, booleans, uuids or dates whose JSON text holds no backslash is that JSON
    with [] turned into {} (JSON's quoting of strings is then exactly PostgreSQL's array quoting;
    null reads as NULL).
    """
    col = quote(name)
    if dtype.endswith("[]"):
        # General form: every element double-quoted with \ and " escaped, so commas, braces,
        # quotes and the word NULL inside a value stay data.
        elem = ("CASE WHEN e IS NULL THEN 'NULL' ELSE '\"' || replace(replace(CAST(e AS VARCHAR), "
                "'\\', '\\\\'), '\"', '\\\"') || '\"' END")
        general = f"'{{' || array_to_string(list_transform({col}, lambda e: {elem}), ',') || '}}'"
        if dtype[:-2] not in _JSON_AS_POSTGRES:
            return f"CASE WHEN {col} IS NULL THEN NULL ELSE {general} END"
        as_json = f"CAST(to_json({col}) AS VARCHAR)"
        return (f"CASE WHEN {col} IS NULL THEN NULL WHEN strpos({as_json}, '\\') = 0 "
                f"THEN '{{' || {as_json}[2:-2] || '}}' ELSE {general} END")
    if dtype == "BLOB":
        return f"'\\x' || lower(hex({col}))"  # bytea hex input format
    if dtype in ("TIMESTAMP WITH TIME ZONE", "TIMESTAMPTZ"):
        return (f"CASE WHEN isfinite({col}) THEN CAST(make_timestamp(epoch_us({col})) AS VARCHAR) || '+00' "
                f"ELSE CAST({col} AS VARCHAR) END")
    if dtype.startswith(("STRUCT", "MAP")):
        return f"CAST(to_json({col}) AS VARCHAR)"
    return f"CAST({col} AS VARCHAR)"


def prefetch(blocks: Iterator[T], depth: int = 4) -> Iterator[T]:
    """Run `blocks` in a thread, `depth` items ahead; errors re-raise in the consumer. The
    PostgreSQL COPY feed and the graph batches both use it: Parquet is read and converted
    while the server works on the previous item."""
    q: queue.Queue = queue.Queue(maxsize=depth)
    done = object()
    stop = threading.Event()

    def work() -> None:
        try:
            for block in blocks:
                if stop.is_set():
                    return
                q.put(block)
            q.put(done)
        except BaseException as exc:  # handed to the consumer
            q.put(exc)

    thread = threading.Thread(target=work, name="datamig-parquet", daemon=True)
    thread.start()
    try:
        while True:
            item = q.get()
            if item is done:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        while thread.is_alive():  # unblock a producer waiting on a full queue
            try:
                q.get_nowait()
            except queue.Empty:
                thread.join(0.05)


def iter_rows(path: Path, batch_rows: int) -> Iterator[list[dict]]:
    """Rows as dicts, `batch_rows` at a time (the graph loader's input)."""
    for batch in pq.ParquetFile(path).iter_batches(batch_size=batch_rows):
        yield batch.to_pylist()
