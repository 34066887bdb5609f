"""The DuckDB macros the dbt anonymize macros compile to (sql_library.sql), put on a connection.

They live in an in-memory catalog, `dm_lib`, attached to the connection's database instance:
every cursor sees it (a temporary macro is seen by its own cursor only), and no warehouse file
holds it. They call the plugin's UDFs, so they are created after those.
"""
from __future__ import annotations

import re
from collections.abc import Collection, Sequence
from pathlib import Path

from ..quoting import sql_literal
from .names import ACCENT_CLASSES, TITLE

LIBRARY = "dm_lib"
_SQL = Path(__file__).with_name("sql_library.sql")
_NAME = re.compile(r"CREATE OR REPLACE MACRO dm_lib\.main\.(\w+)\(")


def attach_library(conn) -> None:
    """The in-memory catalog `dm_lib` (once per database instance; every cursor sees it)."""
    conn.execute(f"ATTACH IF NOT EXISTS ':memory:' AS {LIBRARY}")


def create_sql_library(conn, only: Collection[str] | None = None,
                       shapes: Sequence[str] = ("email", "ssn", "phone")) -> None:
    """All the macros, or `only` those named: DuckDB checks at CREATE that the functions a
    macro calls exist, so a session with a few of the plugin's UDFs takes the macros of those.
    `shapes`: the pii_shapes' names, in the order free text is scrubbed of them."""
    attach_library(conn)
    for statement in filter(str.strip, _library_sql(tuple(shapes)).split(";\n")):
        found = _NAME.search(statement)
        if not found:
            raise ValueError(f"{_SQL.name}: not a CREATE OR REPLACE MACRO dm_lib.main.<name>(...): {statement[:80]!r}")
        if only is None or found.group(1) in only:
            conn.execute(statement)


def _scrub_shapes(shapes: tuple[str, ...]) -> str:
    sql = "t"
    for shape in shapes:
        sql = (f"regexp_replace({sql}, dm_setting({sql_literal('re_' + shape)}), "
               f"dm_setting({sql_literal('ph_' + shape)}), 'g')")
    return sql


def _library_sql(shapes: tuple[str, ...]) -> str:
    """sql_library.sql with the accent classes of names.py and the rules' shapes in it: one
    definition for both engines."""
    # on a pattern with ß or ss as either (part_pattern_unlettered): the s of "(?:ss|ß)" gets its
    # accent class too
    letters = "p"
    for cls in ACCENT_CLASSES.values():
        letters = f"regexp_replace({letters}, {sql_literal('(?i)' + cls)}, {sql_literal(cls)}, 'g')"
    text = (_SQL.read_text().replace("__LETTER_CLASSES__", letters).replace("__SHAPES__", _scrub_shapes(shapes))
            .replace("'__TITLE__'", sql_literal(TITLE)))
    return text + _listed_names(text)


def _listed_names(text: str) -> str:
    """The full-name macros again for text[] elements: inside a lambda a pick cannot read its
    dictionary by a subquery (pick_other_listed goes through dm_pick), so each macro of the block
    gets a _listed twin calling the others' twins."""
    block = text[text.index("-- names: begin"):text.index("-- names: end")]
    listed = r"dm_lib\.main\.(fake_part|given_names|full_name|full_name_untitled|full_name_titled|pick_other)\("
    return "\n" + re.sub(listed, r"dm_lib.main.\1_listed(", block)
