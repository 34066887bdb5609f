"""Errors a user causes with what they give or leave behind, through the CLI and the MCP server
as users meet them: one line naming the thing as given, exit 2, nothing changed. A run's final
file gone, a run state edited to another district or option, a district id int() or YAML read
as another number, an output folder that is a file; and a run whose verdict a direct `dbt build`
took away, listed as it now stands. Tests marked `services` meet the real test estate (PostgreSQL
and Neo4j reachable, so the refusal is what stops the command); the others point every store at
127.0.0.1:1, where nothing listens."""
from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import anyio
import psycopg
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from _unreachable import one_error_line, run_cli, unreachable_stores, work_folder
from test_mcp import _refused_call, _session

ROOT = Path(__file__).resolve().parents[1]
SALT = "input-errors-salt-0123456789abcdef"
URL_PASSWORD = "url-pw-Planted-5150"
RUN = "mig-20990101-000000-d42"
PHASES = ("preflight", "extract", "transform", "gate", "load", "verify", "report")

pytestmark = pytest.mark.timeout(600)


@pytest.fixture()
def work(tmp_path) -> Path:
    return work_folder(tmp_path)


def _env(work: Path, services: dict | None = None, **extra: str) -> dict:
    """The settings of `services` (the state folder the fixture made), else every store unreachable."""
    stores = services if services is not None else unreachable_stores(URL_PASSWORD)
    state = os.environ["DATAMIG_STATE_DIR"] if services is not None else str(work / "state")
    return {**os.environ, **stores, "DATAMIG_CONFIG": str(work / "datamig.yaml"), "DATAMIG_SALT": SALT,
            "DATAMIG_STATE_DIR": state, "DATAMIG_RUNS_DIR": str(work / "runs"), "COLUMNS": "200", **extra}


def _cli(work: Path, *args: str, services: dict | None = None, **extra: str) -> subprocess.CompletedProcess:
    return run_cli(_env(work, services, **extra), *args)


def _one_error_line(proc: subprocess.CompletedProcess, *named: str) -> str:
    return one_error_line(proc, (SALT, URL_PASSWORD), *named)


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _state(run: Path, district=42, options: dict | None = None, done=PHASES[:4], status: str = "failed") -> None:
    phases = {p: {"status": "done" if p in done else "pending", "seconds": 1.0 if p in done else None,
                  "started_at": None, "error": None, "summary": {}} for p in PHASES}
    run.mkdir(parents=True, exist_ok=True)
    (run / "run-state.json").write_text(json.dumps({
        "run_id": run.name, "district": district, "options": options or {"dry_run": False, "strategy": "auto"},
        "status": status, "created_at": "2099-01-01T00:00:00+00:00", "phases": phases}))


def _run_missing_a_final_file(work: Path) -> Path:
    """RUN extracted (ids.districts and ids.schools), validated, its final/ids/schools.parquet gone."""
    run = work / "runs" / RUN
    (run / "extract").mkdir(parents=True)
    (run / "final" / "ids").mkdir(parents=True)
    tables = {f"ids.{t}": {"store": "ids", "table": t} for t in ("districts", "schools")}
    (run / "extract" / "extraction-manifest.json").write_text(json.dumps({"district": 42, "tables": tables,
                                                                              "totals": {"rows": 2, "tables": 2}}))
    (run / "validation-report.json").write_text(json.dumps({"status": "PASSED", "district": 42}))
    pq.write_table(pa.table({"id": [42]}), run / "final" / "ids" / "districts.parquet")
    return run


# --- 1. a final file gone ----------------------------------------------------------------------

def test_loading_a_run_whose_final_file_is_gone_is_one_line_naming_it(work):
    """It was exit 1 (a migration that failed), while a final file damaged was the user's error, exit 2."""
    run = _run_missing_a_final_file(work)
    before = _files(run)
    for args in (("load", RUN), ("load", RUN, "--dry-run")):
        _one_error_line(_cli(work, *args), f"run {RUN}: final/ids/schools.parquet is missing (1 of 2 extracted")
        assert _files(run) == before


def _cert_holds(services: dict, run_id: str) -> bool:
    """CERT's ids database has a ledger naming `run_id` (what any load, a failed one too, begins with)."""
    with psycopg.connect(services["CERT_IDS_URL"]) as conn:
        if conn.execute("SELECT to_regclass('datamig.runs') IS NULL").fetchone()[0]:
            return False
        return conn.execute("SELECT count(*) FROM datamig.runs WHERE run_id = %s", (run_id,)).fetchone()[0] > 0


def test_resuming_a_run_whose_final_file_is_gone_names_it_and_writes_nothing_to_cert(work, services):
    """A resumed load met the gone file as a failed migration (exit 1, the run's table, no line);
    now it is the user's error, as `datamig load` says it, and MCP's resume names the file too."""
    run = _run_missing_a_final_file(work)
    _state(run)
    line = _one_error_line(_cli(work, "migrate", "--resume", RUN, "--yes", services=services),
                           "final/ids/schools.parquet is missing", f"datamig migrate --resume {RUN}")
    assert "Traceback" not in line and not _cert_holds(services, RUN)
    assert not (run / "load-report.json").exists()

    async def main():
        extra = {**services, "DATAMIG_STATE_DIR": os.environ["DATAMIG_STATE_DIR"], "DATAMIG_SALT": SALT}
        async with _session(work, extra) as client:
            return await client.call_tool("migrate", {"resume": RUN, "dry_run": False})

    result = anyio.run(main)
    assert not result.is_error, result.content[0].text  # a failed phase is the run's result
    error = result.structured_content["phases"]["load"]["error"]
    assert error.startswith(f"run {RUN}: final/ids/schools.parquet is missing") and "\n" not in error
    assert not _cert_holds(services, RUN) and not (run / "load-report.json").exists()


# --- 2. `datamig runs` after a direct dbt build --------------------------------------------------

def _dbt_build(work: Path, run_id: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(ROOT / ".venv/bin/dbt"), "build", "--project-dir", str(ROOT), "--profiles-dir",
                           str(ROOT), "--target-path", str(work / "target"), "--log-path", str(work / "logs"),
                           "--vars", f"{{district: 42, run_id: {run_id}}}"],
                          cwd=ROOT, env=_env(work), capture_output=True, text=True, timeout=600)


def _rows(stdout: str) -> dict[str, list[str]]:
    """The runs table's rows by run id."""
    cells = ([c.strip() for c in line.strip("│ ").split("│")] for line in stdout.splitlines() if "│ mig-" in line)
    return {row[0]: row[1:] for row in cells}


def test_runs_lists_a_migrated_run_whose_verdict_a_dbt_build_took_away_as_unvalidated(work):
    """`datamig runs` and MCP's list_runs said `succeeded` (read from run-state.json) for a run a
    direct `dbt build` had rebuilt, its validation report gone, which `datamig load` refused."""
    built, fine, failed = RUN, "mig-20990101-000001-d42", "mig-20990101-000002-d42"
    for run_id, verdict in ((built, "PASSED"), (fine, "PASSED"), (failed, "FAILED")):
        run = work / "runs" / run_id
        _state(run, done=PHASES, status="succeeded")
        (run / "extract").mkdir()
        (run / "extract" / "extraction-manifest.json").write_text('{"district": 42, "tables": {}}')
        (run / "validation-report.json").write_text(json.dumps({"status": verdict}))
    assert _rows(_cli(work, "runs").stdout)[built][1] == "succeeded"
    _dbt_build(work, built)
    assert not (work / "runs" / built / "validation-report.json").exists()

    listed = _cli(work, "runs")
    assert listed.returncode == 0, listed.stderr
    rows = _rows(listed.stdout)
    assert rows[built][1] == "unvalidated" and rows[failed][1] == "unvalidated" and rows[fine][1] == "succeeded"
    assert (f"{built}: validation-report.json is gone since the migrate validated it (a dbt build in the run "
            f"folder?): a load refuses the run until `datamig transform --district 42 --run-id {built}`") \
        in listed.stdout
    assert f"{failed}: validation-report.json says FAILED since the migrate validated it" in listed.stdout
    _one_error_line(_cli(work, "load", built), f"run {built} is not transformed")

    async def main():
        async with _session(work) as client:
            return await client.call_tool("list_runs", {})

    runs = {r["run_id"]: r for r in anyio.run(main).structured_content["runs"]}
    assert (runs[built]["status"], runs[failed]["status"], runs[fine]["status"]) == \
        ("unvalidated", "unvalidated", "succeeded")
    assert "validation-report.json is gone" in runs[built]["note"] and "note" not in runs[fine]


# --- 3. a run state edited ---------------------------------------------------------------------

@pytest.mark.parametrize("change, named", [
    ({"district": 7}, ("district 7, but run " + RUN + " is a run of district 42",)),
    ({"district": "42"}, ("district '42', but run",)),
    ({"options": {"dry_run": False, "strategy": "fast"}}, ("options.strategy 'fast' is not a load strategy",)),
    ({"options": {"dry_run": "no", "strategy": "auto"}}, ("options.dry_run 'no' is not true or false",)),
], ids=["another-district", "district-as-text", "strategy", "dry-run"])
def test_resuming_a_run_state_edited_to_another_district_or_option_is_refused(work, services, change, named):
    """A run-state.json edited (or copied from another run) to district 7 was resumed as a run of
    district 7 under run id ...-d42; an option of another kind went on to the load."""
    run = work / "runs" / RUN
    _state(run, done=PHASES[:4])
    state = json.loads((run / "run-state.json").read_text())
    (run / "run-state.json").write_text(json.dumps({**state, **change}))
    before = _files(run)
    _one_error_line(_cli(work, "migrate", "--resume", RUN, "--yes", services=services),
                    str(run / "run-state.json"), *named)
    assert _files(run) == before and not _cert_holds(services, RUN)
    listed = _cli(work, "runs")  # still listed, from what its folder holds
    assert listed.returncode == 0 and RUN in listed.stdout


# --- 4. a district id written otherwise than in plain digits ------------------------------------

@pytest.mark.parametrize("value", ["42_0", " 42", "42 ", "+42", "\u0664\u0662", "042"])
@pytest.mark.parametrize("command", ["extract", "transform", "migrate"])
def test_a_district_not_in_plain_digits_is_refused_naming_what_was_given(work, command, value):
    """int() read '42_0' as district 420 (and ' 42', '+42', '٤٢' as 42): the errors that followed
    named 420, or the command went on with a district nobody typed."""
    proc = _cli(work, command, "--district", value, *(("--yes",) if command == "migrate" else ()))
    _one_error_line(proc, f"--district: {value!r} is not a district id (a positive whole number): digits 0-9 only")
    assert not (work / "runs").exists()


def test_an_extract_under_a_run_id_of_another_district_is_refused(work):
    """`extract --district 7 --run-id ...-d42` made a run of district 7 that every later step (the
    latest-d7 link, the hints, resume) read as district 42's."""
    _one_error_line(_cli(work, "extract", "--district", "7", "--run-id", RUN),
                    f"--run-id {RUN} names district 42, not 7 (--district)")
    assert not (work / "runs").exists()


@pytest.mark.parametrize("value", ["42_0", "0x2a"])
def test_dbt_vars_district_that_yaml_reads_as_another_number_is_refused(work, value):
    """dbt reads --vars as YAML, whose integers take '42_0' (420) and '0x2a' (42): the profile
    named the run folder latest-d420, and the error named district 420."""
    proc = subprocess.run([str(ROOT / ".venv/bin/dbt"), "run", "--project-dir", str(ROOT), "--profiles-dir",
                           str(ROOT), "--target-path", str(work / "target"), "--log-path", str(work / "logs"),
                           "--vars", f"{{district: {value}}}"],
                          cwd=ROOT, env=_env(work), capture_output=True, text=True, timeout=600)
    assert proc.returncode != 0
    assert f"--vars district: {value!r} is not a district id (a positive whole number)" in proc.stdout, proc.stdout
    assert "run folder" not in proc.stdout and "Traceback" not in proc.stdout + proc.stderr
    assert not (work / "runs").exists()


def test_an_mcp_district_with_a_fraction_is_refused(tmp_path):
    """pydantic's lax mode took 42.0 for district 42."""
    text = _refused_call(tmp_path, "migrate", {"district": 42.0, "dry_run": True})
    assert text.endswith("migrate: district: Input should be a valid integer, not a number (42.0)"), text


# --- 5. an output folder that is a file ---------------------------------------------------------

@pytest.mark.parametrize("args, folder, setting", [
    (("extract", "--district", "42"), "runs", "extract.out_dir"),
    (("migrate", "--district", "42", "--yes"), "runs", "extract.out_dir"),
    (("runs",), "runs", "extract.out_dir"),
    (("report", RUN), "reports", "the reports folder beside extract.out_dir"),
    (("analyze-datastores", "--out-dir", "{work}/out"), "out", "--out-dir"),
    (("select-districts", "--out-dir", "{work}/out/sub"), "out", "--out-dir"),
    (("services", "status"), "state-file", "DATAMIG_STATE_DIR"),
])
def test_an_output_folder_that_is_a_file_is_one_line_naming_the_setting(work, args, folder, setting):
    """The OS's bare "PATH: File exists" (or "Not a directory"), naming no setting, and for an
    analysis only once it had read the whole estate."""
    if folder == "reports":
        (work / "runs" / RUN).mkdir(parents=True)
    (work / folder).write_text("not a folder")
    args = tuple(a.replace("{work}", str(work)) for a in args)
    extra = {"DATAMIG_STATE_DIR": str(work / folder)} if setting == "DATAMIG_STATE_DIR" else {}
    before = _files(work)
    line = _one_error_line(_cli(work, *args, **extra), f"{setting}")
    assert "a file, not a folder" in line and str(work / folder) in line, line
    assert _files(work) == before


def test_mcp_tools_name_a_runs_or_reports_folder_that_is_a_file(tmp_path):
    (tmp_path / "reports").write_text("not a folder")
    (tmp_path / "runs" / RUN).mkdir(parents=True)

    async def calls():
        async with _session(tmp_path) as client:
            report = await client.call_tool("get_report", {"run_id": RUN})
            (tmp_path / "runs" / RUN).rmdir()
            (tmp_path / "runs").rmdir()
            (tmp_path / "runs").write_text("not a folder")
            return report, await client.call_tool("list_runs", {})

    report, runs = anyio.run(calls)
    for result, folder in ((report, "reports"), (runs, "runs")):
        assert result.is_error
        text = result.content[0].text
        assert "\n" not in text and f"{tmp_path / folder} is a file, not a folder" in text, text
    assert (tmp_path / "reports").read_text() == "not a folder"
