"""The analyze phase: introspect every store, plan the dependencies, write the artifacts.

All introspection and rendering happens before the first file is written, so a store that
cannot be reached or a bad link leaves out_dir as it was.
"""
from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from rich.table import Table as RichTable

from ..config import Config
from ..config.env import graph_login
from .artifacts import render_artifacts, write_artifacts
from .dependency import DependencyPlan, plan_dependencies
from .estate import check_config_names, check_table_names, introspect_estate
from .model import Estate, GraphSchema
from .neo4j_introspect import introspect_neo4j


def analyze(cfg: Config, env: Mapping[str, str], out_dir: Path, target: str = "prod") -> dict:
    """Introspect the `target` estate ("prod" or "cert"), write the artifacts, return the summary."""
    kept, kept_fks, warnings = introspect_estate(cfg, env, target)
    if target == "prod":  # the tables the models are made of; CERT's are only looked at
        check_table_names(kept)
        # else a misspelt exclusion or district key is analyzed as if meant, and only the extract says so
        check_config_names(cfg, kept, kept_fks, warnings)
    graphs = _introspect_graphs(cfg, env, target)
    estate = Estate(tables=kept, foreign_keys=kept_fks, graphs=graphs)
    plan = plan_dependencies(kept, kept_fks)
    summary = summarize(cfg, estate, plan, target)
    files = render_artifacts(estate, plan, summary, warnings)
    summary["artifacts"] = [str(p) for p in write_artifacts(Path(out_dir), files)]
    return summary


def _introspect_graphs(cfg: Config, env: Mapping[str, str], target: str) -> dict[str, GraphSchema]:
    graphs = {}
    for store in cfg.neo4j_stores():
        # the user `neo4j` unless set, as extract, load and validate-migration read it (analyze
        # alone required it: "PROD_SP_USER is not set" where extract went on)
        graphs[store.name] = introspect_neo4j(store, *graph_login(env, store, target))
    return graphs


def summarize(cfg: Config, estate: Estate, plan: DependencyPlan, target: str) -> dict:
    stores = {}
    for store in cfg.stores.values():
        if store.kind == "postgres":
            stores[store.name] = _postgres_summary(store.name, estate)
        else:
            stores[store.name] = _graph_summary(estate.graphs.get(store.name))
    return {
        "target": target,
        "stores": stores,
        "cycles": len([c for c in plan.cycles if len(c.members) > 1]),
        "self_references": sum(len(c.self_references) for c in plan.cycles),
        "unbreakable_cycles": len([c for c in plan.cycles if not c.breakable]),
        "broken_fks": sorted(plan.broken_fks()),
        "excluded_tables": sorted(cfg.exclude_tables),
    }


def _postgres_summary(store: str, estate: Estate) -> dict:
    tables = [t for t in estate.tables.values() if t.store == store]
    fks = [fk for fk in estate.foreign_keys if fk.store == store]
    return {
        "kind": "postgres",
        "tables": len(tables),
        "columns": sum(len(t.columns) for t in tables),
        "foreign_keys": len([fk for fk in fks if fk.declared]),
        "links": len([fk for fk in fks if not fk.declared]),
        "rows": sum(t.row_estimate for t in tables),
        "size_bytes": sum(t.size_bytes for t in tables),
    }


def _graph_summary(graph: GraphSchema | None) -> dict:
    graph = graph or GraphSchema(store="")
    return {
        "kind": "neo4j",
        "labels": len(graph.labels),
        "relationship_types": len({r.type for r in graph.relationships}),
        "constraints": len(graph.constraints),
        "relationships": sum(r.count for r in graph.relationships),
    }


def summary_table(summary: dict) -> RichTable:
    """The summary as a Rich table, one row per store, for the CLI to print."""
    table = RichTable(title=f"datamig analyze ({summary['target']})")
    for header in ("store", "kind", "tables / labels", "columns", "FKs / rel types", "links", "rows"):
        table.add_column(header, justify="left" if header in ("store", "kind") else "right")
    for name, s in summary["stores"].items():
        if s["kind"] == "postgres":
            table.add_row(name, s["kind"], str(s["tables"]), str(s["columns"]), str(s["foreign_keys"]),
                          str(s["links"]), f"{s['rows']:,}")
        else:
            table.add_row(name, s["kind"], str(s["labels"]), "", str(s["relationship_types"]), "",
                          f"{s['relationships']:,} rels")
    table.caption = (f"cycles: {summary['cycles']} (unbreakable: {summary['unbreakable_cycles']}), "
                     f"self-references: {summary['self_references']}")
    return table
