"""The value_present rule's test (macros/tests/rules.sql) run by dbt on DuckDB, with the values a
rules file may give: a string is data, not SQL. `value: active` was read as a column name (a
binder error failed the test for every model), and a quote in it broke the test's SQL."""
from __future__ import annotations

import json
from pathlib import Path

import yaml

from _tiny_dbt import invoke, write_project
from datamig.anonymize.sqlrender import MACRO_DIR


def _failures(root: Path, values: dict[str, tuple[str, object]]) -> dict[str, object]:
    write_project(root, "value_present", MACRO_DIR, {"type": "duckdb", "path": str(root / "w.duckdb"), "threads": 1})
    (root / "models" / "schools.sql").write_text(
        "select * from (values (42, 'active', 'o''neil'), (7, 'closed', 'x')) as t (district_id, status, name)\n")
    columns: dict[str, list] = {}
    for name, (column, value) in values.items():
        columns.setdefault(column, []).append({"datamig_value_present": {"name": name, "arguments": {"value": value}}})
    (root / "models" / "schools.yml").write_text(yaml.safe_dump({"version": 2, "models": [
        {"name": "schools", "columns": [{"name": c, "data_tests": t} for c, t in columns.items()]}]}))
    invoke(root, "build", "--quiet", "--vars", "{district: 42}")
    runs = json.loads((root / "target" / "run_results.json").read_text())["results"]
    return {r["unique_id"].split(".")[2]: (r["status"], r["failures"]) for r in runs if r["unique_id"].startswith("test.")}


def test_strings_numbers_and_the_rendered_district_are_compared_as_values(tmp_path):
    got = _failures(tmp_path / "p", {
        "status_active": ("status", "active"),
        "status_gone": ("status", "merged"),
        "name_with_quote": ("name", "o'neil"),
        "district_number": ("district_id", 42),
        "district_var": ("district_id", "{{ var('district') }}"),
        "district_absent": ("district_id", 9)})
    assert got == {"status_active": ("pass", 0), "status_gone": ("fail", 1), "name_with_quote": ("pass", 0),
                   "district_number": ("pass", 0), "district_var": ("pass", 0), "district_absent": ("fail", 1)}
