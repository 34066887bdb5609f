"""The district's slice as a fixpoint over foreign keys and declared links.

down: starting at the district root row, every row that points (through an FK or link that
      may be walked downwards) at a row already in the slice, over any number of hops;
up:   every row that a selected row points at, recursively, so no FK in the slice dangles.
Rows reached only on the way up are parents from elsewhere (another district, a lookup
table): they are kept, counted, and never walked downwards, which is what keeps a slice
from ballooning into the whole estate. Cycles and self-references end by themselves: a
round only fetches keys not yet selected.

Which FKs are walked downwards: by default the NOT NULL ones (ownership: an enrollment
cannot exist without its section) and every declared link; a nullable FK (a previous
school, a supervisor, a principal) is a reference and is only followed upwards. Config
`traversal.down_include` / `down_exclude` override per FK.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from ..analyze.model import ForeignKey, Table
from .pg_snapshot import Snapshot, array_literal
from .workspace import Workspace

log = logging.getLogger("datamig.extract")


def fk_label(fk: ForeignKey) -> str:
    return f"{fk.store}.{fk.table}.{','.join(fk.columns)}"


def walks_down(fk: ForeignKey, include: set[str], exclude: set[str]) -> bool:
    label = fk_label(fk)
    if label in exclude:
        return False
    if label in include or not fk.declared:
        return True
    return not fk.nullable


@dataclass
class SliceStats:
    rounds: int = 0
    fetches: int = 0


class Closure:
    def __init__(self, tables: dict[str, Table], fks: list[ForeignKey], ws: Workspace,
                 snapshots: dict[str, Snapshot], include: set[str], exclude: set[str],
                 progress: Callable[[str], None] | None = None):
        self.tables = tables
        self.fks = sorted((fk for fk in fks if fk.child in tables and fk.parent in tables), key=fk_label)
        self.down_fks = [fk for fk in self.fks if walks_down(fk, include, exclude)]
        self.ws = ws
        self.snapshots = snapshots
        ws.attach(snapshots)
        self.progress = progress or (lambda msg: None)
        self.batch = 0
        self.stats = SliceStats()
        self.complete: set[str] = set()     # tables copied whole: no parent key can be missing

    def _fetch(self, table: Table, columns, arrays: list[str], down: bool, within: str = "") -> int:
        """Rows of `table` (of its partition `within`, if named) whose `columns` match the tuples
        given as one array literal per column."""
        self.batch += 1
        self.stats.fetches += 1
        select = self.snapshots[table.store].select_where(table, columns, arrays, within)
        return self.ws.ingest(table, select, down=down, batch=self.batch)

    def seed_root(self, root: Table, key: str, district: str) -> int:
        return self._fetch(root, [key], [array_literal([district])], down=True)

    def add_whole(self, table: Table) -> int:
        self.batch += 1
        self.complete.add(table.id)
        return self.ws.ingest(table, self.snapshots[table.store].select_all(table), down=False, batch=self.batch)

    def run_down(self) -> None:
        seen = {fk: -1 for fk in self.down_fks}
        while self._round(self.down_fks, seen, down=True):
            self.stats.rounds += 1

    def run_up(self) -> None:
        seen = {fk: -1 for fk in self.fks}
        while self._round(self.fks, seen, down=False):
            self.stats.rounds += 1

    def _round(self, fks: list[ForeignKey], seen: dict[ForeignKey, int], down: bool) -> bool:
        """One pass over the edges; True while any edge still had keys to look at. `seen` is kept
        per FK, not per label: two FKs of one column (to students and to people) share a label, and
        the second was taken as looked at already, so its parents were never fetched."""
        moved = False
        for fk in fks:
            child, parent = self.tables[fk.child], self.tables[fk.parent]
            # down: new parent rows pull their children; up: new child rows pull their parents
            source, src_cols, target, tgt_cols = (
                (parent, fk.ref_columns, child, fk.columns) if down else (child, fk.columns, parent, fk.ref_columns))
            upto = self.ws.max_batch(source)
            after = seen[fk]
            if upto <= after:
                continue
            seen[fk] = upto
            moved = True
            if not down and target.id in self.complete:
                continue        # every parent row is selected already: nothing to look up
            exclude = None if down else (target, tgt_cols)
            # an FK declared on one partition holds for that partition's rows only: fetched from it
            # going down, and walked up from its rows alone (another partition's values are no keys)
            within, source_part = (fk.partition, fk.ref_partition) if down else (fk.ref_partition, fk.partition)
            leaves = self.snapshots[source.store].leaves(source_part) if source_part else None
            for arrays in self.ws.new_values(source, src_cols, after, upto, down_only=down, exclude=exclude,
                                             into=(target, tgt_cols), leaves=leaves):
                added = self._fetch(target, tgt_cols, arrays, down=down, within=within)
                if added:
                    self.progress(f"{'down' if down else 'up'} {fk_label(fk)} -> +{added} {target.id}")
        return moved
