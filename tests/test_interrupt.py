"""Ctrl-C in the middle of `datamig migrate` (SIGINT to its whole process group, as a terminal
sends it): one line saying where the run stopped and how to resume it, exit 130, the run
recorded as interrupted with its report written, and `--resume` then finishes it."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import re
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
