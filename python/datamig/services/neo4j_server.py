"""A real Neo4j 5.26 community server on loopback, run by the Java launcher in neo4j-launcher/.

There is no Docker and no Neo4j distribution here, only Maven Central, so the server is Neo4j's
embedded DBMS with its Bolt connector on, in a JVM of its own (see Neo4jLauncher.java).
"""
from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from .envfile import server_environment

LAUNCHER_DIR = "neo4j-launcher"
MAIN_CLASS = "datamig.Neo4jLauncher"
PASSWORD_ENV = "NEO4J_LAUNCHER_PASSWORD"
USER = "neo4j"
MIN_PASSWORD_LENGTH = 8  # Neo4j's dbms.security.auth_minimum_password_length default
READY_FILE = "launcher.ready"

# Heap small and fixed so two servers plus the rest fit a test machine; the page cache (256 MiB,
# set by the launcher) lives off-heap. The --add-opens and -D flags are those Neo4j's own start
# script passes: without them the page cache and transaction logs fall back to slower paths.
# The parallel collector, not G1: these servers live for a demo, a test run or a benchmark on a
# 2-core machine, where G1's concurrent work costs more CPU than its short pauses save (a
# `reference` migration: ~8% less CPU in each Neo4j JVM).
JVM_OPTS = [
    "-Xms128m",
    "-Xmx768m",
    "-XX:+UseParallelGC",
    "-XX:+ExitOnOutOfMemoryError",
    "-XX:-OmitStackTraceInFastThrow",
    "-Djdk.nio.maxCachedBufferSize=1024",
    "-Dio.netty.tryReflectionSetAccessible=true",
    "-Dlog4j2.disable.jmx=true",
    "--add-opens=java.base/java.nio=ALL-UNNAMED",
    "--add-opens=java.base/java.io=ALL-UNNAMED",
    "--add-opens=java.base/sun.nio.ch=ALL-UNNAMED",
]

# Servers this process started: holding the Popen lets stop() reap them (no zombie that still
# answers kill(pid, 0)) and keeps Popen.__del__ from warning about a running child.
_children: dict[int, subprocess.Popen] = {}


def _paths(project_root: Path) -> tuple[Path, Path, Path]:
    base = Path(project_root) / LAUNCHER_DIR
    return base / "pom.xml", base / "target" / "neo4j-launcher.jar", base / "target" / "lib"


def _is_built(project_root: Path) -> bool:
    pom, jar, lib = _paths(project_root)
    if not jar.exists() or not lib.is_dir() or not any(lib.glob("neo4j-*.jar")):
        return False
    # A pom or source edited after the last build means the jar is stale.
    sources = [pom, *(pom.parent / "src").rglob("*.java")]
    return jar.stat().st_mtime >= max(p.stat().st_mtime for p in sources)


def build_launcher(project_root: Path) -> None:
    """Build target/neo4j-launcher.jar and target/lib/ with Maven, unless already up to date."""
    if _is_built(project_root):
        return
    pom, _, _ = _paths(project_root)
    mvn = shutil.which("mvn")
    if mvn is None:
        raise RuntimeError("mvn not found: Maven is needed to build the Neo4j launcher")
    proc = subprocess.run([mvn, "-B", "-q", "-f", str(pom), "package"],
                          capture_output=True, text=True)
    if proc.returncode != 0 or not _is_built(project_root):
        raise RuntimeError("building the Neo4j launcher failed:\n"
                           f"{proc.stdout[-4000:]}{proc.stderr[-4000:]}")


def _command(project_root: Path, home: Path, port: int) -> list[str]:
    _, jar, lib = _paths(project_root)
    java = shutil.which("java")
    if java is None:
        raise RuntimeError("java not found: Neo4j 5.26 needs Java 17 or 21")
    return [java, *JVM_OPTS, "-cp", f"{jar}{os.pathsep}{lib}/*", MAIN_CLASS,
            "--home", str(home), "--port", str(port), "--ready-file", str(home / READY_FILE)]


def start(project_root: Path, home: Path, port: int, password: str, log_path: Path,
          timeout: float = 120, on_started: Callable[[int], None] | None = None) -> int:
    """Start a server on bolt://127.0.0.1:PORT with data in HOME; return its pid once Bolt
    accepts neo4j/PASSWORD. The first start of a HOME sets the password; later starts of the
    same HOME must pass the same one. `on_started(pid)` runs as soon as the process exists,
    before the wait: a caller killed during the wait has recorded what to stop."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValueError(f"Neo4j needs a password of at least {MIN_PASSWORD_LENGTH} characters")
    build_launcher(project_root)
    home, log_path = Path(home).resolve(), Path(log_path)
    home.mkdir(parents=True, exist_ok=True)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    ready = home / READY_FILE
    ready.unlink(missing_ok=True)
    # The password travels in the environment: argv is readable by anyone through ps.
    env = {**server_environment(), PASSWORD_ENV: password}
    with open(log_path, "ab") as log:
        # A new session: the server outlives this process and ignores its terminal's Ctrl-C.
        proc = subprocess.Popen(_command(project_root, home, port), stdin=subprocess.DEVNULL,
                                stdout=log, stderr=subprocess.STDOUT, env=env,
                                cwd=home, start_new_session=True)
    _children[proc.pid] = proc
    try:
        if on_started is not None:
            on_started(proc.pid)
    except BaseException:
        stop(proc.pid)
        raise
    _wait_ready(proc, ready, port, password, log_path, timeout)
    return proc.pid


def _wait_ready(proc: subprocess.Popen, ready: Path, port: int, password: str, log_path: Path,
                timeout: float) -> None:
    try:
        _poll_ready(proc, ready, f"bolt://127.0.0.1:{port}", password, log_path, timeout)
    except BaseException:
        stop(proc.pid)  # never leave a half-started server behind (no-op if it already exited)
        raise


def _poll_ready(proc: subprocess.Popen, ready: Path, url: str, password: str, log_path: Path,
                timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"Neo4j exited with code {proc.returncode} while starting; "
                               f"see {log_path}:\n{_tail(log_path)}")
        # The ready file says Bolt is bound; a driver handshake proves it serves and the
        # password took.
        if ready.exists() and _handshake(url, password):
            return
        time.sleep(0.5)
    raise TimeoutError(f"Neo4j did not answer on {url} within {timeout:.0f}s; see {log_path}:\n"
                       f"{_tail(log_path)}")


def _handshake(url: str, password: str) -> bool:
    from neo4j.exceptions import AuthError

    try:
        return _verify(url, USER, password, timeout=5)
    except AuthError:
        # Only a home first started with another password gets here; retrying would just
        # lock the user out.
        raise PermissionError(f"Neo4j at {url} refused the password: this home was "
                              "initialised with a different one") from None


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def _is_launcher(pid: int) -> bool:
    """Guards against signalling whatever process reused a recorded pid."""
    try:
        return MAIN_CLASS.encode() in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


def _running(pid: int) -> bool:
    proc = _children.get(pid)
    if proc is not None:
        return proc.poll() is None  # also reaps our own child
    # Someone else's child: a zombie has already closed its files and released the store.
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def stop(pid: int, timeout: float = 60) -> None:
    """SIGTERM (the launcher's shutdown hook checkpoints and closes the store), SIGKILL after
    TIMEOUT seconds. A pid that is gone, or is no launcher, is left alone."""
    ours = pid in _children
    if _running(pid) and (ours or _is_launcher(pid)):
        _signal(pid, signal.SIGTERM)
        if not _wait_gone(pid, timeout):
            _signal(pid, signal.SIGKILL)
            _wait_gone(pid, 10)
    _children.pop(pid, None)


def _signal(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):  # it may exit between check and signal
        os.kill(pid, sig)


def _wait_gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while _running(pid):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.2)
    return True


REFUSED = "the server refused the login"


def is_reachable(url: str, user: str, password: str, timeout: float = 5) -> bool:
    """True when a Bolt server at URL accepts USER/PASSWORD."""
    return login_problem(url, user, password, timeout) is None


def login_problem(url: str, user: str, password: str, timeout: float = 5) -> str | None:
    """None when a Bolt server at URL accepts USER/PASSWORD, else why not: nothing answers, or
    it answers and refuses the login (a wrong password is no server down)."""
    from neo4j.exceptions import AuthError, DriverError, Neo4jError

    from ..config.neo4j_url import LOGIN_LOCKED, login_locked

    try:
        return None if _verify(url, user, password, timeout) else "no Bolt answer"
    except AuthError:
        return REFUSED
    except Neo4jError as exc:  # locked out after wrong passwords: it answered, no server is down
        return LOGIN_LOCKED if login_locked(exc) else "no Bolt answer"
    except (DriverError, OSError, ValueError):
        return "no Bolt answer"


def _verify(url: str, user: str, password: str, timeout: float) -> bool:
    """True once a Bolt handshake with login succeeds, False while nothing answers; raises
    the driver's AuthError on a refused password."""
    from neo4j import GraphDatabase
    from neo4j.exceptions import ServiceUnavailable

    try:
        with GraphDatabase.driver(url, auth=(user, password), connection_timeout=timeout,
                                  connection_acquisition_timeout=timeout) as driver:
            driver.verify_connectivity()
        return True
    except (ServiceUnavailable, OSError):
        return False
