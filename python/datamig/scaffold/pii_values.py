"""`int_pii_values`: every email, phone and SSN of the slice's original data, normalized
(emails lower-case, phones and SSNs as digits), for the free-text leak test to join on."""
from __future__ import annotations

from ..anonymize.rules import Planned
from . import naming
from .layout import Dataset
from .staging import HEADER

KINDS = {"email": "email", "phone": "phone", "ssn": "ssn"}


def _kind(p: Planned) -> str | None:
    if p.rule is None:
        return None
    for key in (p.provider, p.domain, p.rule.name):
        for token, kind in KINDS.items():
            if key and token in key.split(".")[-1]:
                return kind
    return None


def _normalized(expr: str, kind: str) -> str:
    if kind == "email":
        return f"lower({expr})"
    if kind == "phone":
        return f"right(regexp_replace({expr}, '[^0-9]', '', 'g'), 10)"
    return f"regexp_replace({expr}, '[^0-9]', '', 'g')"


def pii_values_sql(sets: list[tuple[Dataset, dict[str, Planned]]]) -> str:
    parts = []
    for ds, planned in sets:
        for column, p in planned.items():
            kind = _kind(p)
            if kind is None or p.strategy in ("nullify", "preserve", "constant"):
                continue
            col = naming.quote(column)
            value = f"unnest({col})" if ds.columns[column].endswith("[]") else f"cast({col} as varchar)"
            parts.append(_select(f"'{kind}'", _normalized(value, kind))
                         + f"\n    from {{{{ ref('{naming.staging(ds.store, ds.name)}') }}}}")
    body = "\n    union\n".join(parts) if parts else _select("'none'", "cast(null as varchar)")
    # one select target per line: the layout sqlfluff (LT09) asks for
    return (f"{HEADER}{{{{ config(materialized='view') }}}}\n\n"
            f"select distinct\n    kind,\n    value\nfrom (\n{body}\n) as found\n"
            f"where value is not null and value <> ''\n")


def _select(kind: str, value: str) -> str:
    return f"    select\n        {kind} as kind,\n        {value} as value"
