"""The dependency graph of an estate: which table must be loaded before which.

Edges point child -> parent, one edge per (child, parent) pair carrying every FK between
them. Strongly connected components are the cycles; each gets the FKs to break so its
members can be loaded in order. Nothing here knows a table name: it works on any estate.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import networkx as nx

from ..config import Link
from ..errors import ConfigError
from .model import ForeignKey, Table

# How a loader gets past an FK that closes a cycle, best first.
LOGICAL = "logical"  # a config link: no constraint exists in CERT, so order does not matter
NULLIFY = "nullify"  # insert the FK columns as NULL, UPDATE them once the parent rows exist
DEFER = "defer"      # NOT NULL but DEFERRABLE: insert all members in one transaction, checked at commit
# A self-reference written by one statement passes even when NOT NULL and not deferrable,
# because PostgreSQL checks non-deferred FKs at the end of each statement, not per row.
SINGLE_STATEMENT = "single-statement"
_METHOD_RANK = (LOGICAL, NULLIFY, DEFER)


@dataclass(frozen=True)
class Break:
    fk: ForeignKey
    method: str

    def to_dict(self) -> dict:
        return {"fk": self.fk.name, "child": self.fk.child, "columns": list(self.fk.columns),
                "parent": self.fk.parent, "ref_columns": list(self.fk.ref_columns), "method": self.method}


@dataclass
class Cycle:
    """A strongly connected component of more than one table, or a self-referencing table."""

    members: tuple[str, ...]
    breaks: list[Break] = field(default_factory=list)
    self_references: list[Break] = field(default_factory=list)
    unbreakable: list[list[str]] = field(default_factory=list)  # table paths no FK can open

    @property
    def breakable(self) -> bool:
        return not self.unbreakable

    def to_dict(self) -> dict:
        return {"members": list(self.members), "breakable": self.breakable,
                "breaks": [b.to_dict() for b in self.breaks],
                "self_references": [b.to_dict() for b in self.self_references],
                "unbreakable": self.unbreakable}


@dataclass
class DependencyPlan:
    graph: nx.DiGraph
    cycles: list[Cycle]
    order: list[str]  # table ids, every parent before its children except across broken FKs

    def broken_fks(self) -> set[str]:
        return {b.fk.name for c in self.cycles for b in c.breaks}

    def to_dict(self) -> dict:
        return {"order": self.order, "cycles": [c.to_dict() for c in self.cycles]}


def break_method(fk: ForeignKey) -> str | None:
    """How this FK can be broken inside a cycle, or None if it cannot."""
    if not fk.declared:
        return LOGICAL
    if fk.nullable:
        return NULLIFY
    if fk.deferrable:
        return DEFER
    return None


def links_to_foreign_keys(links: Iterable[Link], tables: Mapping[str, Table]) -> list[ForeignKey]:
    """Config links as undeclared FKs; a link naming a missing table or column is a ConfigError."""
    fks = []
    for link in links:
        child = _link_table(link, link.store, link.table, link.columns, tables)
        parent = _link_table(link, link.ref_store, link.ref_table, link.ref_columns, tables)
        _check_bytea_pairs(link, child, parent)
        fks.append(ForeignKey(
            name=f"link:{link.text}", store=link.store, table=link.table, columns=link.columns,
            ref_store=link.ref_store, ref_table=link.ref_table, ref_columns=link.ref_columns,
            nullable=all(child.column(c).nullable for c in link.columns), deferrable=False, declared=False,
        ))
    return fks


def _check_bytea_pairs(link: Link, child: Table, parent: Table) -> None:
    """The extract walks a bytea value as base64 text and any other as its own text: a bytea column
    linked to one of another type had the other's values decoded as base64 (an error, or no match)."""
    for col, ref_col in zip(link.columns, link.ref_columns):
        ends = [(f"{child.id}.{col}", child.column(col).data_type),
                (f"{parent.id}.{ref_col}", parent.column(ref_col).data_type)]
        kinds = [data_type == "bytea" for _, data_type in ends]
        if kinds[0] != kinds[1]:
            (binary, _), (other, other_type) = ends if kinds[0] else ends[::-1]
            raise ConfigError(f"link {link.text!r}: {binary} is bytea and {other} is {other_type}; "
                              "a link joins two bytea columns or none")


def _link_table(link: Link, store: str, table: str, columns: tuple[str, ...],
                tables: Mapping[str, Table]) -> Table:
    found = tables.get(f"{store}.{table}")
    if found is None:
        raise ConfigError(f"link {link.text!r}: table {store}.{table} not found")
    names = {c.name for c in found.columns}
    for col in columns:
        if col not in names:
            raise ConfigError(f"link {link.text!r}: table {store}.{table} has no column {col!r}")
    return found


def build_graph(table_ids: Iterable[str], fks: Iterable[ForeignKey]) -> nx.DiGraph:
    """child -> parent; an FK with an end outside `table_ids` is left out (caller reports it)."""
    graph = nx.DiGraph()
    graph.add_nodes_from(sorted(table_ids))
    for fk in fks:
        if fk.child in graph and fk.parent in graph:
            if not graph.has_edge(fk.child, fk.parent):
                graph.add_edge(fk.child, fk.parent, fks=[])
            graph[fk.child][fk.parent]["fks"].append(fk)
    return graph


def find_cycles(graph: nx.DiGraph) -> list[Cycle]:
    cycles = []
    for members in nx.strongly_connected_components(graph):
        if len(members) > 1 or any(graph.has_edge(m, m) for m in members):
            cycles.append(_plan_cycle(graph, members))
    return sorted(cycles, key=lambda c: c.members)


def _plan_cycle(graph: nx.DiGraph, members: set[str]) -> Cycle:
    """Greedy feedback-edge choice: open each remaining cycle at its cheapest breakable edge."""
    cycle = Cycle(members=tuple(sorted(members)))
    sub = graph.subgraph(members).copy()
    for node in sorted(members):
        if sub.has_edge(node, node):
            cycle.self_references += [Break(fk, break_method(fk) or SINGLE_STATEMENT)
                                      for fk in sub[node][node]["fks"]]
            sub.remove_edge(node, node)
    while True:
        try:
            edges = nx.find_cycle(sub)
        except nx.NetworkXNoCycle:
            return cycle
        best = _best_edge(sub, edges)
        if best is None:
            cycle.unbreakable.append([u for u, _ in edges])
            best = edges[0]  # keep searching the rest of the component
        else:
            cycle.breaks += [Break(fk, break_method(fk)) for fk in sub.edges[best]["fks"]]
        sub.remove_edge(*best)


def _best_edge(sub: nx.DiGraph, edges: list[tuple[str, str]]) -> tuple[str, str] | None:
    """The edge whose FKs are all breakable, by worst method, then deferrable, then name."""
    ranked = []
    for u, v in edges:
        fks = sub.edges[u, v]["fks"]
        methods = [break_method(fk) for fk in fks]
        if None in methods:
            continue
        worst = max(_METHOD_RANK.index(m) for m in methods)
        # A nullable FK that is also deferrable leaves the loader both options.
        ranked.append((worst, not all(fk.deferrable for fk in fks), sorted(fk.name for fk in fks), (u, v)))
    return min(ranked)[-1] if ranked else None


def load_order(graph: nx.DiGraph, cycles: list[Cycle]) -> list[str]:
    """Parents first over the condensation; inside a cycle, parents first once its breaks are removed.

    Cycle members stay contiguous so a loader can run a cycle's fix-up UPDATEs right after it.
    """
    cond = nx.condensation(graph)
    by_member = {m: c for c in cycles for m in c.members}
    order = []
    # Edges run child -> parent, so the reverse graph sorts parents first.
    for node in nx.lexicographical_topological_sort(cond.reverse(copy=False),
                                                    key=lambda n: min(cond.nodes[n]["members"])):
        members = cond.nodes[node]["members"]
        cycle = by_member.get(next(iter(members)))
        order += _order_within(graph, members, cycle) if cycle else sorted(members)
    return order


def _order_within(graph: nx.DiGraph, members: set[str], cycle: Cycle) -> list[str]:
    sub = graph.subgraph(members).copy()
    sub.remove_edges_from(list(nx.selfloop_edges(sub)))
    sub.remove_edges_from({(b.fk.child, b.fk.parent) for b in cycle.breaks})
    if not nx.is_directed_acyclic_graph(sub):
        return sorted(members)  # unbreakable: no order satisfies it, keep it stable
    return list(nx.lexicographical_topological_sort(sub.reverse(copy=False)))


def plan_dependencies(table_ids: Iterable[str], fks: Iterable[ForeignKey]) -> DependencyPlan:
    graph = build_graph(table_ids, fks)
    cycles = find_cycles(graph)
    return DependencyPlan(graph=graph, cycles=cycles, order=load_order(graph, cycles))
