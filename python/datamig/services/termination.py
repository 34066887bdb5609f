"""SIGTERM and SIGHUP as an interrupt, for a process that started private services of its own
(the test session, a benchmark).

Python's default for either signal is to die at once, so no `finally` runs: `timeout` ending a
pytest run, or a closed terminal ending a benchmark, left its PostgreSQL and Neo4j running
(both are started in sessions of their own, so the signal never reaches them). Inside
`stop_on_signals()` either signal raises `Terminated`, a KeyboardInterrupt: everything that
already stops the services on Ctrl-C (pytest's fixture teardown, a context manager's `finally`)
stops them on these signals too.

Only one Terminated is raised: a second signal arriving while the services are being stopped
must not cut that stop short. `held()` guards work that must not stop halfway (a start, the
stop itself): a signal arriving inside it is raised when it ends.

Never installed by `datamig services up`: the services a user starts there are meant to outlive
the command.
"""
from __future__ import annotations

import os
import signal
import sys
import threading
from contextlib import contextmanager

SIGNALS = (signal.SIGTERM, signal.SIGHUP)


class Terminated(KeyboardInterrupt):
    def __init__(self, signum: int, detail: str = ""):
        name = signal.Signals(signum).name
        super().__init__(f"stopped by {name}: {detail}" if detail else f"stopped by {name}")
        self.signum = signum


class _State:
    owner: int | None = None   # pid that installed the handler; None when not installed
    holding = 0                # depth of held() blocks
    pending: int | None = None  # a signal that arrived inside held()
    raised = False


def _on_signal(signum: int, frame) -> None:
    if os.getpid() != _State.owner:
        # a forked child inherited the handler but owns no services: die as it would have
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)
        return
    if _State.raised:
        return
    if _State.holding:
        _State.pending = signum
        return
    _State.raised = True
    raise Terminated(signum)


@contextmanager
def stop_on_signals():
    """SIGTERM and SIGHUP raise Terminated inside the block (main thread only: Python runs
    signal handlers there, and only there can they be set)."""
    if threading.current_thread() is not threading.main_thread() or _State.owner is not None:
        yield  # nested, or off the main thread: the outer block or the default stands
        return
    previous = {sig: signal.signal(sig, _on_signal) for sig in SIGNALS}
    _State.owner, _State.holding, _State.pending, _State.raised = os.getpid(), 0, None, False
    try:
        yield
    finally:
        for sig, handler in previous.items():
            # None: a handler set outside Python, which cannot be put back; the default is
            signal.signal(sig, signal.SIG_DFL if handler is None else handler)
        _State.owner = None


@contextmanager
def held():
    """The block runs to its end; a SIGTERM or SIGHUP arriving inside it is raised after. A
    no-op where stop_on_signals() is not in force."""
    _State.holding += 1
    try:
        yield
    finally:
        _State.holding -= 1
        if not _State.holding and _State.pending is not None and not _State.raised:
            signum, _State.pending, _State.raised = _State.pending, None, True
            raise Terminated(signum)


@contextmanager
def exit_on_signals():
    """stop_on_signals() for a script: a Terminated that reaches the end of the block exits
    128 + the signal's number, the status a shell gives a process that signal killed, with a
    line on stderr instead of a KeyboardInterrupt traceback."""
    try:
        with stop_on_signals():
            yield
    except Terminated as exc:
        print(exc, file=sys.stderr)
        raise SystemExit(128 + exc.signum) from None
