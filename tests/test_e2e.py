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
    assert cert_data(env) != {k: v for k, v in before.items() if not k.endswith(".datamig")}

    # loading the same run again changes nothing
    loaded = cert_state(env)
    run_cli(env, workdir, "load", "--run", run_id, check=0)
    assert cert_state(env) == loaded

    run_cli(env, workdir, "rollback", run_id, "--yes", check=0)
    assert cert_data(env) == {k: v for k, v in before.items() if not k.endswith(".datamig")}


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
