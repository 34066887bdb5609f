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
