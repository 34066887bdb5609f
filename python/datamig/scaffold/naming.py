"""Model and file names, one place: staging `stg_<store>__<table>`, anonymized
`int_<store>__<table>_anonymized`, final `<store>__<table>`; graph tables are
`node_<label>` and `rel_<type>` (lower case)."""
from __future__ import annotations

import hashlib
import re

from ..quoting import sql_ident

_NAME_UNSAFE = re.compile(r"[^A-Za-z0-9_]+")
_CTE_PREFIX = "__dbt__cte__"  # dbt's, before an ephemeral model's identifier (its alias, else its name)
_TEST_NAME = 200  # bytes: dbt writes each test's SQL to `<name>.sql`, and a file name holds 255
_PG_IDENTIFIER = 63  # bytes: PostgreSQL cuts a longer name there, dbt-postgres refuses one longer in characters


def graph_table(kind: str, name: str) -> str:
    return f"{'node' if kind == 'nodes' else 'rel'}_{name.lower()}"


def source_name(store: str) -> str:
    return f"prod_{store}"


def staging(store: str, table: str) -> str:
    return f"stg_{store}__{table}"


def anonymized(store: str, table: str) -> str:
    return f"int_{store}__{table}_anonymized"


def final(store: str, table: str) -> str:
    return f"{store}__{table}"


def quote(column: str) -> str:
    """Identifiers are emitted quoted only when they need it (keeps models readable)."""
    if column.isidentifier() and column.islower():
        return column
    return sql_ident(column)


def column_in_test_name(column: str) -> str:
    """A column as part of a test's name, a dbt resource name: a space in it stopped the parse, so
    each run of other characters than letters, digits and `_` becomes `_`, and the name then ends
    in a hash of the column's own, so "a b" and "a_b" stay two names (one name for two tests made
    the report name them alike, and one compiled SQL file stand for both)."""
    safe = _NAME_UNSAFE.sub("_", column)
    if safe == column:
        return column
    return f"{safe}_{_digest(column)}"


def cert_alias(model: str) -> str | None:
    """The alias of a final model on CERT, where it is ephemeral and so a CTE named
    `__dbt__cte__<alias>`, when its own name makes that longer than PostgreSQL takes: dbt-postgres
    refused it ("Relation name ... is longer than 63 characters") and each of the table's CERT
    tests errored, and two names cut at 63 bytes would be one. Its start made ASCII, cut to fit,
    then a hash of the whole name, so two long names sharing their start stay two. None: the
    name fits."""
    if len((_CTE_PREFIX + model).encode()) <= _PG_IDENTIFIER:
        return None
    digest = _digest(model)
    room = _PG_IDENTIFIER - len(_CTE_PREFIX) - len(digest) - 1
    return f"{_NAME_UNSAFE.sub('_', model)[:room]}_{digest}"


def test_name(name: str) -> str:
    """A test name datamig gives (an FK's, a validation rule's), cut to _TEST_NAME bytes when longer
    and ended by a hash of the whole, so two long names sharing their start stay two: a name of
    long table and column names made dbt's file of the test's SQL "File name too long", and the
    test errored the transform."""
    if len(name.encode()) <= _TEST_NAME:
        return name
    digest = _digest(name)
    start = name.encode()[:_TEST_NAME - len(digest) - 1].decode(errors="ignore")
    return f"{start}_{digest}"


def _digest(name: str) -> str:
    """The hash a shortened or made-safe name ends in, so two names alike in their start or safe
    form stay two."""
    return hashlib.sha256(name.encode()).hexdigest()[:8]
