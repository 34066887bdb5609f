"""config/validation-rules.yaml rendered into dbt tests on the final models. A rule naming a
table or column the estate does not have is a ConfigError naming the rule and the file."""
from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path
from typing import Any

import yaml

from ..errors import ConfigError
from . import naming
from .layout import Dataset

SEVERITIES = {"error", "warn"}
CHECKS = {"range", "age_between", "date_order", "not_null", "regex", "length_between", "has_children",
          "min_children", "same_parent_value", "within_range_of", "value_present", "count_ratio",
          "timestamp_window", "positive_keys", "only_needed_foreign_rows"}
INTEGER_TYPES = {"smallint", "integer", "bigint"}


class Tests:
    """Tests collected per final model: model-level and per column."""

    def __init__(self):
        self.model: dict[str, list] = defaultdict(list)
        self.column: dict[str, dict[str, list]] = defaultdict(lambda: defaultdict(list))


def load_validation_rules(path: Path) -> dict:
    try:
        raw = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"{path}: validation rules file not found") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: invalid YAML: {getattr(exc, 'problem', exc)}") from None
    if not isinstance(raw, dict) or not isinstance(raw.get("rules"), list):
        raise ConfigError(f"{path}: expected a mapping with settings and a rules list")
    for i, rule in enumerate(raw["rules"]):
        name = rule.get("name") if isinstance(rule, dict) else None
        if not name:
            raise ConfigError(f"{path}: rule #{i + 1} has no name")
        if rule.get("severity") not in SEVERITIES:
            raise ConfigError(f"{path}: rule {name!r}: severity must be error or warn, not {rule.get('severity')!r}")
        if rule.get("check") not in CHECKS:
            raise ConfigError(f"{path}: rule {name!r}: unknown check {rule.get('check')!r} "
                              f"(one of {', '.join(sorted(CHECKS))})")
    settings = raw.get("settings", {}) or {}
    return {"settings": {"fail_on_warnings": bool(settings.get("fail_on_warnings", False)),
                         "max_warnings_allowed": int(settings.get("max_warnings_allowed", 10))},
            "rules": raw["rules"], "path": path}


class Renderer:
    def __init__(self, sets: list[Dataset], path: Path):
        self.by_id = {ds.id: ds for ds in sets}
        self.path = path
        self.tests = Tests()

    def fail(self, rule: dict, message: str) -> None:
        raise ConfigError(f"{self.path}: rule {rule['name']!r}: {message}")

    def dataset(self, rule: dict, table_id: str) -> Dataset:
        ds = self.by_id.get(table_id)
        if ds is None:
            self.fail(rule, f"no table {table_id!r} in the estate")
        return ds

    def column(self, rule: dict, ds: Dataset, column: str) -> str:
        if column not in ds.columns:
            self.fail(rule, f"table {ds.id} has no column {column!r}")
        return naming.quote(column)

    def ref(self, rule: dict, table_id: str) -> str:
        return f"ref('{self.dataset(rule, table_id).final_model}')"

    def expand_columns(self, rule: dict) -> list[tuple[Dataset, str]]:
        out = []
        for spec in rule.get("columns", []):
            table, _, column = spec.rpartition(".")
            if table == "*":
                out.extend((ds, column) for ds in self.by_id.values() if column in ds.columns)
                continue
            ds = self.dataset(rule, table)
            self.column(rule, ds, column)
            out.append((ds, column))
        if not out:
            self.fail(rule, "names no column")
        return out

    def where(self, rule: dict, text: str | None) -> str | None:
        """`{table:store.table}` in a where clause becomes a ref to that final model."""
        if not text:
            return None
        return re.sub(r"\{table:([a-z0-9_]+\.[A-Za-z0-9_]+)\}",
                      lambda m: "{{ " + self.ref(rule, m.group(1)) + " }}", text)

    def add(self, rule: dict, ds: Dataset, test: str, args: dict, column: str | None = None) -> None:
        entry = {test: {"name": f"{rule['name']}__{ds.store}__{ds.name}" + (f"__{column}" if column else ""),
                        "arguments": args,
                        "config": {"severity": rule["severity"], "meta": {"rule": rule["name"]}}}}
        if column is None:
            self.tests.model[ds.final_model].append(entry)
        else:
            self.tests.column[ds.final_model][column].append(entry)

    def render(self, rule: dict) -> None:
        getattr(self, f"_{rule['check']}")(rule)

    # --- one method per check ------------------------------------------------------------
    def _range(self, rule):
        ds = self.dataset(rule, rule["table"])
        col = self.column(rule, ds, rule["column"])
        self.add(rule, ds, "datamig_expression", {"expression": f"{col} is null or {col} between {rule['min']} and {rule['max']}"}, rule["column"])

    def _age_between(self, rule):
        ds = self.dataset(rule, rule["table"])
        self.column(rule, ds, rule["column"])
        self.add(rule, ds, "datamig_age_between", {"min_years": rule["min"], "max_years": rule["max"]}, rule["column"])

    def _date_order(self, rule):
        ds = self.dataset(rule, rule["table"])
        before, after = self.column(rule, ds, rule["before"]), self.column(rule, ds, rule["after"])
        self.add(rule, ds, "datamig_expression", {"expression": f"{after} is null or {before} < {after}"})

    def _not_null(self, rule):
        ds = self.dataset(rule, rule["table"])
        cols = [self.column(rule, ds, c) for c in rule["columns"]]
        self.add(rule, ds, "datamig_expression", {"expression": " and ".join(f"{c} is not null" for c in cols)})

    def _regex(self, rule):
        for ds, column in self.expand_columns(rule):
            self.add(rule, ds, "datamig_regex", {"pattern": rule["pattern"]}, column)

    def _length_between(self, rule):
        for ds, column in self.expand_columns(rule):
            col = naming.quote(column)
            self.add(rule, ds, "datamig_expression",
                     {"expression": f"{col} is null or length({col}) between {rule['min']} and {rule['max']}"}, column)

    def _timestamp_window(self, rule):
        for ds, column in self.expand_columns(rule):
            col = naming.quote(column)
            self.add(rule, ds, "datamig_expression", {"expression": f"{col} is null or ({col} >= cast('{rule['min']}' "
                                                      f"as date) and {col} <= current_timestamp)"}, column)

    def _positive_keys(self, rule):
        for ds in self.by_id.values():
            for key in ds.key:
                # surrogate ids only: a natural key such as grade_level (K = 0) may be 0
                is_id = key == "id" or key.endswith("_id")
                if ds.kind == "table" and is_id and ds.columns.get(key) in INTEGER_TYPES:
                    col = naming.quote(key)
                    self.add(rule, ds, "datamig_expression", {"expression": f"{col} is null or {col} > 0"}, key)

    def _has_children(self, rule):
        ds = self.dataset(rule, rule["table"])
        child = self.dataset(rule, rule["child"])
        self.column(rule, child, rule["child_column"])
        self.add(rule, ds, "datamig_has_children", {"child": self.ref(rule, rule["child"]),
                 "child_column": rule["child_column"], "row_filter": self.where(rule, rule.get("where"))},
                 rule["column"])

    def _min_children(self, rule):
        ds = self.dataset(rule, rule["table"])
        child = self.dataset(rule, rule["child"])
        self.column(rule, child, rule["child_column"])
        self.add(rule, ds, "datamig_min_children", {"child": self.ref(rule, rule["child"]),
                 "child_column": rule["child_column"], "min_count": rule["min"],
                 "row_filter": self.where(rule, rule.get("where"))}, rule["column"])

    def _same_parent_value(self, rule):
        ds = self.dataset(rule, rule["table"])
        parent = self.dataset(rule, rule["parent"])
        self.column(rule, ds, rule["child_value"])
        self.column(rule, parent, rule["parent_value"])
        self.add(rule, ds, "datamig_same_parent_value", {"parent": self.ref(rule, rule["parent"]),
                 "parent_key": rule["parent_key"], "child_value": rule["child_value"],
                 "parent_value": rule["parent_value"]}, rule["column"])

    def _within_range_of(self, rule):
        ds = self.dataset(rule, rule["table"])
        rng = self.dataset(rule, rule["range_table"])
        self.column(rule, rng, rule["start"])
        self.column(rule, rng, rule["end"])
        self.add(rule, ds, "datamig_within_range_of", {"range_model": self.ref(rule, rule["range_table"]),
                 "start_column": rule["start"], "end_column": rule["end"]}, rule["column"])

    def _value_present(self, rule):
        for ds, column in self.expand_columns(rule):
            self.add(rule, ds, "datamig_value_present", {"value": rule["value"]}, column)

    def _count_ratio(self, rule):
        ds = self.dataset(rule, rule["table"])
        self.dataset(rule, rule["other"])
        self.add(rule, ds, "datamig_count_ratio", {"other": self.ref(rule, rule["other"]),
                 "tolerance": rule["tolerance"], "row_filter": rule.get("where"), "other_filter": rule.get("other_where")})

    def _only_needed_foreign_rows(self, rule):
        ds = self.dataset(rule, rule["table"])
        self.column(rule, ds, rule["district_column"])
        referenced_by = []
        for child in self.by_id.values():
            for fk in child.foreign_keys:
                if fk.parent == ds.id:
                    referenced_by.append({"model": "{{ " + f"ref('{child.final_model}')" + " }}",
                                          "columns": [naming.quote(c) for c in fk.columns],
                                          "ref_columns": list(fk.ref_columns)})
        key_cols = list(ds.key)
        for spec in referenced_by:
            if spec.pop("ref_columns") != key_cols:
                self.fail(rule, f"an FK into {ds.id} does not reference its key")
        self.add(rule, ds, "datamig_only_needed_foreign_rows", {"district_column": rule["district_column"],
                 "key_columns": key_cols, "referenced_by": referenced_by})


def render_validation(vrules: dict, sets: list[Dataset]) -> Tests:
    renderer = Renderer(sets, vrules["path"])
    for rule in vrules["rules"]:
        renderer.render(rule)
    return renderer.tests
