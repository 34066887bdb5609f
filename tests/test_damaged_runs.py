"""A run folder damaged by hand after its extract (a file deleted, one replaced by something that
is not Parquet): the transform says which file in one line, exit 2, and writes nothing. The
extract is a real one of district 42 of the private test estate."""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from _unreachable import one_error_line, run_cli, work_folder

ROOT = Path(__file__).resolve().parents[1]
SALT = "damaged-runs-salt-0123456789abcdef"
COPY = "mig-20990101-000000-d42"  # each test damages a copy of the extracted run

pytestmark = pytest.mark.timeout(600)


@pytest.fixture(scope="module")
def extracted(tiny_estate, tmp_path_factory) -> tuple[Path, Path]:
    """(work folder, its one run folder): district 42 extracted through the CLI."""
    work = work_folder(tmp_path_factory.mktemp("damaged"))
    proc = run_cli(_env(work, tiny_estate["env"]), "extract", "--district", "42")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (run,) = [p for p in (work / "runs").iterdir() if p.name.startswith("mig-")]
    return work, run


def _env(work: Path, services: dict) -> dict:
    return {**os.environ, **services, "DATAMIG_CONFIG": str(work / "datamig.yaml"), "DATAMIG_SALT": SALT,
            "DATAMIG_STATE_DIR": os.environ["DATAMIG_STATE_DIR"], "COLUMNS": "200"}


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _break(path: Path, how: str) -> None:
    if how == "deleted":
        path.unlink()
    else:
        path.write_bytes(b"not parquet at all\n")


@pytest.mark.parametrize("file", ["ids/students.parquet", "sp/nodes/Student.parquet"], ids=["table", "graph"])
@pytest.mark.parametrize("how, problem", [("deleted", "is missing"), ("garbled", "is not a Parquet file")])
def test_transform_of_a_run_with_an_extract_file_damaged_names_it(extracted, tiny_estate, file, how, problem):
    """A deleted file made dbt fail its models, reported as 'validation FAILED: 6 blocking
    failures' (exit 1) after final/ and a FAILED validation report were written; a file that is
    not Parquet was pyarrow's traceback (or DuckDB's) from the PII scan or the drift gate."""
    work, source = extracted
    run = work / "runs" / COPY
    shutil.copytree(source, run)
    try:
        _break(run / "extract" / file, how)
        before = _files(run)
        proc = run_cli(_env(work, tiny_estate["env"]), "transform", "--district", "42", "--run-id", run.name)
        line = one_error_line(proc, (SALT,), str(run / "extract" / file), problem, "extract the district again")
        assert "Traceback" not in proc.stdout + proc.stderr, line
        assert _files(run) == before
    finally:
        shutil.rmtree(run)


@pytest.mark.parametrize("file", ["ids/students.parquet", "sp/nodes/Student.parquet"], ids=["table", "graph"])
def test_dbt_build_directly_on_a_run_with_an_extract_file_deleted_names_it(extracted, tiny_estate, file):
    """An analyst's `dbt build` on such a run: a deleted graph file was ~40 lines of pyarrow's
    traceback from the plugin's drift gate; a deleted table's file failed its models one by one."""
    work, source = extracted
    run = work / "runs" / COPY
    shutil.copytree(source, run)
    try:
        (run / "extract" / file).unlink()
        before = _files(run)
        proc = subprocess.run([str(ROOT / ".venv/bin/dbt"), "build", "--project-dir", str(ROOT), "--profiles-dir",
                               str(ROOT), "--target-path", str(work / "target"), "--log-path", str(work / "logs"),
                               "--vars", f"{{district: 42, run_id: {COPY}}}"], cwd=ROOT,
                              env={**_env(work, tiny_estate["env"]), "DATAMIG_RUNS_DIR": str(work / "runs")},
                              capture_output=True, text=True, timeout=600)
        assert proc.returncode != 0
        assert f"datamig.dbt_plugin: {run / 'extract' / file} is missing from the run's extract" in proc.stdout, \
            proc.stdout
        assert "Traceback" not in proc.stdout + proc.stderr
        assert _files(run) == before
    finally:
        shutil.rmtree(run)


def test_an_intact_extract_passes_the_check(extracted):
    """Every file of the extract as written is there and is Parquet: the check refuses none."""
    from datamig.extract.manifest import check_files, load_manifest

    _, run = extracted
    manifest = load_manifest(run / "extract")
    assert manifest["graph"]["nodes"] and manifest["tables"]
    check_files(run / "extract", manifest)
