"""Which write each table (or graph label / relationship group) gets.

  insert  every key must be new; any existing key is a conflict and nothing is written
  upsert  INSERT ... ON CONFLICT (key) DO UPDATE: rows with an existing key are overwritten
  merge   only rows whose final columns differ are updated, only those columns; CERT-only
          rows and columns are kept (MERGE ... WHEN MATCHED AND <differs>)
  auto    per table: no existing key -> insert, under 50% of the rows existing -> upsert,
          otherwise merge (mostly the same rows: touch only what changed)
"""
from __future__ import annotations

from ..errors import ConfigError

STRATEGIES = ("auto", "insert", "upsert", "merge")
CONFLICT_LIMIT = 20
UPSERT_BELOW = 0.5


def check(requested: str) -> str:
    if requested not in STRATEGIES:
        raise ConfigError(f"unknown load strategy {requested!r} (one of: {', '.join(STRATEGIES)})")
    return requested


def choose(requested: str, counts: dict) -> str:
    if requested != "auto":
        return requested
    existing = counts["existing"]
    if existing == 0:
        return "insert"
    return "upsert" if existing / counts["rows"] < UPSERT_BELOW else "merge"


def conflicts(counts: dict, strategy: str) -> int:
    """Rows an insert would collide with (only the insert strategy has conflicts)."""
    return counts["existing"] if strategy == "insert" else 0


def unchanged(strategy: str | None, counts: dict) -> int | None:
    """Rows the write leaves as CERT holds them; None for insert, whose rows found in CERT are
    its conflicts (identical or not: an insert never compares them)."""
    return None if strategy == "insert" else counts.get("unchanged")


def effect(strategy: str, counts: dict) -> tuple[int, int]:
    """(rows inserted, rows updated) that `strategy` makes of classified counts, so that inserted
    + updated + unchanged (+ conflicts, for insert) = rows. An upsert rewrites its unchanged rows
    too, with the values they already hold: they count as unchanged, not updated (see rewrites)."""
    return counts["new"], 0 if strategy == "insert" else counts["changed"]


def rewrites(strategy: str, counts: dict) -> int:
    """CERT rows the write replaces, whose before-images the ledger keeps: upsert's ON CONFLICT
    DO UPDATE replaces every existing row, merge only the changed ones."""
    return counts["existing"] if strategy == "upsert" else effect(strategy, counts)[1]
