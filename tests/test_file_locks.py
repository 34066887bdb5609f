"""Who holds a DuckDB database open, read from /proc/locks: another process is named, this
process (the runner's own connection, an earlier in-process dbt) is not, and the file is never
opened by the check (closing a descriptor would drop this process's own DuckDB lock)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from datamig.file_locks import _holder, in_use_refusal, warehouse_holder

pytestmark = pytest.mark.skipif(not Path("/proc/locks").exists(), reason="Linux's /proc/locks")


def test_another_process_holding_the_database_is_named(tmp_path):
    path = tmp_path / "warehouse.duckdb"
    duckdb.connect(str(path)).close()
    assert warehouse_holder(path) is None
    hold = "import duckdb, sys; c = duckdb.connect(sys.argv[1]); print('open', flush=True); sys.stdin.read()"
    holder = subprocess.Popen([sys.executable, "-c", hold, str(path)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              text=True)
    try:
        assert holder.stdout.readline().strip() == "open"
        assert warehouse_holder(path) == holder.pid
        assert in_use_refusal(tmp_path, "mig-1").startswith(f"run mig-1 is in use: process {holder.pid} has its")
    finally:
        holder.communicate("", timeout=60)
    assert warehouse_holder(path) is None and in_use_refusal(tmp_path, "mig-1") is None


def test_this_process_holding_it_is_not_another_user_and_keeps_its_lock(tmp_path):
    path = tmp_path / "warehouse.duckdb"
    con = duckdb.connect(str(path))
    try:
        assert warehouse_holder(path) is None
        taker = subprocess.run([sys.executable, "-c", "import duckdb, sys; duckdb.connect(sys.argv[1])", str(path)],
                               capture_output=True, text=True, timeout=60)
        assert taker.returncode != 0 and "Could not set lock" in taker.stderr  # the check dropped no lock
    finally:
        con.close()


@pytest.mark.parametrize("line, pid", [
    ("1: POSIX  ADVISORY  WRITE 4242 fe:00:131 0 EOF", 4242),
    ("1: POSIX  ADVISORY  WRITE 4242 fe:00:132 0 EOF", None),   # another file
    ("1: -> POSIX  ADVISORY  WRITE 4343 fe:00:131 0 EOF", None),  # waiting, not holding
    ("2: OFDLCK ADVISORY  WRITE -1 fe:00:131 0 EOF", None),      # no process to name
    ("garbage", None),
])
def test_a_proc_locks_line_is_read_for_its_holder(line, pid):
    assert _holder(line, (0xFE, 0, 131)) == pid
