"""config/validation-rules.yaml rendered into dbt tests on the final models.

Every mistake in the file is a one-line ConfigError naming the file, the line and the rule: at
load time for the file itself (YAML, keys, types, regexes), at render time for a table or column
the estate does not have."""
from __future__ import annotations

import datetime
import math
import re
from collections import defaultdict
from pathlib import Path
from typing import Any, Callable, Iterable, NoReturn

from ..errors import ConfigError
from ..re2_check import re2_problem
from ..yaml_lines import config_error, line_of, parse_config, read_config_text
from . import naming, where_columns
from .layout import Dataset

SEVERITIES = {"error", "warn"}
# The name becomes part of dbt test names, so it must be an identifier (as in anonymization rules).
NAME_RE = re.compile(r"[A-Za-z][A-Za-z0-9_]*")
COMMON_KEYS = ("name", "severity", "check", "description", "why")  # the last two: notes for people
# Per check, the keys the renderer below reads, and what each must hold. min/max/tolerance/value
# are pasted into SQL unquoted, so they must be numbers; timestamp_window's min is quoted and cast
# to a date, so it must be one.
CHECK_KEYS: dict[str, dict[str, str]] = {
    "range": {"table": "text", "column": "text", "min": "number", "max": "number"},
    "age_between": {"table": "text", "column": "text", "min": "number", "max": "number"},
    "date_order": {"table": "text", "before": "text", "after": "text"},
    "not_null": {"table": "text", "columns": "names"},
    "regex": {"columns": "names", "pattern": "regex"},
    "length_between": {"columns": "names", "min": "count", "max": "count"},
    "has_children": {"table": "text", "column": "text", "child": "text", "child_column": "text"},
    "min_children": {"table": "text", "column": "text", "child": "text", "child_column": "text", "min": "count"},
    "same_parent_value": {"table": "text", "column": "text", "parent": "text", "parent_key": "text",
                          "child_value": "text", "parent_value": "text"},
    "within_range_of": {"table": "text", "column": "text", "range_table": "text", "start": "text", "end": "text"},
    "value_present": {"columns": "names", "value": "scalar"},
    "count_ratio": {"table": "text", "other": "text", "tolerance": "non_negative"},
    "timestamp_window": {"columns": "names", "min": "date"},
    "positive_keys": {},
    "only_needed_foreign_rows": {"table": "text", "district_column": "text"},
}
OPTIONAL_KEYS: dict[str, dict[str, str]] = {
    "age_between": {"as_of": "month_day"},
    "has_children": {"where": "text"}, "min_children": {"where": "text"},
    "count_ratio": {"where": "text", "other_where": "text"},
}
CHECKS = set(CHECK_KEYS)
SETTINGS = {"fail_on_warnings": False, "max_warnings_allowed": 10}
VERSION = 1
INTEGER_TYPES = {"smallint", "integer", "bigint"}


def _number(v: Any) -> bool:
    # bool is an int in Python, and nan/inf would render as SQL identifiers
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _date(v: Any) -> bool:
    # a YAML date (unquoted) or its ISO text (quoted): nothing the SQL cast would read differently
    if isinstance(v, datetime.date):
        return not isinstance(v, datetime.datetime)
    if not (isinstance(v, str) and re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", v)):
        return False
    try:
        datetime.date.fromisoformat(v)
    except ValueError:  # 2024-02-30
        return False
    return True


def _unconstrained_numeric(pg_type: str) -> bool:
    return pg_type.strip().lower() in ("numeric", "decimal")


def _month_day(v: Any) -> bool:
    # a cut-off every year has (not 02-29); pasted into SQL, so nothing but its digits
    if not (isinstance(v, str) and re.fullmatch(r"[0-9]{2}-[0-9]{2}", v)):
        return False
    try:
        datetime.date.fromisoformat(f"2001-{v}")
    except ValueError:
        return False
    return True


KINDS: dict[str, tuple[Callable[[Any], bool], str]] = {
    "text": (lambda v: isinstance(v, str) and bool(v.strip()), "a non-empty string"),
    "regex": (lambda v: isinstance(v, str) and bool(v), "a non-empty string"),
    "names": (lambda v: isinstance(v, list) and bool(v) and all(isinstance(c, str) and c for c in v),
              "a non-empty list of column names"),
    "number": (_number, "a number"),
    "non_negative": (lambda v: _number(v) and v >= 0, "a non-negative number"),
    "count": (lambda v: _number(v) and isinstance(v, int) and v >= 0, "a non-negative integer"),
    "date": (_date, "a date (YYYY-MM-DD)"),
    "month_day": (_month_day, "a quoted month and day (MM-DD, not 02-29)"),
    "scalar": (lambda v: isinstance(v, (str, bool)) or _number(v), "a string, a number or true/false"),
}


class Tests:
    """Tests collected per final model: model-level and per column."""

    def __init__(self):
        self.model: dict[str, list] = defaultdict(list)
        self.column: dict[str, dict[str, list]] = defaultdict(lambda: defaultdict(list))


class _RulesFile:
    """One load of one file: keeps the YAML nodes so every error can give its line."""

    def __init__(self, path: Path):
        self.path = path
        self.raw, self.node = parse_config(path, read_config_text(path, "validation rules file"))

    def fail(self, keys: list[Any], what: str, message: str) -> NoReturn:
        raise config_error(self.path, self.node, keys, what, message)

    def load(self) -> dict:
        if not isinstance(self.raw, dict):
            self.fail([], "file", "expected a mapping with version, settings and rules")
        self.no_unknown_keys([], "file", self.raw, ("version", "settings", "rules"))
        version = self.raw.get("version", VERSION)  # optional, as it always was
        if type(version) is not int or version != VERSION:  # true and 1.0 equal 1 in Python
            self.fail(["version"], "version", f"expected {VERSION}, not {version!r}")
        settings, rules = self.settings(), self.rules()
        return {"settings": settings, "rules": rules, "path": self.path,
                "lines": {r["name"]: line_of(self.node, ["rules", i]) for i, r in enumerate(rules)}}

    def no_unknown_keys(self, keys: list[Any], what: str, raw: dict, known: Iterable[str]) -> None:
        for key in raw:
            if key not in known:
                self.fail(keys + [key], what, f"unknown key {key!r} (known: {', '.join(known)})")

    def settings(self) -> dict:
        raw = self.raw.get("settings")
        raw = {} if raw is None else raw
        if not isinstance(raw, dict):
            self.fail(["settings"], "settings", f"expected a mapping, not {raw!r}")
        self.no_unknown_keys(["settings"], "settings", raw, tuple(SETTINGS))
        out = {**SETTINGS, **raw}
        if not isinstance(out["fail_on_warnings"], bool):
            self.fail(["settings", "fail_on_warnings"], "settings.fail_on_warnings",
                      f"expected true or false, not {out['fail_on_warnings']!r}")
        if not KINDS["count"][0](out["max_warnings_allowed"]):
            self.fail(["settings", "max_warnings_allowed"], "settings.max_warnings_allowed",
                      f"expected a non-negative integer, not {out['max_warnings_allowed']!r}")
        return out

    def rules(self) -> list[dict]:
        rules = self.raw.get("rules")
        if not isinstance(rules, list):
            self.fail(["rules"], "rules", f"expected a list of rules, not {rules!r}")
        first: dict[str, int] = {}
        for i, rule in enumerate(rules):
            self.rule(i, rule)
            if rule["name"] in first:
                self.fail(["rules", i, "name"], f"rule {rule['name']!r}",
                          f"duplicate rule name (first at line {first[rule['name']]})")
            first[rule["name"]] = line_of(self.node, ["rules", i])
        return rules

    def rule(self, i: int, rule: Any) -> None:
        keys = ["rules", i]
        if not isinstance(rule, dict):
            self.fail(keys, f"rule #{i + 1}", f"expected a mapping with {', '.join(COMMON_KEYS)}, not {rule!r}")
        name = rule.get("name")
        if not isinstance(name, str) or not NAME_RE.fullmatch(name):
            self.fail(keys + ["name"], f"rule #{i + 1}", f"name: expected letters, digits and underscores, starting with a letter, not {name!r}")
        what = f"rule {name!r}"
        if not isinstance(rule.get("severity"), str) or rule["severity"] not in SEVERITIES:
            self.fail(keys + ["severity"], what, f"severity must be error or warn, not {rule.get('severity')!r}")
        check = rule.get("check")
        if not isinstance(check, str) or check not in CHECKS:
            self.fail(keys + ["check"], what, f"unknown check {check!r} (one of {', '.join(sorted(CHECKS))})")
        self.rule_keys(keys, what, rule, check)

    def rule_keys(self, keys: list[Any], what: str, rule: dict, check: str) -> None:
        allowed = {**CHECK_KEYS[check], **OPTIONAL_KEYS.get(check, {})}
        self.no_unknown_keys(keys, what, rule, (*COMMON_KEYS, *allowed))
        for key in CHECK_KEYS[check]:
            if key not in rule:
                self.fail(keys, what, f"check {check} needs `{key}`")
        for key, kind in allowed.items():
            test, expected = KINDS[kind]
            if key in rule and not test(rule[key]):
                self.fail(keys + [key], what, f"{key}: expected {expected}, not {rule[key]!r}")
        if "max" in rule and rule["min"] > rule["max"]:  # every row would fail
            self.fail(keys + ["min"], what, f"min {rule['min']!r} is above max {rule['max']!r}")
        if "pattern" in rule:
            self.pattern(keys + ["pattern"], what, rule["pattern"])

    def pattern(self, keys: list[Any], what: str, pattern: str) -> None:
        # the macros paste the pattern into a '...' SQL literal
        if "'" in pattern:
            self.fail(keys, what, f"pattern {pattern!r}: a single quote would end the SQL string literal; write \\x27")
        try:
            re.compile(pattern)
        except re.error as exc:
            self.fail(keys, what, f"bad regex {pattern!r}: {exc}")
        problem = re2_problem(pattern)  # where the dbt test runs (PostgreSQL's dialect on CERT needs a server)
        if problem:
            self.fail(keys, what, f"bad regex {pattern!r} for DuckDB (RE2): {problem}")


def load_validation_rules(path: Path) -> dict:
    """{settings, rules, path, lines}: every mistake in the file is a one-line ConfigError
    `file:LINE: rule 'name': problem`, so rendering can rely on each rule's keys and types."""
    return _RulesFile(Path(path)).load()


class Renderer:
    def __init__(self, sets: list[Dataset], path: Path, lines: dict[str, int] | None = None):
        self.by_id = {ds.id: ds for ds in sets}
        self.path = path
        self.lines = lines or {}
        self.tests = Tests()

    def fail(self, rule: dict, message: str) -> NoReturn:
        line = self.lines.get(rule["name"])
        raise ConfigError(f"{self.path}{f':{line}' if line else ''}: rule {rule['name']!r}: {message}")

    def dataset(self, rule: dict, table_id: str) -> Dataset:
        ds = self.by_id.get(table_id)
        if ds is None:
            self.fail(rule, f"no table {table_id!r} in the estate")
        return ds

    def column(self, rule: dict, ds: Dataset, column: str) -> str:
        if column not in ds.columns:
            self.fail(rule, f"table {ds.id} has no column {column!r}")
        return naming.quote(column)

    def check_where(self, rule: dict, key: str, scope: dict[str, Dataset]) -> None:
        """The columns `rule[key]` (SQL text) names exist in `scope` (alias -> table, as the
        test macro's FROM has them) or in the tables it names as {table:store.table}."""
        text = rule.get(key)
        if not text:
            return
        others = {t: self.dataset(rule, t) for t in where_columns.TABLE_REF.findall(text)}
        missing = where_columns.missing_column(text, scope, others)
        if missing:
            self.fail(rule, f"table {missing[0].id} has no column {missing[1]!r}")

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
        named = f"__{naming.column_in_test_name(column)}" if column else ""
        entry = {test: {"name": naming.test_name(f"{rule['name']}__{ds.store}__{ds.name}{named}"),
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
        if _unconstrained_numeric(ds.columns[rule["column"]]):
            # it lands in the warehouse as its text (pg_types.duckdb_type), which DuckDB will not
            # compare with a number; a double holds NaN and Infinity, which fail the range as in CERT
            col = f"cast({col} as double precision)"
        expression = f"{col} is null or {col} between {rule['min']} and {rule['max']}"
        self.add(rule, ds, "datamig_expression", {"expression": expression}, rule["column"])

    def _age_between(self, rule):
        ds = self.dataset(rule, rule["table"])
        self.column(rule, ds, rule["column"])
        args = {"min_years": rule["min"], "max_years": rule["max"]}
        if rule.get("as_of"):
            args["as_of"] = rule["as_of"]
        self.add(rule, ds, "datamig_age_between", args, rule["column"])

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
        self.column(rule, ds, rule["column"])
        self.column(rule, child, rule["child_column"])
        self.check_where(rule, "where", {"p": ds})  # the child is only in the macro's not exists
        self.add(rule, ds, "datamig_has_children", {"child": self.ref(rule, rule["child"]),
                 "child_column": rule["child_column"], "row_filter": self.where(rule, rule.get("where"))},
                 rule["column"])

    def _min_children(self, rule):
        ds = self.dataset(rule, rule["table"])
        child = self.dataset(rule, rule["child"])
        self.column(rule, ds, rule["column"])
        self.column(rule, child, rule["child_column"])
        self.check_where(rule, "where", {"p": ds, "c": child})
        self.add(rule, ds, "datamig_min_children", {"child": self.ref(rule, rule["child"]),
                 "child_column": rule["child_column"], "min_count": rule["min"],
                 "row_filter": self.where(rule, rule.get("where"))}, rule["column"])

    def _same_parent_value(self, rule):
        ds = self.dataset(rule, rule["table"])
        parent = self.dataset(rule, rule["parent"])
        self.column(rule, ds, rule["column"])
        self.column(rule, ds, rule["child_value"])
        self.column(rule, parent, rule["parent_key"])
        self.column(rule, parent, rule["parent_value"])
        self.add(rule, ds, "datamig_same_parent_value", {"parent": self.ref(rule, rule["parent"]),
                 "parent_key": rule["parent_key"], "child_value": rule["child_value"],
                 "parent_value": rule["parent_value"], "key_columns": [naming.quote(k) for k in ds.key]},
                 rule["column"])

    def _within_range_of(self, rule):
        ds = self.dataset(rule, rule["table"])
        rng = self.dataset(rule, rule["range_table"])
        self.column(rule, ds, rule["column"])
        self.column(rule, rng, rule["start"])
        self.column(rule, rng, rule["end"])
        self.add(rule, ds, "datamig_within_range_of", {"range_model": self.ref(rule, rule["range_table"]),
                 "start_column": rule["start"], "end_column": rule["end"]}, rule["column"])

    def _value_present(self, rule):
        for ds, column in self.expand_columns(rule):
            self.add(rule, ds, "datamig_value_present", {"value": rule["value"]}, column)

    def _count_ratio(self, rule):
        ds = self.dataset(rule, rule["table"])
        other = self.dataset(rule, rule["other"])
        # the macro filters each model alone, unaliased: its ref renders to a relation of that name
        self.check_where(rule, "where", {ds.final_model: ds})
        self.check_where(rule, "other_where", {other.final_model: other})
        self.add(rule, ds, "datamig_count_ratio", {"other": self.ref(rule, rule["other"]),
                 "tolerance": rule["tolerance"], "row_filter": self.where(rule, rule.get("where")),
                 "other_filter": self.where(rule, rule.get("other_where"))})

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
    renderer = Renderer(sets, vrules["path"], vrules.get("lines"))
    for rule in vrules["rules"]:
        renderer.render(rule)
    return renderer.tests
