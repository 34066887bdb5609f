"""The final report, built from synthetic run folders: a successful run, a run stopped by the
validation gate, a run whose load failed, and a run that stopped before extracting. No
services needed."""
from __future__ import annotations

import dataclasses
import html
import json
import re
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from datamig.report.build import build_report
from datamig.runner.state import list_runs

RUN_OK = "mig-20260301-101500-d42"
RUN_GATE = "mig-20260301-111500-d42"
RUN_LOAD = "mig-20260301-121500-d42"
RUN_EARLY = "mig-20260301-131500-d42"

PASSWORD = "pw-Planted-7781"
SALT = "salt-Planted-9923"
TOKEN = "tok-Planted-5512"
URL_PASSWORD = "urlpw-Planted-3141"
ENV = {"CERT_SP_PASSWORD": PASSWORD, "DATAMIG_SALT": SALT, "SOME_API_TOKEN": TOKEN,
       "CERT_IDS_URL": f"postgresql://datamig:{URL_PASSWORD}@127.0.0.1:5999/ids"}
SECRETS = (PASSWORD, SALT, TOKEN, URL_PASSWORD)
PHASES = ("preflight", "extract", "transform", "gate", "load", "verify", "report")

# table id -> (rows, in district); parents = rows - in district
TABLES = {"ids.districts": (1, 1), "ids.students": (300, 300), "ids.states": (50, 0), "hcp1.patients": (280, 280)}
NODES = {"District": 1, "Student": 300}
RELS = {"ENROLLED_IN": 300}


# ----------------------------------------------------------------------------- builders

def _parquet(path: Path, rows: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table({"id": list(range(1, rows + 1))}), path)


def _manifest(run_id: str, tables=TABLES) -> dict:
    entries = {}
    for table_id, (rows, down) in tables.items():
        store, table = table_id.split(".")
        entries[table_id] = {"store": store, "table": table, "rows": rows, "rows_in_district": down,
                             "rows_pulled_as_parents": rows - down, "primary_key": ["id"],
                             "columns": [{"name": "id", "pg_type": "bigint", "type": "BIGINT", "nullable": False}],
                             "path": f"{store}/{table}.parquet", "bytes": 100, "sha256": "0" * 64}
    return {"run_id": run_id, "district": 42, "config": "config/datamig.yaml", "tables": entries,
            "stores": {"ids": {"kind": "postgres", "snapshot": "1:1:", "timings": {"closure_s": 1.5, "write_s": 0.5}}},
            "graph": {"store": "sp", "depth_reached": 2, "timings": {"subgraph_s": 2.0},
                      "nodes": {k: {"rows": n, "key": "id", "path": f"sp/nodes/{k}.parquet"} for k, n in NODES.items()},
                      "relationships": {k: {"rows": n, "path": f"sp/relationships/{k}.parquet"}
                                        for k, n in RELS.items()}},
            "elapsed_s": 4.0, "totals": {"tables": len(entries), "rows": sum(r for r, _ in tables.values())}}


def _state(run_id: str, statuses: dict[str, str], seconds: dict[str, float], errors: dict[str, str] = {},
           status: str = "running", dry_run: bool = False) -> dict:
    return {"run_id": run_id, "district": 42, "options": {"dry_run": dry_run, "strategy": "auto"},
            "status": status, "created_at": "2026-03-01T10:15:00+00:00",
            "phases": {p: {"status": statuses.get(p, "pending"), "seconds": seconds.get(p),
                           "started_at": None, "error": errors.get(p), "summary": {}} for p in PHASES}}


def _write(run_dir: Path, name: str, data) -> None:
    path = run_dir / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2) if not isinstance(data, str) else data)


def _extracted(run_dir: Path, run_id: str, tables=TABLES) -> None:
    _write(run_dir, "extract/extraction-manifest.json", _manifest(run_id, tables))


def _final(run_dir: Path, drop: str | None = None) -> None:
    for table_id, (rows, _) in TABLES.items():
        store, table = table_id.split(".")
        _parquet(run_dir / "final" / store / f"{table}.parquet", rows - (1 if table_id == drop else 0))
    for label, n in NODES.items():
        _parquet(run_dir / "final" / "sp" / "nodes" / f"{label}.parquet", n)
    for rel, n in RELS.items():
        _parquet(run_dir / "final" / "sp" / "relationships" / f"{rel}.parquet", n)


def _validation(status: str, failures: list[dict], tests: int = 120) -> dict:
    """The shape transform/validation_report.py writes."""
    by_severity, by_rule = {}, {}
    for f in failures:
        for counter in (by_severity.setdefault(f["severity"], {"tests": 0, "passed": 0, "failed": 0, "errored": 0,
                                                               "skipped": 0}),
                        by_rule.setdefault(f["rule"], {"severity": f["severity"], "tests": 0, "passed": 0,
                                                       "failed": 0, "errored": 0, "skipped": 0})):
            counter["tests"] += 1
            counter["failed"] += 1
        f.setdefault("status", "fail" if f["severity"] == "error" else "warn")
        f.setdefault("blocking", f["status"] in ("fail", "error"))
        f.setdefault("message", "Got 12 results, configured to fail if != 0")
    errors = sum(1 for f in failures if f["blocking"])
    return {"run_id": "x", "district": 42, "status": status, "reason": f"{errors} blocking failures",
            "counts": {"models": 75, "models_ok": 75, "models_errored": 0, "models_skipped": 0, "tests": tests,
                       "tests_passed": tests - len(failures), "tests_skipped": 0, "errors": errors,
                       "warnings": len(failures) - errors, "pii_scan_warnings": 1},
            "by_severity": by_severity, "by_rule": by_rule, "failures": failures, "model_errors": [],
            "pii_scan": [{"column": "hcp1.patients.notes", "shape": "email", "how": "inside",
                          "matched": 7, "sampled": 20}],
            "timings": {"drift_gate_s": 0.5, "dbt_s": 8.0, "report_s": 0.2, "total_s": 9.5}}


def _load_report(status: str, dry_run: bool = False, error: str | None = None, conflicts=None) -> dict:
    def t(strategy, rows, new, changed, unchanged, written=True):
        c = {"strategy": strategy, "rows": rows, "new": new, "changed": changed, "unchanged": unchanged,
             "conflicts": 0}
        if written:
            ins, upd = {"insert": (rows, 0), "upsert": (new, changed), "merge": (new, changed)}[strategy]
            c.update(inserted=ins, updated=upd)
        return c

    written = status == "LOADED"
    report = {"run_id": "x", "district": 42, "status": status, "dry_run": dry_run, "strategy": "auto",
              "validation": "PASSED", "started_at": "2026-03-01T10:16:00+00:00", "stores": {
                  "ids": {"kind": "postgres", "tables": {
                      "districts": t("merge", 1, 0, 1, 0, written),
                      "students": t("insert", 300, 300, 0, 0, written),
                      "states": t("merge", 50, 0, 0, 50, written)},
                      "timings": {"stage_s": 0.4, "classify_s": 0.1, "write_s": 0.6}},
                  "hcp1": {"kind": "postgres", "tables": {"patients": t("upsert", 280, 200, 30, 50, written)},
                           "timings": {"stage_s": 0.2}},
                  "sp": {"kind": "neo4j",
                         "nodes": {"District": t("merge", 1, 0, 0, 1, written),
                                   "Student": t("insert", 300, 300, 0, 0, written)},
                         "relationships": {"(Student)-[ENROLLED_IN]->(School)": t("insert", 300, 300, 0, 0, written)}}}}
    if status in ("LOADED", "DRY_RUN"):
        totals = dict.fromkeys(("rows", "inserted", "updated", "unchanged", "conflicts", "new", "changed"), 0)
        for store in report["stores"].values():
            for group in ("tables", "nodes", "relationships"):
                for counts in store.get(group, {}).values():
                    for k in totals:
                        totals[k] += counts.get(k, 0)
        report.update(totals=totals, elapsed_s=2.5)
    if error:
        report["error"] = error
    if conflicts:
        report["conflicts"] = conflicts
    return report


@pytest.fixture
def project(tmp_path) -> Path:
    """A checkout with an anonymized layer of 6 columns (one flagged pii without a rule)."""
    root = tmp_path / "checkout"
    (root / "dbt_project" / "intermediate" / "ids").mkdir(parents=True)
    cols = [("id", {"pii": False, "rule": "surrogate_key", "strategy": "preserve"}),
            ("first_name", {"pii": True, "rule": "first_name", "strategy": "faker", "provider": "first_name"}),
            ("last_name", {"pii": True, "rule": "last_name", "strategy": "faker", "provider": "last_name"}),
            ("email", {"pii": True, "rule": "email", "strategy": "faker", "provider": "email"}),
            ("nickname", {"pii": True, "rule": None}),
            ("notes", {"pii": False, "rule": None})]
    doc = {"version": 2, "models": [{"name": "int_ids__students_anonymized", "columns": [
        {"name": n, "data_type": "text", "meta": {"datamig": m}} for n, m in cols]}]}
    (root / "dbt_project" / "intermediate" / "ids" / "_ids__intermediate.yml").write_text(yaml.safe_dump(doc))
    return root


@pytest.fixture
def rcfg(cfg, tmp_path):
    return dataclasses.replace(cfg, out_dir=tmp_path / "runs")


def _ok_run(rcfg) -> Path:
    run = rcfg.out_dir / RUN_OK
    _extracted(run, RUN_OK)
    _final(run)
    # the report phase builds the report while it is itself "running"
    _write(run, "run-state.json", _state(RUN_OK, {p: "done" for p in PHASES[:-1]} | {"report": "running"},
                                         {"preflight": 1.0, "extract": 4.0, "transform": 10.0, "gate": 0.01,
                                          "load": 3.0, "verify": 1.0}))
    _write(run, "validation-report.json", _validation("PASSED_WITH_WARNINGS", [
        {"test": "student_age_range_students_birth_date", "model": "ids__students", "column": "birth_date",
         "rule": "student_age", "severity": "warn", "failures": 3,
         "sample_keys": [{"id": 17}, {"id": 23}, {"id": 99}]}]))
    _write(run, "load-report.json", _load_report("LOADED"))
    tables = [{"table": t, "extracted": r, "final": r, "in_cert": r, "ok": True} for t, (r, _) in TABLES.items()]
    graph = [{"kind": "node", "name": k, "extracted": n, "final": n, "in_cert": n, "ok": True}
             for k, n in NODES.items()]
    graph += [{"kind": "relationship", "name": k, "extracted": n, "final": n, "in_cert": n, "ok": True}
              for k, n in RELS.items()]
    _write(run, "post-load-validation.json", {"run_id": RUN_OK, "district": 42, "status": "VALID", "issues": [],
                                              "tables": tables, "graph": graph, "seconds": 1.0})
    _write(run, "run.log", f"2026-03-01 10:15:01,000 INFO datamig.extract: extract run={RUN_OK}\n"
                           f"2026-03-01 10:15:02,000 WARNING datamig.load: retrying with key {PASSWORD}\n")
    return run


def _gate_run(rcfg) -> Path:
    run = rcfg.out_dir / RUN_GATE
    _extracted(run, RUN_GATE)
    _final(run)
    _write(run, "run-state.json", _state(
        RUN_GATE, {"preflight": "done", "extract": "done", "transform": "done", "gate": "failed"},
        {"preflight": 1.0, "extract": 4.0, "transform": 10.0, "gate": 0.01},
        {"gate": f"validation FAILED: nothing loaded (see {run}/validation-report.json)"}, status="failed"))
    _write(run, "validation-report.json", _validation("FAILED", [
        {"test": "enrollment_before_graduation_enrollments", "model": "ids__enrollments", "column": "enrollment_date",
         "rule": "enrollment_before_graduation", "severity": "error", "failures": 12,
         "sample_keys": [{"student_id": 5001, "term": 2}, {"student_id": 5002, "term": 2}]},
        {"test": "students_complete_first_name", "model": "ids__students", "column": "first_name",
         "rule": "students_complete", "severity": "error", "failures": 2,
         "sample_keys": [{"district_id": 42, "id": 7}]},
        {"test": "email_format_staff", "model": "ids__staff", "column": "email", "rule": "email_format",
         "severity": "warn", "failures": 4, "sample_keys": []}]))
    return run


def _load_failed_run(rcfg) -> Path:
    run = rcfg.out_dir / RUN_LOAD
    _extracted(run, RUN_LOAD)
    _final(run)
    error = (f"run {RUN_LOAD}: insert conflicts, nothing written: ids.students: 2 existing keys 11, 12 "
             f"(postgresql://datamig:{URL_PASSWORD}@127.0.0.1:5999/ids)")
    _write(run, "run-state.json", _state(
        RUN_LOAD, {"preflight": "done", "extract": "done", "transform": "done", "gate": "done", "load": "failed"},
        {"preflight": 1.0, "extract": 4.0, "transform": 10.0, "gate": 0.01, "load": 2.0}, {"load": error},
        status="failed"))
    _write(run, "validation-report.json", _validation("PASSED", []))
    _write(run, "load-report.json", _load_report("FAILED", error=error,
                                                 conflicts={"ids.students": {"count": 2, "keys": ["11", "12"]}}))
    _write(run, "run.log", f"2026-03-01 12:15:09,000 ERROR datamig.load: salt {SALT} token {TOKEN}\n")
    return run


def _build(rcfg, project, run_id, tmp_path) -> tuple[dict, str, str, dict]:
    paths = build_report(rcfg, run_id, reports_dir=tmp_path / "reports", root=project, env=ENV)
    assert set(paths) == {"json", "md", "html"}
    assert paths["json"] == tmp_path / "reports" / f"{run_id}.json"
    texts = {k: p.read_text() for k, p in paths.items()}
    return json.loads(texts["json"]), texts["md"], texts["html"], texts


def _assert_no_secrets(texts: dict) -> None:
    for kind, text in texts.items():
        for secret in SECRETS:
            assert secret not in text, f"secret leaked into the {kind} report"


def _assert_self_contained(html: str) -> None:
    assert html.lstrip().startswith("<!DOCTYPE html>")
    assert "<style>" in html and "<svg" in html
    lowered = html.lower()
    assert "<script" not in lowered and "<link" not in lowered and "@import" not in lowered
    assert "url(" not in lowered
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", lowered), "remote asset referenced"
    assert not re.search(r"https?://", lowered)
    assert not re.search(r"\bsrc\s*=", lowered)
    for href in re.findall(r"""href\s*=\s*["']([^"']*)""", lowered):
        assert href.startswith("#"), href


SECTIONS_MD = ("## Executive summary", "## Phases", "## Stores", "## Anonymization coverage", "## Validation",
               "## Load", "## Post-load verification", "## Timings and throughput", "## Warnings", "## Errors",
               "## Next steps", "## Artifacts")
SECTIONS_JSON = ("summary", "phases", "stores", "anonymization", "validation", "load", "verify", "timings",
                 "warnings", "errors", "next_steps", "artifacts")


# ----------------------------------------------------------------------------- tests

def test_successful_run(rcfg, project, tmp_path):
    _ok_run(rcfg)
    report, md, html, texts = _build(rcfg, project, RUN_OK, tmp_path)
    for key in SECTIONS_JSON:
        assert key in report
    for heading in SECTIONS_MD:
        assert heading in md
    for anchor in ("summary", "phases", "stores", "anonymization", "validation", "load", "verify", "timings",
                   "warnings", "errors", "next", "artifacts"):
        assert f'id="{anchor}"' in html

    s = report["summary"]
    assert s["status"] == "SUCCEEDED" and s["failed_phase"] is None and s["district"] == 42
    # written = inserted (300 + 200 + 300 + 300) + updated (1 changed district + 30 changed patients)
    assert s["rows"] == {"tables": 631, "nodes": 301, "relationships": 300, "total": 1232, "loaded": 1131}
    assert s["duration_s"] == pytest.approx(19.01)
    assert s["validation_status"] == "PASSED_WITH_WARNINGS" and s["load_status"] == "LOADED"
    assert s["verify_status"] == "VALID"
    assert s["verdict"].startswith("Migrated district 42 to CERT: 1,232 rows extracted")

    phases = {p["name"]: p for p in report["phases"]}
    assert [p["name"] for p in report["phases"]] == list(PHASES)
    assert phases["extract"]["rows"] == 1232 and phases["extract"]["rows_per_s"] == pytest.approx(308.0)
    assert phases["transform"]["rows"] == 1232 and phases["transform"]["rows_per_s"] == pytest.approx(123.2)
    assert phases["load"]["rows"] == 1232 and phases["load"]["rows_per_s"] == pytest.approx(410.7)
    assert phases["report"]["status"] == "running"

    stores = {s["store"]: s for s in report["stores"]["stores"]}
    assert list(stores) == ["hcp1", "ids", "sp"]
    students = next(i for i in stores["ids"]["items"] if i["item"] == "students")
    assert students == {"item": "students", "kind": "table", "extracted": 300, "in_district": 300, "parents": 0,
                        "final": 300, "in_cert": 300, "ok": True, "strategy": "insert", "inserted": 300,
                        "updated": 0, "unchanged": 0}
    states = next(i for i in stores["ids"]["items"] if i["item"] == "states")
    assert states["parents"] == 50 and states["strategy"] == "merge" and states["unchanged"] == 50
    assert stores["ids"]["totals"]["extracted"] == 351 and stores["ids"]["totals"]["parents"] == 50
    rel = next(i for i in stores["sp"]["items"] if i["item"] == "ENROLLED_IN")
    assert rel["kind"] == "relationship" and rel["inserted"] == 300 and rel["in_cert"] == 300

    by_strategy = report["load"]["by_strategy"]
    assert by_strategy["insert"] == {"items": 3, "rows": 900, "inserted": 900, "updated": 0, "unchanged": 0,
                                     "conflicts": 0}
    assert by_strategy["upsert"] == {"items": 1, "rows": 280, "inserted": 200, "updated": 30, "unchanged": 50,
                                     "conflicts": 0}
    assert by_strategy["merge"] == {"items": 3, "rows": 52, "inserted": 0, "updated": 1, "unchanged": 51,
                                    "conflicts": 0}

    cov = report["anonymization"]
    assert cov["columns"] == 6 and cov["pii_columns"] == 4 and cov["unclassified_columns"] == 2
    assert cov["by_rule"]["first_name"] == 1 and cov["by_strategy"]["faker"] == 3
    flagged = {f["column"]: f["reason"] for f in cov["possible_pii_without_rule"]}
    assert "ids.students.nickname" in flagged
    assert flagged["hcp1.patients.notes"].startswith("7/20 sampled values contain emails")

    v = report["validation"]
    assert v["blocking"] == 0 and v["warnings"] == 1 and v["counts"]["tests"] == 120
    assert v["failing_tests"][0]["sample_keys"] == ["id=17", "id=23", "id=99"]
    assert v["by_severity"] == {"warn": {"tests": 1, "passed": 0, "failed": 1, "errored": 0, "skipped": 0}}
    assert report["timings"]["transform"]["dbt_s"] == 8.0
    assert report["verify"] == {"available": True, "status": "VALID", "checked": 7, "ok": 7, "issues": [],
                                "seconds": 1.0, "note": None}
    assert any("student_age" in w for w in report["warnings"])
    assert report["errors"] == []

    steps = " ".join(report["next_steps"])
    assert f"datamig rollback {RUN_OK}" in steps and f"datamig validate-migration {RUN_OK}" in steps
    assert "--resume" not in steps
    assert f"datamig rollback {RUN_OK}" in md and f"<code>datamig rollback {RUN_OK}</code>" in html
    assert "1,232" in md and "1,232" in html
    assert "Rows per table and phase" in html and "Time per phase" in html
    _assert_self_contained(html)
    _assert_no_secrets(texts)
    assert "***" in texts["json"]  # the planted log warning is kept, its secret is not


def test_graph_rows_merged_by_the_load_are_told_not_hidden(rcfg, project, tmp_path):
    """PROD's parallel relationships of one type between two nodes are one relationship in CERT:
    validate-migration counts distinct pairs (ok), and the report showed final 300, in CERT 299,
    ok, with nothing saying why."""
    run = _ok_run(rcfg)
    verified = json.loads((run / "post-load-validation.json").read_text())
    rel = next(r for r in verified["graph"] if r["name"] == "ENROLLED_IN")
    rel.update(distinct=299, in_cert=299)
    _write(run, "post-load-validation.json", verified)
    report, md, html_text, _ = _build(rcfg, project, RUN_OK, tmp_path)
    sp = next(s for s in report["stores"]["stores"] if s["store"] == "sp")
    item = next(i for i in sp["items"] if i["item"] == "ENROLLED_IN")
    assert (item["final"], item["distinct"], item["in_cert"], item["ok"]) == (300, 299, 299, True)
    note = "relationship ENROLLED_IN: its 300 final rows name 299 distinct (start, end) pairs, one each in CERT"
    assert note in report["stores"]["note"] and note in md and html.escape(note) in html_text
    student = next(i for i in sp["items"] if i["item"] == "Student")
    assert student["distinct"] is None and "Student" not in report["stores"]["note"]


def test_run_failed_at_the_gate(rcfg, project, tmp_path):
    _gate_run(rcfg)
    report, md, html, texts = _build(rcfg, project, RUN_GATE, tmp_path)
    s = report["summary"]
    assert s["status"] == "FAILED" and s["failed_phase"] == "gate"
    assert s["validation_status"] == "FAILED" and s["load_status"] is None
    assert "Validation FAILED for district 42" in s["verdict"] and "nothing was loaded" in s["verdict"]

    v = report["validation"]
    assert v["blocking"] == 2 and v["warnings"] == 1
    assert v["by_severity"]["error"]["failed"] == 2 and v["by_severity"]["warn"]["failed"] == 1
    assert [t["severity"] for t in v["failing_tests"]] == ["error", "error", "warn"]
    assert v["failing_tests"][0]["rule"] == "enrollment_before_graduation"
    # a model of no extracted table keeps the key columns the validation report named
    assert v["failing_tests"][0]["sample_keys"] == ["(student_id=5001, term=2)", "(student_id=5002, term=2)"]
    # a model of an extracted table: cut down to the table's primary key
    assert v["failing_tests"][1]["sample_keys"] == ["id=7"]
    assert [r["rule"] for r in v["rules"]] == ["enrollment_before_graduation", "students_complete", "email_format"]
    assert v["rules"][0] == {"rule": "enrollment_before_graduation", "severity": "error", "tests": 1, "failed": 1,
                             "failures": 12}
    assert "message" not in json.dumps(v["failing_tests"])  # dbt's messages are not copied

    assert report["load"]["available"] is False and "validation gate" in report["load"]["note"]
    assert report["verify"]["available"] is False
    assert {p["name"]: p["status"] for p in report["phases"]}["load"] == "pending"
    assert any("enrollment_before_graduation" in e and "blocks the load" in e for e in report["errors"])
    assert any(e.startswith("phase gate failed") for e in report["errors"])

    steps = " ".join(report["next_steps"])
    assert "enrollment_before_graduation (12 failing rows)" in steps and "students_complete" in steps
    assert "`datamig migrate --district 42`" in steps
    assert "rollback" not in steps.replace("nothing to roll back", "")
    assert "(student_id=5001, term=2)" in md and "(student_id=5001, term=2)" in html
    assert "Got 12 results" not in texts["json"]
    assert "the validation gate stopped the run" in md
    _assert_self_contained(html)
    _assert_no_secrets(texts)


def test_run_with_a_load_failure(rcfg, project, tmp_path):
    _load_failed_run(rcfg)
    report, md, html, texts = _build(rcfg, project, RUN_LOAD, tmp_path)
    s = report["summary"]
    assert s["status"] == "FAILED" and s["failed_phase"] == "load" and s["load_status"] == "FAILED"
    assert "The load of district 42 failed" in s["verdict"] and "CERT was left unchanged" in s["verdict"]
    assert report["load"]["conflicts"] == {"ids.students": {"count": 2, "sample_keys": ["11", "12"]}}
    # nothing was written: no inserted/updated counts are claimed
    students = next(i for st in report["stores"]["stores"] for i in st["items"] if i["item"] == "students")
    assert students["inserted"] is None and students["strategy"] == "insert"
    assert report["verify"]["available"] is False
    assert any(e.startswith("phase load failed: run ") for e in report["errors"])
    assert any(e.startswith("log: datamig.load: salt ***") for e in report["errors"])

    steps = " ".join(report["next_steps"])
    assert f"`datamig migrate --resume {RUN_LOAD}`" in steps
    assert "--strategy upsert" in steps
    assert "datamig rollback" not in steps
    assert "postgresql://datamig:***@127.0.0.1" in texts["json"]
    _assert_self_contained(html)
    _assert_no_secrets(texts)


def test_next_steps_differ_by_outcome(rcfg, project, tmp_path):
    _ok_run(rcfg), _gate_run(rcfg), _load_failed_run(rcfg)
    steps = {run: tuple(_build(rcfg, project, run, tmp_path)[0]["next_steps"]) for run in (RUN_OK, RUN_GATE, RUN_LOAD)}
    assert len(set(steps.values())) == 3


def test_dry_run_reports_what_the_load_would_do(rcfg, project, tmp_path):
    run = _ok_run(rcfg)
    state = _state(RUN_OK, {p: "done" for p in PHASES} | {"verify": "skipped"}, {"load": 1.0},
                   status="dry_run", dry_run=True)
    _write(run, "run-state.json", state)
    _write(run, "load-report.json", _load_report("DRY_RUN", dry_run=True))
    (run / "post-load-validation.json").unlink()
    report, md, _, _ = _build(rcfg, project, RUN_OK, tmp_path)
    assert report["summary"]["status"] == "DRY_RUN"
    assert report["load"]["by_strategy"]["upsert"]["inserted"] == 200  # planned: new rows
    assert report["load"]["by_strategy"]["upsert"]["updated"] == 30  # changed; its 50 unchanged are not
    for name, s in report["load"]["by_strategy"].items():
        assert s["inserted"] + s["updated"] + s["unchanged"] + s["conflicts"] == s["rows"], (name, s)
    assert "CERT unchanged" in report["summary"]["verdict"]
    assert "skipped" in report["verify"]["note"]
    assert any(step.startswith("Nothing was written to CERT") for step in report["next_steps"])


def test_run_stopped_before_extracting(rcfg, project, tmp_path):
    run = rcfg.out_dir / RUN_EARLY
    _write(run, "run-state.json", _state(RUN_EARLY, {"preflight": "failed"}, {"preflight": 0.2},
                                         {"preflight": "store sp (CERT) unreachable at 127.0.0.1:7999"},
                                         status="failed"))
    report, md, html, texts = _build(rcfg, project, RUN_EARLY, tmp_path)
    assert report["summary"]["status"] == "FAILED" and report["summary"]["failed_phase"] == "preflight"
    assert report["stores"]["available"] is False and "no extraction manifest" in report["stores"]["note"]
    assert report["validation"]["available"] is False and report["load"]["available"] is False
    assert report["summary"]["rows"]["total"] is None
    assert any(f"--resume {RUN_EARLY}" in s for s in report["next_steps"])
    assert "unreachable" in md and "no extraction manifest" in html
    _assert_self_contained(html)


def test_html_escapes_everything_it_prints(rcfg, project, tmp_path):
    evil = 'x"><img onerror=alert(1)>'
    run = rcfg.out_dir / RUN_EARLY
    _extracted(run, RUN_EARLY, tables={f"ids.{evil}": (3, 3)})
    _write(run, "run-state.json", _state(RUN_EARLY, {"preflight": "done", "extract": "done",
                                                     "transform": "failed"}, {"extract": 1.0},
                                         {"transform": "<script>alert('x')</script> & more"}, status="failed"))
    _, md, html, _ = _build(rcfg, project, RUN_EARLY, tmp_path)
    assert "<img" not in html and "<script" not in html.lower()
    assert "&lt;script&gt;" in html and "&lt;img onerror=alert(1)&gt;" in html
    assert "<script>" not in md and "<img" not in md
    _assert_self_contained(html)


def test_unknown_run_is_a_usage_error(rcfg, project, tmp_path):
    from datamig.errors import DatamigError

    with pytest.raises(DatamigError, match="not found"):
        build_report(rcfg, "mig-20990101-000000-d1", reports_dir=tmp_path, root=project, env=ENV)
    with pytest.raises(DatamigError, match="not a run id"):
        build_report(rcfg, "../etc", reports_dir=tmp_path, root=project, env=ENV)


def test_get_report_builds_beside_the_runs(rcfg, project, tmp_path, monkeypatch):
    """The runner's get_report contract: <runs folder>/../reports/<run_id>.json (data/runs ->
    data/reports), whatever the working directory."""
    from datamig.runner import api

    _gate_run(rcfg)
    monkeypatch.chdir(tmp_path)
    report = api.get_report(rcfg, RUN_GATE)
    assert report["summary"]["status"] == "FAILED"
    assert (Path(rcfg.out_dir).parent / "reports" / f"{RUN_GATE}.html").exists()


def test_tolerates_a_sparse_validation_report(rcfg, project, tmp_path):
    """Another writer's report with only a status (or older key names) still gives a report."""
    run = _gate_run(rcfg)
    _write(run, "validation-report.json", {"status": "FAILED"})
    report, md, _, _ = _build(rcfg, project, RUN_GATE, tmp_path)
    assert report["validation"]["status"] == "FAILED" and report["validation"]["rules"] == []
    assert "validation status FAILED" in report["errors"]
    _write(run, "validation-report.json", {"status": "FAILED", "counts": {"error": 1},
                                           "failing_tests": [{"test": "t1", "rule": "r1", "severity": "E",
                                                              "failures": 5, "sample_keys": ["k1"]}],
                                           "pii_warnings": ["ids.x.y: 3/10 sampled values are emails"]})
    report, _, _, _ = _build(rcfg, project, RUN_GATE, tmp_path)
    assert report["validation"]["failing_tests"][0]["severity"] == "error"
    assert report["validation"]["rules"][0]["rule"] == "r1"
    assert any(f["column"].startswith("ids.x.y") for f in report["anonymization"]["possible_pii_without_rule"])
    (run / "validation-report.json").write_text("{torn")
    report, _, _, _ = _build(rcfg, project, RUN_GATE, tmp_path)
    assert report["validation"]["available"] is False


def test_a_rolled_back_run_says_so_in_its_report_and_in_the_run_list(rcfg, project, tmp_path):
    """A standalone `datamig rollback` after the migrate: the migrate's run-state still says
    succeeded, so the rollback's report must be what tells the run's place in CERT."""
    run = _ok_run(rcfg)
    _write(run, "load-report.json", _load_report("LOADED") | {"finished_at": "2026-03-01T10:16:05+00:00"})
    _write(run, "rollback-report.json", {"run_id": RUN_OK, "status": "ROLLED_BACK",
                                         "finished_at": "2026-03-02T09:00:00+00:00"})
    report, md, html, _ = _build(rcfg, project, RUN_OK, tmp_path)
    assert report["summary"]["cert"] == {"status": "ROLLED_BACK", "at": "2026-03-02T09:00:00+00:00"}
    assert any("rolled back from CERT at 2026-03-02T09:00:00" in w for w in report["warnings"])
    assert "ROLLED_BACK (at 2026-03-02T09:00:00+00:00)" in md and "ROLLED_BACK" in html
    assert report["summary"]["verdict"].endswith("Then rolled back from CERT at 2026-03-02T09:00:00+00:00: "
                                                  "CERT holds none of its rows.")
    steps = " ".join(report["next_steps"])
    assert f"`datamig load {RUN_OK}`" in steps and "rollback" not in steps and "validate" not in steps
    assert "from before the run was rolled back from CERT at 2026-03-02T09:00:00+00:00" in report["stores"]["note"]
    assert not any("`datamig rollback` restores" in w for w in report["warnings"])

    runs = {r["run_id"]: r for r in list_runs(rcfg.out_dir)}
    assert runs[RUN_OK]["status"] == _state(RUN_OK, {}, {})["status"]  # the migrate's own record, unchanged
    assert runs[RUN_OK]["cert"]["status"] == "ROLLED_BACK"
    # loaded again after the rollback: the later report wins
    _write(run, "load-report.json", _load_report("ALREADY_LOADED") | {"finished_at": "2026-03-03T08:00:00+00:00"})
    assert {r["run_id"]: r for r in list_runs(rcfg.out_dir)}[RUN_OK]["cert"]["status"] == "LOADED"


def test_a_run_wiped_from_cert_by_seed_cert_says_so(rcfg, project, tmp_path):
    """seed-cert --yes replaced CERT under a loaded run: the folder's record of it wins over the
    earlier load, and is overtaken by a later one."""
    from datamig.report.artifacts import write_cert_replaced

    run = _ok_run(rcfg)
    _write(run, "load-report.json", _load_report("LOADED") | {"finished_at": "2026-03-01T10:16:05+00:00"})
    write_cert_replaced(run, "2026-03-02T09:00:00+00:00")
    report, md, _, _ = _build(rcfg, project, RUN_OK, tmp_path)
    assert report["summary"]["cert"] == {"status": "CERT_REPLACED", "at": "2026-03-02T09:00:00+00:00"}
    assert report["summary"]["verdict"].endswith("Then wiped from CERT by seed-cert at 2026-03-02T09:00:00+00:00: "
                                                  "CERT holds none of its rows.")
    steps = " ".join(report["next_steps"])
    assert f"`datamig load {RUN_OK}`" in steps and "rollback" not in steps and "validate" not in steps
    assert "CERT_REPLACED (at 2026-03-02T09:00:00+00:00)" in md
    assert {r["run_id"]: r for r in list_runs(rcfg.out_dir)}[RUN_OK]["cert"]["status"] == "CERT_REPLACED"
    _write(run, "load-report.json", _load_report("LOADED") | {"finished_at": "2026-03-03T08:00:00+00:00"})
    assert {r["run_id"]: r for r in list_runs(rcfg.out_dir)}[RUN_OK]["cert"]["status"] == "LOADED"


def test_the_run_list_shows_runs_no_migrate_recorded(rcfg):
    """Standalone extract and transform runs, and a new run that failed (only its run.log),
    are runs too; a folder whose name is no run id is not."""
    out = rcfg.out_dir
    extracted, transformed, failed = (f"mig-20260301-1{i}0000-d42" for i in range(3))
    _extracted(out / extracted, extracted)
    _extracted(out / transformed, transformed)
    _write(out / transformed, "validation-report.json", _validation("PASSED", []))
    _write(out / failed, "run.log", "2026-03-01 12:00:00,000 ERROR datamig.extract: store ids unreachable\n")
    (out / "mig-not-a-run").mkdir()
    (out / "mig-20260301-130000-d7").write_text("a file, not a run folder")
    runs = {r["run_id"]: r for r in list_runs(out)}
    assert set(runs) == {extracted, transformed, failed}
    assert [runs[r]["status"] for r in (extracted, transformed, failed)] == ["extracted", "transformed", "incomplete"]
    assert all(r["district"] == 42 and r["cert"] is None for r in runs.values())
    assert runs[transformed]["phases"]["transform"]["status"] == "done"


def test_a_run_made_phase_by_phase_lists_as_far_as_it_went(rcfg):
    """`datamig runs` said "transformed" of a run loaded and validated phase by phase (only the
    in-CERT column moved on); its status is now the last phase done, or failed."""
    out, run = rcfg.out_dir, rcfg.out_dir / RUN_OK

    def listed() -> dict:
        return {r["run_id"]: r for r in list_runs(out)}[RUN_OK]

    _extracted(run, RUN_OK)
    _write(run, "validation-report.json", _validation("PASSED", []))
    _write(run, "load-report.json", _load_report("DRY_RUN", dry_run=True))
    assert listed()["status"] == "transformed"  # a dry run's plan is no load
    _write(run, "load-report.json", _load_report("LOADED"))
    assert listed()["status"] == "loaded" and listed()["phases"]["load"]["status"] == "done"
    _write(run, "post-load-validation.json", {"run_id": RUN_OK, "district": 42, "status": "INVALID",
                                              "issues": [{"check": "x"}], "seconds": 3.0})
    assert listed()["status"] == "failed" and listed()["phases"]["verify"]["error"] == "1 issue found in CERT"
    _write(run, "post-load-validation.json", {"run_id": RUN_OK, "district": 42, "status": "VALID", "issues": [],
                                              "seconds": 3.0})
    assert listed()["status"] == "verified"


def test_a_run_made_phase_by_phase_reports_its_phases_and_the_next_one(rcfg, project, tmp_path):
    """`datamig extract`, `transform`, `load`, `validate-migration` one by one leave no
    run-state.json: the report read "status UNKNOWN", no phases, no next step."""
    run = rcfg.out_dir / RUN_OK
    _extracted(run, RUN_OK)

    def built() -> dict:
        report = _build(rcfg, project, RUN_OK, tmp_path)[0]
        assert "--resume" not in " ".join(report["next_steps"])  # no migrate to resume
        return report

    report = built()
    assert [(p["name"], p["status"]) for p in report["phases"]] == [
        ("extract", "done"), ("transform", "pending"), ("load", "pending"), ("verify", "pending")]
    assert report["summary"]["status"] == "INCOMPLETE" and report["summary"]["failed_phase"] == "transform"
    assert report["summary"]["verdict"] == ("The run of district 42 is made phase by phase: extract done; "
                                            "next, the transform.")
    assert report["next_steps"][0] == f"Next, the transform: `datamig transform --district 42 --run-id {RUN_OK}`."

    _final(run)
    _write(run, "validation-report.json", _validation("FAILED", [
        {"test": "t", "model": "ids__students", "column": "id", "rule": "pk", "severity": "error", "failures": 2,
         "sample_keys": [{"id": 1}]}]))
    report = built()
    assert report["summary"]["status"] == "FAILED" and report["summary"]["failed_phase"] == "transform"
    assert report["summary"]["verdict"].startswith("Validation FAILED for district 42")
    assert f"run it again from the transform: `datamig transform --district 42 --run-id {RUN_OK}`" in \
        " ".join(report["next_steps"])

    _write(run, "validation-report.json", _validation("PASSED", []))
    _write(run, "load-report.json", _load_report("DRY_RUN", dry_run=True))
    report = built()  # a dry run's plan is no load
    assert report["summary"]["verdict"].endswith("extract and transform done; next, the load into CERT.")
    assert report["next_steps"][0] == f"Next, the load into CERT: `datamig load {RUN_OK}`."

    _write(run, "load-report.json", _load_report("FAILED", error="CERT's schema drifted"))
    report = built()
    assert report["summary"]["failed_phase"] == "load"
    assert f"then run the load again: `datamig load {RUN_OK}`." in " ".join(report["next_steps"])

    _write(run, "load-report.json", _load_report("LOADED"))
    report = built()
    assert report["summary"]["verdict"].endswith("extract, transform and load done; next, the post-load validation.")
    assert report["next_steps"][0] == f"Next, the post-load validation: `datamig validate-migration {RUN_OK}`."

    _write(run, "post-load-validation.json", {"run_id": RUN_OK, "district": 42, "status": "VALID", "issues": [],
                                              "warnings": [], "tables": [], "graph": [], "links": [], "seconds": 2.5})
    report = built()
    assert report["summary"]["status"] == "SUCCEEDED" and report["summary"]["verdict"].startswith("Migrated district 42")
    assert [p["status"] for p in report["phases"]] == ["done"] * 4 and report["phases"][3]["seconds"] == 2.5


@pytest.mark.parametrize("name", sorted(__import__("datamig.report.outcome", fromlist=["COMMANDS"]).COMMANDS))
def test_every_command_a_report_suggests_is_one_the_cli_takes(name):
    """The reports told users to run `datamig migrate 42`, which the CLI refuses."""
    import shlex

    import typer

    from datamig.cli import app
    from datamig.report.outcome import command

    words = shlex.split(command(name, RUN_OK, 42))
    assert words[0] == "datamig"
    group = typer.main.get_command(app)
    sub = group.get_command(group.make_context("datamig", list(words[1:2])), words[1])
    assert sub is not None, words
    sub.make_context(words[1], list(words[2:]))  # raises a usage error for any argument it refuses


def test_rows_cert_held_that_the_load_rewrote_are_a_warning(rcfg, project, tmp_path):
    """A review: the load rewrote 45 of CERT's own rows and nodes, and the report showed it only
    as per-table counts."""
    _ok_run(rcfg)
    report = _build(rcfg, project, RUN_OK, tmp_path)[0]
    assert report["load"]["overwritten"] == {"hcp1.patients": 30, "ids.districts": 1}  # not its 50 unchanged
    warning = next(w for w in report["warnings"] if w.startswith("the load overwrote"))
    assert warning == ("the load overwrote 31 rows CERT already held (its own test data or an earlier run's): "
                       "hcp1.patients (30), ids.districts (1); their before-images are kept and "
                       "`datamig rollback` restores them")


def test_a_running_run_whose_process_is_gone_is_listed_as_interrupted(rcfg, tmp_path):
    """A migrate whose MCP server was stopped stayed "running" in list_runs for ever."""
    import os
    import socket
    import subprocess
    import sys

    from datamig.errors import DatamigError
    from datamig.runner import migrate

    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    for run_id, pid in ((RUN_OK, gone.pid), (RUN_GATE, os.getpid())):
        _write(rcfg.out_dir / run_id, "run-state.json",
               _state(run_id, {"preflight": "done", "extract": "running"}, {}) | {"pid": pid, "host": socket.gethostname()})
    runs = {r["run_id"]: r["status"] for r in list_runs(rcfg.out_dir)}
    assert runs == {RUN_OK: "interrupted", RUN_GATE: "running"}
    for run_id, status in ((RUN_OK, "INTERRUPTED"), (RUN_GATE, "INCOMPLETE")):
        summary = build_report(rcfg, run_id, reports_dir=tmp_path / "reports", root=tmp_path, env=ENV)
        assert json.loads(summary["json"].read_text())["summary"]["status"] == status
    report = json.loads((tmp_path / "reports" / f"{RUN_OK}.json").read_text())
    assert report["summary"]["verdict"] == ("The run of district 42 was interrupted at extract: its process ended, "
                                            "or was stopped (Ctrl-C), before it did.")
    assert report["next_steps"][0] == f"Resume it from the phase it stopped in: `datamig migrate --resume {RUN_OK}`."
    with pytest.raises(DatamigError, match=f"run {RUN_GATE} is running \\(process {os.getpid()} on "):
        migrate.resume(rcfg, {}, tmp_path, RUN_GATE)


def test_two_writers_of_one_report_file_never_break_each_other(tmp_path):
    """get_report (an agent) and the run's own report phase can write the same report at once:
    they shared one temporary name, so one renamed the other's half-written file away and the
    other's rename failed (FileNotFoundError), or the report was left cut short."""
    import threading

    from datamig.report.build import _write

    path = tmp_path / "reports" / "r.json"
    texts = ["a" * 300_000, "b" * 200_000]
    errors = []

    def writer(text: str) -> None:
        try:
            for _ in range(150):
                _write(path, text)
                assert path.read_text() in texts
        except Exception as exc:  # collected: an exception in a thread would not fail the test
            errors.append(repr(exc))

    threads = [threading.Thread(target=writer, args=(t,)) for t in texts]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert path.read_text() in texts and [p.name for p in path.parent.iterdir()] == ["r.json"]


def test_a_test_that_errored_is_told_apart_from_one_that_found_rows(rcfg, project, tmp_path):
    """A dbt test that errored (its SQL failed: it never ran) showed as '-' failures and as
    "0 failing rows (1 test failed)": read as a test that failed on nothing."""
    run = rcfg.out_dir / RUN_GATE
    _extracted(run, RUN_GATE)
    _write(run, "run-state.json", _state(RUN_GATE, {"preflight": "done", "extract": "done", "transform": "done",
                                                     "gate": "failed"}, {}, {"gate": "validation FAILED"},
                                         status="failed"))
    _write(run, "validation-report.json", _validation("FAILED", [
        {"test": "students_complete_first_name", "model": "ids__students", "column": "first_name",
         "rule": "students_complete", "severity": "error", "status": "error", "failures": None,
         "message": "Runtime Error: Binder Error: column first_name not found"}]))
    report, md, html_text, _ = _build(rcfg, project, RUN_GATE, tmp_path)
    assert "| error | students_complete_first_name | ids__students | first_name | students_complete | errored |" in md
    assert "<td>students_complete</td><td class=\"n\">errored</td>" in html_text
    assert ("validation rule students_complete: 1 test errored (not run: the message is in "
            "validation-report.json) (blocks the load)") in report["errors"]
    assert "Runtime Error" not in md  # dbt's messages are not copied (one may quote a value)
    assert "students_complete (1 test errored)" in report["next_steps"][0]


def test_a_migrate_still_running_is_not_told_as_a_run_made_phase_by_phase(rcfg, project, tmp_path):
    """get_report during a migrate (an agent's tools run side by side) read "The run of district
    42 is made phase by phase: ...": the verdict of a run with no migrate, under a next step of
    `datamig migrate --resume`."""
    import os
    import socket

    run = rcfg.out_dir / RUN_GATE
    _extracted(run, RUN_GATE)
    state = _state(RUN_GATE, {"preflight": "done", "extract": "done", "transform": "done", "gate": "done",
                              "load": "running"}, {"extract": 4.0})
    _write(run, "run-state.json", {**state, "pid": os.getpid(), "host": socket.gethostname()})  # alive
    _write(run, "validation-report.json", _validation("PASSED", []))
    report, md, _, _ = _build(rcfg, project, RUN_GATE, tmp_path)
    assert report["summary"]["status"] == "INCOMPLETE"
    assert report["summary"]["verdict"] == "The run of district 42 is in progress or was interrupted (at load)."
    assert "phase by phase" not in md


def test_the_fakes_provenance_is_reported_and_no_artifact_nothing_writes(rcfg, project, tmp_path):
    """The artifact list named an anonymization-report.json nothing writes (always 'no'); what
    it was to hold, the dictionaries the fakes came from (a Faker upgrade changes them), is the
    transform's validation report's `anonymization`, shown in the coverage section."""
    run = _ok_run(rcfg)
    validation = json.loads((run / "validation-report.json").read_text())
    validation["anonymization"] = {"dictionaries_sha256": "ab" * 32, "faker": "40.54.0", "locale": "en_US",
                                   "dictionary_seed": 7}
    _write(run, "validation-report.json", validation)
    report, md, html, _ = _build(rcfg, project, RUN_OK, tmp_path)
    assert report["anonymization"]["fakes"] == validation["anonymization"]
    line = "Fakes picked from dictionaries sha256 abababababababab (Faker 40.54.0, locale en_US, seed 7)"
    assert line in md and line in html
    assert not any("anonymization" in a["name"] for a in report["artifacts"])
