"""Identifiers and strings spliced into query text: quoted, with their quote character doubled,
so any name (a column with a space or a quote, a label from introspection) stays one identifier
and any path or text one literal, in SQL and in the Jinja of the generated dbt models. One
place, so every store is quoted the same way."""
from __future__ import annotations

import re
from typing import Any

# what starts a Jinja expression, statement or comment: text dbt renders runs it
_JINJA = re.compile(r"\{[{%#]")


def sql_ident(name: str) -> str:
    """DuckDB and PostgreSQL: "name"."""
    return '"' + name.replace('"', '""') + '"'


def cypher_ident(name: str) -> str:
    """Neo4j labels, relationship types and property keys: `name`."""
    return "`" + name.replace("`", "``") + "`"


def sql_literal(text: str) -> str:
    """DuckDB and PostgreSQL (standard_conforming_strings): 'text'."""
    return "'" + text.replace("'", "''") + "'"


def holds_jinja(text: str) -> bool:
    """Does `text` hold `{{`, `{%` or `{#` (what dbt would run in a model or YAML naming it)?"""
    return bool(_JINJA.search(text))


def jinja_literal(value: Any) -> str:
    """A value as Jinja reads it back: a string 'text' with backslashes and single quotes escaped
    (Jinja reads Python's escapes; a doubled quote is no escape there: 'a''b' is two strings run
    together, "ab"), and lists, dicts, numbers, booleans and None of such values."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(jinja_literal(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{jinja_literal(k)}: {jinja_literal(v)}" for k, v in value.items()) + "}"
    if value is None:
        return "none"
    raise TypeError(f"cannot render {value!r} as Jinja")
