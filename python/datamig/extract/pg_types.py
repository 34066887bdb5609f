"""How a PostgreSQL column travels: the text PostgreSQL's output function prints for it, and
the DuckDB/Parquet type it lands as. Arrays and binary go through JSON/base64 so the text
stays unambiguous."""
from __future__ import annotations

import re

_SIMPLE = {
    "smallint": "SMALLINT", "integer": "INTEGER", "bigint": "BIGINT",
    "real": "FLOAT", "double precision": "DOUBLE", "boolean": "BOOLEAN",
    "text": "VARCHAR", "uuid": "UUID", "date": "DATE", "json": "JSON", "jsonb": "JSON",
    "timestamp without time zone": "TIMESTAMP", "timestamp with time zone": "TIMESTAMPTZ",
    "time without time zone": "TIME", "bytea": "BLOB", "inet": "VARCHAR",
    # interval travels as its ISO 8601 text, which PostgreSQL reads back: DuckDB does not parse
    # that text, and Parquet cannot hold a negative interval
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
    # varchar(n), char(n), enums, citext, numeric without precision (NaN, Infinity, any number of
    # digits: no DECIMAL holds them all)...: text is exact
    return "VARCHAR"


def _strip_modifier(pg_type: str) -> str:
    return re.sub(r"\(.*\)", "", pg_type).strip()


# Types DuckDB's PostgreSQL scanner decodes exactly from binary COPY: they travel and sit in the
# workspace typed. Every other type travels as the text of its output function (VARCHAR). Not
# numeric(p,s): the scanner decodes its NaN as 0, so it travels as text, cast where it lands.
_NATIVE = {"smallint", "integer", "bigint", "boolean", "date", "uuid",
           "timestamp without time zone", "timestamp with time zone"}


def native(pg_type: str) -> bool:
    return pg_type.strip() in _NATIVE


def workspace_type(pg_type: str) -> str:
    """How the column sits in the extraction's DuckDB workspace."""
    return duckdb_type(pg_type) if native(pg_type) else "VARCHAR"


_NATIVE_TEXT = re.compile(r"(text|character varying(\(\d+\))?)")


def select_text(column: str, pg_type: str) -> str:
    """The expression PostgreSQL evaluates for this column: the column itself when the scanner
    reads its type exactly (see `native`), else the text the type's output function prints
    (what COPY ... (FORMAT csv) writes), read as VARCHAR. concat() goes through the output
    function; a cast to text would not always (char(n) loses its padding, boolean becomes
    'true', inet gains a netmask)."""
    ident = '"' + column.replace('"', '""') + '"'
    pg_type = pg_type.strip()
    if pg_type.endswith("[]"):
        return _array_text(ident, pg_type)
    if pg_type == "bytea":
        # base64 without the line break encode() puts every 76 characters, which from_base64 refuses
        return f"translate(encode({ident}, 'base64'), E'\\n', '')"
    if _NATIVE_TEXT.fullmatch(pg_type) or native(pg_type):
        return ident
    return f"CASE WHEN {ident} IS NULL THEN NULL ELSE concat({ident}) END"


# An array whose first dimension is not indexed from 1 prints with its bounds ('[0:2]={1,2,3}'); a
# list cannot hold them, so the text goes to the workspace as it is, for _check_values to name.
# JSON text never looks so (':' only follows an object's key).
BOUNDED_ARRAY = r"^\[-?[0-9]+:-?[0-9]+\]"


def _array_text(ident: str, pg_type: str) -> str:
    """An array as JSON text. Elements that land as VARCHAR (numeric, real, timestamp...) are the
    text of their output function, as JSON strings: array_to_json writes a numeric as a JSON number,
    which DuckDB reads as a double (1.50 landed as 1.5, 1e-20 as 1e-20 for 0.00000000000000000001).
    A json element stays a JSON value (its text is its own), and an array of more than one dimension
    stays nested, for _check_values to name (unnest() would flatten it)."""
    element = _strip_modifier(pg_type[:-2])
    bounded = f"WHEN array_lower({ident}, 1) <> 1 THEN {ident}::text"
    if element in _ARRAY_ELEMENTS or element in ("json", "jsonb"):
        return f"CASE {bounded} ELSE array_to_json({ident})::text END"
    texts = f"array(SELECT CASE WHEN e IS NULL THEN NULL ELSE concat(e) END FROM unnest({ident}) AS u(e))"
    # NULL first: array() of no rows is '{}', and a NULL array landed as an empty one
    return (f"CASE WHEN {ident} IS NULL THEN NULL {bounded} WHEN array_ndims({ident}) > 1 "
            f"THEN array_to_json({ident})::text ELSE array_to_json({texts})::text END")


def cast_expr(column: str, pg_type: str) -> str:
    """DuckDB expression turning the workspace column into the typed value."""
    quoted = '"' + column.replace('"', '""') + '"'
    target = duckdb_type(pg_type)
    if native(pg_type):
        return quoted
    if pg_type.endswith("[]"):
        return f"CAST(CAST({quoted} AS JSON) AS {target}) AS {quoted}"
    if pg_type == "bytea":
        return f"from_base64({quoted}) AS {quoted}"
    if target == "VARCHAR":
        return quoted
    return f"CAST({quoted} AS {target}) AS {quoted}"
