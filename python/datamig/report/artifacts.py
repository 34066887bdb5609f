"""Read what a run folder holds, tolerant of anything missing or half-written.

Only counts, names, statuses, timings and sample KEYS are taken from the artifacts; a report
never needs a row's values, so nothing here reads them (final row counts come from Parquet
metadata, not data).
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from ..runfiles import read_json_or_none, write_text_atomic

STATE = "run-state.json"
MANIFEST = "extract/extraction-manifest.json"
VALIDATION = "validation-report.json"
LOAD = "load-report.json"
ROLLBACK = "rollback-report.json"
REPLACED = "cert-replaced.json"  # seed-cert wiped CERT while this run was loaded there
VERIFY = "post-load-validation.json"
DRIFT = "drift-report.json"
LOG = "run.log"
LOG_LINE = re.compile(r"^\S+ \S+ (WARNING|ERROR|CRITICAL) (\S+): (.*)$")
LOG_KEPT = 20


def parquet_rows(path: Path) -> int | None:
    """Rows of a Parquet file from its footer (no data read), None if absent or unreadable."""
    if not path.is_file():
        return None
    try:
        import pyarrow.parquet as pq

        return pq.read_metadata(path).num_rows
    except Exception:  # noqa: BLE001 - a torn file is reported as "unknown", not a crash
        return None


@dataclass
class RunFolder:
    """Everything a report is built from, each artifact None when the run did not write it."""

    run_id: str
    path: Path
    state: dict | None = None
    manifest: dict | None = None
    validation: dict | None = None
    load: dict | None = None
    verify: dict | None = None
    rollback: dict | None = None
    replaced: dict | None = None
    log_lines: list[tuple[str, str]] = field(default_factory=list)  # (level, "logger: message")

    @property
    def district(self) -> int | None:
        for source in (self.state, self.manifest, self.validation, self.load, self.verify):
            value = (source or {}).get("district")
            if isinstance(value, int) or (isinstance(value, str) and value.isdigit()):
                return int(value)
        match = re.search(r"-d(\d+)", self.run_id)
        return int(match.group(1)) if match else None

    def final_rows(self, store: str, table: str) -> int | None:
        return parquet_rows(self.path / "final" / store / f"{table}.parquet")

    def final_graph_rows(self, store: str, kind: str, name: str) -> int | None:
        return parquet_rows(self.path / "final" / store / kind / f"{name}.parquet")


def read_log(path: Path) -> list[tuple[str, str]]:
    """The last WARNING/ERROR lines of run.log (datamig's own one-line messages)."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return []
    kept = []
    for line in text.splitlines():
        match = LOG_LINE.match(line)
        if match:
            level, logger, message = match.groups()
            kept.append(("error" if level in ("ERROR", "CRITICAL") else "warning", f"{logger}: {message[:300]}"))
    return kept[-LOG_KEPT:]


def cert_state(load: dict | None, rollback: dict | None, replaced: dict | None = None) -> dict | None:
    """Where the run stands in CERT by its folder's last load, rollback or CERT replacement
    (the later one wins: a run can be loaded again after either); None when it never went there."""
    events = [(r.get("finished_at") or "", i, r) for i, r in enumerate((load, rollback, replaced))
              if r and r.get("status") and not r.get("dry_run")]
    if not events:
        return None
    _, _, last = max(events, key=lambda e: (e[0], e[1]))
    status = {"ALREADY_LOADED": "LOADED", "FAILED": "LOAD_FAILED"}.get(last["status"], last["status"])
    return {"status": status, "at": last.get("finished_at")}


def read_cert_state(run_dir: Path) -> dict | None:
    return cert_state(*(read_json_or_none(run_dir / name) for name in (LOAD, ROLLBACK, REPLACED)))


def gone_from_cert(cert: dict | None) -> str | None:
    """How a run that was in CERT left it (rolled back, or wiped by seed-cert), or None while it
    is there or never was: its rows are not in CERT and loading it again is the way back."""
    if not cert:
        return None
    at = cert.get("at") or "an unknown time"
    if cert["status"] == "ROLLED_BACK":
        return f"rolled back from CERT at {at}"
    if cert["status"] == "CERT_REPLACED":
        return f"wiped from CERT by seed-cert at {at}"
    return None


def write_cert_replaced(run_dir: Path, at: str) -> None:
    """seed-cert replaced CERT, this run's rows and its rollback records with it: the folder says
    so, or `datamig runs` and the report would go on calling it loaded."""
    path = run_dir / REPLACED
    write_text_atomic(path, json.dumps({"run_id": run_dir.name, "status": "CERT_REPLACED", "finished_at": at},
                                       indent=2) + "\n")


def read_run(out_dir: Path, run_id: str) -> RunFolder:
    path = Path(out_dir) / run_id
    return RunFolder(
        run_id=run_id, path=path,
        state=read_json_or_none(path / STATE),
        manifest=read_json_or_none(path / MANIFEST),
        validation=read_json_or_none(path / VALIDATION),
        load=read_json_or_none(path / LOAD),
        verify=read_json_or_none(path / VERIFY),
        rollback=read_json_or_none(path / ROLLBACK),
        replaced=read_json_or_none(path / REPLACED),
        log_lines=read_log(path / LOG),
    )


def artifact_list(run: RunFolder) -> list[dict]:
    """The run's artifacts with whether each exists (paths only)."""
    names = [("run state", STATE), ("run log", LOG), ("extraction manifest", MANIFEST),
             ("validation report", VALIDATION),
             ("CERT drift report", DRIFT), ("load report", LOAD), ("post-load validation", VERIFY),
             ("rollback report", ROLLBACK), ("CERT replaced record", REPLACED),
             ("final Parquet", "final")]
    return [{"name": name, "path": str(run.path / rel), "exists": (run.path / rel).exists()} for name, rel in names]
