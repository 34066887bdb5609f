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


class DatedSafeLoader(yaml.SafeLoader):
    """SafeLoader whose impossible dates (2024-02-30) are YAML errors with a line, not a bare
    ValueError from the date constructor (a traceback)."""

    def construct_yaml_timestamp(self, node):
        try:
            return super().construct_yaml_timestamp(node)
        except ValueError as exc:
            raise yaml.constructor.ConstructorError(None, None, f"bad date {node.value!r}: {exc}",
                                                    node.start_mark) from None


DatedSafeLoader.add_constructor("tag:yaml.org,2002:timestamp", DatedSafeLoader.construct_yaml_timestamp)

# values a config file may stand for once its aliases are expanded: real files hold a few
# thousand; aliases of aliases ("billion laughs") reach billions, and the schema check expanded them
MAX_EXPANDED_VALUES = 1_000_000


def parse_config(path: Path, text: str, loader: type = DatedSafeLoader) -> tuple[Any, yaml.Node | None]:
    """The data and the node tree (for line_of) of a config file. Invalid YAML, an impossible
    date, aliases expanding past MAX_EXPANDED_VALUES, and a key given twice in one mapping (YAML
    would keep the last in silence, and an error would point at the first), are a ConfigError
    `file:LINE: ...`."""
    try:
        node = yaml.compose(text)
        _check_expansion(path, node)
        raw = yaml.load(text, Loader=loader)  # noqa: S506 - safe loaders only
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        raise ConfigError(one_line(f"{where}: invalid YAML: {getattr(exc, 'problem', None) or exc}")) from None
    twice = _key_twice(node)
    if twice:
        key, line, first = twice
        raise ConfigError(f"{path}:{line}: key {key!r} given twice in one mapping (first at line {first})")
    return raw, node


def _check_expansion(path: Path, root: yaml.Node | None) -> None:
    """Count the values the node graph stands for, each node once (an alias shares its anchor's
    node, so counting is linear in the file)."""
    sizes: dict[int, int] = {}

    def size(node: yaml.Node) -> int:
        if id(node) not in sizes:
            sizes[id(node)] = 1  # while counting: an alias of an enclosing node counts once
            children = node.value if isinstance(node, yaml.SequenceNode) else \
                [n for pair in node.value for n in pair] if isinstance(node, yaml.MappingNode) else []
            total = 1
            for child in children:
                total += size(child)
                if total > MAX_EXPANDED_VALUES:
                    raise ConfigError(f"{path}:{node.start_mark.line + 1}: its aliases expand to over "
                                      f"{MAX_EXPANDED_VALUES:,} values; write the values out")
            sizes[id(node)] = total
        return sizes[id(node)]

    if root is not None:
        size(root)


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
