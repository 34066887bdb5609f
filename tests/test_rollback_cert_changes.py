"""A rollback after CERT changed a row the run wrote, against a real PostgreSQL 15 and Neo4j 5.26.

The rollback deletes the rows the run inserted and restores the before-images of those it
updated: a CERT user's edit of such a row since the load was silently deleted or overwritten.
Now it is refused in one line naming the row, changing nothing, unless `force` says to."""
from __future__ import annotations

import pytest

from datamig.errors import MigrationFailed
from datamig.load import load_run, rollback_run
from test_load_support import build_run, cert, cluster, neo4j_server, seed_overlap, sid

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
    message = _refused(cert, f'CERT changed ids.students {{"id": "{sid(1)}"}}, a row this run inserted')
    assert "would delete it" in message and "--force" in message
    # CERT puts its row back as the load left it: nothing stops the rollback then.
    cert.sql("ids", "UPDATE students SET first_name = (SELECT first_name FROM students WHERE id = %s) "
                    "WHERE id = %s", (sid(2), sid(1)))
    cert.sql("ids", "UPDATE staff SET cert_note = 'edited by QA' WHERE id = 100")  # CERT's own column, imaged
    _refused(cert, 'CERT changed ids.staff {"id": 100}, a row this run updated')
    report = rollback_run(cert.cfg, cert.env, cert.out_dir, RUN, force=True)
    assert report["status"] == "ROLLED_BACK"
    assert cert.fingerprint() == original


def test_rows_cert_left_as_loaded_roll_back_whatever_the_session_prints_values_as(cert):
    """The digests are taken with fixed output settings: a CERT session that prints times and
    intervals otherwise at the rollback (its database's defaults changed since) reads no row
    as changed."""
    seed_overlap(cert)
    original = cert.fingerprint()
    load_run(cert.cfg, cert.env, build_run(cert.out_dir, RUN), strategy="upsert")
    db = cert.dbs["ids"][1]
    cert.sql("ids", f"ALTER DATABASE {db} SET TimeZone = 'Asia/Kathmandu'; "
                    f"ALTER DATABASE {db} SET IntervalStyle = 'iso_8601'")
    cert.sql("ids", "DELETE FROM enrollments WHERE student_id = %s", (sid(0),))  # a delete is no change to refuse
    report = rollback_run(cert.cfg, cert.env, cert.out_dir, RUN)
    assert report["stores"]["ids"]["public.enrollments"]["already_gone"] == 1
    for setting in ("TimeZone", "IntervalStyle"):
        cert.sql("ids", f"ALTER DATABASE {db} RESET {setting}")
    after = cert.fingerprint()
    assert after["ids"]["students"] == original["ids"]["students"] and after["hcp1"] == original["hcp1"]



def test_key_columns_named_like_the_check_s_own_names_are_compared_by_their_row(cert):
    """The check names its digest and op columns beside the key's: a key column named so
    must not make the query ambiguous, nor hide the change."""
    import duckdb

    from test_load_support import WRITER

    cert.sql("ids", f"CREATE TABLE odd (op int, digest int, run_id int, v text, PRIMARY KEY (op, digest, run_id)); "
                    f"GRANT SELECT, INSERT, UPDATE, DELETE ON odd TO {WRITER}")
    run_dir = build_run(cert.out_dir, RUN)
    duckdb.connect().execute(f"COPY (SELECT 1 AS op, 2 AS digest, 3 AS run_id, 'x' AS v) "
                             f"TO '{run_dir / 'final' / 'ids' / 'odd.parquet'}' (FORMAT parquet)")
    load_run(cert.cfg, cert.env, run_dir, strategy="upsert")
    cert.sql("ids", "UPDATE odd SET v = 'y'")
    _refused(cert, 'CERT changed ids.odd {"op": 1, "digest": 2, "run_id": 3}, a row this run inserted')
    assert rollback_run(cert.cfg, cert.env, cert.out_dir, RUN, force=True)["status"] == "ROLLED_BACK"
    assert cert.sql("ids", "SELECT count(*) FROM odd") == [(0,)]
