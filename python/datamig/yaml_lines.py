"""YAML helpers: where a key sits in a file, so config errors can say `file:LINE: key: problem`;
and plain data from YAML text, fast."""
from __future__ import annotations

from typing import Any

import yaml


def line_of(node: yaml.Node | None, path: list[Any]) -> int:
    """1-based line of the node at `path` (mapping keys, sequence indexes), or of its deepest
    existing ancestor."""
    if node is None:
        return 1
    for key in path:
        child = None
        if isinstance(node, yaml.MappingNode):
            child = next((v for k, v in node.value if k.value == key), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(key, int) and key < len(node.value):
            child = node.value[key]
        if child is None:
            break
        node = child
    return node.start_mark.line + 1


# libyaml's C parser when PyYAML was built with it: the scaffolded model YAML (thousands of
# lines) parses ~5x faster than with the pure-Python SafeLoader, to the same data.
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load_data(text: str) -> Any:
    """yaml.safe_load(text), with the C parser when there is one."""
    return yaml.load(text, Loader=_LOADER)  # noqa: S506 - a safe loader, C or Python
