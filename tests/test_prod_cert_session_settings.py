"""A PROD and a CERT database whose DBA set how sessions print values and find tables (ALTER
DATABASE ... SET DateStyle, IntervalStyle, TimeZone, extra_float_digits, bytea_output,
search_path, default_transaction_read_only), through analyze, extract, dbt build, load,
validate-migration and rollback: every value lands exact, on a throwaway PostgreSQL 15 cluster."""
from __future__ import annotations

import psycopg
import pytest

from datamig.analyze.run import analyze
from datamig.config import load_config
from datamig.errors import ConfigError
from datamig.extract.run import extract
from datamig.load import load_run, rollback_run
from datamig.scaffold.run import live_estate, render, write
from datamig.select.run import select_districts
from datamig.verify.run import validate_migration
from one_store_support import RUN_ID, SALT, create_database, pg, transformed  # noqa: F401 (pg: a fixture)
from test_odd_column_names import _project

TABLES = """
    CREATE TABLE districts (id int PRIMARY KEY);
    CREATE TABLE samples (id int PRIMARY KEY, district_id int NOT NULL REFERENCES districts (id),
                          day date, at_local timestamp, at_tz timestamptz, took interval, took_list interval[],
                          ratio double precision, r4 real, amount numeric, blob bytea, blobs bytea[],
                          days date[], stamps timestamptz[]);
    CREATE SCHEMA shadow;
    CREATE TABLE shadow.samples (id int);
    CREATE TABLE shadow.districts (id int);
"""
ROWS = """
    INSERT INTO districts VALUES (1), (2);
    INSERT INTO samples VALUES
        (1, 1, '2024-01-02', '2024-01-02 03:04:05.678901', '2024-01-02 03:04:05.678901+00', '-1 day +02:03:04.5',
         '{"1 mon -2 days","-00:00:01"}', 0.1 + 0.2, 1.1, 3.14159265358979323846, '\\x00ff5c27', '{"\\\\x0102"}',
         '{2024-12-31}', '{"2024-06-30 23:59:59+00"}'),
        (2, 1, '1999-12-31', '1999-12-31 23:59:59', '1999-12-31 23:59:59-08', '1 year 2 mons -3 days 04:05:06',
         NULL, 1e-300, 3.4e38, 'NaN', '', NULL, NULL, NULL),
        (3, 2, '2000-01-01', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL);
"""
# CERT's own: row 1 the run updates (its before-image restored by the rollback), row 9 CERT's alone
CERT_ROWS = """
    INSERT INTO districts VALUES (1), (9);
    INSERT INTO samples VALUES
        (1, 1, '2023-03-04', '2023-03-04 05:06:07', '2023-03-04 05:06:07.5+00', '-2 days +01:00:00', '{"-1 year"}',
         2.5, 0.25, 7, '\\x01', '{"\\\\x02"}', '{2023-01-01}', '{"2023-01-01 00:00:00+00"}'),
        (9, 9, '2022-02-02', NULL, '2022-02-02 02:02:02+00', '3 days -00:00:01', NULL, -0.0, NULL, 1, NULL, NULL,
         NULL, NULL);
"""
PINNED = "-c DateStyle=ISO -c IntervalStyle=postgres -c TimeZone=UTC -c extra_float_digits=3 -c bytea_output=hex"
SETTINGS = {"DateStyle": "German", "IntervalStyle": "sql_standard", "TimeZone": "Asia/Kolkata",
            "extra_float_digits": "-3", "bytea_output": "escape", "search_path": "shadow, public"}


def _rows(url: str) -> list[str]:
    with psycopg.connect(url, options=PINNED) as conn:
        return [r[0] for r in conn.execute(
            "SELECT (id, district_id, day, at_local, at_tz, took, took_list, ratio, r4, amount, blob, blobs, days, "
            "stamps)::text FROM public.samples ORDER BY id")]


def _set(url: str, settings: dict[str, str]) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        db = conn.info.dbname
        for name, value in settings.items():
            conn.execute(f"ALTER DATABASE {db} SET {name} = '{value}'")


def test_every_value_lands_exact_whatever_prod_and_cert_print_values_as(pg, tmp_path):
    env = {"PROD_IDS_URL": create_database(pg, "setprod", TABLES + ROWS),
           "CERT_IDS_URL": create_database(pg, "setcert", TABLES + CERT_ROWS), "DATAMIG_SALT": SALT}
    cert = _rows(env["CERT_IDS_URL"])
    prod = _rows(env["PROD_IDS_URL"])
    _set(env["PROD_IDS_URL"], {**SETTINGS, "default_transaction_read_only": "on"})
    _set(env["CERT_IDS_URL"], {**SETTINGS, "DateStyle": "SQL, DMY", "IntervalStyle": "postgres_verbose",
                               "TimeZone": "America/St_Johns"})
    cfg, report = transformed(tmp_path, env)
    assert report["status"] == "PASSED"
    measured = {d["district"]: d["total_records"] for d in select_districts(cfg, env, tmp_path / "sel")["districts"]}
    assert measured == {1: 3, 2: 2}  # the district and its samples
    load_run(cfg, env, tmp_path / "runs" / RUN_ID, strategy="upsert")
    assert _rows(env["CERT_IDS_URL"]) == prod[:2] + cert[1:]
    assert validate_migration(cfg, env, RUN_ID, root=tmp_path)["status"] == "VALID"
    rollback_run(cfg, env, tmp_path / "runs", RUN_ID)
    assert _rows(env["CERT_IDS_URL"]) == cert


def test_a_prod_statement_timeout_cancelling_the_extract_s_read_is_one_line_naming_the_store(pg, tmp_path):
    """A DBA's statement_timeout on PROD's database cancelled the scanner's read of a big table: a
    DuckDB IOException traceback ('Failed to fetch header for COPY: ... statement timeout'), exit 1."""
    url = create_database(pg, "slowprod", """
        CREATE TABLE districts (id int PRIMARY KEY);
        CREATE TABLE marks (id int PRIMARY KEY, district_id int NOT NULL REFERENCES districts (id), v numeric);
        INSERT INTO districts VALUES (1);
        INSERT INTO marks SELECT i, 1, i * 1.5 FROM generate_series(1, 2000000) i;
        ANALYZE""")
    env = {"PROD_IDS_URL": url, "CERT_IDS_URL": url, "DATAMIG_SALT": SALT}
    cfg = load_config(_project(tmp_path, []))
    analyze(cfg, env, tmp_path / "analysis")
    write(tmp_path, render(cfg, live_estate(cfg, env), tmp_path))
    _set(url, {"statement_timeout": "150ms"})  # the catalog reads take a few ms, the read of 2M rows ~1 s
    with pytest.raises(ConfigError) as err:
        extract(cfg, env, 1, run_id=RUN_ID)
    message = str(err.value)
    assert message.startswith("store ids: PostgreSQL cancelled the read of table public.marks at the "
                              "statement_timeout its database or role sets"), message
    assert "\n" not in message
    assert not (tmp_path / "runs" / RUN_ID).exists()
