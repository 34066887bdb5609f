"""Reading a run's extraction manifest (extract/extraction-manifest.json), which the transform,
the drift gate and validate-migration all start from. Edited by hand or made by another tool,
one missing a key was a KeyError traceback (exit 1) in validate-migration and read as
"district None" by dbt; every reader now gets one line naming the file and what is wrong."""
from __future__ import annotations

from pathlib import Path

from ..errors import DatamigError
from ..runfiles import read_json_object

MANIFEST = "extraction-manifest.json"


def load_manifest(extract_dir: Path) -> dict:
    """The manifest of a run's extract/ folder; one line naming the file when it is missing
    (the extract never finished) or is not a manifest."""
    path = extract_dir / MANIFEST
    if not path.is_file():
        raise DatamigError(f"{path}: no extraction manifest (the extract did not finish; run `datamig extract`)")
    return read_manifest(path)


def read_manifest(path: Path) -> dict:
    """The manifest at `path`; DatamigError naming the file when it is not one."""
    manifest = read_json_object(path)
    problem = _shape_problem(manifest)
    if problem:
        raise DatamigError(f"{path}: not an extraction manifest ({problem}); extract the district again")
    return manifest


def check_files(extract_dir: Path, manifest: dict) -> None:
    """Every Parquet file the manifest lists is there and is Parquet; DatamigError naming the
    first that is not. A file deleted by hand made dbt fail its models, read as a FAILED
    validation after final/ was written; one that was not Parquet was pyarrow's traceback."""
    import pyarrow.parquet as pq  # here: the manifest's other readers need no pyarrow

    for relative in _listed_files(manifest):
        path = extract_dir / relative
        if not path.is_file():
            raise DatamigError(f"{path} is missing from the run's extract; extract the district again")
        try:
            pq.read_metadata(path)
        except (OSError, ValueError):  # pyarrow's ArrowInvalid is a ValueError
            raise DatamigError(f"{path} is not a Parquet file (damaged since the extract); "
                               "extract the district again") from None


def _listed_files(manifest: dict) -> list[str]:
    entries = list(manifest["tables"].values())
    graph = manifest.get("graph") or {}
    for kind in ("nodes", "relationships"):
        entries += (graph.get(kind) or {}).values()
    return [entry["path"] for entry in entries if isinstance(entry, dict) and isinstance(entry.get("path"), str)]


def _shape_problem(manifest: dict) -> str | None:
    district = manifest.get("district")
    if not isinstance(district, int) or isinstance(district, bool):
        return "no district number"
    tables = manifest.get("tables")
    if not isinstance(tables, dict):
        return "no tables"
    for table_id, entry in tables.items():
        if not (isinstance(entry, dict) and isinstance(entry.get("store"), str) and isinstance(entry.get("table"), str)
                and isinstance(entry.get("columns"), list)):
            return f"table {table_id} lacks its store, table or columns"
    if not isinstance(manifest.get("graph") or {}, dict):
        return "its graph is not an object"
    return None
