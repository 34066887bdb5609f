"""A committed config file with one change, and the one-line ConfigError its loader must raise:
shared by the tests of the config loaders (rules, validation rules, datamig.yaml)."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import pytest

from datamig.errors import ConfigError


def copy_with(source: Path, tmp_path: Path, old: str, new: str) -> tuple[Path, int]:
    """`source` with `old` (found exactly once) replaced, under its own name in tmp_path; and the
    line `new` starts on."""
    text = source.read_text()
    assert text.count(old) == 1, old
    path = tmp_path / source.name
    path.write_text(text.replace(old, new))
    return path, text[:text.index(old)].count("\n") + 1


def one_line(message: str, *needles: str, starts: str | None = None) -> str:
    assert "\n" not in message, message
    if starts is not None:
        assert message.startswith(starts), message
    for needle in needles:
        assert needle in message, (needle, message)
    return message


def load_error(load: Callable[[Path], Any], path: Path, *needles: str, line: int | None = None) -> str:
    """The one line `load(path)` fails with, naming the file (and `line`) first."""
    with pytest.raises(ConfigError) as err:
        load(path)
    return one_line(str(err.value), *needles, starts=f"{path}:" if line is None else f"{path}:{line}: ")
