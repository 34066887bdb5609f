"""Reading a JSON file an earlier phase wrote into a run folder (manifest, reports, run state).

Such a file can be cut short (a full disk) or edited by hand; json's own error then named no
file and read as a crash. Every reader goes through here so each case is one line naming the
file (exit 2: the user's to fix, not a failed migration).
"""
from __future__ import annotations

import json
from pathlib import Path

from .errors import DatamigError


def read_json_object(path: Path) -> dict:
    """The JSON object in `path`; DatamigError naming `path` when it cannot be read as one.
    A missing file is the caller's to explain (it knows which command writes it): it raises
    FileNotFoundError as before."""
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise DatamigError(f"{path}: not readable ({exc.strerror})") from None
    except ValueError as exc:
        raise DatamigError(f"{path}: not readable JSON ({exc})") from None
    if not isinstance(data, dict):
        raise DatamigError(f"{path}: not a JSON object")
    return data
