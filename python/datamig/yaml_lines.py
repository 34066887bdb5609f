"""YAML helpers: where a key sits in a file, so config errors can say `file:LINE: key: problem`;
and plain data from YAML text, fast."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from .errors import ConfigError


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


def one_line(text: str, limit: int = 400) -> str:
    """`text` on one line, at most `limit` characters: what an error message may be."""
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[:limit - 3] + "..."


def config_error(path: Path, node: yaml.Node | None, keys: list[Any], what: str, message: str) -> ConfigError:
    """`file:LINE: what: message` for the node at `keys`, on one line."""
    return ConfigError(one_line(f"{path}:{line_of(node, keys)}: {what}: {message}"))


def read_config_text(path: Path, what: str, hint: str = "") -> str:
    """A config file as UTF-8 text; a ConfigError naming the file if it cannot be (`what`: the
    kind of file, `hint`: how to name another one, said only when it is not found)."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"{path}: {what} not found" + (f" ({hint})" if hint else "")) from None
    except OSError as exc:  # a directory, no permission, ...
        raise ConfigError(f"{path}: cannot read the {what}: {exc.strerror or exc}") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        raise ConfigError(f"{path}:{line}: not UTF-8 text (byte {exc.start}: {data[exc.start]:#04x})") from None


def parse_config(path: Path, text: str, loader: type = yaml.SafeLoader) -> tuple[Any, yaml.Node | None]:
    """The data and the node tree (for line_of) of a config file. Invalid YAML, and a key given
    twice in one mapping (YAML would keep the last in silence, and an error would point at the
    first), are a ConfigError `file:LINE: ...`."""
    try:
        raw, node = yaml.load(text, Loader=loader), yaml.compose(text)  # noqa: S506 - safe loaders only
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        raise ConfigError(one_line(f"{where}: invalid YAML: {getattr(exc, 'problem', None) or exc}")) from None
    twice = _key_twice(node)
    if twice:
        key, line, first = twice
        raise ConfigError(f"{path}:{line}: key {key!r} given twice in one mapping (first at line {first})")
    return raw, node


def _key_twice(root: yaml.Node | None) -> tuple[str, int, int] | None:
    stack, seen_nodes = ([root] if root is not None else []), set()
    while stack:
        node = stack.pop()
        if id(node) in seen_nodes:  # an alias: visited already (and `a: &x [*x]` refers to itself)
            continue
        seen_nodes.add(id(node))
        if isinstance(node, yaml.MappingNode):
            seen: dict[Any, int] = {}
            for key, value in node.value:
                if isinstance(key, yaml.ScalarNode):
                    if key.value in seen:
                        return key.value, key.start_mark.line + 1, seen[key.value]
                    seen[key.value] = key.start_mark.line + 1
                stack.append(value)
        elif isinstance(node, yaml.SequenceNode):
            stack.extend(node.value)
    return None
