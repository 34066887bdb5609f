"""Two tables whose long names share their start, one referencing the other, through every phase:
analyze, scaffold, extract, dbt build, load and validate-migration. On CERT (dbt-postgres) a
final model is an ephemeral model, injected into each test as the CTE `__dbt__cte__<model>`,
and PostgreSQL cuts an identifier at 63 bytes: the relationship test naming both models named
two CTEs alike. A PROD and a CERT database of their own on a throwaway PostgreSQL 15 cluster,
a project folder of its own."""
from __future__ import annotations

import psycopg
import pytest

from datamig.load import load_run
from datamig.verify.run import validate_migration
from one_store_support import RUN_ID, SALT, create_database, pg, transformed  # noqa: F401 (pg: a fixture)

# each with `__dbt__cte__ids__` (17 bytes) before it longer than 63 bytes, the two names alike in
# their first 63: ASCII, longer than 63 characters (dbt-postgres refused the name), and of two
# bytes a character, no longer than 63 characters (PostgreSQL cut the names to one)
PREFIXES = ["attendance_history_of_students_across_all_terms_", "é" * 24 + "_"]


def _tables(prefix: str) -> tuple[str, str, str, str]:
    parent, child = prefix + "parent", prefix + "children"
    ddl = f"""
        CREATE TABLE districts (id int PRIMARY KEY);
        CREATE TABLE {parent} (id int PRIMARY KEY, district_id int NOT NULL REFERENCES districts (id));
        CREATE TABLE {child} (id int PRIMARY KEY, parent_id int NOT NULL REFERENCES {parent} (id));
    """
    rows = f"""
        INSERT INTO districts VALUES (1), (2);
        INSERT INTO {parent} VALUES (10, 1), (11, 1), (20, 2);
        INSERT INTO {child} VALUES (100, 10), (101, 11), (200, 20);
    """
    return parent, child, ddl, rows


@pytest.mark.parametrize("prefix", PREFIXES)
def test_tables_sharing_a_long_prefix_are_tested_on_cert(pg, tmp_path, prefix):
    parent, child, ddl, rows = _tables(prefix)
    n = PREFIXES.index(prefix)
    env = {"PROD_IDS_URL": create_database(pg, f"longprod{n}", ddl + rows),
           "CERT_IDS_URL": create_database(pg, f"longcert{n}", ddl), "DATAMIG_SALT": SALT}
    cfg, report = transformed(tmp_path, env)
    assert report["status"] == "PASSED"
    load_run(cfg, env, tmp_path / "runs" / RUN_ID)
    report = validate_migration(cfg, env, RUN_ID, root=tmp_path)
    assert report["issues"] == [] and report["status"] == "VALID"
    assert _relationship_tests(report) == {f"ids__{parent}": "pass", f"ids__{child}": "pass"}
    with psycopg.connect(env["CERT_IDS_URL"]) as conn:
        # a child made to point at a parent the run did not load: the test still reads both models
        conn.execute(f"INSERT INTO {parent} VALUES (99, 1)")
        conn.execute(f"UPDATE {child} SET parent_id = 99 WHERE id = 100")
    report = validate_migration(cfg, env, RUN_ID, root=tmp_path)
    assert _relationship_tests(report) == {f"ids__{parent}": "pass", f"ids__{child}": "fail"}


def _relationship_tests(report: dict) -> dict[str, str]:
    """model -> the status of its CERT relationship test."""
    return {t["model"]: t["status"] for store in report["dbt_tests"]["stores"] for t in store["tests"]
            if t["type"] == "datamig_relationship"}


def test_a_foreign_key_of_long_names_is_tested(pg, tmp_path):
    """Its test's name (fk_<store>__<table>__<columns>) of a long table and four long columns was
    longer than a file name holds: dbt could not write the test's SQL ("File name too long"), the
    test errored and the transform failed."""
    columns = [f"c{i}_" + "x" * 57 for i in range(4)]
    parent, child, listed = "p" * 63, "c" * 63, ", ".join(columns)
    typed = ", ".join(f"{c} int NOT NULL" for c in columns)
    ddl = f"""
        CREATE TABLE districts (id int PRIMARY KEY);
        CREATE TABLE {parent} ({typed}, district_id int NOT NULL REFERENCES districts (id), PRIMARY KEY ({listed}));
        CREATE TABLE {child} (id int PRIMARY KEY, {typed}, FOREIGN KEY ({listed}) REFERENCES {parent} ({listed}));
    """
    rows = f"INSERT INTO districts VALUES (1); INSERT INTO {parent} VALUES (1, 2, 3, 4, 1); " \
           f"INSERT INTO {child} VALUES (10, 1, 2, 3, 4);"
    env = {"PROD_IDS_URL": create_database(pg, "longfkprod", ddl + rows),
           "CERT_IDS_URL": create_database(pg, "longfkcert", ddl), "DATAMIG_SALT": SALT}
    cfg, report = transformed(tmp_path, env)
    assert report["status"] == "PASSED"
    load_run(cfg, env, tmp_path / "runs" / RUN_ID)
    report = validate_migration(cfg, env, RUN_ID, root=tmp_path)
    assert report["status"] == "VALID"
    assert _relationship_tests(report) == {f"ids__{parent}": "pass", f"ids__{child}": "pass"}
