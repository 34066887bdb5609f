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
import socket
import subprocess
import sys
import threading
import time
from urllib.parse import urlsplit, urlunsplit

import pytest

import _pg_cluster
from datamig.errors import ConnectionFailed, MigrationFailed, NotFound
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

    def __init__(self, zygote: subprocess.Popen, cert: Cert, args: tuple[str, ...], failpoint: str | None,
                 env: dict[str, str] | None = None):
        fifo = cert.out_dir / f"stderr-{time.monotonic_ns()}"
        os.mkfifo(fifo)
        env = dict(cert.env) | (env or {}) | ({"DATAMIG_FAILPOINT": failpoint} if failpoint else {})
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
    def spawn(cert: Cert, *args: str, failpoint: str | None = None, env: dict[str, str] | None = None) -> Child:
        return Child(zygote, cert, args, failpoint, env)
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
    ("load:graph-batch-commit", "before"),
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


@pytest.mark.parametrize("op, failpoint, words", [
    ("load", "load:after-prepare:ids", "recovery undid the interrupted load of this run"),
    ("rollback", "rollback:after-decision", "recovery finished the interrupted rollback of this run")])
def test_rollback_of_a_killed_run_reports_what_its_recovery_undid(make_cert, final_template, reference, spawn,
                                                                  op, failpoint, words):
    """`datamig rollback` after a kill: the recovery it runs first takes the run out of CERT,
    and that is reported as the rollback (it used to say "not loaded; nothing to roll back")."""
    cert, run_dir = _fresh_run(make_cert, final_template)
    if op == "rollback":
        load_run(cert.cfg, cert.env, run_dir)
    args = ("load", str(run_dir)) if op == "load" else ("rollback", RUN, "--out-dir", str(cert.out_dir))
    proc = spawn(cert, *args, failpoint=failpoint)
    proc.drain()
    assert proc.wait(timeout=300) == -9
    report = rollback_run(cert.cfg, cert.env, cert.out_dir, RUN)
    assert (report["status"], report["by_recovery"]) == ("ROLLED_BACK", words)
    assert json.loads((cert.out_dir / RUN / "rollback-report.json").read_text())["by_recovery"] == words
    assert cert.prepared() == [] and cert.fingerprint() == reference["before"]
    with pytest.raises(NotFound, match="is not loaded in CERT; nothing to roll back"):
        rollback_run(cert.cfg, cert.env, cert.out_dir, RUN)  # recovery has nothing left of it now


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
        if message.endswith("decided, committing every store"):  # every store prepared, graph applied
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
    ("load:after-write:hcp1", "before", "before"),  # a store failed while Neo4j applied: both undone
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


def test_a_failed_load_that_could_not_undo_its_graph_batches_says_so(clusters, final_template, tmp_path_factory):
    """A review: a load whose Neo4j went away could not compensate the batches it had written;
    its error said only what failed, while CERT's graph held those batches until the next
    recovery. It now says what is left and what undoes it."""
    from datamig.services import neo4j_server as server
    from test_load_support import ROOT

    home = tmp_path_factory.mktemp("neo4j-stopped")
    port = _pg_cluster.free_port()
    pid = server.start(ROOT, home, port, NEO_PASSWORD, home / "neo4j.log")
    try:
        cert = Cert(clusters[0], clusters[1], f"bolt://127.0.0.1:{port}", tmp_path_factory.mktemp("runs"))
        run_dir = cert.out_dir / RUN
        shutil.copytree(final_template, run_dir)
        before = cert.fingerprint()

        def stop_neo4j(message: str) -> None:
            if message.startswith("sp: Student:"):  # every node batch written, no relationship yet
                server.stop(pid)

        with pytest.raises(ConnectionFailed) as err:
            load_run(cert.cfg, cert.env, run_dir, progress=stop_neo4j)
        message = str(err.value)
        assert message.startswith("store sp: lost the connection to Neo4j") and "\n" not in message
        assert f"run {RUN}: not yet undone in CERT: sp (the batches written); the next load or rollback" in message
        assert json.loads((run_dir / "load-report.json").read_text())["error"] == message
        assert cert.prepared() == []
    finally:
        server.stop(pid)
    pid = server.start(ROOT, home, port, NEO_PASSWORD, home / "neo4j.log")
    try:
        report = rollback_run(cert.cfg, cert.env, cert.out_dir, RUN)
        assert report["by_recovery"] == "recovery undid the interrupted load of this run"
        assert cert.fingerprint() == before
    finally:
        server.stop(pid)


# --- a request still on its way to the server when the loader dies ---------------------------
#
# SIGKILL stops the loader, not what it already sent: a server finishes a PREPARE TRANSACTION
# or a Neo4j COMMIT that reached it, whenever it gets to it. Under heavy load that can be after
# the recovery that follows the kill has looked at the server. The proxy below makes that
# moment deterministic: it holds whatever the loader sends from `hold()` on, the loader is
# stopped at a fail point just before the request, resumed (the request goes into the proxy),
# killed, recovery runs, and only then does the server get the request.

class HoldingProxy:
    """TCP forwarder to `target` (host, port); client->server bytes can be held back and
    delivered later, after the client is gone (then the server side is closed)."""

    def __init__(self, target: tuple[str, int]):
        self.target = target
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.lock = threading.Lock()
        self.holding = False
        self.conns: list[dict] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            server = socket.create_connection(self.target)
            conn = {"client": client, "server": server, "held": bytearray(), "client_eof": False,
                    "closed": threading.Event(), "answered": 0, "released": None}
            with self.lock:
                self.conns.append(conn)
            threading.Thread(target=self._up, args=(conn,), daemon=True).start()
            threading.Thread(target=self._down, args=(conn,), daemon=True).start()

    def _up(self, conn: dict) -> None:
        while True:
            try:
                data = conn["client"].recv(65536)
            except OSError:
                data = b""
            with self.lock:
                if not data:
                    conn["client_eof"] = True
                    if not self.holding:
                        _shut(conn["server"])
                    return
                if self.holding:
                    conn["held"] += data
                    continue
            try:
                conn["server"].sendall(data)
            except OSError:
                return

    def _down(self, conn: dict) -> None:
        while True:
            try:
                data = conn["server"].recv(65536)
            except OSError:
                data = b""
            if not data:
                break
            with self.lock:
                conn["answered"] += len(data)
            try:
                conn["client"].sendall(data)
            except OSError:
                pass  # the client is dead: keep reading until the server closes
        for sock in (conn["client"], conn["server"]):
            sock.close()
        conn["closed"].set()

    def hold(self) -> None:
        with self.lock:
            self.holding = True

    def held(self) -> int:
        with self.lock:
            return sum(len(c["held"]) for c in self.conns)

    def release(self) -> None:
        """Deliver what was held (the server runs the request now)."""
        with self.lock:
            self.holding = False
            for conn in self.conns:
                if conn["held"]:
                    conn["released"] = conn["answered"]
                    try:
                        conn["server"].sendall(bytes(conn["held"]))
                    except OSError:
                        pass
                    conn["held"].clear()

    def wait_answered(self, timeout: float = 60) -> None:
        """Until the server has answered every delivered request (it is done with it: committed,
        prepared) or ended that session; then sessions whose client is gone are closed."""
        deadline = time.monotonic() + timeout
        for conn in list(self.conns):
            while conn["released"] is not None and conn["answered"] == conn["released"] \
                    and not conn["closed"].is_set():
                assert time.monotonic() < deadline, "the server never answered the delivered request"
                time.sleep(0.01)
            if conn["client_eof"]:
                _shut(conn["server"])

    def close(self) -> None:
        self.listener.close()
        for conn in self.conns:
            for sock in (conn["client"], conn["server"]):
                sock.close()


def _shut(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_WR)
    except OSError:
        pass


def _via(url: str, port: int) -> str:
    parts = urlsplit(url)
    netloc = parts.netloc.rsplit("@", 1)
    host = f"127.0.0.1:{port}"
    return urlunsplit(parts._replace(netloc=f"{netloc[0]}@{host}" if len(netloc) == 2 else host))


def _stopped(pid: int, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while True:
        with open(f"/proc/{pid}/stat") as f:
            if f.read().rsplit(")", 1)[1].split()[0] == "T":
                return
        assert time.monotonic() < deadline, "the loader never reached its fail point"
        time.sleep(0.02)


def _kill_with_request_in_flight(spawn, cert: Cert, run_dir, env_var: str, target_url: str, failpoint: str):
    """Run the load through a proxy for one store, stop it at `failpoint`, let it send its next
    request into the held proxy, kill it. Returns the proxy (still holding)."""
    parts = urlsplit(target_url)
    proxy = HoldingProxy((parts.hostname, parts.port))
    proc = spawn(cert, "load", str(run_dir), failpoint=f"stop:{failpoint}",
                 env={env_var: _via(target_url, proxy.port)})
    _stopped(proc.pid)
    proxy.hold()
    os.kill(proc.pid, signal.SIGCONT)
    deadline = time.monotonic() + 60
    while not proxy.held():
        assert time.monotonic() < deadline, "the loader sent nothing after its fail point"
        time.sleep(0.01)
    time.sleep(0.2)  # the whole request, not its first bytes
    proc.kill()
    proc.drain()
    assert proc.wait(timeout=60) == -9
    return proxy


def _recover_then_deliver(cert: Cert, proxy: HoldingProxy) -> None:
    """Recovery runs while the killed loader's last request is still held; the server gets it
    once recovery is done, or after a few seconds if recovery waits for it (it must)."""
    errors = []

    def run():
        try:
            recover(cert.cfg, cert.env, cert.out_dir)
        except BaseException as exc:  # noqa: BLE001 (re-raised in the test's thread)
            errors.append(exc)

    worker = threading.Thread(target=run)
    worker.start()
    worker.join(timeout=5)
    proxy.release()
    proxy.wait_answered()
    worker.join(timeout=300)
    assert not worker.is_alive(), "recovery never finished"
    proxy.close()
    if errors:
        raise errors[0]


def test_kill_with_a_graph_commit_in_flight(make_cert, final_template, reference, spawn):
    """The loader dies after sending a Neo4j batch's COMMIT; the server commits it only after
    recovery has started. Recovery must compensate that batch too (it waits on the run's
    fence), not read the ledger without it and leave the batch's nodes behind."""
    cert, run_dir = _fresh_run(make_cert, final_template)
    proxy = _kill_with_request_in_flight(spawn, cert, run_dir, "CERT_SP_URL", cert.neo_url, "load:graph-batch-commit")
    _recover_then_deliver(cert, proxy)
    assert cert.prepared() == []
    state = cert.fingerprint()
    assert state == reference["before"], \
        f"CERT is not as before: {_differences(state, reference)}"
    assert _recover_and_check(cert, reference) == "before"
    _rerun_finishes(cert, run_dir, reference)


def test_kill_with_a_prepare_in_flight(make_cert, final_template, reference, spawn):
    """The loader dies after sending PREPARE TRANSACTION to ids (hcp1 already prepared, no
    decision). Recovery must not resolve ids before that PREPARE has run or been stopped:
    otherwise a transaction is prepared behind its back, holding its locks until some later
    recovery."""
    cert, run_dir = _fresh_run(make_cert, final_template)
    proxy = _kill_with_request_in_flight(spawn, cert, run_dir, "CERT_IDS_URL", cert.env["CERT_IDS_URL"],
                                         "load:before-prepare:ids")
    _recover_then_deliver(cert, proxy)
    assert cert.prepared() == []
    assert cert.fingerprint() == reference["before"]
    _rerun_finishes(cert, run_dir, reference)


def _continue_until_exit(proc: Child, timeout: float = 300) -> int:
    """SIGCONT the loader each time it stops at its fail point (every batch passes it), until
    it exits; its exit code."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return proc.wait(timeout=0.1)
        except subprocess.TimeoutExpired:
            pass
        assert time.monotonic() < deadline, "the loader never finished"
        try:
            with open(f"/proc/{proc.pid}/stat") as f:
                stopped = f.read().rsplit(")", 1)[1].split()[0] == "T"
        except FileNotFoundError:
            continue  # exited: wait() reads its code
        if stopped:
            os.kill(proc.pid, signal.SIGCONT)


def test_a_node_cert_commits_between_a_batch_check_and_its_write_stays_cert_s(make_cert, final_template, spawn):
    """Neo4j reads what is committed when each query runs: a District CERT committed after the
    batch's existence check and before its write was MERGEd as if the run had created it, its
    values overwritten with no before-image, and the run's rollback would have deleted it."""
    cert, run_dir = _fresh_run(make_cert, final_template)
    before = cert.fingerprint()
    proc = spawn(cert, "load", str(run_dir), failpoint="stop:load:graph-batch-checked")
    _stopped(proc.pid)  # the District batch has checked: District 1 is not in CERT
    cert.cypher("CREATE (:District {district_id: 1, name: 'CERT made'})")
    os.kill(proc.pid, signal.SIGCONT)
    assert _continue_until_exit(proc) == 1
    report = json.loads((run_dir / "load-report.json").read_text())
    assert report["status"] == "FAILED" and "nodes appeared in CERT since the existence check" in report["error"]
    assert cert.cypher("MATCH (d:District {district_id: 1}) RETURN properties(d) AS p") == [
        {"p": {"district_id": 1, "name": "CERT made"}}]
    cert.cypher("MATCH (d:District {district_id: 1}) DELETE d")
    assert cert.prepared() == [] and cert.fingerprint() == before


def test_an_image_is_what_the_load_overwrote_not_a_value_cert_committed_after_it(make_cert, final_template, spawn):
    """The before-image of a node (and of a relationship) was a plain read: Neo4j takes no lock
    to read, so CERT could commit a change between the image and the load's write, and the
    rollback would restore a value that was never what the load overwrote. The image now locks
    what it images: CERT's write waits for the load's transaction and lands after it."""
    cert, run_dir = _fresh_run(make_cert, final_template)
    cert.cypher("CREATE (:District {district_id: 1, name: 'Old North'})")
    _write_waits_for_the_imaging_batch(cert, spawn, run_dir, "upsert",
                                       "MATCH (d:District {district_id: 1}) SET d.name = 'CERT renamed'")
    assert cert.cypher("MATCH (:DatamigRun)-[r:DATAMIG_BEFORE {kind: 'node', label: 'District'}]->(b) "
                       "RETURN b.name AS name") == [{"name": "Old North"}]
    assert cert.cypher("MATCH (d:District {district_id: 1}) RETURN d.name AS name") == [{"name": "CERT renamed"}]
    assert cert.cypher("MATCH (x) WHERE x._datamig_lock IS NOT NULL RETURN count(x) AS n") == [{"n": 0}]


def test_a_relationship_image_is_what_the_load_overwrote_not_a_value_cert_committed_after_it(
        make_cert, final_template, spawn):
    """As for a node: the relationship the load rewrites is locked by its image. Its ends are
    in CERT as the final has them, so under merge no node is imaged and the load's first stop
    after an image is the WORKS_FOR whose role changed; nothing else of the batch holds a lock
    on it by then (the write comes after the fail point), so only the image's lock blocks CERT."""
    cert, run_dir = _fresh_run(make_cert, final_template)
    cert.cypher("CREATE (d:District {district_id: 1, name: 'North'}), (s:Staff {staff_id: 100, "
                "email: 'boss@north.test'}), (s)-[:WORKS_FOR {role: 'cert_role'}]->(d)")
    works = "MATCH (:Staff {staff_id: 100})-[r:WORKS_FOR]->(:District {district_id: 1}) "
    _write_waits_for_the_imaging_batch(cert, spawn, run_dir, "merge", works + "SET r.role = 'CERT renamed'")
    assert cert.cypher("MATCH (:DatamigRun)-[r:DATAMIG_BEFORE]->(b) RETURN r.kind AS kind, r.type AS type, "
                       "b.role AS role") == [{"kind": "rel", "type": "WORKS_FOR", "role": "cert_role"}]
    assert cert.cypher(works + "RETURN r.role AS role") == [{"role": "CERT renamed"}]
    assert cert.cypher("MATCH ()-[x]->() WHERE x._datamig_lock IS NOT NULL RETURN count(x) AS n") == [{"n": 0}]


def _write_waits_for_the_imaging_batch(cert, spawn, run_dir, strategy: str, write: str) -> None:
    """Load with `strategy`, stopped right after its first before-image; CERT's `write` (to what
    was imaged) must be seen blocked on a lock then, and land once the load went on and ended."""
    proc = spawn(cert, "load", str(run_dir), "--strategy", strategy, failpoint="stop:load:graph-imaged")
    try:
        _stopped(proc.pid)  # imaged, not yet written
        writer = threading.Thread(target=cert.cypher, args=(write,))
        writer.start()
        assert _blocked(cert, writer, "CERT renamed"), "CERT's write went through between the image and the write"
        os.kill(proc.pid, signal.SIGCONT)
        assert _continue_until_exit(proc) == 0
    finally:
        if proc.returncode is None:  # failed above: the stopped loader would hold the zygote
            proc.kill()
            proc.wait(timeout=60)
    writer.join(timeout=300)
    assert not writer.is_alive()


def _blocked(cert, writer: threading.Thread, marker: str, timeout: float = 120) -> bool:
    """True once Neo4j lists the query holding `marker` as blocked on a lock; False if the
    writer's transaction finished instead."""
    deadline = time.monotonic() + timeout
    while writer.is_alive() and time.monotonic() < deadline:
        rows = cert.cypher("SHOW TRANSACTIONS YIELD currentQuery, status RETURN currentQuery AS q, status AS s")
        if any(marker in (r["q"] or "") and (r["s"] or "").startswith("Blocked") for r in rows):
            return True
        time.sleep(0.05)
    return False
