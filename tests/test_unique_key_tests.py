"""macros/tests/keys.sql's datamig_unique_key as the scaffold writes it, run by dbt on DuckDB:
the identifying key may hold no NULL and no repeat; another unique key (nulls_distinct) is
judged as PostgreSQL judges its constraint, where rows with a NULL in the key clash with none."""
from __future__ import annotations

import json
from pathlib import Path

import yaml

from _tiny_dbt import invoke, write_project
from datamig.anonymize.sqlrender import MACRO_DIR

ROWS = [(1, "a", None), (2, "a", None), (3, "b", "x"), (4, "b", "x"), (5, "c", "x")]


def _failures(root: Path, tests: dict[str, dict]) -> dict[str, int]:
    write_project(root, "unique_keys", MACRO_DIR, {"type": "duckdb", "path": str(root / "w.duckdb"), "threads": 1})
    values = ", ".join(f"({i}, '{code}', {'NULL' if v is None else repr(v)})" for i, code, v in ROWS)
    (root / "models" / "codes.sql").write_text(f"select * from (values {values}) as t (id, code, variant)\n")
    (root / "models" / "codes.yml").write_text(yaml.safe_dump({"version": 2, "models": [{"name": "codes", "data_tests": [
        {"datamig_unique_key": {"name": name, "arguments": args}} for name, args in tests.items()]}]}))
    result = invoke(root, "build", "--quiet")
    assert result.exception is None
    runs = json.loads((root / "target" / "run_results.json").read_text())["results"]
    return {r["unique_id"].split(".")[2]: r["failures"] for r in runs if r["unique_id"].startswith("test.")}


def test_another_unique_key_fails_on_repeats_only_and_the_identifying_key_on_nulls_too(tmp_path):
    got = _failures(tmp_path / "p", {
        "other_key": {"columns": ["code", "variant"], "nulls_distinct": True},
        "identifying_key": {"columns": ["code", "variant"]},
        "whole_key": {"columns": ["id", "code"]}})
    # ('b', 'x') twice; the two ('a', NULL) rows do not clash, as in a PostgreSQL unique constraint
    assert got["other_key"] == 1
    # ('b', 'x') twice, and ('a', NULL), a key that names no row
    assert got["identifying_key"] == 2
    assert got["whole_key"] == 0


def test_a_unique_key_declared_nulls_not_distinct_fails_on_repeats_with_nulls_too(tmp_path):
    """PostgreSQL 15's UNIQUE NULLS NOT DISTINCT refuses two ('a', NULL) rows: the test judging
    it as an ordinary unique key passed them, and CERT refused the load."""
    got = _failures(tmp_path / "p", {"nnd_key": {"columns": ["code", "variant"], "nulls_not_distinct": True},
                                     "nnd_one": {"columns": ["variant"], "nulls_not_distinct": True}})
    assert got["nnd_key"] == 2  # ('a', NULL) twice, ('b', 'x') twice
    assert got["nnd_one"] == 2  # NULL twice, 'x' three times
