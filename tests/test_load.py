"""The loader against a real PostgreSQL 15 (prepared transactions on) and a real Neo4j 5.26:
strategies, dry run, drift gate, validation gate, idempotence, exact rollback."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

import _pg_cluster
from datamig.errors import ConfigError, ConnectionFailed, DatamigError, MigrationFailed, NotFound
from datamig.load import load_run, recover, rollback_run
from datamig.load.drift import compatible
from test_load_support import (
    NEO_PASSWORD, PASSWORD, build_run, cert, cluster, final_data, neo4j_server, seed_overlap, sid, wait_for,
)

pytestmark = pytest.mark.timeout(600)
RUN = "mig-20251106-143000-d1"
__all__ = ["cert", "cluster", "neo4j_server"]


def _secret_free(text: str) -> bool:
    return PASSWORD not in text and NEO_PASSWORD not in text


# --- insert ------------------------------------------------------------------------------------

def test_insert_into_empty_cert_loads_everything_and_keeps_cert_data(cert):
    before = cert.fingerprint()
    run_dir = build_run(cert.out_dir, RUN)
    report = load_run(cert.cfg, cert.env, run_dir, strategy="insert")

    assert report["status"] == "LOADED"
    assert json.loads((run_dir / "load-report.json").read_text())["status"] == "LOADED"
    ids = report["stores"]["ids"]["tables"]
    assert ids["staff"] == {"strategy": "insert", "rows": 3, "existing": 0, "new": 3, "changed": 0,
                            "unchanged": 0, "conflicts": 0, "inserted": 3, "updated": 0}
    assert report["totals"]["inserted"] == report["totals"]["rows"]
    # The cycles: schools.principal_id deferred, rooms/sections nullified then updated.
    assert cert.sql("ids", "SELECT id, principal_id FROM schools WHERE district_id = 1 ORDER BY id") == [(10, 100), (11, 102)]
    assert cert.sql("ids", "SELECT code, home_section FROM rooms ORDER BY code") == [("R-10-A", "S1"), ("R-11-A", None)]
    assert cert.sql("ids", "SELECT code, room_code FROM sections ORDER BY code") == [("S1", "R-10-A"), ("S2", "R-11-A")]
    assert cert.sql("ids", "SELECT id, manager_id FROM staff WHERE id < 9000 ORDER BY id") == [(100, None), (101, 100), (102, 100)]
    assert cert.sql("ids", "SELECT id, prereq_id FROM courses ORDER BY id") == [(1, 1), (2, 1), (3, 2), (99, 99)]
    # Types arrive exactly: text[] with quotes, commas and NULL, jsonb, timestamptz, numeric, uuid.
    tags, profile, enrolled, gpa = cert.sql("ids", "SELECT tags, profile, enrolled_at::text, gpa::text FROM students "
                                                   "WHERE id = %s", (sid(0),))[0]
    assert tags == ["t0", 'we"ird,{x}', None]
    assert profile == {"i": 0, "nested": {"a": [1, 2]}}
    assert enrolled == "2024-08-01 07:30:00.123456+00" and gpa == "0.00"
    assert cert.sql("hcp1", "SELECT count(*) FROM visits")[0][0] == 3
    # CERT's own data is untouched: every table that the run does not write is byte-identical.
    after = cert.fingerprint()
    assert after["ids"]["cert_notes"] == before["ids"]["cert_notes"]
    assert cert.sql("ids", "SELECT name, principal_id FROM schools WHERE id = 990") == [("QA School", 9900)]
    # The graph: nodes by business key, relationships with and without properties.
    assert cert.cypher("MATCH (s:School)-[r:BELONGS_TO]->(d:District {district_id: 1}) "
                       "RETURN s.school_id AS s, r.since AS since ORDER BY s") == [
        {"s": 10, "since": 1990}, {"s": 11, "since": 1995}]
    enrolled = cert.cypher("MATCH (:Student)-[r:ENROLLED_IN]->(:School) RETURN count(r) AS n, "
                           "collect(size(keys(r))) AS props")[0]
    assert enrolled["n"] == 3 and set(enrolled["props"]) == {0}
    assert cert.cypher("MATCH (:Staff {staff_id: 101})-[r:WORKS_FOR]->(:District) RETURN keys(r) AS k") == [{"k": []}]
    assert cert.cypher("MATCH (d:District {district_id: 99})<-[:BELONGS_TO]-(s) RETURN s.school_id AS s") == [{"s": 990}]
    assert cert.prepared() == []
    runs = cert.sql("ids", "SELECT run_id, status, district FROM datamig.runs")
    assert runs == [(RUN, "loaded", 1)]
    assert (run_dir / "load-decision.json").exists()


def test_insert_conflict_lists_keys_and_writes_nothing(cert):
    seed_overlap(cert)
    before = cert.fingerprint()
    run_dir = build_run(cert.out_dir, RUN)
    with pytest.raises(MigrationFailed) as err:
        load_run(cert.cfg, cert.env, run_dir, strategy="insert")
    message = str(err.value)
    assert "\n" not in message and "nothing written" in message
    assert 'ids.schools: 1 existing keys {"id": 10}' in message
    assert 'ids.staff: 1 existing keys {"id": 100}' in message
    assert "ids.courses: 3 existing keys" in message and "sp.District: 1 existing keys 1" in message
    assert cert.fingerprint() == before
    assert not cert.has_ledger("ids") and not cert.has_ledger("hcp1") and cert.prepared() == []
    failed = json.loads((run_dir / "load-report.json").read_text())
    assert failed["status"] == "FAILED" and failed["conflicts"]["ids.courses"]["count"] == 3


# --- upsert, merge, auto ---------------------------------------------------------------------

def test_upsert_overwrites_rows_with_the_same_key(cert):
    seed_overlap(cert)
    course_xmin = cert.sql("ids", "SELECT xmin::text FROM courses WHERE id = 1")
    report = load_run(cert.cfg, cert.env, build_run(cert.out_dir, RUN), strategy="upsert")
    staff = report["stores"]["ids"]["tables"]["staff"]
    assert (staff["inserted"], staff["updated"]) == (2, 1)
    courses = report["stores"]["ids"]["tables"]["courses"]
    assert (courses["updated"], courses["unchanged"]) == (0, 3)
    assert cert.sql("ids", "SELECT xmin::text FROM courses WHERE id = 1") != course_xmin  # rewritten even when equal
    # The final's columns overwrite; the CERT-only column is not the final's to change.
    assert cert.sql("ids", "SELECT salary::text, cert_note FROM staff WHERE id = 100") == [("90000.00", "keep me")]
    assert cert.sql("ids", "SELECT name FROM districts WHERE id = 1") == [("North",)]
    assert cert.cypher("MATCH (d:District {district_id: 1}) RETURN d.name AS n, d.cert_flag AS f") == [
        {"n": "North", "f": True}]


def test_merge_updates_only_changed_rows_and_keeps_cert_only_data(cert):
    seed_overlap(cert)
    xmin = dict(cert.sql("ids", "SELECT id, xmin::text FROM schools"))
    course_xmin = cert.sql("ids", "SELECT xmin::text FROM courses WHERE id = 1")
    report = load_run(cert.cfg, cert.env, build_run(cert.out_dir, RUN), strategy="merge")

    tables = report["stores"]["ids"]["tables"]
    assert (tables["schools"]["inserted"], tables["schools"]["updated"], tables["schools"]["unchanged"]) == (1, 0, 1)
    assert (tables["districts"]["updated"], tables["courses"]["unchanged"]) == (1, 3)
    after = dict(cert.sql("ids", "SELECT id, xmin::text FROM schools"))
    assert after[10] == xmin[10] and after[990] == xmin[990]  # unchanged rows were not even rewritten
    assert cert.sql("ids", "SELECT xmin::text FROM courses WHERE id = 1") == course_xmin
    assert cert.sql("ids", "SELECT name FROM districts WHERE id = 1") == [("North",)]
    assert cert.sql("ids", "SELECT salary::text, cert_note FROM staff WHERE id = 100") == [("90000.00", "keep me")]
    assert cert.sql("ids", "SELECT count(*) FROM districts WHERE id = 99")[0][0] == 1
    # Every key the run loaded is on record, the unchanged ones too (the post-load tests' scope).
    assert cert.sql("ids", "SELECT (key ->> 'id')::bigint[] FROM datamig.run_keys "
                           "WHERE run_id = %s AND table_name = 'public.schools'", (RUN,)) == [([10, 11],)]
    graph = report["stores"]["sp"]["nodes"]
    assert (graph["District"]["updated"], graph["School"]["unchanged"], graph["School"]["inserted"]) == (1, 1, 1)
    assert cert.cypher("MATCH (d:District {district_id: 1}) RETURN d.name AS n, d.cert_flag AS f") == [
        {"n": "North", "f": True}]


@pytest.mark.parametrize("strategy", ["upsert", "merge"])
@pytest.mark.parametrize("dry_run", [False, True])
def test_inserted_updated_and_unchanged_add_up_to_the_rows(cert, strategy, dry_run):
    """An upsert reported inserted 16, updated 6, unchanged 6 for 22 rows: its 'updated' counted
    the rows it rewrote with the values they already had, which were counted unchanged too."""
    seed_overlap(cert)  # staff 100 changed (salary), Staff node 100 identical
    cert.sql("ids", "INSERT INTO staff VALUES (101, 10, 100, 't1@north.test', 'Teacher One', 50000.50, "
                    "'2024-08-01 07:30:00.123456+00', NULL)")  # identical in the final's columns
    cert.cypher("CREATE (:Staff {staff_id: 100, email: 'boss@north.test'}), "
                "(:Staff {staff_id: 101, email: 'old@north.test'})")
    report = load_run(cert.cfg, cert.env, build_run(cert.out_dir, RUN), strategy=strategy, dry_run=dry_run)
    inserted, updated = ("to_insert", "to_update") if dry_run else ("inserted", "updated")

    def counts(c: dict) -> tuple:
        return c[inserted], c[updated], c["unchanged"]

    assert counts(report["stores"]["ids"]["tables"]["staff"]) == (1, 1, 1)   # 102 new, 100 changed, 101 same
    assert counts(report["stores"]["sp"]["nodes"]["Staff"]) == (1, 1, 1)    # 102 new, 101 changed, 100 same
    for store in report["stores"].values():
        for group in ("tables", "nodes", "relationships"):
            for name, c in (store.get(group) or {}).items():
                assert c["strategy"] == strategy and sum(counts(c)) == c["rows"], (name, c)
    totals = report["totals"]
    if not dry_run:
        assert totals["inserted"] + totals["updated"] + totals["unchanged"] == totals["rows"]


def test_auto_picks_a_strategy_per_table(cert):
    seed_overlap(cert)
    report = load_run(cert.cfg, cert.env, build_run(cert.out_dir, RUN), strategy="auto")
    picked = {t: c["strategy"] for t, c in report["stores"]["ids"]["tables"].items()}
    assert picked["students"] == "insert"    # no existing key
    assert picked["staff"] == "upsert"       # 1 of 3 existing (< 50%)
    assert picked["schools"] == "merge"      # 1 of 2 existing (50%)
    assert picked["districts"] == picked["courses"] == "merge"
    nodes = report["stores"]["sp"]["nodes"]
    assert (nodes["Student"]["strategy"], nodes["District"]["strategy"]) == ("insert", "merge")


# --- dry run ---------------------------------------------------------------------------------

def test_dry_run_reports_and_leaves_cert_identical(cert):
    seed_overlap(cert)
    before = cert.fingerprint()
    constraints = cert.cypher("SHOW CONSTRAINTS YIELD name RETURN name ORDER BY name")
    run_dir = build_run(cert.out_dir, RUN)
    report = load_run(cert.cfg, cert.env, run_dir, dry_run=True)
    assert report["status"] == "DRY_RUN"
    staff = report["stores"]["ids"]["tables"]["staff"]
    assert (staff["strategy"], staff["new"], staff["changed"], staff["unchanged"]) == ("upsert", 2, 1, 0)
    assert (staff["to_insert"], staff["to_update"], staff["conflicts"]) == (2, 1, 0)
    district = report["stores"]["ids"]["tables"]["districts"]
    assert (district["strategy"], district["to_insert"], district["to_update"]) == ("merge", 0, 1)
    assert report["stores"]["ids"]["tables"]["courses"]["unchanged"] == 3
    assert report["stores"]["sp"]["relationships"]["(School)-[BELONGS_TO]->(District)"]["new"] == 2

    insert = load_run(cert.cfg, cert.env, run_dir, strategy="insert", dry_run=True)
    courses = insert["stores"]["ids"]["tables"]["courses"]
    assert (courses["conflicts"], courses["unchanged"], courses["to_insert"]) == (3, 3, 0)
    assert insert["conflicts"]["ids.staff"]["keys"] == ['{"id": 100}']
    assert cert.fingerprint() == before
    assert not cert.has_ledger("ids") and cert.prepared() == []
    assert cert.cypher("SHOW CONSTRAINTS YIELD name RETURN name ORDER BY name") == constraints


# --- gates -----------------------------------------------------------------------------------

def test_failed_or_missing_validation_is_refused(cert):
    before = cert.fingerprint()
    run_dir = build_run(cert.out_dir, RUN, status="FAILED")
    with pytest.raises(MigrationFailed, match=f"run {RUN}: validation status is FAILED"):
        load_run(cert.cfg, cert.env, run_dir)
    (run_dir / "validation-report.json").unlink()
    # Not transformed is the user's to fix (exit 2), naming the command that does it
    with pytest.raises(NotFound, match=rf"run {RUN} is not transformed \(validation-report.json not found\); "
                                       rf"run `datamig transform --district 1 --run-id {RUN}`") as err:
        load_run(cert.cfg, cert.env, run_dir)
    assert err.value.exit_code == 2
    assert cert.fingerprint() == before


def test_a_final_folder_missing_an_extracted_table_or_graph_type_is_refused(cert):
    """A transform stopped half way had removed final/ and exported part of it, and the load took
    it (with the earlier build's report) as the run: LOADED, 255 rows short. Now the transform
    drops its old report first, and a final/ lacking any table, label or relationship type of
    the extract is no run to load."""
    before = cert.fingerprint()
    run_dir = build_run(cert.out_dir, RUN, drop=("ids.students",))
    data = final_data()
    tables = {f"{store}.{table}": {"store": store, "table": table} for store, ts in data["pg"].items() for table in ts}
    graph = {"store": "sp", "nodes": sorted(data["nodes"]), "relationships": sorted(data["rels"])}
    (run_dir / "extract").mkdir()
    (run_dir / "extract" / "extraction-manifest.json").write_text(json.dumps({"district": 1, "tables": tables,
                                                                              "graph": graph}))
    with pytest.raises(DatamigError, match=f"run {RUN}: final/ids/students.parquet is missing \\(1 of ") as err:
        load_run(cert.cfg, cert.env, run_dir)
    assert err.value.exit_code == 2  # a file gone is the user's to fix, as one damaged is (it was exit 1)
    label = graph["nodes"][0]
    build_run(cert.out_dir, RUN)  # every table again
    (run_dir / "final" / "sp" / "nodes" / f"{label}.parquet").unlink()
    with pytest.raises(DatamigError, match=f"final/sp/nodes/{label}.parquet is missing") as err:
        load_run(cert.cfg, cert.env, run_dir, dry_run=True)
    assert err.value.exit_code == 2
    assert cert.fingerprint() == before
    assert not cert.has_ledger("ids") and cert.prepared() == []


@pytest.mark.parametrize("dry_run", [True, False], ids=["dry-run", "load"])
def test_a_final_parquet_cut_short_is_one_line_before_anything_is_written(cert, dry_run):
    """A final file damaged since the transform (a full disk, a copy cut short) was DuckDB's
    "No magic bytes found" traceback, exit 1, in a dry run as in a load."""
    from datamig.errors import DatamigError

    before = cert.fingerprint()
    run_dir = build_run(cert.out_dir, RUN)
    path = run_dir / "final" / "ids" / "students.parquet"
    path.write_bytes(path.read_bytes()[:-200])
    with pytest.raises(DatamigError, match=f"run {RUN}: final/ids/students.parquet is not readable Parquet \\("):
        load_run(cert.cfg, cert.env, run_dir, dry_run=dry_run)
    assert cert.fingerprint() == before and cert.prepared() == []
    assert not (run_dir / "load-report.json").exists()


@pytest.mark.parametrize("ddl, expected", [
    ("ALTER TABLE staff DROP COLUMN full_name", "column ids.staff.full_name is in the final but not in the CERT table"),
    ("ALTER TABLE students ALTER COLUMN gpa TYPE integer USING gpa::int",
     "column ids.students.gpa: final type DECIMAL(4,2) cannot be written to CERT type integer"),
    ("ALTER TABLE terms RENAME TO school_terms", "table ids.terms is in the final but not in CERT"),
    ("ALTER TABLE courses ADD COLUMN owner text NOT NULL DEFAULT 'x'; ALTER TABLE courses ALTER owner DROP DEFAULT",
     "column ids.courses.owner is NOT NULL without default"),
])
def test_drift_is_refused_before_anything_is_written(cert, ddl, expected):
    cert.sql("ids", ddl)
    cert.sql("ids", "ALTER TABLE staff ADD COLUMN cert_extra text")  # CERT-only column: fine
    before = cert.fingerprint()
    run_dir = build_run(cert.out_dir, RUN)
    with pytest.raises(MigrationFailed) as err:
        load_run(cert.cfg, cert.env, run_dir)
    assert expected in str(err.value) and "\n" not in str(err.value)
    drift = json.loads((run_dir / "drift-report.json").read_text())
    assert drift["status"] == "DRIFT" and drift["problems"][0]["message"].startswith(expected)
    assert cert.fingerprint() == before and not cert.has_ledger("ids")


def test_type_compatibility_rules():
    assert compatible("INTEGER", "bigint") and not compatible("BIGINT", "integer")
    assert compatible("DECIMAL(10,2)", "numeric(12,2)") and not compatible("DECIMAL(10,2)", "numeric(10,1)")
    assert compatible("DECIMAL(10,2)", "numeric") and compatible("BIGINT", "numeric(20,0)")
    assert compatible("TIMESTAMP WITH TIME ZONE", "timestamp with time zone")
    assert not compatible("TIMESTAMP", "timestamp with time zone") and not compatible("DATE", "timestamp")
    assert compatible("VARCHAR[]", "text[]") and compatible("VARCHAR[]", "numeric[]")
    assert compatible("JSON", "jsonb") and compatible("UUID", "text") and not compatible("VARCHAR", "uuid")
    assert compatible("VARCHAR", "character varying(20)") and not compatible("VARCHAR", "integer")
    # intervals land as their ISO text now; a run extracted before held DuckDB INTERVALs
    assert compatible("VARCHAR", "interval") and compatible("INTERVAL", "interval")


# --- idempotence and rollback ------------------------------------------------------------------

def test_loading_twice_changes_nothing(cert):
    run_dir = build_run(cert.out_dir, RUN)
    load_run(cert.cfg, cert.env, run_dir)
    loaded = cert.fingerprint()
    report = (run_dir / "load-report.json").read_bytes()
    again = load_run(cert.cfg, cert.env, run_dir)
    assert again["status"] == "ALREADY_LOADED" and "already loaded" in again["message"]
    assert again["stores"]["ids"]["tables"]["staff"]["inserted"] == 3
    assert cert.fingerprint() == loaded
    assert (run_dir / "load-report.json").read_bytes() == report  # the load's report is not replaced


def test_a_dry_run_or_a_load_with_cert_down_keeps_the_real_load_report(cert):
    """A dry run replaced the real report ("LOADED" became "FAILED", dry_run: true), and so did
    a load stopped by a store down before it wrote anything."""
    run_dir = build_run(cert.out_dir, RUN)
    assert load_run(cert.cfg, cert.env, run_dir)["status"] == "LOADED"
    report = run_dir / "load-report.json"
    loaded = report.read_bytes()
    closed = _pg_cluster.free_port()
    down = {**cert.env, "CERT_IDS_URL": f"postgresql://datamig_cert_writer:{PASSWORD}@127.0.0.1:{closed}/ids"}
    for dry_run in (True, False):
        with pytest.raises(ConnectionFailed) as err:
            load_run(cert.cfg, down, run_dir, dry_run=dry_run)
        assert f"127.0.0.1:{closed}" in str(err.value) and _secret_free(str(err.value))
        assert report.read_bytes() == loaded
        assert not (run_dir / "load-dry-run-report.json").exists()
    # a dry run that runs writes its plan beside the real report, never over it
    again = load_run(cert.cfg, cert.env, run_dir, dry_run=True)
    assert again["status"] == "ALREADY_LOADED" and again["dry_run"] is True
    assert report.read_bytes() == loaded
    assert json.loads((run_dir / "load-dry-run-report.json").read_text())["status"] == "ALREADY_LOADED"


def test_a_load_with_the_cert_graph_down_writes_nothing_into_the_run(cert):
    """A dry run checked the PostgreSQL stores' drift and wrote drift-report.json before it
    found the graph down: the run folder changed by a load stopped for a setting."""
    run_dir = build_run(cert.out_dir, RUN)
    (run_dir / "run.log").write_text("2025-11-06 14:30:00 INFO datamig.extract: extracted\n")  # as the extract left it
    before = {p: p.read_bytes() for p in run_dir.rglob("*") if p.is_file()}
    closed = _pg_cluster.free_port()
    for down in ({"CERT_SP_URL": f"bolt://127.0.0.1:{closed}"}, {"CERT_SP_PASSWORD": "wrong-Planted-pw-5151"}):
        for dry_run in (True, False):
            with pytest.raises(ConnectionFailed) as err:
                load_run(cert.cfg, {**cert.env, **down}, run_dir, dry_run=dry_run)
            assert "store sp" in str(err.value) and _secret_free(str(err.value)), str(err.value)
            assert "wrong-Planted-pw-5151" not in str(err.value)
            assert {p: p.read_bytes() for p in run_dir.rglob("*") if p.is_file()} == before, dry_run


def test_rollback_restores_cert_exactly_then_the_run_loads_again(cert):
    seed_overlap(cert)
    before = cert.fingerprint()
    run_dir = build_run(cert.out_dir, RUN)
    load_run(cert.cfg, cert.env, run_dir, strategy="auto")
    loaded = cert.fingerprint()
    assert loaded != before

    report = rollback_run(cert.cfg, cert.env, cert.out_dir, RUN)
    assert report["status"] == "ROLLED_BACK"
    assert report["stores"]["ids"]["public.staff"] == {"inserted": 2, "updated": 1, "unchanged": 0, "already_gone": 0}
    assert cert.fingerprint() == before  # overwritten rows, CERT-only rows and columns, graph
    assert cert.sql("ids", "SELECT status FROM datamig.runs") == [("rolled_back",)]
    assert cert.sql("ids", "SELECT count(*) FROM datamig.ledger")[0][0] == 0
    assert cert.sql("ids", "SELECT count(*) FROM datamig.run_keys")[0][0] == 0
    assert cert.cypher("MATCH (n:DatamigLedger) RETURN count(n) AS n") == [{"n": 0}]

    with pytest.raises(NotFound, match=f"run {RUN} is not loaded"):
        rollback_run(cert.cfg, cert.env, cert.out_dir, RUN)
    assert load_run(cert.cfg, cert.env, run_dir)["status"] == "LOADED"
    assert cert.fingerprint() == loaded


def test_rollback_is_refused_when_a_later_run_changed_the_same_keys(cert):
    before = cert.fingerprint()
    first = build_run(cert.out_dir, RUN)
    load_run(cert.cfg, cert.env, first)
    later_id = "mig-20251107-090000-d1"
    later = build_run(cert.out_dir, later_id, data=final_data(school_name="North High (renamed)"))
    report = load_run(cert.cfg, cert.env, later)
    assert report["stores"]["ids"]["tables"]["schools"]["updated"] == 1

    with pytest.raises(MigrationFailed) as err:
        rollback_run(cert.cfg, cert.env, cert.out_dir, RUN)
    assert f"later run {later_id} loaded rows this run wrote (ids." in str(err.value) and '{"id": ' in str(err.value)
    assert cert.prepared() == []

    rollback_run(cert.cfg, cert.env, cert.out_dir, later_id)
    rollback_run(cert.cfg, cert.env, cert.out_dir, RUN)
    assert cert.fingerprint() == before


def test_rollback_of_an_unknown_run_is_a_clear_error_and_writes_nothing(cert, tmp_path):
    cert.out_dir.mkdir(parents=True, exist_ok=True)
    before = sorted(cert.out_dir.rglob("*"))
    with pytest.raises(NotFound, match="run mig-20990101-000000-d1 is not loaded in CERT"):
        rollback_run(cert.cfg, cert.env, cert.out_dir, "mig-20990101-000000-d1")
    assert sorted(cert.out_dir.rglob("*")) == before  # not even a lock file
    fresh = tmp_path / "elsewhere" / "runs"  # a runs folder not made yet: not made by a mistake
    with pytest.raises(NotFound):
        rollback_run(cert.cfg, cert.env, fresh, "mig-20990101-000000-d1")
    assert not (tmp_path / "elsewhere").exists()


def test_a_rollback_without_the_graph_s_cert_setting_is_refused(cert):
    """A review: with CERT_SP_URL unset the rollback skipped the graph without a word, rolled
    the PostgreSQL stores back and said ROLLED_BACK ("graph": null), the run's nodes and
    relationships still in CERT. The load needs that setting; so does undoing it."""
    before = cert.fingerprint()
    load_run(cert.cfg, cert.env, build_run(cert.out_dir, RUN))
    loaded = cert.fingerprint()
    no_graph = {k: v for k, v in cert.env.items() if not k.startswith("CERT_SP_")}
    with pytest.raises(ConfigError, match="CERT_SP_URL is not set") as err:
        rollback_run(cert.cfg, no_graph, cert.out_dir, RUN)
    assert err.value.exit_code == 2
    assert cert.fingerprint() == loaded and cert.prepared() == []
    assert cert.sql("ids", "SELECT status FROM datamig.runs") == [("loaded",)]
    rollback_run(cert.cfg, cert.env, cert.out_dir, RUN)
    assert cert.fingerprint() == before


def test_recover_with_nothing_pending_is_a_no_op(cert):
    report = recover(cert.cfg, cert.env, cert.out_dir)
    assert report == {"committed": [], "rolled_back": [], "graph_committed": [], "graph_compensated": [],
                      "graph_rolled_back": []}


def test_unreachable_store_names_it_without_the_password(cert):
    env = dict(cert.env)
    port = _pg_cluster.free_port()
    env["CERT_HCP1_URL"] = f"postgresql://writer:{PASSWORD}@127.0.0.1:{port}/hcp1"
    with pytest.raises(ConnectionFailed) as err:
        load_run(cert.cfg, env, build_run(cert.out_dir, RUN))
    assert "store hcp1" in str(err.value) and f"127.0.0.1:{port}" in str(err.value)
    assert _secret_free(str(err.value)) and "\n" not in str(err.value)
    assert isinstance(err.value, DatamigError)


def test_json_identity_and_generated_columns_load_and_roll_back_exactly(cert):
    """json (no equality operator, text kept verbatim), GENERATED ALWAYS AS IDENTITY keys and
    stored generated columns (never written) go through upsert and rollback exactly."""
    import duckdb

    from test_load_support import WRITER

    cert.sql("ids", f"""
        CREATE TABLE audit (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, doc json, x int,
                            doubled int GENERATED ALWAYS AS (x * 2) STORED);
        GRANT SELECT, INSERT, UPDATE, DELETE ON audit TO {WRITER};
        GRANT SELECT, UPDATE ON SEQUENCE audit_id_seq TO {WRITER};
        INSERT INTO audit (id, doc, x) OVERRIDING SYSTEM VALUE VALUES (1, '{{"b": 1,  "a": [1, 2]}}', 5);""")
    last_id = "SELECT pg_sequence_last_value('audit_id_seq')"
    before = cert.fingerprint()
    run_dir = build_run(cert.out_dir, RUN)
    con = duckdb.connect()
    con.execute(f"""COPY (SELECT * FROM (VALUES (1::BIGINT, '{{"b": 2,  "a": []}}'::JSON, 6, 99),
                                                (2::BIGINT, '{{"z":  null}}'::JSON, 7, 99)) v(id, doc, x, doubled))
                    TO '{run_dir / "final" / "ids" / "audit.parquet"}' (FORMAT parquet)""")
    report = load_run(cert.cfg, cert.env, run_dir, strategy="upsert")
    assert report["stores"]["ids"]["tables"]["audit"]["updated"] == 1
    assert cert.sql("ids", "SELECT id, doc::text, x, doubled FROM audit ORDER BY id") == [
        (1, '{"b": 2,  "a": []}', 6, 12), (2, '{"z":  null}', 7, 14)]
    # The identity moved up past the loaded ids: CERT's next own insert gets 3, not a clash.
    assert cert.sql("ids", last_id) == [(2,)]
    rollback_run(cert.cfg, cert.env, cert.out_dir, RUN)
    assert cert.fingerprint() == before
    assert cert.sql("ids", "SELECT doc::text FROM audit") == [('{"b": 1,  "a": [1, 2]}',)]
    # A sequence is only ever moved up.
    cert.sql("ids", "SELECT setval('audit_id_seq', 50)")
    load_run(cert.cfg, cert.env, run_dir, strategy="upsert")
    assert cert.sql("ids", last_id) == [(50,)]


def _graph_alone(students: int = 3) -> dict:
    """The final files with no PostgreSQL rows: the load writes the graph alone."""
    data = final_data(students=students)
    data["pg"] = {store: {table: [] for table in tables} for store, tables in data["pg"].items()}
    return data


def test_rollback_is_refused_when_a_later_run_loaded_the_same_rows_unchanged(cert):
    """A review: run B loaded the same district after A and found every row as A left it (a merge
    writes nothing then); rolling back A deleted B's rows and nodes, B still listed as loaded."""
    before = cert.fingerprint()
    load_run(cert.cfg, cert.env, build_run(cert.out_dir, RUN))
    later_id, graph_only_id = "mig-20251107-090000-d1", "mig-20251108-090000-d1"
    report = load_run(cert.cfg, cert.env, build_run(cert.out_dir, later_id))
    assert report["stores"]["ids"]["tables"]["schools"]["unchanged"] == 2
    assert report["totals"]["inserted"] == report["totals"]["updated"] == 0
    loaded = cert.fingerprint()
    with pytest.raises(MigrationFailed, match=f"later run {later_id} loaded rows this run wrote"):
        rollback_run(cert.cfg, cert.env, cert.out_dir, RUN)
    assert cert.fingerprint() == loaded and cert.prepared() == []

    # The graph alone: a later run whose tables hold no row found every node and relationship kept
    rollback_run(cert.cfg, cert.env, cert.out_dir, later_id)
    data = _graph_alone()
    report = load_run(cert.cfg, cert.env, build_run(cert.out_dir, graph_only_id, data=data))
    assert report["stores"]["sp"]["nodes"]["Student"]["unchanged"] == 3
    with pytest.raises(MigrationFailed, match=f"later run {graph_only_id} loaded graph entities this run wrote"):
        rollback_run(cert.cfg, cert.env, cert.out_dir, RUN)
    assert cert.fingerprint() == loaded

    rollback_run(cert.cfg, cert.env, cert.out_dir, graph_only_id)
    rollback_run(cert.cfg, cert.env, cert.out_dir, RUN)
    assert cert.fingerprint() == before


def test_parallel_relationships_in_cert_one_rewritten_and_restored(cert):
    """CERT held two WORKS_FOR between the same ends: the load's MERGE rewrote both (reporting one
    update), and the rollback put back only one of them."""
    cert.cypher("CREATE (d:District {district_id: 1, name: 'Old North'}), (s:Staff {staff_id: 100}), "
                "(s)-[:WORKS_FOR {role: 'cert_a'}]->(d), (s)-[:WORKS_FOR {role: 'cert_b'}]->(d)")
    before = cert.fingerprint()
    report = load_run(cert.cfg, cert.env, build_run(cert.out_dir, RUN), strategy="upsert")
    assert report["stores"]["sp"]["relationships"]["(Staff)-[WORKS_FOR]->(District)"]["updated"] == 1
    roles = "MATCH (:Staff {staff_id: 100})-[r:WORKS_FOR]->(:District {district_id: 1}) RETURN r.role AS role"
    assert sorted(r["role"] for r in cert.cypher(roles)) in (["cert_a", "principal"], ["cert_b", "principal"])
    rollback_run(cert.cfg, cert.env, cert.out_dir, RUN)
    assert sorted(r["role"] for r in cert.cypher(roles)) == ["cert_a", "cert_b"]
    assert cert.fingerprint() == before


def test_rollback_deletes_the_relationship_the_run_created_not_a_parallel_one_drawn_since(cert):
    """The undo deleted "the first WORKS_FOR between the two ends": after a CERT tester drew a
    second one between the same nodes, that could be the tester's, and the run's stayed."""
    cert.cypher("CREATE (:District {district_id: 1, name: 'North'}), (:Staff {staff_id: 100, email: 'boss@north.test'})")
    before = cert.fingerprint()
    load_run(cert.cfg, cert.env, build_run(cert.out_dir, RUN), strategy="merge")
    roles = "MATCH (:Staff {staff_id: 100})-[r:WORKS_FOR]->(:District {district_id: 1}) RETURN r.role AS role"
    assert [r["role"] for r in cert.cypher(roles)] == ["principal"]
    cert.cypher("MATCH (s:Staff {staff_id: 100}), (d:District {district_id: 1}) "
                "CREATE (s)-[:WORKS_FOR {role: 'cert_qa'}]->(d)")
    rollback_run(cert.cfg, cert.env, cert.out_dir, RUN)
    assert [r["role"] for r in cert.cypher(roles)] == ["cert_qa"]
    cert.cypher("MATCH ()-[r:WORKS_FOR {role: 'cert_qa'}]->() DELETE r")
    assert cert.fingerprint() == before


def test_rows_naming_the_same_relationship_are_counted_once_as_the_graph_holds_them(cert):
    """A relationship file naming a (start, end) pair twice: MERGE draws one relationship, but
    the load counted (and ledgered) two; a repeat in a later batch of BATCH rows was taken for
    CERT's own and failed the load ("appeared in CERT since the conflict check")."""
    before = cert.fingerprint()
    data = _graph_alone(students=10_001)
    data["rels"]["WORKS_FOR"] += [("Staff", 101, "District", 1, "aide"), ("Staff", 100, "District", 1, None)]
    data["rels"]["ENROLLED_IN"].append(data["rels"]["ENROLLED_IN"][0])  # row 10,002: the second batch
    report = load_run(cert.cfg, cert.env, build_run(cert.out_dir, RUN, data=data))
    rels = report["stores"]["sp"]["relationships"]
    works = rels["(Staff)-[WORKS_FOR]->(District)"]
    assert (works["rows"], works["new"], works["inserted"], works["duplicate_rows_merged"]) == (3, 3, 3, 2)
    enrolled = rels["(Student)-[ENROLLED_IN]->(School)"]
    assert (enrolled["rows"], enrolled["inserted"], enrolled["duplicate_rows_merged"]) == (10_001, 10_001, 1)
    roles = "MATCH (s:Staff)-[r:WORKS_FOR]->(:District {district_id: 1}) RETURN s.staff_id AS s, r.role AS role"
    assert sorted((r["s"], r["role"]) for r in cert.cypher(roles)) == [
        (100, "principal"), (101, "aide"), (102, "teacher")]  # a later row's value wins, its NULL keeps
    assert cert.cypher("MATCH (l:DatamigLedger {kind: 'rel', type: 'WORKS_FOR'}) "
                       "RETURN sum(size(l.start_keys)) AS n") == [{"n": 3}]
    rollback_run(cert.cfg, cert.env, cert.out_dir, RUN)
    assert cert.fingerprint() == before


def test_rows_naming_the_same_node_are_counted_once_as_the_graph_holds_them(cert):
    """A node file naming a key twice: MERGE makes one node, but the load reported `inserted 4`
    for 3 nodes (and ledgered the key twice); a repeat in a later batch of BATCH rows was taken
    for CERT's own and failed the load ("appeared in CERT since the conflict check")."""
    cert.cypher("CREATE (:Staff {staff_id: 900, email: 'cert-only@north.test'})")
    before = cert.fingerprint()
    data = _graph_alone(students=10_001)
    data["nodes"]["Staff"].append((101, "one@north.test"))
    data["nodes"]["Student"].append(data["nodes"]["Student"][0])  # row 10,002: the second batch
    report = load_run(cert.cfg, cert.env, build_run(cert.out_dir, RUN, data=data))
    nodes = report["stores"]["sp"]["nodes"]
    staff = nodes["Staff"]
    assert (staff["rows"], staff["new"], staff["inserted"], staff["duplicate_rows_merged"]) == (3, 3, 3, 1)
    student = nodes["Student"]
    assert (student["rows"], student["inserted"], student["duplicate_rows_merged"]) == (10_001, 10_001, 1)
    assert "duplicate_rows_merged" not in nodes["School"]
    emails = "MATCH (s:Staff) RETURN s.staff_id AS s, s.email AS email"
    assert sorted((r["s"], r["email"]) for r in cert.cypher(emails)) == [
        (100, "boss@north.test"), (101, "one@north.test"), (102, "t2@north.test"),
        (900, "cert-only@north.test")]  # a later row's value wins, as MERGE then SET row after row
    assert cert.cypher("MATCH (l:DatamigLedger {kind: 'node', label: 'Staff'}) "
                       "RETURN sum(size(l.keys)) AS n") == [{"n": 3}]
    assert cert.cypher("MATCH (l:DatamigLedger {kind: 'node_kept'}) RETURN count(l) AS n") == [{"n": 0}]
    undone = rollback_run(cert.cfg, cert.env, cert.out_dir, RUN)["graph"]
    assert (undone["nodes_deleted"], undone["nodes_already_gone"]) == (1 + 2 + 10_001 + 3, 0)
    assert cert.fingerprint() == before


def test_jsonb_json_nulls_strings_and_arrays_roll_back_exactly(cert):
    """A CERT jsonb 'null' came back as an SQL NULL: the before-image wrote both as JSON null."""
    import duckdb

    from test_load_support import WRITER

    cert.sql("ids", f"""
        CREATE TABLE docs (id bigint PRIMARY KEY, j jsonb, ja jsonb[]);
        GRANT SELECT, INSERT, UPDATE, DELETE ON docs TO {WRITER};
        INSERT INTO docs VALUES (1, 'null', ARRAY['null'::jsonb, NULL, '"s"']), (2, '"just text"', NULL),
                                (3, NULL, '{{}}'), (4, '{{"a": [1, null]}}', ARRAY['{{"b": null}}'::jsonb]);""")
    before = cert.fingerprint()
    run_dir = build_run(cert.out_dir, RUN)
    duckdb.connect().execute(f"""COPY (SELECT * FROM (VALUES (1::BIGINT, '{{"x": 1}}'::JSON), (2, '[2]'), (3, '3'),
                                                           (4, 'null')) v(id, j))
                                 TO '{run_dir / "final" / "ids" / "docs.parquet"}' (FORMAT parquet)""")
    report = load_run(cert.cfg, cert.env, run_dir, strategy="upsert")
    assert report["stores"]["ids"]["tables"]["docs"]["updated"] == 4
    assert cert.fingerprint() != before
    rollback_run(cert.cfg, cert.env, cert.out_dir, RUN)
    assert cert.sql("ids", "SELECT id, j IS NULL, j::text, ja::text FROM docs ORDER BY id") == [
        (1, False, "null", '{"null",NULL,"\\"s\\""}'), (2, False, '"just text"', None), (3, True, None, "{}"),
        (4, False, '{"a": [1, null]}', '{"{\\"b\\": null}"}')]
    assert cert.fingerprint() == before


def test_rollback_is_refused_when_cert_linked_a_node_the_run_created(cert):
    """A review: a CERT tester drew a relationship from CERT's own district to a staff node the
    run created; the rollback's DETACH DELETE took it away without a word, where PostgreSQL
    refuses to delete a loaded row that CERT's own rows reference (a foreign key)."""
    before = cert.fingerprint()
    load_run(cert.cfg, cert.env, build_run(cert.out_dir, RUN))
    cert.cypher("MATCH (d:District {district_id: 99}), (s:Staff {staff_id: 101}) CREATE (d)-[:QA_CONTACT]->(s)")
    linked = cert.fingerprint()
    with pytest.raises(MigrationFailed) as err:
        rollback_run(cert.cfg, cert.env, cert.out_dir, RUN)
    assert f"run {RUN}: cannot roll back" in str(err.value) and "Staff 101" in str(err.value)
    assert "QA_CONTACT" in str(err.value)
    assert cert.fingerprint() == linked and cert.prepared() == []

    cert.cypher("MATCH ()-[r:QA_CONTACT]->() DELETE r")
    rollback_run(cert.cfg, cert.env, cert.out_dir, RUN)
    assert cert.fingerprint() == before


def test_a_relationship_a_later_run_drew_to_a_node_the_run_created_names_that_run(cert):
    """The refusal said "delete them first" of a relationship a later datamig run created: the
    way out is rolling that run back, which deleting it by hand would leave with a lying ledger."""
    before = cert.fingerprint()
    load_run(cert.cfg, cert.env, build_run(cert.out_dir, RUN))
    later_id = "mig-20251107-090000-d1"
    data = _graph_alone()
    data["nodes"] = {label: [] for label in data["nodes"]}
    data["rels"] = {rtype: [] for rtype in data["rels"]} | {"WORKS_FOR": [("Staff", 101, "District", 99, "qa")]}
    load_run(cert.cfg, cert.env, build_run(cert.out_dir, later_id, data=data))
    loaded = cert.fingerprint()
    with pytest.raises(MigrationFailed) as err:
        rollback_run(cert.cfg, cert.env, cert.out_dir, RUN)
    assert "Staff 101" in str(err.value) and f"later run {later_id} created (WORKS_FOR)" in str(err.value)
    assert f"roll back {later_id} first" in str(err.value) and "delete them" not in str(err.value)
    assert cert.fingerprint() == loaded and cert.prepared() == []

    rollback_run(cert.cfg, cert.env, cert.out_dir, later_id)
    rollback_run(cert.cfg, cert.env, cert.out_dir, RUN)
    assert cert.fingerprint() == before


def test_the_uniqueness_constraints_a_load_created_go_with_its_last_rollback(cert):
    """A review: the load creates a uniqueness constraint per label key CERT's graph lacks
    (MERGE needs it), and the rollback left them: CERT, "exactly as before", then refused a
    write it took before the load (two Student nodes of one key). They stay while another run
    is still loaded (its MERGE needs them too) and go with the last one."""
    constraints = "SHOW CONSTRAINTS YIELD name WHERE name STARTS WITH 'datamig_' AND name <> " \
                  "'datamig_DatamigRun_run_id' RETURN name ORDER BY name"
    for row in cert.cypher(constraints):  # an earlier test's load made them (one server for the module)
        cert.cypher(f"DROP CONSTRAINT `{row['name']}`")
    load_run(cert.cfg, cert.env, build_run(cert.out_dir, RUN))
    assert "datamig_Student_student_id" in [r["name"] for r in cert.cypher(constraints)]
    rollback_run(cert.cfg, cert.env, cert.out_dir, RUN)
    assert cert.cypher(constraints) == []
    cert.cypher("CREATE (:Student {student_id: 'twice'}), (:Student {student_id: 'twice'})")
    cert.cypher("MATCH (s:Student {student_id: 'twice'}) DELETE s")

    before = cert.fingerprint()
    load_run(cert.cfg, cert.env, build_run(cert.out_dir, RUN))
    later_id = "mig-20251107-090000-d2"
    data = _graph_alone()
    data["nodes"] = {label: [] for label in data["nodes"]} | {"District": [(2, "South")]}
    data["rels"] = {rtype: [] for rtype in data["rels"]}
    load_run(cert.cfg, cert.env, build_run(cert.out_dir, later_id, data=data))
    rollback_run(cert.cfg, cert.env, cert.out_dir, RUN)
    assert "datamig_District_district_id" in [r["name"] for r in cert.cypher(constraints)]  # the later run's now
    rollback_run(cert.cfg, cert.env, cert.out_dir, later_id)
    assert cert.cypher(constraints) == [] and cert.fingerprint() == before


def test_a_constraint_a_killed_load_created_goes_with_the_next_load_s_rollback(cert):
    """A load killed after creating its uniqueness constraints but before writing its run node
    left them recorded by no run: the next load found them in place, took them for CERT's own,
    and every rollback after kept them in CERT for good."""
    constraints = "SHOW CONSTRAINTS YIELD name WHERE name STARTS WITH 'datamig_' AND name <> " \
                  "'datamig_DatamigRun_run_id' RETURN name ORDER BY name"
    for row in cert.cypher(constraints):  # an earlier test's load made them (one server for the module)
        cert.cypher(f"DROP CONSTRAINT `{row['name']}`")
    cert.cypher("CREATE CONSTRAINT datamig_Student_student_id FOR (n:Student) REQUIRE n.student_id IS UNIQUE")
    cert.cypher("CREATE CONSTRAINT cert_own_school FOR (n:School) REQUIRE n.school_id IS UNIQUE")
    load_run(cert.cfg, cert.env, build_run(cert.out_dir, RUN))
    rollback_run(cert.cfg, cert.env, cert.out_dir, RUN)
    assert cert.cypher(constraints) == []
    assert [r["name"] for r in cert.cypher("SHOW CONSTRAINTS YIELD name WHERE name = 'cert_own_school' "
                                           "RETURN name")] == ["cert_own_school"]
    cert.cypher("DROP CONSTRAINT cert_own_school")


def test_a_failed_load_leaves_the_constraints_it_took_on(cert):
    """A review: a run loaded before runs recorded their constraints has none on its run node,
    so the next load took them on; that load then failed (insert conflicts, nothing written)
    and dropped them with its own, under the loaded run's nodes, whose MERGE needs them."""
    names = "SHOW CONSTRAINTS YIELD name WHERE name STARTS WITH 'datamig_' RETURN name ORDER BY name"
    load_run(cert.cfg, cert.env, build_run(cert.out_dir, RUN))
    cert.cypher(f"MATCH (r:DatamigRun {{run_id: '{RUN}'}}) REMOVE r.constraints")
    before = cert.cypher(names)
    later = "mig-20251107-090000-d1"
    with pytest.raises(MigrationFailed, match="insert conflicts"):
        load_run(cert.cfg, cert.env, build_run(cert.out_dir, later), strategy="insert")
    assert cert.cypher(names) == before and "datamig_Student_student_id" in [r["name"] for r in before]


def test_a_graph_constraint_error_names_the_constraint_never_the_value(cert):
    """CERT's own uniqueness constraint refused a node: the error repeated Neo4j's message, which
    quotes the refused value (an anonymized, still personal email) in load-report.json and logs."""
    cert.cypher("CREATE CONSTRAINT cert_staff_email IF NOT EXISTS FOR (n:Staff) REQUIRE n.email IS UNIQUE")
    try:
        cert.cypher("CREATE (:Staff {staff_id: 9901, email: 't1@north.test'})")
        run_dir = build_run(cert.out_dir, RUN)
        with pytest.raises(MigrationFailed) as err:
            load_run(cert.cfg, cert.env, run_dir)
        message = str(err.value)
        assert "constraint cert_staff_email on label Staff, property email" in message, message
        assert "north.test" not in message and "ConstraintValidationFailed" in message
        assert "north.test" not in (run_dir / "load-report.json").read_text()
    finally:
        cert.cypher("DROP CONSTRAINT cert_staff_email IF EXISTS")


def _invocations(cert, marker: str, since: int, run: str) -> dict[str, int]:
    """Per query text, how often Neo4j's own query statistics saw it run for `run` since
    `since` (server ms), once `marker` (run last) is among them: the collection is
    asynchronous, and ongoing from the server's start."""
    def counts():
        rows = cert.cypher("CALL db.stats.retrieve('QUERIES') YIELD data RETURN data")
        return {r["data"]["query"]: sum(1 for i in r["data"]["invocations"] if i["startTimestampMillis"] >= since
                                        and (i.get("params") or {}).get("run") == run) for r in rows}
    cert.cypher(f"RETURN '{marker}' AS marker")
    wait_for(lambda: any(marker in query for query in counts()))
    return counts()


def test_a_rollback_reads_the_run_s_graph_ledger_once(cert):
    """The refusal check (foreign_link) read the run's graph ledger, and the undo read it again
    moments later in the same rollback: they now work from one reading."""
    load_run(cert.cfg, cert.env, build_run(cert.out_dir, RUN))
    for call in ("stop", "clear", "collect"):  # a fresh collection: the server keeps one going
        cert.cypher(f"CALL db.stats.{call}('QUERIES')")
    since = cert.cypher("RETURN timestamp() AS t")[0]["t"]
    rollback_run(cert.cfg, cert.env, cert.out_dir, RUN)
    ran = _invocations(cert, "after the rollback", since, RUN)
    reads = {q: n for q, n in ran.items() if q.startswith("MATCH (l:DatamigLedger {run_id: $run") and "RETURN" in q}
    befores = {q: n for q, n in ran.items() if "-[m:DATAMIG_BEFORE" in q and "RETURN properties(m)" in q}
    assert sum(reads.values()) == 1 and sum(befores.values()) == 1, (reads, befores)


def test_the_rollback_counts_as_updated_only_rows_whose_values_changed_back(cert):
    """An upsert images every row it rewrites, also those it rewrote with the values they held:
    the rollback counted each restored image as updated, though it changed nothing there."""
    seed_overlap(cert)  # school 10 and courses 1-3 as the final has them, district 1 and staff 100 not
    before = cert.fingerprint()
    load_run(cert.cfg, cert.env, build_run(cert.out_dir, RUN), strategy="upsert")
    report = rollback_run(cert.cfg, cert.env, cert.out_dir, RUN)
    ids = report["stores"]["ids"]
    assert ids["public.districts"] == {"inserted": 0, "updated": 1, "unchanged": 0, "already_gone": 0}
    assert ids["public.staff"] == {"inserted": 2, "updated": 1, "unchanged": 0, "already_gone": 0}
    assert ids["public.schools"] == {"inserted": 1, "updated": 0, "unchanged": 1, "already_gone": 0}
    assert ids["public.courses"] == {"inserted": 0, "updated": 0, "unchanged": 3, "already_gone": 0}
    assert ids["public.students"] == {"inserted": 3, "updated": 0, "unchanged": 0, "already_gone": 0}
    assert cert.fingerprint() == before


def test_the_rollback_counts_rows_cert_deleted_since_the_load_as_already_gone(cert):
    """A table's `inserted` was the ledger's count: a row the run inserted and CERT deleted since
    was counted as deleted by the rollback; a row the run imaged and CERT deleted since was not
    counted at all (its image restores nothing: CERT's own delete stands)."""
    seed_overlap(cert)
    load_run(cert.cfg, cert.env, build_run(cert.out_dir, RUN), strategy="upsert")
    cert.sql("ids", f"DELETE FROM enrollments WHERE student_id = '{sid(0)}'; DELETE FROM students WHERE id = '{sid(0)}'; "
                    "DELETE FROM courses WHERE id = 3")
    report = rollback_run(cert.cfg, cert.env, cert.out_dir, RUN)
    ids = report["stores"]["ids"]
    assert ids["public.students"] == {"inserted": 2, "updated": 0, "unchanged": 0, "already_gone": 1}
    assert ids["public.enrollments"]["already_gone"] == 1
    assert ids["public.courses"] == {"inserted": 0, "updated": 0, "unchanged": 2, "already_gone": 1}
    assert ids["public.districts"] == {"inserted": 0, "updated": 1, "unchanged": 0, "already_gone": 0}
    assert cert.sql("ids", "SELECT count(*) FROM students") == [(0,)]
    assert cert.sql("ids", "SELECT id FROM courses WHERE id IN (1, 2, 3) ORDER BY id") == [(1,), (2,)]


def test_the_rollback_report_counts_what_the_graph_undo_did(cert):
    """The graph counts were the ledger's entries: a node or relationship the run created and
    CERT deleted since was counted deleted, an image restoring the values a node still held
    was counted restored."""
    seed_overlap(cert)  # District 1 changed by the final, School 10 as the final has it
    cert.cypher("MATCH (s:School {school_id: 10}), (d:District {district_id: 1}) "
                "CREATE (s)-[:BELONGS_TO {since: 1980}]->(d), "  # the final says 1990
                "(:Staff {staff_id: 100, email: 'boss@north.test'})-[:WORKS_FOR {role: 'principal'}]->(d)")
    before = cert.fingerprint()
    load_run(cert.cfg, cert.env, build_run(cert.out_dir, RUN), strategy="upsert")  # images all it finds
    cert.cypher("MATCH (s:Student {student_id: $id}) DETACH DELETE s", id=sid(0))  # and its ENROLLED_IN
    cert.cypher("MATCH (:Staff {staff_id: 102})-[r:WORKS_FOR]->() DELETE r")
    report = rollback_run(cert.cfg, cert.env, cert.out_dir, RUN)
    assert report["graph"] == {
        "relationships_deleted": 4,  # BELONGS_TO of school 11, ENROLLED_IN of students 1-2, WORKS_FOR of staff 101
        "relationships_already_gone": 2,  # ENROLLED_IN of student 0, WORKS_FOR of staff 102
        "relationships_restored": 1, "relationships_unchanged": 1,  # BELONGS_TO of school 10; WORKS_FOR of staff 100
        "nodes_restored": 1, "nodes_unchanged": 2,  # District 1; School 10, Staff 100
        "nodes_deleted": 5, "nodes_already_gone": 1}  # School 11, students 1-2, staff 101-102; student 0
    assert cert.fingerprint() == before


def test_arrays_with_their_bounds_and_negative_zero_roll_back_exactly(cert):
    """A review: a before-image went through to_jsonb, which drops an array's lower bound
    ('[0:2]={1,2,3}' came back as '{1,2,3}') and reads a float's -0 as the number 0."""
    from test_load_support import WRITER

    cert.sql("ids", f"""
        CREATE TABLE grids (id bigint PRIMARY KEY, x int, ia int[], fa float8[], f8 float8, md text[]);
        GRANT SELECT, INSERT, UPDATE, DELETE ON grids TO {WRITER};
        INSERT INTO grids VALUES (1, 1, '[0:2]={{1,2,3}}', '{{-0,1e-300,NaN}}', '-0', '[2:3][1:1]={{{{a}},{{NULL}}}}'),
                                 (2, 2, '{{}}', NULL, 'Infinity', '{{{{"x y",""}}}}');""")
    _upsert_x_then_roll_back(cert, "grids", "SELECT id, grids::text FROM grids ORDER BY id")


def test_lists_of_floats_decimals_and_json_load_as_written(cert):
    """A review: a list went to PostgreSQL through its JSON text, which writes a DOUBLE -0.0 as 0.0,
    a DECIMAL 1.10 as 1.1, and a JSON element unquoted ('{{"a":1}}', no array literal at all)."""
    import duckdb

    from test_load_support import WRITER

    cert.sql("ids", f"""
        CREATE TABLE lists (id bigint PRIMARY KEY, fa float8[], na numeric[], ja json[], ta text[], ba bigint[]);
        GRANT SELECT, INSERT, UPDATE, DELETE ON lists TO {WRITER};""")
    run_dir = build_run(cert.out_dir, RUN)
    duckdb.connect().execute(f"""COPY (SELECT 1::BIGINT AS id, ['-0'::DOUBLE, 1.5] AS fa,
            [1.10, NULL]::DECIMAL(10,2)[] AS na, ['{{"a": 1}}']::JSON[] AS ja, ['x, "y"', NULL]::VARCHAR[] AS ta,
            [1, NULL, -2]::BIGINT[] AS ba) TO '{run_dir / "final" / "ids" / "lists.parquet"}' (FORMAT parquet)""")
    load_run(cert.cfg, cert.env, run_dir, strategy="upsert")
    assert cert.sql("ids", "SELECT fa::text, na::text, ja::text, ta::text, ba::text FROM lists") == [
        ("{-0,1.5}", "{1.10,NULL}", '{"{\\"a\\": 1}"}', '{"x, \\"y\\"",NULL}', "{1,NULL,-2}")]


def test_columns_named_like_the_loaders_aliases_roll_back_exactly(cert):
    """A review: the before-image was to_jsonb(t) and the restore compared t::text with o::text,
    whole-row references by a bare alias. A CERT column named t made the image that column's
    value (the load went on, its rollback could restore nothing), one named o stopped the
    rollback ("column reference "o" is ambiguous")."""
    from test_load_support import WRITER

    cert.sql("ids", f"""
        CREATE TABLE tagged (id bigint PRIMARY KEY, x int, t text, o text);
        GRANT SELECT, INSERT, UPDATE, DELETE ON tagged TO {WRITER};
        INSERT INTO tagged VALUES (1, 1, 'tee', 'oh'), (2, 2, NULL, '');""")
    _upsert_x_then_roll_back(cert, "tagged", "SELECT id, t IS NULL, o IS NULL, tagged::text FROM tagged ORDER BY id")


def test_a_key_column_named_run_id_rolls_back(cert):
    """A review: the ledger's key rows carry the run as a column run_id beside the key's
    columns, so a table keyed by a column run_id could not be rolled back ("column reference
    "run_id" is ambiguous")."""
    import duckdb

    from test_load_support import WRITER

    cert.sql("ids", f"""
        CREATE TABLE batches (run_id bigint PRIMARY KEY, x int);
        GRANT SELECT, INSERT, UPDATE, DELETE ON batches TO {WRITER};
        INSERT INTO batches VALUES (1, 1);""")
    before = cert.fingerprint()
    run_dir = build_run(cert.out_dir, RUN)
    duckdb.connect().execute(f"""COPY (SELECT * FROM (VALUES (1::BIGINT, 10), (2, 20)) v(run_id, x))
                                 TO '{run_dir / "final" / "ids" / "batches.parquet"}' (FORMAT parquet)""")
    load_run(cert.cfg, cert.env, run_dir, strategy="upsert")
    report = rollback_run(cert.cfg, cert.env, cert.out_dir, RUN)
    assert report["stores"]["ids"]["public.batches"] == {"inserted": 1, "updated": 1, "unchanged": 0,
                                                         "already_gone": 0}
    assert cert.fingerprint() == before


def _upsert_x_then_roll_back(cert, table: str, dump: str) -> None:
    """Rows 1 and 2 of ids.`table` get a new x by an upsert, then the rollback: every column
    comes back as it was, by `dump` and by the fingerprint."""
    import duckdb

    rows = cert.sql("ids", dump)
    before = cert.fingerprint()
    run_dir = build_run(cert.out_dir, RUN)
    duckdb.connect().execute(f"""COPY (SELECT * FROM (VALUES (1::BIGINT, 10), (2, 20)) v(id, x))
                                 TO '{run_dir / "final" / "ids" / f"{table}.parquet"}' (FORMAT parquet)""")
    assert load_run(cert.cfg, cert.env, run_dir, strategy="upsert")["stores"]["ids"]["tables"][table]["updated"] == 2
    rollback_run(cert.cfg, cert.env, cert.out_dir, RUN)
    assert cert.sql("ids", dump) == rows
    assert cert.fingerprint() == before


def test_a_rollback_after_cert_changed_a_table_s_key_is_refused(cert):
    """A review: the ledger names the run's rows by the key CERT had at the load; with that
    table's primary key moved to another column since, the rollback matched its entries by the
    new key, found none, and said ROLLED_BACK (every row "already_gone") while CERT kept the
    run's rows and its overwritten row."""
    import duckdb

    from test_load_support import WRITER

    cert.sql("ids", f"""
        CREATE TABLE things (id bigint PRIMARY KEY, code text NOT NULL UNIQUE, x int);
        GRANT SELECT, INSERT, UPDATE, DELETE ON things TO {WRITER};
        INSERT INTO things VALUES (1, 'a', 1);""")
    before = cert.fingerprint()
    run_dir = build_run(cert.out_dir, RUN)
    duckdb.connect().execute(f"""COPY (SELECT * FROM (VALUES (1::BIGINT, 'a', 10), (2, 'b', 20)) v(id, code, x))
                                 TO '{run_dir / "final" / "ids" / "things.parquet"}' (FORMAT parquet)""")
    load_run(cert.cfg, cert.env, run_dir, strategy="upsert")
    cert.sql("ids", "ALTER TABLE things DROP CONSTRAINT things_pkey; ALTER TABLE things ADD PRIMARY KEY (code)")
    loaded = cert.fingerprint()
    with pytest.raises(MigrationFailed) as err:
        rollback_run(cert.cfg, cert.env, cert.out_dir, RUN)
    assert "ids.things" in str(err.value) and "(id)" in str(err.value) and "(code)" in str(err.value)
    assert cert.fingerprint() == loaded and cert.prepared() == []
    assert cert.sql("ids", "SELECT status FROM datamig.runs") == [("loaded",)]

    cert.sql("ids", "ALTER TABLE things DROP CONSTRAINT things_pkey; ALTER TABLE things ADD PRIMARY KEY (id)")
    rollback_run(cert.cfg, cert.env, cert.out_dir, RUN)
    assert cert.fingerprint() == before


def _final_with(cert, table: str, values: str) -> Path:
    """A run folder whose final holds ids.`table` (email, code, x) of `values` besides the usual."""
    import duckdb

    run_dir = build_run(cert.out_dir, RUN)
    duckdb.connect().execute(f"""COPY (SELECT * FROM (VALUES {values}) v(email, code, x))
                                 TO '{run_dir / "final" / "ids" / f"{table}.parquet"}' (FORMAT parquet)""")
    return run_dir


def test_a_table_without_a_primary_key_is_loaded_by_its_unique_key_of_not_null_columns(cert):
    """A table with no primary key was loaded by its first unique key by name, here one over a
    nullable column: final rows with no email stopped the load ("NULL key (email)") although
    the code key, NOT NULL, names every row."""
    from test_load_support import WRITER

    cert.sql("ids", f"""
        CREATE TABLE contacts (email text, code text NOT NULL, x int,
                               CONSTRAINT a_email UNIQUE (email), CONSTRAINT b_code UNIQUE (code));
        GRANT SELECT, INSERT, UPDATE, DELETE ON contacts TO {WRITER};
        INSERT INTO contacts VALUES ('a@example.org', 'c1', 1);""")
    before = cert.fingerprint()
    run_dir = _final_with(cert, "contacts", "(NULL::VARCHAR, 'c1', 10), (NULL, 'c2', 20)")
    counts = load_run(cert.cfg, cert.env, run_dir, strategy="upsert")
    assert counts["stores"]["ids"]["tables"]["contacts"]["updated"] == 1
    assert cert.sql("ids", "SELECT email, code, x FROM contacts ORDER BY code") == [(None, "c1", 10), (None, "c2", 20)]
    rollback_run(cert.cfg, cert.env, cert.out_dir, RUN)
    assert cert.fingerprint() == before


def _tokens_loaded_by_email_then_keyed_by_code(cert) -> list:
    """ids.tokens, keyed by email alone, upserted by run RUN; then CERT adds a NOT NULL unique
    key (code, first by name). Returns the table's rows before the run."""
    from test_load_support import WRITER

    cert.sql("ids", f"""
        CREATE TABLE tokens (email text, code text NOT NULL, x int, CONSTRAINT z_email UNIQUE (email));
        GRANT SELECT, INSERT, UPDATE, DELETE ON tokens TO {WRITER};
        INSERT INTO tokens VALUES ('a@example.org', 'c1', 1);""")
    before = cert.sql("ids", "SELECT * FROM tokens ORDER BY code")
    run_dir = _final_with(cert, "tokens", "('a@example.org', 'c1', 10), ('b@example.org', 'c2', 20)")
    load_run(cert.cfg, cert.env, run_dir, strategy="upsert")
    cert.sql("ids", "ALTER TABLE tokens ADD CONSTRAINT a_code UNIQUE (code)")
    return before


def test_a_unique_key_cert_added_after_the_load_does_not_block_its_rollback(cert):
    """The ledger names the run's rows by CERT's key at the load (email). A unique key CERT
    added since (code, first by name) became the key the rollback looked for, and it was
    refused as rekeyed although email still names every row."""
    before = _tokens_loaded_by_email_then_keyed_by_code(cert)
    report = rollback_run(cert.cfg, cert.env, cert.out_dir, RUN)
    assert report["stores"]["ids"]["public.tokens"] == {"inserted": 1, "updated": 1, "unchanged": 0,
                                                        "already_gone": 0}
    assert cert.sql("ids", "SELECT * FROM tokens ORDER BY code") == before


def test_a_rollback_is_refused_while_a_later_run_recorded_the_table_by_another_key(cert):
    """A review: run A recorded tokens by email, CERT then got a NOT NULL unique key (code), and
    run B recorded its rows by code. Rolling A back matched B's entries by email, found none,
    and put A's images back over B's rows and deleted the row B had written, B still loaded."""
    before = _tokens_loaded_by_email_then_keyed_by_code(cert)
    later = "mig-20251107-090000-d1"
    data = _graph_alone()  # tokens and no other row or graph item of the first run's
    data["nodes"] = {label: [] for label in data["nodes"]} | {"District": [(2, "South")]}
    data["rels"] = {rtype: [] for rtype in data["rels"]}
    later_dir = build_run(cert.out_dir, later, data=data)
    duckdb_copy = f"""COPY (SELECT * FROM (VALUES ('a@example.org', 'c1', 99), ('b@example.org', 'c2', 77))
                         v(email, code, x)) TO '{later_dir / "final" / "ids" / "tokens.parquet"}' (FORMAT parquet)"""
    import duckdb

    duckdb.connect().execute(duckdb_copy)
    load_run(cert.cfg, cert.env, later_dir, strategy="upsert")
    loaded = cert.sql("ids", "SELECT * FROM tokens ORDER BY code")
    with pytest.raises(MigrationFailed) as err:
        rollback_run(cert.cfg, cert.env, cert.out_dir, RUN)
    assert f"later run {later} recorded ids.tokens by other key columns" in str(err.value)
    assert cert.sql("ids", "SELECT * FROM tokens ORDER BY code") == loaded
    rollback_run(cert.cfg, cert.env, cert.out_dir, later)
    rollback_run(cert.cfg, cert.env, cert.out_dir, RUN)
    assert cert.sql("ids", "SELECT * FROM tokens ORDER BY code") == before


@pytest.mark.parametrize("strategy", ["upsert", "merge"])
def test_a_final_column_of_a_domain_over_json_is_compared_as_its_text(cert, strategy):
    """A review: json and point have no equality operator, so they are compared as text; a
    column of a domain over them (or an array of one) was compared as itself, and every upsert,
    merge or dry run of a table CERT already had rows of stopped ("operator does not exist:
    doc_j = doc_j")."""
    import duckdb

    from test_load_support import WRITER

    cert.sql("ids", f"""
        CREATE DOMAIN doc_j AS json;
        CREATE DOMAIN spot AS point;
        CREATE TABLE notices (id bigint PRIMARY KEY, j doc_j, p spot, js doc_j[]);
        GRANT SELECT, INSERT, UPDATE, DELETE ON notices TO {WRITER};
        INSERT INTO notices VALUES (1, '{{"b": 1,  "a": 2}}', '(1,2)', '{{"[1]"}}'),
                                   (2, '[]', '(3,4)', '{{"[2]"}}');""")
    before = cert.fingerprint()
    run_dir = build_run(cert.out_dir, RUN)
    duckdb.connect().execute(f"""COPY (SELECT * FROM (VALUES (1::BIGINT, '{{"b": 1,  "a": 3}}'::JSON, '(1,2)', ['[1]']),
                                                           (2, '[]'::JSON, '(3,4)', ['[2]']), (3, NULL, NULL, NULL))
                                        v(id, j, p, js))
                                 TO '{run_dir / "final" / "ids" / "notices.parquet"}' (FORMAT parquet)""")
    plan = load_run(cert.cfg, cert.env, run_dir, strategy=strategy, dry_run=True)["stores"]["ids"]["tables"]
    assert (plan["notices"]["new"], plan["notices"]["changed"], plan["notices"]["unchanged"]) == (1, 1, 1)
    load_run(cert.cfg, cert.env, run_dir, strategy=strategy)
    assert cert.sql("ids", "SELECT j::text FROM notices ORDER BY id") == [('{"b": 1,  "a": 3}',), ("[]",), (None,)]
    rollback_run(cert.cfg, cert.env, cert.out_dir, RUN)
    assert cert.fingerprint() == before


def test_a_cert_row_committed_while_the_load_writes_is_never_taken_for_an_insert(cert):
    """A review: a CERT tester's transaction held a new row whose key the run also has, and
    committed while the upsert waited on it. The ledger, read before, had recorded the key as
    inserted; ON CONFLICT then overwrote the tester's row without a before-image, and the
    rollback deleted it. Whatever the load's outcome, the tester's row must survive."""
    import threading

    import psycopg

    cert.sql("ids", "INSERT INTO districts VALUES (1, 'Tester district', '2001-01-01', NULL)")
    before = cert.fingerprint()  # as it will be once the tester commits
    cert.sql("ids", "DELETE FROM districts WHERE id = 1")
    tester = psycopg.connect(cert.admin_url("ids"))
    tester.execute("INSERT INTO districts VALUES (1, 'Tester district', '2001-01-01', NULL)")
    outcome = {}

    def load() -> None:
        try:
            outcome["report"] = load_run(cert.cfg, cert.env, build_run(cert.out_dir, RUN), strategy="upsert")
        except DatamigError as exc:
            outcome["error"] = exc

    loading = threading.Thread(target=load)
    loading.start()
    waiting = "SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE 'datamig-load:%' " \
              "AND wait_event_type = 'Lock'"
    wait_for(lambda: cert.sql("ids", waiting)[0][0] > 0 or not loading.is_alive(), timeout=120)
    tester.commit()
    tester.close()
    loading.join(timeout=300)
    if "report" in outcome:
        assert outcome["report"]["stores"]["ids"]["tables"]["districts"]["inserted"] == 0
        rollback_run(cert.cfg, cert.env, cert.out_dir, RUN)
    else:
        assert "could not serialize" in str(outcome["error"])
    assert cert.sql("ids", "SELECT name FROM districts WHERE id = 1") == [("Tester district",)]
    assert cert.fingerprint() == before
    assert cert.prepared() == []


def test_rollback_moves_a_sequence_back_unless_cert_drew_from_it_since(cert):
    """A review: the load moves an identity's sequence past the ids it wrote (so CERT's next
    insert does not clash), and the rollback left it there: CERT was not as before."""
    import duckdb

    from test_load_support import WRITER

    cert.sql("ids", f"""
        CREATE TABLE tickets (id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, x int);
        GRANT SELECT, INSERT, UPDATE, DELETE ON tickets TO {WRITER};
        GRANT SELECT, UPDATE ON SEQUENCE tickets_id_seq TO {WRITER};
        INSERT INTO tickets (x) VALUES (1), (2);""")
    state = "SELECT last_value, is_called FROM tickets_id_seq"
    assert cert.sql("ids", state) == [(2, True)]
    before = cert.fingerprint()
    run_dir = build_run(cert.out_dir, RUN)
    duckdb.connect().execute(f"""COPY (SELECT * FROM (VALUES (2::BIGINT, 20), (10, 100), (11, 110)) v(id, x))
                                 TO '{run_dir / "final" / "ids" / "tickets.parquet"}' (FORMAT parquet)""")
    load_run(cert.cfg, cert.env, run_dir, strategy="upsert")
    assert cert.sql("ids", state) == [(11, True)]
    rollback_run(cert.cfg, cert.env, cert.out_dir, RUN)
    assert cert.sql("ids", state) == [(2, True)] and cert.fingerprint() == before

    # CERT drew an id after the load: the sequence is CERT's again, and stays where it is.
    load_run(cert.cfg, cert.env, run_dir, strategy="upsert")
    cert.sql("ids", "INSERT INTO tickets (x) VALUES (3)")
    cert.sql("ids", "DELETE FROM tickets WHERE id = 12")
    rollback_run(cert.cfg, cert.env, cert.out_dir, RUN)
    assert cert.sql("ids", state) == [(12, True)] and cert.fingerprint() == before


def test_rollback_moves_back_a_sequence_the_load_drew_from_through_a_default(cert):
    """A review: a serial column CERT has and the final lacks takes its default, so the load
    drew from its sequence (an upsert once per row, conflicting ones too); only sequences of
    columns the final writes were recorded, and the rollback left this one ahead."""
    import duckdb

    from test_load_support import WRITER

    cert.sql("ids", f"""
        CREATE TABLE tallies (id bigint PRIMARY KEY, x int, n serial);
        GRANT SELECT, INSERT, UPDATE, DELETE ON tallies TO {WRITER};
        GRANT SELECT, UPDATE ON SEQUENCE tallies_n_seq TO {WRITER};
        INSERT INTO tallies (id, x) VALUES (1, 1), (2, 2);""")
    state = "SELECT last_value, is_called FROM tallies_n_seq"
    before = cert.fingerprint()
    run_dir = build_run(cert.out_dir, RUN)
    duckdb.connect().execute(f"""COPY (SELECT * FROM (VALUES (1::BIGINT, 10), (2, 20), (3, 30)) v(id, x))
                                 TO '{run_dir / "final" / "ids" / "tallies.parquet"}' (FORMAT parquet)""")
    load_run(cert.cfg, cert.env, run_dir, strategy="upsert")
    assert cert.sql("ids", state)[0][0] > 2
    report = rollback_run(cert.cfg, cert.env, cert.out_dir, RUN)
    assert cert.sql("ids", state) == [(2, True)] and cert.fingerprint() == before
    assert report["sequences"] == {"ids": ["tallies_n_seq"]}


def test_domains_over_json_and_arrays_roll_back_exactly(cert):
    """A review: a before-image knew json, jsonb and arrays by their type's name, so a column
    of a domain over jsonb had its 'null' restored as an SQL NULL, one over json lost its
    spacing and key order, and one over an array its bounds."""
    from test_load_support import WRITER

    cert.sql("ids", f"""
        CREATE DOMAIN doc_b AS jsonb;
        CREATE DOMAIN doc_j AS json;
        CREATE DOMAIN slots AS int[];
        CREATE TABLE forms (id bigint PRIMARY KEY, x int, b doc_b, j doc_j, s slots);
        GRANT SELECT, INSERT, UPDATE, DELETE ON forms TO {WRITER};
        INSERT INTO forms VALUES (1, 1, 'null', '{{"b": 1,  "a": 2}}', '[0:1]={{7,8}}'), (2, 2, NULL, NULL, NULL);""")
    _upsert_x_then_roll_back(cert, "forms", "SELECT id, b IS NULL, forms::text FROM forms ORDER BY id")


# --- a node's other labels ----------------------------------------------------------------------

ODD = "Odd `label` x"


def _with_labels(run_dir, label: str, key: str, others: dict) -> None:
    """The final node file of `label` with the extract's `_labels` column: `others` by key."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = run_dir / "final" / "sp" / "nodes" / f"{label}.parquet"
    table = pq.read_table(path)
    column = pa.array([others.get(k) for k in table.column(key).to_pylist()], pa.list_(pa.string()))
    pq.write_table(table.append_column("_labels", column), path)


def _labels_of(cert, label: str, key: str, value) -> list[str]:
    rows = cert.cypher(f"MATCH (n:{label} {{{key}: $v}}) RETURN labels(n) AS l", v=value)
    return sorted(rows[0]["l"])


def test_a_node_s_other_labels_are_created_with_it_and_go_with_it_on_rollback(cert):
    """A :Staff:Teacher node reached CERT as :Staff: its other labels were never loaded."""
    before = cert.fingerprint()
    run_dir = build_run(cert.out_dir, RUN)
    _with_labels(run_dir, "Staff", "staff_id", {101: ["Teacher"], 102: ["Teacher", ODD]})
    _with_labels(run_dir, "Student", "student_id", {sid(1): ["Active"]})
    load_run(cert.cfg, cert.env, run_dir, strategy="insert")
    assert _labels_of(cert, "Staff", "staff_id", 100) == ["Staff"]
    assert _labels_of(cert, "Staff", "staff_id", 101) == ["Staff", "Teacher"]
    assert _labels_of(cert, "Staff", "staff_id", 102) == [ODD, "Staff", "Teacher"]
    assert _labels_of(cert, "Student", "student_id", sid(1)) == ["Active", "Student"]
    rollback_run(cert.cfg, cert.env, cert.out_dir, RUN)
    left = "MATCH (n) WHERE n:Teacher OR n:Active OR n:`Odd ``label`` x` RETURN count(n) AS n"
    assert cert.cypher(left) == [{"n": 0}]
    assert cert.fingerprint() == before


def test_a_cert_node_lacking_a_label_is_updated_and_gets_exactly_its_labels_back(cert):
    """CERT's own node with its own labels: one the final adds makes it changed (not a silent
    `unchanged`), CERT-only labels stay, and the rollback takes off only what the run added."""
    cert.cypher("CREATE (:Staff:CertOnly {staff_id: 101, email: 't1@north.test'}), "
                "(:Staff:Teacher {staff_id: 102, email: 't2@north.test'})")
    before = cert.fingerprint()
    run_dir = build_run(cert.out_dir, RUN)
    _with_labels(run_dir, "Staff", "staff_id", {101: ["Teacher"], 102: ["Teacher"]})
    report = load_run(cert.cfg, cert.env, run_dir, strategy="merge")
    staff = report["stores"]["sp"]["nodes"]["Staff"]
    assert (staff["new"], staff["changed"], staff["unchanged"], staff["updated"]) == (1, 1, 1, 1)
    assert _labels_of(cert, "Staff", "staff_id", 101) == ["CertOnly", "Staff", "Teacher"]
    assert _labels_of(cert, "Staff", "staff_id", 102) == ["Staff", "Teacher"]
    report = rollback_run(cert.cfg, cert.env, cert.out_dir, RUN)
    assert (report["graph"]["nodes_restored"], report["graph"]["nodes_unchanged"]) == (1, 0), report["graph"]
    assert _labels_of(cert, "Staff", "staff_id", 101) == ["CertOnly", "Staff"]
    assert cert.fingerprint() == before


def test_an_upsert_images_the_labels_and_its_rollback_restores_them(cert):
    cert.cypher("CREATE (:Staff:Teacher {staff_id: 101, email: 'old@north.test'}), "
                "(:Staff {staff_id: 102, email: 't2@north.test'})")
    before = cert.fingerprint()
    run_dir = build_run(cert.out_dir, RUN)
    _with_labels(run_dir, "Staff", "staff_id", {101: ["Teacher"], 102: [ODD]})
    load_run(cert.cfg, cert.env, run_dir, strategy="upsert")
    assert _labels_of(cert, "Staff", "staff_id", 101) == ["Staff", "Teacher"]
    assert _labels_of(cert, "Staff", "staff_id", 102) == [ODD, "Staff"]
    report = rollback_run(cert.cfg, cert.env, cert.out_dir, RUN)
    # 101: its email put back; 102: its email as it was, the label the run added taken off
    assert (report["graph"]["nodes_restored"], report["graph"]["nodes_unchanged"]) == (2, 0), report["graph"]
    assert _labels_of(cert, "Staff", "staff_id", 101) == ["Staff", "Teacher"]  # CERT had it: it stays
    assert cert.fingerprint() == before


@pytest.mark.parametrize("label", ["DatamigRun", ""])
def test_a_label_that_cannot_be_loaded_is_one_line_before_anything_is_written(cert, label):
    before = cert.fingerprint()
    run_dir = build_run(cert.out_dir, RUN)
    _with_labels(run_dir, "Staff", "staff_id", {101: ["Teacher", label]})
    with pytest.raises(MigrationFailed) as err:
        load_run(cert.cfg, cert.env, run_dir, strategy="insert")
    message = str(err.value)
    assert "\n" not in message and f"label Staff: a node has the label {label!r} besides it, which cannot be " \
        "loaded into CERT" in message, message
    assert cert.fingerprint() == before and _secret_free(message)
