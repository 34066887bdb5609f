"""SIGTERM or SIGHUP to a test session or a benchmark that started private services (`timeout`
ending a pytest run, a closed terminal) stops those services as the end of the session would:
no PostgreSQL or Neo4j of its own left running on loopback, and the process exits with a
status of its own (non-zero), not killed by the signal before any finalizer ran."""
from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# Each target starts its private services the way the real suite or a benchmark does, says
# where their state folder is, and then waits to be signalled.
HOLD_TEST = """
import os, pathlib, time

def test_hold(services):
    pathlib.Path(os.environ["READY_FILE"]).write_text(os.environ["DATAMIG_STATE_DIR"])
    time.sleep(900)
"""

HOLD_BENCH = """
import os, pathlib, sys, time
sys.path.insert(0, sys.argv[1])
from _services import private_estate

with private_estate() as (_cfg, _env, state):
    pathlib.Path(os.environ["READY_FILE"]).write_text(str(state))
    time.sleep(900)
"""


def _command(kind: str, tmp_path: Path) -> list[str]:
    if kind == "pytest":
        # tests/conftest.py loaded as a plugin: the suite's own `services` fixture and hooks
        (tmp_path / "test_hold.py").write_text(HOLD_TEST)
        return [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "conftest",
                "--rootdir", str(tmp_path), str(tmp_path / "test_hold.py")]
    (tmp_path / "hold_bench.py").write_text(HOLD_BENCH)
    return [sys.executable, str(tmp_path / "hold_bench.py"), str(ROOT / "bench")]


def _child_env(ready: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "DATAMIG_STATE_DIR"}  # this session's estate
    paths = [str(ROOT / "python"), str(ROOT / "tests"), env.get("PYTHONPATH", "")]
    return {**env, "PYTHONPATH": os.pathsep.join(filter(None, paths)), "READY_FILE": str(ready)}


def _wait_ready(proc: subprocess.Popen, ready: Path, deadline: float = 600) -> Path:
    end = time.monotonic() + deadline
    while not ready.exists() or not ready.read_text():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < end, "the services never came up"
        time.sleep(0.5)
    return Path(ready.read_text())


def _services_of(state: Path) -> list[tuple[str, int, int]]:
    """(name, pid, port) of every server the child started, from its state.json and the
    postmaster's own pid file."""
    recorded = json.loads((state / "state.json").read_text())
    pg = recorded["postgres"]
    postmaster = int((Path(pg["data_dir"]) / "postmaster.pid").read_text().split()[0])
    found = [("postgresql", postmaster, pg["port"])]
    found += [(f"neo4j {t}", e["pid"], e["port"]) for t, e in sorted(recorded["neo4j"].items())]
    assert len(found) == 3, recorded
    return found


def _running(pid: int) -> bool:
    """Alive and no zombie: an exited server nobody reaped yet has closed its files and ports."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _still_up(servers: list[tuple[str, int, int]], deadline: float = 120) -> list[str]:
    """Servers still running or listening once DEADLINE seconds have passed (none, at once,
    when the stop worked)."""
    end = time.monotonic() + deadline
    while True:
        up = [name for name, pid, port in servers if _running(pid) or _listening(port)]
        if not up or time.monotonic() > end:
            return up
        time.sleep(0.5)


def _clean_up(state: Path | None) -> None:
    """Whatever the child left running (the defect this file is about) is stopped here."""
    if state is None or not state.exists():
        return
    from datamig.services import manager

    previous = os.environ.get("DATAMIG_STATE_DIR")
    os.environ["DATAMIG_STATE_DIR"] = str(state)
    try:
        manager.down(ROOT)
    finally:
        os.environ.pop("DATAMIG_STATE_DIR") if previous is None else os.environ.update(DATAMIG_STATE_DIR=previous)
        shutil.rmtree(state, ignore_errors=True)


@pytest.mark.parametrize("kind, signum", [("pytest", signal.SIGTERM), ("bench", signal.SIGHUP)])
def test_a_signal_stops_the_private_services_and_exits_non_zero(tmp_path, kind, signum):
    ready = tmp_path / "ready"
    proc = subprocess.Popen(_command(kind, tmp_path), cwd=ROOT, env=_child_env(ready), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
    state = None
    try:
        state = _wait_ready(proc, ready)
        servers = _services_of(state)
        assert all(_running(pid) and _listening(port) for _, pid, port in servers), servers
        os.kill(proc.pid, signum)  # the process alone, as `kill` or a closing terminal sends it
        out, _ = proc.communicate(timeout=300)
        assert _still_up(servers) == [], out
        assert proc.returncode > 0, (proc.returncode, out)  # exited, not killed by the signal
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        _clean_up(state)


HELD_STOP = """
import os, signal, time
from datamig.services import termination

with termination.exit_on_signals():
    try:
        with termination.held():  # as the stop of the services is
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(0.5)  # the handler runs in here, and must not raise yet
            print("held block ran to its end", flush=True)
        print("after the held block", flush=True)
    finally:
        os.kill(os.getpid(), signal.SIGHUP)  # a second signal: the first one's clean-up goes on
        time.sleep(0.5)
        print("finally ran to its end", flush=True)
"""


def test_a_signal_inside_a_held_block_is_raised_at_its_end_and_a_second_one_is_ignored(tmp_path):
    (tmp_path / "held.py").write_text(HELD_STOP)
    proc = subprocess.run([sys.executable, str(tmp_path / "held.py")], env=_child_env(tmp_path / "unused"),
                          capture_output=True, text=True, timeout=120)
    assert proc.stdout.splitlines() == ["held block ran to its end", "finally ran to its end"], proc
    assert proc.stderr == "stopped by SIGTERM\n"
    assert proc.returncode == 128 + signal.SIGTERM


def test_services_down_stops_what_a_killed_services_up_was_starting(tmp_path):
    """`services up` killed (SIGKILL: no clean-up of any kind) while its Neo4j starts: the server
    was recorded only once ready, so `services down` did not know it, and it ran on, holding its
    store's lock against the next `up`."""
    state = tmp_path / "state"
    env = {**_child_env(tmp_path / "unused"), "DATAMIG_STATE_DIR": str(state)}
    datamig = [sys.executable, "-m", "datamig"]
    proc = subprocess.Popen([*datamig, "services", "up"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        servers = [("neo4j", _first_process_naming(str(state / "neo4j"), proc), 0), *_postgres_of(state)]
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        down = subprocess.run([*datamig, "services", "down"], cwd=ROOT, env=env, capture_output=True, text=True,
                              timeout=300)
        assert down.returncode == 0, down.stderr
        assert len(servers) == 2 and _still_up(servers) == [], down.stdout
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        for pid in _pids_naming(str(state)):  # what the defect leaves behind
            os.kill(pid, signal.SIGKILL)
        _clean_up(state)


def _pids_naming(text: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and text in (entry / "cmdline").read_bytes().decode(errors="replace"):
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def _first_process_naming(text: str, parent: subprocess.Popen, deadline: float = 600) -> int:
    """The pid of the first process whose command line names `text` (the Neo4j server started
    for that home), as soon as it exists."""
    end = time.monotonic() + deadline
    while not (pids := _pids_naming(text)):
        assert parent.poll() is None, "services up ended before starting Neo4j"
        assert time.monotonic() < end, "services up never started Neo4j"
        time.sleep(0.05)
    return pids[0]


def _postgres_of(state: Path) -> list[tuple[str, int, int]]:
    recorded = json.loads((state / "state.json").read_text())["postgres"]
    postmaster = Path(recorded["data_dir"]) / "postmaster.pid"
    return [("postgresql", int(postmaster.read_text().split()[0]), 0)] if postmaster.exists() else []
