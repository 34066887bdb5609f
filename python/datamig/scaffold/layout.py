"""What the scaffold generates models for: every PostgreSQL table of the estate and every
node label / relationship type of the graph, as one uniform list of "datasets"."""
from __future__ import annotations

from dataclasses import dataclass, field

from ..analyze.model import Estate, ForeignKey
from ..analyze.graph_keys import LABELS, keyed_properties
from ..config import Config
from . import naming


@dataclass
class Dataset:
    store: str
    name: str                  # table name, or node_<label> / rel_<type>
    parquet: str               # path under the run's extract/ (and final/) folder
    columns: dict[str, str]    # column -> PostgreSQL-style type
    key: tuple[str, ...]       # identifying columns
    kind: str = "table"        # table | node | relationship
    graph_name: str = ""       # label or relationship type
    description: str = ""
    foreign_keys: list[ForeignKey] = field(default_factory=list)   # declared FKs and config links
    unique_keys: list[tuple[str, ...]] = field(default_factory=list)  # besides `key`
    nulls_not_distinct: list[tuple[str, ...]] = field(default_factory=list)  # those where a NULL clashes
    ends: list[tuple[str, str]] = field(default_factory=list)  # relationship: (start_label, end_label) pairs
    comment: str = ""          # PROD's COMMENT ON TABLE
    column_comments: dict[str, str] = field(default_factory=dict)  # PROD's COMMENT ON COLUMN, where set
    key_declared: bool = True  # False: a table with no primary or unique key, keyed by all its columns

    def is_key(self, columns: tuple[str, ...]) -> bool:
        """Do these columns identify one row (the key or a unique key, in any order)?"""
        return any(set(columns) == set(k) for k in [self.key, *self.unique_keys])

    def distinct_keys(self) -> list[tuple[str, ...]]:
        """The key, then the unique keys besides it, each once: constraints on the same columns in
        another order are one key."""
        seen: dict[frozenset, tuple[str, ...]] = {}
        for key in [self.key, *self.unique_keys]:
            seen.setdefault(frozenset(key), tuple(key))
        return list(seen.values())

    @property
    def id(self) -> str:
        return f"{self.store}.{self.name}"

    @property
    def final_model(self) -> str:
        return naming.final(self.store, self.name)


def datasets(cfg: Config, estate: Estate) -> list[Dataset]:
    out = []
    for table_id, table in sorted(estate.tables.items()):
        fks = [fk for fk in estate.foreign_keys if fk.child == table_id and fk.parent in estate.tables]
        out.append(Dataset(
            store=table.store, name=table.name, parquet=f"{table.store}/{table.name}.parquet",
            columns={c.name: c.data_type for c in table.columns},
            key=_key(table), key_declared=bool(table.row_key()), foreign_keys=fks,
            unique_keys=[tuple(u) for u in table.unique_keys if tuple(u) != _key(table)],
            nulls_not_distinct=[tuple(u) for u in table.nulls_not_distinct],
            description=cfg.stores[table.store].description, comment=table.comment,
            column_comments={c.name: c.comment for c in table.columns if c.comment}))
    out.extend(_graph_datasets(cfg, estate))
    return out


def _key(table) -> tuple[str, ...]:
    """The key the loader matches and records a table's rows on (Table.row_key), as PROD holds
    it: the final model's key tests and its order. (validate-migration's CERT model reads the
    key the load actually recorded: macros/cert.sql.)"""
    return table.row_key() or tuple(c.name for c in table.columns)


def _graph_datasets(cfg: Config, estate: Estate) -> list[Dataset]:
    if cfg.graph is None or cfg.graph.store not in estate.graphs:
        return []
    graph, keys, store = estate.graphs[cfg.graph.store], cfg.graph.node_keys, cfg.graph.store
    followed = {rule.type for rule in cfg.graph.follow}
    # the properties of the nodes each label keys, as the extract files them (an analysis older
    # than label sets: every node's with the label)
    keyed = keyed_properties(graph.label_sets, keys) if graph.label_sets else \
        {label: node.property_types for label, node in graph.labels.items()}
    out = []
    for label in sorted(graph.labels):
        if label not in keys:
            continue
        # the node's labels besides this one (graph_keys.LABELS), as the extract writes them
        out.append(Dataset(store=store, name=naming.graph_table("nodes", label), kind="node", graph_name=label,
                           parquet=f"{store}/nodes/{label}.parquet",
                           columns={**keyed.get(label, {}), LABELS: "text[]"},
                           key=(keys[label],), column_comments={LABELS: (
                               f"datamig's: the node's labels besides :{label}, sorted (NULL when none), "
                               "loaded into CERT as labels")}))
    pairs: dict[str, set[tuple[str, str]]] = {}
    for r in graph.relationships:
        pairs.setdefault(r.type, set()).add((r.start_label, r.end_label))
    for rel in sorted({r.type: r for r in graph.relationships if r.type in followed}.values(), key=lambda r: r.type):
        ends = {"start_label": "text", "start_key": "bigint", "end_label": "text", "end_key": "bigint"}
        out.append(Dataset(store=store, name=naming.graph_table("relationships", rel.type), kind="relationship",
                           graph_name=rel.type, parquet=f"{store}/relationships/{rel.type}.parquet",
                           columns={**ends, **rel.property_types},
                           key=("start_label", "start_key", "end_label", "end_key"),
                           ends=sorted(pairs[rel.type])))
    return out
