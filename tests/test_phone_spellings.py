"""One phone, one fake, however it is spelled: +15551234567 (E.164, what messaging systems store),
1-555-123-4567 and 1 (555) 123-4567 (a trunk 1) used to be permuted as eleven digits, so the
person got another fake than in a column of 555-123-4567 or +1 555 123 4567. Now a phone's 1
before its ten digits is kept; other 11-digit values are walked off a leading 1, and the mask
stays a bijection."""
from __future__ import annotations

import json
import random
import re

import duckdb
import pyarrow as pa
import pytest

from datamig.anonymize.engine import Engine
from datamig.anonymize.keyed import Keys
from datamig.anonymize.rules import load_rules
from datamig.anonymize.sqlrender import anonymize_sql as A
from test_anonymize_engine import NO_REAL_VALUES, make_plugin

SALT = "phone-spellings-test-salt-0123456789"
SPELLINGS = ["555-123-4567", "(555) 123-4567", "+1 555 123 4567", "+15551234567", "1-555-123-4567", "15551234567",
             "1 (555) 123-4567", "+1-555-123-4567"]


@pytest.fixture(scope="module")
def engine():
    return Engine(load_rules(), Keys(SALT))


@pytest.fixture(scope="module")
def conn():
    conn = duckdb.connect()
    make_plugin(SALT).configure_connection(conn)
    conn.execute(NO_REAL_VALUES)
    yield conn
    conn.close()


def _digits(value: str) -> str:
    return re.sub(r"[^0-9]", "", value)


def test_every_spelling_of_a_phone_gets_the_fake_of_its_ten_digits(engine, conn):
    sql = A("v", "mask_format", domain="phone", keep_country_code=True)
    column = [r[0] for r in conn.execute(f"SELECT {sql} FROM (SELECT unnest(?) AS v, unnest(?) AS i) ORDER BY i",
                                         [SPELLINGS * 3, list(range(3 * len(SPELLINGS)))]).fetchall()]
    python = [engine.fakes.apply("mask_format", v, None, "phone", keep_country_code=True) for v in SPELLINGS]
    docs = [json.loads(engine.docs.anonymize_text(json.dumps({"phone": v}), "{}"))["phone"] for v in SPELLINGS]
    assert column == python * 3 and docs == python      # a chunk of 24 (vectorized) and one by one agree
    ten = _digits(python[0])
    assert ten != "5551234567" and len(ten) == 10
    assert [_digits(f)[-10:] for f in python] == [ten] * len(SPELLINGS)
    assert [_digits(f)[:-10] for f in python] == ["", "", "1", "1", "1", "1", "1", "1"]   # the 1 stays
    assert [re.sub(r"[0-9]", "N", f) for f in python] == [re.sub(r"[0-9]", "N", v) for v in SPELLINGS]


def test_other_eleven_digit_values_never_take_a_leading_one_and_stay_distinct(engine):
    rng = random.Random(7)
    others = sorted({str(rng.randrange(2 * 10**10, 10**11)) for _ in range(20_000)})
    ones = sorted({"1" + str(rng.randrange(10**9, 10**10)) for _ in range(20_000)})
    values = others + ones
    out = engine.permuter.transform(pa.array(values), "phone", True).to_pylist()
    assert len(set(out)) == len(values)                                  # a bijection: no two meet
    assert not any(f.startswith("1") for f in out[:len(others)])          # walked off the leading 1
    assert all(f.startswith("1") for f in out[len(others):])
    assert out == [engine.permuter.transform_one(v, "phone", True) for v in values]
    # the walk ran: unwalked, about a tenth of the others would start with 1
    assert sum(f.startswith("1") for f in engine.permuter.transform(pa.array(others), "natural_id").to_pylist()) > 1000


def test_without_keep_country_code_eleven_digits_are_one_number(engine):
    """SSNs and natural ids have no country code: their 1 is a digit like any other."""
    values = ["1" + str(n).zfill(10) for n in range(0, 10**10, 10**10 // 2000)]
    out = engine.permuter.transform(pa.array(values), "natural_id").to_pylist()
    assert out == [engine.permuter.transform_one(v, "natural_id") for v in values]
    assert 1500 < sum(not f.startswith("1") for f in out) < 2000      # ~9 in 10 lose their 1


EXTENSIONS = ["555-123-4567 x204", "555-123-4567x204", "(555) 123-4567 ext. 204", "1-555-123-4567 Ext 204",
              "+1 555 123 4567 extension 204", "+15551234567 X204"]


def test_a_phone_with_an_extension_gets_the_fake_it_has_without_one(engine, conn):
    """555-123-4567 x204 was permuted as 13 digits: the work phone of a guardian got another fake
    than the same phone without its extension. The extension is permuted as a number of its own."""
    plain = engine.fakes.apply("mask_format", "555-123-4567", None, "phone", keep_country_code=True)
    sql = A("v", "mask_format", domain="phone", keep_country_code=True)
    column = [r[0] for r in conn.execute(f"SELECT {sql} FROM (SELECT unnest(?) AS v, unnest(?) AS i) ORDER BY i",
                                         [EXTENSIONS * 4, list(range(4 * len(EXTENSIONS)))]).fetchall()]
    python = [engine.fakes.apply("mask_format", v, None, "phone", keep_country_code=True) for v in EXTENSIONS]
    assert column == python * 4
    assert {_digits(f)[-13:-3] for f in python} == {_digits(plain)}
    assert len({_digits(f)[-3:] for f in python}) == 1 and _digits(python[0])[-3:] != "204"
    assert [re.sub(r"[0-9]", "N", f) for f in python] == [re.sub(r"[0-9]", "N", v) for v in EXTENSIONS]
    # an extension not at the end is no extension: the value is one number, as before
    assert _digits(engine.fakes.apply("mask_format", "555-123-4567 ext. 12 (Dad)", None, "phone",
                                      keep_country_code=True))[:10] != _digits(plain)


def test_phones_with_and_without_extensions_stay_a_bijection(engine):
    rng = random.Random(3)
    numbers = sorted({f"{rng.randrange(200, 1000)}-{rng.randrange(1000):03d}-{rng.randrange(10000):04d}"
                      for _ in range(3000)})
    values = numbers + [n + f" x{rng.randrange(1, 10**rng.randint(1, 4))}" for n in numbers] + [n + " x" for n in numbers]
    values += [f"x{n}" for n in range(300)] + [f"{n} ext {n}" for n in range(300)]
    out = engine.permuter.transform(pa.array(values), "phone", True).to_pylist()
    assert len(set(out)) == len(values)
    assert out == [engine.permuter.transform_one(v, "phone", True) for v in values]
