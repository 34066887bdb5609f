"""The report's sections, each a JSON-able dict built from the run folder's artifacts.

Every section copes with its artifact being absent (a run that stopped early) and says so in
a `note` instead of failing.
"""
from __future__ import annotations

import re
from collections import defaultdict

from ..load import strategy as load_strategy
from .artifacts import RunFolder

PHASE_ORDER = ("preflight", "extract", "transform", "gate", "load", "verify", "report")
REL_GROUP = re.compile(r"\[(?P<type>[^\]]+)\]")
SAMPLE_KEYS = 5


def _int(value) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _rate(rows: int | None, seconds: float | None) -> float | None:
    if not rows or not seconds or seconds <= 0:
        return None
    return round(rows / seconds, 1)


# --- rows ------------------------------------------------------------------------------------

def row_totals(run: RunFolder) -> dict:
    m = run.manifest or {}
    tables = _int((m.get("totals") or {}).get("rows"))
    if tables is None and m.get("tables"):
        tables = sum(_int(t.get("rows")) or 0 for t in m["tables"].values())
    graph = m.get("graph") or {}
    nodes = sum(_int(e.get("rows")) or 0 for e in (graph.get("nodes") or {}).values())
    rels = sum(_int(e.get("rows")) or 0 for e in (graph.get("relationships") or {}).values())
    out = {"tables": tables, "nodes": nodes if graph else None, "relationships": rels if graph else None}
    out["total"] = None if tables is None else tables + nodes + rels
    load = run.load or {}
    if load.get("status") == "LOADED":
        t = load.get("totals") or {}
        out["loaded"] = (_int(t.get("inserted")) or 0) + (_int(t.get("updated")) or 0)
    else:
        out["loaded"] = None
    return out


# --- load counts per item -----------------------------------------------------------------------

def _written(counts: dict, strategy: str | None, dry_run: bool) -> tuple[int | None, int | None]:
    """(inserted, updated): as written, or for a dry run what the strategy would write; with the
    unchanged (and an insert's conflicts) they add up to the rows, as load.strategy.effect."""
    if "inserted" in counts or "updated" in counts:
        return _int(counts.get("inserted")) or 0, _int(counts.get("updated")) or 0
    if not dry_run or strategy is None:
        return None, None
    new, changed = _int(counts.get("new")) or 0, _int(counts.get("changed")) or 0
    return new, 0 if strategy == "insert" else changed


def load_items(load: dict | None) -> dict[tuple[str, str, str], dict]:
    """{(store, kind, name): {strategy, rows, inserted, updated, unchanged, conflicts}}, kind
    table | node | relationship; relationship groups summed per type."""
    if not load:
        return {}
    dry = bool(load.get("dry_run"))
    items: dict[tuple[str, str, str], dict] = {}
    for store, entry in (load.get("stores") or {}).items():
        if not isinstance(entry, dict):
            continue
        for group, kind in (("tables", "table"), ("nodes", "node"), ("relationships", "relationship")):
            for name, counts in (entry.get(group) or {}).items():
                if not isinstance(counts, dict):
                    continue
                if kind == "relationship":
                    match = REL_GROUP.search(name)
                    name = match.group("type") if match else name
                strategy = counts.get("strategy")
                inserted, updated = _written(counts, strategy, dry)
                item = items.setdefault((store, kind, name), {"strategy": None, "rows": 0, "inserted": None,
                                                               "updated": None, "unchanged": 0, "conflicts": 0})
                strategies = {s for s in (item["strategy"], strategy) if s}
                item["strategy"] = "/".join(sorted(strategies)) or None
                item["rows"] += _int(counts.get("rows")) or 0
                item["unchanged"] += _int(load_strategy.unchanged(strategy, counts)) or 0
                item["conflicts"] += _int(counts.get("conflicts")) or 0
                if inserted is not None:
                    item["inserted"] = (item["inserted"] or 0) + inserted
                    item["updated"] = (item["updated"] or 0) + (updated or 0)
    return items


# --- per store --------------------------------------------------------------------------------

def stores(run: RunFolder) -> dict:
    m = run.manifest
    if not m:
        return {"available": False, "stores": [],
                "note": "no extraction manifest: the run stopped before extraction finished"}
    verified = {r.get("table"): r for r in (run.verify or {}).get("tables") or [] if isinstance(r, dict)}
    verified_graph = {(r.get("kind"), r.get("name")): r for r in (run.verify or {}).get("graph") or []
                      if isinstance(r, dict)}
    loaded = load_items(run.load)
    grouped: dict[str, dict] = {}
    for table_id, entry in sorted((m.get("tables") or {}).items()):
        store = entry.get("store") or table_id.split(".")[0]
        name = entry.get("table") or table_id.split(".", 1)[-1]
        v = verified.get(table_id) or {}
        final = v.get("final") if "final" in v else run.final_rows(store, name)
        row = {"item": name, "kind": "table", "extracted": _int(entry.get("rows")),
               "in_district": _int(entry.get("rows_in_district")),
               "parents": _int(entry.get("rows_pulled_as_parents")),
               "final": _int(final), "in_cert": _int(v.get("in_cert")), "ok": v.get("ok")}
        row.update(_load_columns(loaded.get((store, "table", name))))
        grouped.setdefault(store, {"store": store, "kind": "postgres", "items": []})["items"].append(row)
    graph = m.get("graph") or {}
    gstore = graph.get("store")
    if gstore:
        for kind, label in (("nodes", "node"), ("relationships", "relationship")):
            for name, entry in sorted((graph.get(kind) or {}).items()):
                v = verified_graph.get((label, name)) or {}
                final = v.get("final") if "final" in v else run.final_graph_rows(gstore, kind, name)
                row = {"item": name, "kind": label, "extracted": _int(entry.get("rows")), "in_district": None,
                       "parents": None, "final": _int(final), "distinct": _int(v.get("distinct")),
                       "in_cert": _int(v.get("in_cert")), "ok": v.get("ok")}
                row.update(_load_columns(loaded.get((gstore, label, name))))
                grouped.setdefault(gstore, {"store": gstore, "kind": "neo4j", "items": []})["items"].append(row)
    out = []
    for store in grouped.values():
        items = store["items"]
        store["totals"] = {k: _sum(items, k) for k in ("extracted", "in_district", "parents", "final", "in_cert",
                                                       "inserted", "updated", "unchanged")}
        store["mismatches"] = [i["item"] for i in items if i["ok"] is False]
        out.append(store)
    notes = []
    if not run.verify:
        notes.append("no post-load validation: the in-CERT column is empty")
    notes += [_merged_note(i) for store in out for i in store["items"] if _merged(i)]
    if not (run.path / "final").is_dir():
        notes.append("no final/ folder: the transform did not produce final Parquet")
    return {"available": True, "stores": out, "note": "; ".join(notes) or None}


def _merged(item: dict) -> bool:
    return item.get("distinct") is not None and item.get("final") is not None and item["distinct"] != item["final"]


def _merged_note(item: dict) -> str:
    """Why in CERT is short of final and still ok: the load writes one node per key and one
    relationship per (start, end) pair, as validate-migration counts them."""
    what = "keys" if item["kind"] == "node" else "(start, end) pairs"
    return (f"{item['kind']} {item['item']}: its {item['final']} final rows name {item['distinct']} distinct "
            f"{what}, one each in CERT")


def _load_columns(item: dict | None) -> dict:
    if not item:
        return {"strategy": None, "inserted": None, "updated": None, "unchanged": None}
    return {"strategy": item["strategy"], "inserted": item["inserted"], "updated": item["updated"],
            "unchanged": item["unchanged"]}


def _sum(items: list[dict], key: str) -> int | None:
    values = [i[key] for i in items if i.get(key) is not None]
    return sum(values) if values else None


# --- validation ---------------------------------------------------------------------------------

def severity(value) -> str:
    s = str(value or "").strip().lower()
    if s in ("e", "error", "errors", "err", "fail", "failed"):
        return "error"
    if s in ("w", "warn", "warning", "warnings"):
        return "warn"
    return s or "unknown"


def key_text(key) -> str:
    """A sample key as text: {"id": 7} -> "id=7", {"a": 1, "b": 2} -> "(a=1, b=2)", 7 -> "7"."""
    if isinstance(key, dict):
        parts = [f"{k}={v}" for k, v in key.items()]
        text = parts[0] if len(parts) == 1 else "(" + ", ".join(parts) + ")"
    else:
        text = str(key)
    return text[:80]


def _primary_keys(manifest: dict | None) -> dict[str, list[str]]:
    """{final model name (store__table): primary key columns} from the extraction manifest."""
    out = {}
    for table_id, entry in ((manifest or {}).get("tables") or {}).items():
        pk = entry.get("primary_key") or []
        if pk and "." in table_id:
            store, table = table_id.split(".", 1)
            out[f"{store}__{table}"] = list(pk)
    return out


def _only_pk(key, pk: list[str] | None):
    """A sample key cut down to the model's primary key columns when it carries them all."""
    if isinstance(key, dict) and pk and all(c in key for c in pk):
        return {c: key[c] for c in pk}
    return key


def _failing_tests(v: dict, pks: dict[str, list[str]] | None = None) -> list[dict]:
    raw = None
    for key in ("failures", "failing_tests", "failing", "tests"):
        if isinstance(v.get(key), list):
            raw = v[key]
            break
    tests = []
    for t in raw or []:
        if not isinstance(t, dict):
            continue
        failures = _int(t.get("failures"))
        status = str(t.get("status", "")).lower()
        if status in ("pass", "passed", "success", "skipped") or (failures == 0 and status != "error"):
            continue
        keys = t.get("sample_keys") or []
        keys = keys if isinstance(keys, list) else [keys]
        blocking = t.get("blocking")
        sev = "error" if blocking else severity(t.get("severity"))
        if blocking is False and sev == "error":
            sev = "warn"
        tests.append({"test": str(t.get("test") or t.get("name") or t.get("unique_id") or "?"),
                      "model": t.get("model"), "column": t.get("column"), "rule": t.get("rule"),
                      "severity": sev, "status": status or None, "failures": failures,
                      "sample_keys": [key_text(_only_pk(k, (pks or {}).get(str(t.get("model")))))
                                       for k in keys[:SAMPLE_KEYS]]})
    return sorted(tests, key=lambda t: (t["severity"] != "error", -(t["failures"] or 0), t["test"]))


def _numbers(d) -> dict:
    return {str(k): v for k, v in (d or {}).items() if isinstance(v, int) and not isinstance(v, bool)}


def validation(run: RunFolder) -> dict:
    v = run.validation
    if v is None:
        return {"available": False, "status": None,
                "note": "no validation-report.json: the run stopped before the transform validated the data"}
    failing = _failing_tests(v, _primary_keys(run.manifest))
    by_severity: dict[str, dict] = {}
    for sev, c in (v.get("by_severity") or {}).items():
        if isinstance(c, dict):
            row = by_severity.setdefault(severity(sev), dict.fromkeys(("tests", "passed", "failed", "errored",
                                                                       "skipped"), 0))
            for k in row:
                row[k] += _int(c.get(k)) or 0
    if not by_severity:
        for t in failing:
            row = by_severity.setdefault(t["severity"], {"tests": None, "passed": None, "failed": 0,
                                                         "errored": None, "skipped": None})
            row["failed"] += 1
    rules: dict[str, dict] = {}
    for t in failing:
        rule = t["rule"] or t["test"]
        r = rules.setdefault(rule, {"rule": rule, "severity": t["severity"], "tests": None, "failed": 0,
                                    "failures": 0})
        r["failed"] += 1
        if t["status"] == "error":  # its SQL failed: it found no rows because it never ran
            r["errored"] = r.get("errored", 0) + 1
        r["failures"] += t["failures"] or 0
        if t["severity"] == "error":
            r["severity"] = "error"
    for rule, c in (v.get("by_rule") or {}).items():
        if not isinstance(c, dict):
            continue
        failed = (_int(c.get("failed")) or 0) + (_int(c.get("errored")) or 0)
        if rule in rules:
            rules[rule]["tests"] = _int(c.get("tests"))
            rules[rule]["failed"] = max(rules[rule]["failed"], failed)
        elif failed:
            sev = str(c.get("severity") or "")
            rules[rule] = {"rule": rule, "severity": "error" if "error" in sev.lower() else severity(sev),
                           "tests": _int(c.get("tests")), "failed": failed,
                           "failures": _int(c.get("failures")) or 0}
    model_errors = [str(m.get("model") if isinstance(m, dict) else m) for m in v.get("model_errors") or []]
    counts = _numbers(v.get("counts"))
    blocking = counts.get("errors", counts.get("error"))
    if blocking is None:
        blocking = sum(1 for t in failing if t["severity"] == "error") + len(model_errors)
    warnings = counts.get("warnings", counts.get("warn"))
    if warnings is None:
        warnings = sum(1 for t in failing if t["severity"] == "warn")
    pii = v.get("pii_scan") if isinstance(v.get("pii_scan"), list) else v.get("pii_warnings") or []
    return {"available": True, "status": v.get("status"), "reason": v.get("reason"),
            "blocking": blocking, "warnings": warnings, "counts": counts, "by_severity": by_severity,
            "rules": sorted(rules.values(), key=lambda r: (r["severity"] != "error", -r["failures"], r["rule"])),
            "failing_tests": failing, "model_errors": model_errors, "pii_warnings": len(pii),
            "timings": {k: x for k, x in (v.get("timings") or {}).items() if isinstance(x, (int, float))},
            "note": None}


# --- load ---------------------------------------------------------------------------------------

def load(run: RunFolder, state_phases: dict) -> dict:
    lr = run.load
    if lr is None:
        phase = state_phases.get("load") or {}
        if state_phases.get("gate", {}).get("status") == "failed":
            note = "no load: the validation gate stopped the run; CERT was not touched"
        elif phase.get("status") == "failed":
            note = "the load failed before writing its report; CERT was not changed (all or nothing)"
        else:
            note = "no load report: the run did not reach the load"
        return {"available": False, "status": None, "note": note}
    items = load_items(lr)
    by_strategy: dict[str, dict] = defaultdict(lambda: {"items": 0, "rows": 0, "inserted": 0, "updated": 0,
                                                        "unchanged": 0, "conflicts": 0})
    for item in items.values():
        s = by_strategy[item["strategy"] or "(none)"]
        s["items"] += 1
        for k in ("rows", "unchanged", "conflicts"):
            s[k] += item[k]
        s["inserted"] += item["inserted"] or 0
        s["updated"] += item["updated"] or 0
    conflicts = {}
    for name, c in (lr.get("conflicts") or {}).items():
        if isinstance(c, dict):
            keys = c.get("keys") or []
            conflicts[name] = {"count": _int(c.get("count")), "sample_keys": [str(k)[:80] for k in keys[:SAMPLE_KEYS]]}
    timings = {store: e.get("timings") for store, e in (lr.get("stores") or {}).items()
               if isinstance(e, dict) and e.get("timings")}
    if lr.get("timings"):
        timings["graph"] = lr["timings"]
    # CERT's rows whose values the load changed: its own test data or an earlier run's, never to go
    # unnoticed (an upsert's rewrite of a row with the values it held changes nothing)
    overwritten = {f"{store}.{name}" if kind == "table" else f"{store} {kind} {name}": item["updated"]
                   for (store, kind, name), item in sorted(items.items()) if item["updated"]}
    return {"available": True, "status": lr.get("status"), "dry_run": bool(lr.get("dry_run")),
            "overwritten": overwritten,
            "strategy_requested": lr.get("strategy"), "by_strategy": dict(sorted(by_strategy.items())),
            "totals": lr.get("totals") or {}, "conflicts": conflicts, "elapsed_s": lr.get("elapsed_s"),
            "timings": timings, "error": lr.get("error"), "message": lr.get("message"),
            "note": ("dry run: inserted/updated are what the load would write; CERT was not changed"
                     if lr.get("dry_run") else None)}


# --- verify -------------------------------------------------------------------------------------

def verify(run: RunFolder, state_phases: dict) -> dict:
    v = run.verify
    if v is None:
        status = (state_phases.get("verify") or {}).get("status")
        note = ("skipped: a dry run changes nothing in CERT to verify" if status == "skipped"
                else "no post-load validation: the run did not reach verify")
        return {"available": False, "status": None, "note": note}
    rows = [r for r in (v.get("tables") or []) + (v.get("graph") or []) if isinstance(r, dict)]
    return {"available": True, "status": v.get("status"), "checked": len(rows),
            "ok": sum(1 for r in rows if r.get("ok")), "issues": [str(i)[:300] for i in v.get("issues") or []],
            "seconds": v.get("seconds"), "note": None}


# --- phases and timings ---------------------------------------------------------------------------

def phases(run: RunFolder, totals: dict, final_rows: int | None, load_rows: int | None) -> list[dict]:
    raw = (run.state or {}).get("phases") or {}
    names = [p for p in PHASE_ORDER if p in raw] + [p for p in raw if p not in PHASE_ORDER]
    rows_of = {"extract": totals.get("total"), "transform": final_rows, "load": load_rows, "verify": final_rows}
    out = []
    for name in names:
        p = raw[name] if isinstance(raw[name], dict) else {}
        seconds = p.get("seconds")
        rows = rows_of.get(name) if p.get("status") == "done" else None
        if name == "extract" and (p.get("summary") or {}).get("reused"):
            rows = None
        out.append({"name": name, "status": p.get("status", "pending"), "seconds": seconds,
                    "started_at": p.get("started_at"), "error": p.get("error"),
                    "rows": rows, "rows_per_s": _rate(rows, seconds)})
    return out


def timings(run: RunFolder, phase_rows: list[dict], load_section: dict) -> dict:
    m = run.manifest or {}
    extract = {}
    for store, entry in (m.get("stores") or {}).items():
        for k, v in ((entry or {}).get("timings") or {}).items():
            extract[k] = v  # the PostgreSQL stores share one closure: the same figures each
    for k, v in ((m.get("graph") or {}).get("timings") or {}).items():
        extract[f"graph_{k}" if not k.startswith("graph") else k] = v
    if m.get("elapsed_s") is not None:
        extract["elapsed_s"] = m["elapsed_s"]
    total = sum(p["seconds"] or 0 for p in phase_rows)
    return {"total_s": round(total, 3),
            "phases": [{k: p[k] for k in ("name", "seconds", "rows", "rows_per_s")} for p in phase_rows],
            "extract": extract,
            "transform": {k: v for k, v in ((run.validation or {}).get("timings") or {}).items()
                          if isinstance(v, (int, float)) and not isinstance(v, bool)},
            "load": load_section.get("timings") or {},
            "load_elapsed_s": load_section.get("elapsed_s")}
