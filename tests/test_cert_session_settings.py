"""validate-migration's own sessions on a CERT database whose DBA set how values print (ALTER
DATABASE ... SET DateStyle, IntervalStyle, TimeZone), against a real PostgreSQL 15 and Neo4j 5.26.

psycopg reads timestamps only in the ISO date style and intervals only in the postgres style:
a failing test's sample keys holding one were a NotImplementedError traceback, not a report."""
from __future__ import annotations

import pytest

from datamig.load import load_run
from datamig.verify import dbt_cert
from test_load_support import build_run, cert, cluster, neo4j_server

pytestmark = pytest.mark.timeout(600)
RUN = "mig-20251106-143000-d1"
__all__ = ["cert", "cluster", "neo4j_server"]
MODEL = "model.datamig.ids__schools"
CLEAR = {"meta": {"datamig": {"pii": False}}}


def _failing_test() -> tuple[dict, dbt_cert.Parsed]:
    """A failing test of the schools model flagging every row, keyed by (id, opened_at, took)."""
    model = {"name": "ids__schools", "columns": {c: CLEAR for c in ("id", "opened_at", "took")}}
    key_test = {"resource_type": "test", "attached_node": MODEL, "name": "key",
                "test_metadata": {"name": "datamig_unique_key", "kwargs": {"columns": ["id", "opened_at", "took"]}}}
    sql = ("select id, opened_at, interval '-1 day +02:00:00' as took from public.schools "
           "where id in (10, 11)")
    entry = {"test": "flags_all", "status": "fail", "column": None, "_sql": (sql, model, MODEL, key_test)}
    return {"store": "ids", "tests": [entry]}, dbt_cert.Parsed(None, {MODEL: model, "test.key": key_test})


def test_a_failing_test_s_samples_read_times_and_intervals_whatever_cert_prints_them_as(cert):
    load_run(cert.cfg, cert.env, build_run(cert.out_dir, RUN), strategy="upsert")
    db = cert.dbs["ids"][1]
    for name, value in (("DateStyle", "SQL, DMY"), ("IntervalStyle", "sql_standard"), ("TimeZone", "Asia/Kolkata")):
        cert.sql("ids", f"ALTER DATABASE {db} SET {name} = '{value}'")
    tested, parsed = _failing_test()
    entry = dbt_cert.add_samples(tested, "public", cert.env["CERT_IDS_URL"], RUN, parsed)["tests"][0]
    assert "sample_error" not in entry, entry
    # the instants as the transform's report gives them (UTC), the interval as -1 day +2 hours
    assert entry["sample_keys"] == [{"id": i, "opened_at": "2024-08-01T07:30:00.123456+00:00",
                                     "took": "-1 day, 2:00:00"} for i in (10, 11)]


def test_a_link_s_values_read_the_same_in_a_parent_database_printing_dates_otherwise(cert):
    """A cross-database link's child values travel as text to the parent's database: printed
    under the child's DateStyle 'SQL, DMY' (01/08/2024) and read under the parent's MDY, each
    was another day (8 January) and counted missing."""
    from datamig.verify.cert_scope import check_link

    load_run(cert.cfg, cert.env, build_run(cert.out_dir, RUN), strategy="upsert")
    cert.sql("hcp1", f"ALTER DATABASE {cert.dbs['hcp1'][1]} SET DateStyle = 'SQL, DMY'")
    cert.sql("ids", f"ALTER DATABASE {cert.dbs['ids'][1]} SET DateStyle = 'ISO, MDY'")
    # every health record's recorded_at is the instant the run's schools opened at
    found = check_link(cert.env["CERT_HCP1_URL"], "public", "health_records", ["recorded_at"],
                       cert.env["CERT_IDS_URL"], "public", "schools", ["opened_at"], RUN)
    assert found == {"checked": 1, "missing": 0, "sample_keys": []}
