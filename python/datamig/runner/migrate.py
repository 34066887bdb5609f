"""`datamig migrate`: preflight -> extract -> transform (dbt build) -> validation gate ->
load -> verify -> report, each phase recorded in run-state.json so `--resume` continues
from the phase that failed."""
from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from pathlib import Path

from ..config import Config
from ..errors import DatamigError, Interrupted, MigrationFailed, NotFound
from ..extract.runs import district_of, new_run_id
from ..report.artifacts import gone_from_cert, read_cert_state
from ..runfiles import read_json_object
from ..services.termination import Terminated
from .state import PhaseTimer, RunState

log = logging.getLogger("datamig.runner")
Progress = Callable[[str, str], None]  # (phase, message)
Stop = Callable[[], bool]  # true once the caller has cancelled the run


class PhaseFailed(Exception):
    """A phase failed for a reason of the migration itself (exit 1); carries the run state."""

    def __init__(self, state: RunState, error: BaseException):
        super().__init__(str(error))
        self.state, self.error = state, error


class Migration:
    def __init__(self, cfg: Config, env: Mapping[str, str], root: Path, state: RunState,
                 progress: Progress | None = None, stop: Stop | None = None, interrupted: Stop | None = None):
        self.cfg, self.env, self.root, self.state = cfg, env, root, state
        self.out_dir = cfg.out_dir
        self.run_dir = self.out_dir / state.run_id
        self.progress = progress or (lambda phase, msg: log.info("%s: %s", phase, msg))
        self.stop = stop or (lambda: False)
        self.interrupted = interrupted or (lambda: False)
        # the graph's property types preflight read: the extract's slice needs them too, and
        # the schema procedures behind them may scan the whole graph (a resumed run reads anew)
        self.graph_types: tuple[dict, dict] | None = None

    @property
    def dry_run(self) -> bool:
        return bool(self.state.options.get("dry_run"))

    def run(self) -> RunState:
        for name in self.state.phases:
            phase = self.state.phases[name]
            if phase.status in ("done", "skipped"):
                continue
            if self.dry_run and name in ("verify",):
                phase.status = "skipped"
                continue
            if self.stop():
                return self._cancelled(name)
            if self.interrupted():  # a Ctrl-C the phase before swallowed (see cli.ctrl_c_noted)
                self._interrupt(f"before {name}")
            self.progress(name, "starting")
            try:
                with PhaseTimer(self.state, name, self.out_dir) as ph:
                    ph.summary = getattr(self, f"_{name}")() or {}
            except MigrationFailed as exc:
                self._report_anyway()
                raise PhaseFailed(self.state, exc) from None
            except KeyboardInterrupt as exc:
                self._interrupt(f"in {name}", exc)
            except Exception as exc:
                if not self.interrupted():
                    self._report_anyway()  # a store lost mid-run is a failed run too: it gets its report
                    if isinstance(exc, DatamigError):  # the run it failed, for api.migrate(phase_errors_as_results)
                        exc.run_state = self.state
                    raise
                # a Ctrl-C some library turned into its own error (a thread pool's, a driver's)
                self.state.phases[name].error = "interrupted"
                self._interrupt(f"in {name}")
        self.state.status = "dry_run" if self.dry_run else "succeeded"
        self.state.save(self.out_dir)
        self._report_anyway()  # again: the report phase's own report still read "running"
        return self.state

    def _interrupt(self, where: str, cause: KeyboardInterrupt | None = None) -> None:
        """Ctrl-C: the run recorded as interrupted (PhaseTimer marked a phase it stopped in),
        its report written, and one line saying how to go on."""
        self.state.status = "interrupted"
        self.state.save(self.out_dir)
        self._report_anyway()
        run_id = self.state.run_id
        line = f"run {run_id} stopped {where}; resume it with `datamig migrate --resume {run_id}`"
        if isinstance(cause, Terminated):
            # SIGTERM/SIGHUP to a benchmark or a test session: the process must still end (exit
            # 128 + the signal, its services stopped), not carry on as after a failed run
            raise Terminated(cause.signum, line) from None
        raise Interrupted(line) from None

    def _cancelled(self, before: str) -> RunState:
        """Its caller cancelled the run: stop between phases (a phase stopped halfway, a load
        above all, would leave more to undo), resumable from `before`."""
        self.progress(before, "cancelled before this phase")
        self.state.status = "cancelled"
        self.state.save(self.out_dir)
        self._report_anyway()
        return self.state

    def _report_anyway(self) -> None:
        """The report as the run ended (a failed migration's too: that is when people read it)."""
        try:
            from ..report.build import build_report

            build_report(self.cfg, self.state.run_id)
        except Exception as exc:  # noqa: BLE001 - the report must not hide the real failure
            log.warning("report after failure not written: %s", type(exc).__name__)

    def preflight(self) -> None:
        """The preflight phase before the run exists on disk (run() then skips it): what it
        catches is the user's to fix, and a failed check must change nothing."""
        self.progress("preflight", "starting")
        phase, started = self.state.phases["preflight"], time.monotonic()
        phase.started_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
        phase.summary = self._preflight()
        phase.status, phase.seconds = "done", round(time.monotonic() - started, 3)

    def recheck(self) -> None:
        """Before a resumed run writes its state: what the phases still to run need from the
        user (rules, salt, stores) is there, so a missing salt or a store down is one line and
        leaves the run as it was, instead of a phase recorded failed."""
        from . import preflight

        pending = {name for name, phase in self.state.phases.items() if phase.status not in ("done", "skipped")}
        if self.dry_run:
            pending.discard("verify")
        if "transform" in pending:
            preflight.check_salt(self.root)
            preflight.check_validation_rules(self.root)
        extracted = (self.run_dir / "extract" / "extraction-manifest.json").exists()  # _extract reuses it
        targets = (("prod",) if "extract" in pending and not extracted else ()) \
            + (("cert",) if pending & {"load", "verify"} else ())
        if targets:
            preflight.check_reachable(self.cfg, self.env, targets)

    # --- phases -------------------------------------------------------------------------
    def _preflight(self) -> dict:
        from . import preflight

        preflight.check_salt(self.root)
        preflight.check_validation_rules(self.root)
        stores = preflight.check_reachable(self.cfg, self.env)
        prod = preflight.check_config_names(self.cfg, self.env)
        preflight.check_district(self.cfg, self.env, self.state.district)
        checked = preflight.check_cert_schema(self.cfg, self.env, prod)
        preflight.check_models_match_prod(self.root, self.cfg, prod)
        self.graph_types = preflight.check_graph_models_match_prod(self.root, self.cfg, self.env)
        return {"stores": len(stores), "cert_tables_checked": checked}

    def _extract(self) -> dict:
        from ..extract.run import extract
        from ..transform.dbt_process import preload as preload_dbt

        if (self.run_dir / "extract" / "extraction-manifest.json").exists():
            return {"reused": True}
        preload_dbt()
        manifest = extract(self.cfg, self.env, self.state.district, self.state.run_id,
                           progress=lambda m: self.progress("extract", m), graph_types=self.graph_types)
        return {"rows": manifest["totals"]["rows"], "tables": manifest["totals"]["tables"]}

    def _transform(self) -> dict:
        from ..transform.run import transform

        report = transform(self.cfg, self.env, self.state.run_id, self.state.district,
                           progress=lambda m: self.progress("transform", m))
        return {"validation_status": report["status"], "counts": report.get("counts", {})}

    def _gate(self) -> dict:
        path = self.run_dir / "validation-report.json"
        status = read_json_object(path).get("status") if path.exists() else "MISSING"
        if status not in ("PASSED", "PASSED_WITH_WARNINGS"):
            raise MigrationFailed(f"validation {status}: nothing loaded (see {path})")
        return {"validation_status": status}

    def _load(self) -> dict:
        from ..load.run import load_run

        report = load_run(self.cfg, self.env, self.run_dir, self.state.options.get("strategy", "auto"),
                          dry_run=self.dry_run, progress=lambda m: self.progress("load", m))
        return {k: report[k] for k in ("status", "totals") if k in report}

    def _verify(self) -> dict:
        from ..verify.run import validate_migration

        result = validate_migration(self.cfg, self.env, self.state.run_id,
                                    progress=lambda m: self.progress("verify", m), root=self.root)
        if result["status"] != "VALID":
            raise MigrationFailed(f"post-load validation {result['status']}: see {self.run_dir}/post-load-validation.json")
        return {"status": result["status"]}

    def _report(self) -> dict:
        from ..report.build import build_report

        paths = build_report(self.cfg, self.state.run_id)
        return {"paths": {k: str(v) for k, v in paths.items()}}


def start(cfg: Config, env: Mapping[str, str], root: Path, district: int, dry_run: bool = False,
          strategy: str = "auto", run_id: str | None = None, progress: Progress | None = None,
          stop: Stop | None = None, interrupted: Stop | None = None) -> RunState:
    state = RunState(run_id=run_id or new_run_id(district), district=district,
                     options={"dry_run": dry_run, "strategy": strategy})
    if (cfg.out_dir / state.run_id / "run-state.json").exists():
        raise DatamigError(f"run {state.run_id} exists already: use --resume {state.run_id}")
    migration = Migration(cfg, env, root, state, progress, stop, interrupted)
    migration.preflight()  # a bad salt, a store down, CERT's drift: one line, and no run left behind
    state.claim()
    state.save(cfg.out_dir)
    return migration.run()


def resume(cfg: Config, env: Mapping[str, str], root: Path, run_id: str,
           progress: Progress | None = None, stop: Stop | None = None, asked: Mapping | None = None,
           interrupted: Stop | None = None) -> RunState:
    """Continue `run_id` from its first phase not done, with its own district and options;
    `asked`, what the caller gave besides the run (district, dry_run, strategy), must agree
    with them: they used to be ignored in silence, a dry run asked for included."""
    try:
        state = RunState.load(cfg.out_dir, run_id)
    except FileNotFoundError:
        if (cfg.out_dir / run_id).is_dir():
            raise NotFound(f"run {run_id} was not made by migrate (no run-state.json) and cannot be resumed: "
                           f"transform it with `datamig transform --district {district_of(run_id)} --run-id "
                           f"{run_id}`, then `datamig load {run_id}`") from None
        raise NotFound(f"run {run_id} not found under {cfg.out_dir}") from None
    _check_asked(state, asked or {})
    if state.status in ("succeeded", "dry_run"):  # it printed the finished run again, as if it had resumed
        done = "has succeeded" if state.status == "succeeded" else "finished as a dry run"
        raise DatamigError(f"run {run_id} {done}: nothing to resume{_since(cfg.out_dir / run_id)}")
    if state.pid is not None and state.current_status() == "running":
        raise DatamigError(f"run {run_id} is running (process {state.pid} on {state.host}): resume it once that "
                           f"process has stopped")
    redo_transform_after_failed_gate(state)
    migration = Migration(cfg, env, root, state, progress, stop, interrupted)
    migration.recheck()  # a missing salt, a store down: one line, and run-state.json unchanged
    state.claim()
    return migration.run()


def _check_asked(state: RunState, asked: Mapping) -> None:
    run = f"run {state.run_id}"
    if asked.get("district") and int(asked["district"]) != state.district:
        raise DatamigError(f"{run} is a migration of district {state.district}, not {asked['district']}: "
                           f"a resumed run keeps its district")
    if asked.get("dry_run") is False and state.options.get("dry_run"):  # said false, not left unsaid (None)
        raise DatamigError(f"{run} is a dry run: resumed, it writes nothing to CERT; resume it as one (MCP: dry_run "
                           f"true), or start a new run to write CERT")
    if asked.get("dry_run") and not state.options.get("dry_run"):
        raise DatamigError(f"{run} is not a dry run: resuming it writes to CERT; to go on, resume it without "
                           f"--dry-run (MCP: dry_run false), or start a new dry run")
    strategy = asked.get("strategy")
    if strategy and strategy != "auto" and strategy != state.options.get("strategy"):
        raise DatamigError(f"{run} loads with strategy {state.options.get('strategy')!r}, not {strategy!r}: "
                           f"a resumed run keeps its options")


def redo_transform_after_failed_gate(state: RunState) -> None:
    """A gate fails on the transform's verdict, which a resumed gate alone would read again,
    unchanged: the fix (a rule, a model, an override) takes a new transform of the same extract."""
    if state.phases["gate"].status == "failed" and state.phases["transform"].status == "done":
        state.phases["transform"].status = "pending"


def _since(run_dir: Path) -> str:
    gone = gone_from_cert(read_cert_state(run_dir))
    return f" ({gone} since; `datamig load {run_dir.name}` loads it again)" if gone else ""
