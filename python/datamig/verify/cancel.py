"""Ctrl-C in validate-migration stops its checks in CERT, not only the main thread.

The checks run side by side in a thread pool, and a pool's threads are waited for on the way
out: an interrupted validate-migration waited for every running check, and one held up by a
lock in CERT held it until the lock went. Abandoning the threads (daemon threads) is no cure:
a thread left inside a C++ library when the interpreter exits aborts the process. So every
session the checks open carries one application_name (PGAPPNAME, which libpq reads), and on an
interrupt those sessions' queries are cancelled until the checks have all returned."""
from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from concurrent import futures
from contextlib import contextmanager

import psycopg

from ..transform.dbt_process import environ

SWEEP_EVERY_S = 0.5


def session_name() -> str:
    return f"datamig-validate:{os.getpid()}"


@contextmanager
def tagged_sessions() -> Iterator[None]:
    """Sessions opened meanwhile, by any thread, carry session_name()."""
    with environ({"PGAPPNAME": session_name()}):
        yield


def cancel_until_done(urls: Iterable[str], running: Iterable[futures.Future]) -> None:
    """Cancel the tagged sessions' queries in every CERT database until `running` are done
    (a check may open its next session after a sweep; each cancelled query ends its check)."""
    pending = set(running)
    urls = list(dict.fromkeys(urls))
    while pending:
        for url in urls:
            _cancel(url)
        pending = futures.wait(pending, timeout=SWEEP_EVERY_S).not_done


def _cancel(url: str) -> None:
    try:
        with psycopg.connect(url, connect_timeout=5, autocommit=True) as conn:
            conn.execute("SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE application_name = %s "
                         "AND pid <> pg_backend_pid()", (session_name(),))
    except psycopg.Error:  # CERT unreachable: its sessions are gone or going with it
        pass
