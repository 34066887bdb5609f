"""The lock that keeps two datamig loads, rollbacks or recoveries off one runs folder: held
across processes, released when its holder ends, and leaving nothing on disk."""
from __future__ import annotations

import subprocess
import sys

import pytest

from datamig.errors import MigrationFailed
from datamig.load import decision

HOLD = """
import sys, time
from pathlib import Path
from datamig.load import decision
with decision.locked(Path(sys.argv[1])):
    print("held", flush=True)
    time.sleep(float(sys.argv[2]))
    Path(sys.argv[3]).touch()  # the last thing it does while holding the lock
"""


def _holder(folder, seconds: float, done_marker="/dev/null") -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(folder), str(seconds), str(done_marker)],
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "held"
    return proc


def test_a_second_process_waits_then_fails_naming_the_folder(tmp_path):
    holder = _holder(tmp_path, 30)
    try:
        with pytest.raises(MigrationFailed, match=f"holds the lock on {tmp_path}$"):
            with decision.locked(tmp_path, wait_s=0.5):
                pytest.fail("two holders at once")
    finally:
        holder.kill()
        holder.wait()
    with decision.locked(tmp_path, wait_s=5):  # a killed holder's lock is gone with it
        pass
    assert list(tmp_path.iterdir()) == []


def test_the_lock_is_taken_once_the_holder_is_done(tmp_path):
    runs, marker = tmp_path / "runs", tmp_path / "holder-done"
    runs.mkdir()
    holder = _holder(runs, 0.5, marker)
    with decision.locked(runs, wait_s=30):
        assert marker.exists()  # we got in only after it let go
    holder.wait()


def test_a_waiter_never_holds_a_lock_on_a_folder_its_holder_removed(tmp_path):
    """The holder made the runs folder and removes it, empty, as it lets go; the process that
    waited must end up holding the folder that exists, not the deleted one it opened."""
    runs, marker = tmp_path / "runs", tmp_path / "holder-done"
    holder = _holder(runs, 0.5, marker)
    with decision.locked(runs, wait_s=30):
        assert marker.exists() and runs.is_dir()
        assert list(runs.iterdir()) == []
    holder.wait()
    assert not runs.exists()


def test_a_runs_folder_made_for_the_lock_goes_again_when_left_empty(tmp_path):
    runs = tmp_path / "a" / "runs"
    with decision.locked(runs):
        assert runs.is_dir()
    assert list(tmp_path.iterdir()) == []
    with decision.locked(runs):
        (runs / "mig-1").mkdir()
    assert (runs / "mig-1").is_dir()
