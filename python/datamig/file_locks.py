"""Who else holds a DuckDB database open, read from Linux's /proc/locks.

DuckDB takes a POSIX record lock on its database file. Asking for it by opening the file would
be wrong twice over: a second DuckDB in this process is refused for its configuration, and
closing any descriptor of the file drops every POSIX lock this process holds on it (DuckDB's
own included). /proc/locks names the holders without touching the file. Elsewhere than Linux
the answer is "unknown" (None), and DuckDB's own error is what the user sees."""
from __future__ import annotations

import os
from pathlib import Path

PROC_LOCKS = Path("/proc/locks")


def in_use_refusal(run_dir: Path, name: str) -> str | None:
    """Why run `name` must not be built now: another process has its warehouse open (a `dbt
    build` beside `datamig transform` of the same run), else None."""
    holder = warehouse_holder(run_dir / "warehouse.duckdb")
    if holder is None:
        return None
    return (f"run {name} is in use: process {holder} has its warehouse.duckdb open (another dbt or datamig "
            "command on this run); run this once it has finished")


def warehouse_holder(path: Path) -> int | None:
    """The PID of another process holding a lock on `path`, or None (no such process, no such
    file, or no /proc/locks to read)."""
    try:
        stat = path.stat()
        lines = PROC_LOCKS.read_text().splitlines()
    except OSError:
        return None
    wanted = (os.major(stat.st_dev), os.minor(stat.st_dev), stat.st_ino)
    for line in lines:
        pid = _holder(line, wanted)
        if pid is not None and pid != os.getpid():
            return pid
    return None


def _holder(line: str, wanted: tuple[int, int, int]) -> int | None:
    """The PID of a granted lock on the file `wanted` (major, minor, inode), else None.
    A line reads `1: POSIX  ADVISORY  WRITE 4242 08:01:131 0 EOF`; waiting locks carry `->`."""
    fields = line.split()
    if len(fields) < 6 or "->" in fields:
        return None
    try:
        major, minor, inode = fields[5].split(":")
        device = (int(major, 16), int(minor, 16), int(inode))
        pid = int(fields[4])
    except ValueError:
        return None
    return pid if device == wanted and pid > 0 else None  # an OFD lock (pid -1) names no process
