"""Which column a rule's `where:` clause names that its tables do not have.

The clause is SQL text pasted into a dbt test, so a typo used to surface only when dbt ran it
(a DuckDB "Binder Error"). DuckDB binds it here instead, against empty tables with the estate's
columns, in the same FROM the test macro gives it. Only "no such column" is reported: any other
complaint (a type, a function PostgreSQL has and DuckDB lacks) is left to dbt, as before."""
from __future__ import annotations

import re

import duckdb

from . import naming
from .layout import Dataset

TABLE_REF = re.compile(r"\{table:([a-z0-9_]+\.[A-Za-z0-9_]+)\}")
JINJA_EXPR = re.compile(r"\{\{.*?\}\}", re.S)
NO_COLUMN = re.compile(r'Referenced column "([^"]+)" not found in FROM clause')
NO_COLUMN_IN = re.compile(r'Table "([^"]+)" does not have a column named "([^"]+)"')


def missing_column(text: str, scope: dict[str, Dataset], others: dict[str, Dataset]) -> tuple[Dataset, str] | None:
    """(table, column) of the first unknown column `text` names, or None.
    `scope`: alias -> dataset in the test's FROM, the first one the table the clause filters;
    `others`: datasets of its `{table:store.table}` references."""
    if "{%" in text:  # a jinja block could make any SQL: nothing to bind without dbt
        return None
    # {{ var('district') }} and the like are values: null binds wherever a value does
    sql = JINJA_EXPR.sub("null", TABLE_REF.sub(lambda m: _relation(others[m.group(1)]), text))
    tables = {ds.id: ds for ds in [*scope.values(), *others.values()]}
    conn = duckdb.connect(config={"enable_external_access": False})  # binding reads no file
    try:
        for ds in tables.values():
            _create(conn, ds)
        joins = ", ".join(f"{_relation(ds)} as {alias}" for alias, ds in scope.items())
        conn.execute(f"select 1 from {joins} where {sql}")
    except duckdb.BinderException as exc:
        return _named(str(exc), scope, tables)
    except duckdb.Error:  # not a column problem: dbt will say what it is
        return None
    finally:
        conn.close()
    return None


def _named(message: str, scope: dict[str, Dataset], tables: dict[str, Dataset]) -> tuple[Dataset, str] | None:
    unqualified = NO_COLUMN.search(message)
    if unqualified:  # no table in reach has it, the filtered one included
        return next(iter(scope.values())), unqualified.group(1)
    qualified = NO_COLUMN_IN.search(message)
    if qualified:
        table, column = qualified.groups()
        by_name = {**{ds.name: ds for ds in tables.values()}, **scope}
        if table in by_name:
            return by_name[table], column
    return None


def _relation(ds: Dataset) -> str:
    return f"{naming.quote(ds.store)}.{naming.quote(ds.name)}"


def _create(conn, ds: Dataset) -> None:
    conn.execute(f"create schema if not exists {naming.quote(ds.store)}")
    columns = ", ".join(f"{naming.quote(c)} {_type(conn, t)}" for c, t in ds.columns.items())
    conn.execute(f"create table if not exists {_relation(ds)} ({columns})")


def _type(conn, pg_type: str) -> str:
    # PostgreSQL names DuckDB lacks (jsonb, USER-DEFINED) bind as text: only names matter here
    try:
        conn.execute(f"select cast(null as {pg_type})")
    except duckdb.Error:
        return "varchar"
    return pg_type
