"""Identifiers and strings spliced into query text: quoted, with their quote character doubled,
so any name (a column with a space or a quote, a label from introspection) stays one identifier
and any path or text one literal. One place, so every store is quoted the same way."""
from __future__ import annotations


def sql_ident(name: str) -> str:
    """DuckDB and PostgreSQL: "name"."""
    return '"' + name.replace('"', '""') + '"'


def cypher_ident(name: str) -> str:
    """Neo4j labels, relationship types and property keys: `name`."""
    return "`" + name.replace("`", "``") + "`"


def sql_literal(text: str) -> str:
    """DuckDB and PostgreSQL (standard_conforming_strings): 'text'."""
    return "'" + text.replace("'", "''") + "'"
