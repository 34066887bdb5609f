"""A rollback after CERT changed a row the run wrote, against a real PostgreSQL 15 and Neo4j 5.26.

The rollback deletes the rows the run inserted and restores the before-images of those it
updated: a CERT user's edit of such a row since the load was silently deleted or overwritten.
Now it is refused in one line naming the row, changing nothing, unless `force` says to."""
from __future__ import annotations

import pytest

from datamig.errors import MigrationFailed
from datamig.load import load_run, rollback_run
from test_load_support import build_run, cert, cluster, final_data, neo4j_server, seed_overlap, sid

pytestmark = pytest.mark.timeout(600)
RUN = "mig-20251106-143000-d1"
__all__ = ["cert", "cluster", "neo4j_server"]


def _refused(cert, match: str) -> str:
    before = cert.fingerprint()
    with pytest.raises(MigrationFailed) as err:
        rollback_run(cert.cfg, cert.env, cert.out_dir, RUN)
    message = str(err.value)
    assert "\n" not in message and match in message, message
    assert cert.fingerprint() == before and cert.prepared() == []
    assert cert.sql("ids", "SELECT status FROM datamig.runs WHERE run_id = %s", (RUN,)) == [("loaded",)]
    return message


def test_a_row_cert_edited_since_the_load_stops_the_rollback_until_forced(cert):
    seed_overlap(cert)
    original = cert.fingerprint()
    load_run(cert.cfg, cert.env, build_run(cert.out_dir, RUN), strategy="upsert")
    cert.sql("ids", "UPDATE students SET first_name = 'Edited in CERT' WHERE id = %s", (sid(1),))
    message = _refused(cert, f'CERT wrote ids.students {{"id": "{sid(1)}"}}, a row this run inserted')
    assert "would delete it" in message and "--force" in message
    # Every write counts, one putting the value back as the load left it too.
    cert.sql("ids", "UPDATE students SET first_name = (SELECT first_name FROM students WHERE id = %s) "
                    "WHERE id = %s", (sid(2), sid(1)))
    _refused(cert, f'CERT wrote ids.students {{"id": "{sid(1)}"}}')
    report = rollback_run(cert.cfg, cert.env, cert.out_dir, RUN, force=True)
    assert report["status"] == "ROLLED_BACK"
    assert cert.fingerprint() == original


def test_a_cert_only_column_edited_in_a_row_the_run_updated_stops_the_rollback(cert):
    seed_overlap(cert)
    original = cert.fingerprint()
    load_run(cert.cfg, cert.env, build_run(cert.out_dir, RUN), strategy="upsert")
    cert.sql("ids", "UPDATE staff SET cert_note = 'edited by QA' WHERE id = 100")  # CERT's own column, imaged
    message = _refused(cert, 'CERT wrote ids.staff {"id": 100}, a row this run updated')
    assert "would overwrite it with the row before the run" in message
    assert rollback_run(cert.cfg, cert.env, cert.out_dir, RUN, force=True)["status"] == "ROLLED_BACK"
    assert cert.fingerprint() == original


def test_rows_cert_left_as_loaded_roll_back_whatever_cert_s_sessions_print(cert):
    """A row's writer is compared, not its text: a CERT database whose time zone and interval
    style changed since the load reads no row as written; a row CERT deleted is no reason to
    refuse (it stays deleted)."""
    seed_overlap(cert)
    original = cert.fingerprint()
    load_run(cert.cfg, cert.env, build_run(cert.out_dir, RUN), strategy="upsert")
    db = cert.dbs["ids"][1]
    cert.sql("ids", f"ALTER DATABASE {db} SET TimeZone = 'Asia/Kathmandu'; "
                    f"ALTER DATABASE {db} SET IntervalStyle = 'iso_8601'")
    cert.sql("ids", "DELETE FROM enrollments WHERE student_id = %s", (sid(0),))
    report = rollback_run(cert.cfg, cert.env, cert.out_dir, RUN)
    assert report["stores"]["ids"]["public.enrollments"]["already_gone"] == 1
    for setting in ("TimeZone", "IntervalStyle"):
        cert.sql("ids", f"ALTER DATABASE {db} RESET {setting}")
    after = cert.fingerprint()
    assert after["ids"]["students"] == original["ids"]["students"] and after["hcp1"] == original["hcp1"]


def test_a_later_run_rolled_back_first_leaves_the_earlier_run_free_to_roll_back(cert):
    """The later run rewrote the earlier run's rows and its rollback wrote them back: those
    writes are datamig's own, not CERT's, and the earlier run still rolls back exactly."""
    seed_overlap(cert)
    original = cert.fingerprint()
    later = "mig-20251106-150000-d1"
    load_run(cert.cfg, cert.env, build_run(cert.out_dir, RUN), strategy="upsert")
    load_run(cert.cfg, cert.env, build_run(cert.out_dir, later, final_data(school_name="Renamed")), strategy="upsert")
    assert rollback_run(cert.cfg, cert.env, cert.out_dir, later)["status"] == "ROLLED_BACK"
    assert rollback_run(cert.cfg, cert.env, cert.out_dir, RUN)["status"] == "ROLLED_BACK"
    assert cert.fingerprint() == original


def test_a_run_loaded_before_writers_were_recorded_rolls_back_unchecked(cert):
    original = cert.fingerprint()
    load_run(cert.cfg, cert.env, build_run(cert.out_dir, RUN), strategy="insert")
    cert.sql("ids", "ALTER TABLE datamig.runs DROP COLUMN load_xid, DROP COLUMN rollback_xids")
    cert.sql("ids", "UPDATE students SET first_name = 'Edited in CERT' WHERE id = %s", (sid(1),))
    assert rollback_run(cert.cfg, cert.env, cert.out_dir, RUN)["status"] == "ROLLED_BACK"
    assert cert.fingerprint() == original


def test_key_columns_named_like_the_check_s_own_names_are_compared_by_their_row(cert):
    """The check names its op column beside the key's (and the ledger its run_id): a key
    column named so must not make the query ambiguous, nor hide the change."""
    import duckdb

    from test_load_support import WRITER

    cert.sql("ids", f"CREATE TABLE odd (op int, digest int, run_id int, v text, PRIMARY KEY (op, digest, run_id)); "
                    f"GRANT SELECT, INSERT, UPDATE, DELETE ON odd TO {WRITER}")
    run_dir = build_run(cert.out_dir, RUN)
    duckdb.connect().execute(f"COPY (SELECT 1 AS op, 2 AS digest, 3 AS run_id, 'x' AS v) "
                             f"TO '{run_dir / 'final' / 'ids' / 'odd.parquet'}' (FORMAT parquet)")
    load_run(cert.cfg, cert.env, run_dir, strategy="upsert")
    cert.sql("ids", "UPDATE odd SET v = 'y'")
    _refused(cert, 'CERT wrote ids.odd {"op": 1, "digest": 2, "run_id": 3}, a row this run inserted')
    assert rollback_run(cert.cfg, cert.env, cert.out_dir, RUN, force=True)["status"] == "ROLLED_BACK"
    assert cert.sql("ids", "SELECT count(*) FROM odd") == [(0,)]


def test_a_cert_row_a_cascading_key_ties_to_a_row_the_run_inserted_stops_the_rollback(cert):
    """PostgreSQL refuses to delete a loaded row CERT's own rows reference, unless the foreign
    key says ON DELETE CASCADE or SET NULL: then the rollback's delete took CERT's rows with it
    (or cut their key), silently. Refused now, naming the key, the row and the table."""
    cert.sql("ids", "CREATE TABLE qa_notes (id int PRIMARY KEY, student_id uuid REFERENCES students (id) "
                    "ON DELETE CASCADE, school_id bigint REFERENCES schools (id) ON DELETE SET NULL, body text); "
                    "GRANT SELECT, INSERT, UPDATE, DELETE ON qa_notes TO PUBLIC; "
                    # the run's own rows referencing its rows by such a key are no reason to refuse
                    "ALTER TABLE enrollments DROP CONSTRAINT enrollments_student_id_fkey, ADD CONSTRAINT "
                    "enrollments_student_id_fkey FOREIGN KEY (student_id) REFERENCES students (id) ON DELETE CASCADE")
    original = cert.fingerprint()
    load_run(cert.cfg, cert.env, build_run(cert.out_dir, RUN), strategy="insert")
    cert.sql("ids", "INSERT INTO qa_notes VALUES (1, NULL, 11, 'QA: school 11 looks fine')")
    message = _refused(cert, "qa_notes_school_id_fkey (ON DELETE SET NULL)")
    assert 'ids.schools {"id": 11}, a row this run inserted' in message and "qa_notes" in message
    cert.sql("ids", "UPDATE qa_notes SET school_id = NULL")
    cert.sql("ids", "INSERT INTO qa_notes VALUES (2, %s, NULL, 'QA')", (sid(2),))
    message = _refused(cert, f'ids.students {{"id": "{sid(2)}"}}, a row this run inserted')
    assert "qa_notes_student_id_fkey (ON DELETE CASCADE)" in message
    cert.sql("ids", "DELETE FROM qa_notes WHERE id = 2")
    assert rollback_run(cert.cfg, cert.env, cert.out_dir, RUN)["status"] == "ROLLED_BACK"
    cert.sql("ids", "DELETE FROM qa_notes")
    assert cert.fingerprint() == original


def test_a_cert_database_printing_dates_in_another_style_loads_and_rolls_back(cert):
    """psycopg reads timestamps in the ISO output style only: with CERT's database set to
    DateStyle 'SQL, DMY', reading the ledger's loaded_at was a NotImplementedError traceback."""
    original = cert.fingerprint()
    db = cert.dbs["ids"][1]
    cert.sql("ids", f"ALTER DATABASE {db} SET DateStyle = 'SQL, DMY'")
    load_run(cert.cfg, cert.env, build_run(cert.out_dir, RUN), strategy="upsert")
    assert rollback_run(cert.cfg, cert.env, cert.out_dir, RUN)["status"] == "ROLLED_BACK"
    cert.sql("ids", f"ALTER DATABASE {db} RESET DateStyle")
    assert cert.fingerprint() == original

