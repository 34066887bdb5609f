"""Typed view of config/datamig.yaml (after JSON Schema validation)."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ..yaml_lines import config_error


@dataclass(frozen=True)
class StoreConfig:
    name: str
    kind: str  # "postgres" | "neo4j"
    prod_env: str
    cert_env: str
    schema: str = "public"
    description: str = ""

    def env_names(self, target: str) -> tuple[str, str | None, str | None]:
        """(url, user, password) variable names for target "prod" or "cert"."""
        url = self.prod_env if target == "prod" else self.cert_env
        if self.kind != "neo4j":
            return url, None, None
        stem = url[: -len("_URL")] if url.endswith("_URL") else url
        return url, f"{stem}_USER", f"{stem}_PASSWORD"


@dataclass(frozen=True)
class DistrictRoot:
    store: str
    table: str
    key: str

    @property
    def table_id(self) -> str:
        return f"{self.store}.{self.table}"


@dataclass(frozen=True)
class Link:
    """A logical FK that no catalog declares: child columns -> parent columns."""

    store: str
    table: str
    columns: tuple[str, ...]
    ref_store: str
    ref_table: str
    ref_columns: tuple[str, ...]
    text: str  # as written in the config, for messages


@dataclass(frozen=True)
class FollowRule:
    type: str
    direction: str  # "in" | "out", relative to walking away from the root
    from_label: str | None = None
    to_label: str | None = None


@dataclass(frozen=True)
class GraphConfig:
    store: str
    root_label: str
    root_key: str
    node_keys: dict[str, str]
    follow: tuple[FollowRule, ...]
    max_depth: int = 4


@dataclass
class Config:
    path: Path
    stores: dict[str, StoreConfig]
    district: DistrictRoot
    links: list[Link] = field(default_factory=list)
    exclude_tables: set[str] = field(default_factory=set)
    reference_default: str = "referenced"
    reference_tables: dict[str, str] = field(default_factory=dict)
    graph: GraphConfig | None = None
    down_include: set[str] = field(default_factory=set)
    down_exclude: set[str] = field(default_factory=set)
    selection: dict = field(default_factory=dict)
    out_dir: Path = Path("data/runs")
    batch_rows: int = 100_000
    # The file as loaded (plain data and YAML node tree), so a setting found wrong later, against
    # the estate, is reported at its line without reading the file again (it may have changed).
    raw: dict = field(default_factory=dict, repr=False, compare=False)
    yaml_node: Any = field(default=None, repr=False, compare=False)

    def error_at(self, keys: list[Any], message: str) -> ConfigError:
        """`file:LINE: a.b.c: message` for the setting at `keys`."""
        return config_error(self.path, self.yaml_node, keys, ".".join(map(str, keys)), message)

    def postgres_stores(self) -> list[StoreConfig]:
        return [s for s in self.stores.values() if s.kind == "postgres"]

    def neo4j_stores(self) -> list[StoreConfig]:
        return [s for s in self.stores.values() if s.kind == "neo4j"]
