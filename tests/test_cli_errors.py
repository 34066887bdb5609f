"""Errors a user causes, through the CLI as users meet them, with no server running: one line
naming the thing, exit 2, no secret, nothing written. Stores are pointed at 127.0.0.1:1, where
nothing listens."""
from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from dbt_common.exceptions import DbtRuntimeError

from datamig import dbt_plugin
from datamig.errors import NotFound
from datamig.extract.runs import checked_run_id
from datamig.services import envfile

from _unreachable import one_error_line, run_cli, unreachable_stores, work_folder

ROOT = Path(__file__).resolve().parents[1]
DSN_PASSWORD = "KvPassw0rd-Planted-77"
SALT = "cli-errors-salt-0123456789abcdef"


@pytest.fixture()
def work(tmp_path) -> Path:
    """A config whose runs land in tmp_path/runs, and no services.env of the checkout."""
    return work_folder(tmp_path)


def _env(work: Path, **extra: str) -> dict:
    # every store unreachable; IDS in libpq's key=value form, its password inside the setting
    stores = unreachable_stores("url-pw-1234")
    stores["PROD_IDS_URL"] = f"host=127.0.0.1 port=1 user=u password={DSN_PASSWORD} dbname=ids"
    return {**os.environ, **stores, "DATAMIG_CONFIG": str(work / "datamig.yaml"), "DATAMIG_STATE_DIR": str(work / "state"),
            "DATAMIG_SALT": SALT, "DATAMIG_RUNS_DIR": str(work / "runs"), "COLUMNS": "200", **extra}


def _cli(work: Path, *args: str, **extra: str) -> subprocess.CompletedProcess:
    return run_cli(_env(work, **extra), *args)


def _one_error_line(proc: subprocess.CompletedProcess, *named: str) -> str:
    return one_error_line(proc, (DSN_PASSWORD, SALT, "url-pw-1234"), *named)


def _nothing_written(work: Path) -> None:
    runs = work / "runs"
    assert not runs.exists() or not any(runs.iterdir()), sorted(runs.iterdir())


def test_a_key_value_setting_shows_its_address_never_its_password(work):
    proc = _cli(work, "services", "status")
    assert proc.returncode == 1
    assert "127.0.0.1:1/ids" in proc.stdout and "Connection refused" in proc.stdout
    assert DSN_PASSWORD not in proc.stdout + proc.stderr and "url-pw-1234" not in proc.stdout + proc.stderr


def test_a_failed_preflight_leaves_no_run_behind(work):
    line = _one_error_line(_cli(work, "migrate", "--district", "42", "--yes"), "store ids (PROD)", "127.0.0.1:1/ids")
    assert "Connection refused" in line
    _nothing_written(work)
    short = _cli(work, "migrate", "--district", "42", "--yes", DATAMIG_SALT="short")
    _one_error_line(short, "DATAMIG_SALT is too short: use a secret of at least 16 characters")
    _nothing_written(work)


@pytest.mark.parametrize("salt, named", [
    ("x" + " " * 15, "DATAMIG_SALT begins or ends with whitespace"),
    (" padded-salt-0123456789 ", "DATAMIG_SALT begins or ends with whitespace"),
    ("a b c d e f g h i", "DATAMIG_SALT is too short: use a secret of at least 16 characters (whitespace not counted)"),
], ids=["trailing-spaces", "padded", "spaced-out"])
def test_a_salt_whose_length_is_whitespace_is_refused_never_shown(work, salt, named):
    """Spaces counted towards the 16 characters: `x` and 15 spaces was a salt, and a padded one
    keyed other fakes than the same secret without its padding."""
    proc = _cli(work, "migrate", "--district", "42", "--yes", DATAMIG_SALT=salt)
    _one_error_line(proc, named)
    assert "padded-salt" not in proc.stdout + proc.stderr and "a b c" not in proc.stdout + proc.stderr
    _nothing_written(work)


def test_migrate_json_prints_json_on_an_error_too(work):
    proc = _cli(work, "migrate", "--district", "42", "--json")
    _one_error_line(proc, "store ids (PROD)")
    out = json.loads(proc.stdout)
    assert out["status"] == "error" and "store ids (PROD)" in out["error"]
    _nothing_written(work)


def test_brackets_in_a_message_are_printed_as_written(work):
    """Rich would read '[/x]' as a closing tag (a traceback) and '[bold]' as markup (swallowed)."""
    for bad in ("[/x]", "[bold]ids"):
        text = (work / "datamig.yaml").read_text().replace("  store: ids\n", f'  store: "{bad}"\n', 1)
        (work / "bad.yaml").write_text(text)
        proc = _cli(work, "select-districts", DATAMIG_CONFIG=str(work / "bad.yaml"))
        _one_error_line(proc, bad)
        assert "Traceback" not in proc.stderr


@pytest.mark.parametrize("args", [
    ("extract", "--district", "42", "--run-id", "../outside"),
    ("transform", "--district", "42", "--run-id", "../../etc"),
    ("load", "--run", "../outside"),
    ("validate-migration", "../../etc"),
    ("rollback", "../outside", "--yes"),
    ("migrate", "--resume", "mig-1/../../x", "--yes"),
    ("report", "../outside"),
    # "" is not "no run id": it started a new migration of district 0, a new extract, the newest extract
    ("migrate", "--resume", "", "--yes"),
    ("migrate", "--resume", "", "--district", "42", "--yes"),
    ("extract", "--district", "42", "--run-id", ""),
    ("transform", "--district", "42", "--run-id", ""),
])
def test_a_run_id_cannot_reach_outside_the_runs_folder(work, args):
    _one_error_line(_cli(work, *args), "is not a run id")
    _nothing_written(work)
    assert not (work / "outside").exists()


def test_loading_a_run_that_does_not_exist_says_so(work):
    _one_error_line(_cli(work, "load", "--run", "mig-20990101-000000-d42"), "run mig-20990101-000000-d42 not found")
    _one_error_line(_cli(work, "load", "mig-20990101-000000-d42"), "run mig-20990101-000000-d42 not found")


def test_load_takes_one_run_positional_or_as_an_option(work):
    _one_error_line(_cli(work, "load"), "give the run to load: datamig load RUN_ID")
    _one_error_line(_cli(work, "load", "mig-20990101-000000-d42", "--run", "mig-20990101-000001-d42"),
                    "two runs given (mig-20990101-000000-d42 and --run mig-20990101-000001-d42)")
    _nothing_written(work)


def test_checked_run_id():
    assert checked_run_id("mig-20261203-101500-d42") == "mig-20261203-101500-d42"
    for bad in ("../x", "mig-20261203-101500-d42/..", "mig-20261203-101500-d42\n", "", "latest-d42"):
        with pytest.raises(NotFound, match="is not a run id"):
            checked_run_id(bad)


@pytest.mark.parametrize("text, secret", [
    ("at host=h port=1 password=Secret-One dbname=x", "Secret-One"),
    ("at host=h PASSWORD = 'se cret two' dbname=x", "se cret two"),
    ("at postgresql://u:p%40ss-Three@h/db", "p%40ss-Three"),
    ("at bolt://neo4j:four-4444@127.0.0.1:7687", "four-4444"),
])
def test_redact_removes_passwords_inside_connection_settings(text, secret):
    assert secret not in envfile.redact(text, {}) and "***" in envfile.redact(text, {})


def test_redact_removes_a_settings_password_wherever_a_message_shows_it():
    env = {"PROD_IDS_URL": "host=h password=alone-5555 dbname=ids", "CERT_IDS_URL": "postgresql://u:p%40ss-six@h/db"}
    text = envfile.redact("libpq said alone-5555 failed; then p@ss-six and p%40ss-six", env)
    assert "alone-5555" not in text and "p@ss-six" not in text and "p%40ss-six" not in text
    assert envfile.redact("host=h dbname=ids visible", env) == "host=h dbname=ids visible"


def test_dbt_run_of_a_district_never_extracted_is_one_clear_error(work):
    proc = _dbt_run(work, "{district: 43}")
    assert proc.returncode != 0
    assert f"run folder {work / 'runs'}/latest-d43 not found" in proc.stdout
    assert "Traceback" not in proc.stdout + proc.stderr and "Cannot open file" not in proc.stdout
    _nothing_written(work)


def test_dbt_run_with_a_district_var_that_is_no_district_id_says_so(work):
    """`{district: abc}` said "run folder latest-dabc not found", as if the run were missing."""
    proc = _dbt_run(work, "{district: abc}")
    assert proc.returncode != 0
    assert "--vars district: 'abc' is not a district id (a positive whole number)" in proc.stdout
    assert "run folder" not in proc.stdout and "Traceback" not in proc.stdout + proc.stderr
    _nothing_written(work)


def test_dbt_run_with_a_null_district_var_says_it_is_no_district_id(work):
    """`{district: null}` renders as None, which the plugin took for the lint target's absent
    district: the error was "run folder latest-dNone not found", as if the run were missing."""
    proc = _dbt_run(work, "{district: null}")
    assert proc.returncode != 0
    assert "--vars district: 'None' is not a district id (a positive whole number)" in proc.stdout, proc.stdout
    assert "run folder" not in proc.stdout and "Traceback" not in proc.stdout + proc.stderr
    _nothing_written(work)


@pytest.mark.parametrize("value", ["abc", "0", "-3", "4.5", "042", "True", "None", "1 or 1=1", " 42", "9" * 20])
def test_the_plugin_refuses_a_district_var_that_is_no_district_id(value):
    with pytest.raises(DbtRuntimeError, match=re.escape(f"--vars district: {value!r} is not a district id")):
        dbt_plugin._check_district_var(value)


def test_the_plugin_takes_a_district_id_and_no_district_at_all():
    for value in (42, "42", "1", str(2**63 - 1), None):  # None: the lint target names none
        dbt_plugin._check_district_var(value)


def _dbt_run(work, dbt_vars: str, command: str = "run") -> subprocess.CompletedProcess:
    return subprocess.run([str(ROOT / ".venv/bin/dbt"), command, "--project-dir", str(ROOT), "--profiles-dir", str(ROOT),
                           "--target-path", str(work / "target"), "--log-path", str(work / "logs"),
                           "--vars", dbt_vars], cwd=ROOT, env=_env(work), capture_output=True, text=True, timeout=600)


@pytest.mark.parametrize("command", ["build", "test", "show"])
def test_dbt_on_the_lint_target_of_anything_but_parsing_is_one_line(work, command):
    """The lint target (no salt: a random key; no run folder; an in-memory DuckDB) built models
    from the newest extract and tested an empty database: `dbt test --target lint` was ~435
    "table does not exist" errors, `dbt build -s ids__states` six, naming neither the target."""
    proc = subprocess.run([str(ROOT / ".venv/bin/dbt"), command, "--select", "ids__states", "--target", "lint",
                           "--project-dir", str(ROOT), "--profiles-dir", str(ROOT),
                           "--target-path", str(work / "target"), "--log-path", str(work / "logs")],
                          cwd=ROOT, env=_env(work), capture_output=True, text=True, timeout=600)
    assert proc.returncode != 0
    assert (f"datamig.dbt_plugin: target 'lint' only parses and lints (no salt, no run folder): dbt {command} "
            "runs on the default target, dev") in proc.stdout, proc.stdout
    assert "does not exist" not in proc.stdout and "Traceback" not in proc.stdout + proc.stderr
    _nothing_written(work)


def test_dbt_run_directly_takes_the_runs_verdict_away(work):
    """A direct `dbt build --empty` after the gate rewrote final/ (every file empty), and `datamig
    load` loaded it on the old PASSED: a build replaces the final/ the report judged, so the
    report goes, and the load refuses the run until the transform judges it again."""
    run = work / "runs" / "mig-20990101-000000-d42"
    (run / "extract").mkdir(parents=True)
    (run / "extract" / "extraction-manifest.json").write_text('{"district": 42, "tables": {}}')
    (run / "validation-report.json").write_text('{"status": "PASSED"}')
    _dbt_run(work, "{district: 42, run_id: mig-20990101-000000-d42}")
    assert not (run / "validation-report.json").exists() and (run / "final").is_dir()
    _one_error_line(_cli(work, "load", run.name), f"run {run.name} is not transformed (validation-report.json not found)")


def test_dbt_directly_on_a_run_whose_extract_never_finished_is_one_line(work):
    """A run stopped during its extract holds only run.log: the district check and the drift
    gate passed it (they read the manifest it lacks) and dbt failed in ~940 lines, leaving a
    warehouse in the folder."""
    run = work / "runs" / "mig-20990101-000000-d55"
    run.mkdir(parents=True)
    (run / "run.log").write_text("2099-01-01 00:00:00 INFO datamig.extract: started\n")
    proc = _dbt_run(work, "{district: 42, run_id: mig-20990101-000000-d55}")
    assert proc.returncode != 0
    assert ("datamig.dbt_plugin: run mig-20990101-000000-d55 has no extract (its extract/extraction-manifest.json "
            "is missing: the extract did not finish); extract the district again") in proc.stdout, proc.stdout
    assert "Traceback" not in proc.stdout + proc.stderr
    assert sorted(p.name for p in run.iterdir()) == ["run.log"]


@pytest.mark.parametrize("asked", [("--select", "stg_ids__guardians"), ("--select", "int_ids__students_anonymized"),
                                   ("--inline", "select * from {{ source('prod_ids', 'students') }}"),
                                   ("--inline", "select * from read_parquet('data/runs/latest-d42/extract/ids/"
                                                "students.parquet')")],
                         ids=["staging", "intermediate", "inline-source", "inline-extract-file"])
def test_dbt_show_of_prods_values_is_refused(work, asked):
    """`dbt show --select stg_ids__guardians` printed real phones and emails, and dbt kept them in
    logs/dbt.log; a mart (anonymized) is what an analyst may show."""
    run = work / "runs" / "mig-20990101-000000-d42"
    (run / "extract").mkdir(parents=True)
    (run / "extract" / "extraction-manifest.json").write_text('{"district": 42, "tables": {}}')
    proc = subprocess.run([str(ROOT / ".venv/bin/dbt"), "show", *asked, "--project-dir", str(ROOT),
                           "--profiles-dir", str(ROOT), "--target-path", str(work / "target"), "--log-path",
                           str(work / "logs"), "--vars", "{district: 42, run_id: mig-20990101-000000-d42}"],
                          cwd=ROOT, env=_env(work), capture_output=True, text=True, timeout=600)
    assert proc.returncode != 0
    assert ("datamig.dbt_plugin: dbt show of a staging or intermediate model or a source would print PROD's real "
            "values") in proc.stdout, proc.stdout
    assert "Traceback" not in proc.stdout + proc.stderr


@pytest.mark.parametrize("command", ["build", "test"])
def test_dbt_on_a_run_another_process_has_open_is_one_line(work, command):
    """A `dbt build` beside a running `datamig transform` of the same run failed on DuckDB's lock in
    ~220 lines of traceback, after removing the run's verdict."""
    run = work / "runs" / "mig-20990101-000000-d42"
    (run / "extract").mkdir(parents=True)
    (run / "extract" / "extraction-manifest.json").write_text('{"district": 42, "tables": {}}')
    (run / "validation-report.json").write_text('{"status": "PASSED"}')
    warehouse = run / "warehouse.duckdb"
    hold = "import duckdb, sys; c = duckdb.connect(sys.argv[1]); print('open', flush=True); sys.stdin.read()"
    holder = subprocess.Popen([str(ROOT / ".venv/bin/python"), "-c", hold, str(warehouse)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "open"
        before = sorted(p.name for p in run.iterdir())
        proc = _dbt_run(work, "{district: 42, run_id: mig-20990101-000000-d42}", command=command)
    finally:
        holder.communicate("", timeout=60)
    assert proc.returncode != 0
    assert (f"datamig.dbt_plugin: run mig-20990101-000000-d42 is in use: process {holder.pid} has its "
            "warehouse.duckdb open") in proc.stdout, proc.stdout
    assert "Traceback" not in proc.stdout + proc.stderr
    assert sorted(p.name for p in run.iterdir()) == before and (run / "validation-report.json").exists()


def test_dbt_test_of_a_run_never_built_is_one_line(work):
    """A new extract moves latest-dN: `dbt test` then failed every test (~430 "table does not
    exist" errors, 5,000 lines)."""
    run = work / "runs" / "mig-20990101-000000-d42"
    (run / "extract").mkdir(parents=True)
    (run / "extract" / "extraction-manifest.json").write_text('{"district": 42, "tables": {}}')
    proc = _dbt_run(work, "{district: 42, run_id: mig-20990101-000000-d42}", command="test")
    assert proc.returncode != 0
    assert ("datamig.dbt_plugin: run mig-20990101-000000-d42 is not built: `dbt build` builds and tests it "
            "(or `datamig transform`)") in proc.stdout, proc.stdout
    assert sorted(p.name for p in run.iterdir()) == ["extract"]


def test_dbt_test_of_a_run_only_documented_is_one_line(work):
    """`dbt docs generate` (or `dbt compile`) on a new run opens, so creates, an empty
    warehouse.duckdb: `dbt test` then took the run for built and failed every test (~5,200 lines
    of "table does not exist")."""
    import duckdb

    run = work / "runs" / "mig-20990101-000000-d42"
    (run / "extract").mkdir(parents=True)
    (run / "extract" / "extraction-manifest.json").write_text('{"district": 42, "tables": {}}')
    (run / "final" / "ids").mkdir(parents=True)   # as the plugin prepares it for any command
    duckdb.connect(str(run / "warehouse.duckdb")).close()
    before = sorted(p.relative_to(run) for p in run.rglob("*"))
    proc = _dbt_run(work, "{district: 42, run_id: mig-20990101-000000-d42}", command="test")
    assert proc.returncode != 0
    assert ("datamig.dbt_plugin: run mig-20990101-000000-d42 is not built: `dbt build` builds and tests it "
            "(or `datamig transform`)") in proc.stdout, proc.stdout
    assert " ERROR " not in proc.stdout and sorted(p.relative_to(run) for p in run.rglob("*")) == before


def test_dbt_test_under_another_salt_than_the_builds_is_one_line(work):
    """The text-leak tests join the output's hashed emails, phones and SSNs with int_pii_values'
    keyed hashes: under another salt none matched, and a planted leak passed."""
    import duckdb

    run = work / "runs" / "mig-20990101-000000-d42"
    (run / "extract").mkdir(parents=True)
    (run / "extract" / "extraction-manifest.json").write_text('{"district": 42, "tables": {}}')
    _dbt_run(work, "{district: 42, run_id: mig-20990101-000000-d42}")    # no Parquet to read: its models fail
    assert (run / "salt-check").is_file()
    duckdb.sql(f"copy (select 1 as id) to '{run / 'final' / 'ids.parquet'}' (format parquet)")  # as if built
    proc = _dbt_run(work, "{district: 42, run_id: mig-20990101-000000-d42}", command="test")
    assert "is not the one" not in proc.stdout
    other = "another-salt-0123456789abcdef"
    recorded = (run / "salt-check").read_text()
    # and a build of one model (it would read the other salt's int_pii_values and record its own)
    for command in ("test", "run"):
        proc = subprocess.run([str(ROOT / ".venv/bin/dbt"), command, "--project-dir", str(ROOT), "--profiles-dir",
                               str(ROOT), "--target-path", str(work / "target"), "--log-path", str(work / "logs"),
                               "--vars", "{district: 42, run_id: mig-20990101-000000-d42}", "-s", "ids__students"],
                              cwd=ROOT, env=_env(work, DATAMIG_SALT=other), capture_output=True, text=True, timeout=600)
        assert proc.returncode != 0
        assert ("datamig.dbt_plugin: the salt is not the one run mig-20990101-000000-d42 was built with: its models "
                "and leak tests would mix two keys; export the build's salt, or build every model again under this "
                "one (datamig transform --district 42 --run-id mig-20990101-000000-d42)") in proc.stdout, proc.stdout
        assert " PASS " not in proc.stdout and SALT not in proc.stdout and other not in proc.stdout
        assert (run / "salt-check").read_text() == recorded


def test_dbt_run_directly_checks_the_run_id_and_its_district_as_the_cli_does(work):
    """`--vars '{run_id: "../analysis"}'` built a warehouse outside the runs folder, and a run id
    of district 42 with `district: 43` overwrote that run's final/, tested as district 43."""
    (work / "analysis").mkdir()
    proc = _dbt_run(work, '{district: 42, run_id: "../analysis"}')
    assert proc.returncode != 0 and "--vars run_id: '../analysis' is not a run id" in proc.stdout
    assert list((work / "analysis").iterdir()) == []
    run = work / "runs" / "mig-20990101-000000-d42"
    (run / "extract").mkdir(parents=True)
    (run / "extract" / "extraction-manifest.json").write_text('{"district": 42, "tables": {}}')
    proc = _dbt_run(work, "{district: 43, run_id: mig-20990101-000000-d42}")
    assert proc.returncode != 0 and "run mig-20990101-000000-d42 is an extract of district 42, not 43" in proc.stdout
    assert "Traceback" not in proc.stdout + proc.stderr
    assert sorted(p.name for p in run.iterdir()) == ["extract"]   # no warehouse, no final/


def test_dbt_build_of_a_run_loaded_into_cert_is_refused(work):
    """`dbt build --vars '{district: 42}'` rebuilt the newest run even when it was loaded into
    CERT: its final/ no longer what CERT held, and validate-migration still said VALID."""
    run = work / "runs" / "mig-20990101-000000-d42"
    (run / "extract").mkdir(parents=True)
    (run / "extract" / "extraction-manifest.json").write_text('{"district": 42, "tables": {}}')
    (run / "load-report.json").write_text('{"status": "LOADED", "dry_run": false, "finished_at": "2099-01-01T00:01"}')
    (work / "runs" / "latest-d42").symlink_to(run.name)
    before = sorted(p.name for p in run.iterdir())
    proc = _dbt_run(work, "{district: 42}")
    assert proc.returncode != 0
    assert ("run mig-20990101-000000-d42 is loaded into CERT: building it again would replace the final/ "
            "that CERT holds") in proc.stdout and "datamig rollback mig-20990101-000000-d42" in proc.stdout
    assert "Traceback" not in proc.stdout + proc.stderr
    assert sorted(p.name for p in run.iterdir()) == before  # no warehouse, no final/
    # rolled back since: CERT holds none of it, and the run may be built again
    (run / "rollback-report.json").write_text('{"status": "ROLLED_BACK", "finished_at": "2099-01-01T00:02"}')
    proc = _dbt_run(work, "{district: 42}")
    assert "is loaded into CERT" not in proc.stdout
    assert (run / "final").is_dir()  # made by the plugin once past its checks


def test_dbt_build_directly_runs_the_drift_gate(work):
    """The transform's drift gate ran only under `datamig transform`: a direct `dbt build` dropped
    a column new in PROD from final/ in silence (the staging models select what they know)."""
    run = work / "runs" / "mig-20990101-000000-d42"
    (run / "extract").mkdir(parents=True)
    columns = [{"name": name, "pg_type": "text", "type": "VARCHAR", "nullable": True} for name in ("id", "nickname2")]
    manifest = {"district": 42, "tables": {"ids.students": {"store": "ids", "table": "students",
                                                            "path": "ids/students.parquet", "columns": columns}}}
    (run / "extract" / "extraction-manifest.json").write_text(json.dumps(manifest))
    (run / "extract" / "ids").mkdir()  # the file the manifest lists (a missing one is named before the drift)
    pq.write_table(pa.table({"id": ["1"], "nickname2": ["x"]}), run / "extract" / "ids" / "students.parquet")
    proc = _dbt_run(work, "{district: 42, run_id: mig-20990101-000000-d42}")
    assert proc.returncode != 0
    assert ("datamig.dbt_plugin: schema drift: ids.students.nickname2 is not in the dbt models: run `datamig "
            "scaffold` and classify it") in proc.stdout
    assert "Traceback" not in proc.stdout + proc.stderr
    assert sorted(p.name for p in run.iterdir()) == ["extract"]   # no warehouse, no final/


def test_a_malformed_settings_file_is_one_line_naming_its_line(work):
    (work / "state" / "services.env").write_text("# written by hand\nPROD_IDS_URL='host=h password=unclosed-9999\n")
    proc = _cli(work, "services", "status")
    _one_error_line(proc, "services.env:2", "PROD_IDS_URL")
    assert "unclosed-9999" not in proc.stdout + proc.stderr and "Traceback" not in proc.stderr
    # another error (a missing config) is still the one reported: printing it reads the settings too
    _one_error_line(_cli(work, "services", "status", DATAMIG_CONFIG=str(work / "none.yaml")), "none.yaml")


@pytest.mark.parametrize("args", [("extract", "--district", "0"), ("transform", "--district", "-1"),
                                  ("migrate", "--district", "0", "--yes"), ("select-districts", "--top", "0")])
def test_a_district_or_count_below_one_is_a_usage_error(work, args):
    line = _one_error_line(_cli(work, *args), args[1])
    if args[1] == "--district":
        assert line == f"error: --district: {args[2]!r} is not a district id (a positive whole number): digits 0-9 only"
    else:
        assert line == f"error: {args[1]}: Input should be greater than or equal to 1"
    _nothing_written(work)


@pytest.mark.parametrize("args", [
    ("--config", "{bad}", "migrate", "--district", "42"),     # the config file's YAML is broken
    ("migrate", "--district", "42", "--strategy", "bogus"),
    ("migrate",),                                             # no --district (nor --resume)
    ("migrate", "--resume", ""),
    ("migrate", "--district", "abc"),                         # a usage error Typer itself finds
])
def test_migrate_json_prints_json_on_every_user_error(work, args):
    (work / "bad.yaml").write_text("extract:\n  out_dir: [\n")
    args = tuple(a.replace("{bad}", str(work / "bad.yaml")) for a in args)
    proc = _cli(work, *args, "--json")
    line = _one_error_line(proc)
    out = json.loads(proc.stdout)
    assert out == {"status": "error", "error": line.removeprefix("error: ")}
    _nothing_written(work)


def test_an_emoji_code_in_an_error_is_printed_as_written(work):
    """Rich turned 'datamig.yaml:100: ...' into 'datamig.yaml💯 ...'."""
    bad = work / "bad.yaml"
    bad.write_text("".join(f"# line {i}\n" for i in range(1, 100)) + "extract: out_dir: x\n")
    line = _one_error_line(_cli(work, "select-districts", DATAMIG_CONFIG=str(bad)), f"{bad}:100: ")
    assert "\U0001f4af" not in line


def _seed_env(work: Path, **extra: str) -> dict:
    env = _env(work, **extra)
    if "DATAMIG_PG_ADMIN_URL" not in extra:
        env.pop("DATAMIG_PG_ADMIN_URL", None)
    return env


@pytest.mark.parametrize("command", ["seed-prod", "seed-cert"])
def test_seeding_without_a_reachable_cluster_is_one_line(work, command):
    def seed(**extra):
        return subprocess.run([str(ROOT / ".venv/bin/datamig"), command], cwd=ROOT, env=_seed_env(work, **extra),
                              capture_output=True, text=True, timeout=300)

    proc = seed()
    _one_error_line(proc, "DATAMIG_PG_ADMIN_URL is not set")
    proc = seed(DATAMIG_PG_ADMIN_URL="postgresql://postgres:admin-pw-4321@127.0.0.1:1/postgres")
    line = _one_error_line(proc, "DATAMIG_PG_ADMIN_URL", "127.0.0.1:1", "Connection refused")
    assert "admin-pw-4321" not in proc.stdout + proc.stderr and "Traceback" not in proc.stderr, line


def test_markup_and_emoji_codes_in_a_table_are_printed_as_written():
    """A phase error quotes users' text: '[/x]' was a Rich markup error, ':100:' an emoji."""
    from datamig import cli

    text = "rules.yaml:100: pattern '[/x]' and [bold]name"
    phase = {"status": "failed", "seconds": 1.0, "error": text}
    with cli.console.capture() as captured:
        cli._print_run({"run_id": "mig-20260301-101500-d42", "status": "failed", "phases": {"load": phase},
                        "reports": {}})
    out = captured.get()
    for part in ("rules.yaml:100:", "'[/x]'", "[bold]name"):
        assert part in out, out
    assert "\U0001f4af" not in out


def test_a_runs_folder_that_is_a_file_is_one_line(work):
    (work / "runs").write_text("not a folder")
    proc = _cli(work, "extract", "--district", "42")
    _one_error_line(proc, str(work / "runs"))
    assert "Traceback" not in proc.stderr and (work / "runs").read_text() == "not a folder"


@pytest.mark.parametrize("relative, section", [("datamig.yaml", "district:"), ("anonymization-rules.yaml", "settings:"),
                                               ("validation-rules.yaml", "settings:")])
def test_a_key_given_twice_is_named_with_both_lines(tmp_path, relative, section):
    """YAML keeps the last of two equal keys without a word: a setting written twice took the
    second, and an error about it pointed at the first."""
    from datamig.anonymize.rules import load_rules
    from datamig.config import load_config
    from datamig.errors import ConfigError
    from datamig.scaffold.validation import load_validation_rules

    text = (ROOT / "config" / relative).read_text()
    lines = text.splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith(section)) + 1
    lines.insert(at + 1, lines[at])   # the section's first key, once more
    path = tmp_path / relative
    path.write_text("\n".join(lines) + "\n")
    load = {"datamig.yaml": load_config, "anonymization-rules.yaml": load_rules,
            "validation-rules.yaml": load_validation_rules}[relative]
    with pytest.raises(ConfigError) as err:
        load(path)
    key = lines[at].split(":")[0].strip()
    assert str(err.value) == f"{path}:{at + 2}: key {key!r} given twice in one mapping (first at line {at + 1})"


def test_a_setting_libpq_cannot_read_is_never_quoted(work):
    """libpq's parse errors quote the setting ('missing "=" after "secretword"'): its password."""
    proc = _cli(work, "services", "status", PROD_HCP1_URL="host=127.0.0.1 password=my secretword",
                PROD_HCP2_URL="postgresql://reader:s3cr%zzt@127.0.0.1:1/hcp2")
    assert proc.returncode == 1
    assert "secretword" not in proc.stdout + proc.stderr and "s3cr" not in proc.stdout + proc.stderr
    assert proc.stdout.count("libpq cannot read the connection setting") == 2


@pytest.mark.parametrize("password", ["Slash/Secret77", "At@Secret88"], ids=["slash", "at"])
@pytest.mark.parametrize("command", [("services", "status"), ("migrate", "--district", "42", "--yes"),
                                     ("analyze-datastores",)], ids=["status", "migrate", "analyze"])
def test_a_url_whose_password_holds_a_slash_or_at_sign_never_shows_it(work, command, password):
    """libpq ends a URL's password at its first '/' and its host at its first '@': `u:Pw/Secret@h`
    reads as host u, port Pw, database Secret@h, and every message naming that address showed
    the password (whole or in part). Now one line says what to escape, naming no part of it."""
    proc = _cli(work, *command, PROD_IDS_URL=f"postgresql://reader:{password}@127.0.0.1:1/ids")
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    for part in (*password.replace("@", "/").split("/"), "reader:"):
        assert part not in out, out
    assert "its user or password holds an unescaped '/' or '@' (write them as %2F and %40)" in out, out


@pytest.mark.parametrize("text, secret, kept", [
    ("postgresql://:empty-user-pw@h/db", "empty-user-pw", "@h/db"),
    ("postgresql://h/db?sslmode=require&password=in-query-77&application_name=x", "in-query-77", "&application_name=x"),
])
def test_redact_reads_passwords_in_every_url_form(text, secret, kept):
    out = envfile.redact(text, {})
    assert secret not in out and "***" in out and out.endswith(kept)   # the rest of the setting stays
    env = {"CERT_X_URL": "postgresql://h/db?password=alone-in-query&sslmode=require"}
    assert envfile.redact("then alone-in-query appeared", env) == "then *** appeared"


def test_a_yaml_alias_that_refers_to_itself_is_not_a_hang(tmp_path):
    from datamig.yaml_lines import parse_config

    raw, _ = parse_config(tmp_path / "x.yaml", "a: &x [*x]\nb: 1\n")
    assert raw["b"] == 1


def test_loading_the_validation_rules_does_not_import_pandas():
    """A regex bound as a parameter makes DuckDB import pandas (~0.5 s a load)."""
    code = ("import sys; from pathlib import Path; from datamig.scaffold.validation import load_validation_rules; "
            "load_validation_rules(Path('config/validation-rules.yaml')); print('pandas' in sys.modules)")
    out = subprocess.run([str(ROOT / ".venv/bin/python"), "-c", code], cwd=ROOT, capture_output=True, text=True,
                         timeout=120)
    assert out.stdout.strip() == "False", out.stderr


def test_resuming_a_run_no_migrate_made_says_how_to_go_on(work):
    """A standalone extract's run is listed by `datamig runs`, but --resume said it was not found."""
    run = work / "runs" / "mig-20990101-000000-d42"
    (run / "extract").mkdir(parents=True)
    (run / "extract" / "extraction-manifest.json").write_text('{"district": 42, "tables": {}}')
    before = sorted(p.relative_to(work) for p in work.rglob("*"))
    line = _one_error_line(_cli(work, "migrate", "--resume", run.name, "--yes"),
                           f"run {run.name} was not made by migrate (no run-state.json) and cannot be resumed",
                           f"`datamig transform --district 42 --run-id {run.name}`", f"`datamig load {run.name}`")
    assert "not found" not in line and sorted(p.relative_to(work) for p in work.rglob("*")) == before


def test_a_phase_stopped_by_an_error_names_the_run_to_resume(work, services):
    """A migrate whose phase a store lost mid-run stopped said only the store's error: the run it
    made, recorded failed and resumable, went unnamed (the MCP tool returned it)."""
    run_id = "mig-20260301-101500-d42"
    run = work / "runs" / run_id
    run.mkdir(parents=True)
    phases = {p: {"status": "done" if p in ("preflight", "extract", "transform", "gate") else "pending",
                  "seconds": None, "started_at": None, "error": None, "summary": {}}
              for p in ("preflight", "extract", "transform", "gate", "load", "verify", "report")}
    (run / "run-state.json").write_text(json.dumps({
        "run_id": run_id, "district": 42, "options": {"dry_run": False, "strategy": "auto"}, "status": "failed",
        "created_at": "2026-03-01T10:15:00+00:00", "phases": phases}))
    (run / "validation-report.json").write_text(json.dumps({"status": "PASSED"}))  # and no final/ to load
    proc = run_cli({**_env(work), **services, "DATAMIG_STATE_DIR": os.environ["DATAMIG_STATE_DIR"]},
                   "migrate", "--resume", run_id, "--yes")
    line = _one_error_line(proc, f"run {run_id}: no final/ folder")
    assert line.endswith(f"(run {run_id} failed; once fixed, resume it: datamig migrate --resume {run_id})"), line


@pytest.mark.parametrize("command", [("select-districts", "--out-dir"), ("analyze-datastores", "--out-dir")],
                         ids=["select", "analyze"])
@pytest.mark.parametrize("timeout, why", [
    ("abc", "its connect_timeout is not a whole number of seconds"),
    # psycopg takes any whole number; libpq's int does not
    ("99999999999", "its connect_timeout is out of the range libpq reads (-2147483648 to 2147483647 seconds)")])
def test_a_connect_timeout_libpq_cannot_read_is_one_line(work, services, command, timeout, why):
    """psycopg reads a URL's connect_timeout itself: `?connect_timeout=abc` was a traceback in
    select-districts (its one connection without a timeout of its own), and passed elsewhere.
    99999999999 passed both, and the extract's scanner (libpq) then refused it."""
    out_dir = work / "out"
    url = services["PROD_HCP1_URL"] + f"?connect_timeout={timeout}"
    proc = run_cli({**_env(work), **services, "DATAMIG_STATE_DIR": os.environ["DATAMIG_STATE_DIR"],
                    "PROD_HCP1_URL": url}, *command, str(out_dir))
    assert proc.returncode == 2, proc.stdout + proc.stderr
    secrets = (DSN_PASSWORD, SALT, *(v for k, v in services.items() if k.endswith("PASSWORD")))
    line = one_error_line(proc, secrets, "store hcp1: cannot connect to PostgreSQL at ")
    assert line.endswith(f": {why}"), line
    assert not out_dir.exists()


@pytest.mark.parametrize("timeout, refused", [("10", False), (" 7 ", False), ("-1", False), ("0", False),
                                              ("abc", True), ("2.5", True), ("", True)])
def test_connect_timeout_is_read_as_libpq_reads_it(timeout, refused):
    from datamig.pg_address import BAD_TIMEOUT, why_unreadable

    url = f"postgresql://u:pw@127.0.0.1:5432/db?connect_timeout={timeout.replace(' ', '%20')}"
    assert (why_unreadable(url) == BAD_TIMEOUT) is refused


@pytest.mark.parametrize("timeout", ["2147483647", "-2147483648", "2147483648", "-2147483649", "99999999999"])
def test_connect_timeout_is_in_the_range_libpq_reads(timeout):
    """libpq reads connect_timeout into a C int; psycopg takes any whole number. Beyond that range
    the extract's scanner (libpq, in DuckDB) refused the URL after psycopg had connected with it.
    Judged here by libpq itself: the scanner connecting to a port nothing listens on."""
    import duckdb

    from datamig.extract.workspace import _load_postgres
    from datamig.pg_address import BIG_TIMEOUT, why_unreadable

    url = f"postgresql://u@127.0.0.1:1/db?connect_timeout={timeout}"
    db = duckdb.connect()
    _load_postgres(db)
    with pytest.raises(duckdb.Error) as libpq:
        db.execute(f"ATTACH '{url}' AS x (TYPE postgres, READ_ONLY)")
    libpq_refuses = "invalid integer value" in str(libpq.value)
    assert libpq_refuses is (timeout in ("2147483648", "-2147483649", "99999999999"))
    assert (why_unreadable(url) == BIG_TIMEOUT) is libpq_refuses
