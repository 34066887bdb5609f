"""validate-migration's dbt parse under the cert target: one parse serves every store and every
run of a district, carried from one validation to the next through datamig's cache (dbt checks
the copy). No server: parsing connects nowhere."""
from __future__ import annotations

from pathlib import Path

from datamig.verify import dbt_cert

URL = "postgresql://nobody:not-a-secret-pw@127.0.0.1:1/cert_ids"


def _log(run_dir: Path) -> str:
    return (run_dir / dbt_cert.DBT_DIR / "logs" / "dbt.log").read_text()


def test_the_cert_parse_of_one_run_serves_the_next(tmp_path, monkeypatch, project_root):
    monkeypatch.setenv("DATAMIG_CACHE_DIR", str(tmp_path / "cache"))
    first = dbt_cert.parse(project_root, tmp_path / "mig-a", 42, URL, "public")
    second = dbt_cert.parse(project_root, tmp_path / "mig-b", 42, URL, "public")

    assert "Starting full parse" in _log(tmp_path / "mig-a")
    assert "Starting full parse" not in _log(tmp_path / "mig-b")
    assert "Unable to do partial parsing" not in _log(tmp_path / "mig-b")
    assert second.nodes.keys() == first.nodes.keys()
    # the cert target's shape: finals are the CERT tables (ephemeral), the tests are there
    assert second.nodes["model.datamig.ids__students"]["config"]["materialized"] == "ephemeral"
    assert any(n["resource_type"] == "test" and n["name"] == "fk_ids__enrollments__student_id"
               for n in second.nodes.values())
    # no manifest.json written (the nodes come from memory); never the password anywhere
    for run in ("mig-a", "mig-b"):
        assert not (tmp_path / run / dbt_cert.DBT_DIR / "target" / "manifest.json").exists()
        for path in (tmp_path / run).rglob("*"):
            if path.is_file():
                assert b"not-a-secret-pw" not in path.read_bytes(), path

