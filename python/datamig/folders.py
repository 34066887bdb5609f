"""Folders a failed command created and must take away again: a user's mistake changes nothing
on disk, and a folder another process has meanwhile put something in is never removed. And the
folders a command writes into, checked before it starts."""
from __future__ import annotations

from pathlib import Path

from .errors import ConfigError


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


def check_folder(path: Path, setting: str) -> None:
    """`path` can be written into as a folder: neither it nor a folder above it is a file. Else
    the OS's own words, "PATH: File exists" or "Not a directory", named no setting, and only
    once the command had done its work (an analysis read the whole estate first)."""
    path = Path(path)
    for above in (path, *path.parents):
        if above.exists() or above.is_symlink():
            if not above.is_dir():
                where = "is a file" if above == path else f"lies under {above}, which is a file"
                raise ConfigError(f"{setting}: {path} {where}, not a folder")
            return
