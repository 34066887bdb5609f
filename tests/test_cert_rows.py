"""macros/cert.sql (validate-migration's CERT model: the CERT table restricted to the run's keys
in datamig.run_keys), compiled by dbt-postgres and run on a real PostgreSQL 15."""
from __future__ import annotations

import json
from pathlib import Path

import psycopg
import pytest

import _pg_cluster
from _tiny_dbt import invoke, write_project

MACROS = Path(__file__).resolve().parents[1] / "macros"
RUN = "mig-20260101-000000-d1"


@pytest.fixture(scope="module")
def cert():
    with _pg_cluster.running({"cert": "CREATE SCHEMA datamig; "
                                      "CREATE TABLE datamig.run_keys (run_id text, table_name text, key jsonb)"}) as cluster:
        yield cluster


def _cert_rows(cert, tmp_path: Path, call: str) -> list[tuple]:
    """The rows the macro `call` selects, compiled by dbt (target: the CERT database, schema
    public) and run on CERT."""
    macros = tmp_path / "macros"
    macros.mkdir()
    (macros / "cert.sql").symlink_to(MACROS / "cert.sql")
    root = tmp_path / "proj"
    write_project(root, "cert_rows", macros, {"type": "postgres", "host": "127.0.0.1", "port": cert.port,
                                              "user": "postgres", "password": "", "dbname": "cert",
                                              "schema": "public", "threads": 1})
    result = invoke(root, "compile", "--quiet", "--vars", repr({"run_id": RUN}), "--inline", call)
    assert result.success, result.exception
    with psycopg.connect(cert.url("cert")) as conn:
        return conn.execute(result.result.results[0].node.compiled_code).fetchall()


def test_a_key_with_a_null_column_selects_the_runs_rows_with_null_in_it(cert, tmp_path):
    """`(code, variant) IN (...)` is NULL, not true, for a key whose variant is NULL: the run's
    rows keyed so were not in the CERT model, and no dbt test looked at them."""
    with psycopg.connect(cert.url("cert"), autocommit=True) as conn:
        conn.execute("CREATE TABLE codes (code text NOT NULL, variant text, label text, UNIQUE (code, variant))")
        conn.execute("""
            INSERT INTO codes VALUES ('a', NULL, 'a-null'), ('a', 'v', 'a-v'), ('b', NULL, 'b-null'),
                                     ('c', 'NULL', 'c-text-NULL')""")
        conn.execute("""
            INSERT INTO datamig.run_keys VALUES
                (%(run)s, 'public.codes', '{"code": "{a,a,c}", "variant": "{NULL,v,NULL}"}'),
                ('mig-20260101-000000-d2', 'public.codes', '{"code": "{b}", "variant": "{NULL}"}');""",
                     {"run": RUN})
    rows = _cert_rows(cert, tmp_path, "{{ datamig_cert_rows('codes') }}")
    assert sorted(rows, key=lambda row: row[2]) == [("a", None, "a-null"), ("a", "v", "a-v")]


def test_key_columns_named_with_quotes_select_the_runs_rows(cert, tmp_path):
    """The call as the scaffold writes it (quoting.jinja_literal), for a key of columns named with
    a single and a double quote: adapter.quote left the double quotes as they were, so
    `"say "hi""` ended the identifier early and the CERT model was PostgreSQL's syntax error."""
    from datamig.quoting import jinja_literal, sql_ident

    table, kid, say = "kid's table", "kid's id", 'say "hi"'
    with psycopg.connect(cert.url("cert"), autocommit=True) as conn:
        conn.execute(f"CREATE TABLE {sql_ident(table)} ({sql_ident(kid)} int, {sql_ident(say)} text, label text, "
                     f"PRIMARY KEY ({sql_ident(kid)}, {sql_ident(say)}))")
        conn.execute(f"INSERT INTO {sql_ident(table)} VALUES (1, 'a', 'one-a'), (1, 'b', 'one-b'), (2, 'a', 'two-a')")
        conn.execute("INSERT INTO datamig.run_keys VALUES (%s, %s, %s)",
                     (RUN, f"public.{table}", json.dumps({kid: "{1,2}", say: "{a,a}"})))
    rows = _cert_rows(cert, tmp_path, f"{{{{ datamig_cert_rows({jinja_literal(table)}) }}}}")
    assert sorted(rows) == [(1, "a", "one-a"), (2, "a", "two-a")]


def test_a_model_keyed_otherwise_than_the_load_still_selects_the_runs_rows(cert, tmp_path):
    """The call of an older scaffold, keyed by `id` (PROD's primary key), for a table the loader
    recorded by `code` (CERT's key): the model looked up `key ->> 'id'`, which the run's record
    lacks, selected no row, and every CERT test of the table passed over nothing."""
    with psycopg.connect(cert.url("cert"), autocommit=True) as conn:
        conn.execute("CREATE TABLE tokens (id int, code text NOT NULL UNIQUE, label text)")
        conn.execute("INSERT INTO tokens VALUES (1, 'x', 'one'), (2, 'y', 'two'), (3, 'z', 'three')")
        conn.execute("INSERT INTO datamig.run_keys VALUES (%s, 'public.tokens', %s)",
                     (RUN, json.dumps({"code": "{x,z}"})))
    rows = _cert_rows(cert, tmp_path, "{{ datamig_cert_rows('tokens', ['id'], ['integer']) }}")
    assert sorted(rows) == [(1, "x", "one"), (3, "z", "three")]


def test_an_array_key_selects_the_runs_arrays_and_not_a_null_for_an_empty_one(cert, tmp_path):
    """The loader records an array key column as a text[] of the arrays' texts. Read as the
    column's own array type, unnest flattened the arrays into elements; and array[] (the NULL
    safe comparison) of a NULL array is '{}', as of an empty one."""
    with psycopg.connect(cert.url("cert"), autocommit=True) as conn:
        conn.execute("CREATE TABLE tagged (tags text[] UNIQUE, label text)")
        conn.execute("""INSERT INTO tagged VALUES ('{}', 'empty'), (NULL, 'null'), ('{a,"b,c"}', 'a-bc'),
                                                  ('{a}', 'a'), ('{b,c}', 'bc')""")
        conn.execute("INSERT INTO datamig.run_keys VALUES (%s, 'public.tagged', %s)",
                     (RUN, json.dumps({"tags": '{"{}","{a,\\"b,c\\"}","{a}"}'})))
    rows = _cert_rows(cert, tmp_path, "{{ datamig_cert_rows('tagged') }}")
    assert sorted(row[1] for row in rows) == ["a", "a-bc", "empty"]


def test_a_table_the_run_recorded_no_key_of_selects_no_row(cert, tmp_path):
    with psycopg.connect(cert.url("cert"), autocommit=True) as conn:
        conn.execute("CREATE TABLE untouched (id int PRIMARY KEY)")
        conn.execute("INSERT INTO untouched VALUES (1), (2)")
    assert _cert_rows(cert, tmp_path, "{{ datamig_cert_rows('untouched') }}") == []
