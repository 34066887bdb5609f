"""The estate as datamig sees it: tables, keys, foreign keys and graph shapes.

Everything downstream (extraction plan, dbt scaffolding, loader, reports) reads these
plain dataclasses, never the catalogs directly, so an estate can be introspected once and
replayed from `schema-analysis.json`.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field


@dataclass(frozen=True)
class Column:
    name: str
    data_type: str  # as PostgreSQL's format_type() prints it, e.g. "bigint", "text[]"
    nullable: bool
    ordinal: int
    # PROD's COMMENT ON COLUMN, for dbt docs; no part of a column's shape (CERT's may differ)
    comment: str = field(default="", compare=False)


@dataclass(frozen=True)
class ForeignKey:
    """A parent reference: child (store, table, columns) -> parent (store, table, columns).

    `declared` is False for logical links from config (no constraint in any catalog),
    which is how links across databases are represented.
    """

    name: str
    store: str
    table: str
    columns: tuple[str, ...]
    ref_store: str
    ref_table: str
    ref_columns: tuple[str, ...]
    nullable: bool  # every child column nullable: the edge can be broken to load a cycle
    deferrable: bool = False
    declared: bool = True
    # Declared on a partition only (not on its partitioned table, the table datamig reads and
    # writes): the partition, as a quoted, schema-qualified SQL name. It holds for that
    # partition's rows alone; "" when declared on the table itself.
    partition: str = ""
    ref_partition: str = ""  # likewise, when it references one partition of a partitioned parent
    # The partition's constraint as PostgreSQL prints it (pg_get_partition_constraintdef): the rows
    # the FK holds for, which its relationship test looks at alone. Documentation of `partition`.
    partition_filter: str = field(default="", compare=False)

    @property
    def child(self) -> str:
        return f"{self.store}.{self.table}"

    @property
    def parent(self) -> str:
        return f"{self.ref_store}.{self.ref_table}"


@dataclass
class Table:
    store: str
    schema: str
    name: str
    columns: list[Column]
    primary_key: tuple[str, ...]
    unique_keys: list[tuple[str, ...]] = field(default_factory=list)
    # those of unique_keys declared NULLS NOT DISTINCT (PostgreSQL 15): a NULL clashes with a NULL
    nulls_not_distinct: list[tuple[str, ...]] = field(default_factory=list)
    row_estimate: int = 0
    size_bytes: int = 0
    # Its rows live in its partitions: read through it. Any other table is read ONLY, without
    # the rows of tables that INHERIT from it (each is a table of its own, extracted on its own).
    partitioned: bool = False
    comment: str = field(default="", compare=False)  # COMMENT ON TABLE, for dbt docs

    @property
    def id(self) -> str:
        return f"{self.store}.{self.name}"

    def row_key(self) -> tuple[str, ...]:
        """The key a load matches and records this table's rows by: the primary key, else the
        first unique key of NOT NULL columns (a NULL matches no row, so a nullable key whose
        column holds one could not be loaded), else the first unique key; () when none."""
        if self.primary_key:
            return tuple(self.primary_key)
        nullable = {c.name for c in self.columns if c.nullable}
        whole = [k for k in self.unique_keys if not nullable & set(k)]
        return tuple(next(iter(whole or self.unique_keys), ()))

    def column(self, name: str) -> Column:
        for col in self.columns:
            if col.name == name:
                return col
        raise KeyError(f"{self.id} has no column {name!r}")


@dataclass
class NodeLabel:
    label: str
    count: int
    properties: list[str]
    key: str | None = None  # property backed by a uniqueness constraint, if any
    # property -> PostgreSQL-style type name ("text", "date", "bigint", "text[]"...), so graph
    # properties are classified and anonymized by the same rules as columns
    property_types: dict[str, str] = field(default_factory=dict)


@dataclass
class RelType:
    type: str
    start_label: str
    end_label: str
    count: int
    properties: list[str]
    property_types: dict[str, str] = field(default_factory=dict)


@dataclass
class GraphSchema:
    store: str
    labels: dict[str, NodeLabel] = field(default_factory=dict)
    relationships: list[RelType] = field(default_factory=list)
    constraints: list[dict] = field(default_factory=list)
    # per set of labels nodes carry together: {"labels": sorted labels, "property_types": {...}};
    # what a node's key label gets of it (graph_keys.keyed_properties)
    label_sets: list[dict] = field(default_factory=list)


@dataclass
class Estate:
    """All stores of one environment (PROD or CERT)."""

    tables: dict[str, Table] = field(default_factory=dict)  # keyed by Table.id
    foreign_keys: list[ForeignKey] = field(default_factory=list)
    graphs: dict[str, GraphSchema] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {
            "tables": {k: asdict(t) for k, t in sorted(self.tables.items())},
            "foreign_keys": [asdict(fk) for fk in self.foreign_keys],
            "graphs": {k: asdict(g) for k, g in sorted(self.graphs.items())},
        }

    @classmethod
    def from_dict(cls, data: dict) -> "Estate":
        tables = {}
        for key, t in data["tables"].items():
            cols = [Column(**c) for c in t["columns"]]
            tables[key] = Table(
                store=t["store"], schema=t["schema"], name=t["name"], columns=cols,
                primary_key=tuple(t["primary_key"]),
                unique_keys=[tuple(u) for u in t.get("unique_keys", [])],
                nulls_not_distinct=[tuple(u) for u in t.get("nulls_not_distinct", [])],
                row_estimate=t.get("row_estimate", 0), size_bytes=t.get("size_bytes", 0),
                partitioned=t.get("partitioned", False), comment=t.get("comment", ""),
            )
        fks = [
            ForeignKey(**{**fk, "columns": tuple(fk["columns"]), "ref_columns": tuple(fk["ref_columns"])})
            for fk in data["foreign_keys"]
        ]
        graphs = {}
        for key, g in data.get("graphs", {}).items():
            graphs[key] = GraphSchema(
                store=g["store"],
                labels={k: NodeLabel(**v) for k, v in g["labels"].items()},
                relationships=[RelType(**r) for r in g["relationships"]],
                constraints=g.get("constraints", []),
                label_sets=g.get("label_sets", []),
            )
        return cls(tables=tables, foreign_keys=fks, graphs=graphs)
