"""The anonymized layer: one ephemeral model per dataset applying the rules column by
column through the `anonymize` macro, and the YAML `meta` that tags every PII column with
its rule and strategy (dbt docs shows it; a per-column override goes in meta.datamig.override).

Free text (`scrub_text`, and the free text in `jsonb` documents) loses the row's own names and
the names of the people the row points at: the parents reachable through foreign keys and config links (up to MAX_HOPS, each joined
on a key, so a LEFT JOIN never adds or drops a row), and for a graph node its neighbours through
one relationship (aggregated per node). A note about a student says the student's name."""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from ..anonymize.rules import Planned, RuleSet
from ..quoting import jinja_literal, sql_literal as sql_string
from . import describe, naming
from .layout import Dataset
from .staging import HEADER

NAME_PROVIDERS = {"first_name", "last_name", "name"}
FREE_TEXT = ("scrub_text", "jsonb")  # what loses the row's names (jsonb: its documents' free text)
MAX_HOPS = 2
PARENT_NAMES = "dm_parent_names"
INDENT = "    "


def plan(ds: Dataset, rules: RuleSet, meta_overrides: dict[str, Any]) -> dict[str, Planned]:
    overrides: dict[str, Any] = dict(rules.overrides_for(ds.id))
    overrides.update(meta_overrides)
    return rules.plan_table(ds.columns, overrides, table=ds.id)


def name_columns(planned: dict[str, Planned]) -> list[str]:
    """The row's own person-name columns (faker first_name / last_name / name)."""
    return [c for c, p in planned.items() if p.strategy == "faker" and p.provider in NAME_PROVIDERS]


def person_name_columns(planned: dict[str, Planned]) -> list[str]:
    """Name columns of a related dataset worth removing from this row's free text. A bare
    `name` column is left out: the rules fake it by default (privacy by default), but on a
    parent it is mostly a lookup's label (a state, a grade, a subject, a clinic), and scrubbing
    "Grade" or "Health Office" out of every note would destroy the notes."""
    return [c for c in name_columns(planned) if c != "name"]


@dataclass(frozen=True)
class ParentJoin:
    """A parent row joined on its key: `alias` is `model`, `child.column = alias.column` for each pair."""
    alias: str
    model: str
    child: str
    on: tuple[tuple[str, str], ...]
    names: tuple[str, ...]


@dataclass(frozen=True)
class NeighbourNames:
    """Names of the graph nodes related to a node through one relationship, one string per node."""
    alias: str
    rel_model: str
    node_model: str
    own_end: str          # start | end: which end of the relationship is the scrubbed node
    own_label: str
    own_key: str
    other_label: str
    other_key: str
    names: tuple[str, ...]


def _alias(base: str, used: set[str]) -> str:
    base = re.sub(r"[^a-z0-9_]+", "_", base.lower()).strip("_") or "parent"
    if not base[0].isalpha():
        base = "p_" + base
    alias, n = base, 2
    while alias in used or alias in ("src", "named", "rel", "node"):
        alias, n = f"{base}_{n}", n + 1
    used.add(alias)
    return alias


def _fk_alias(prefix: str, columns: tuple[str, ...]) -> str:
    name = "_".join(re.sub(r"_(id|key)$", "", c) for c in columns)
    return f"{prefix}_{name}" if prefix else name


def parent_joins(ds: Dataset, by_id: dict[str, Dataset], plans: dict[str, dict[str, Planned]],
                 max_hops: int = MAX_HOPS) -> list[ParentJoin]:
    """Parents (FKs and links, child -> parent only, joined on the parent's key or a unique key)
    up to `max_hops` away, keeping the ones with person names and the ones leading to them."""
    used: set[str] = set()
    found: list[ParentJoin] = []       # breadth first: a join comes after the one it hangs from
    frontier = [("src", ds, "", 0)]
    while frontier:
        alias, current, prefix, depth = frontier.pop(0)
        if depth == max_hops:
            continue
        for fk in sorted(current.foreign_keys, key=lambda f: (f.columns, f.parent, f.ref_columns)):
            parent = by_id.get(fk.parent)
            if parent is None or parent.id not in plans or not parent.is_key(fk.ref_columns):
                continue
            label = _fk_alias(prefix, fk.columns)
            join = ParentJoin(alias=_alias(label, used), model=naming.staging(parent.store, parent.name),
                              child=alias, on=tuple(zip(fk.columns, fk.ref_columns)),
                              names=tuple(person_name_columns(plans[parent.id])))
            found.append(join)
            frontier.append((join.alias, parent, label, depth + 1))
    # keep a join if it has names or a kept join hangs from it (walk from the deepest)
    keep: set[str] = set()
    for join in reversed(found):
        if join.names or any(j.child == join.alias and j.alias in keep for j in found):
            keep.add(join.alias)
    return [join for join in found if join.alias in keep]


def neighbour_names(ds: Dataset, sets: list[Dataset], plans: dict[str, dict[str, Planned]]) -> list[NeighbourNames]:
    """For a graph node: its neighbours with person names, through each relationship type."""
    if ds.kind != "node":
        return []
    nodes = {d.graph_name: d for d in sets if d.kind == "node" and d.store == ds.store}
    used: set[str] = set()
    out = []
    for rel in sorted((d for d in sets if d.kind == "relationship" and d.store == ds.store), key=lambda d: d.name):
        for start, end in rel.ends:
            for own_end, other_label in (("start", end), ("end", start)):
                own_label = start if own_end == "start" else end
                other = nodes.get(other_label)
                if own_label != ds.graph_name or other is None or other.id not in plans:
                    continue
                names = person_name_columns(plans[other.id])
                own_key, other_key = ds.key[0], other.key[0]
                key_type = rel.columns.get("start_key")
                if not names or {ds.columns.get(own_key), other.columns.get(other_key)} != {key_type}:
                    continue
                direction = "" if own_end == "start" else "_from"
                out.append(NeighbourNames(
                    alias=_alias(f"{rel.graph_name}{direction}_{other_label}", used),
                    rel_model=naming.staging(rel.store, rel.name), node_model=naming.staging(other.store, other.name),
                    own_end=own_end, own_label=own_label, own_key=own_key, other_label=other_label,
                    other_key=other_key, names=tuple(names)))
    return out


def _expr(column: str, planned: Planned, name_columns: list[str]) -> str:
    ident = naming.quote(column)
    if planned.rule is None or planned.strategy == "preserve":
        return f"{INDENT}{ident}"
    kwargs = dict(planned.rule.macro_kwargs())
    if planned.strategy in FREE_TEXT and name_columns:
        kwargs["names"] = name_columns
    args = ", ".join(f"{k}={jinja_literal(v)}" for k, v in kwargs.items())
    return f"{INDENT}{{{{ anonymize({jinja_literal(ident)}, {args}) }}}} as {ident}"


def _lines(items: list[str], indent: str, sep: str = ",") -> str:
    return (sep + "\n").join(indent + item for item in items)


def _neighbour_cte(n: NeighbourNames) -> str:
    own, other = ("start", "end") if n.own_end == "start" else ("end", "start")
    labels = {own: n.own_label, other: n.other_label}
    name = ("concat_ws(' ', " + ", ".join(f"node.{naming.quote(c)}" for c in n.names) + ")"
            if len(n.names) > 1 else f"node.{naming.quote(n.names[0])}")
    key = naming.quote(n.own_key)
    # the names in key order, as string_agg(name, ' ' order by key) gives them: a sorted list of
    # (key, name) costs ~1/4 of DuckDB's ordered aggregate, which sorts each group on its own.
    # (sqlfluff takes the lambda's parameter for a column: RF02 is off for the line.)
    pairs = f"list_sort(list(row(node.{naming.quote(n.other_key)}, {name})))"
    return (f"{n.alias} as (\n{INDENT}select\n"
            f"{INDENT * 2}rel.{own}_key as {key},\n"
            f"{INDENT * 2}array_to_string(list_transform({pairs}, lambda p: struct_extract(p, 2)), ' ') as names"
            f"  -- noqa: RF02\n"
            f"{INDENT}from {{{{ ref('{n.rel_model}') }}}} as rel\n"
            f"{INDENT}inner join {{{{ ref('{n.node_model}') }}}} as node\n"
            f"{INDENT * 2}on rel.{other}_key = node.{naming.quote(n.other_key)}\n"
            f"{INDENT}where\n{INDENT * 2}rel.start_label = {sql_string(labels['start'])}\n"
            f"{INDENT * 2}and rel.end_label = {sql_string(labels['end'])}\n"
            f"{INDENT}group by rel.{own}_key\n)")




def _named_cte(ds: Dataset, joins: list[ParentJoin], neighbours: list[NeighbourNames], column: str) -> str:
    names = [f"{j.alias}.{naming.quote(c)}" for j in joins for c in j.names]
    names += [f"{n.alias}.names" for n in neighbours]
    body = [f"from {{{{ ref('{naming.staging(ds.store, ds.name)}') }}}} as src"]
    for j in joins:
        cond = f"\n{INDENT * 2}and ".join(f"{j.child}.{naming.quote(c)} = {j.alias}.{naming.quote(p)}" for c, p in j.on)
        body.append(f"left join {{{{ ref('{j.model}') }}}} as {j.alias}\n{INDENT}on {cond}")
    for n in neighbours:
        key = naming.quote(n.own_key)
        body.append(f"left join {n.alias}\n{INDENT}on src.{key} = {n.alias}.{key}")
    joined = ("concat_ws(\n" + _lines(["' '", *names], INDENT * 3) + f"\n{INDENT * 2})"
              if len(names) > 1 else names[0])
    # materialized: the left joins' probes hand the projection chunks of ~1-250 rows beside the
    # full ones (6 per 2,048 rows in ids__students), and each UDF call costs the same whatever
    # its rows, while a chunk under udf_workers.MIN_ROWS is anonymized in the dbt process, under
    # its GIL. Read back from the materialized CTE, the projection gets full chunks again.
    return (f"named as materialized (\n{INDENT}select\n{INDENT * 2}src.*,\n{INDENT * 2}{joined} as {column}\n"
            + "\n".join(_lines(b.split("\n"), INDENT, "") for b in body) + "\n)")


def anonymized_sql(ds: Dataset, planned: dict[str, Planned], sets: list[Dataset] | None = None,
                   plans: dict[str, dict[str, Planned]] | None = None) -> str:
    """The model of one dataset. With `sets` and `plans` (every dataset and its plan), free text
    also loses the names of related people (see the module docstring)."""
    names = [naming.quote(c) for c in name_columns(planned)]
    source = f"{{{{ ref('{naming.staging(ds.store, ds.name)}') }}}}"
    ctes: list[str] = []
    if sets is not None and plans is not None and any(p.strategy in FREE_TEXT for p in planned.values()):
        by_id = {d.id: d for d in sets}
        joins = parent_joins(ds, by_id, plans)
        neighbours = neighbour_names(ds, sets, plans)
        if joins or neighbours:
            column = PARENT_NAMES
            while column in ds.columns:
                column = "_" + column
            ctes = [_neighbour_cte(n) for n in neighbours] + [_named_cte(ds, joins, neighbours, column)]
            names.append(column)
            source = "named"
    cols = ",\n".join(_expr(c, planned[c], names) for c in ds.columns)
    with_ = ("-- free text also loses the names of the people this row points at\nwith "
             + ",\n\n".join(ctes) + "\n\n") if ctes else ""
    return (f"{HEADER}{{{{ config(materialized='ephemeral') }}}}\n\n{with_}select\n{cols}\nfrom {source}\n")


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


def column_tags(planned: Planned) -> dict:
    """{"tags": [...]} for a column anonymized (what `dbt docs` and `--select tag:pii` find), else {}."""
    if planned.rule is None or planned.strategy == "preserve":
        return {}
    return {"tags": ["pii", f"rule:{planned.rule.name}", f"strategy:{planned.strategy}"]}


def anonymized_models_yaml(ds: Dataset, planned: dict[str, Planned], meta_overrides: dict[str, Any]) -> dict:
    columns = []
    for column, data_type in ds.columns.items():
        p = planned[column]
        entry = {"name": column, "data_type": data_type,
                 "description": describe.column(ds.column_comments.get(column, ""), p),
                 "meta": column_meta(p, meta_overrides.get(column)), **column_tags(p)}
        columns.append(entry)
    return {"name": naming.anonymized(ds.store, ds.name),
            "description": describe.joined(f"{ds.id} with every PII column replaced per "
                                           "config/anonymization-rules.yaml", describe.jinja_safe(ds.comment)),
            "columns": columns}
