"""Table names datamig cannot make dbt models of (a space, a quote, a dot, Jinja, two names one
in DuckDB's eyes) are refused in one line naming the store and table before anything is written,
by analyze, scaffold and migrate's preflight alike (the extract copies any such table, and in
the checkout refuses what the models lack); a graph label so named, by the config's load. A name in upper case, of another alphabet, first a digit or with a dollar sign is carried
to CERT. A PROD database of its own per case on a throwaway PostgreSQL 15 cluster (prepared
transactions on: the load commits with them), a project folder of its own."""
from __future__ import annotations

import psycopg
import pytest

import _pg_cluster
from datamig.analyze.run import analyze
from datamig.config import load_config
from datamig.errors import ConfigError
from datamig.extract.run import extract
from datamig.quoting import sql_ident
from datamig.runner import preflight
from datamig.load import load_run
from datamig.scaffold.run import live_estate, render, write
from datamig.transform.run import transform
from datamig.verify.run import validate_migration
from test_load_support import start_cluster
from test_odd_column_names import _project

SALT = "test-salt-0123456789"
HINT = "rename it in PROD, or leave it out (exclude_tables)"
CHARS = "has a character dbt model and file names cannot carry (they take letters, digits, underscores and $)"
JINJA = "holds Jinja ('{{', '{%' or '{#'), which dbt would run in the models naming it"
# name -> the one line each phase gives; before, analyze, scaffold and preflight went on, and dbt's
# parse ("Resource names cannot contain spaces"), its compilation (a quote, Jinja) or a model's
# SQL (a dot: `with __dbt__cte__stg_ids__a.b as`; a hyphen) failed the transform
ODD = {
    "kid notes": f"store ids: table 'kid notes' {CHARS}; {HINT}",
    "it's": f"store ids: table \"it's\" {CHARS}; {HINT}",
    "a.b": f"store ids: table 'a.b' {CHARS}; {HINT}",
    "kid-notes": f"store ids: table 'kid-notes' {CHARS}; {HINT}",
    "{{ env_var('DATAMIG_SALT') }}": f"store ids: table \"{{{{ env_var('DATAMIG_SALT') }}}}\" {JINJA}; {HINT}",
}


@pytest.fixture(scope="module")
def pg():
    cluster = start_cluster()
    try:
        yield cluster
    finally:
        _pg_cluster.stop(cluster)


def _database(pg, dbname: str, tables: list[str], rows: bool) -> str:
    with psycopg.connect(pg.url(), autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {sql_ident(dbname)}")
    with psycopg.connect(pg.url(dbname), autocommit=True) as conn:
        conn.execute("CREATE TABLE districts (id int PRIMARY KEY)")
        for table in tables:
            conn.execute(f"CREATE TABLE {sql_ident(table)} (id int PRIMARY KEY, "
                         "district_id int NOT NULL REFERENCES districts (id))")
            if rows:
                conn.execute("INSERT INTO districts VALUES (1), (2) ON CONFLICT DO NOTHING")
                conn.execute(f"INSERT INTO {sql_ident(table)} VALUES (10, 1), (11, 2), (12, 1)")
    return pg.url(dbname)


def _prod(pg, dbname: str, tables: list[str]) -> dict:
    return {"PROD_IDS_URL": _database(pg, dbname, tables, rows=False), "CERT_IDS_URL": pg.url(dbname),
            "DATAMIG_SALT": SALT}


def _refused_everywhere(cfg, env, root, line: str) -> None:
    for phase in (lambda: analyze(cfg, env, root / "analysis"),
                  lambda: render(cfg, live_estate(cfg, env), root),
                  lambda: preflight.check_config_names(cfg, env)):
        with pytest.raises(ConfigError) as err:
            phase()
        assert str(err.value) == line
    assert not (root / "analysis").exists() and not (root / "runs").exists()


@pytest.mark.parametrize("name", list(ODD))
def test_a_table_named_oddly_is_one_line_and_writes_nothing(pg, tmp_path, name):
    env = _prod(pg, f"odd{list(ODD).index(name)}", [name])
    _refused_everywhere(load_config(_project(tmp_path, [])), env, tmp_path, ODD[name])


def test_two_tables_one_in_duckdb_are_one_line(pg, tmp_path):
    """DuckDB, where the final models are tables, folds case even in quoted names: ids__Kids and
    ids__kids were one table."""
    env = _prod(pg, "oddcase", ["Kids", "kids"])
    _refused_everywhere(load_config(_project(tmp_path, [])), env, tmp_path,
                        "store ids: tables 'Kids' and 'kids' differ only in case, which the models' tables in "
                        "DuckDB do not; rename one in PROD, or leave one out (exclude_tables)")


def test_an_odd_table_left_out_is_no_error(pg, tmp_path):
    env = _prod(pg, "oddexcluded", ["kid notes", "kids"])
    config = _project(tmp_path, [])
    config.write_text(config.read_text() + "exclude_tables: [ids.kid notes]\n")
    cfg = load_config(config)
    assert analyze(cfg, env, tmp_path / "analysis")["stores"]["ids"]["tables"] == 2


GRAPH = """version: 1
stores:
  ids: {kind: postgres, prod_env: PROD_IDS_URL, cert_env: CERT_IDS_URL}
  sp:  {kind: neo4j, prod_env: PROD_SP_URL, cert_env: CERT_SP_URL}
district: {store: ids, table: districts, key: id}
graph:
  store: sp
  root: {label: District, key: district_id}
  node_keys: {District: district_id, %(label)s: kid_id}
"""


@pytest.mark.parametrize("label, line", [
    ("'Kid Notes'", f"9: graph.node_keys.Kid Notes: store sp: label 'Kid Notes' {CHARS}"),
    ("\"{{ env_var('DATAMIG_SALT') }}\"",
     f"9: graph.node_keys.{{{{ env_var('DATAMIG_SALT') }}}}: store sp: label \"{{{{ env_var('DATAMIG_SALT') }}}}\" "
     f"{JINJA}"),
    ("DISTRICT", "9: graph.node_keys: store sp: labels 'DISTRICT' and 'District' differ only in case, "
                            "which their models' names (lower case) do not; rename one in PROD, or leave one out of "
                            "the graph walk"),
])
def test_a_graph_label_named_oddly_is_one_line_of_the_config(tmp_path, label, line):
    """The labels of node_keys name the graph's models (`node_<label>`, lower case) and Parquet
    files: before, such a label went on to fail dbt's parse, or two labels made one model name.
    (The schema holds a followed type to upper case, digits and underscores.)"""
    config = tmp_path / "datamig.yaml"
    config.write_text(GRAPH % {"label": label})
    with pytest.raises(ConfigError) as err:
        load_config(config)
    hint = "" if "differ only in case" in line else "; rename it in PROD, or leave it out of the graph walk"
    assert str(err.value) == f"{config}:{line}{hint}"


def test_plain_names_of_any_case_and_alphabet_reach_cert(pg, tmp_path):
    """What the rule lets through goes through every phase: analyze, scaffold, extract, dbt build,
    load and validate-migration."""
    names = ["Kids", "2024_scores", "café", "kid$"]
    env = {"PROD_IDS_URL": _database(pg, "plainprod", names, rows=True),
           "CERT_IDS_URL": _database(pg, "plaincert", names, rows=False), "DATAMIG_SALT": SALT}
    cfg = load_config(_project(tmp_path, []))
    run_id = "mig-20260101-000000-d1"
    analyze(cfg, env, tmp_path / "analysis")
    write(tmp_path, render(cfg, live_estate(cfg, env), tmp_path))
    extract(cfg, env, 1, run_id=run_id)
    assert transform(cfg, env, run_id, 1, root=tmp_path)["status"] == "PASSED"
    load_run(cfg, env, tmp_path / "runs" / run_id)
    assert validate_migration(cfg, env, run_id, root=tmp_path)["status"] == "VALID"
    with psycopg.connect(env["CERT_IDS_URL"]) as conn:
        for name in names:
            assert conn.execute(f"SELECT id FROM {sql_ident(name)} ORDER BY id").fetchall() == [(10,), (12,)]
