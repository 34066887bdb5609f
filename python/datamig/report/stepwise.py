"""The run state of a run made phase by phase (`datamig extract`, `transform`, `load`,
`validate-migration`): no migrate recorded it, so its report's phases, status and next steps
are read from the artifacts each phase leaves (a report of "status UNKNOWN, no phases" told an
analyst nothing about a run the README shows how to make)."""
from __future__ import annotations

from .artifacts import RunFolder

STEPS = ("extract", "transform", "load", "verify")
NEXT = {"transform": "the transform", "load": "the load into CERT", "verify": "the post-load validation"}


def state_of(run: RunFolder) -> dict | None:
    """A run-state-shaped dict (options.stepwise set), or None when the run was not extracted."""
    if run.manifest is None:
        return None
    phases = {"extract": _phase("done", run.manifest.get("elapsed_s")),
              "transform": _transform(run.validation),
              "load": _load(run.load),
              "verify": _verify(run.verify)}
    statuses = [p["status"] for p in phases.values()]
    status = "failed" if "failed" in statuses else "succeeded" if set(statuses) == {"done"} else "stepwise"
    return {"run_id": run.run_id, "district": run.district, "status": status, "phases": phases,
            "created_at": None, "options": {"stepwise": True, "strategy": (run.load or {}).get("strategy")}}


def _phase(status: str, seconds=None, error: str | None = None) -> dict:
    return {"status": status, "seconds": seconds if isinstance(seconds, (int, float)) else None,
            "started_at": None, "error": error, "summary": {}}


def _transform(validation: dict | None) -> dict:
    if not validation:
        return _phase("pending")
    seconds = (validation.get("timings") or {}).get("total_s")
    if validation.get("status") == "FAILED":
        reason = validation.get("reason")
        return _phase("failed", seconds, "validation FAILED" + (f": {reason}" if reason else ""))
    return _phase("done", seconds)


def _load(load: dict | None) -> dict:
    """Only a real load counts: a dry run's plan leaves the load to do."""
    if not load or load.get("dry_run") or load.get("status") == "DRY_RUN":
        return _phase("pending")
    if load.get("status") == "FAILED":
        return _phase("failed", load.get("elapsed_s"), load.get("error") or "the load failed")
    return _phase("done", load.get("elapsed_s"))


def _verify(verify: dict | None) -> dict:
    if not verify:
        return _phase("pending")
    issues = len(verify.get("issues") or [])
    if verify.get("status") != "VALID":
        return _phase("failed", verify.get("seconds"), f"{issues} issue{'' if issues == 1 else 's'} found in CERT")
    return _phase("done", verify.get("seconds"))


def verdict(status: str, next_phase: str | None, district, line: str) -> str:
    """Succeeded and failed runs read as a migrate's do; one on its way names the step done last
    and the next (a migrate's "in progress or interrupted" is not what it is)."""
    if status != "INCOMPLETE":
        return line
    d = f"district {district}" if district is not None else "the district"
    done = STEPS[:STEPS.index(next_phase)] if next_phase in STEPS else ()
    return (f"The run of {d} is made phase by phase: {_and(done) or 'nothing'} done; "
            f"next, {NEXT.get(next_phase, next_phase)}.")


def next_step(phase: str | None) -> str:
    return f"Next, {NEXT.get(phase, phase)}"


def _and(words) -> str:
    return " and ".join([", ".join(words[:-1]), words[-1]] if len(words) > 1 else list(words))
