"""Column names PostgreSQL takes when quoted (a single quote, a double quote, a space) carried
through the whole transform: extract, `datamig scaffold`, dbt build on DuckDB, final Parquet. A
PROD database of its own on a throwaway PostgreSQL 15 cluster, a project folder of its own."""
from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import psycopg
import pytest
import yaml

import _pg_cluster
from datamig.config import load_config
from datamig.errors import ConfigError
from datamig.extract.run import extract
from datamig.load import load_run
from datamig.quoting import sql_ident
from datamig.scaffold.run import live_estate, render, write
from datamig.transform.run import transform
from test_load_support import start_cluster

ROOT = Path(__file__).resolve().parents[1]
SALT = "test-salt-0123456789"
RUN_ID = "mig-20260101-000000-d1"

# the key holds a quote too: the key tests and the CERT model (datamig_cert_rows) name it
TABLES = '''
    CREATE TABLE districts (id int PRIMARY KEY, name text);
    CREATE TABLE guardians (
        "guardian's id" int PRIMARY KEY,
        district_id int NOT NULL REFERENCES districts (id),
        "parent's_name" text,
        "parent's email" text,
        "say ""hi""" text,
        "kid ""nick"" name" text,
        "home room" int);
'''
DDL = TABLES + '''
    INSERT INTO districts VALUES (1, 'One'), (2, 'Two');
    INSERT INTO guardians VALUES
        (10, 1, 'Maria Lopez', 'maria.lopez@example.org', 'hello', 'Rosa Lopez', 4),
        (11, 1, 'John O''Neil', 'john.oneil@example.org', 'bye', 'Sean O''Neil', 5),
        (12, 2, 'Other District', 'other@example.org', 'x', 'y', 6);
'''


@pytest.fixture(scope="module")
def pg():
    cluster = start_cluster()  # prepared transactions on: the load commits CERT's stores together
    try:
        yield cluster
    finally:
        _pg_cluster.stop(cluster)


def _project(root: Path, validation_rules: list[dict]) -> Path:
    """The datamig project's config and macros, no generated models, the rules' overrides and
    the validation rules (they name tables of the shipped estate) left out: `validation_rules` instead."""
    for name in ("dbt_project.yml", "profiles.yml"):
        shutil.copy2(ROOT / name, root / name)
    for name in ("config", "macros"):
        shutil.copytree(ROOT / name, root / name)
    rules = yaml.safe_load((root / "config" / "anonymization-rules.yaml").read_text())
    rules["overrides"] = []
    (root / "config" / "anonymization-rules.yaml").write_text(yaml.safe_dump(rules, sort_keys=False))
    validation = yaml.safe_load((root / "config" / "validation-rules.yaml").read_text())
    validation["rules"] = validation_rules
    (root / "config" / "validation-rules.yaml").write_text(yaml.safe_dump(validation, sort_keys=False))
    config = root / "config" / "datamig.yaml"
    config.write_text("version: 1\nstores:\n  ids: {kind: postgres, prod_env: PROD_IDS_URL, cert_env: CERT_IDS_URL}\n"
                      f"district: {{store: ids, table: districts, key: id}}\nextract: {{out_dir: {root / 'runs'}}}\n")
    return config


def test_quoted_column_names_reach_the_final_parquet_anonymized(pg, tmp_path):
    """final_sql put the key's name into a Jinja string as written: "guardian's id" ended the
    string and stopped dbt's parse of the whole project. Then every test of a column so named
    failed: dbt spliced its name into the test's SQL unquoted (`where guardian's id is null`);
    a validation rule's test of one had a dbt name with a space (no parse); and a failure's
    report named no column and no failing row (its sample's SQL lost the name's last quote)."""
    dbname = "oddnames"
    for name, ddl in ((dbname, DDL), ("oddcert", TABLES)):
        with psycopg.connect(pg.url(), autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}")
        with psycopg.connect(pg.url(name), autocommit=True) as conn:
            conn.execute(ddl)
    # a warning on a column so named: its failure names the column and the failing rows' keys
    cfg = load_config(_project(tmp_path, [{"name": "say_h", "severity": "warn", "check": "regex",
                                           "columns": ['ids.guardians.say "hi"'], "pattern": "^h.*"}]))
    env = {"PROD_IDS_URL": pg.url(dbname), "CERT_IDS_URL": pg.url("oddcert"), "DATAMIG_SALT": SALT}
    extract(cfg, env, 1, run_id=RUN_ID)
    write(tmp_path, render(cfg, live_estate(cfg, env), tmp_path))
    report = transform(cfg, env, RUN_ID, 1, root=tmp_path)
    assert report["status"] == "PASSED_WITH_WARNINGS", report["reason"]
    (warned,) = report["failures"]
    assert (warned["column"], warned["sample_keys"]) == ('say "hi"', [{"guardian's id": 11, "district_id": 1}])
    final = tmp_path / "runs" / RUN_ID / "final" / "ids" / "guardians.parquet"
    rows = duckdb.sql(f"SELECT * FROM '{final}' ORDER BY 1").fetchall()
    names = [d[0] for d in duckdb.sql(f"DESCRIBE SELECT * FROM '{final}'").fetchall()]
    assert names == ["guardian's id", "district_id", "parent's_name", "parent's email", 'say "hi"',
                     'kid "nick" name', "home room"]
    assert [(r[0], r[1], r[4], r[6]) for r in rows] == [(10, 1, "hello", 4), (11, 1, "bye", 5)]
    # the PII columns the rules name are replaced, not copied, and their leak tests ran and passed
    assert not {r[2] for r in rows} & {"Maria Lopez", "John O'Neil"}
    assert not {r[5] for r in rows} & {"Rosa Lopez", "Sean O'Neil"}
    assert all(r[3] and "@" in r[3] for r in rows)
    assert not {r[3] for r in rows} & {"maria.lopez@example.org", "john.oneil@example.org"}
    # districts.name, parent's_name, parent's email, kid "nick" name; unique and not null of both keys
    assert (report["by_rule"]["pii_leak"]["tests"], report["by_rule"]["pii_leak"]["passed"]) == (4, 4)
    assert (report["by_rule"]["pk_integrity"]["tests"], report["by_rule"]["pk_integrity"]["passed"]) == (4, 4)
    load_run(cfg, env, tmp_path / "runs" / RUN_ID)
    with psycopg.connect(pg.url("oddcert")) as conn:
        loaded = conn.execute('SELECT * FROM guardians ORDER BY "guardian\'s id"').fetchall()
    assert loaded == rows


def test_a_column_named_with_jinja_is_one_line_and_renders_nothing(pg, tmp_path):
    """A column's name sits in the models' SQL, which dbt renders as Jinja: this one put the salt
    into the compiled staging SQL (and into DuckDB's error naming the column it did not find)."""
    column = "{{ env_var('DATAMIG_SALT') }}"
    with psycopg.connect(pg.url(), autocommit=True) as conn:
        conn.execute("CREATE DATABASE jinjanames")
    with psycopg.connect(pg.url("jinjanames"), autocommit=True) as conn:
        conn.execute(f"CREATE TABLE districts (id int PRIMARY KEY); CREATE TABLE kids (id int PRIMARY KEY, "
                     f"district_id int REFERENCES districts (id), {sql_ident(column)} text)")
    cfg = load_config(_project(tmp_path, []))
    estate = live_estate(cfg, {"PROD_IDS_URL": pg.url("jinjanames")})
    with pytest.raises(ConfigError) as err:
        render(cfg, estate, tmp_path)
    assert str(err.value) == (f"ids.kids: column {column!r} holds Jinja ('{{{{', '{{%' or '{{#'), which dbt would "
                              "run in the models naming it; rename it in PROD, or leave it out (exclude_tables, "
                              "the graph walk)")
    assert not (tmp_path / "dbt_project").exists()


def test_columns_one_test_name_apart_get_a_test_each(pg, tmp_path):
    """A validation rule's test is named after its column with every character a dbt name cannot
    hold turned into `_`: "home room", "home-room" and "home_room" under one rule made one test
    name three times. dbt 1.11 parses that (older ones refused), but the report named two failures
    alike, `--select` of that name ran all three, and one compiled SQL file stood for all three."""
    dbname = "nameclash"
    for name, with_rows in ((dbname, True), ("nameclashcert", False)):
        with psycopg.connect(pg.url(), autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}")
        with psycopg.connect(pg.url(name), autocommit=True) as conn:
            conn.execute('CREATE TABLE districts (id int PRIMARY KEY); CREATE TABLE rooms (id int PRIMARY KEY, '
                         'district_id int NOT NULL REFERENCES districts (id), "home room" text, home_room text, '
                         '"home-room" text)')
            if with_rows:
                conn.execute("INSERT INTO districts VALUES (1); INSERT INTO rooms VALUES (5, 1, 'x', 'ok', 'y')")
    columns = ["ids.rooms.home room", "ids.rooms.home_room", "ids.rooms.home-room"]
    cfg = load_config(_project(tmp_path, [{"name": "room_ok", "severity": "warn", "check": "regex",
                                           "columns": columns, "pattern": "^ok$"}]))
    env = {"PROD_IDS_URL": pg.url(dbname), "CERT_IDS_URL": pg.url("nameclashcert"), "DATAMIG_SALT": SALT}
    extract(cfg, env, 1, run_id=RUN_ID)
    write(tmp_path, render(cfg, live_estate(cfg, env), tmp_path))
    report = transform(cfg, env, RUN_ID, 1, root=tmp_path)
    assert report["status"] == "PASSED_WITH_WARNINGS", report["reason"]
    assert (report["by_rule"]["room_ok"]["tests"], report["by_rule"]["room_ok"]["passed"]) == (3, 1)
    assert sorted(f["column"] for f in report["failures"]) == ["home room", "home-room"]
    assert len({f["test"] for f in report["failures"]}) == 2
    compiled = tmp_path / "runs" / RUN_ID / "dbt" / "target" / "compiled"
    assert len(list(compiled.rglob("room_ok__*.sql"))) == 3


def test_a_foreign_key_column_named_with_a_space_is_tested(pg, tmp_path):
    """An FK's test was named after its columns as written: "the district" put a space in a dbt
    resource name, and dbt refused to parse the project ("Resource names cannot contain spaces")."""
    for name, rows in (("fkspace", "INSERT INTO districts VALUES (1); INSERT INTO kids VALUES (5, 1);"),
                       ("fkspacecert", "")):
        with psycopg.connect(pg.url(), autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}")
        with psycopg.connect(pg.url(name), autocommit=True) as conn:
            conn.execute('CREATE TABLE districts (id int PRIMARY KEY); CREATE TABLE kids (id int PRIMARY KEY, '
                         f'"the district" int NOT NULL REFERENCES districts (id)); {rows}')
    cfg = load_config(_project(tmp_path, []))
    env = {"PROD_IDS_URL": pg.url("fkspace"), "CERT_IDS_URL": pg.url("fkspacecert"), "DATAMIG_SALT": SALT}
    extract(cfg, env, 1, run_id=RUN_ID)
    write(tmp_path, render(cfg, live_estate(cfg, env), tmp_path))
    report = transform(cfg, env, RUN_ID, 1, root=tmp_path)
    assert report["status"] == "PASSED", report["reason"]
    assert (report["by_rule"]["fk_integrity"]["tests"], report["by_rule"]["fk_integrity"]["passed"]) == (1, 1)
