"""Ctrl-C in the middle of `datamig migrate` (SIGINT to its whole process group, as a terminal
sends it): one line saying where the run stopped and how to resume it, exit 130, the run
recorded as interrupted with its report written, and `--resume` then finishes it."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import re
import sys
import time

import pytest
from pathlib import Path

from test_e2e import DATAMIG, ROOT, run_cli

SALT = "e2e-salt-0123456789abcdef"


def _state(runs: Path) -> dict | None:
    for path in runs.glob("mig-*/run-state.json"):
        try:
            return json.loads(path.read_text())
        except ValueError:  # being replaced
            return None
    return None


def _wait_for_phase(proc: subprocess.Popen, runs: Path, phase: str, seconds: float = 600) -> dict:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        state = _state(runs)
        if state and state["phases"][phase]["status"] == "running":
            return state
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.2)
    raise AssertionError(f"migrate never reached {phase}")


# 0.2 s: early enough to land, at times, in a driver's finalizer, where Python swallows it
@pytest.mark.parametrize("delay", [0.2, 3.0])
def test_ctrl_c_during_the_transform_stops_the_run_cleanly_and_resume_finishes_it(tiny_estate, tmp_path, delay):
    config = (ROOT / "config" / "datamig.yaml").read_text().replace("out_dir: data/runs", f"out_dir: {tmp_path / 'runs'}")
    (tmp_path / "datamig.yaml").write_text(config)
    env = {**os.environ, **tiny_estate["env"], "DATAMIG_SALT": SALT, "DATAMIG_CONFIG": str(tmp_path / "datamig.yaml"),
           "DATAMIG_RUNS_DIR": str(tmp_path / "runs"), "COLUMNS": "200"}
    proc = subprocess.Popen([str(DATAMIG), "migrate", "--district", "42", "--dry-run"], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        state = _wait_for_phase(proc, tmp_path / "runs", "transform")
        time.sleep(delay)
        os.killpg(proc.pid, signal.SIGINT)
        out, err = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    run_id = state["run_id"]
    assert proc.returncode == 130, out + err
    lines = err.strip().splitlines()
    # in the transform, or (Ctrl-C swallowed where Python drops it) before the gate
    where = re.fullmatch(rf"interrupted: run {run_id} stopped (in transform|before gate); resume it with "
                         rf"`datamig migrate --resume {run_id}`", lines[0] if len(lines) == 1 else "")
    assert where, out + err
    assert "Traceback" not in out + err and "Exception ignored" not in err and SALT not in out + err
    state = json.loads((tmp_path / "runs" / run_id / "run-state.json").read_text())
    assert state["status"] == "interrupted"
    stopped = "transform" if where.group(1) == "in transform" else "gate"
    assert [n for n, p in state["phases"].items() if p["status"] not in ("done", "skipped")][0] == stopped
    if stopped == "transform":
        assert state["phases"]["transform"] == {**state["phases"]["transform"], "status": "failed",
                                                "error": "interrupted"}
    report = json.loads((tmp_path / "reports" / f"{run_id}.json").read_text())
    assert (report["summary"]["status"], report["summary"]["failed_phase"]) == ("INTERRUPTED", stopped)
    # resumed, it runs the transform again and finishes, showing the load plan a dry run promises
    resumed = run_cli(tiny_estate["env"], tmp_path, "migrate", "--resume", run_id, check=0,
                      extra_env={"COLUMNS": "200"})
    assert f"run {run_id} (dry_run)" in resumed.stdout and "load plan (dry run: CERT unchanged)" in resumed.stdout
    plan = json.loads((tmp_path / "runs" / run_id / "load-dry-run-report.json").read_text())
    students = plan["stores"]["ids"]["tables"]["students"]
    assert any(line.split("│")[1:8] and [c.strip() for c in line.split("│")[1:8]] ==
               ["ids.students", students["strategy"], str(students["rows"]), str(students["to_insert"]),
                str(students["to_update"]), str(students["unchanged"]), str(students["conflicts"])]
               for line in resumed.stdout.splitlines()), resumed.stdout


SIGTERMED_BENCH = """
import os, sys
from pathlib import Path
from datamig.config import load_config
from datamig.runner import api
from datamig.services import termination

cfg = load_config(os.environ["DATAMIG_CONFIG"])
with termination.exit_on_signals():  # as bench/_services.py runs a benchmark's migration
    api.migrate(cfg, dict(os.environ), Path(sys.argv[1]), 42, dry_run=True)
"""


def test_sigterm_to_a_benchmark_during_the_transform_ends_it_as_interrupted_with_exit_143(tiny_estate, tmp_path):
    """The runner turned SIGTERM's Terminated into its own Interrupted error: bench/migrate.py
    then exited 1 with a traceback instead of 143 (and a test session went on to its next
    test). The run is recorded as interrupted, resumable, and the process ends on one line."""
    config = (ROOT / "config" / "datamig.yaml").read_text().replace("out_dir: data/runs", f"out_dir: {tmp_path / 'runs'}")
    (tmp_path / "datamig.yaml").write_text(config)
    (tmp_path / "bench.py").write_text(SIGTERMED_BENCH)
    env = {**os.environ, **tiny_estate["env"], "DATAMIG_SALT": SALT, "DATAMIG_CONFIG": str(tmp_path / "datamig.yaml"),
           "DATAMIG_RUNS_DIR": str(tmp_path / "runs"), "PYTHONPATH": str(ROOT / "python")}
    proc = subprocess.Popen([sys.executable, str(tmp_path / "bench.py"), str(ROOT)], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        run_id = _wait_for_phase(proc, tmp_path / "runs", "transform")["run_id"]
        time.sleep(3.0)
        os.kill(proc.pid, signal.SIGTERM)
        out, err = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 128 + signal.SIGTERM, out + err
    assert err.strip().splitlines()[-1] == (f"stopped by SIGTERM: run {run_id} stopped in transform; resume it "
                                            f"with `datamig migrate --resume {run_id}`"), out + err
    assert "Traceback" not in out + err
    state = json.loads((tmp_path / "runs" / run_id / "run-state.json").read_text())
    assert (state["status"], state["phases"]["transform"]["status"]) == ("interrupted", "failed")


def _waiting_on_lock(watch) -> int:
    """Sessions of CERT waiting for a lock (the validation's checks held up by ours); `watch`
    is autocommit: inside a transaction pg_stat_activity is one snapshot and never changes."""
    return watch.execute("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'").fetchone()[0]


def test_ctrl_c_stops_validate_migration_while_its_checks_wait_on_cert(tiny_estate, tmp_path):
    """Ctrl-C in validate-migration waited for the checks running beside the main one (CERT
    counts, links, the graph) to finish: a check held up by a CERT lock held it forever (and
    Typer's exit 130 said nothing). It now cancels them: one line, exit 130, the run's
    post-load validation as the migrate left it, CERT as it was."""
    from test_e2e import _admin, cert_data, run_cli

    config = (ROOT / "config" / "datamig.yaml").read_text().replace("out_dir: data/runs", f"out_dir: {tmp_path / 'runs'}")
    (tmp_path / "datamig.yaml").write_text(config)
    env = tiny_estate["env"]
    run_id = result_of_json(run_cli(env, tmp_path, "migrate", "--district", "42", "--json", check=0))["run_id"]
    try:
        loaded = cert_data(env)
        report = tmp_path / "runs" / run_id / "post-load-validation.json"  # the migrate's verify wrote it
        before = report.read_bytes()
        admin, watch = _admin(env, "ids"), _admin(env, "ids")
        admin.execute("BEGIN")
        admin.execute("LOCK TABLE public.students IN ACCESS EXCLUSIVE MODE")
        full = {**os.environ, **env, "DATAMIG_SALT": SALT, "DATAMIG_CONFIG": str(tmp_path / "datamig.yaml"),
                "DATAMIG_RUNS_DIR": str(tmp_path / "runs")}
        proc = subprocess.Popen([str(DATAMIG), "validate-migration", run_id], cwd=ROOT, env=full,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
        try:
            while not _waiting_on_lock(watch):
                assert proc.poll() is None, proc.communicate()
                time.sleep(0.2)
            time.sleep(1.0)
            os.killpg(proc.pid, signal.SIGINT)
            out, err = proc.communicate(timeout=240)  # a hang guard: the lock is held until after
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
            admin.execute("ROLLBACK")
            admin.close()
            watch.close()
        assert proc.returncode == 130, out + err
        assert err.strip().splitlines() == ["interrupted: stopped by Ctrl-C"], out + err
        assert report.read_bytes() == before
        assert cert_data(env) == loaded
    finally:
        run_cli(env, tmp_path, "rollback", run_id, "--yes", check=0)


def result_of_json(proc) -> dict:
    return json.loads(proc.stdout[proc.stdout.index("{"):])
