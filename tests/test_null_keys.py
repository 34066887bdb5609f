"""A table CERT keys only by a unique key of a nullable column, NULL in some of the run's rows:
the loader matches, records and undoes rows by that key, and a NULL matches no row. The load is
refused in one line naming table and key, CERT unchanged (it was so already; the line now says
why and what to change). A PROD and a CERT database of their own on a throwaway PostgreSQL 15
cluster, a project folder of its own."""
from __future__ import annotations

import psycopg
import pytest

from datamig.errors import DatamigError
from datamig.load import load_run
from datamig.load.fingerprint import pg_fingerprint
from one_store_support import RUN_ID, SALT, create_database, pg, transformed  # noqa: F401 (pg: a fixture)

# PROD keys the table by id, CERT only by a unique key of a nullable column, which the loader keys
# its rows by there
PROD_TABLES = """
    CREATE TABLE districts (id int PRIMARY KEY);
    CREATE TABLE badges (id int PRIMARY KEY, code text UNIQUE, district_id int NOT NULL REFERENCES districts (id));
"""
CERT_TABLES = """
    CREATE TABLE districts (id int PRIMARY KEY);
    CREATE TABLE badges (id int NOT NULL, code text UNIQUE, district_id int NOT NULL REFERENCES districts (id));
"""
ROWS = """
    INSERT INTO districts VALUES (1), (2);
    INSERT INTO badges VALUES (1, 'a', 1), (2, NULL, 1), (3, NULL, 1), (4, 'b', 2);
"""


def test_rows_with_a_null_in_the_only_key_are_one_line_before_cert_is_written(pg, tmp_path):
    env = {"PROD_IDS_URL": create_database(pg, "nullprod", PROD_TABLES + ROWS),
           "CERT_IDS_URL": create_database(pg, "nullcert", CERT_TABLES),
           "DATAMIG_SALT": SALT}
    cfg, report = transformed(tmp_path, env)
    assert report["status"] == "PASSED"
    before = pg_fingerprint(env["CERT_IDS_URL"])
    with pytest.raises(DatamigError) as err:
        load_run(cfg, env, tmp_path / "runs" / RUN_ID)
    assert str(err.value) == (
        "store ids: table badges: 2 final rows have a NULL in CERT's key of the table (code), by which the load "
        "matches, records and undoes rows, and a NULL matches no row; give the table in CERT a primary key or a "
        "unique key of NOT NULL columns")
    assert pg_fingerprint(env["CERT_IDS_URL"]) == before
    with psycopg.connect(env["CERT_IDS_URL"]) as conn:
        assert conn.execute("SELECT count(*) FROM pg_namespace WHERE nspname = 'datamig'").fetchone()[0] == 0
        assert conn.execute("SELECT count(*) FROM pg_prepared_xacts").fetchone()[0] == 0


def test_a_table_prod_keys_only_by_a_nullable_unique_key_fails_the_transform_on_it(pg, tmp_path):
    """PROD's key is the scaffold's: its not-null test (pk_integrity) fails the transform naming
    table and column, and the load is refused."""
    tables = CERT_TABLES.replace("badges (id int NOT NULL", "badges (id int")
    env = {"PROD_IDS_URL": create_database(pg, "nullprod2", tables + ROWS),
           "CERT_IDS_URL": create_database(pg, "nullcert2", tables), "DATAMIG_SALT": SALT}
    cfg, report = transformed(tmp_path, env)
    assert report["status"] == "FAILED"
    assert [(f["model"], f["column"], f["test"], f["rule"], f["failures"]) for f in report["failures"]] == [
        ("ids__badges", "code", "not_null_ids__badges_code", "pk_integrity", 2)]
    with pytest.raises(DatamigError, match="validation status is FAILED; the load is refused"):
        load_run(cfg, env, tmp_path / "runs" / RUN_ID)
