"""The project's table materialization (macros/materializations/table.sql) on a small dbt
project: it replaces a table, fails without losing the previous one, replaces a view of the
same name, exports what it just built, and refuses what it does not implement."""
from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from _tiny_dbt import invoke, write_project
from datamig.anonymize.sqlrender import MACRO_DIR

MODEL = """
{{ config(materialized='table', post_hook="copy (select * from {{ this }}) to '" ~ var('out') ~ "' (format parquet)") }}
{% if var('fail', false) %}select error('the model failed') as x{% else %}select {{ var('x') }} as x{% endif %}
"""


@pytest.fixture
def project(tmp_path) -> Path:
    root = tmp_path / "proj"
    write_project(root, "table_check", MACRO_DIR / "materializations",
                  {"type": "duckdb", "path": str(root / "w.duckdb"), "threads": 1})
    (root / "models" / "t.sql").write_text(MODEL)
    return root


def _run(root: Path, callbacks: list | None = None, **dbt_vars):
    dbt_vars.setdefault("out", str(root / "t.parquet"))
    return invoke(root, "run", "--quiet", "--vars", repr(dbt_vars), callbacks=callbacks)


def _table(root: Path) -> list | None:
    """[type, rows] of the relation `t`, None if there is none."""
    with duckdb.connect(str(root / "w.duckdb")) as db:  # the config of dbt's still-cached handle
        kind = db.execute("SELECT table_type FROM information_schema.tables WHERE table_name = 't'").fetchone()
        return kind and [kind[0], db.execute("SELECT x FROM t").fetchall()]


def test_a_table_model_is_built_replaced_and_exported(project):
    assert _run(project, x=1).success
    assert _table(project) == ["BASE TABLE", [(1,)]]
    assert _run(project, x=2).success
    assert _table(project) == ["BASE TABLE", [(2,)]]
    assert duckdb.sql(f"SELECT x FROM '{project / 't.parquet'}'").fetchall() == [(2,)]   # the post-hook saw the new one


def test_the_export_runs_in_the_statement_that_builds_the_table(project):
    """One query fewer per table: dbt's per-query Python (events, the log, the cursor) was ~3 ms
    of each mart's time under the GIL."""
    queries = []
    result = _run(project, [lambda e: e.info.name == "SQLQuery" and queries.append(e.data.sql)], x=4)
    assert result.success
    model = [q for q in queries if "create or replace table" in q or "copy (" in q]
    assert len(model) == 1 and "copy (select * from" in model[0]
    assert duckdb.sql(f"SELECT x FROM '{project / 't.parquet'}'").fetchall() == [(4,)]


def test_a_failing_export_leaves_the_previous_table(project):
    assert _run(project, x=5).success
    failed = _run(project, x=6, out=str(project / "no-such-dir" / "t.parquet"))
    assert not failed.success
    assert _table(project) == ["BASE TABLE", [(5,)]]


def test_a_failing_model_leaves_the_previous_table(project):
    assert _run(project, x=7).success
    failed = _run(project, fail=True)
    assert not failed.success
    assert _table(project) == ["BASE TABLE", [(7,)]]


def test_a_view_of_the_same_name_is_replaced_by_the_table(project):
    with duckdb.connect(str(project / "w.duckdb")) as db:
        db.execute("CREATE VIEW t AS SELECT 0 AS x")
    assert _run(project, x=3).success
    assert _table(project) == ["BASE TABLE", [(3,)]]


def test_a_model_asking_for_what_it_does_not_implement_is_stopped(project):
    (project / "models" / "t.sql").write_text("{{ config(materialized='table', sorted_by='x') }} select 1 as x")
    result = _run(project, x=1)
    assert not result.success
    assert "sorting" in result.result.results[0].message
    assert _table(project) is None
