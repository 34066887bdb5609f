"""Ctrl-C in the middle of `datamig migrate` (SIGINT to its whole process group, as a terminal
sends it): one line saying where the run stopped and how to resume it, exit 130, the run
recorded as interrupted with its report written, and `--resume` then finishes it."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import time
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


def test_ctrl_c_during_the_transform_stops_the_run_cleanly_and_resume_finishes_it(tiny_estate, tmp_path):
    config = (ROOT / "config" / "datamig.yaml").read_text().replace("out_dir: data/runs", f"out_dir: {tmp_path / 'runs'}")
    (tmp_path / "datamig.yaml").write_text(config)
    env = {**os.environ, **tiny_estate["env"], "DATAMIG_SALT": SALT, "DATAMIG_CONFIG": str(tmp_path / "datamig.yaml"),
           "DATAMIG_RUNS_DIR": str(tmp_path / "runs"), "COLUMNS": "200"}
    proc = subprocess.Popen([str(DATAMIG), "migrate", "--district", "42", "--dry-run"], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        state = _wait_for_phase(proc, tmp_path / "runs", "transform")
        time.sleep(3)  # into dbt's build
        os.killpg(proc.pid, signal.SIGINT)
        out, err = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    run_id = state["run_id"]
    assert proc.returncode == 130, out + err
    lines = err.strip().splitlines()
    assert lines == [f"interrupted: run {run_id} stopped in transform; resume it with "
                     f"`datamig migrate --resume {run_id}`"], out + err
    assert "Traceback" not in out + err and SALT not in out + err
    state = json.loads((tmp_path / "runs" / run_id / "run-state.json").read_text())
    assert state["status"] == "interrupted"
    assert state["phases"]["transform"]["status"] == "failed" and state["phases"]["transform"]["error"] == "interrupted"
    report = json.loads((tmp_path / "reports" / f"{run_id}.json").read_text())
    assert (report["summary"]["status"], report["summary"]["failed_phase"]) == ("INTERRUPTED", "transform")
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
