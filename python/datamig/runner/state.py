"""`run-state.json`: what each phase of a run did, so `--resume` continues from the phase
that failed and `datamig runs` can list runs with their status."""
from __future__ import annotations

import os
import socket
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from ..errors import DatamigError
from ..extract.runs import RUN_ID, district_of
from ..report.artifacts import VALIDATION as VALIDATION_REPORT, read_cert_state, read_run
from ..report.stepwise import state_of
from ..runfiles import read_json_object, read_json_or_none, write_json

PHASES = ("preflight", "extract", "transform", "gate", "load", "verify", "report")
# a phase-by-phase run's status: the last of its phases done
PAST = {"extract": "extracted", "transform": "transformed", "load": "loaded", "verify": "verified"}
# load/runfolder.py's LOADABLE and load/strategy.py's STRATEGIES: importing the loader takes 1.8 s
LOADABLE = ("PASSED", "PASSED_WITH_WARNINGS")
STRATEGIES = ("auto", "insert", "upsert", "merge")


@dataclass
class Phase:
    status: str = "pending"  # pending | running | done | failed | skipped
    seconds: float | None = None
    started_at: str | None = None
    error: str | None = None
    summary: dict = field(default_factory=dict)


@dataclass
class RunState:
    run_id: str
    district: int
    options: dict
    status: str = "running"  # running | succeeded | failed | dry_run | cancelled | interrupted
    created_at: str = field(default_factory=lambda: datetime.now(timezone.utc).isoformat(timespec="seconds"))
    phases: dict[str, Phase] = field(default_factory=lambda: {p: Phase() for p in PHASES})
    # The process running it (set by start and resume): a "running" run whose process is gone was
    # interrupted (killed, or its MCP server stopped), and is listed so, not as running for ever.
    pid: int | None = None
    host: str | None = None

    def claim(self) -> None:
        self.status, self.pid, self.host = "running", os.getpid(), socket.gethostname()

    def current_status(self) -> str:
        """`status`, or "interrupted" for a running run whose process on this host is gone."""
        gone = self.status == "running" and process_gone(self.pid, self.host)
        return "interrupted" if gone else self.status

    def path(self, out_dir: Path) -> Path:
        return out_dir / self.run_id / "run-state.json"

    def save(self, out_dir: Path) -> None:
        write_json(self.path(out_dir), asdict(self))

    @classmethod
    def load(cls, out_dir: Path, run_id: str) -> "RunState":
        """FileNotFoundError when the run has no state; DatamigError naming the file when it is
        not one (cut short, or edited by hand into another shape)."""
        path = out_dir / run_id / "run-state.json"
        data = read_json_object(path)
        try:
            phases = {name: Phase(**p) for name, p in data.pop("phases").items()}
            state = cls(**data, phases=phases)
        except (KeyError, TypeError, AttributeError) as exc:
            raise DatamigError(f"{path}: not a datamig run state ({type(exc).__name__}: {exc})") from None
        if state.run_id != run_id:  # a folder renamed or copied: resumed, it wrote the other run's folder
            raise DatamigError(f"{path}: the state of run {state.run_id}, not of {run_id} (a run folder renamed "
                               f"or copied?): resume run {state.run_id} itself")
        if problem := _trusted_fields_problem(state):
            raise DatamigError(f"{path}: {problem}")
        return state

    def to_summary(self) -> dict:
        return {"run_id": self.run_id, "district": self.district, "status": self.current_status(),
                "phases": {n: {"status": p.status, "seconds": p.seconds, "error": p.error}
                           for n, p in self.phases.items()}}


def _trusted_fields_problem(state: RunState) -> str | None:
    """What a resume would take from the file without asking, told when it cannot be the run's: a
    district edited (or the file copied from another run) extracted and loaded another district
    under this run id; an option of another kind ran the load with it or stopped it half way."""
    named = district_of(state.run_id)
    if type(state.district) is not int or state.district != named:  # not isinstance: True is an int too
        return (f"district {state.district!r}, but run {state.run_id} is a run of district {named} (edited, or "
                f"copied from another run?): a run keeps the district it was made for")
    if not isinstance(state.options, dict):
        return f"options {state.options!r} are not a mapping"
    strategy, dry_run = state.options.get("strategy", "auto"), state.options.get("dry_run", False)
    if strategy not in STRATEGIES:
        return f"options.strategy {strategy!r} is not a load strategy (one of: {', '.join(STRATEGIES)})"
    if not isinstance(dry_run, bool):
        return f"options.dry_run {dry_run!r} is not true or false"
    return None


def process_gone(pid: int | None, host: str | None) -> bool:
    """The process `pid` on `host` is known to have ended (only this host's can be told)."""
    if pid is None or host != socket.gethostname():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:  # alive, another user's
        pass
    return False


class PhaseTimer:
    """Context for one phase: marks it running, then done or failed with its error line."""

    def __init__(self, state: RunState, name: str, out_dir: Path):
        self.state, self.name, self.out_dir = state, name, out_dir
        self.phase = state.phases[name]

    def __enter__(self) -> Phase:
        self.started = time.monotonic()
        self.phase.status, self.phase.error = "running", None
        self.phase.started_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
        self.state.save(self.out_dir)
        return self.phase

    def __exit__(self, exc_type, exc, tb) -> bool:
        self.phase.seconds = round(time.monotonic() - self.started, 3)
        if exc is None:
            self.phase.status = "done"
        elif isinstance(exc, KeyboardInterrupt):  # Ctrl-C: not the phase's failure, resumable
            self.phase.status, self.phase.error = "failed", "interrupted"
            self.state.status = "interrupted"
        else:
            self.phase.status = "failed"
            self.phase.error = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            self.state.status = "failed"
        self.state.save(self.out_dir)
        return False


def list_runs(out_dir: Path) -> list[dict]:
    """Every run folder: a migrate's from its run-state.json, a standalone extract's or
    transform's from what it holds; each with where the run stands in CERT, because a
    standalone `load` or `rollback` changes that after the migrate that made the run ended."""
    runs = []
    for path in sorted(p for p in out_dir.glob("mig-*") if p.is_dir() and RUN_ID.fullmatch(p.name)):
        try:
            summary = _verdict_now(path, RunState.load(out_dir, path.name).to_summary())
        except (DatamigError, OSError):
            summary = _summary_from_folder(path)
        summary["cert"] = read_cert_state(path)
        runs.append(summary)
    return runs


def _verdict_now(path: Path, summary: dict) -> dict:
    """A migrate's run as its folder stands now: its gate passed on a validation report that a
    `dbt build` run in the folder since has taken away (or a transform since has failed) is no
    longer validated, and a load refuses it; listed `succeeded`, it read as ready to load."""
    if (summary["phases"].get("gate") or {}).get("status") != "done":
        return summary
    report = read_json_or_none(path / VALIDATION_REPORT)
    status = report.get("status") if isinstance(report, dict) else None
    if status in LOADABLE:
        return summary
    again = f"`datamig transform --district {summary['district']} --run-id {path.name}` validates it again"
    if not (path / VALIDATION_REPORT).exists():
        why = f"{VALIDATION_REPORT} is gone since the migrate validated it (a dbt build in the run folder?)"
    elif status is None:
        why = f"{VALIDATION_REPORT} is no readable verdict since the migrate validated it"
    else:
        why = f"{VALIDATION_REPORT} says {status} since the migrate validated it"
    return {**summary, "status": "unvalidated", "note": f"{why}: a load refuses the run until {again}"}


def _summary_from_folder(path: Path) -> dict:
    """A run no migrate recorded, made phase by phase (extract, transform, load,
    validate-migration): its status is the last phase done, or failed, read from the artifacts
    each phase left; a run with no extract (a failed new run keeps only its run.log) is
    incomplete."""
    state = state_of(read_run(path.parent, path.name))
    if state is None:
        return {"run_id": path.name, "district": district_of(path.name), "status": "incomplete",
                "phases": {n: {"status": "pending", "seconds": None, "error": None} for n in ("extract", "transform")}}
    phases = state["phases"]
    done = [name for name, phase in phases.items() if phase["status"] == "done"]
    failed = any(phase["status"] == "failed" for phase in phases.values())
    status = "failed" if failed else PAST[done[-1]]
    return {"run_id": path.name, "district": district_of(path.name), "status": status,
            "phases": {n: {"status": p["status"], "seconds": p["seconds"], "error": p["error"]}
                       for n, p in phases.items()}}
