"""validate-migration's dbt parse under the cert target: one parse serves every store and every
run of a district, carried from one validation to the next through datamig's cache (dbt checks
the copy). No server: parsing connects nowhere."""
from __future__ import annotations

from pathlib import Path

import pytest

from datamig.verify import dbt_cert


def _log(run_dir: Path) -> str:
    return (run_dir / dbt_cert.DBT_DIR / "logs" / "dbt.log").read_text()


def test_the_cert_parse_of_one_run_serves_the_next(tmp_path, monkeypatch, project_root):
    monkeypatch.setenv("DATAMIG_CACHE_DIR", str(tmp_path / "cache"))
    first = dbt_cert.parse(project_root, tmp_path / "mig-a", 42, "public")
    second = dbt_cert.parse(project_root, tmp_path / "mig-b", 42, "public")

    assert "Starting full parse" in _log(tmp_path / "mig-a")
    assert "Starting full parse" not in _log(tmp_path / "mig-b")
    assert "Unable to do partial parsing" not in _log(tmp_path / "mig-b")
    assert second.nodes.keys() == first.nodes.keys()
    # the cert target's shape: finals are the CERT tables (ephemeral), the tests are there
    assert second.nodes["model.datamig.ids__students"]["config"]["materialized"] == "ephemeral"
    assert any(n["resource_type"] == "test" and n["name"] == "fk_ids__enrollments__student_id"
               for n in second.nodes.values())
    # no manifest.json written (the nodes come from memory)
    for run in ("mig-a", "mig-b"):
        assert not (tmp_path / run / dbt_cert.DBT_DIR / "target" / "manifest.json").exists()


NASTY = ["plain", "it's", 'say "hi"', "back\\slash", "new\nline", "{braces},comma", "NULL", "ünï €", ""]


def test_reconcile_counts_the_cert_rows_whose_key_the_parquet_holds(services, tmp_path):
    """One session for several tables; composite and typed keys; keys of any text travel
    intact; a key CERT lacks and a NULL key part are not counted; CERT's other rows neither."""
    import duckdb
    import psycopg

    from datamig.verify import reconcile

    url = services["DATAMIG_PG_ADMIN_URL"]
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("DROP SCHEMA IF EXISTS verify_speed CASCADE")
        conn.execute("CREATE SCHEMA verify_speed")
        conn.execute("CREATE TABLE verify_speed.pairs (a bigint, b text, d date, PRIMARY KEY (a, b))")
        conn.execute("CREATE TABLE verify_speed.ids (id uuid PRIMARY KEY)")
        for i, text in enumerate(NASTY):
            conn.execute("INSERT INTO verify_speed.pairs VALUES (%s, %s, '2024-01-01')", (i, text))
        conn.execute("INSERT INTO verify_speed.pairs VALUES (100, 'cert only', '2024-01-01')")
        conn.execute("INSERT INTO verify_speed.ids SELECT gen_random_uuid() FROM generate_series(1, 3)")
        uuids = [str(r[0]) for r in conn.execute("SELECT id FROM verify_speed.ids ORDER BY id").fetchall()]
    try:
        db = duckdb.connect()
        db.execute("CREATE TABLE pairs (a BIGINT, b VARCHAR)")
        db.executemany("INSERT INTO pairs VALUES (?, ?)",
                       [(i, t) for i, t in enumerate(NASTY)] + [(7, "absent"), (None, "plain")])
        db.execute(f"COPY pairs TO '{tmp_path / 'pairs.parquet'}' (FORMAT parquet)")
        db.execute("CREATE TABLE ids (id UUID)")
        db.executemany("INSERT INTO ids VALUES (?)", [(u,) for u in uuids[:2]])
        db.execute(f"COPY ids TO '{tmp_path / 'ids.parquet'}' (FORMAT parquet)")
        db.execute(f"COPY (SELECT * FROM ids LIMIT 0) TO '{tmp_path / 'none.parquet'}' (FORMAT parquet)")

        counts = reconcile.pg_present(url, "verify_speed", [
            reconcile.Keyed("pairs", tmp_path / "pairs.parquet", ["a", "b"], {"a": "bigint", "b": "text"}),
            reconcile.Keyed("ids", tmp_path / "ids.parquet", ["id"], {"id": "uuid"}),
            reconcile.Keyed("ids", tmp_path / "none.parquet", ["id"], {"id": "uuid"})])
        assert counts == [len(NASTY), 2, 0]
    finally:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("DROP SCHEMA verify_speed CASCADE")


def test_the_cert_tests_sessions_cannot_write(services, monkeypatch):
    """validate-migration's dbt connects as CERT's writer role; the options its sessions get
    (libpq reads PGOPTIONS, as dbt-postgres's connections do) make every transaction read only."""
    import psycopg

    url = services["DATAMIG_PG_ADMIN_URL"]
    monkeypatch.setenv("PGOPTIONS", dbt_cert.profile_env(url, "public")["PGOPTIONS"])
    with psycopg.connect(url, autocommit=True) as conn:
        assert conn.execute("SHOW enable_nestloop").fetchone()[0] == "off"
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
            conn.execute("CREATE TABLE public.verify_must_not_exist (a int)")
    monkeypatch.delenv("PGOPTIONS")
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT to_regclass('public.verify_must_not_exist')").fetchone()[0] is None
