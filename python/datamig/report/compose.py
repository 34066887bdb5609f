"""The report as one JSON-able dict (the .json file; .md and .html render the same dict)."""
from __future__ import annotations

import dataclasses
from datetime import datetime, timezone
from pathlib import Path

from . import outcome, sections, stepwise
from .artifacts import RunFolder, artifact_list, cert_state, gone_from_cert
from .coverage import coverage

SCHEMA = "datamig.report/1"
LISTED = 8


def _errored(n: int) -> str:
    return f"{plural(n, 'test')} errored (not run: the message is in validation-report.json)"


def plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _names(items: list[str]) -> str:
    shown = ", ".join(items[:LISTED])
    return shown + (f" (+{len(items) - LISTED} more)" if len(items) > LISTED else "")


def compose(run: RunFolder, root: Path, reports: dict[str, Path] | None = None) -> dict:
    if run.state is None:
        run = dataclasses.replace(run, state=stepwise.state_of(run))
    state = run.state or {}
    raw_phases = state.get("phases") or {}
    rows = sections.row_totals(run)
    stores = sections.stores(run)
    finals = [i["final"] for s in stores["stores"] for i in s["items"] if i["final"] is not None]
    final_rows = sum(finals) if finals else None
    load = sections.load(run, raw_phases)
    load_rows = (load.get("totals") or {}).get("rows") if load.get("status") in ("LOADED", "DRY_RUN") else None
    phases = sections.phases(run, rows, final_rows, load_rows)
    status, stopped = outcome.status_of(run.state, phases)
    failed = next((p for p in phases if p["status"] == "failed"), None)
    error = (failed or {}).get("error") or (load.get("error") if load.get("status") == "FAILED" else None)
    validation = sections.validation(run)
    verify = sections.verify(run, raw_phases)
    cover = coverage(root, run.validation, run.path)
    options = state.get("options") or {}
    district = run.district
    cert = cert_state(run.load, run.rollback, run.replaced)
    warnings, errors = _problems(run, phases, stores, validation, load, verify, cover, cert)
    gone = gone_from_cert(cert)
    if gone and stores.get("available"):
        stores["note"] = (f"the in-CERT counts are the post-load verification's, from before the run was {gone}: "
                          f"CERT holds none of these rows now")
    line = outcome.verdict(status, stopped, district, rows, validation, load, verify, error)
    if options.get("stepwise"):  # a migrate's run in progress is no run made phase by phase
        line = stepwise.verdict(status, stopped, district, line)
    line, steps = outcome.after_rollback(
        line,
        outcome.next_steps(status, stopped, run.run_id, district, validation, load, verify, cover, options, error),
        cert, run.run_id, district)
    summary = {
        "status": status,
        "run_status": state.get("status"),
        "failed_phase": stopped if status in ("FAILED", "CANCELLED", "INCOMPLETE", "INTERRUPTED") else None,
        "district": district,
        "dry_run": bool(options.get("dry_run")),
        "strategy": options.get("strategy"),
        "created_at": state.get("created_at"),
        "duration_s": round(sum(p["seconds"] or 0 for p in phases), 3),
        "rows": rows,
        "validation_status": validation.get("status"),
        "load_status": load.get("status"),
        "verify_status": verify.get("status"),
        "cert": cert,
        "verdict": line,
    }
    artifacts = artifact_list(run)
    for kind, path in (reports or {}).items():
        artifacts.append({"name": f"this report ({kind})", "path": str(path), "exists": True})
    return {
        "schema": SCHEMA,
        "run_id": run.run_id,
        "district": district,
        "generated_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "summary": summary,
        "phases": phases,
        "stores": stores,
        "anonymization": cover,
        "validation": validation,
        "load": load,
        "verify": verify,
        "timings": sections.timings(run, phases, load),
        "warnings": warnings,
        "errors": errors,
        "next_steps": steps,
        "artifacts": artifacts,
    }


def _problems(run: RunFolder, phases, stores, validation, load, verify, cover, cert) -> tuple[list[str], list[str]]:
    warnings, errors = [], []
    for p in phases:
        if p["status"] == "failed":
            errors.append(f"phase {p['name']} failed: {p['error'] or 'no message'}")
    if load.get("status") == "FAILED" and load.get("error") and not any(load["error"] in e for e in errors):
        errors.append(f"load: {load['error']}")
    for r in validation.get("rules") or []:
        tests = f" of {r['tests']}" if r.get("tests") else ""
        line = (f"validation rule {r['rule']}: {plural(r['failures'], 'failing row')} "
                f"({r['failed']}{tests} test{'' if (r.get('tests') or r['failed']) == 1 else 's'} failed)")
        if r.get("errored") == r["failed"]:  # no test of the rule ran: "0 failing rows" told of none
            line = f"validation rule {r['rule']}: {_errored(r['errored'])}"
        elif r.get("errored"):
            line += f"; {_errored(r['errored'])}"
        if r["severity"] == "error":
            errors.append(line + " (blocks the load)")
        else:
            warnings.append(line)
    errors += [f"model {m} failed to build" for m in validation.get("model_errors") or []]
    blocking_rules = any(r["severity"] == "error" for r in validation.get("rules") or [])
    if validation.get("status") == "FAILED" and not blocking_rules and not validation.get("model_errors"):
        errors.append("validation status FAILED" + (f": {validation['reason']}" if validation.get("reason") else ""))
    errors += [f"post-load validation: {i}" for i in verify.get("issues") or []]
    rolled_back = bool(cert and cert["status"] == "ROLLED_BACK")
    if gone := gone_from_cert(cert):
        warnings.append(f"the run was {gone}: CERT holds none of its rows now")
    if load.get("overwritten") and load.get("status") in ("LOADED", "DRY_RUN"):
        total = sum(load["overwritten"].values())
        verb = "would overwrite" if load.get("dry_run") else "overwrote"
        kept = ("" if load.get("dry_run") else "; the rollback restored them" if rolled_back
                else "; their before-images are kept and `datamig rollback` restores them")
        warnings.append(f"the load {verb} {plural(total, 'row')} CERT already held (its own test data or an "
                        f"earlier run's): " + _names([f"{n} ({c})" for n, c in load["overwritten"].items()]) + kept)
    if load.get("conflicts"):
        line = "insert conflicts with rows CERT already holds: " + _names(
            [f"{name} ({c['count']})" for name, c in load["conflicts"].items()])
        (warnings if load.get("dry_run") else errors).append(line)
    flagged = [f["column"] for f in cover.get("possible_pii_without_rule") or []]
    if flagged:
        warnings.append(f"{plural(len(flagged), 'column')} may hold PII but no rule treats it: {_names(flagged)}")
    if (run.path / "final").is_dir():
        missing = [f"{s['store']}.{i['item']}" for s in stores["stores"] for i in s["items"] if i["final"] is None]
        if missing:
            warnings.append(f"extracted but no final Parquet: {_names(missing)}")
        differ = [f"{s['store']}.{i['item']}" for s in stores["stores"] for i in s["items"]
                  if i["final"] is not None and i["extracted"] is not None and i["final"] != i["extracted"]]
        if differ:
            warnings.append(f"final row count differs from the extract: {_names(differ)}")
    for level, line in run.log_lines:
        if level == "error":
            if not any(line.split(": ", 1)[-1] in e for e in errors):
                errors.append(f"log: {line}")
        else:
            warnings.append(f"log: {line}")
    return warnings, errors
