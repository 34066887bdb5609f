"""The operations users, CI and agents run, as plain functions returning JSON-able dicts.
The CLI prints them; the MCP server returns them as structured results."""
from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

from ..config import Config
from ..errors import DatamigError
from ..extract.runs import checked_run_id
from ..runfiles import read_json_object, read_json_or_none
from . import migrate as migration
from .state import list_runs as _list_runs

Progress = Callable[[str, str], None]


def analyze_datastores(cfg: Config, env: Mapping[str, str], out_dir: Path = Path("data/analysis")) -> dict:
    from ..analyze.run import analyze

    return analyze(cfg, env, out_dir)


def select_districts(cfg: Config, env: Mapping[str, str], top: int | None = None,
                     out_dir: Path = Path("data/manifests")) -> dict:
    from ..select.run import select_districts as run

    return run(cfg, env, out_dir, top)


def migrate(cfg: Config, env: Mapping[str, str], root: Path, district: int, dry_run: bool | None = None,
            strategy: str = "auto", resume: str | None = None, progress: Progress | None = None,
            stop: migration.Stop | None = None, interrupted: migration.Stop | None = None,
            phase_errors_as_results: bool = False) -> dict:
    """Runs every phase; a phase failure is recorded in the result (status "failed"), a usage,
    config or connection error raises DatamigError. Once `stop()` is true the run ends before
    its next phase (status "cancelled", resumable). `dry_run` None: not said (a new run is not
    a dry run; a resumed run keeps what it was). `phase_errors_as_results`: a DatamigError that
    stopped a phase (a store lost mid-run) is the failed run's result too, not raised: an agent
    learns the run it can resume (the CLI keeps its exit 2 for a connection error)."""
    try:
        if resume is not None:  # "" is no run id, not a new run
            asked = {"district": district, "dry_run": dry_run, "strategy": strategy}
            state = migration.resume(cfg, env, root, checked_run_id(resume), progress, stop, asked, interrupted)
        else:
            state = migration.start(cfg, env, root, district, bool(dry_run), strategy, progress=progress, stop=stop,
                                    interrupted=interrupted)
    except migration.PhaseFailed as failed:
        state = failed.state
    except DatamigError as exc:
        state = getattr(exc, "run_state", None)  # None: stopped before the run existed (preflight)
        if state is None or not phase_errors_as_results:
            raise
    return result(cfg, state)


def _written_reports(cfg: Config, run_id: str) -> dict[str, str]:
    """The report a failed or stopped run got as it ended (its report phase never ran)."""
    from ..report.build import report_paths, reports_dir_of

    paths = report_paths(run_id, reports_dir_of(cfg))
    return {kind: str(path) for kind, path in paths.items() if path.exists()}


def result(cfg: Config, state) -> dict:
    run_dir = cfg.out_dir / state.run_id
    out = state.to_summary()
    extracted = read_json_or_none(run_dir / "extract" / "extraction-manifest.json")
    if extracted is not None:
        out["rows"] = extracted["totals"]["rows"]  # the tables'; the graph's items are counted apart
        graph = extracted.get("graph") or {}
        out["graph_items"] = sum(e["rows"] for kind in ("nodes", "relationships")
                                 for e in (graph.get(kind) or {}).values())
    report = state.phases["report"].summary.get("paths") if "report" in state.phases else None
    out["reports"] = report or _written_reports(cfg, state.run_id)
    out["run_dir"] = str(run_dir)
    return out


def validate_migration(cfg: Config, env: Mapping[str, str], run_id: str) -> dict:
    from ..verify.run import validate_migration as run

    return run(cfg, env, checked_run_id(run_id))


def rollback(cfg: Config, env: Mapping[str, str], run_id: str, force: bool = False) -> dict:
    from ..load.rollback import rollback_run

    return rollback_run(cfg, env, cfg.out_dir, checked_run_id(run_id), force=force)


def get_report(cfg: Config, run_id: str, root: Path | None = None) -> dict:
    """The run's report, built afresh: a report written when the run ended would not tell a
    later load or rollback (building one takes a fraction of a second)."""
    from ..report.build import build_report

    run_id = checked_run_id(run_id)  # a run id names a file: '../x' must reach none
    return read_json_object(build_report(cfg, run_id, root=root)["json"])


def list_runs(cfg: Config) -> list[dict]:
    return _list_runs(cfg.out_dir)
