"""`datamig validate-migration RUN_ID`: after a load, reconcile counts (extracted = final =
present in CERT) per table, label and relationship type; write post-load-validation.json
(VALID or ISSUES_FOUND)."""
from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from pathlib import Path

from ..config import Config
from ..errors import DatamigError
from . import reconcile


def _manifest(run_dir: Path) -> dict:
    path = run_dir / "extract" / "extraction-manifest.json"
    if not path.exists():
        raise DatamigError(f"run {run_dir.name}: no extraction manifest at {path}")
    return json.loads(path.read_text())


def _tables(cfg: Config, env, run_dir: Path, manifest: dict, progress) -> list[dict]:
    rows = []
    for table_id, entry in sorted(manifest["tables"].items()):
        store = cfg.stores[entry["store"]]
        final = run_dir / "final" / entry["store"] / f"{entry['table']}.parquet"
        key = entry["primary_key"] or [c["name"] for c in entry["columns"]]
        types = {c["name"]: c["pg_type"] for c in entry["columns"]}
        progress(f"reconciling {table_id}")
        final_rows = reconcile.parquet_rows(final) if final.exists() else None
        present = reconcile.pg_present(env[store.cert_env], store.schema, entry["table"], final, key, types) \
            if final.exists() else 0
        ok = entry["rows"] == final_rows == present
        rows.append({"table": table_id, "extracted": entry["rows"], "final": final_rows, "in_cert": present, "ok": ok})
    return rows


def _graph(cfg: Config, env, run_dir: Path, manifest: dict) -> list[dict]:
    graph = manifest.get("graph") or {}
    if not graph or cfg.graph is None:
        return []
    store = cfg.stores[cfg.graph.store]
    url, user, pw = store.env_names("cert")
    present = reconcile.graph_present(env[url], env.get(user, "neo4j"), env[pw], run_dir / "final" / store.name,
                                      cfg.graph.node_keys)
    rows = []
    for kind in ("nodes", "relationships"):
        for name, entry in sorted(graph.get(kind, {}).items()):
            folder = run_dir / "final" / store.name / kind / f"{name}.parquet"
            final_rows = reconcile.parquet_rows(folder) if folder.exists() else None
            in_cert = present[kind].get(name, 0)
            rows.append({"kind": kind[:-1], "name": name, "extracted": entry["rows"], "final": final_rows,
                         "in_cert": in_cert, "ok": entry["rows"] == final_rows == in_cert})
    return rows


def validate_migration(cfg: Config, env: Mapping[str, str], run_id: str,
                       progress: Callable[[str], None] | None = None) -> dict:
    progress = progress or (lambda m: None)
    run_dir = cfg.out_dir / run_id
    started = time.monotonic()
    manifest = _manifest(run_dir)
    tables = _tables(cfg, env, run_dir, manifest, progress)
    graph = _graph(cfg, env, run_dir, manifest)
    issues = [f"{r['table']}: extracted {r['extracted']}, final {r['final']}, in CERT {r['in_cert']}"
              for r in tables if not r["ok"]]
    issues += [f"{r['kind']} {r['name']}: extracted {r['extracted']}, final {r['final']}, in CERT {r['in_cert']}"
               for r in graph if not r["ok"]]
    result = {"run_id": run_id, "district": manifest["district"],
              "status": "VALID" if not issues else "ISSUES_FOUND", "issues": issues,
              "tables": tables, "graph": graph, "seconds": round(time.monotonic() - started, 3)}
    (run_dir / "post-load-validation.json").write_text(json.dumps(result, indent=2))
    return result
