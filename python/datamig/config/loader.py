"""Read config/datamig.yaml, validate it against the JSON Schema, and report mistakes with
file:line and the key at fault, so a typo is fixed in one look."""
from __future__ import annotations

import json
import os
from collections.abc import Callable
from datetime import date
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from ..dataset_names import case_clash, name_problem
from ..errors import ConfigError
from ..yaml_lines import line_of, parse_config, read_config_text
from .model import Config, DistrictRoot, FollowRule, GraphConfig, Link, StoreConfig

DEFAULT_CONFIG_PATH = Path("config/datamig.yaml")


def _schema() -> dict:
    return json.loads(resources.files(__package__).joinpath("datamig.schema.json").read_text())


def _read_yaml(path: Path) -> tuple[Any, yaml.Node | None]:
    return parse_config(path, read_config_text(path, "config file", "set --config or DATAMIG_CONFIG"))


def _parse_link(text: str) -> Link:
    left, right = (side.strip() for side in text.split("->"))
    store, table, cols = left.split(".")
    rstore, rtable, rcols = right.split(".")
    return Link(store, table, tuple(cols.split(",")), rstore, rtable, tuple(rcols.split(",")), text)


def _graph(raw: dict | None) -> GraphConfig | None:
    if not raw:
        return None
    follow = tuple(
        FollowRule(f["type"], f["direction"], f.get("from"), f.get("to")) for f in raw.get("follow", [])
    )
    return GraphConfig(
        store=raw["store"], root_label=raw["root"]["label"], root_key=raw["root"]["key"],
        node_keys=dict(raw.get("node_keys", {})), follow=follow, max_depth=raw.get("max_depth", 4),
    )


def _check_references(cfg: Config, raw: dict, node: yaml.Node, path: Path) -> None:
    """Cross-field checks JSON Schema cannot express: every store named must exist."""

    def fail(keys: list[Any], message: str) -> None:
        raise ConfigError(f"{path}:{line_of(node, keys)}: {'.'.join(map(str, keys))}: {message}")

    if cfg.district.store not in cfg.stores:
        fail(["district", "store"], f"unknown store {cfg.district.store!r} (stores: {', '.join(cfg.stores)})")
    for i, link in enumerate(cfg.links):
        for store in (link.store, link.ref_store):
            if store not in cfg.stores:
                fail(["links", i], f"unknown store {store!r} in link {link.text!r}")
        if len(link.columns) != len(link.ref_columns):
            fail(["links", i], f"link {link.text!r} has {len(link.columns)} columns on the left "
                               f"and {len(link.ref_columns)} on the right")
    for i, table in enumerate(sorted(cfg.exclude_tables)):
        if table.split(".")[0] not in cfg.stores:
            fail(["exclude_tables"], f"unknown store in {table!r}")
    # store-qualified names elsewhere: `store.table[.column]`; the tables and columns can only be
    # checked against introspection, the store here
    def table_store(keys: list[Any], name: Any) -> None:
        store = str(name).split(".")[0]
        if store not in cfg.stores:
            fail(keys, f"unknown store {store!r} in {name!r} (stores: {', '.join(cfg.stores)})")
        if cfg.stores[store].kind != "postgres":
            fail(keys, f"store {store!r} in {name!r} is not a postgres store")

    traversal = raw.get("traversal") or {}
    for section in ("down_include", "down_exclude"):
        for i, name in enumerate(traversal.get(section) or []):
            table_store(["traversal", section, i], name)
    for name in (raw.get("reference_tables") or {}).get("tables") or {}:
        table_store(["reference_tables", "tables", name], name)
    selection = raw.get("selection") or {}
    for what, name in (selection.get("counts") or {}).items():
        table_store(["selection", "counts", what], name)
    for name in selection.get("required_fields") or {}:
        table_store(["selection", "required_fields", name], name)
    as_of = str(selection.get("as_of", "now"))
    if as_of not in ("now", "latest"):
        try:
            date.fromisoformat(as_of)
        except ValueError as exc:
            fail(["selection", "as_of"], f"{as_of!r} is no date: {exc}")
    out_dir = (raw.get("extract") or {}).get("out_dir")
    if out_dir is not None and not out_dir.strip():  # Path("") is ".": runs were written into the working folder
        fail(["extract", "out_dir"], "empty: name the folder runs go to (default data/runs)")
    if cfg.graph and cfg.stores.get(cfg.graph.store, None) is None:
        fail(["graph", "store"], f"unknown store {cfg.graph.store!r}")
    if cfg.graph and cfg.stores[cfg.graph.store].kind != "neo4j":
        fail(["graph", "store"], f"store {cfg.graph.store!r} is not a neo4j store")
    if cfg.graph:
        _check_graph_dataset_names(cfg.graph, fail)


def _check_graph_dataset_names(graph: GraphConfig, fail: Callable[[list[Any], str], None]) -> None:
    """The labels of node_keys name the graph's dbt models and Parquet files (dataset_names), lower-cased
    (`node_student`): checked here, before any phase runs. The schema holds followed types to
    `^[A-Z][A-Z0-9_]*$` already."""
    for label in graph.node_keys:
        problem = name_problem(label)
        if problem:
            fail(["graph", "node_keys", label],
                 f"store {graph.store}: label {label!r} {problem}; rename it in PROD, or leave it out of the graph walk")
    clash = case_clash(graph.node_keys)
    if clash:
        fail(["graph", "node_keys"], f"store {graph.store}: labels {clash[0]!r} and {clash[1]!r} differ only in case, "
                                     "which their models' names (lower case) do not; rename one in PROD, or leave one "
                                     "out of the graph walk")


def load_config(path: str | os.PathLike | None = None) -> Config:
    path = Path(path or os.environ.get("DATAMIG_CONFIG") or DEFAULT_CONFIG_PATH)
    raw, node = _read_yaml(path)
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}:1: expected a mapping at the top level")
    errors = sorted(jsonschema.Draft202012Validator(_schema()).iter_errors(raw), key=lambda e: list(e.path))
    if errors:
        err = errors[0]
        keys = list(err.absolute_path)
        where = ".".join(map(str, keys)) or "(top level)"
        raise ConfigError(f"{path}:{line_of(node, keys)}: {where}: {err.message}")
    ref = raw.get("reference_tables", {})
    extract = raw.get("extract", {})
    cfg = Config(
        path=path,
        stores={name: StoreConfig(name=name, **s) for name, s in raw["stores"].items()},
        district=DistrictRoot(**raw["district"]),
        links=[_parse_link(t) for t in raw.get("links", [])],
        exclude_tables=set(raw.get("exclude_tables", [])),
        reference_default=ref.get("default_policy", "referenced"),
        reference_tables=dict(ref.get("tables", {})),
        graph=_graph(raw.get("graph")),
        down_include=set(raw.get("traversal", {}).get("down_include", [])),
        down_exclude=set(raw.get("traversal", {}).get("down_exclude", [])),
        selection=dict(raw.get("selection", {})),
        out_dir=Path(extract.get("out_dir", "data/runs")),
        batch_rows=extract.get("batch_rows", 100_000),
        raw=raw, yaml_node=node,
    )
    _check_references(cfg, raw, node, path)
    return cfg
