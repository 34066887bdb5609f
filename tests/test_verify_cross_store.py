"""The rule tests that span two CERT databases (verify/cross_store.py), on a throwaway PostgreSQL
cluster: each store's rows of the run (datamig.run_keys) and nothing else, the tests' own
arguments as dbt's parse leaves them, and the verdicts of the dbt macros."""
from __future__ import annotations

import psycopg
import pytest

import _pg_cluster
from datamig.load import ledger
from datamig.verify.cross_store import cross_store_tests

RUN = "mig-test-run"
IDS = """
CREATE TABLE schools (id bigint PRIMARY KEY, district_id int);
CREATE TABLE students (id bigint PRIMARY KEY, district_id int, school_id bigint);
INSERT INTO schools VALUES (1, 42), (2, 42), (7, 9), (8, 9), (99, 9);
INSERT INTO students SELECT i, 42, 1 + i % 2 FROM generate_series(1, 20) i;
INSERT INTO students VALUES (21, 42, 7), (500, 42, 8);
"""
HCP1 = """
CREATE TABLE patients (id bigint PRIMARY KEY);
INSERT INTO patients SELECT generate_series(1, 40);
CREATE TABLE clinics (id bigint PRIMARY KEY, ids_school_id bigint);
INSERT INTO clinics VALUES (1, 8), (2, 99);
"""
ADB = "CREATE TABLE dim_school (school_id bigint PRIMARY KEY); INSERT INTO dim_school VALUES (1), (2), (8);"
# What the run loaded, per table: (key column, keys). The rest is CERT's own: student 500 (who
# points at school 8), patients 21-40, dim_school 8. Schools 7, 8 and 99 are another district's.
RUN_KEYS = {"ids": {"public.schools": ("id", [1, 2, 7, 8, 99]), "public.students": ("id", list(range(1, 22)))},
            "hcp1": {"public.patients": ("id", list(range(1, 21))), "public.clinics": ("id", [1, 2])},
            "adb": {"public.dim_school": ("school_id", [1, 2])}}


@pytest.fixture(scope="module")
def stores():
    cluster = _pg_cluster.start()
    try:
        with psycopg.connect(cluster.url(), autocommit=True) as conn:
            for name in RUN_KEYS:
                conn.execute(f"CREATE DATABASE {name}")
        for name, ddl in (("ids", IDS), ("hcp1", HCP1), ("adb", ADB)):
            with psycopg.connect(cluster.url(name), autocommit=True) as conn:
                conn.execute(ddl)
                ledger.ensure(conn)
                for table, (column, keys) in RUN_KEYS[name].items():
                    conn.execute("INSERT INTO datamig.run_keys VALUES (%s, %s, jsonb_build_object(%s::text, %s::bigint[]::text))",
                                 (RUN, table, column, keys))
        yield {name: (cluster.url(name), "public") for name in RUN_KEYS}
    finally:
        _pg_cluster.stop(cluster)


def _nodes(*tests: dict) -> dict:
    models = {f"model.p.{m}": {"name": m, "resource_type": "model"}
              for m in ("ids__schools", "ids__students", "hcp1__patients", "hcp1__clinics", "adb__dim_school",
                        "sp__node_school")}
    return {**models, **{f"test.p.{t['name']}": t for t in tests}}


def _test(name: str, kind: str, severity: str, models: list[str], kwargs: dict) -> dict:
    return {"name": name, "resource_type": "test", "config": {"severity": severity},
            "test_metadata": {"name": kind, "kwargs": kwargs},
            "depends_on": {"nodes": [f"model.p.{m}" for m in models]}}


def _ratio(tolerance: float) -> dict:
    return _test(f"counts_{tolerance}", "datamig_count_ratio", "warn", ["ids__students", "hcp1__patients"],
                 {"model": "{{ get_where_subquery(ref('ids__students')) }}", "other": "ref('hcp1__patients')",
                  "tolerance": tolerance, "row_filter": "district_id = {{ var('district') }}", "other_filter": None})


def _foreign(referenced_by: list[tuple[str, str]]) -> dict:
    return _test("schools_belong", "datamig_only_needed_foreign_rows", "ERROR",
                 ["ids__schools", *{m for m, _ in referenced_by}],
                 {"model": "{{ get_where_subquery(ref('ids__schools')) }}", "district_column": "district_id",
                  "key_columns": ["id"],
                  "referenced_by": [{"model": f"{{{{ ref('{m}') }}}}", "columns": [c]} for m, c in referenced_by]})


def test_count_ratio_counts_the_runs_rows_of_each_store(stores):
    got = {t["test"]: t for t in cross_store_tests(_nodes(_ratio(0.05), _ratio(0.5)), stores, RUN, 42)}
    # 21 students of district 42 in the run (500 is CERT's own) against 20 patients: 1 apart,
    # within 5% of 21 and 50%, not within 1%
    assert got["counts_0.05"]["status"] == "pass" and got["counts_0.05"]["failures"] == 0
    assert got["counts_0.5"]["status"] == "pass"
    tight = _ratio(0.01)
    assert cross_store_tests(_nodes(tight), stores, RUN, 42)[0] == {
        "test": "counts_0.01", "models": ["hcp1__patients", "ids__students"], "type": "datamig_count_ratio",
        "severity": "warn", "status": "warn", "failures": 1, "sample": [{"model_rows": 21, "other_rows": 20}]}


def test_foreign_rows_no_row_of_the_run_points_at_fail(stores):
    # 7 is pointed at by the run's student 21; 8 only by CERT's own student 500 and CERT's own
    # dim_school row; 99 by nobody
    [got] = cross_store_tests(_nodes(_foreign([("adb__dim_school", "school_id"), ("ids__students", "school_id")])),
                              stores, RUN, 42)
    assert (got["status"], got["failures"], got["sample"]) == ("fail", 2, [{"id": "8"}, {"id": "99"}])
    assert got["severity"] == "error" and got["models"] == ["adb__dim_school", "ids__schools", "ids__students"]
    # the run's clinics point at 8 and 99
    [got] = cross_store_tests(_nodes(_foreign([("ids__students", "school_id"), ("hcp1__clinics", "ids_school_id")])),
                              stores, RUN, 42)
    assert (got["status"], got["failures"], got["sample"]) == ("pass", 0, [])


def test_a_model_outside_the_cert_databases_skips_the_test_and_says_why(stores):
    [got] = cross_store_tests(_nodes(_foreign([("sp__node_school", "school_id"), ("ids__students", "school_id")])),
                              stores, RUN, 42)
    assert got["status"] == "skipped" and got["failures"] is None
    assert got["message"] == "sp__node_school: not a table of a CERT PostgreSQL store"


def test_a_test_within_one_store_is_left_to_dbt(stores):
    within = _test("same_store", "datamig_count_ratio", "warn", ["ids__students", "ids__schools"],
                   {"model": "ref('ids__students')", "other": "ref('ids__schools')", "tolerance": 0.1})
    assert cross_store_tests(_nodes(within), stores, RUN, 42) == []


def test_a_rule_whose_sql_does_not_render_or_run_is_an_error_naming_it(stores):
    broken = _ratio(0.05)
    broken["test_metadata"]["kwargs"]["row_filter"] = "no_such_column = {{ var('district') }}"
    [got] = cross_store_tests(_nodes(broken), stores, RUN, 42, scrub=lambda text: text.upper())
    assert got["status"] == "error" and got["failures"] is None
    assert got["message"] == 'COLUMN "NO_SUCH_COLUMN" DOES NOT EXIST'      # its first line, scrubbed
    broken["test_metadata"]["kwargs"]["row_filter"] = "district_id = {{ var('district') }"
    [got] = cross_store_tests(_nodes(broken), stores, RUN, 42)
    assert (got["status"], got["message"]) == ("error", "unexpected '}'")   # a rule that does not render


def test_foreign_rows_keyed_by_a_time_match_across_databases_printing_times_otherwise(stores):
    """Keys are compared as text from two databases: a term starting 2024-08-01 00:00 UTC read
    '2024-08-01 00:00:00+00' in ids and '01/08/2024 05:30:00 IST' in an hcp1 set to DateStyle
    'SQL, DMY' and TimeZone Asia/Kolkata, so the session pointing at it did not count: a false
    failure."""
    ids, hcp1 = stores["ids"][0], stores["hcp1"][0]
    made = [(ids, "CREATE TABLE terms (starts timestamptz PRIMARY KEY, district_id int); "
                  "INSERT INTO terms VALUES ('2024-08-01 00:00:00+00', 9)", "public.terms", "starts"),
            (hcp1, "CREATE TABLE sittings (id bigint PRIMARY KEY, term_start timestamptz); "
                   "INSERT INTO sittings VALUES (1, '2024-08-01 00:00:00+00')", "public.sittings", "id")]
    keys = {"public.terms": '{"2024-08-01 00:00:00+00"}', "public.sittings": "{1}"}
    for url, ddl, table, column in made:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(ddl)
            conn.execute("INSERT INTO datamig.run_keys VALUES (%s, %s, jsonb_build_object(%s::text, %s::text))",
                         (RUN, table, column, keys[table]))
    with psycopg.connect(hcp1, autocommit=True) as conn:
        conn.execute("ALTER DATABASE hcp1 SET DateStyle = 'SQL, DMY'; "
                     "ALTER DATABASE hcp1 SET TimeZone = 'Asia/Kolkata'")
    try:
        test = _test("terms_belong", "datamig_only_needed_foreign_rows", "ERROR", ["ids__terms", "hcp1__sittings"],
                     {"model": "{{ get_where_subquery(ref('ids__terms')) }}", "district_column": "district_id",
                      "key_columns": ["starts"],
                      "referenced_by": [{"model": "{{ ref('hcp1__sittings') }}", "columns": ["term_start"]}]})
        models = {f"model.p.{m}": {"name": m, "resource_type": "model"} for m in ("ids__terms", "hcp1__sittings")}
        [got] = cross_store_tests({**models, "test.p.terms_belong": test}, stores, RUN, 42)
        assert (got["status"], got["failures"], got["sample"]) == ("pass", 0, [])
    finally:
        with psycopg.connect(hcp1, autocommit=True) as conn:
            conn.execute("ALTER DATABASE hcp1 RESET DateStyle; ALTER DATABASE hcp1 RESET TimeZone")
        for url, _, table, _ in made:
            with psycopg.connect(url, autocommit=True) as conn:
                conn.execute(f"DROP TABLE {table}")
                conn.execute("DELETE FROM datamig.run_keys WHERE table_name = %s", (table,))
