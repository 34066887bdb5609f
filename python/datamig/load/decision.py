"""The commit decision of a two-phase load or rollback, and the lock that keeps two datamig
processes from running the protocol on the same runs folder at once.

The decision record is the single point after which a run must be finished rather than
undone. It is written only once every PostgreSQL store has PREPAREd (and, for a load, Neo4j
has committed), made durable (fsync of the file, then of its folder after the rename), and
read by recovery to resolve prepared transactions a killed process left behind.
"""
from __future__ import annotations

import errno
import fcntl
import json
import os
import time
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

from ..errors import MigrationFailed
from ..folders import first_missing, remove_empty
from ..runfiles import read_json_or_none

LOAD = "load-decision.json"
ROLLBACK = "rollback-decision.json"
LOCK_FILE = ".datamig-load.lock"  # only where a folder cannot be flocked


def path(run_dir: Path, op: str) -> Path:
    return run_dir / (LOAD if op == "load" else ROLLBACK)


def write(run_dir: Path, op: str, run_id: str, gids: list[str], graph: str | None) -> Path:
    target = path(run_dir, op)
    record = {"run_id": run_id, "op": op, "decision": "commit", "gids": gids, "graph_store": graph,
              "decided_at": datetime.now(timezone.utc).isoformat(timespec="microseconds")}
    tmp = target.with_name(f".{target.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        os.write(fd, json.dumps(record, indent=2).encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, target)
    _fsync_dir(run_dir)
    return target


def exists(run_dir: Path, op: str) -> bool:
    """A readable commit decision (a torn temp file never counts: only the rename publishes)."""
    return (read_json_or_none(path(run_dir, op)) or {}).get("decision") == "commit"


def clear(run_dir: Path, *ops: str) -> None:
    """A decision is only meaningful while its prepared transactions exist; once recovery has
    resolved them, a new attempt must not be mistaken for the old one."""
    for op in ops:
        p = path(run_dir, op)
        if p.exists():
            p.unlink()
            _fsync_dir(run_dir)


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextmanager
def locked(out_dir: Path, wait_s: float = 30.0):
    """Exclusive across processes (flock: released by the kernel even on kill -9). The lock is
    taken on the runs folder itself, not on a lock file in it, so a rollback or recovery that
    turns out to have nothing to do leaves no trace; a folder it had to create goes again if
    it is still empty. (Where a folder cannot be flocked, NFS, a lock file in it is.)"""
    fd, created = _acquire(out_dir, time.monotonic() + wait_s)
    try:
        yield
    finally:
        # removed while still locked: a process waiting on this folder then finds it gone
        # (_still_there) and locks the one that is there, never a deleted one
        remove_empty(out_dir, created)
        os.close(fd)  # closing the descriptor releases the lock


def _acquire(out_dir: Path, deadline: float) -> tuple[int, Path | None]:
    """The locked descriptor, and the outermost folder this call created (None if none)."""
    while True:
        created = first_missing(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        held = out_dir
        fd = os.open(held, os.O_RDONLY | os.O_DIRECTORY)
        try:
            if not _flock(fd, out_dir, deadline):
                os.close(fd)
                fd, held = -1, out_dir / LOCK_FILE
                fd = os.open(held, os.O_RDWR | os.O_CREAT, 0o644)
                _flock(fd, out_dir, deadline, fallback=False)
            if _still_there(fd, held):
                return fd, created
        except BaseException:
            if fd >= 0:
                os.close(fd)
            raise
        # the holder we waited for created the folder and removed it empty: lock the new one
        os.close(fd)


def _flock(fd: int, out_dir: Path, deadline: float, fallback: bool = True) -> bool:
    """True once locked; False when this filesystem cannot flock a folder's descriptor."""
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except OSError as exc:
            if fallback and exc.errno in (errno.EBADF, errno.ENOLCK, errno.EOPNOTSUPP):
                return False
            if exc.errno not in (errno.EAGAIN, errno.EACCES):
                raise MigrationFailed(f"cannot lock the runs folder {out_dir}: {exc.strerror}") from None
            if time.monotonic() > deadline:
                raise MigrationFailed(f"another datamig load, rollback or recovery holds the lock on {out_dir}") \
                    from None
            time.sleep(0.2)


def _still_there(fd: int, path: Path) -> bool:
    """`path` is still what `fd` opened (not removed, nor made anew, while we waited)."""
    try:
        return os.path.samestat(os.fstat(fd), os.stat(path))
    except FileNotFoundError:
        return False
