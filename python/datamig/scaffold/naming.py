"""Model and file names, one place: staging `stg_<store>__<table>`, anonymized
`int_<store>__<table>_anonymized`, final `<store>__<table>`; graph tables are
`node_<label>` and `rel_<type>` (lower case)."""
from __future__ import annotations

from ..quoting import sql_ident


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
