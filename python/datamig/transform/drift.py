"""The drift gate, run before dbt: the run's extract must hold exactly what the scaffolded
models expect.

An extracted table, column or graph property that no model knows would pass through
unclassified (or be silently dropped), so it stops the run with one line naming it. A model
column the extract lacks would break dbt with a binder error; it is named the same way.
Unclassified text columns whose sampled VALUES look like PII (emails, phones, SSNs) are not
errors, only warnings for the validation report (counts, never values).
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path

import duckdb
import pyarrow.parquet as pq

from ..anonymize import pii_scan
from ..anonymize.rules import RuleSet, type_family
from ..errors import DatamigError
from ..extract.manifest import MANIFEST, check_files, load_manifest
from ..quoting import sql_literal
from ..scaffold import naming
from ..yaml_lines import load_data

MODELS_DIR = "dbt_project"
SHOWN = 5  # drift items named in the one-line error


class SchemaDrift(DatamigError):
    """The extract and the scaffolded models disagree (exit 2: fix the models, not the data)."""


def extracted_columns(extract_dir: Path, manifest: dict) -> dict[str, list[str]]:
    """{store.source_table: columns} of the extract: PostgreSQL tables from the manifest, graph
    labels and types from the Parquet files themselves (their columns are the properties found)."""
    out = {table_id: [c["name"] for c in entry["columns"]] for table_id, entry in manifest["tables"].items()}
    graph = manifest.get("graph") or {}
    for kind in ("nodes", "relationships"):
        for name, entry in (graph.get(kind) or {}).items():
            table = f"{graph['store']}.{naming.graph_table(kind, name)}"
            out[table] = list(pq.read_schema(extract_dir / entry["path"]).names)
    return out


def model_columns(root: Path) -> dict[str, list[str]]:
    """{store.source_table: columns} declared by the scaffolded sources YAML."""
    out: dict[str, list[str]] = {}
    for path in sorted((root / MODELS_DIR / "staging").glob("*/_*__staging.yml")):
        for source in (load_data(path.read_text()) or {}).get("sources", []):
            store = source["name"].removeprefix("prod_")
            for table in source.get("tables", []):
                out[f"{store}.{table['name']}"] = [c["name"] for c in table.get("columns", [])]
    return out


def find_drift(extracted: dict[str, list[str]], models: dict[str, list[str]],
               stores: set[str] = frozenset()) -> tuple[list[str], list[str]]:
    """(extracted but not modelled, modelled but not extracted), as store.table[.column]. A
    model table of `stores` (those whose every table the extract holds: PostgreSQL's, where an
    empty table is still a file; a graph label with no node in the district has none) missing
    from the extract is missing too."""
    unknown = []
    missing = [table for table in sorted(models) if table.split(".")[0] in stores and table not in extracted]
    for table, cols in sorted(extracted.items()):
        if table not in models:
            unknown.append(table)
            continue
        known = set(models[table])
        unknown += [f"{table}.{c}" for c in cols if c not in known]
        have = set(cols)
        missing += [f"{table}.{c}" for c in models[table] if c not in have]
    return unknown, missing


def _names(items: list[str]) -> str:
    shown = ", ".join(items[:SHOWN])
    return shown + (f" (+{len(items) - SHOWN} more)" if len(items) > SHOWN else "")


# Files that passed the gate in this process, as they were then: `datamig transform` checks before
# dbt starts and its dbt plugin (for analysts running dbt alone) would check the same files again.
_PASSED: set[tuple] = set()


def check_drift(root: Path, extract_dir: Path) -> None:
    """Raise SchemaDrift (one line) if the extract and the models disagree."""
    seen = _inputs(root, extract_dir)
    if seen in _PASSED:
        return
    manifest = load_manifest(extract_dir)
    check_files(extract_dir, manifest)  # a file deleted or garbled since the extract, before its columns are read
    extracted = extracted_columns(extract_dir, manifest)
    # a table gone from PROD: its model would fail in dbt, and the run read FAILED (exit 1)
    stores = {entry["store"] for entry in manifest["tables"].values()}
    unknown, missing = find_drift(extracted, model_columns(root), stores)
    refuse_drift(unknown, missing, "the extract")
    if seen:
        _PASSED.add(seen)


def _inputs(root: Path, extract_dir: Path) -> tuple:
    """What the gate reads, by path, size and modification time: an extract written again, a
    Parquet file changed (the graph's columns are read from them) or a scaffold run since makes
    another key."""
    files = [extract_dir / MANIFEST, *sorted(extract_dir.rglob("*.parquet")),
             *sorted((root / MODELS_DIR / "staging").glob("*/_*__staging.yml"))]
    out = []
    for path in files:
        try:
            stat = path.stat()
        except OSError:
            return ()  # gone while read: checked in full, and () is never kept
        out.append((str(path.resolve()), stat.st_size, stat.st_mtime_ns))
    return tuple(out)


def refuse_drift(unknown: list[str], missing: list[str], source: str) -> None:
    """Raise SchemaDrift naming what find_drift found, if anything; `source`: what the models
    were compared with."""
    if unknown:
        verb = "is" if len(unknown) == 1 else "are"
        raise SchemaDrift(f"schema drift: {_names(unknown)} {verb} not in the dbt models: "
                          f"run `datamig scaffold` and classify it")
    if missing:
        verb = "is" if len(missing) == 1 else "are"
        raise SchemaDrift(f"schema drift: {_names(missing)} {verb} in the dbt models but not in {source}: "
                          f"run `datamig scaffold`")


def unclassified_text_columns(root: Path) -> dict[str, list[str]]:
    """{store.source_table: text columns no rule classified}, from the anonymized layer's
    YAML (meta.datamig.rule is null there)."""
    out: dict[str, list[str]] = {}
    for table, model in _anonymized_models(root):
        cols = [c["name"] for c in model.get("columns", [])
                if ((c.get("meta") or {}).get("datamig") or {}).get("rule") is None
                and type_family(c.get("data_type")) in ("text", "text_array", None)]
        if cols:
            out[table] = cols
    return out


def _anonymized_models(root: Path) -> Iterator[tuple[str, dict]]:
    """(store.source_table, model YAML) of every anonymized model."""
    for path in sorted((root / MODELS_DIR / "intermediate").glob("*/_*__intermediate.yml")):
        store = path.parent.name
        prefix, suffix = f"int_{store}__", "_anonymized"
        for model in (load_data(path.read_text()) or {}).get("models", []):
            name = model["name"]
            if name.startswith(prefix) and name.endswith(suffix):
                yield f"{store}.{name[len(prefix):-len(suffix)]}", model


def document_columns(root: Path, rules: RuleSet) -> dict[str, dict[str, list[str]]]:
    """{store.source_table: {jsonb column whose keys are classified (by_key): its configured
    paths}}, from the anonymized layer's YAML and the rule it names."""
    out: dict[str, dict[str, list[str]]] = {}
    for table, model in _anonymized_models(root):
        for c in model.get("columns", []):
            meta = (c.get("meta") or {}).get("datamig") or {}
            rule = rules.rule(meta["rule"]) if meta.get("rule") else None
            if meta.get("strategy") == "jsonb" and rule is not None and rule.options.get("by_key", True):
                paths = [spec["path"] for spec in rule.options.get("paths") or ()]
                out.setdefault(table, {})[c["name"]] = paths
    return out


def _parquet_of(extract_dir: Path, manifest: dict, table: str) -> Path | None:
    if table in manifest["tables"]:
        return extract_dir / manifest["tables"][table]["path"]
    graph = manifest.get("graph") or {}
    for kind in ("nodes", "relationships"):
        for name, entry in (graph.get(kind) or {}).items():
            if f"{graph.get('store')}.{naming.graph_table(kind, name)}" == table:
                return extract_dir / entry["path"]
    return None


def pii_warnings(root: Path, extract_dir: Path, rules: RuleSet, sample_rows: int = 1000) -> list[dict]:
    """Unclassified text columns whose sampled values look like PII: [{column, shape, how,
    matched, sampled}] (counts only)."""
    manifest = load_manifest(extract_dir)
    found = []
    conn = duckdb.connect()
    try:
        for table, cols in sorted(unclassified_text_columns(root).items()):
            path = _parquet_of(extract_dir, manifest, table)
            if path is None or not path.exists():
                continue
            present = set(pq.read_schema(path).names)
            cols = [c for c in cols if c in present]
            relation = f"read_parquet({sql_literal(str(path))})"
            samples = pii_scan.sample_columns(conn, relation, cols, sample_rows)
            # list columns: every element is a value of its own
            flat = {c: [x for v in vals for x in (v if isinstance(v, list) else [v])] for c, vals in samples.items()}
            for finding in pii_scan.scan(flat, rules):
                found.append({**asdict(finding), "column": f"{table}.{finding.column}"})
        found += _document_warnings(conn, root, extract_dir, manifest, rules, sample_rows)
    finally:
        conn.close()
    return sorted(found, key=lambda f: (f["column"], f["shape"]))


def _document_warnings(conn, root: Path, extract_dir: Path, manifest: dict, rules: RuleSet,
                       sample_rows: int) -> list[dict]:
    """JSON documents' keys no rule classifies whose sampled values look like PII; the column
    reads `store.table.column:$.path`."""
    found = []
    for table, columns in sorted(document_columns(root, rules).items()):
        path = _parquet_of(extract_dir, manifest, table)
        if path is None or not path.exists():
            continue
        present = set(pq.read_schema(path).names)
        relation = f"read_parquet({sql_literal(str(path))})"
        samples = pii_scan.sample_columns(conn, relation, [c for c in columns if c in present], sample_rows)
        for column, docs in samples.items():
            values = pii_scan.document_values(docs, rules, columns[column])
            for finding in pii_scan.scan(values, rules):
                found.append({**asdict(finding), "column": f"{table}.{column}:{finding.column}"})
    return found
