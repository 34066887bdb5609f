"""Flag unruled text columns whose VALUES look like PII (the rules only see names).

A column no rule classified (say `contact` or `misc1`) can still hold emails or phone numbers,
and so can a JSON document's key no rule classifies (`document_values`).
Given a sample of values per such column, report the columns where at least `min_fraction` of the
non-blank sampled values match a pii_shape of the rules file, either as the whole value or inside
it (free text). Findings carry counts only, never the values: the report itself must not leak.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Iterable, Mapping

from .rules import RuleSet


@dataclass(frozen=True)
class Finding:
    column: str
    shape: str          # email | phone | ssn | any other pii_shapes key
    how: str            # "whole" (the value is one) or "inside" (the value contains one)
    matched: int
    sampled: int

    @property
    def fraction(self) -> float:
        return self.matched / self.sampled if self.sampled else 0.0

    def __str__(self) -> str:
        return (f"{self.column}: {self.matched}/{self.sampled} sampled values "
                f"{'are' if self.how == 'whole' else 'contain'} {self.shape}s")


def compile_shapes(shapes: Mapping[str, str] | RuleSet) -> dict[str, re.Pattern]:
    """The shapes as DuckDB's RE2 reads them, where \\b, \\d and \\w are ASCII: Python's Unicode
    \\b found no edge between 拨 and 5, so a phone in Chinese text stayed in a JSON document
    while the same text in a column lost it."""
    raw = shapes.pii_shapes if isinstance(shapes, RuleSet) else shapes
    return {name: re.compile(pattern, re.ASCII) for name, pattern in raw.items()}


def scan_column(column: str, values: Iterable[Any], shapes: Mapping[str, re.Pattern],
                min_fraction: float = 0.2, min_matches: int = 2) -> list[Finding]:
    texts = [str(v).strip() for v in values if v is not None and str(v).strip()]
    found = []
    for name, pattern in shapes.items():
        whole = sum(1 for t in texts if pattern.fullmatch(t))
        inside = sum(1 for t in texts if pattern.search(t))
        for how, n in (("whole", whole), ("inside", inside)):
            if n >= min_matches and n >= min_fraction * len(texts):
                found.append(Finding(column, name, how, n, len(texts)))
                break  # "whole" implies "inside": report the stronger one
    return found


def scan(samples: Mapping[str, Iterable[Any]], shapes: Mapping[str, str] | RuleSet,
         min_fraction: float = 0.2, min_matches: int = 2) -> list[Finding]:
    """{column: sampled values} -> findings, most certain first."""
    compiled = compile_shapes(shapes)
    findings = [f for col, vals in samples.items() for f in scan_column(col, vals, compiled, min_fraction, min_matches)]
    return sorted(findings, key=lambda f: (-f.fraction, f.column, f.shape))


def document_values(docs: Iterable[Any], rules: RuleSet, named_paths: Iterable[str] = ()) -> dict[str, list[str]]:
    """{path: string values} of sampled JSON documents whose keys no rule classifies, even with
    their parent key or sibling label (doc_keys.py), and no configured path names: by_key leaves
    exactly those values as they are. Paths read like the configured ones
    ($.guardians[*].phone), so a finding says where to add one."""
    from .doc_keys import KeyRules  # doc_keys compiles shapes with this module
    keys, named, out = KeyRules(rules), set(named_paths), {}

    def keep(path: str, rule: Any, value: Any) -> None:
        if isinstance(value, str) and path not in named and rule is None:
            out.setdefault(path, []).append(value)

    def walk(node: dict, path: str, parent: str | None) -> None:
        """An object's values under their own keys, read as jsondoc reads them."""
        for k, value in node.items():
            if isinstance(value, dict):
                walk(value, f"{path}.{k}", keys.inner(k, node))
            elif isinstance(value, list):
                walk_list(value, f"{path}.{k}[*]", k, node, parent)
            else:
                keep(f"{path}.{k}", keys.rule_in(k, "text", node, parent, value), value)

    def walk_list(items: list, path: str, key: str, node: dict | None, parent: str | None) -> None:
        """As jsondoc, a list's values, however deep in lists, under the list's key."""
        listed = keys.rule_in(key, "text[]", node, parent) if node is not None else None
        for item in items:
            if isinstance(item, dict):
                walk(item, path, keys.inner(key, node) if node is not None else None)
            elif isinstance(item, list):
                walk_list(item, path + "[*]", key, node, parent)
            else:
                keep(path, listed or (keys.rule_in(key, "text", node, parent, item) if node is not None else None), item)

    for doc in docs:
        try:
            node = json.loads(doc) if isinstance(doc, str) else doc
        except (TypeError, ValueError):
            continue  # not a JSON document: the column scan sees it as text
        if isinstance(node, dict):
            walk(node, "$", None)
        elif isinstance(node, list):  # a bare value has no key; a bare list's are reported
            walk_list(node, "$[*]", "", None, None)
    return out


def sample_columns(conn, relation: str, columns: Iterable[str], rows: int = 1000) -> dict[str, list]:
    """A DuckDB reservoir sample of `columns` of `relation` (a table or a read_parquet(...) call)."""
    cols = list(columns)
    if not cols:
        return {}
    quoted = ", ".join('"' + c.replace('"', '""') + '"' for c in cols)
    rows_ = conn.execute(f"SELECT {quoted} FROM {relation} USING SAMPLE reservoir({int(rows)} ROWS) REPEATABLE (42)").fetchall()
    return {c: [r[i] for r in rows_] for i, c in enumerate(cols)}
