"""`datamig select-districts`: district-manifest.json and district-selection-report.md."""
from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from pathlib import Path

from ..analyze.artifacts import atomic_write
from ..config import Config
from .metrics import measure
from .scoring import Filters, rank


def select_districts(cfg: Config, env: Mapping[str, str], out_dir: Path, top: int | None = None,
                     progress: Callable[[str], None] | None = None) -> dict:
    filters = Filters(**cfg.selection.get("filters", {}))
    top = top or cfg.selection.get("top", 15)
    result = rank(measure(cfg, env, progress), filters, top)
    out_dir.mkdir(parents=True, exist_ok=True)
    atomic_write(out_dir / "district-manifest.json", json.dumps(result, indent=2))
    atomic_write(out_dir / "district-selection-report.md", report_markdown(result))
    return result


# A small estate (the demo's) has no district of a real pilot's size: say why none is recommended
NONE_ELIGIBLE = ("none: no district passes the filters (the eligible column says which each fails; "
                 "`selection.filters` in config/datamig.yaml sets them)")


def recommended_text(result: dict) -> str:
    return ", ".join(map(str, result["recommended"])) or NONE_ELIGIBLE


def pilots_text(result: dict, sep: str) -> str:
    """`large<sep>3, medium<sep>none eligible, ...`"""
    return ", ".join(f"{k}{sep}{v if v is not None else 'none eligible'}" for k, v in result["pilots"].items())


def report_markdown(result: dict) -> str:
    f = result["filters"]
    lines = [
        "# District selection", "",
        "score = 0.40 x size + 0.30 x activity + 0.20 x completeness + 0.10 x business priority; "
        "size = min(100, records / 1,000,000 x 100); activity = min(100, rows updated in 30 days / 10,000 x 100); "
        "completeness = % of required cells (config `selection.required_fields`) neither NULL nor empty.", "",
        f"Filters: students >= {f['min_students']:,}, schools >= {f['min_schools']}, records "
        f"{f['min_records']:,}-{f['max_records']:,}, completeness >= {f['min_completeness']}, "
        f"activity in the last 30 days: {'required' if f['require_recent_activity'] else 'not required'}.", "",
        "Pilots: " + pilots_text(result, ": "), "", "Recommended: " + recommended_text(result), "",
        "| district | name | score | class | students | schools | staff | records | updates 30d | completeness | eligible |",
        "|---:|---|---:|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in result["districts"]:
        why = "yes" if r["eligible"] else "no: " + "; ".join(r["failed_filters"])
        lines.append(f"| {r['district']} | {r['name']} | {r['score']} | {r['size_class']} | {r['students']:,} | "
                     f"{r['schools']:,} | {r['staff']:,} | {r['total_records']:,} | {r['updates_30d']:,} | "
                     f"{r['completeness']} | {why} |")
    return "\n".join(lines) + "\n"
