"""The names a table or node label may have to become dbt models: letters (any alphabet, either
case), digits, underscores and dollar signs, as PostgreSQL takes them unquoted.

Such a name is a dataset's model names (`stg_ids__<table>`, `ids__<table>`), its model files and
its Parquet files. A space stopped dbt's parse ("Resource names cannot contain spaces"), a quote
ended the Jinja strings of ref() and source(), a dot split the name of the CTE dbt made of its
staging model, a hyphen failed a model's SQL, and Jinja (`{{ env_var('DATAMIG_SALT') }}`) sat in
models dbt renders. Refused before anything is written rather than carried, in one line naming it.
"""
from __future__ import annotations

import re
from collections.abc import Iterable

from .quoting import holds_jinja

_PLAIN = re.compile(r"[\w$]+")


def name_problem(name: str) -> str | None:
    """Why `name` cannot name a dataset's models and files, or None when it can."""
    if holds_jinja(name):
        return "holds Jinja ('{{', '{%' or '{#'), which dbt would run in the models naming it"
    if not _PLAIN.fullmatch(name):
        return ("has a character dbt model and file names cannot carry (they take letters, digits, "
                "underscores and $)")
    return None


def case_clash(names: Iterable[str]) -> tuple[str, str] | None:
    """Two names that differ only in case: DuckDB, where the models are tables, folds them into one."""
    seen: dict[str, str] = {}
    for name in sorted(names):
        other = seen.setdefault(name.lower(), name)
        if other != name:
            return other, name
    return None
