"""Fail points: named moments of the load and rollback protocols where a test can stop the
process, to prove recovery from each window.

DATAMIG_FAILPOINT=<name>        the process kills itself (SIGKILL: no clean-up of any kind);
DATAMIG_FAILPOINT=raise:<name>  a MigrationFailed is raised there (the in-process failure path:
                                rollback of prepared transactions, Neo4j compensation).
DATAMIG_FAILPOINT=stop:<name>   the process stops itself (SIGSTOP) until a test sends SIGCONT:
                                the test can then hold the next request on the wire and kill
                                the process while the server still has that request to run.
Unset, a fail point costs one dictionary lookup.
"""
from __future__ import annotations

import os
import signal

from ..errors import MigrationFailed

ENV = "DATAMIG_FAILPOINT"


def failpoint(name: str) -> None:
    value = os.environ.get(ENV)
    if value is None:
        return
    if value == name:
        os.kill(os.getpid(), signal.SIGKILL)
    elif value == f"raise:{name}":
        raise MigrationFailed(f"fail point {name}")
    elif value == f"stop:{name}":
        os.kill(os.getpid(), signal.SIGSTOP)
