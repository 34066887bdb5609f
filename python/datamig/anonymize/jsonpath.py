"""The small JSONPath subset the jsonb strategy needs: $, .key, ['key'], [*], [n].

Why not a library: we only set values in place at a handful of configured paths, and the parser
doubles as the config validator (a bad path is a ConfigError, not a runtime surprise).
"""
from __future__ import annotations

import re
from typing import Any, Callable

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


def apply(node: Any, steps: tuple[tuple, ...], fn: Callable[[Any], Any], touched: set | None = None) -> None:
    """Replace, in place, every value `steps` reaches in `node` by fn(value); missing: skipped.
    `touched` collects (id(container), slot) of every replaced value."""
    step, rest = steps[0], steps[1:]
    for container, slot in _slots(node, step):
        if rest:
            apply(container[slot], rest, fn, touched)
        else:
            container[slot] = fn(container[slot])
            if touched is not None:
                touched.add((id(container), slot))


def _slots(node: Any, step: tuple):
    kind = step[0]
    if kind == "key" and isinstance(node, dict) and step[1] in node:
        yield node, step[1]
    elif kind == "index" and isinstance(node, list) and step[1] < len(node):
        yield node, step[1]
    elif kind == "all" and isinstance(node, list):
        yield from ((node, i) for i in range(len(node)))
    elif kind == "all" and isinstance(node, dict):
        yield from ((node, k) for k in list(node))
