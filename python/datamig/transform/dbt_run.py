"""`dbt build` of one run, in process, through dbt's programmatic runner.

The project and the profiles are the checkout's (profiles.yml, target dev). dbt runs inside the
run folder with DATAMIG_RUN_DIR="." and --vars {district}: the warehouse, the extract and final/
are paths relative to it. So every run of a district parses to the same manifest, and dbt's
partial parsing (a full parse of the project costs ~8 s of CPU) carries over from one run to
the next through a copy of partial_parse.msgpack in datamig's cache; dbt itself checks that the
project files, vars and profile are unchanged and parses afresh when they are not.
dbt's own target/ and logs/ go into the run folder (<run>/dbt/), so concurrent runs never share
them and a rerun or a report has the run's compiled SQL at hand; run_results.json and
manifest.json are copied to <run>/dbt/.

The salt is checked before dbt starts (one line naming the variable) and is never written into
arguments, logs or files: the dbt plugin reads it from the environment.
"""
from __future__ import annotations

import gc
import json
import logging
import os
import shutil
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ..anonymize.engine import read_salt
from ..anonymize.rules import load_rules
from ..errors import DatamigError
from .dbt_process import (SILENT, environ, partial_parse_cache, reraise_interrupt, silent_runner, why_not_run,
                          working_dir)

log = logging.getLogger("datamig.transform")

RUNS_DIR_ENV = "DATAMIG_RUNS_DIR"
RUN_DIR_ENV = "DATAMIG_RUN_DIR"
PROJECT_DIR_ENV = "DATAMIG_PROJECT_DIR"
DBT_DIR = "dbt"


@dataclass
class DbtRun:
    run_dir: Path
    success: bool                     # dbt's verdict: False if any model or test failed
    run_results: Path                 # <run>/dbt/run_results.json
    manifest: Path                    # <run>/dbt/manifest.json
    args: list[str]
    timings: dict[str, float] = field(default_factory=dict)


def require_salt(root: Path, env: Mapping[str, str] | None = None) -> tuple[str, str]:
    """(variable name, salt) from `env` or the process environment; a ConfigError naming the
    variable (never the value) when it is missing or too short."""
    name = load_rules(root / "config" / "anonymization-rules.yaml").settings.salt_env
    value = (env or {}).get(name) or os.environ.get(name, "")
    with environ({name: value}):
        read_salt(name)
    return name, value


def dbt_args(root: Path, run_dir: Path, district: int, target: str = "dev",
             select: Sequence[str] = (), exclude: Sequence[str] = (), extra: Sequence[str] = ()) -> list[str]:
    out = run_dir / DBT_DIR
    args = ["build", "--project-dir", str(root), "--profiles-dir", str(root), "--target", target,
            "--vars", json.dumps({"district": district}),
            "--target-path", str(out / "target"), "--log-path", str(out / "logs")]
    if select:
        args += ["--select", *select]
    if exclude:
        args += ["--exclude", *exclude]
    return args + list(extra)


def run_dbt(root: Path, runs_dir: Path, run_id: str, district: int, *, env: Mapping[str, str] | None = None,
            select: Sequence[str] = (), exclude: Sequence[str] = (), extra: Sequence[str] = (),
            quiet: bool = True, progress: Callable[[str], None] | None = None) -> DbtRun:
    """Build the run's models and run their tests; DatamigError if dbt could not run at all
    (salt, project, compilation). Test failures are not errors here: the report judges them."""
    root, runs_dir = root.resolve(), runs_dir.resolve()
    run_dir = runs_dir / run_id
    salt_name, salt = require_salt(root, env)
    if not (run_dir / "extract").is_dir():
        raise DatamigError(f"run {run_id}: no extract at {run_dir / 'extract'} (run `datamig extract` first)")
    args = dbt_args(root, run_dir, district, select=select, exclude=exclude, extra=extra)
    if quiet:
        args = [*SILENT, *args]
    out = run_dir / DBT_DIR
    shutil.rmtree(out / "target", ignore_errors=True)
    log.info("dbt %s", " ".join(args))
    started = time.monotonic()
    # dbt reads env vars from os.environ; the run folder is the working directory (see above)
    with partial_parse_cache(root, district, "dev", out / "target"), working_dir(run_dir), \
            environ({RUNS_DIR_ENV: str(runs_dir), RUN_DIR_ENV: ".", PROJECT_DIR_ENV: str(root), salt_name: salt}):
        result = _invoke(args, progress)
    wall = round(time.monotonic() - started, 3)
    reraise_interrupt(result)
    if result.exception is not None or result.result is None:
        raise DatamigError(f"dbt build of run {run_id} did not run: {why_not_run(result.exception, salt)}")
    target = out / "target"
    for name in ("run_results.json", "manifest.json"):
        if not (target / name).exists():
            raise DatamigError(f"dbt build of run {run_id} wrote no {name} in {target}")
        shutil.copyfile(target / name, out / name)
    timings = {"dbt_s": wall, **_phase_timings(json.loads((out / "run_results.json").read_text()))}
    log.info("dbt build %s in %ss", "succeeded" if result.success else "found failures", wall)
    return DbtRun(run_dir=run_dir, success=bool(result.success), run_results=out / "run_results.json",
                  manifest=out / "manifest.json", args=args, timings=timings)


def _invoke(args: list[str], progress: Callable[[str], None] | None):
    done = {"n": 0}

    def on_event(event) -> None:
        if event.info.name in ("LogModelResult", "LogTestResult", "LogSnapshotResult", "LogSeedResult"):
            done["n"] += 1
            if progress:
                progress(f"dbt build: {done['n']} nodes done")

    try:
        return silent_runner(callbacks=[on_event]).invoke(args)
    finally:
        _release_duckdb()
        gc.unfreeze()  # the plugin froze this process's objects for dbt's run: collectable again


def _release_duckdb() -> None:
    """dbt-duckdb keeps its DuckDB instance in a class attribute for the life of the process;
    close it, so the warehouse file is free for the report (and the next run opens afresh,
    reading the salt again)."""
    try:
        from dbt.adapters.duckdb.connections import DuckDBConnectionManager as manager
    except ImportError:  # pragma: no cover - dbt-duckdb is a dependency
        return
    with manager._LOCK:
        env, manager._ENV = manager._ENV, None
    if env is not None:
        try:
            env.close()
        except Exception as exc:  # noqa: BLE001 - closing is best effort
            log.debug("closing the DuckDB environment: %s", type(exc).__name__)


def _phase_timings(run_results: dict) -> dict[str, float]:
    models = tests = 0.0
    for r in run_results.get("results", []):
        if r["unique_id"].startswith("model."):
            models += r.get("execution_time") or 0
        elif r["unique_id"].startswith("test."):
            tests += r.get("execution_time") or 0
    return {"dbt_elapsed_s": round(run_results.get("elapsed_time") or 0, 3),
            "models_s": round(models, 3), "tests_s": round(tests, 3)}
