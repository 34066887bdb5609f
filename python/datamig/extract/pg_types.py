"""How a PostgreSQL column travels: the text PostgreSQL writes for it in CSV, and the
DuckDB/Parquet type it lands as. Arrays and binary go through JSON/base64 so the CSV
text stays unambiguous."""
from __future__ import annotations

import re

from psycopg import sql

_SIMPLE = {
    "smallint": "SMALLINT", "integer": "INTEGER", "bigint": "BIGINT",
    "real": "FLOAT", "double precision": "DOUBLE", "boolean": "BOOLEAN",
    "text": "VARCHAR", "uuid": "UUID", "date": "DATE", "json": "JSON", "jsonb": "JSON",
    "timestamp without time zone": "TIMESTAMP", "timestamp with time zone": "TIMESTAMPTZ",
    "time without time zone": "TIME", "bytea": "BLOB", "inet": "VARCHAR", "interval": "INTERVAL",
}
_ARRAY_ELEMENTS = {"text": "VARCHAR", "character varying": "VARCHAR", "bigint": "BIGINT",
                   "integer": "INTEGER", "smallint": "SMALLINT", "boolean": "BOOLEAN",
                   "uuid": "UUID", "date": "DATE", "double precision": "DOUBLE"}


def duckdb_type(pg_type: str) -> str:
    pg_type = pg_type.strip()
    if pg_type.endswith("[]"):
        base = _strip_modifier(pg_type[:-2])
        return f"{_ARRAY_ELEMENTS.get(base, 'VARCHAR')}[]"
    if pg_type in _SIMPLE:
        return _SIMPLE[pg_type]
    numeric = re.fullmatch(r"numeric\((\d+),(\d+)\)", pg_type.replace(" ", ""))
    if numeric and int(numeric.group(1)) <= 38:
        return f"DECIMAL({numeric.group(1)},{numeric.group(2)})"
    if pg_type == "numeric":
        return "DECIMAL(38,9)"
    return "VARCHAR"  # varchar(n), char(n), enums, citext...: text is exact


def _strip_modifier(pg_type: str) -> str:
    return re.sub(r"\(.*\)", "", pg_type).strip()


def select_expr(column: str, pg_type: str) -> sql.Composable:
    """The expression PostgreSQL evaluates in the COPY for this column."""
    ident = sql.Identifier(column)
    if pg_type.endswith("[]"):
        return sql.SQL("array_to_json({})").format(ident)
    if pg_type == "bytea":
        return sql.SQL("encode({}, 'base64')").format(ident)
    return ident


def cast_expr(column: str, pg_type: str) -> str:
    """DuckDB expression turning the CSV text back into the typed value."""
    quoted = '"' + column.replace('"', '""') + '"'
    target = duckdb_type(pg_type)
    if pg_type.endswith("[]"):
        return f"CAST(CAST({quoted} AS JSON) AS {target}) AS {quoted}"
    if pg_type == "bytea":
        return f"from_base64({quoted}) AS {quoted}"
    if target == "VARCHAR":
        return quoted
    return f"CAST({quoted} AS {target}) AS {quoted}"
