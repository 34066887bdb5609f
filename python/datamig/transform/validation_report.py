"""<run>/validation-report.json from dbt's run_results.json and manifest.json.

Status: FAILED if any model errored, any error-severity test failed, or any test errored (a
check that could not run proves nothing); otherwise the warn-severity failures are the
warnings, and with the settings of config/validation-rules.yaml more than
max_warnings_allowed (or any, with fail_on_warnings) is FAILED too. Else PASSED_WITH_WARNINGS
when a warning test failed or the PII scan flagged a column, else PASSED. FAILED stops the load.

Nothing in the report is a data value: failing rows are told by their keys (failing_keys), the
PII scan by counts, and dbt's messages are scrubbed of anything shaped like an email, phone or
SSN.
"""
from __future__ import annotations

import json
import re
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path

import duckdb

from ..anonymize.keyed import Keys
from ..anonymize.sql_library import create_sql_library
from ..quoting import sql_literal
from ..runfiles import write_text_atomic
from . import failing_keys

REPORT = "validation-report.json"
SALT_CHECK = "salt-check"  # in the run folder: a keyed hash telling which salt built its warehouse (dbt_plugin)
PASSED, WARNED, FAILED = "PASSED", "PASSED_WITH_WARNINGS", "FAILED"
BUILTIN_RULES = {"unique": "pk_integrity", "not_null": "pk_integrity", "datamig_unique_key": "pk_integrity",
                 "relationships": "fk_integrity", "datamig_relationship": "fk_integrity"}


def test_rule(node: Mapping) -> str:
    meta = (node.get("config") or {}).get("meta") or node.get("meta") or {}
    if meta.get("rule"):
        return meta["rule"]
    name = (node.get("test_metadata") or {}).get("name") or node.get("name", "")
    return BUILTIN_RULES.get(name, name)


def decide(errors: int, warnings: int, pii_findings: int, settings: Mapping) -> tuple[str, str]:
    """(status, one-line reason)."""
    limit = int(settings.get("max_warnings_allowed", 10))
    if errors:
        return FAILED, f"{errors} blocking failure{'s' if errors != 1 else ''}"
    if warnings and settings.get("fail_on_warnings"):
        return FAILED, f"{warnings} warning{'s' if warnings != 1 else ''} and fail_on_warnings is set"
    if warnings > limit:
        return FAILED, f"{warnings} warnings, more than max_warnings_allowed ({limit})"
    if warnings or pii_findings:
        parts = [f"{warnings} warning test{'s' if warnings != 1 else ''} failed"] if warnings else []
        parts += [f"{pii_findings} unclassified column{'s look' if pii_findings != 1 else ' looks'} like PII"] if pii_findings else []
        return WARNED, "; ".join(parts) + f" (max_warnings_allowed {limit})"
    return PASSED, "every test passed"


class Scrubber:
    """Masks email/phone/SSN shapes in dbt's messages (a DuckDB error may quote a value)."""

    def __init__(self, shapes: Mapping[str, str] | None):
        self.patterns = [re.compile(p) for p in (shapes or {}).values()]

    def __call__(self, text: str | None, limit: int = 500) -> str | None:
        if text is None:
            return None
        for pattern in self.patterns:
            text = pattern.sub("[REDACTED]", text)
        return text[:limit]


OUTCOME = {"pass": "passed", "fail": "failed", "warn": "failed", "error": "errored", "skipped": "skipped"}


class Tally:
    """dbt's results counted the report's ways: models by status, tests by severity and by rule,
    and an entry for every test that did not pass (each failing one also queued for a sample of
    its keys)."""

    def __init__(self, nodes: Mapping, scrub: Scrubber):
        self.nodes, self.scrub = nodes, scrub
        self.tests_of = defaultdict(list)
        for node in nodes.values():
            if node.get("resource_type") == "test" and node.get("attached_node"):
                self.tests_of[node["attached_node"]].append(node)
        self.by_severity: dict[str, Counter] = defaultdict(Counter)
        self.by_rule: dict[str, Counter] = defaultdict(Counter)
        self.rule_severity: dict[str, set] = defaultdict(set)
        self.models, self.failures, self.model_errors, self.pending_samples = Counter(), [], [], []

    def add(self, result: Mapping) -> None:
        uid, status = result["unique_id"], result["status"]
        node = self.nodes.get(uid, {})
        if uid.startswith("model."):
            self.models[status] += 1
            if status == "error":
                self.model_errors.append({"model": node.get("name", uid), "message": self.scrub(result.get("message"))})
        elif uid.startswith("test."):
            self._add_test(uid, status, node, result)

    def _add_test(self, uid: str, status: str, node: Mapping, result: Mapping) -> None:
        severity = str((node.get("config") or {}).get("severity", "error")).lower()
        rule = test_rule(node)
        for counter in (self.by_severity[severity], self.by_rule[rule]):
            counter["tests"] += 1
            counter[OUTCOME.get(status, status)] += 1
        self.rule_severity[rule].add(severity)
        if status in ("pass", "skipped"):
            return
        model_uid = node.get("attached_node") or next(iter((node.get("depends_on") or {}).get("nodes", [])), None)
        model = self.nodes.get(model_uid, {})
        entry = {
            "test": node.get("name", uid), "unique_id": uid, "model": model.get("name"),
            "column": failing_keys.tested_column(node), "rule": rule, "severity": severity,
            "status": status, "blocking": status in ("fail", "error"),
            "failures": result.get("failures"), "message": self.scrub(result.get("message")),
            "tags": sorted(set((node.get("config") or {}).get("tags") or node.get("tags") or [])),
        }
        self.failures.append(entry)
        if status in ("fail", "warn") and model:
            self.pending_samples.append((entry, result.get("compiled_code"), model, self.tests_of.get(model_uid, [])))

    @property
    def errors(self) -> int:
        return sum(1 for f in self.failures if f["blocking"]) + len(self.model_errors)

    @property
    def warnings(self) -> int:
        return sum(1 for f in self.failures if f["status"] == "warn")

    def counts(self, pii_findings: int) -> dict:
        tests = self.by_severity.values()
        return {
            "models": sum(self.models.values()), "models_ok": self.models.get("success", 0),
            "models_errored": self.models.get("error", 0), "models_skipped": self.models.get("skipped", 0),
            "tests": sum(c["tests"] for c in tests), "tests_passed": sum(c["passed"] for c in tests),
            "tests_skipped": sum(c["skipped"] for c in tests),
            "errors": self.errors, "warnings": self.warnings, "pii_scan_warnings": pii_findings,
        }

    def rules(self) -> dict:
        return {rule: {"severity": "/".join(sorted(self.rule_severity[rule])), **_counts(c)}
                for rule, c in sorted(self.by_rule.items())}


def build_report(run_results: Mapping, manifest: Mapping, settings: Mapping, *, run_id: str, district: int,
                 warehouse: Path | None = None, pii_findings: Sequence[Mapping] = (),
                 shapes: Mapping[str, str] | None = None, scope: Mapping | None = None,
                 timings: Mapping | None = None, keys: Keys | None = None) -> dict:
    scrub = Scrubber(shapes)
    tally = Tally(manifest.get("nodes", {}), scrub)
    for result in run_results.get("results", []):
        tally.add(result)
    if warehouse is not None and tally.pending_samples:
        _add_samples(warehouse, tally.pending_samples, scrub, keys)
    status, reason = decide(tally.errors, tally.warnings, len(pii_findings), settings)
    tally.failures.sort(key=lambda f: (not f["blocking"], f["rule"], f["model"] or "", f["test"]))
    return {
        "run_id": run_id,
        "district": district,
        "generated_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "status": status,
        "reason": reason,
        "settings": {"fail_on_warnings": bool(settings.get("fail_on_warnings", False)),
                     "max_warnings_allowed": int(settings.get("max_warnings_allowed", 10))},
        "scope": dict(scope or {"selection": "full"}),
        "counts": tally.counts(len(pii_findings)),
        "by_severity": {sev: _counts(c) for sev, c in sorted(tally.by_severity.items())},
        "by_rule": tally.rules(),
        "failures": tally.failures,
        "model_errors": tally.model_errors,
        "pii_scan": [dict(f) for f in pii_findings],
        "timings": dict(timings or {}),
        "artifacts": {"run_results": "dbt/run_results.json", "manifest": "dbt/manifest.json",
                      "final": "final/"},
    }


def _counts(c: Counter) -> dict:
    return {k: c.get(k, 0) for k in ("tests", "passed", "failed", "errored", "skipped")}


def _add_samples(warehouse: Path, pending, scrub: Scrubber, keys: Keys | None) -> None:
    # an in-memory session with the warehouse attached read-only: a read-only instance could not
    # hold the in-memory catalog of the macros the leak tests' SQL calls
    conn = duckdb.connect()
    conn.execute(f"ATTACH {sql_literal(str(warehouse))} AS warehouse (READ_ONLY)")
    conn.execute("USE warehouse")
    # the compiled SQL names the extract relative to the run folder (dbt ran inside it)
    conn.execute("SET file_search_path = ?", [str(warehouse.parent)])
    if keys is not None:
        # the leak tests compare keyed hashes (int_pii_values): their SQL needs the plugin's key
        # UDF and the macros the anonymize macros compile to
        conn.create_function("dm_domain_key", keys.domain_key, ["VARCHAR"], "VARCHAR", side_effects=False)
        create_sql_library(conn, only=("is_blank", "blank_safe"))  # anonymize_hash's
    try:
        for entry, sql, model, tests in pending:
            keys = failing_keys.model_key_columns(model, tests)
            entry["sample_key_columns"] = keys
            meta = next((t.get("test_metadata") or {} for t in tests if t.get("unique_id") == entry["unique_id"]), {})
            try:
                entry["sample_keys"] = failing_keys.sample_keys(
                    conn, sql or "", model.get("relation_name") or "", keys, list((model.get("columns") or {})),
                    meta.get("name", ""), meta.get("kwargs") or {}, entry["column"])
            except duckdb.Error as exc:
                entry["sample_keys"] = []
                entry["sample_error"] = scrub(str(exc).splitlines()[0] if str(exc) else type(exc).__name__, 200)
    finally:
        conn.close()


def write_report(run_dir: Path, report: Mapping) -> Path:
    path = run_dir / REPORT
    write_text_atomic(path, json.dumps(report, indent=2, default=str) + "\n")
    return path


def report_from_files(run_dir: Path, settings: Mapping, **kwargs) -> dict:
    """build_report over <run>/dbt/run_results.json and manifest.json (for reruns of the report)."""
    dbt = run_dir / "dbt"
    return build_report(json.loads((dbt / "run_results.json").read_text()),
                        json.loads((dbt / "manifest.json").read_text()), settings,
                        warehouse=run_dir / "warehouse.duckdb", **kwargs)
