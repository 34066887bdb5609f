"""`run-state.json`: what each phase of a run did, so `--resume` continues from the phase
that failed and `datamig runs` can list runs with their status."""
from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path

PHASES = ("preflight", "extract", "transform", "gate", "load", "verify", "report")


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
    status: str = "running"  # running | succeeded | failed | dry_run
    created_at: str = field(default_factory=lambda: datetime.now(timezone.utc).isoformat(timespec="seconds"))
    phases: dict[str, Phase] = field(default_factory=lambda: {p: Phase() for p in PHASES})

    def path(self, out_dir: Path) -> Path:
        return out_dir / self.run_id / "run-state.json"

    def save(self, out_dir: Path) -> None:
        path = self.path(out_dir)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(self), indent=2, default=str))
        os.replace(tmp, path)

    @classmethod
    def load(cls, out_dir: Path, run_id: str) -> "RunState":
        data = json.loads((out_dir / run_id / "run-state.json").read_text())
        phases = {name: Phase(**p) for name, p in data.pop("phases").items()}
        return cls(**data, phases=phases)

    def to_summary(self) -> dict:
        return {"run_id": self.run_id, "district": self.district, "status": self.status,
                "phases": {n: {"status": p.status, "seconds": p.seconds, "error": p.error}
                           for n, p in self.phases.items()}}


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
        else:
            self.phase.status = "failed"
            self.phase.error = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            self.state.status = "failed"
        self.state.save(self.out_dir)
        return False


def list_runs(out_dir: Path) -> list[dict]:
    runs = []
    for path in sorted(out_dir.glob("mig-*/run-state.json")):
        try:
            runs.append(RunState.load(out_dir, path.parent.name).to_summary())
        except (OSError, ValueError, TypeError):
            continue
    return runs
