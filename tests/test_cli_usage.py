"""Usage errors (Typer's own: a bad value, a missing option, an unknown command) are one line
and exit 2 like every other error a user causes; --help stays Typer's help."""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _cli(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "COLUMNS": "200"}
    return subprocess.run([str(ROOT / ".venv/bin/datamig"), *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=120)


@pytest.mark.parametrize("args, line", [
    (("extract", "--district", "-1"), "error: --district: '-1' is not a district id (a positive whole number): "
                                      "digits 0-9 only"),
    (("extract", "--district", "0"), "error: --district: '0' is not a district id (a positive whole number): "
                                     "digits 0-9 only"),
    (("extract", "--district", "abc"), "error: --district: 'abc' is not a district id (a positive whole number): "
                                       "digits 0-9 only"),
    (("extract", "--district", "4.5"), "error: --district: '4.5' is not a district id (a positive whole number): "
                                       "digits 0-9 only"),
    (("seed-prod", "--seed", "abc"), "error: --seed: 'abc' is not a whole number: digits 0-9 only"),
    # int() read these as 42 and 4: what was typed is named instead
    (("seed-prod", "--seed", "4_2"), "error: --seed: '4_2' is not a whole number: digits 0-9 only"),
    (("select-districts", "--top", "+4"), "error: --top: '+4' is not a whole number: digits 0-9 only"),
    # '' was Path('.'): the analysis went into the working folder
    (("analyze-datastores", "--out-dir", ""), "error: --out-dir: empty: name the folder to write into"),
    (("select-districts", "--out-dir", " "), "error: --out-dir: empty: name the folder to write into"),
    # '' was Path('.'): "error: .: cannot read the config file: Is a directory"
    # load named neither the option nor refused it before looking for the run
    (("load", "mig-20990101-000000-d42", "--strategy", "bogus"),
     "error: --strategy: unknown strategy 'bogus' (insert, upsert, merge or auto)"),
    (("--config", "", "runs"), "error: --config: empty: name the config file (--config or DATAMIG_CONFIG; default "
                               "config/datamig.yaml)"),
    (("extract",), "error: Missing option '--district'."),
    (("extract", "--distrct", "3"), "error: No such option: --distrct (Possible options: --district)"),
    (("rollback",), "error: Missing argument 'RUN_ID'."),  # as its usage line and load's name it
    (("bogus",), "error: No such command 'bogus'."),
])
def test_a_usage_error_is_one_line(args, line):
    proc = _cli(*args)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert proc.stderr.strip() == line, proc.stderr
    assert proc.stdout == ""


def test_help_is_still_typers_help():
    proc = _cli("extract", "--help")
    assert proc.returncode == 0 and "Usage: datamig extract" in proc.stdout and "--district" in proc.stdout
    assert "╭─ Options" in proc.stdout and proc.stderr == ""
    bare = _cli()  # no command: the help, exit 2 as before
    assert bare.returncode == 2 and "Usage: datamig [OPTIONS] COMMAND" in bare.stdout and "error:" not in bare.stderr


def test_help_says_where_reports_go_and_when_district_is_needed():
    report = " ".join(_cli("report", "--help").stdout.split())
    assert "data/reports/<run_id>.json" not in report and "beside the runs folder" in report
    migrate = " ".join(_cli("migrate", "--help").stdout.split())
    assert "required unless --resume is given" in migrate


def test_the_load_plan_lists_every_table_label_and_relationship_type():
    from datamig.cli import plan_rows

    counts = {"strategy": "upsert", "rows": 9, "to_insert": 6, "to_update": 3, "unchanged": 0, "conflicts": 0}
    # an insert's rows CERT holds already are its conflicts: not shown as unchanged as well
    inserted = {"strategy": "insert", "rows": 22, "to_insert": 16, "to_update": 0, "unchanged": 4, "conflicts": 6}
    plan = {"stores": {"sp": {"kind": "neo4j", "nodes": {"Student": counts}, "relationships": {"ENROLLED_IN": counts}},
                       "ids": {"kind": "postgres", "tables": {"students": counts, "districts": {**counts, "rows": 1},
                                                              "staff": inserted}}}}
    assert plan_rows(plan) == [
        ["ids.districts", "upsert", "1", "6", "3", "0", "0"], ["ids.staff", "insert", "22", "16", "0", "", "6"],
        ["ids.students", "upsert", "9", "6", "3", "0", "0"],
        ["sp node Student", "upsert", "9", "6", "3", "0", "0"],
        ["sp relationship ENROLLED_IN", "upsert", "9", "6", "3", "0", "0"]]


@pytest.mark.parametrize("columns", [None, "40"])
def test_piped_output_cuts_no_run_id(tmp_path, columns):
    """`datamig runs | cat` showed `mig-20261204-031…`: off a terminal Rich laid the table out at
    80 columns (or COLUMNS) and cut what users copy."""
    from _unreachable import run_cli, work_folder

    work = work_folder(tmp_path)
    run = work / "runs" / "mig-20261204-031500-d42"
    (run / "extract").mkdir(parents=True)
    (run / "extract" / "extraction-manifest.json").write_text('{"district": 42, "tables": {}}')
    loaded_at = "2026-12-04T03:20:11.123456+00:00"
    (run / "load-report.json").write_text(f'{{"status": "LOADED", "dry_run": false, "finished_at": "{loaded_at}"}}')
    env = {k: v for k, v in os.environ.items() if k != "COLUMNS"}
    env.update({"DATAMIG_CONFIG": str(work / "datamig.yaml"), "DATAMIG_STATE_DIR": str(work / "state")})
    if columns:
        env["COLUMNS"] = columns
    proc = run_cli(env, "runs")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert run.name in proc.stdout and loaded_at in proc.stdout, proc.stdout
    assert "…" not in proc.stdout


def test_version_is_the_packages_and_h_is_help():
    from importlib.metadata import version

    proc = _cli("--version")
    assert proc.returncode == 0 and proc.stdout == f"datamig {version('datamig')}\n" and proc.stderr == ""
    for args in ((), ("load",), ("services",)):
        assert _cli(*args, "-h").stdout == _cli(*args, "--help").stdout
    assert "Usage: datamig load" in _cli("load", "-h").stdout


@pytest.mark.parametrize("args", [(), ("seed-cert",), ("migrate",), ("services",), ("services", "up")])
def test_a_flag_shows_no_value_type(args):
    """A flag takes no value: its help line has no `<bool>` (Typer's default), options that take
    one keep their type."""
    lines = _cli(*args, "--help").stdout.splitlines()
    flags = [line for line in lines if "--help" in line or "--yes " in line or "--dry-run " in line]
    assert flags and not [line for line in flags if "<bool>" in line]
    assert "<bool>" not in "\n".join(lines)
    if args == ("seed-cert",):
        assert any("--seed" in line and "<int>" in line for line in lines)
