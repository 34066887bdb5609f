"""The anonymized layer: one ephemeral model per dataset applying the rules column by
column through the `anonymize` macro, and the YAML `meta` that tags every PII column with
its rule and strategy (dbt docs shows it; a per-column override goes in meta.datamig.override)."""
from __future__ import annotations

from typing import Any

from ..anonymize.rules import Planned, RuleSet
from . import naming
from .layout import Dataset
from .staging import HEADER

NAME_PROVIDERS = {"first_name", "last_name", "name"}


def jinja_literal(value: Any) -> str:
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


def plan(ds: Dataset, rules: RuleSet, meta_overrides: dict[str, Any]) -> dict[str, Planned]:
    overrides: dict[str, Any] = dict(rules.overrides_for(ds.id))
    overrides.update(meta_overrides)
    return rules.plan_table(ds.columns, overrides, table=ds.id)


def _expr(column: str, planned: Planned, name_columns: list[str]) -> str:
    ident = naming.quote(column)
    if planned.rule is None or planned.strategy == "preserve":
        return f"    {ident}"
    kwargs = dict(planned.rule.macro_kwargs())
    if planned.strategy == "scrub_text" and name_columns:
        kwargs["names"] = [naming.quote(c) for c in name_columns]
    args = ", ".join(f"{k}={jinja_literal(v)}" for k, v in kwargs.items())
    return f"    {{{{ anonymize({jinja_literal(ident)}, {args}) }}}} as {ident}"


def anonymized_sql(ds: Dataset, planned: dict[str, Planned]) -> str:
    # The row's own names are scrubbed out of its free text (a note that says "Zoë missed ...").
    names = [c for c, p in planned.items() if p.strategy == "faker" and p.provider in NAME_PROVIDERS]
    cols = ",\n".join(_expr(c, planned[c], names) for c in ds.columns)
    return (f"{HEADER}{{{{ config(materialized='ephemeral') }}}}\n\nselect\n{cols}\n"
            f"from {{{{ ref('{naming.staging(ds.store, ds.name)}') }}}}\n")


def column_meta(planned: Planned, override: Any = None) -> dict:
    meta: dict[str, Any] = {}
    if planned.rule is None:
        meta = {"pii": False, "rule": None}
    else:
        meta = {"pii": planned.strategy != "preserve", "rule": planned.rule.name, "strategy": planned.strategy}
        if planned.provider:
            meta["provider"] = planned.provider
        if planned.domain:
            meta["domain"] = planned.domain
    if override is not None:
        meta["override"] = override
    return {"datamig": meta}


def anonymized_models_yaml(ds: Dataset, planned: dict[str, Planned], meta_overrides: dict[str, Any]) -> dict:
    columns = []
    for column, data_type in ds.columns.items():
        p = planned[column]
        entry = {"name": column, "data_type": data_type, "meta": column_meta(p, meta_overrides.get(column))}
        if p.rule is not None and p.strategy != "preserve":
            entry["tags"] = ["pii", f"rule:{p.rule.name}", f"strategy:{p.strategy}"]
        columns.append(entry)
    return {"name": naming.anonymized(ds.store, ds.name),
            "description": f"{ds.id} with every PII column replaced per config/anonymization-rules.yaml",
            "columns": columns}
