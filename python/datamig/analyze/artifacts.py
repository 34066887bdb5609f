"""Render the analysis as files (JSON, Mermaid, Graphviz) and write them atomically.

Everything is rendered in memory first and each file is written to a temporary name in
the same directory, then renamed over the target: a reader (or a failed run) never sees a
half-written artifact.
"""
from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path

from .dependency import DependencyPlan
from .model import Estate, ForeignKey

SCHEMA_ANALYSIS = "schema-analysis.json"
MERMAID = "dependency-graph.mmd"
DOT = "dependency-graph.dot"
EXTRACTION_ORDER = "extraction-order.json"


def render_artifacts(estate: Estate, plan: DependencyPlan, summary: dict, warnings: dict) -> dict[str, str]:
    """File name -> content for every artifact of the analyze phase."""
    analysis = {**estate.to_dict(), "cycles": [c.to_dict() for c in plan.cycles],
                "summary": summary, "warnings": warnings}
    return {
        SCHEMA_ANALYSIS: _json(analysis),
        MERMAID: mermaid(plan),
        DOT: dot(plan),
        EXTRACTION_ORDER: _json(plan.to_dict()),
    }


def write_artifacts(out_dir: Path, files: Mapping[str, str]) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    return [atomic_write(out_dir / name, text) for name, text in files.items()]


def atomic_write(path: Path, text: str) -> Path:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _json(data: object) -> str:
    return json.dumps(data, indent=2, sort_keys=False, default=str) + "\n"


def _edges(plan: DependencyPlan):
    """(child, parent, label, logical, broken) per edge, in a stable order."""
    broken = plan.broken_fks()
    for child, parent in sorted(plan.graph.edges):
        fks: list[ForeignKey] = plan.graph.edges[child, parent]["fks"]
        label = ", ".join(sorted("link" if not fk.declared else fk.name for fk in fks))
        logical = all(not fk.declared for fk in fks)
        yield child, parent, label, logical, any(fk.name in broken for fk in fks)


def _by_store(plan: DependencyPlan) -> dict[str, list[str]]:
    stores: dict[str, list[str]] = {}
    for node in sorted(plan.graph.nodes):
        stores.setdefault(node.split(".", 1)[0], []).append(node)
    return stores


def mermaid(plan: DependencyPlan) -> str:
    # Node ids are positional so no table name can clash with Mermaid syntax.
    ids = {node: f"t{i}" for i, node in enumerate(sorted(plan.graph.nodes))}
    lines = ["flowchart LR"]
    for store, nodes in _by_store(plan).items():
        lines.append(f'  subgraph s_{store}["{_mm(store)}"]')
        lines += [f'    {ids[n]}["{_mm(n)}"]' for n in nodes]
        lines.append("  end")
    for child, parent, label, logical, broken in _edges(plan):
        text = _mm(label + (" (broken)" if broken else ""))
        arrow = "-.->" if logical else "-->"
        lines.append(f'  {ids[child]} {arrow}|"{text}"| {ids[parent]}')
    return "\n".join(lines) + "\n"


def dot(plan: DependencyPlan) -> str:
    lines = ["digraph dependencies {", "  rankdir=LR;", "  node [shape=box];"]
    for store, nodes in _by_store(plan).items():
        lines.append(f"  subgraph {_dq('cluster_' + store)} {{")
        lines.append(f"    label={_dq(store)};")
        lines += [f"    {_dq(n)};" for n in nodes]
        lines.append("  }")
    for child, parent, label, logical, broken in _edges(plan):
        attrs = [f"label={_dq(label)}"]
        if logical:
            attrs.append("style=dashed")
        if broken:
            attrs.append("color=red")
        lines.append(f"  {_dq(child)} -> {_dq(parent)} [{', '.join(attrs)}];")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _mm(text: str) -> str:
    return text.replace('"', "#quot;")


def _dq(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
