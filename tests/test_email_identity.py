"""An email or user name is one identity whatever its padding: a value copied from a spreadsheet or
a web form ends in a tab, a line end or a no-break space, and used to get a fake of its own (the
same person, two fakes) and to escape the free-text leak test's list of the slice's emails."""
from __future__ import annotations

import json

import pytest

from datamig.anonymize import taken
from datamig.anonymize.sqlrender import anonymize_sql as A
from datamig.scaffold.pii_values import _normalized
from _keyed_fixtures import conn, plugin  # noqa: F401 - module fixtures
from test_anonymize_engine import SALT

PADDED = [" Ana.Lopez@School.org", "ana.lopez@school.org\t", "\u00a0ana.lopez@school.org", "ANA.LOPEZ@SCHOOL.ORG\r\n",
          "\tana.lopez@school.org\u00a0 "]


def _column(conn, sql: str, values: list[str]) -> list:
    return [r[0] for r in conn.execute(f"SELECT {sql} FROM (SELECT unnest(?) AS v, unnest(?) AS i) ORDER BY i",
                                       [values, list(range(len(values)))]).fetchall()]


@pytest.mark.parametrize("provider", ["email", "user_name"])
def test_a_padded_email_gets_the_fake_of_the_bare_one(plugin, conn, provider):
    bare = plugin.engine.fakes.apply("faker", "ana.lopez@school.org", provider, provider)
    column = _column(conn, A("v", "faker", provider=provider, domain=provider), PADDED)
    python = [plugin.engine.fakes.apply("faker", v, provider, provider) for v in PADDED]
    docs = [json.loads(plugin.engine.docs.anonymize_text(json.dumps({provider: v}), "{}"))[provider] for v in PADDED]
    assert column == python == docs == [bare] * len(PADDED)
    # what is no padding still makes another identity
    assert plugin.engine.fakes.apply("faker", "ana.lopez@school.org.", provider, provider) != bare


def test_the_leak_list_knows_a_padded_email_by_its_identity(conn):
    """int_pii_values (scaffold/pii_values.py) and the taken check (taken.normalized) normalize an
    email alike, so the text leak test finds ana.lopez@school.org in a note whatever its padding."""
    in_sql = _column(conn, _normalized("v", "email"), PADDED)
    assert in_sql == [taken.normalized("email", v) for v in PADDED] == ["ana.lopez@school.org"] * len(PADDED)


@pytest.mark.parametrize("provider, domain", [("first_name", "person.first_name"), ("email", "email")])
def test_blank_is_blank_alike_in_sql_python_and_documents(plugin, conn, provider, domain):
    """DuckDB's trim() strips no-break and other Unicode spaces, so SQL kept " \\u00a0" as blank
    while Python (a column's twin, JSON documents) faked it."""
    values = [" \u00a0", "  \u3000", " ", "\u00a0", " \t"]
    column = _column(conn, A("v", "faker", provider=provider, domain=domain), values)
    python = [plugin.engine.fakes.apply("faker", v, provider, domain) for v in values]
    docs = [json.loads(plugin.engine.docs.anonymize_text(json.dumps({provider: v}), "{}"))[provider] for v in values]
    assert column == python == docs
    assert column[:3] == values[:3] and column[3] != values[3]
