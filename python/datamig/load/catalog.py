"""CERT's catalog as the loader needs it: the analyze phase's tables and foreign keys, plus the
column facts that decide how a column may be written (default, identity, generated)."""
from __future__ import annotations

from dataclasses import dataclass, field

from ..analyze.model import ForeignKey, Table
from ..analyze.pg_introspect import connect_read_only, introspect_postgres
from ..config import StoreConfig

_COLUMN_FACTS = """
SELECT c.relname, a.attname, a.atthasdef, a.attidentity, a.attgenerated,
       CASE WHEN ty.typtype = 'd' THEN format_type(ty.typbasetype, ty.typtypmod)
            WHEN el.typtype = 'd' THEN format_type(el.typbasetype, el.typtypmod) || '[]' END
FROM pg_attribute a
JOIN pg_type ty ON ty.oid = a.atttypid
LEFT JOIN pg_type el ON el.oid = ty.typelem AND ty.typcategory = 'A'  -- an array of a domain: its base's array
JOIN pg_class c ON c.oid = a.attrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = %(schema)s AND c.relkind IN ('r', 'p') AND a.attnum > 0 AND NOT a.attisdropped
"""


@dataclass(frozen=True)
class ColumnFacts:
    has_default: bool
    identity: str   # '' | 'a' (ALWAYS) | 'd' (BY DEFAULT)
    generated: bool  # GENERATED ALWAYS AS (...) STORED: never written
    base_type: str = ""  # a domain's base type (format_type), or its array's: a domain over jsonb is carried as jsonb


@dataclass
class StoreCatalog:
    store: StoreConfig
    tables: dict[str, Table]                  # by table name
    fks: list[ForeignKey]
    facts: dict[tuple[str, str], ColumnFacts] = field(default_factory=dict)  # (table, column)

    def fact(self, table: str, column: str) -> ColumnFacts:
        return self.facts.get((table, column), ColumnFacts(False, "", False))

    def base_types(self, table: str) -> dict[str, str]:
        """column -> base type, for the table's columns of a domain type or an array of one."""
        return {c.name: self.fact(table, c.name).base_type for c in self.tables[table].columns
                if self.fact(table, c.name).base_type}


def read_catalog(store: StoreConfig, url: str) -> StoreCatalog:
    """Read-only: a failed drift check must leave CERT exactly as it was."""
    tables, fks = introspect_postgres(store, url)
    catalog = StoreCatalog(store=store, tables={t.name: t for t in tables}, fks=fks)
    with connect_read_only(store, url) as conn:
        for table, column, has_default, identity, generated, base_type in conn.execute(
                _COLUMN_FACTS, {"schema": store.schema}):
            catalog.facts[(table, column)] = ColumnFacts(bool(has_default), identity or "", bool(generated),
                                                         base_type or "")
    return catalog
