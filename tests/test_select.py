"""select-districts: the formulas of domain-facts.md, the filters, pilots, and a real run on
the tiny estate writing the manifest and the report."""
from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from datamig.select.run import select_districts
from datamig.select.scoring import DistrictMetrics, Filters, rank

ROOT = Path(__file__).resolve().parents[1]


def metrics(district, records, updates=0, students=6000, schools=12, completeness=90.0, priority=50.0):
    return DistrictMetrics(district=district, name=f"D{district}", students=students, schools=schools, staff=10,
                           total_records=records, updates_30d=updates, completeness=completeness,
                           business_priority=priority)


def test_score_formula():
    m = metrics(1, records=500_000, updates=5_000, completeness=80.0, priority=70.0)
    # size 50, activity 50, completeness 80, priority 70
    assert m.scores() == {"size": 50.0, "activity": 50.0, "score": round(0.4 * 50 + 0.3 * 50 + 0.2 * 80 + 0.1 * 70, 2)}
    assert metrics(2, records=5_000_000, updates=50_000).scores()["size"] == 100.0


def test_size_classes_and_filters():
    assert metrics(1, 700_000).size_class() == "large"
    assert metrics(1, 300_000).size_class() == "medium"
    assert metrics(1, 299_999).size_class() == "small"
    failed = metrics(1, 10_000, students=10, schools=1, completeness=50).failed_filters(Filters())
    assert len(failed) == 5


def test_rank_picks_one_pilot_per_class():
    ms = [metrics(1, 800_000, 100), metrics(2, 900_000, 200), metrics(3, 400_000, 100), metrics(4, 100_000, 100),
          metrics(5, 100_000, 0)]
    result = rank(ms, Filters(), top=3)
    assert result["pilots"] == {"large": 2, "medium": 3, "small": 4}
    assert result["recommended"] == [2, 1, 3]
    assert 5 not in result["recommended"]


def test_select_on_tiny_estate(tiny_estate, cfg, tmp_path):
    result = select_districts(cfg, tiny_estate["env"], tmp_path, top=5)
    by_id = {r["district"]: r for r in result["districts"]}
    assert 42 in by_id and len(by_id) >= 5
    d42 = by_id[42]
    assert d42["students"] > 0 and d42["schools"] > 0 and d42["total_records"] > d42["students"]
    assert d42["updates_30d"] > 0  # measured back from the newest update (selection.as_of: latest)
    assert 0 < d42["completeness"] <= 100
    assert set(d42["records_by_store"]) == {"ids", "hcp1", "hcp2", "adb"}
    manifest = json.loads((tmp_path / "district-manifest.json").read_text())
    assert manifest["districts"] == result["districts"]
    report = (tmp_path / "district-selection-report.md").read_text()
    assert "| 42 |" in report and "completeness" in report


def test_a_report_with_no_district_eligible_says_why():
    from datamig.select.run import report_markdown

    result = rank([metrics(1, 100, 100), metrics(2, 200, 0)], Filters(), top=3)
    report = report_markdown(result)
    assert result["recommended"] == []
    assert ("Recommended: none: no district passes the filters (the eligible column says which each fails; "
            "`selection.filters` in config/datamig.yaml sets them)") in report
    assert "| 2 |" in report and "no: " in report
    assert "Recommended: 1" in report_markdown(rank([metrics(1, 100_000, 100)], Filters(), top=3))


@pytest.mark.parametrize("old, new, named", [
    ("ids.schools: [id, district_id, name, state]", "ids.schools: [id, district_id, nosuch, state]",
     "selection.required_fields.ids.schools.2: ids.schools has no column 'nosuch'"),
    ("ids.schools: [id, district_id, name, state]", "ids.nosuch: [id]",
     "selection.required_fields.ids.nosuch: no table 'ids.nosuch' in PROD"),
    ("students: ids.students, schools", "students: ids.studnets, schools",
     "selection.counts.students: no table 'ids.studnets' in PROD"),
    ("name_column: name", "name_column: nmae", "selection.name_column: ids.districts has no column 'nmae'"),
    ("business_priority_column: business_priority", "business_priority_column: priority",
     "selection.business_priority_column: ids.districts has no column 'priority'"),
    ("updated_at_columns: [updated_at]", "updated_at_columns: [updated]",
     "selection.updated_at_columns.0: no table of PROD has a column 'updated'"),
])
def test_a_selection_name_prod_lacks_is_one_line_naming_the_setting(tiny_estate, tmp_path, old, new, named):
    """A required field PROD lacks was DuckDB's Binder Error traceback, exit 1; a misspelt counts
    table, name, priority or updated-at column was skipped in silence (counted 0, not scored), exit 0."""
    text = (ROOT / "config" / "datamig.yaml").read_text()
    assert text.count(old) == 1
    (tmp_path / "datamig.yaml").write_text(text.replace(old, new))
    env = {**os.environ, **tiny_estate["env"], "DATAMIG_CONFIG": str(tmp_path / "datamig.yaml")}
    result = subprocess.run([str(ROOT / ".venv/bin/datamig"), "select-districts", "--out-dir", str(tmp_path / "out")],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stderr.strip().splitlines() == [f"error: {tmp_path / 'datamig.yaml'}:{_line(text, old)}: {named}"]
    assert not (tmp_path / "out").exists()


def _line(text: str, old: str) -> int:
    return text[:text.index(old)].count("\n") + 1


def test_the_cli_table_says_which_filters_a_district_fails(tiny_estate, tmp_path):
    """'recommended: none ... (the eligible column says which each fails' over a column that
    said only 'no' (the Markdown report said why; the terminal did not)."""
    env = {**os.environ, **tiny_estate["env"], "COLUMNS": "250"}
    result = subprocess.run([str(ROOT / ".venv/bin/datamig"), "select-districts", "--out-dir", str(tmp_path / "out")],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    row = next(line for line in result.stdout.splitlines() if line.startswith("│ 42 "))
    assert "no: students < 5,000" in row and "schools < 10" in row, row
