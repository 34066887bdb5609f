"""End to end on the tiny estate, through the real CLI as users run it: a dry run leaves CERT
byte-identical; a load killed mid-way then `--resume` completes and validate-migration says
VALID; rollback restores CERT exactly; a planted leak makes migrate exit 1 with nothing
loaded."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from datamig.load.fingerprint import graph_fingerprint, pg_fingerprint

ROOT = Path(__file__).resolve().parents[1]
DATAMIG = ROOT / ".venv" / "bin" / "datamig"
PG_STORES = ("ids", "hcp1", "hcp2", "adb")


def cert_state(env) -> dict:
    """Every CERT table's rows (public and the datamig ledger) and the whole CERT graph."""
    state = {}
    for store in PG_STORES:
        state[store] = pg_fingerprint(env[f"CERT_{store.upper()}_URL"])
        state[f"{store}.datamig"] = pg_fingerprint(env[f"CERT_{store.upper()}_URL"], "datamig")
    state["sp"] = graph_fingerprint(env["CERT_SP_URL"], env["CERT_SP_USER"], env["CERT_SP_PASSWORD"])
    return state


def cert_data(env) -> dict:
    """CERT's own data only (public schemas and graph minus datamig's run bookkeeping)."""
    state = cert_state(env)
    return {k: v for k, v in state.items() if not k.endswith(".datamig")}


@pytest.fixture(scope="module")
def workdir(tmp_path_factory, tiny_estate):
    """Runs land in a folder of their own (config extract.out_dir via a copied config)."""
    base = tmp_path_factory.mktemp("e2e")
    config = (ROOT / "config" / "datamig.yaml").read_text().replace(
        "out_dir: data/runs", f"out_dir: {base / 'runs'}")
    (base / "datamig.yaml").write_text(config)
    return base


def run_cli(env, workdir: Path, *args, extra_env=None, cwd=ROOT, check=None):
    full = {**os.environ, **env, "DATAMIG_SALT": "e2e-salt-0123456789abcdef", "DATAMIG_CONFIG": str(workdir / "datamig.yaml"),
            "DATAMIG_RUNS_DIR": str(workdir / "runs"), **(extra_env or {})}
    proc = subprocess.run([str(DATAMIG), *args], cwd=cwd, env=full, capture_output=True, text=True, timeout=1500)
    if check is not None:
        assert proc.returncode == check, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc


def result_of(proc) -> dict:
    return json.loads(proc.stdout[proc.stdout.index("{"):])


def test_dry_run_leaves_cert_byte_identical(tiny_estate, workdir):
    env = tiny_estate["env"]
    before = cert_state(env)
    proc = run_cli(env, workdir, "migrate", "--district", "42", "--dry-run", "--json", check=0)
    result = result_of(proc)
    assert result["status"] == "dry_run"
    assert result["phases"]["load"]["status"] == "done"
    assert result["phases"]["verify"]["status"] == "skipped"
    assert cert_state(env) == before
    plan = json.loads((Path(result["run_dir"]) / "load-report.json").read_text())
    assert plan["status"] == "DRY_RUN"


def test_killed_load_resumes_then_validates_and_rolls_back(tiny_estate, workdir):
    env = tiny_estate["env"]
    before = cert_state(env)
    killed = run_cli(env, workdir, "migrate", "--district", "42", "--yes", "--json",
                     extra_env={"DATAMIG_FAILPOINT": "load:after-stage"})
    assert killed.returncode != 0
    runs = sorted((workdir / "runs").glob("mig-*/run-state.json"))
    state = json.loads(runs[-1].read_text())
    run_id = state["run_id"]
    assert state["phases"]["transform"]["status"] == "done"
    assert state["phases"]["load"]["status"] != "done"

    resumed = result_of(run_cli(env, workdir, "migrate", "--resume", run_id, "--json", check=0))
    assert resumed["status"] == "succeeded", resumed
    assert all(p["status"] in ("done", "skipped") for p in resumed["phases"].values())
    assert Path(resumed["reports"]["html"]).exists()

    check = run_cli(env, workdir, "validate-migration", run_id, check=0)
    assert "VALID" in check.stdout
    post = json.loads((workdir / "runs" / run_id / "post-load-validation.json").read_text())
    assert post["status"] == "VALID" and post["tables"] and all(r["ok"] for r in post["tables"])
    # The transform's tests ran again against CERT (dbt-postgres), on the run's rows.
    tests = [t for s in post["dbt_tests"]["stores"] for t in s["tests"]]
    assert {s["store"] for s in post["dbt_tests"]["stores"]} == set(PG_STORES)
    assert tests and post["dbt_tests"]["summary"]["failed"] == post["dbt_tests"]["summary"]["errored"] == 0
    names = {t["test"] for t in tests}
    assert "fk_ids__enrollments__student_id" in names and "enrollment_before_graduation__ids__students" in names
    assert any(t["type"] == "unique" for t in tests) and any(t["type"] == "datamig_relationship" for t in tests)
    assert not any("leak" in t["rule"] for t in tests)
    assert post["links"] and all(r["ok"] and r["checked"] > 0 for r in post["links"])
    # a test spanning two databases is not run there, and says so (the links above cover FKs)
    cross = {t["test"] for s in post["dbt_tests"]["stores"] for t in s["not_run_cross_store"]}
    assert "fk_hcp1__patients__ids_student_id" in cross and not cross & names
    # the rule tests among them ran in Python over the run's rows, with the transform's verdicts
    results = json.loads((workdir / "runs" / run_id / "dbt" / "run_results.json").read_text())["results"]
    verdicts = {r["unique_id"].split(".")[2]: r["status"] for r in results if r["unique_id"].startswith("test.")}
    rules = {t["test"]: t["status"] for t in post["cross_store_tests"]}
    assert set(rules) == {"schools_belong_to_district__ids__schools", "ids_hcp1_student_counts_within_5pct__ids__students"}
    assert rules == {name: verdicts[name] for name in rules} and set(rules) <= cross
    assert cert_data(env) != {k: v for k, v in before.items() if not k.endswith(".datamig")}

    corrupted_cert_fails_validation(env, workdir, run_id)

    # loading the same run again changes nothing
    loaded = cert_state(env)
    run_cli(env, workdir, "load", run_id, check=0)
    assert cert_state(env) == loaded
    # nor do a re-seed of CERT (it would wipe the run and its rollback records) or a rebuild of
    # the run's final/ (what CERT holds): both refused in one line
    reseed = run_cli(env, workdir, "seed-cert", check=2)
    assert "error: CERT holds runs loaded by datamig (" in reseed.stderr and run_id in reseed.stderr
    final = {p: p.stat().st_mtime_ns for p in (workdir / "runs" / run_id / "final").rglob("*.parquet")}
    rebuild = run_cli(env, workdir, "transform", "--district", "42", "--run-id", run_id, check=2)
    assert f"error: run {run_id} is loaded into CERT" in rebuild.stderr
    assert {p: p.stat().st_mtime_ns for p in (workdir / "runs" / run_id / "final").rglob("*.parquet")} == final
    assert cert_state(env) == loaded

    # the corruption and its repair above were writes of CERT's to loaded rows: refused unforced
    refused = run_cli(env, workdir, "rollback", run_id, "--yes", check=1)
    assert f"run {run_id}: cannot roll back: CERT wrote " in refused.stderr and "--force" in refused.stderr
    assert cert_state(env) == loaded
    run_cli(env, workdir, "rollback", run_id, "--yes", "--force", check=0)
    assert cert_data(env) == {k: v for k, v in before.items() if not k.endswith(".datamig")}

    reseeded_cert_forgets_the_run(env, workdir, run_id)


def reseeded_cert_forgets_the_run(env, workdir: Path, run_id: str) -> None:
    """Loaded again, then CERT replaced by `seed-cert --yes`: the run's folder no longer calls it
    loaded (runs, the report, validate-migration, rollback all say where it went)."""
    pristine = cert_state(env)  # CERT as seed-cert makes it (the rollback left the ledger's history)
    run_cli(env, workdir, "load", run_id, check=0)
    reseed = run_cli(env, workdir, "seed-cert", "--yes", check=0)
    assert f"{run_id}: no longer in CERT (seed-cert replaced it)" in reseed.stdout
    assert cert_data(env) == {k: v for k, v in pristine.items() if not k.endswith(".datamig")}
    runs = run_cli(env, workdir, "runs", check=0, extra_env={"COLUMNS": "250"})
    assert "CERT_REPLACED" in next(line for line in runs.stdout.splitlines() if run_id in line)
    refused = run_cli(env, workdir, "validate-migration", run_id, check=2)
    assert f"error: run {run_id} was wiped from CERT by seed-cert at " in refused.stderr
    assert f"error: run {run_id} is not loaded in CERT" in run_cli(env, workdir, "rollback", run_id, "--yes",
                                                                   check=2).stderr
    run_cli(env, workdir, "report", run_id, check=0)
    report = json.loads((workdir / "reports" / f"{run_id}.json").read_text())
    assert "Then wiped from CERT by seed-cert at " in report["summary"]["verdict"], report["summary"]["verdict"]
    assert "the run was wiped from CERT by seed-cert at " in " ".join(report["warnings"])
    assert f"datamig load {run_id}" in " ".join(report["next_steps"])
    # its ledger went with CERT: loading it again loads it (not "already loaded"), exactly undone
    assert result_of(run_cli(env, workdir, "load", run_id, check=0))["status"] == "LOADED"
    assert cert_data(env) != {k: v for k, v in pristine.items() if not k.endswith(".datamig")}
    run_cli(env, workdir, "rollback", run_id, "--yes", check=0)
    assert cert_data(env) == {k: v for k, v in pristine.items() if not k.endswith(".datamig")}


def _admin(env, store: str):
    """Superuser on a CERT database: may switch FK triggers off for its session."""
    import psycopg
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    info = conninfo_to_dict(env["DATAMIG_PG_ADMIN_URL"])
    info["dbname"] = conninfo_to_dict(env[f"CERT_{store.upper()}_URL"])["dbname"]
    conn = psycopg.connect(make_conninfo(**info), autocommit=True)
    conn.execute("SET session_replication_role = replica")
    return conn


def _run_key(conn, run_id: str, table: str, where: str = "true") -> int:
    """The smallest id of `table` that the run loaded (and that `where` holds for)."""
    return conn.execute(f"SELECT min(t.id) FROM {table} AS t WHERE {where} AND t.id IN (SELECT x FROM "
                        "datamig.run_keys, unnest((key ->> 'id')::bigint[]) AS x WHERE run_id = %s "
                        "AND table_name = %s)", (run_id, f"public.{table}")).fetchone()[0]


def corrupted_cert_fails_validation(env, workdir: Path, run_id: str) -> None:
    """Loaded rows broken behind the loader's back (an FK child whose parent is absent, a
    business rule broken, a cross-database link to nowhere): validate-migration exits 1 naming
    each check, with the rows' keys and no values; CERT is then put back as loaded."""
    with _admin(env, "ids") as ids, _admin(env, "hcp1") as hcp1:
        enrollment, student = _run_key(ids, run_id, "enrollments"), _run_key(ids, run_id, "students", "t.enrollment_date IS NOT NULL")
        patient, encounter = _run_key(hcp1, run_id, "patients"), _run_key(hcp1, run_id, "encounters")
        saved = (ids.execute("SELECT student_id FROM enrollments WHERE id = %s", (enrollment,)).fetchone()[0],
                 ids.execute("SELECT graduation_date FROM students WHERE id = %s", (student,)).fetchone()[0],
                 hcp1.execute("SELECT ids_student_id FROM patients WHERE id = %s", (patient,)).fetchone()[0],
                 hcp1.execute("SELECT provider_id FROM encounters WHERE id = %s", (encounter,)).fetchone()[0])
        ids.execute("UPDATE enrollments SET student_id = 987654321 WHERE id = %s", (enrollment,))
        ids.execute("UPDATE students SET graduation_date = enrollment_date - 1 WHERE id = %s", (student,))
        hcp1.execute("UPDATE patients SET ids_student_id = 987654321 WHERE id = %s", (patient,))
        # and one in a store after the first: every store's failures are found and sampled
        hcp1.execute("UPDATE encounters SET provider_id = 987654321 WHERE id = %s", (encounter,))
        try:
            proc = run_cli(env, workdir, "validate-migration", run_id, check=1)
            assert "ISSUES_FOUND" in proc.stdout
            # its own table, not dbt's console lines (they came in colour, amid the table)
            assert "Failure in test" not in proc.stdout + proc.stderr and "\x1b[" not in proc.stdout
            _corruption_found(json.loads((workdir / "runs" / run_id / "post-load-validation.json").read_text()),
                              enrollment, student, patient, encounter)
        finally:
            ids.execute("UPDATE enrollments SET student_id = %s WHERE id = %s", (saved[0], enrollment))
            ids.execute("UPDATE students SET graduation_date = %s WHERE id = %s", (saved[1], student))
            hcp1.execute("UPDATE patients SET ids_student_id = %s WHERE id = %s", (saved[2], patient))
            hcp1.execute("UPDATE encounters SET provider_id = %s WHERE id = %s", (saved[3], encounter))


def _corruption_found(post: dict, enrollment: int, student: int, patient: int, encounter: int) -> None:
    assert post["status"] == "ISSUES_FOUND"
    failed = {t["test"]: t for s in post["dbt_tests"]["stores"] for t in s["tests"] if t["status"] == "fail"}
    assert set(failed) == {"fk_ids__enrollments__student_id", "enrollment_before_graduation__ids__students",
                           "fk_hcp1__encounters__provider_id"}
    assert failed["fk_ids__enrollments__student_id"]["failures"] == 1
    # failing rows told by their keys (primary, foreign, surrogate: never a PII column)
    for name, key in (("fk_ids__enrollments__student_id", enrollment),
                      ("enrollment_before_graduation__ids__students", student),
                      ("fk_hcp1__encounters__provider_id", encounter)):
        sample = failed[name]["sample_keys"]
        assert [row["id"] for row in sample] == [key]
        assert set(sample[0]) == set(failed[name]["sample_key_columns"])
        assert not {"first_name", "last_name", "email", "ssn"} & set(sample[0])
    link = next(r for r in post["links"] if r["link"].startswith("hcp1.patients.ids_student_id"))
    assert not link["ok"] and link["missing"] == 1 and link["sample_keys"] == [{"id": patient}]
    assert all("fk_ids__enrollments__student_id" in i or "enrollment_before_graduation" in i
               or "hcp1.patients" in i or "fk_hcp1__encounters__provider_id" in i for i in post["issues"])
    assert len(post["issues"]) == 4


def test_planted_leak_exits_1_and_loads_nothing(tiny_estate, workdir, tmp_path):
    """A project copy whose anonymized students model passes first_name through unchanged (a
    broken model, as a careless edit would leave it): the leak tests fail, the gate stops the
    load."""
    env = tiny_estate["env"]
    project = tmp_path / "project"
    project.mkdir()
    for item in ("dbt_project.yml", "profiles.yml", "config", "macros", "dbt_project", "seeds"):
        src = ROOT / item
        (shutil.copytree if src.is_dir() else shutil.copy)(src, project / item)
    model = project / "dbt_project/intermediate/ids/int_ids__students_anonymized.sql"
    lines = model.read_text().splitlines(keepends=True)
    leaked = [i for i, line in enumerate(lines) if "anonymize('first_name'" in line]
    assert leaked
    lines[leaked[0]] = "    first_name,\n"
    model.write_text("".join(lines))

    before = cert_state(env)
    proc = run_cli(env, workdir, "migrate", "--district", "42", "--yes", "--json", cwd=project)
    assert proc.returncode == 1, proc.stdout[-2000:] + proc.stderr[-2000:]
    result = result_of(proc)
    assert result["phases"]["gate"]["status"] == "failed"
    assert result["phases"]["load"]["status"] == "pending"
    report = json.loads((Path(result["run_dir"]) / "validation-report.json").read_text())
    assert report["status"] == "FAILED"
    assert any(t.get("rule") == "pii_leak" for t in report.get("failing_tests", report.get("failures", [])))
    assert cert_state(env) == before


ASSIGNMENT_POINTS = "    - name: max_points\n      data_type: numeric(6,2)\n"
PREREQUISITE_GRADE = "    - name: min_grade\n      data_type: character varying(2)\n"
STUDENT_STATE_ID = "    - name: state_student_id\n      data_type: text\n"
IDS, SP = "ids/_ids__staging.yml", "sp/_sp__staging.yml"


@pytest.mark.parametrize("command", ["migrate", "extract"])
@pytest.mark.parametrize("staging, edit, error", [
    (IDS, lambda t: t.replace(ASSIGNMENT_POINTS, ASSIGNMENT_POINTS + ASSIGNMENT_POINTS.replace("max_", "retired_")),
     "schema drift: ids.assignments.retired_points is in the dbt models but not in PROD: run `datamig scaffold`"),
    (IDS, lambda t: t.replace(PREREQUISITE_GRADE, ""),
     "schema drift: ids.course_prerequisites.min_grade is not in the dbt models: run `datamig scaffold` and "
     "classify it"),
    (SP, lambda t: t.replace(STUDENT_STATE_ID, STUDENT_STATE_ID + STUDENT_STATE_ID.replace("state_", "retired_")),
     "schema drift: sp.node_student.retired_student_id is in the dbt models but not in PROD: run `datamig scaffold`"),
    (SP, lambda t: t.replace(STUDENT_STATE_ID, ""),
     "schema drift: sp.node_student.state_student_id is not in the dbt models: run `datamig scaffold` and "
     "classify it"),
], ids=["column-gone-from-prod", "column-new-in-prod", "graph-property-gone-from-prod",
        "graph-property-new-in-prod"])
def test_prod_drifted_from_the_models_stops_migrate_and_extract_before_a_run_exists(
        tiny_estate, workdir, tmp_path, command, staging, edit, error):
    """PROD and CERT changed alike (a column added to both, or dropped from PROD) since the models
    were generated: preflight passed, the extract wrote PROD's rows into a run folder, and the
    transform's drift gate stopped it there, a failed run with no report. A standalone extract
    was checked against neither side, and migrate's preflight not against the graph's."""
    project = tmp_path / "project"
    project.mkdir()
    for item in ("dbt_project.yml", "config", "dbt_project"):
        src = ROOT / item
        (shutil.copytree if src.is_dir() else shutil.copy)(src, project / item)
    staging = project / "dbt_project/staging" / staging
    edited = edit(staging.read_text())
    assert edited != staging.read_text()
    staging.write_text(edited)
    runs = workdir / "runs"
    before = sorted(p.name for p in runs.iterdir()) if runs.exists() else []
    args = ("--yes",) if command == "migrate" else ()
    proc = run_cli(tiny_estate["env"], workdir, command, "--district", "42", *args, cwd=project, check=2)
    assert proc.stderr.strip().splitlines() == [f"error: {error}"]
    assert (sorted(p.name for p in runs.iterdir()) if runs.exists() else []) == before


def test_extract_in_a_checkout_whose_models_match_prod_goes_ahead(tiny_estate, tmp_path):
    own = tmp_path / "own"
    own.mkdir()
    (own / "datamig.yaml").write_text((ROOT / "config" / "datamig.yaml").read_text().replace(
        "out_dir: data/runs", f"out_dir: {own / 'runs'}"))
    run_cli(tiny_estate["env"], own, "extract", "--district", "42", cwd=ROOT, check=0)
    assert len(list((own / "runs").glob("mig-*/extract/extraction-manifest.json"))) == 1
