"""Subgraph rows to Parquet: one file per label and per relationship type, rows sorted by
business key so the same slice gives the same bytes."""
from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq


def _native(value):
    to_native = getattr(value, "to_native", None)
    if to_native is not None:
        return to_native()
    if isinstance(value, list):
        return [_native(v) for v in value]
    return value


def write_rows(rows: list[dict], sort_keys: list[str], out: Path) -> dict:
    columns = sorted({k for row in rows for k in row}, key=lambda c: (c not in sort_keys, c))
    clean = [{c: _native(row.get(c)) for c in columns} for row in rows]
    clean.sort(key=lambda r: tuple(str(r.get(k)) for k in sort_keys))
    table = pa.Table.from_pylist(clean) if clean else pa.table({c: pa.array([], pa.string()) for c in columns})
    out.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, out, compression="zstd")
    return {"rows": table.num_rows, "columns": [{"name": f.name, "type": str(f.type)} for f in table.schema]}
