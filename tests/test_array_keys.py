"""A table keyed by an array column (PostgreSQL takes a primary or unique key on `integer[]`,
`text[]`) through every phase: analyze, scaffold, extract, dbt build, load, validate-migration
and rollback. The run's keys are recorded as arrays of keys (datamig.run_keys, the ledger): an
array key aggregated so was a two-dimensional array (or refused, for arrays of unequal
lengths), which unnest flattened into elements, so the rows were never found again. A PROD and
a CERT database of their own on a throwaway PostgreSQL 15 cluster, a project folder of its own."""
from __future__ import annotations

import psycopg
import pytest

from datamig.errors import MigrationFailed
from datamig.load import load_run, rollback_run
from datamig.verify.run import validate_migration
from one_store_support import RUN_ID, SALT, create_database, pg, transformed  # noqa: F401 (pg: a fixture)

# arrays of unequal lengths, empty, elements with a comma and a quote (the extract refuses arrays of
# more than one dimension or with bounds: Parquet's lists hold neither)
TABLES = """
    CREATE TABLE districts (id int PRIMARY KEY);
    CREATE TABLE slots (path int[] PRIMARY KEY, district_id int NOT NULL REFERENCES districts (id), n int);
    CREATE TABLE labels (tags text[], district_id int NOT NULL REFERENCES districts (id), n int,
                         UNIQUE (tags));
    CREATE TABLE pairs (a int NOT NULL, codes text[] NOT NULL, district_id int NOT NULL REFERENCES districts (id),
                        n int, PRIMARY KEY (a, codes));
"""
ROWS = """
    INSERT INTO districts VALUES (1), (2);
    INSERT INTO slots VALUES ('{1,2}', 1, 1), ('{1,2,3}', 1, 2), ('{3,4}', 1, 3), ('{}', 1, 4),
                             ('{9}', 2, 5);
    INSERT INTO labels VALUES ('{a,"b,c"}', 1, 1), ('{"say \\"hi\\""}', 1, 2), ('{}', 1, 3), ('{x}', 2, 4);
    INSERT INTO pairs VALUES (1, '{a}', 1, 1), (1, '{a,b}', 1, 2), (2, '{a}', 1, 3), (3, '{z}', 2, 4);
"""
# CERT's own rows, and rows of the run's keys (the load updates them, the rollback restores them)
CERT_ROWS = """
    INSERT INTO districts VALUES (1), (99);
    INSERT INTO slots VALUES ('{1}', 99, 0), ('{1,2}', 1, 0);
    INSERT INTO labels VALUES ('{a}', 99, 0), ('{a,"b,c"}', 1, 0);
    INSERT INTO pairs VALUES (1, '{c}', 99), (1, '{a}', 1);
"""


def _cert_tables(url: str, what: str = "t") -> dict[str, list[str]]:
    """Per table, `what` (an expression of its row t: by default the whole row) of each row as text."""
    with psycopg.connect(url) as conn:
        return {table: sorted(r[0] for r in conn.execute(f"SELECT ({what})::text FROM {table} AS t"))
                for table in ("slots", "labels", "pairs")}


def test_a_table_keyed_by_an_array_loads_verifies_and_rolls_back(pg, tmp_path):
    env = {"PROD_IDS_URL": create_database(pg, "arrprod", TABLES + ROWS),
           "CERT_IDS_URL": create_database(pg, "arrcert", TABLES + CERT_ROWS),
           "DATAMIG_SALT": SALT}
    before = _cert_tables(env["CERT_IDS_URL"])
    cfg, report = transformed(tmp_path, env)
    assert report["status"] == "PASSED"
    load_run(cfg, env, tmp_path / "runs" / RUN_ID)
    assert _cert_tables(env["CERT_IDS_URL"], "t.district_id, t.n") == {
        "slots": ["(1,1)", "(1,2)", "(1,3)", "(1,4)", "(99,0)"],
        "labels": ["(1,1)", "(1,2)", "(1,3)", "(99,0)"], "pairs": ["(1,1)", "(1,2)", "(1,3)", "(99,)"]}
    assert validate_migration(cfg, env, RUN_ID, root=tmp_path)["status"] == "VALID"
    _point_loaded_rows_at_certs_district(env["CERT_IDS_URL"])
    assert _failed_tests(validate_migration(cfg, env, RUN_ID, root=tmp_path)) == {
        "ids__slots": [{"path": "[1, 2]", "district_id": 99}], "ids__labels": [{"tags": "[]", "district_id": 99}],
        "ids__pairs": [{"a": 1, "codes": "['a', 'b']", "district_id": 99}]}
    # the edits above are CERT's writes to rows the run loaded: refused unless forced, found by array keys too
    with pytest.raises(MigrationFailed, match=r"CERT wrote ids\.(slots|labels|pairs) "):
        rollback_run(cfg, env, tmp_path / "runs", RUN_ID)
    rollback_run(cfg, env, tmp_path / "runs", RUN_ID, force=True)
    assert _cert_tables(env["CERT_IDS_URL"]) == before


def _point_loaded_rows_at_certs_district(url: str) -> None:
    """One row the run loaded per table made to name district 99, CERT's own, which the run did
    not load: the CERT models' relationship tests fail, if the models find the run's rows."""
    with psycopg.connect(url) as conn:
        for table, where in (("slots", "path = '{1,2}'"), ("labels", "tags = '{}'"), ("pairs", "codes = '{a,b}'")):
            assert conn.execute(f"UPDATE {table} SET district_id = 99 WHERE {where}").rowcount == 1


def _failed_tests(report: dict) -> dict[str, list[dict]]:
    """model -> the keys of the rows its failing CERT relationship test flags (sampled from the
    run's rows, see verify/cert_scope.py)."""
    return {t["model"]: t.get("sample_keys") for store in report["dbt_tests"]["stores"]
            for t in store["tests"] if t["status"] == "fail" and t["type"] == "datamig_relationship"}
