"""The small JSONPath subset the jsonb strategy needs: $, .key, ['key'], [*], [n].

Why not a library: we only set values in place at a handful of configured paths, and the parser
doubles as the config validator (a bad path is a ConfigError, not a runtime surprise).
"""
from __future__ import annotations

import re
from typing import Any, Sequence

_STEP = re.compile(r"""\.([A-Za-z_][A-Za-z0-9_]*)|\[\*\]|\[(\d+)\]|\['([^']*)'\]|\.\*""")


def parse(path: str) -> tuple[tuple, ...]:
    """'$.guardians[*].name' -> (('key','guardians'), ('all',), ('key','name')); ValueError if bad."""
    if not path.startswith("$"):
        raise ValueError(f"JSON path {path!r} must start with '$'")
    steps, i = [], 1
    while i < len(path):
        m = _STEP.match(path, i)
        if not m:
            raise ValueError(f"JSON path {path!r}: cannot parse at {path[i:]!r}")
        key, index, quoted = m.group(1), m.group(2), m.group(3)
        if key is not None or quoted is not None:
            steps.append(("key", key if key is not None else quoted))
        elif index is not None:
            steps.append(("index", int(index)))
        else:
            steps.append(("all",))
        i = m.end()
    if not steps:
        raise ValueError(f"JSON path {path!r} selects the whole document; name a field")
    return tuple(steps)


def targets(node: Any, steps: tuple[tuple, ...]) -> list[tuple[Any, Any]]:
    """(container, slot) of every value `steps` reaches in `node`; a missing step reaches nothing.
    (Runs for every configured path of every document: a stack of (node, depth), no generators.)"""
    found, todo = [], [(node, 0)]
    last = len(steps) - 1
    while todo:
        here, depth = todo.pop()
        slots = _slots(here, steps[depth])
        if depth == last:
            found.extend((here, slot) for slot in slots)
        else:
            todo.extend((here[slot], depth + 1) for slot in reversed(slots))
    return found


def _slots(node: Any, step: tuple) -> Sequence:
    """The slots of `node` one step selects: keys of a dict, indexes of a list."""
    kind = step[0]
    if kind == "key":
        return (step[1],) if isinstance(node, dict) and step[1] in node else ()
    if kind == "index":
        return (step[1],) if isinstance(node, list) and step[1] < len(node) else ()
    if isinstance(node, list):  # "all"
        return range(len(node))
    return list(node) if isinstance(node, dict) else ()
