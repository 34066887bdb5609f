"""Unique columns whose anonymization may repeat values: named when the models are generated.

A PROD column unique on its own (its primary or a unique key) that a rule replaces without
`unique: true` may get one fake for two rows. Its generated unique test then fails the
transform, naming the column and `unique_integrity` but not the rule that made the repeats;
the scaffold names both, before any run.
"""
from __future__ import annotations

from ..anonymize.rules import Planned
from .layout import Dataset

# strategies that keep a value (or blank it: NULLs repeat freely under a unique constraint)
_KEEPS = {None, "preserve", "nullify"}


def unique_risks(sets: list[Dataset], plans: dict[str, dict[str, Planned]]) -> list[str]:
    """One line per single-column unique key replaced by a rule that is not unique."""
    out = []
    for ds in sets:
        for key in dict.fromkeys(tuple(k) for k in (ds.key, *ds.unique_keys) if len(k) == 1):
            planned = plans[ds.id][key[0]]
            if planned.strategy in _KEEPS or (planned.rule is not None and planned.rule.unique):
                continue
            rule = planned.rule.name if planned.rule is not None else "(no rule)"
            out.append(f"{ds.id}.{key[0]} is unique in PROD, but rule `{rule}` ({planned.strategy}) is not: its fakes "
                       f"may repeat and fail the column's unique test; give the rule `unique: true` or the column a "
                       f"unique rule")
    return out
