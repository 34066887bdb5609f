"""dm_scrub_names in worker processes, off the dbt process's GIL.

dbt runs its nodes in Python threads and DuckDB calls Python UDFs holding the GIL, so one dbt
process uses about one core, and scrubbing names out of free text is the largest Python cost of
a build (a quarter of `dbt run` at `reference`). A worker process per DuckDB thread does that
part on the core dbt leaves idle: the UDF sends its chunk (Arrow IPC over a pipe) and waits with
the GIL released. The output is the same NameScrubber's, so it does not depend on where it ran.

- A chunk of fewer than MIN_ROWS rows is scrubbed in process: the round trip would cost more.
- Each DuckDB thread keeps its worker, so a chunk asked for again by the same thread (the
  macro's CASE, where DuckDB does not share its two calls) finds the worker's memo
  (names.NameScrubber.scrub).
- A worker that cannot start or dies makes the pool scrub in process from then on (same output;
  an error of the scrubber itself is then raised in process, where dbt reports it).
- DATAMIG_SCRUB_WORKERS=0 turns the workers off; the default is one per core, at most 2 (dbt's
  DuckDB threads in profiles.yml).
- Workers get no environment beyond what starts Python: never the salt or a password.
"""
from __future__ import annotations

import atexit
import itertools
import logging
import os
import struct
import subprocess
import sys
import threading

import pyarrow as pa

from .names import NameScrubber

log = logging.getLogger("datamig.anonymize")

WORKERS_ENV = "DATAMIG_SCRUB_WORKERS"
MIN_ROWS = 256
_KEPT_ENV = ("PATH", "PYTHONPATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "SYSTEMROOT")
_LENGTH = struct.Struct("<Q")


def _pack(columns: dict[str, pa.Array]) -> bytes:
    table = pa.table(columns)
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue().to_pybytes()


def _unpack(payload: bytes) -> pa.Table:
    return pa.ipc.open_stream(payload).read_all()


def _send(stream, payload: bytes) -> None:
    stream.write(_LENGTH.pack(len(payload)))
    stream.write(payload)
    stream.flush()


def _receive(stream) -> bytes | None:
    """One framed message; None at a clean end of stream."""
    head = stream.read(_LENGTH.size)
    if len(head) < _LENGTH.size:
        return None
    (size,) = _LENGTH.unpack(head)
    payload = stream.read(size)
    if len(payload) < size:
        raise EOFError("scrub worker: message cut short")
    return payload


def scrub_in_process(scrubber: NameScrubber, texts: pa.Array, names: pa.Array) -> pa.Array:
    return pa.array([scrubber.scrub(t, n) for t, n in zip(texts.to_pylist(), names.to_pylist())], pa.string())


class _Worker:
    def __init__(self, placeholder: str):
        env = {k: os.environ[k] for k in _KEPT_ENV if k in os.environ}
        self.proc = subprocess.Popen([sys.executable, "-m", __name__, placeholder], env=env,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        self.lock = threading.Lock()

    def scrub(self, texts: pa.Array, names: pa.Array) -> pa.Array:
        with self.lock:
            _send(self.proc.stdin, _pack({"text": texts, "names": names}))
            reply = _receive(self.proc.stdout)
        if reply is None:
            raise EOFError(f"scrub worker exited (code {self.proc.poll()})")
        return _unpack(reply).column(0).combine_chunks()

    def close(self) -> None:
        try:
            self.proc.stdin.close()  # the worker's loop ends at end of input
            self.proc.wait(timeout=5)
        except (OSError, subprocess.TimeoutExpired):
            self.proc.kill()
            self.proc.wait()


class ScrubPool:
    """Callable as the UDF's body: (texts, names) Arrow arrays in, scrubbed texts out."""

    def __init__(self, placeholder: str, size: int):
        self.placeholder = placeholder
        self.size = size
        self._local_scrubber = NameScrubber(placeholder)
        self._workers: list[_Worker | None] = [None] * size
        self._workers_lock = threading.Lock()
        self._local_lock = threading.Lock()
        self._next = itertools.count()
        self._by_thread: dict[int, int] = {}
        self.broken = size == 0

    def __call__(self, texts: pa.Array, names: pa.Array) -> pa.Array:
        if self.broken or len(texts) < MIN_ROWS:
            return self._in_process(texts, names)
        try:
            return self._worker().scrub(texts, names)
        except (OSError, EOFError, ValueError, pa.ArrowException) as exc:
            if not self.broken:
                log.warning("name scrubbing workers stopped (%s); scrubbing in process", type(exc).__name__)
                self.broken = True
            return self._in_process(texts, names)

    def _in_process(self, texts: pa.Array, names: pa.Array) -> pa.Array:
        with self._local_lock:  # NameScrubber's caches are not made for two threads at once
            return scrub_in_process(self._local_scrubber, texts, names)

    def _worker(self) -> _Worker:
        # by OS thread id: DuckDB's own threads may get a fresh Python thread state (so a fresh
        # threading.local) on every call, and a CASE's second call must meet the first's memo
        with self._workers_lock:
            index = self._by_thread.get(threading.get_ident())
            if index is None:
                index = self._by_thread[threading.get_ident()] = next(self._next) % self.size
            if self._workers[index] is None:
                self._workers[index] = _Worker(self.placeholder)
            return self._workers[index]

    def close(self) -> None:
        with self._workers_lock:
            workers, self._workers = self._workers, [None] * self.size
        for worker in filter(None, workers):
            worker.close()


_pools: dict[str, ScrubPool] = {}
_pools_lock = threading.Lock()


def pool_for(placeholder: str) -> ScrubPool:
    """One pool per process and placeholder: its workers outlive a dbt invocation, so the
    runner's and the tests' in-process dbt calls start them once."""
    with _pools_lock:
        found = _pools.get(placeholder)
        if found is None:
            found = _pools[placeholder] = ScrubPool(placeholder, _pool_size())
        return found


def _pool_size() -> int:
    raw = os.environ.get(WORKERS_ENV)
    if raw is None:
        return min(2, os.cpu_count() or 1)
    try:
        return max(0, int(raw))
    except ValueError:
        log.warning("%s=%r is not a number; scrubbing names in process", WORKERS_ENV, raw)
        return 0


@atexit.register
def _close_pools() -> None:
    for found in list(_pools.values()):
        found.close()


def main() -> None:
    scrubber = NameScrubber(sys.argv[1])
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    while (request := _receive(stdin)) is not None:
        table = _unpack(request)
        result = scrub_in_process(scrubber, table.column("text").combine_chunks(), table.column("names").combine_chunks())
        _send(stdout, _pack({"scrubbed": result}))


if __name__ == "__main__":
    main()
