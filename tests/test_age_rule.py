"""The age_between rule's test (macros/tests/rules.sql) in DuckDB, where the transform runs it,
and in PostgreSQL, where validate-migration does: an age today, or with `as_of` (MM-DD) the age on
the latest such day, the school's cut-off. The anonymized birth dates keep the age on the day
before the school year starts (they stay in their school year): a rule counting today's age
warned in CERT about a student PROD had at 22 whose birthday moved a week."""
from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

from _tiny_dbt import invoke, write_project
from datamig.anonymize.sqlrender import MACRO_DIR

CUT_OFF = "08-31"


def _latest(today: dt.date, month: int, day: int) -> dt.date:
    this_year = dt.date(today.year, month, day)
    return this_year if this_year <= today else dt.date(today.year - 1, month, day)


def _age(born: dt.date, on: dt.date) -> int:
    return on.year - born.year - ((born.month, born.day) > (on.month, on.day))


def _years_before(day: dt.date, years: int) -> dt.date:
    return day.replace(year=day.year - years)  # never Feb 29: the days used here are Aug 31 and Sep 1


def _birth_dates(today: dt.date) -> dict[int, dt.date]:
    cut = _latest(today, 8, 31)
    after = cut + dt.timedelta(days=1)
    return {1: _years_before(after, 23),   # 22 on the cut-off, 23 today unless today is the cut-off
            2: _years_before(after, 5),    # 4 on the cut-off, 5 today unless today is the cut-off
            3: _years_before(cut, 10),     # 10 on both
            4: _years_before(after, 30)}   # 29 on the cut-off: fails either way


def _project(root: Path, dev: dict, today: dt.date) -> None:
    write_project(root, "age_rule", MACRO_DIR, dev)
    rows = " union all ".join(f"select {i} as id, cast('{d.isoformat()}' as date) as born"
                              for i, d in _birth_dates(today).items())
    (root / "models" / "people.sql").write_text("{{ config(materialized='view') }}\n" + rows + "\n")
    tests = [{"datamig_age_between": {"name": name, "arguments": args}}
             for name, args in (("age_today", {"min_years": 5, "max_years": 22}),
                                ("age_on_cut_off", {"min_years": 5, "max_years": 22, "as_of": CUT_OFF}))]
    (root / "models" / "people.yml").write_text(yaml.safe_dump({"version": 2, "models": [
        {"name": "people", "columns": [{"name": "born", "data_tests": tests}]}]}))


def _failures(root: Path) -> dict[str, int]:
    result = invoke(root, "build", "--quiet")
    assert result.exception is None
    runs = json.loads((root / "target" / "run_results.json").read_text())["results"]
    return {r["unique_id"].split(".")[2]: r["failures"] for r in runs if r["unique_id"].startswith("test.")}


def _expected(today: dt.date) -> dict[str, int]:
    cut = _latest(today, 8, 31)
    born = _birth_dates(today).values()
    return {"age_today": sum(not 5 <= _age(b, today) <= 22 for b in born),
            "age_on_cut_off": sum(not 5 <= _age(b, cut) <= 22 for b in born)}


@pytest.fixture
def postgres_dev(tiny_estate) -> dict:
    url = urlsplit(tiny_estate["env"]["DATAMIG_PG_ADMIN_URL"])
    return {"type": "postgres", "host": url.hostname, "port": url.port, "user": url.username,
            "password": url.password, "dbname": url.path.lstrip("/") or "postgres", "schema": "age_rule_test",
            "threads": 1}


def test_age_on_the_cut_off_in_duckdb(tmp_path):
    today = dt.date.today()
    _project(tmp_path / "p", {"type": "duckdb", "path": str(tmp_path / "w.duckdb"), "threads": 1}, today)
    got = _failures(tmp_path / "p")
    assert got == _expected(today)
    assert got["age_on_cut_off"] == 2  # the 4-year-old and the 29-year-old, whatever the day


def test_age_on_the_cut_off_in_postgres(tmp_path, postgres_dev):
    today = dt.date.today()
    _project(tmp_path / "p", postgres_dev, today)
    got = _failures(tmp_path / "p")
    assert got == _expected(today)
    assert got["age_on_cut_off"] == 2
