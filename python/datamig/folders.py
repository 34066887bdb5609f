"""Folders a failed command created and must take away again: a user's mistake changes nothing
on disk, and a folder another process has meanwhile put something in is never removed."""
from __future__ import annotations

from pathlib import Path


def first_missing(path: Path) -> Path | None:
    """The outermost folder of `path` that does not exist yet (None if `path` exists)."""
    missing = None
    while not path.exists():
        missing, path = path, path.parent
    return missing


def remove_empty(folder: Path, created: Path | None) -> None:
    """`folder`, then each folder above it up to `created` (the outermost one this command
    created), each only while it is empty. Nothing when `created` is None."""
    if created is None:
        return
    while True:
        try:
            folder.rmdir()  # only when empty
        except OSError:
            return
        if folder == created:
            return
        folder = folder.parent
