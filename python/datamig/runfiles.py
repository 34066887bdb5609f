"""Reading and writing the project's files whole: a run's JSON (manifest, reports, run state),
the services' state and settings, cached dictionaries.

Such a file can be cut short (a full disk) or edited by hand; json's own error then named no
file and read as a crash. Two reading policies, one place: read_json_object for a file the
command needs (each case one line naming the file, exit 2: the user's to fix, not a failed
migration), read_json_or_none for one it can do without (a report lists what it finds). Every
writer replaces the file whole (write_text_atomic), so a reader never meets one half written.
"""
from __future__ import annotations

import json
import os
import threading
from pathlib import Path

from .errors import DatamigError


def read_json_or_none(path: Path) -> dict | None:
    """The JSON object in `path`, or None when it is missing, unreadable or not an object: for
    files that are optional to their reader (a report lists what it finds)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def read_json_object(path: Path) -> dict:
    """The JSON object in `path`; DatamigError naming `path` when it cannot be read as one.
    A missing file is the caller's to explain (it knows which command writes it): it raises
    FileNotFoundError as before."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise DatamigError(f"{path}: not readable ({exc.strerror})") from None
    except ValueError as exc:
        raise DatamigError(f"{path}: not readable JSON ({exc})") from None
    if not isinstance(data, dict):
        raise DatamigError(f"{path}: not a JSON object")
    return data


def write_text_atomic(path: Path, text: str, mode: int = 0o666) -> None:
    """`text` into `path` by a rename: a reader sees the old file or the whole new one, never a
    file cut short. The temporary name is the writer's own (process and thread): two writers of
    one file (a run's report phase and an agent's get_report) shared `.name.tmp` and could rename
    each other's half-written file. `mode` (less the umask) is the file's from its creation: a
    file of passwords is never readable by others, not even while it is written."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)  # only left when the write or rename failed


def write_json(path: Path, data) -> None:
    write_text_atomic(path, json.dumps(data, indent=2, default=str))
