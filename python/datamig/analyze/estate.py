"""The PostgreSQL side of an estate as every phase sees it: introspected tables and foreign
keys, the config's links as undeclared foreign keys (checked against every introspected table,
so a typo is named as one and not hidden behind an exclusion), then `exclude_tables` applied.
analyze, select-districts, scaffold and extract all start from here."""
from __future__ import annotations

from collections.abc import Mapping

from ..config import Config
from ..config.env import postgres_setting
from ..dataset_names import case_clash, name_problem
from ..errors import ConfigError
from ..extract.closure import fk_label
from .dependency import links_to_foreign_keys
from .model import ForeignKey, Table
from .pg_introspect import NoSuchSchema, introspect_postgres


def introspect_estate(cfg: Config, env: Mapping[str, str], target: str = "prod"
                      ) -> tuple[dict[str, Table], list[ForeignKey], dict]:
    """(kept tables by id, foreign keys between kept tables, exclusion warnings) of `target`
    ("prod" or "cert")."""
    tables: dict[str, Table] = {}
    fks: list[ForeignKey] = []
    for store in cfg.postgres_stores():
        url = postgres_setting(env, store.env_names(target)[0], store.name)
        try:
            found, store_fks = introspect_postgres(store, url)
        except NoSuchSchema as exc:
            raise cfg.error_at(["stores", store.name, "schema"],
                               f"database {exc.database} ({target.upper()}) has no schema {store.schema!r}") from None
        tables.update((t.id, t) for t in found)
        fks += store_fks
    fks += links_to_foreign_keys(cfg.links, tables)
    return apply_exclusions(tables, fks, cfg.exclude_tables)


def apply_exclusions(tables: Mapping[str, Table], fks: list[ForeignKey], excluded: set[str]
                     ) -> tuple[dict[str, Table], list[ForeignKey], dict]:
    """Drop excluded tables and the FKs out of them; report FKs whose parent is not kept.

    A kept child whose parent is excluded (or lives outside the introspected schema) cannot
    be loaded with referential integrity from the extract alone, so it is a warning to read.
    """
    kept = {tid: t for tid, t in tables.items() if tid not in excluded}
    kept_fks, dangling = [], []
    for fk in fks:
        if fk.child not in kept:
            continue
        (kept_fks if fk.parent in kept else dangling).append(fk)
    warnings = {
        "exclude_tables_not_found": sorted(excluded - set(tables)),
        "dangling_foreign_keys": [
            {"fk": fk.name, "child": fk.child, "parent": fk.parent,
             "reason": "parent excluded" if fk.parent in tables else "parent not introspected"}
            for fk in dangling
        ],
    }
    return kept, kept_fks, warnings


def check_config_names(cfg: Config, tables: Mapping[str, Table], fks: list[ForeignKey], warnings: Mapping) -> None:
    """The tables and foreign keys the config names exist (its schema checks only their stores):
    a misspelt `down_exclude` was ignored in silence and pulled other districts' rows into the
    slice; a misspelt exclusion or lookup table was ignored too. One ConfigError `file:LINE`."""
    check_district_root(cfg, tables)
    labels = {fk_label(fk) for fk in fks}
    traversal = cfg.raw.get("traversal") or {}
    for section in ("down_include", "down_exclude"):
        for i, entry in enumerate(traversal.get(section) or []):
            if entry not in labels:
                table = str(entry).rsplit(".", 1)[0]
                known = sorted(label.rsplit(".", 1)[1] for label in labels if label.rsplit(".", 1)[0] == table)
                raise cfg.error_at(["traversal", section, i],
                                   f"{entry!r} names no foreign key or link of a kept table"
                                   + (f" ({table}'s: {', '.join(known)})" if known else f" (no table {table})"))
    missing = set(warnings.get("exclude_tables_not_found", ()))
    for i, table in enumerate(cfg.raw.get("exclude_tables") or []):
        if table in missing:
            raise cfg.error_at(["exclude_tables", i], f"no table {table!r}")
    for table in cfg.reference_tables:
        if table not in tables and table not in cfg.exclude_tables:
            raise cfg.error_at(["reference_tables", "tables", table], f"no table {table!r}")


def check_district_root(cfg: Config, tables: Mapping[str, Table]) -> None:
    """`district.table` is a kept table of PROD and `district.key` one of its columns: a misspelt
    key was a KeyError traceback in the extract (after its run folder was made), and either was
    psycopg's traceback in select-districts."""
    root = cfg.district
    if root.table_id not in tables:
        excluded = root.table_id in cfg.exclude_tables
        raise cfg.error_at(["district", "table"], f"{root.table_id} is in exclude_tables" if excluded
                           else f"no table {root.table_id!r} in PROD")
    if root.key not in {c.name for c in tables[root.table_id].columns}:
        raise cfg.error_at(["district", "key"], f"{root.table_id} has no column {root.key!r}")


def check_table_names(tables: Mapping[str, Table]) -> None:
    """Every kept table can name its dbt models and files (dataset_names): else one ConfigError
    naming the store and table, before anything is written."""
    hint = "rename it in PROD, or leave it out (exclude_tables)"
    by_store: dict[str, list[str]] = {}
    for table in sorted(tables.values(), key=lambda t: (t.store, t.name)):
        problem = name_problem(table.name)
        if problem:
            raise ConfigError(f"store {table.store}: table {table.name!r} {problem}; {hint}")
        by_store.setdefault(table.store, []).append(table.name)
    for store, names in by_store.items():
        clash = case_clash(names)
        if clash:
            raise ConfigError(f"store {store}: tables {clash[0]!r} and {clash[1]!r} differ only in case, which the "
                              "models' tables in DuckDB do not; rename one in PROD, or leave one out (exclude_tables)")
