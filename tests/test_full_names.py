"""A full name is faked part by part, each part as a first_name or last_name column fakes it: one
person, one fake name in every table. A review found student 'José O'Brien' faked as 'Agnieszka
Rios' in ids.students (first and last name columns) and as 'Gottlieb Quiñónez' in adb's
student_name, so the risk scores no longer named the student the rest of CERT did."""
from __future__ import annotations

import json
import random

import duckdb

from datamig.anonymize.sqlrender import anonymize_sql as A
from _keyed_fixtures import conn, plugin  # noqa: F401 - module fixtures

SALT = "full-names-test-salt-0123456789"
FULL = {"provider": "name", "domain": "person.full_name"}


def _column(conn, values: list[str], **anonymize) -> list[str]:
    expr = A("v", "faker", **anonymize)
    return [r[0] for r in conn.execute(f"SELECT {expr} FROM (SELECT unnest(?) AS v, unnest(?) AS i) ORDER BY i",
                                       [values, list(range(len(values)))]).fetchall()]


def test_a_full_name_is_the_fakes_of_its_first_and_last_name(plugin, conn):
    first, last, middle = (_column(conn, [v], provider=p, domain=f"person.{p}")[0]
                           for v, p in (("José", "first_name"), ("O'Brien", "last_name"), ("Ana María", "first_name")))
    values = ["José O'Brien", "O'Brien, José", "  José   O'Brien ", "José", "José Ana María O'Brien",
              "O'Brien, José Ana María"]
    want = [f"{first} {last}", f"{last}, {first}", f"{first} {last}", first, f"{first} {middle} {last}",
            f"{last}, {first} {middle}"]
    assert _column(conn, values, **FULL) == want
    assert [plugin.engine.fakes.apply("faker", v, "name", "person.full_name") for v in values] == want
    doc = json.loads(plugin.engine.docs.anonymize_text(json.dumps({"guardians": [{"name": "José O'Brien"}]}), "{}"))
    assert doc["guardians"][0]["name"] == want[0]
    listed = conn.execute(f"SELECT {A('l', 'faker', elementwise=True, **FULL)} FROM (SELECT ?::VARCHAR[] AS l)",
                          [values]).fetchone()[0]
    assert listed == want


def test_other_domains_take_the_first_and_last_names_beside_them(conn):
    """staff.full_name's parts are faked as staff.first_name and staff.last_name columns."""
    got = _column(conn, ["Lauren Vallejo"], provider="name", domain="staff.full_name")
    parts = [_column(conn, [v], provider=p, domain=f"staff.{p}")[0]
             for v, p in (("Lauren", "first_name"), ("Vallejo", "last_name"))]
    assert got == [" ".join(parts)]


def test_sql_lists_and_python_split_odd_names_alike(plugin, conn):
    rng = random.Random(1)
    parts = ["José", "García", "Ana", "de", "la", "O'Brien", "", "Zoë", "王芳"]
    seps = [" ", "  ", ", ", ",", " , ", "\t", "\n", "\u00a0", "\u2003"]
    values = ["Cardona,", ",Edwin", ", ", "Ana\nMaria Lopez", "\u00a0Ana\u00a0"]
    values += ["".join(rng.choice(parts) + rng.choice(seps) for _ in range(rng.randint(1, 4))) for _ in range(2000)]
    column = _column(conn, values, **FULL)
    assert column == [plugin.engine.fakes.apply("faker", v, "name", "person.full_name") for v in values]
    listed = conn.execute(f"SELECT {A('l', 'faker', elementwise=True, **FULL)} FROM (SELECT ?::VARCHAR[] AS l)",
                          [values]).fetchone()[0]
    assert listed == column


def test_a_title_is_kept_and_the_name_after_it_faked_as_the_persons(plugin, conn):
    """staff 'Ms. Zavala' was 'Arcelia <fake Zavala>' (the title faked as a first name no column
    of the person had, and Ms./Mr. told apart by it) and care plans' 'Nurse Lee' 'Brenda <...>'."""
    first, last = (_column(conn, [v], provider=p, domain=f"person.{p}")[0]
                   for v, p in (("Ana", "first_name"), ("Zavala", "last_name")))
    values = ["Ms. Zavala", "MR Zavala", "Dr. Ana Zavala", "  Nurse  Zavala ", "Coach Zavala, Ana", "Mrs.Zavala",
              "Ms.", "Sra. Zavala", "Mister Zavala"]
    want = [f"Ms. {last}", f"MR {last}", f"Dr. {first} {last}", f"Nurse  {last}", f"Coach {last}, {first}"]
    got = _column(conn, values, **FULL)
    assert got[:5] == want
    assert got[5] == _column(conn, ["Mrs.Zavala"], provider="first_name", domain="person.first_name")[0]  # no space
    assert got[6] != "Ms." and got[7] == f"Sra. {last}" and not got[8].startswith("Mister ")  # not a title
    assert [plugin.engine.fakes.apply("faker", v, "name", "person.full_name") for v in values] == got
    doc = json.loads(plugin.engine.docs.anonymize_text(json.dumps({"guardians": [{"name": "Dr. Ana Zavala"}]}), "{}"))
    assert doc["guardians"][0]["name"] == want[2]
    listed = conn.execute(f"SELECT {A('l', 'faker', elementwise=True, **FULL)} FROM (SELECT ?::VARCHAR[] AS l)",
                          [values]).fetchone()[0]
    assert listed == got


def test_a_name_the_slices_columns_split_is_faked_as_they_are(plugin):
    """'María José de la Cruz' split on its last space was 'María' + 'José de la' + 'Cruz', where
    the person's columns say 'María José' and 'de la Cruz': int_pii_values' name rows say where."""
    conn = duckdb.connect()
    plugin.configure_connection(conn)
    split = A("v", "hash", domain="pii.values")
    conn.execute(f"CREATE TABLE int_pii_values AS SELECT 'name' AS kind, {split} AS h, CAST(n AS VARCHAR) AS d "
                 "FROM (VALUES ('María José de la Cruz', 10), ('Ana María de la Cruz', 3)) AS t(v, n)")
    parts = (("María José", "first_name"), ("Ana", "first_name"), ("de la Cruz", "last_name"))
    first, other, last = (_column(conn, [v], provider=p, domain=f"person.{p}")[0] for v, p in parts)
    values = ["María José de la Cruz", "de la Cruz, María José", "Dr. María José de la Cruz",
              "Ana María de la Cruz", "de la Cruz, Ana María", "José María de la Cruz"]
    got = _column(conn, values, **FULL)
    before = [plugin.engine.fakes.apply("faker", v, "name", "person.full_name") for v in values]  # no splits known
    assert got[:3] == [f"{first} {last}", f"{last}, {first}", f"Dr. {first} {last}"] != before[:3]
    assert got[3].startswith(f"{other} ") and got[3] != before[3]  # after 'Ana': 'María de la Cruz' is the surname
    assert got[4:] == before[4:]  # 'Ana María' is no first name the columns hold; José María no person
    token = plugin.engine.taken.load(conn, "int_pii_values")
    taken = plugin.engine.taken.get(token)
    assert [plugin.engine.fakes.apply("faker", v, "name", "person.full_name", taken) for v in values] == got
    doc = plugin.engine.docs.anonymize_text(json.dumps({"guardians": [{"name": values[0]}]}), "{}", taken)
    assert json.loads(doc)["guardians"][0]["name"] == got[0]
    listed = conn.execute(f"SELECT {A('l', 'faker', elementwise=True, **FULL)} FROM (SELECT ?::VARCHAR[] AS l)",
                          [values]).fetchone()[0]
    assert listed == got
    conn.close()
