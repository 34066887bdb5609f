"""The one place identifiers and literals are quoted (quoting.py): a name with its quote character,
spaces or a keyword stays one identifier, a text with quotes one literal."""
from __future__ import annotations

import json

import duckdb

from datamig.quoting import cypher_ident, jinja_literal, sql_ident, sql_literal


def test_sql_names_round_trip_through_duckdb():
    names = ['a"b', "two words", "select", 'x""y', "Zoë"]
    table = sql_ident('t "1')
    con = duckdb.connect()
    con.execute(f"CREATE TABLE {table} ({', '.join(sql_ident(n) + ' INTEGER' for n in names)})")
    assert [r[0] for r in con.execute(f"DESCRIBE {table}").fetchall()] == names
    con.execute(f"INSERT INTO {table} ({sql_ident(names[0])}) VALUES (7)")
    assert con.execute(f"SELECT {sql_ident(names[0])} FROM {table}").fetchall() == [(7,)]


def test_sql_literals_round_trip_through_duckdb():
    texts = ["it's", "''", "/tmp/a b/it's.parquet", "", "王芳"]
    got = duckdb.connect().execute(f"SELECT [{', '.join(sql_literal(t) for t in texts)}]").fetchone()[0]
    assert got == texts


def test_cypher_names_double_their_backticks():
    assert cypher_ident("Student") == "`Student`"
    assert cypher_ident("has`tick") == "`has``tick`"


def test_jinja_literals_read_back_as_written_by_dbts_jinja():
    """A quote doubled as in SQL ('parent''s id') is no escape in Jinja: two strings run together."""
    from dbt_common.clients.jinja import get_template, render_template

    values = ["parent's id", "a\\'b", 'say "hi"', "it''s", "}} {{ 7 * 7 }}", "back\\"]
    rendered = render_template(get_template("{{ " + jinja_literal(values) + " | tojson }}", {}), {})
    assert json.loads(rendered) == values
