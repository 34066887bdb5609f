"""Unique keys whose anonymization may repeat values: named when the models are generated.

A PROD column unique on its own (its primary or a unique key) that a rule replaces without
`unique: true` may get one fake for two rows. So may a composite key one of whose columns a
rule so replaces, unless some of its columns are a unique key of their own: two rows alike in
its other columns and apart only in that one may become alike in all. Its generated unique
test then fails the transform, naming the column (or the model) and `unique_integrity` but not
the rule that made the repeats; the scaffold names both, before any run.
"""
from __future__ import annotations

from ..anonymize.rules import Planned
from .layout import Dataset

# strategies that keep a value (or blank it: NULLs repeat freely under a unique constraint)
_KEEPS = {None, "preserve", "nullify"}


def unique_risks(sets: list[Dataset], plans: dict[str, dict[str, Planned]]) -> list[str]:
    """One line per unique key a rule that is not unique may make repeat."""
    out = []
    for ds in sets:
        # a table without key is keyed by all its columns, which PROD does not hold unique
        keys = ds.distinct_keys() if ds.key_declared else ds.distinct_keys()[1:]
        out += [_single_line(ds, k[0], plans[ds.id][k[0]]) for k in keys
                if len(k) == 1 and _repeats(plans[ds.id][k[0]])]
        out += [line for k in keys if len(k) > 1 and (line := _composite_line(ds, k, keys, plans[ds.id]))]
    return out


def _repeats(planned: Planned) -> bool:
    """The column's values are replaced by fakes two rows may share."""
    return planned.strategy not in _KEEPS and not (planned.rule is not None and planned.rule.unique)


def _rule(planned: Planned) -> str:
    return f"`{planned.rule.name if planned.rule is not None else '(no rule)'}` ({planned.strategy})"


def _single_line(ds: Dataset, column: str, planned: Planned) -> str:
    return (f"{ds.id}.{column} is unique in PROD, but rule {_rule(planned)} is not: its fakes may repeat and fail "
            f"the column's unique test; give the rule `unique: true` or the column a unique rule")


def _composite_line(ds: Dataset, key: tuple[str, ...], keys: list[tuple[str, ...]],
                    plans: dict[str, Planned]) -> str | None:
    """None when no column is replaced so, or some of the key's columns are a unique key of their
    own: rows apart in those stay apart in the key, and that key's own test and line (if its
    columns may repeat) say it, with a fix that is this one's too."""
    replaced = [c for c in key if _repeats(plans[c])]
    if not replaced or any(set(k) < set(key) for k in keys):
        return None
    rules = ", ".join(f"{_rule(plans[c])} replacing {c}" for c in replaced)
    rules = f"rule {rules} is" if len(replaced) == 1 else f"rules {rules} are"
    others = ", ".join(c for c in key if c not in replaced)
    rows = f"two rows alike in {others}" if others else "two rows"
    return (f"{ds.id} ({', '.join(key)}) is unique in PROD, but {rules} not: {rows} may get the same fakes and "
            f"fail the key's unique test; give the rule `unique: true` or the column a unique rule")
