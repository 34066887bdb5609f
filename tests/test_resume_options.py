"""`migrate --resume RUN` continues a run with its own district and options. What the caller
gives besides the run must agree with them (they were ignored in silence: an agent's default
dry run resumed a real migration into CERT), and a run whose gate failed is transformed again
(a resumed gate alone read the same verdict again)."""
from __future__ import annotations

import dataclasses
import json

import pytest

from datamig.errors import DatamigError
from datamig.runner import api
from datamig.runner.migrate import redo_transform_after_failed_gate
from datamig.runner.state import PHASES, RunState

RUN = "mig-20260301-101500-d42"


@pytest.fixture
def rcfg(cfg, tmp_path):
    return dataclasses.replace(cfg, out_dir=tmp_path / "runs")


def _saved(rcfg, statuses: dict[str, str], dry_run: bool = False, strategy: str = "auto") -> str:
    state = RunState(run_id=RUN, district=42, options={"dry_run": dry_run, "strategy": strategy}, status="failed")
    for name, status in statuses.items():
        state.phases[name].status = status
    state.save(rcfg.out_dir)
    return state.path(rcfg.out_dir).read_text()


@pytest.mark.parametrize("asked, message", [
    ({"district": 7}, f"run {RUN} is a migration of district 42, not 7: a resumed run keeps its district"),
    ({"dry_run": True}, f"run {RUN} is not a dry run: resuming it writes to CERT"),
    ({"strategy": "merge"}, f"run {RUN} loads with strategy 'upsert', not 'merge': a resumed run keeps its options"),
])
def test_what_disagrees_with_the_run_is_refused_and_changes_nothing(rcfg, tmp_path, asked, message):
    before = _saved(rcfg, {"preflight": "done", "extract": "done", "transform": "failed"}, strategy="upsert")
    args = {"district": 0, "dry_run": False, "strategy": "auto", **asked}
    with pytest.raises(DatamigError) as caught:
        api.migrate(rcfg, {}, tmp_path, args["district"], args["dry_run"], args["strategy"], resume=RUN)
    assert str(caught.value).startswith(message)
    assert (rcfg.out_dir / RUN / "run-state.json").read_text() == before


def test_a_dry_run_resumed_with_dry_run_said_false_is_refused(rcfg, tmp_path):
    """An agent resuming a dry run with dry_run false (to write CERT) got a dry run again, its
    result DRY_RUN; the CLI, whose --dry-run flag can only say yes, says nothing (None)."""
    before = _saved(rcfg, {"preflight": "done", "extract": "done", "transform": "failed"}, dry_run=True)
    with pytest.raises(DatamigError) as caught:
        api.migrate(rcfg, {}, tmp_path, 0, False, "auto", resume=RUN)
    assert str(caught.value) == (f"run {RUN} is a dry run: resumed, it writes nothing to CERT; resume it as one "
                                 "(MCP: dry_run true), or start a new run to write CERT")
    assert (rcfg.out_dir / RUN / "run-state.json").read_text() == before
    with pytest.raises(DatamigError, match="anonymization rules file not found"):  # past the option check
        api.migrate(rcfg, {}, tmp_path, 0, None, "auto", resume=RUN)


def test_what_agrees_with_the_run_goes_on_to_its_checks(rcfg, tmp_path):
    """The same district, the run's own strategy, a dry run of a dry run: past the option check,
    to the resumed phases' own checks (here the salt's, whose rules file this project root lacks)."""
    _saved(rcfg, {"preflight": "done", "extract": "done", "transform": "failed"}, dry_run=True, strategy="upsert")
    with pytest.raises(DatamigError) as caught:
        api.migrate(rcfg, {}, tmp_path, 42, True, "upsert", resume=RUN)
    assert str(caught.value) == f"{tmp_path}/config/anonymization-rules.yaml: anonymization rules file not found"


def test_a_failed_gate_is_resumed_from_the_transform():
    state = RunState(run_id=RUN, district=42, options={})
    for name, status in zip(PHASES, ("done", "done", "done", "failed")):
        state.phases[name].status = status
    redo_transform_after_failed_gate(state)
    assert [state.phases[n].status for n in PHASES[:4]] == ["done", "done", "pending", "failed"]
    failed_load = RunState(run_id=RUN, district=42, options={})
    for name, status in zip(PHASES, ("done", "done", "done", "done", "failed")):
        failed_load.phases[name].status = status
    redo_transform_after_failed_gate(failed_load)
    assert failed_load.phases["transform"].status == "done"


def test_a_failed_run_names_the_report_it_got(rcfg):
    """Its report phase never ran, so the result named no report, though one was written."""
    _saved(rcfg, {"preflight": "done", "extract": "failed"})
    state = RunState.load(rcfg.out_dir, RUN)
    assert api.result(rcfg, state)["reports"] == {}
    reports = rcfg.out_dir.parent / "reports"
    reports.mkdir()
    for suffix in ("json", "md", "html"):
        (reports / f"{RUN}.{suffix}").write_text(json.dumps({}))
    assert api.result(rcfg, state)["reports"] == {s: str(reports / f"{RUN}.{s}") for s in ("json", "md", "html")}


def test_the_result_counts_the_graph_apart_from_the_tables(rcfg):
    _saved(rcfg, {"preflight": "done", "extract": "done"})
    (rcfg.out_dir / RUN / "extract").mkdir()
    (rcfg.out_dir / RUN / "extract" / "extraction-manifest.json").write_text(json.dumps(
        {"totals": {"tables": 2, "rows": 30}, "graph": {"nodes": {"Student": {"rows": 7}, "School": {"rows": 2}},
                                                      "relationships": {"ENROLLED_IN": {"rows": 11}}}}))
    result = api.result(rcfg, RunState.load(rcfg.out_dir, RUN))
    assert (result["rows"], result["graph_items"]) == (30, 20)


def test_a_ctrl_c_python_swallowed_stops_the_run_before_its_next_phase(rcfg, tmp_path):
    """A KeyboardInterrupt raised inside a finalizer is only printed by Python: the run went on
    to its end. The Ctrl-C is noted too, and the run stops before its next phase."""
    from datamig.errors import Interrupted
    from datamig.runner.migrate import Migration

    _saved(rcfg, {"preflight": "done", "extract": "done"})
    state = RunState.load(rcfg.out_dir, RUN)
    with pytest.raises(Interrupted) as caught:
        Migration(rcfg, {}, tmp_path, state, interrupted=lambda: True).run()
    assert str(caught.value) == f"run {RUN} stopped before transform; resume it with `datamig migrate --resume {RUN}`"
    assert caught.value.exit_code == 130
    saved = RunState.load(rcfg.out_dir, RUN)
    assert saved.status == "interrupted" and saved.phases["transform"].status == "pending"


def test_a_ctrl_c_a_library_turned_into_its_own_error_still_reads_interrupted(rcfg, tmp_path):
    from datamig.errors import Interrupted
    from datamig.runner.migrate import Migration

    _saved(rcfg, {"preflight": "done", "extract": "done"})
    migration = Migration(rcfg, {}, tmp_path, RunState.load(rcfg.out_dir, RUN), interrupted=lambda: True)
    noted = iter([False, True])  # not yet when the transform begins, then noted during it
    migration.interrupted = lambda: next(noted)

    def transform():
        raise RuntimeError("cannot schedule new futures after interpreter shutdown")

    migration._transform = transform
    with pytest.raises(Interrupted, match=f"run {RUN} stopped in transform;"):
        migration.run()
    saved = RunState.load(rcfg.out_dir, RUN)
    assert saved.status == "interrupted"
    assert (saved.phases["transform"].status, saved.phases["transform"].error) == ("failed", "interrupted")
    # without a Ctrl-C the same error is the phase's failure
    _saved(rcfg, {"preflight": "done", "extract": "done"})
    migration = Migration(rcfg, {}, tmp_path, RunState.load(rcfg.out_dir, RUN))
    migration._transform = transform
    with pytest.raises(RuntimeError):
        migration.run()
    assert RunState.load(rcfg.out_dir, RUN).status == "failed"


def test_resuming_a_run_that_succeeded_says_there_is_nothing_to_resume(rcfg, tmp_path):
    """It printed the finished run again, as if it had resumed it."""
    state = RunState(run_id=RUN, district=42, options={"dry_run": False, "strategy": "auto"}, status="succeeded")
    for name in PHASES:
        state.phases[name].status = "done"
    state.save(rcfg.out_dir)
    with pytest.raises(DatamigError, match=f"^run {RUN} has succeeded: nothing to resume$"):
        api.migrate(rcfg, {}, tmp_path, 0, resume=RUN)
    (rcfg.out_dir / RUN / "load-report.json").write_text(json.dumps(
        {"status": "LOADED", "finished_at": "2026-03-01T10:20:00"}))
    (rcfg.out_dir / RUN / "rollback-report.json").write_text(json.dumps(
        {"status": "ROLLED_BACK", "finished_at": "2026-03-01T11:00:00"}))
    with pytest.raises(DatamigError, match=f"rolled back from CERT at 2026-03-01T11:00:00 since; `datamig load {RUN}` loads it again"):
        api.migrate(rcfg, {}, tmp_path, 0, resume=RUN)


def test_a_run_folder_copied_under_another_run_id_is_not_resumed_as_the_other(rcfg, tmp_path):
    """Its run-state.json names the run it was copied from: resumed, the run went on as that one and
    wrote that run's run-state.json and reports (another run's folder, changed by this resume)."""
    original = _saved(rcfg, {"preflight": "done", "extract": "done", "transform": "failed"})
    copy = "mig-20260301-101501-d42"
    (rcfg.out_dir / copy).mkdir()
    (rcfg.out_dir / copy / "run-state.json").write_text(original)
    with pytest.raises(DatamigError) as caught:
        api.migrate(rcfg, {}, tmp_path, 0, None, "auto", resume=copy)
    assert str(caught.value) == (f"{rcfg.out_dir / copy / 'run-state.json'}: the state of run {RUN}, not of {copy} "
                                 f"(a run folder renamed or copied?): resume run {RUN} itself")
    assert (rcfg.out_dir / RUN / "run-state.json").read_text() == original
    assert sorted(p.name for p in rcfg.out_dir.iterdir()) == [RUN, copy]
    assert [r["run_id"] for r in api.list_runs(rcfg)] == [RUN, copy]  # each by its folder, not RUN twice


def test_a_phase_failing_with_a_connection_error_still_gets_its_report(rcfg, tmp_path):
    """Only a MigrationFailed wrote the failed run's report: a store lost mid-run (the load's
    ConnectionFailed, or any other error) left run-state.json failed and no report at all."""
    from datamig.errors import ConnectionFailed
    from datamig.report.build import report_paths, reports_dir_of
    from datamig.runner.migrate import Migration

    _saved(rcfg, {"preflight": "done", "extract": "done", "transform": "done", "gate": "done"})
    migration = Migration(rcfg, {}, tmp_path, RunState.load(rcfg.out_dir, RUN))
    lost = "store ids: cannot connect to PostgreSQL at 127.0.0.1:5432: role is not permitted to log in"

    def load():
        raise ConnectionFailed(lost)

    migration._load = load
    with pytest.raises(ConnectionFailed):
        migration.run()
    report = json.loads(report_paths(RUN, reports_dir_of(rcfg))["json"].read_text())
    assert (report["summary"]["status"], report["summary"]["failed_phase"]) == ("FAILED", "load")
    assert f"phase load failed: {lost}" in report["errors"]


def test_resuming_a_finished_dry_run_says_there_is_nothing_to_resume(rcfg, tmp_path):
    """It returned the dry run's result again, as if it had resumed it (a review, through MCP)."""
    state = RunState(run_id=RUN, district=42, options={"dry_run": True, "strategy": "auto"}, status="dry_run")
    for name in PHASES:
        state.phases[name].status = "done" if name != "load" else "skipped"
    state.save(rcfg.out_dir)
    before = state.path(rcfg.out_dir).read_text()
    with pytest.raises(DatamigError, match=f"^run {RUN} finished as a dry run: nothing to resume$"):
        api.migrate(rcfg, {}, tmp_path, 0, resume=RUN)
    assert state.path(rcfg.out_dir).read_text() == before


@pytest.mark.parametrize("run_id", ["mig-20260301-101500-d\u0664\u0662", "mig-\uff12\uff10260301-101500-d42"])
def test_a_run_id_of_other_scripts_digits_is_no_run_id(run_id):
    from datamig.errors import NotFound
    from datamig.extract.runs import checked_run_id

    with pytest.raises(NotFound, match="is not a run id"):
        checked_run_id(run_id)
