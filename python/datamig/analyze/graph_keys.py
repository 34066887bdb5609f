"""How the graph's nodes are keyed and typed, without the Neo4j driver (which imports pandas):
the scaffold and the validation rules read these, and load in well under a second."""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping

# the column of a node's labels besides its key label, as the extract writes it
LABELS = "_labels"

# Neo4j value types in the names PostgreSQL uses, so one rule set classifies both.
_NEO4J_TYPES = {"String": "text", "Long": "bigint", "Double": "double precision", "Boolean": "boolean",
                "Date": "date", "DateTime": "timestamp with time zone", "LocalDateTime": "timestamp without time zone",
                "StringArray": "text[]", "LongArray": "bigint[]"}


def _pg_type(neo4j_types) -> str:
    """One type per property; mixed or unknown types fall back to text."""
    names = {_NEO4J_TYPES.get(t, "text") for t in (neo4j_types or [])}
    return names.pop() if len(names) == 1 else "text"


def key_label(labels, node_keys: Mapping[str, str]) -> str | None:
    """The label a node is keyed, extracted and loaded by: the first of its labels, sorted, that
    graph.node_keys names (None: no key names any)."""
    return next((label for label in sorted(labels) if label in node_keys), None)


def keyed_properties(label_sets: list[dict], node_keys: Mapping[str, str]) -> dict[str, dict[str, str]]:
    """{key label: {property: type}}: what the extract's file of each key label holds. A
    property of a node with two labels (`:Staff:Teacher`) is its key label's only: given to
    every label, a `:Guardian:Staff` node's staff_id became a column of Guardian and of Staff,
    and Staff's file, which does not hold that node, lacked it."""
    types: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    for entry in label_sets:
        label = key_label(entry["labels"], node_keys)
        if label is not None:
            for prop, prop_types in entry["property_types"].items():
                types[label][prop].update(prop_types)
    return {label: {prop: _pg_type(ts) for prop, ts in sorted(props.items())} for label, props in types.items()}
