"""Anonymization coverage: how every column of the anonymized layer is treated, from the
scaffolded YAML (`meta.datamig` per column) or, failing that, dbt's target/manifest.json.

Names and counts only: which rule and strategy each column got, and which columns may hold
PII with no rule (flagged `pii: true` without a rule, or whose sampled values looked like
PII to the transform's scan, as listed in the validation report).
"""
from __future__ import annotations

from collections import Counter
from pathlib import Path

import yaml

from ..runfiles import read_json_or_none
from ..yaml_lines import load_data

INTERMEDIATE = Path("dbt_project") / "intermediate"
MANIFEST = Path("target") / "manifest.json"
PREFIX, SUFFIX = "int_", "_anonymized"


def _table_of(model: str) -> str:
    """int_<store>__<table>_anonymized -> store.table (other names as they are)."""
    if model.startswith(PREFIX) and model.endswith(SUFFIX) and "__" in model:
        store, _, table = model[len(PREFIX):-len(SUFFIX)].partition("__")
        return f"{store}.{table}"
    return model


def _from_yaml(root: Path) -> list[tuple[str, str, dict]]:
    columns = []
    for path in sorted((root / INTERMEDIATE).glob("*/_*__intermediate.yml")):
        try:
            doc = load_data(path.read_text()) or {}
        except (OSError, yaml.YAMLError):
            continue
        for model in doc.get("models") or []:
            name = str(model.get("name", ""))
            if not name.endswith(SUFFIX):
                continue
            for col in model.get("columns") or []:
                meta = ((col.get("meta") or {}).get("datamig")) or {}
                columns.append((_table_of(name), str(col.get("name")), meta))
    return columns


def _from_manifest(path: Path) -> list[tuple[str, str, dict]]:
    doc = read_json_or_none(path)
    if doc is None:
        return []
    columns = []
    for node in (doc.get("nodes") or {}).values():
        name = str(node.get("name", ""))
        if node.get("resource_type") != "model" or not (name.startswith(PREFIX) and name.endswith(SUFFIX)):
            continue
        for col in (node.get("columns") or {}).values():
            meta = ((col.get("meta") or {}).get("datamig")) or {}
            columns.append((_table_of(name), str(col.get("name")), meta))
    return columns


def coverage(root: Path, validation: dict | None = None, run_dir: Path | None = None) -> dict:
    """From the checkout's YAML, else the run's own dbt/manifest.json, else target/manifest.json."""
    source = f"{INTERMEDIATE}/*/_*__intermediate.yml"
    columns = _from_yaml(root)
    for path in ([run_dir / "dbt" / "manifest.json"] if run_dir else []) + [root / MANIFEST]:
        if columns:
            break
        columns, source = _from_manifest(path), str(path)
    if not columns:
        return {"available": False, "note": f"no column classification found under {root / INTERMEDIATE} "
                                            f"or in {root / MANIFEST}"}
    by_rule, by_strategy, pairs, per_store = Counter(), Counter(), Counter(), {}
    flagged = []
    for table, column, meta in columns:
        rule, strategy, pii = meta.get("rule"), meta.get("strategy"), bool(meta.get("pii"))
        rule_name = str(rule) if rule is not None else "(no rule)"
        strategy_name = str(strategy) if strategy else ("-" if rule is None else "preserve")
        by_rule[rule_name] += 1
        by_strategy[strategy_name] += 1
        pairs[(rule_name, strategy_name)] += 1
        store = per_store.setdefault(table.split(".")[0], {"columns": 0, "pii": 0, "unclassified": 0})
        store["columns"] += 1
        store["pii"] += pii
        store["unclassified"] += rule is None
        if pii and rule is None:
            flagged.append({"column": f"{table}.{column}", "reason": "marked pii in meta.datamig but no rule applies"})
    scan = (validation or {}).get("pii_scan")
    for warning in (scan if isinstance(scan, list) else (validation or {}).get("pii_warnings") or []):
        flagged.append(_pii_warning(warning))
    return {
        "available": True,
        "source": source,
        "tables": len({t for t, _, _ in columns}),
        "columns": len(columns),
        "pii_columns": sum(1 for _, _, m in columns if m.get("pii")),
        "unclassified_columns": by_rule.get("(no rule)", 0),
        "by_rule": dict(sorted(by_rule.items(), key=lambda kv: (-kv[1], kv[0]))),
        "by_strategy": dict(sorted(by_strategy.items(), key=lambda kv: (-kv[1], kv[0]))),
        "by_rule_strategy": [{"rule": r, "strategy": s, "columns": n}
                             for (r, s), n in sorted(pairs.items(), key=lambda kv: (-kv[1], kv[0]))],
        "per_store": dict(sorted(per_store.items())),
        "possible_pii_without_rule": flagged,
        "fakes": _fakes((validation or {}).get("anonymization")),
    }


def _fakes(provenance) -> dict | None:
    """The dictionaries the transform picked fakes from (dictionaries.provenance), when it said."""
    if not isinstance(provenance, dict) or not isinstance(provenance.get("dictionaries_sha256"), str):
        return None
    return {k: provenance.get(k) for k in ("dictionaries_sha256", "faker", "locale", "dictionary_seed")}


def _pii_warning(item) -> dict:
    """A value-shape finding of the transform's scan: counts only (`Finding` fields)."""
    if not isinstance(item, dict):
        return {"column": str(item)[:200], "reason": "values look like PII"}
    shape, how = item.get("shape", "PII"), item.get("how", "whole")
    matched, sampled = item.get("matched"), item.get("sampled")
    verb = "are" if how == "whole" else "contain"
    counts = f"{matched}/{sampled} sampled values " if matched is not None and sampled is not None else "values "
    return {"column": str(item.get("column", "?")), "reason": f"{counts}{verb} {shape}s; no rule applies"}
