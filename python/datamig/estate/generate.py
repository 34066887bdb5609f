"""The synthetic estate as data: `generate(scale, seed)` -> `Estate` (pyarrow tables per
PostgreSQL store and table, plus the graph). Pure and deterministic: no clock, no I/O, no
dependence on hash randomization or set order -- the same (scale, seed) gives byte-identical
tables on every run and machine (given the pinned numpy / pyarrow / Faker).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa

from . import gen_adb, gen_graph, gen_health, gen_ids, pools, spec
from .gen_graph import Graph
from .gen_ids import World


DDL_DIR = Path(__file__).resolve().parent / "ddl"


@dataclass(frozen=True)
class Estate:
    scale: str
    seed: int
    pg: dict[str, dict[str, pa.Table]]      # store -> table -> rows (columns in DDL order)
    graph: Graph
    world: World

    def row_counts(self) -> dict[str, dict[str, int]]:
        return {store: {name: t.num_rows for name, t in tables.items()} for store, tables in self.pg.items()}

    def total_rows(self) -> int:
        return sum(t.num_rows for tables in self.pg.values() for t in tables.values())


def ddl_text(store: str) -> str:
    return (DDL_DIR / f"{store}.sql").read_text(encoding="utf-8")


_CREATE = re.compile(r"^CREATE TABLE (\w+) \((.*?)^\);", re.S | re.M)
_CONSTRAINT_WORDS = ("PRIMARY", "FOREIGN", "UNIQUE", "CHECK", "CONSTRAINT")


def ddl_tables(store: str) -> dict[str, list[str]]:
    """table -> column names, in DDL order (the order tables are created and loaded in)."""
    out: dict[str, list[str]] = {}
    for name, body in _CREATE.findall(ddl_text(store)):
        cols = []
        for line in body.splitlines():
            line = line.split("--")[0].strip()
            if not line:
                continue
            word = line.split()[0]
            if word.upper() in _CONSTRAINT_WORDS:
                continue
            cols.append(word)
        out[name] = cols
    return out


def generate(scale: str | spec.Scale = "tiny", seed: int = 42, id_offset: int = 0, patch=None) -> Estate:
    """The estate for a named scale (or an explicit Scale: CERT's own data uses one).

    id_offset shifts every surrogate key; patch(world) may edit entity keys before tables
    are built (see gen_ids.build)."""
    plan = scale if isinstance(scale, spec.Scale) else spec.scale(scale)
    pool = pools.build(seed)
    ids, world = gen_ids.build(seed, plan, pool, id_offset=id_offset, patch=patch)
    pg = {"ids": ids, "hcp1": gen_health.build_hcp1(world), "hcp2": gen_health.build_hcp2(world),
          "adb": gen_adb.build_adb(world)}
    graph = gen_graph.build_graph(world)
    ordered = {}
    for store, tables in pg.items():
        schema = ddl_tables(store)
        if set(schema) != set(tables):
            raise AssertionError(f"{store}: generated {sorted(set(tables) ^ set(schema))} differ from the DDL")
        ordered[store] = {}
        for name, cols in schema.items():
            table = tables[name]
            if table.column_names != cols:
                raise AssertionError(f"{store}.{name}: columns {table.column_names} != DDL {cols}")
            ordered[store][name] = table
    return Estate(scale=plan.name, seed=seed, pg=ordered, graph=graph, world=world)
