"""The Python UDFs (dm_scrub_names, dm_jsonb, dm_mask_format) in worker processes, off the dbt process's GIL.

dbt runs its nodes in Python threads and DuckDB calls Python UDFs holding the GIL, so one dbt
process uses about one core. Removing names from free text and anonymizing JSON documents are
the largest Python costs of a build, and the digit permutation of phones and SSNs (numpy on
2,048 values at a time, mostly per-call overhead and cache misses) the slowest hot column; a
worker process per DuckDB thread does them on the core dbt leaves idle: the UDF sends its chunk
(pickled Arrow arrays over a pipe: a fifth of an IPC stream's cost; DuckDB hands each call
fresh buffers, where a slice of a larger array would pickle all of it) and waits with the GIL
released. A worker runs the same code (names.NameScrubber, jsondoc.DocAnonymizer,
fpe.DigitPermuter) on the same inputs, so the output does not depend on where a chunk ran.

- A chunk of fewer than MIN_ROWS rows (MIN_MASK_ROWS for masks) runs in process: the round trip
  would cost more.
- Each DuckDB thread keeps its worker, so a chunk asked for again by the same thread (the
  macro's CASE, where DuckDB does not share its two calls) finds the worker's memo.
- A worker that cannot start or dies makes the pool work in process from then on. A chunk
  the worker's code rejects (a bad rule, a document that is not JSON) is run again in process,
  where the error is raised and dbt reports it as usual. Either way the output is the same.
- DATAMIG_UDF_WORKERS=0 turns the workers off; the default is one per core, at most 2 (dbt's
  DuckDB threads in profiles.yml).
- Workers start with no environment beyond what starts Python: never the salt or a password.
  Documents and masks need the engine's keys (fakes are keyed); a worker gets them, with the
  rules, over its stdin pipe the first time it meets that engine: never in its arguments (any
  user of the machine can read a process's command line) nor its environment.
"""
from __future__ import annotations

import atexit
import itertools
import logging
import os
import pickle
import struct
import subprocess
import sys
import threading
from typing import Any, Callable

import pyarrow as pa

from .arrays import string_array
from .names import NameScrubber

log = logging.getLogger("datamig.anonymize")

WORKERS_ENV = "DATAMIG_UDF_WORKERS"
MIN_ROWS = 256
MIN_MASK_ROWS = 1024  # a phone costs ~1 us: a smaller chunk is cheaper here than a round trip
KEPT_ENGINES = 4  # engines a worker keeps; one dbt invocation uses one (older ones are done)
_KEPT_ENV = ("PATH", "PYTHONPATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "SYSTEMROOT")
_LENGTH = struct.Struct("<Q")


def _send(stream, message: Any) -> None:
    payload = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(_LENGTH.pack(len(payload)))
    stream.write(payload)
    stream.flush()


def _receive(stream) -> Any:
    """One framed message; None at a clean end of stream."""
    head = stream.read(_LENGTH.size)
    if len(head) < _LENGTH.size:
        return None
    (size,) = _LENGTH.unpack(head)
    payload = stream.read(size)
    if len(payload) < size:
        raise EOFError("udf worker: message cut short")
    return pickle.loads(payload)


def scrub_in_process(scrubber: NameScrubber, texts: pa.Array, names: pa.Array) -> pa.Array:
    return string_array([scrubber.scrub(t, n) for t, n in zip(texts.to_pylist(), names.to_pylist())])


def docs_in_process(engine, docs: pa.Array, names: pa.Array, spec: str, token: str | None) -> pa.Array:
    taken = engine.taken.get(token)
    return string_array(engine.docs.anonymize_texts(docs.to_pylist(), spec, taken, names.to_pylist()))


def mask_in_process(engine, values: pa.Array, domain: str, keep: bool, letters: bool, token: str | None) -> pa.Array:
    taken = engine.taken.get(token)
    return engine.permuter.transform(values, domain, keep, letters, taken.for_domain(domain) if taken else None)


def _engine_setup(engine, token: str | None) -> Callable[[], list[tuple]]:
    """What a worker needs before a keyed request: the engine, and the slice's taken set."""
    def setup() -> list[tuple]:
        needed = [(("engine", engine.worker_id), lambda: ("engine", engine.worker_id, engine.for_worker()))]
        if token is not None:
            needed.append((("taken", engine.worker_id, token),
                           lambda: ("taken", engine.worker_id, token, engine.taken.state(token))))
        return needed
    return setup


class WorkerRejected(Exception):
    """The worker's code raised on a chunk; running it in process raises the real error."""


class _Worker:
    def __init__(self):
        env = {k: os.environ[k] for k in _KEPT_ENV if k in os.environ}
        self.proc = subprocess.Popen([sys.executable, "-m", __name__], env=env,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        self.lock = threading.Lock()
        self.known: set[tuple] = set()  # engines and taken sets this worker holds
        self._engines: list[str] = []    # in the order sent: the worker forgets the oldest alike

    def call(self, request: tuple, setup: Callable[[], list[tuple]] = lambda: []) -> pa.Array:
        """One request; `setup` gives (key, message maker) for what the worker needs first: each
        message is made and sent once (a chunk whose worker has it all builds none)."""
        with self.lock:
            self._set_up(setup)
            _send(self.proc.stdin, request)
            reply = _receive(self.proc.stdout)
        if reply is None:
            raise EOFError(f"udf worker exited (code {self.proc.poll()})")
        status, answer = reply
        if status != "ok":
            raise WorkerRejected(answer)
        return answer

    def prepare(self, setup: Callable[[], list[tuple]]) -> None:
        with self.lock:
            self._set_up(setup)

    def _set_up(self, setup: Callable[[], list[tuple]]) -> None:
        for key, make in setup():
            if key not in self.known:
                self._remember(key)
                _send(self.proc.stdin, make())

    def _remember(self, key: tuple) -> None:
        if key[0] == "engine":
            if len(self._engines) >= KEPT_ENGINES:  # as _Served._set_up drops it
                gone = self._engines.pop(0)
                self.known = {k for k in self.known if k[1] != gone}
            self._engines.append(key[1])
        self.known.add(key)

    def stop(self) -> None:
        try:
            self.proc.stdin.close()  # the worker's loop ends at end of input
        except OSError:
            pass

    def reap(self) -> None:
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


class WorkerPool:
    def __init__(self, size: int):
        self.size = size
        self._workers: list[_Worker | None] = [None] * size
        self._workers_lock = threading.Lock()
        self._local_lock = threading.Lock()
        self._scrubbers: dict[str, NameScrubber] = {}
        self._next = itertools.count()
        self._by_thread: dict[int, int] = {}
        self.broken = size == 0

    def scrub_names(self, placeholder: str, texts: pa.Array, names: pa.Array) -> pa.Array:
        def local() -> pa.Array:
            with self._local_lock:  # NameScrubber's caches are not made for two threads at once
                scrubber = self._scrubbers.setdefault(placeholder, NameScrubber(placeholder))
                return scrub_in_process(scrubber, texts, names)
        request = ("names", placeholder, texts, names)
        return self._run(len(texts), local, request)

    def anonymize_docs(self, engine, docs: pa.Array, names: pa.Array, spec: str, token: str | None) -> pa.Array:
        request = ("docs", engine.worker_id, spec, token, (docs, names))
        return self._run(len(docs), lambda: docs_in_process(engine, docs, names, spec, token), request,
                         _engine_setup(engine, token))

    def mask_format(self, engine, values: pa.Array, domain: str, keep: bool, letters: bool,
                    token: str | None) -> pa.Array:
        request = ("mask", engine.worker_id, (domain, keep, letters), token, values)
        return self._run(len(values), lambda: mask_in_process(engine, values, domain, keep, letters, token),
                         request, _engine_setup(engine, token), MIN_MASK_ROWS)

    def _run(self, rows: int, local: Callable[[], pa.Array], request: tuple, setup=lambda: [],
             min_rows: int = MIN_ROWS) -> pa.Array:
        if self.broken or rows < min_rows:
            return local()
        try:
            return self._worker().call(request, setup)
        except WorkerRejected:
            return local()
        except (OSError, EOFError, ValueError, pickle.PickleError, pa.ArrowException) as exc:
            if not self.broken:
                log.warning("UDF worker processes stopped (%s); running the UDFs in process",
                            type(exc).__name__)
                self.broken = True
            return local()

    def warm(self, engine) -> threading.Thread | None:
        """Start every worker and hand it `engine` now, in the background (the thread returned),
        so the first chunk a model sends does not wait ~0.5 s for a worker to start and build its
        engine: dbt is still busy with its own start-up then."""
        if self.broken:
            return None
        thread = threading.Thread(target=self._warm, args=(_engine_setup(engine, None),), daemon=True)
        thread.start()
        return thread

    def _warm(self, setup: Callable[[], list[tuple]]) -> None:
        try:
            with self._workers_lock:
                workers = [self._workers[i] or self._start(i) for i in range(self.size)]
            for worker in workers:
                worker.prepare(setup)
        except (OSError, ValueError):
            pass  # the first real chunk meets the same error and switches to in-process

    def _start(self, index: int) -> _Worker:
        self._workers[index] = _Worker()
        return self._workers[index]

    def _worker(self) -> _Worker:
        # by OS thread id: DuckDB's own threads may get a fresh Python thread state (so a fresh
        # threading.local) on every call, and a CASE's second call must meet the first's memo
        with self._workers_lock:
            index = self._by_thread.get(threading.get_ident())
            if index is None:
                index = self._by_thread[threading.get_ident()] = next(self._next) % self.size
            return self._workers[index] or self._start(index)

    def close(self) -> None:
        with self._workers_lock:
            workers, self._workers = self._workers, [None] * self.size
        # every worker told first, then waited for: they wind down side by side, not in turn
        running = [w for w in workers if w is not None]
        for worker in running:
            worker.stop()
        for worker in running:
            worker.reap()


_pool: WorkerPool | None = None
_pool_lock = threading.Lock()


def shared_pool() -> WorkerPool:
    """One pool per process: its workers outlive a dbt invocation, so the runner's and the
    tests' in-process dbt calls start them once."""
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = WorkerPool(_pool_size())
        return _pool


def _pool_size() -> int:
    raw = os.environ.get(WORKERS_ENV)
    if raw is None:
        return min(2, os.cpu_count() or 1)
    try:
        return max(0, int(raw))
    except ValueError:
        log.warning("%s=%r is not a number; running the UDFs in process", WORKERS_ENV, raw)
        return 0


@atexit.register
def _close_pool() -> None:
    if _pool is not None:
        _pool.close()


class _Served:
    """A worker's side: what it was sent, and each request's answer."""

    def __init__(self):
        self.scrubbers: dict[str, NameScrubber] = {}
        self.engines: dict[str, Any] = {}

    def handle(self, message: tuple) -> tuple | None:
        """The reply to a request; None for set-up messages, which get no reply (a set-up that
        fails leaves the engine unknown, so its requests are rejected and run in process)."""
        try:
            if message[0] in ("engine", "taken"):
                self._set_up(message)
                return None
            return "ok", self._answer(message)
        except Exception as exc:  # noqa: BLE001 - the parent re-runs the chunk in process, where it raises
            return (None if message[0] in ("engine", "taken") else ("rejected", type(exc).__name__))

    def _set_up(self, message: tuple) -> None:
        if message[0] == "engine":
            from .engine import Engine  # only a worker that meets documents pays for the import
            if len(self.engines) >= KEPT_ENGINES:  # a process running dbt again and again (tests, the runner)
                self.engines.pop(next(iter(self.engines)))
            self.engines[message[1]] = Engine.from_worker_state(message[2])
        else:
            _, engine_id, token, state = message
            self.engines[engine_id].taken.add(token, state)

    def _answer(self, message: tuple) -> pa.Array:
        if message[0] == "names":
            _, placeholder, texts, names = message
            scrubber = self.scrubbers.setdefault(placeholder, NameScrubber(placeholder))
            return scrub_in_process(scrubber, texts, names)
        kind, engine_id, options, token, column = message
        if kind == "mask":
            return mask_in_process(self.engines[engine_id], column, *options, token)
        return docs_in_process(self.engines[engine_id], *column, options, token)


def main() -> None:
    served = _Served()
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    while (message := _receive(stdin)) is not None:
        reply = served.handle(message)
        if reply is not None:
            _send(stdout, reply)
    # every reply is flushed and a worker holds nothing to clean up: tearing down its interpreter
    # (the engine's dictionaries, numpy tables, modules) only kept the dbt process waiting at exit
    os._exit(0)


if __name__ == "__main__":
    main()
