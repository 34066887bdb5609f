"""What the loader reads from a run folder: the validation verdict, and the final Parquet files.

Layout (written by the earlier phases):
  <run>/validation-report.json             {"status": "PASSED" | "PASSED_WITH_WARNINGS" | "FAILED", ...}
  <run>/final/<store>/<table>.parquet       one file per PostgreSQL table of the slice
  <run>/final/<graph>/nodes/<Label>.parquet
  <run>/final/<graph>/relationships/<TYPE>.parquet
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..config import Config
from ..errors import DatamigError, MigrationFailed, NotFound
from ..extract.runs import district_of
from ..runfiles import read_json_object, read_json_or_none

VALIDATION_REPORT = "validation-report.json"
LOADABLE = ("PASSED", "PASSED_WITH_WARNINGS")


@dataclass
class RunFolder:
    run_id: str
    path: Path
    district: int | None
    pg: dict[str, dict[str, Path]] = field(default_factory=dict)  # store -> table -> parquet
    graph_store: str | None = None
    nodes: dict[str, Path] = field(default_factory=dict)          # label -> parquet
    relationships: dict[str, Path] = field(default_factory=dict)  # type -> parquet

    @property
    def final(self) -> Path:
        return self.path / "final"


def check_validation(run_dir: Path) -> str:
    """The validation status, or MigrationFailed when the run must not be loaded.

    A missing or unreadable report refuses the load as firmly as a FAILED one: the gate is
    only worth having if skipping it is impossible.
    """
    run_id = run_dir.name
    path = run_dir / VALIDATION_REPORT
    if not path.exists():
        raise NotFound(f"run {run_id} is not transformed ({VALIDATION_REPORT} not found); run `datamig transform "
                       f"--district {district_of(run_id)} --run-id {run_id}` before loading it")
    status = read_json_object(path).get("status")
    if status == "FAILED":
        raise MigrationFailed(f"run {run_id}: validation status is FAILED; the load is refused "
                              f"(see {path})")
    if status not in LOADABLE:
        raise MigrationFailed(f"run {run_id}: unknown validation status {status!r} in {VALIDATION_REPORT}")
    return status


def open_run(cfg: Config, run_dir: Path) -> RunFolder:
    run_dir = Path(run_dir)
    run_id = run_dir.name
    final = run_dir / "final"
    if not final.is_dir():
        raise NotFound(f"run {run_id}: no final/ folder in {run_dir}; nothing to load (transform the run first)")
    folder = RunFolder(run_id=run_id, path=run_dir, district=_district(run_dir))
    for store_dir in sorted(p for p in final.iterdir() if p.is_dir()):
        store = cfg.stores.get(store_dir.name)
        if store is None:
            raise MigrationFailed(f"run {run_id}: final/{store_dir.name} names no store of {cfg.path}")
        if store.kind == "postgres":
            tables = {p.stem: p for p in sorted(store_dir.glob("*.parquet"))}
            if tables:
                folder.pg[store.name] = tables
        else:
            folder.graph_store = store.name
            folder.nodes = {p.stem: p for p in sorted((store_dir / "nodes").glob("*.parquet"))}
            folder.relationships = {p.stem: p for p in sorted((store_dir / "relationships").glob("*.parquet"))}
    if folder.graph_store and cfg.graph is None:
        raise MigrationFailed(f"run {run_id}: final/{folder.graph_store} holds a graph but the config has no graph:")
    if folder.graph_store and cfg.graph and folder.graph_store != cfg.graph.store:
        raise MigrationFailed(f"run {run_id}: final/{folder.graph_store} is not the configured graph store "
                              f"{cfg.graph.store}")
    if not folder.pg and not folder.nodes and not folder.relationships:
        raise DatamigError(f"run {run_id}: final/ holds no Parquet file; nothing to load (transform the run again)")
    _check_complete(folder, run_dir)
    check_final_parquet(run_dir)
    return folder


def check_final_parquet(run_dir: Path) -> None:
    """Every final Parquet of the run reads as Parquet, before anything is written: one cut short
    or damaged was DuckDB's traceback ("No magic bytes found"), exit 1, in the load (a dry run
    too) and in validate-migration, from a check thread after dbt's parse had written into the
    run folder. A missing one is _check_complete's (and a count issue to validate-migration)."""
    import pyarrow.parquet as pq

    for path in sorted((run_dir / "final").rglob("*.parquet")):
        try:
            pq.read_metadata(path)
        except (OSError, ValueError) as exc:  # pyarrow's ArrowInvalid is a ValueError
            raise DatamigError(f"run {run_dir.name}: {path.relative_to(run_dir)} is not readable Parquet "
                               f"({str(exc).splitlines()[0] if str(exc) else type(exc).__name__}): "
                               f"cut short or damaged since the transform wrote it") from None


def _check_complete(folder: RunFolder, run_dir: Path) -> None:
    """final/ holds a file for every table, label and relationship type the extract wrote: a load
    of part of a run (a transform stopped half way, a file deleted) would leave CERT with rows
    whose parents never came. A file gone is the user's to fix, as one damaged is (exit 2)."""
    manifest = read_json_or_none(run_dir / "extract" / "extraction-manifest.json")
    if manifest is None:
        return  # no extract to compare with (a run folder made by hand); the drift gate reads final/
    graph = manifest.get("graph") or {}
    have = {f"{store}/{table}" for store, tables in folder.pg.items() for table in tables}
    have |= {f"{graph.get('store')}/nodes/{label}" for label in folder.nodes}
    have |= {f"{graph.get('store')}/relationships/{kind}" for kind in folder.relationships}
    want = [f"{t['store']}/{t['table']}" for t in (manifest.get("tables") or {}).values()]
    want += [f"{graph.get('store')}/{part}/{name}" for part in ("nodes", "relationships") for name in graph.get(part, ())]
    missing = [w for w in want if w not in have]
    if missing:
        raise DatamigError(f"run {folder.run_id}: final/{missing[0]}.parquet is missing ({len(missing)} of "
                              f"{len(want)} extracted tables and graph types have no final file); transform the run again")


def _district(run_dir: Path) -> int | None:
    """The district, from whichever earlier artifact names it (reports only; never required)."""
    for rel in ("extract/extraction-manifest.json", VALIDATION_REPORT):
        value = (read_json_or_none(run_dir / rel) or {}).get("district")
        if isinstance(value, int) or (isinstance(value, str) and value.isdigit()):
            return int(value)
    return None
