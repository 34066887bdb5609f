"""Kill the loader (kill -9) at random moments and at every named window of the protocol, and
stop a CERT PostgreSQL server in the middle of a load: after recovery CERT is always either
exactly as before or exactly fully loaded, and a rerun always finishes the job.

CERT here is two PostgreSQL clusters (ids on one, hcp1 on the other, so one can be stopped
alone) and one Neo4j server.
"""
from __future__ import annotations

import json
import os
import random
import select
import shutil
import signal
import subprocess
import sys
import time

import pytest

import _pg_cluster
from datamig.errors import ConnectionFailed, MigrationFailed
from datamig.load import load_run, recover, rollback_run
from test_load_support import (
    HCP_DDL, IDS_DDL, NEO_PASSWORD, PASSWORD, Cert, build_run, final_data, make_template, neo4j_server, pg_ctl,
    start_cluster,
)

pytestmark = pytest.mark.timeout(900)
RUN = "mig-20251106-143000-d1"
STUDENTS = 200
RANDOM_TRIALS = 20
SEED = 20251106
__all__ = ["neo4j_server"]


@pytest.fixture(scope="module")
def clusters():
    a = start_cluster()
    try:
        b = start_cluster()
        try:
            make_template(a, "ids_tpl", IDS_DDL)
            make_template(b, "hcp1_tpl", HCP_DDL)
            yield a, b
        finally:
            _pg_cluster.stop(b)
    finally:
        _pg_cluster.stop(a)


@pytest.fixture(scope="module")
def make_cert(clusters, neo4j_server, tmp_path_factory):
    """A fresh CERT per trial (databases from templates, graph reset); the clusters, with every
    database made here, go away with the module."""
    return lambda: Cert(clusters[0], clusters[1], neo4j_server, tmp_path_factory.mktemp("runs"))


# The loader runs in a process of its own, killed with SIGKILL. Importing it (neo4j, duckdb,
# pyarrow, psycopg) takes ~2 s, so a small zygote imports it once and forks one child per load:
# each child is a fresh process running `python -m datamig.load` (its main()), nothing shared.
ZYGOTE = r"""
import json, os, sys
import datamig.load.__main__ as entry
for line in sys.stdin:
    req = json.loads(line)
    pid = os.fork()
    if pid == 0:
        for k in req["unset"]:
            os.environ.pop(k, None)
        os.environ.update(req["env"])
        os.chdir(req["cwd"])
        os.dup2(os.open(os.devnull, os.O_WRONLY), 1)
        os.dup2(os.open(req["stderr"], os.O_WRONLY), 2)  # a FIFO the test reads
        code = 1
        try:
            code = entry.main(req["argv"])
        finally:
            sys.stderr.flush()
            os._exit(code)  # never back into this loop, whatever happened
    print(pid, flush=True)
    _, status = os.waitpid(pid, 0)
    print(os.waitstatus_to_exitcode(status), flush=True)
"""


@pytest.fixture(scope="module")
def zygote():
    proc = subprocess.Popen([sys.executable, "-c", ZYGOTE], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            env={k: v for k, v in os.environ.items() if k != "DATAMIG_FAILPOINT"})
    yield proc
    proc.stdin.close()
    proc.wait(timeout=60)


class Child:
    """The subset of Popen the trials use, for a child of the zygote."""

    def __init__(self, zygote: subprocess.Popen, cert: Cert, args: tuple[str, ...], failpoint: str | None):
        fifo = cert.out_dir / f"stderr-{time.monotonic_ns()}"
        os.mkfifo(fifo)
        env = dict(cert.env) | ({"DATAMIG_FAILPOINT": failpoint} if failpoint else {})
        request = {"argv": ["--config", str(cert.cfg.path), *args], "env": env, "cwd": str(cert.out_dir),
                   "unset": [] if failpoint else ["DATAMIG_FAILPOINT"], "stderr": str(fifo)}
        self.zygote = zygote
        zygote.stdin.write((json.dumps(request) + "\n").encode())
        zygote.stdin.flush()
        self.pid = int(zygote.stdout.readline())
        self.stderr = open(fifo, "rb")
        self.returncode = None

    def wait(self, timeout: float | None = None) -> int:
        if self.returncode is None:
            ready, _, _ = select.select([self.zygote.stdout], [], [], timeout)
            if not ready:
                raise subprocess.TimeoutExpired("datamig.load", timeout)
            self.returncode = int(self.zygote.stdout.readline())
            self.stderr.close()
        return self.returncode

    def kill(self) -> None:
        try:
            os.kill(self.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass  # it exited (and was reaped) just before: wait() reads its exit code

    def drain(self) -> None:
        """Read whatever the child still writes, so it never blocks on a full pipe."""
        while self.stderr.read(65536):
            pass


@pytest.fixture(scope="module")
def spawn(zygote):
    def spawn(cert: Cert, *args: str, failpoint: str | None = None) -> Child:
        return Child(zygote, cert, args, failpoint)
    return spawn


@pytest.fixture(scope="module")
def reference(make_cert, final_template, spawn):
    """CERT's fingerprints before the run and fully loaded, and how long a whole (warm) load
    takes in a subprocess once imports are done: the range the random kills are drawn from."""
    cert, run_dir = _fresh_run(make_cert, final_template)
    before = cert.fingerprint()
    load_run(cert.cfg, cert.env, run_dir)  # also warms Neo4j's query cache up
    after = cert.fingerprint()
    assert after != before
    cert, run_dir = _fresh_run(make_cert, final_template)
    proc = spawn(cert, "load", str(run_dir))
    started = _started(proc)
    lines = []
    while not (lines and lines[-1].rstrip().endswith(b": LOADED")):  # the load's last word
        lines.append(proc.stderr.readline())
        assert lines[-1], b"".join(lines).decode()
    duration = time.monotonic() - started
    proc.drain()
    assert proc.wait(timeout=300) == 0
    assert cert.fingerprint() == after
    return {"before": before, "after": after, "duration": duration, "steps": len(lines)}


@pytest.fixture(scope="module")
def final_template(tmp_path_factory):
    """The run's final/ once; each trial copies it (cheaper than rebuilding the Parquet)."""
    return build_run(tmp_path_factory.mktemp("template"), RUN, final_data(students=STUDENTS))


def _fresh_run(make_cert, template):
    cert = make_cert()
    run_dir = cert.out_dir / RUN
    shutil.copytree(template, run_dir, ignore=shutil.ignore_patterns("*.log", "load-*", "drift-*", "rollback-*"))
    return cert, run_dir


def _started(proc: Child) -> float:
    """Wait for the loader to finish importing; returns when it said so."""
    line = proc.stderr.readline()
    assert line.startswith(b"datamig.load: started"), line
    return time.monotonic()


def _differences(state: dict, reference: dict) -> dict:
    """Which tables (or the graph) differ from each reference state: what a failure must show."""
    out = {}
    for side in ("before", "after"):
        ref = reference[side]
        out[side] = sorted(f"{store}.{t}" if isinstance(parts, dict) else store
                           for store, parts in state.items()
                           for t in (parts if isinstance(parts, dict) else [None])
                           if (parts[t] if t else parts) != (ref[store].get(t) if t else ref.get(store)))
    return out


def _recover_and_check(cert: Cert, reference: dict) -> str:
    recover(cert.cfg, cert.env, cert.out_dir)
    assert cert.prepared() == []
    state = cert.fingerprint()
    assert state in (reference["before"], reference["after"]), \
        f"CERT is neither as before nor fully loaded: {_differences(state, reference)}"
    return "before" if state == reference["before"] else "after"


def _rerun_finishes(cert: Cert, run_dir, reference: dict) -> None:
    report = load_run(cert.cfg, cert.env, run_dir)
    assert report["status"] in ("LOADED", "ALREADY_LOADED")
    assert cert.fingerprint() == reference["after"]


def test_kill_at_random_moments(make_cert, final_template, reference, spawn):
    """A random point of the load (the k-th progress line, k drawn over the whole load, so the
    kills spread over every phase however fast this machine is today), then a random delay."""
    rng = random.Random(SEED)
    outcomes = []
    for trial in range(RANDOM_TRIALS):
        cert, run_dir = _fresh_run(make_cert, final_template)
        step = rng.randrange(reference["steps"])
        delay = rng.uniform(0.0, min(0.3, reference["duration"] / reference["steps"] * 3))
        proc = spawn(cert, "load", str(run_dir))
        _started(proc)
        for _ in range(step):
            if not proc.stderr.readline():
                break
        try:
            finished = proc.wait(timeout=delay) == 0
        except subprocess.TimeoutExpired:
            proc.kill()  # SIGKILL: no handler, no finally, no atexit
            proc.drain()
            finished = proc.wait() == 0  # the load may have ended just before the kill
        outcome = _recover_and_check(cert, reference)
        assert outcome == "after" or not finished
        outcomes.append((step, round(delay, 3), "finished" if finished else "killed", outcome))
        _rerun_finishes(cert, run_dir, reference)
    # The kills must have been spread over the load (which outcome a kill near the decision
    # gives depends on timing; the window test below pins both sides of it deterministically).
    assert sum(o[2] == "killed" for o in outcomes) >= RANDOM_TRIALS // 2, outcomes
    assert len({o[0] for o in outcomes if o[2] == "killed"}) >= RANDOM_TRIALS // 2, outcomes
    assert "before" in {o[-1] for o in outcomes}, outcomes
    print(outcomes)


# Each window of the protocol, and the state recovery must reach from it.
WINDOWS = [
    ("load:after-stage", "before"),
    ("load:after-write:hcp1", "before"),
    ("load:after-prepare:hcp1", "before"),
    ("load:after-prepare:ids", "before"),
    ("load:graph-batch", "before"),
    ("load:after-graph", "before"),
    ("load:after-decision", "after"),
    ("load:after-commit:hcp1", "after"),
]


def test_kill_at_every_window_of_the_protocol(make_cert, final_template, reference, spawn):
    for failpoint, expected in WINDOWS:
        cert, run_dir = _fresh_run(make_cert, final_template)
        proc = spawn(cert, "load", str(run_dir), failpoint=failpoint)
        proc.drain()
        assert proc.wait(timeout=300) == -9, f"{failpoint}: the loader was not killed ({proc.returncode})"
        assert _recover_and_check(cert, reference) == expected, failpoint
        _rerun_finishes(cert, run_dir, reference)


@pytest.mark.parametrize("failpoint, expected", [
    ("rollback:after-prepare:hcp1", "after"), ("rollback:after-decision", "before"),
    ("rollback:after-commit:hcp1", "before")])
def test_kill_during_rollback(make_cert, final_template, reference, spawn, failpoint, expected):
    cert, run_dir = _fresh_run(make_cert, final_template)
    load_run(cert.cfg, cert.env, run_dir)
    proc = spawn(cert, "rollback", RUN, "--out-dir", str(cert.out_dir), failpoint=failpoint)
    proc.drain()
    assert proc.wait(timeout=300) == -9
    assert _recover_and_check(cert, reference) == expected
    if expected == "after":
        rollback_run(cert.cfg, cert.env, cert.out_dir, RUN)
        assert cert.fingerprint() == reference["before"]


def test_cert_server_stopped_before_prepare(make_cert, final_template, reference, clusters):
    cert, run_dir = _fresh_run(make_cert, final_template)
    hcp_cluster = clusters[1]

    def stop_hcp1(message: str) -> None:
        if message.startswith("ids.courses:"):  # hcp1 is written, not yet prepared
            pg_ctl(hcp_cluster, "stop")

    try:
        with pytest.raises(ConnectionFailed) as err:
            load_run(cert.cfg, cert.env, run_dir, progress=stop_hcp1)
    finally:
        pg_ctl(hcp_cluster, "start")
    message = str(err.value)
    assert message.startswith("store hcp1: lost the connection to PostgreSQL at 127.0.0.1:")
    assert "\n" not in message and PASSWORD not in message and NEO_PASSWORD not in message
    assert _recover_and_check(cert, reference) == "before"
    _rerun_finishes(cert, run_dir, reference)


def test_cert_server_stopped_after_the_decision(make_cert, final_template, reference, clusters):
    cert, run_dir = _fresh_run(make_cert, final_template)
    hcp_cluster = clusters[1]

    def stop_hcp1(message: str) -> None:
        if message.startswith("sp: District:"):  # every store prepared, graph being applied
            pg_ctl(hcp_cluster, "stop")

    try:
        with pytest.raises(ConnectionFailed) as err:
            load_run(cert.cfg, cert.env, run_dir, progress=stop_hcp1)
    finally:
        pg_ctl(hcp_cluster, "start")
    message = str(err.value)
    assert message.startswith("store hcp1: lost the connection to PostgreSQL") and "\n" not in message
    assert "load decided; the next recovery finishes it" in message
    assert _recover_and_check(cert, reference) == "after"
    _rerun_finishes(cert, run_dir, reference)


@pytest.mark.parametrize("failpoint, expected_now, expected", [
    ("load:graph-batch", "before", "before"),   # Neo4j half applied: compensated at once
    ("load:after-graph", "before", "before"),   # Neo4j applied, stores prepared: both undone
    ("load:after-decision", None, "after"),     # decided: left for recovery to finish
])
def test_failure_inside_the_process_undoes_or_defers(make_cert, final_template, reference, monkeypatch,
                                                      failpoint, expected_now, expected):
    cert, run_dir = _fresh_run(make_cert, final_template)
    monkeypatch.setenv("DATAMIG_FAILPOINT", f"raise:{failpoint}")
    with pytest.raises(MigrationFailed) as err:
        load_run(cert.cfg, cert.env, run_dir)
    monkeypatch.delenv("DATAMIG_FAILPOINT")
    assert f"fail point {failpoint}" in str(err.value)
    if expected_now == "before":
        # No recovery needed: the failing process rolled back its prepared transactions and
        # compensated Neo4j from the ledger before raising.
        assert cert.prepared() == [] and cert.fingerprint() == reference["before"]
        assert cert.cypher("MATCH (r:DatamigRun) RETURN r.status AS s") == [{"s": "compensated"}]
    else:
        assert "load decided; the next recovery finishes it" in str(err.value) and cert.prepared()
    assert _recover_and_check(cert, reference) == expected
    _rerun_finishes(cert, run_dir, reference)
