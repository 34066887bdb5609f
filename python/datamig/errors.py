"""Errors a user can cause. The CLI prints each as one line and exits 2 (usage/config/connection)."""
from __future__ import annotations


class DatamigError(Exception):
    """Base: a one-line message naming the thing that is wrong; never carries a secret."""

    exit_code = 2


class ConfigError(DatamigError):
    pass


class ConnectionFailed(DatamigError):
    pass


class NotFound(DatamigError):
    pass


class Interrupted(DatamigError):
    """The user pressed Ctrl-C: the run stopped where it was, recorded so, and resumable."""

    exit_code = 130  # as a shell reports a process ended by SIGINT
    label = "interrupted"


class MigrationFailed(DatamigError):
    """The migration ran but its result is not acceptable (validation FAILED, load failed)."""

    exit_code = 1
