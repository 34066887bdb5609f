"""Drift gate: does CERT still have room for every value of the final Parquet?

Checked before anything is written: every final table exists in CERT, every final column
exists in its CERT table with a type the value can be written to without loss, and no CERT
column the final leaves out must be given a value (NOT NULL, no default). Whatever CERT has
in addition (tables, columns) is fine: CERT may be ahead of PROD.
"""
from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path

from ..extract import pg_types
from ..runfiles import write_json
from .catalog import StoreCatalog

DRIFT_REPORT = "drift-report.json"

_INT_RANK = {"TINYINT": 1, "UTINYINT": 1, "SMALLINT": 2, "USMALLINT": 2, "INTEGER": 3, "UINTEGER": 3,
             "BIGINT": 4, "UBIGINT": 5, "HUGEINT": 5}
_INT_DIGITS = {1: 3, 2: 5, 3: 10, 4: 19, 5: 39}
_ALIASES = {"TIMESTAMP WITH TIME ZONE": "TIMESTAMPTZ", "FLOAT4": "FLOAT", "REAL": "FLOAT", "FLOAT8": "DOUBLE",
            "INT": "INTEGER", "INT4": "INTEGER", "INT8": "BIGINT", "INT2": "SMALLINT", "BOOL": "BOOLEAN",
            "TEXT": "VARCHAR", "STRING": "VARCHAR", "BYTEA": "BLOB",
            "TIMESTAMP WITHOUT TIME ZONE": "TIMESTAMP", "DATETIME": "TIMESTAMP"}
# Values PostgreSQL accepts as text for these CERT types (the extractor lands them as VARCHAR).
_TEXTUAL = {"VARCHAR", "JSON", "UUID"}


@dataclass
class Problem:
    store: str
    table: str
    column: str | None
    kind: str  # missing_table | missing_column | incompatible_type | value_required
    final_type: str | None = None
    cert_type: str | None = None

    def describe(self) -> str:
        where = f"{self.store}.{self.table}" + (f".{self.column}" if self.column else "")
        if self.kind == "missing_table":
            return f"table {where} is in the final but not in CERT"
        if self.kind == "missing_column":
            return f"column {where} is in the final but not in the CERT table"
        if self.kind == "incompatible_type":
            return f"column {where}: final type {self.final_type} cannot be written to CERT type {self.cert_type}"
        return f"column {where} is NOT NULL without default in CERT and the final has no value for it"


def normalize(dtype: str) -> str:
    dtype = re.sub(r"\s+", " ", dtype.strip().upper())
    if dtype.endswith("[]"):
        return normalize(dtype[:-2]) + "[]"
    return _ALIASES.get(dtype, dtype)


def _decimal(dtype: str) -> tuple[int, int] | None:
    m = re.fullmatch(r"DECIMAL\((\d+),\s*(\d+)\)", dtype)
    return (int(m.group(1)), int(m.group(2))) if m else None


def compatible(final_type: str, cert_pg_type: str) -> bool:
    """True when every value of `final_type` (DuckDB) can be stored in `cert_pg_type` unchanged."""
    source = normalize(final_type)
    if source == '"NULL"' or source == "NULL":  # an all-NULL column typed by nothing: fits anywhere
        return True
    pg = cert_pg_type.strip().lower()
    target = normalize(pg_types.duckdb_type(pg))
    if source == target:  # exactly what the extractor lands for this CERT type
        return True
    if pg.endswith("[]") or source.endswith("[]"):
        return pg.endswith("[]") and source.endswith("[]") and compatible(source[:-2], pg[:-2])
    if pg in ("numeric", "decimal"):  # unconstrained numeric takes any exact number
        return source in _INT_RANK or _decimal(source) is not None
    if source in _INT_RANK:
        if target in _INT_RANK:
            return _INT_RANK[source] <= _INT_RANK[target]
        dec = _decimal(target)
        return dec is not None and dec[0] - dec[1] >= _INT_DIGITS[_INT_RANK[source]]
    src_dec, dst_dec = _decimal(source), _decimal(target)
    if src_dec and dst_dec:
        return dst_dec[1] >= src_dec[1] and dst_dec[0] - dst_dec[1] >= src_dec[0] - src_dec[1]
    if source == "FLOAT" and target == "DOUBLE":
        return True
    if source == "INTERVAL" and pg == "interval":  # a run extracted before intervals travelled as text
        return True
    # Text-like values into text-like columns: PostgreSQL parses them on the way in.
    return source in _TEXTUAL and target in _TEXTUAL and not (source == "VARCHAR" and target == "UUID")


def _fits(final_type: str, cert_type: str, base_type: str) -> bool:
    """A domain's name tells nothing of its values (it reads as text): a final column typed as
    its base type (a DECIMAL for a domain over numeric(12,3), a DATE, an INTEGER) fits it too;
    PostgreSQL checks the domain's constraints on the way in."""
    return compatible(final_type, cert_type) or bool(base_type) and compatible(final_type, base_type)


def check_store(catalog: StoreCatalog, final: dict[str, list[tuple[str, str]]]) -> list[Problem]:
    """`final`: table -> [(column, DuckDB type)] of the store's final Parquet."""
    problems = []
    store = catalog.store.name
    for table, columns in sorted(final.items()):
        cert = catalog.tables.get(table)
        if cert is None:
            problems.append(Problem(store, table, None, "missing_table"))
            continue
        cert_cols = {c.name: c for c in cert.columns}
        for name, dtype in columns:
            col = cert_cols.get(name)
            if col is None:
                problems.append(Problem(store, table, name, "missing_column", dtype))
            elif not catalog.fact(table, name).generated and not _fits(dtype, col.data_type,
                                                                     catalog.fact(table, name).base_type):
                problems.append(Problem(store, table, name, "incompatible_type", dtype, col.data_type))
        given = {name for name, _ in columns}
        for col in cert.columns:
            fact = catalog.fact(table, col.name)
            if col.name not in given and not col.nullable and not fact.has_default \
                    and not fact.identity and not fact.generated:
                problems.append(Problem(store, table, col.name, "value_required", None, col.data_type))
    return problems


def write_report(run_dir: Path, problems: list[Problem], checked: list[str]) -> Path:
    path = run_dir / DRIFT_REPORT
    report = {"run_id": run_dir.name, "status": "DRIFT" if problems else "OK",
              "checked_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
              "stores_checked": checked, "problems": [asdict(p) | {"message": p.describe()} for p in problems]}
    write_json(path, report)
    return path
