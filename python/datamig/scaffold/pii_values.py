"""`int_pii_values`: every email, phone and SSN of the slice's original data (columns, the
configured paths of JSON documents, and in documents whose keys are classified (by_key) every
value of an email, phone or SSN shape, whatever its key), normalized
(emails unpadded and lower-case, phones their last 10 digits before any extension, SSNs their digits) and stored as keyed SHA-256
(`anonymize_hash`, domain pii.values): the free-text leak test joins on it. Phones and SSNs also
get their keyed digit permutation (`anonymize_taken_digits`, domain pii.values.digits), which
permuted phones and SSNs are kept off a chunk at a time (anonymize/taken.py). Kind `name`: each
"first last" of a row's first and last name columns where either has a space, keyed the same way,
with the first name's length: where full-name columns split that name (taken.py). A table, built
once per build: every leak test and every model that permutes phones or fakes full names reads
it; it holds no real value."""
from __future__ import annotations

from collections.abc import Mapping

from ..anonymize.rules import Planned
from ..anonymize.taken import DIGITS_DOMAIN, HASH_DOMAIN, NAME_KIND, PHONE_EXTENSION_SQL, leak_kind
from ..quoting import sql_literal
from . import naming
from .layout import Dataset
from .staging import HEADER


def _kind(p: Planned) -> str | None:
    return None if p.rule is None else leak_kind(p.provider, p.domain, p.rule.name)


def _normalized(expr: str, kind: str) -> str:
    if kind == "email":
        return f"dm_lib.identity({expr})"  # as the email faker keys it: padding off, lower case
    if kind == "phone":
        return f"right(regexp_replace(regexp_replace({expr}, '{PHONE_EXTENSION_SQL}', ''), '[^0-9]', '', 'g'), 10)"
    return f"regexp_replace({expr}, '[^0-9]', '', 'g')"


def _document_values(column: str, p: Planned) -> list[tuple[str, str]]:
    """(kind, SQL of the values) of a jsonb column's configured paths that hold emails, phones or
    SSNs: a phone only in a guardian document is a real phone of the slice too."""
    if p.strategy != "jsonb" or p.rule is None:
        return []
    out = []
    for spec in p.rule.options.get("paths", ()) or ():
        kind = leak_kind(spec.get("provider"), spec.get("domain"))
        if kind and spec.get("strategy") not in ("nullify", "preserve", "constant"):
            path = spec["path"].replace("'", "''")
            out.append((kind, f"unnest(json_extract_string(cast({naming.quote(column)} as json), '{path}'))"))
    return out


def _document_shapes(column: str, p: Planned, shapes: Mapping[str, str]) -> list[tuple[str, str]]:
    """(kind, SQL of the values) of every email, phone and SSN shape in a jsonb column's text when
    its object keys are classified (by_key): the keys holding PII are the data's, not the
    config's, and the free-text leak test looks for these same shapes."""
    if p.strategy != "jsonb" or p.rule is None or not p.rule.options.get("by_key", True):
        return []
    literals = {kind: sql_literal(shapes[kind]) for kind in ("email", "phone", "ssn")
                if shapes.get(kind)}
    return [(kind, f"unnest(regexp_extract_all(cast({naming.quote(column)} as varchar), {literal}))")
            for kind, literal in literals.items()]


def _name_columns(ds: Dataset, planned: dict[str, Planned], provider: str) -> list[str]:
    return [c for c, p in planned.items()
            if p.strategy == "faker" and p.provider == provider and not ds.columns[c].endswith("[]")]


def _name_pairs(ds: Dataset, planned: dict[str, Planned]) -> list[str]:
    """The SQL of a table's "first last" names of more than two words, with the first name's length:
    every first-name column (first, middle, preferred) with every last-name column."""
    source = f"\n    from {{{{ ref('{naming.staging(ds.store, ds.name)}') }}}}"
    parts = []
    for first in _name_columns(ds, planned, "first_name"):
        for last in _name_columns(ds, planned, "last_name"):
            f, ln = (f"trim(cast({naming.quote(c)} as varchar))" for c in (first, last))
            parts.append(f"    select\n        {f} || ' ' || {ln} as value,\n        length({f}) as split{source}"
                         f"\n    where\n        {f} <> '' and {ln} <> ''"
                         f"\n        and ({f} like '% %' or {ln} like '% %')")
    return parts


def _names_sql(sets: list[tuple[Dataset, dict[str, Planned]]]) -> str:
    parts = [sql for ds, planned in sets for sql in _name_pairs(ds, planned)]
    if not parts:
        return ""
    body = "\n    union\n".join(parts)
    return (f"\nunion all\nselect distinct\n    '{NAME_KIND}' as kind,\n"
            f"    {{{{ anonymize_hash('value', '{HASH_DOMAIN}') }}}} as h,\n    cast(split as varchar) as d\n"
            f"from (\n{body}\n) as names\n")


def pii_values_sql(sets: list[tuple[Dataset, dict[str, Planned]]], shapes: Mapping[str, str]) -> str:
    parts = []
    for ds, planned in sets:
        source = f"\n    from {{{{ ref('{naming.staging(ds.store, ds.name)}') }}}}"
        for column, p in planned.items():
            for kind, value in _document_values(column, p) + _document_shapes(column, p, shapes):
                parts.append(_select(f"'{kind}'", _normalized(value, kind)) + source)
            kind = _kind(p)
            if kind is None or p.strategy in ("nullify", "preserve", "constant", "jsonb"):
                continue
            col = naming.quote(column)
            value = f"unnest({col})" if ds.columns[column].endswith("[]") else f"cast({col} as varchar)"
            parts.append(_select(f"'{kind}'", _normalized(value, kind)) + source)
    body = "\n    union\n".join(parts) if parts else _select("'none'", "cast(null as varchar)")
    # one select target per line: the layout sqlfluff (LT09) asks for
    return (f"{HEADER}{{{{ config(materialized='table') }}}}\n\n"
            f"select distinct\n    kind,\n    {{{{ anonymize_hash('value', '{HASH_DOMAIN}') }}}} as h,\n"
            f"    case when kind <> 'email' then {{{{ anonymize_taken_digits('value', '{DIGITS_DOMAIN}') }}}} end as d\n"
            f"from (\n{body}\n) as found\n"
            f"where value is not null and value <> ''\n{_names_sql(sets)}")


def _select(kind: str, value: str) -> str:
    return f"    select\n        {kind} as kind,\n        {value} as value"
