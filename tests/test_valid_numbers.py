"""A real NANP phone's fake is a NANP phone and a real SSN's fake a possible SSN (numbering.py):
apps tested in CERT validate what they store, and the digit permutation gave a third of valid
phones an area code or exchange code starting with 0 or 1 (055-123-4567) and one SSN in nine an
area 000, 666 or 9xx, a group 00 or a serial 0000. A value keeps its class either way (a bijection
that maps valid numbers onto valid numbers maps the others onto the others), its format, and one
fake per (salt, domain, value) in SQL, in Python, in the UDF workers and in JSON documents."""
from __future__ import annotations

import json
import random
import re
from dataclasses import replace

import duckdb
import numpy as np
import pyarrow as pa
import pytest

from datamig.anonymize import numbering
from datamig.anonymize.engine import Engine
from datamig.anonymize.fpe import DigitPermuter
from datamig.anonymize.keyed import Keys
from datamig.anonymize.rules import Rule, load_rules
from datamig.anonymize.sqlrender import anonymize_sql as A
from datamig.anonymize.taken import DIGITS_DOMAIN, kinds_by_domain, normalized
from datamig.anonymize.udf_workers import MIN_MASK_ROWS, WorkerPool
from test_anonymize_engine import NO_REAL_VALUES, make_plugin

SALTS = [f"valid-numbers-test-salt-{i}-0123456789" for i in range(3)]
# how phones are written: the ten digits after a kept +1 or trunk 1, an extension apart
PHONE_SPELLINGS = ["{a}-{e}-{l}", "({a}) {e}-{l}", "+1 {a} {e} {l}", "+1{a}{e}{l}", "1-{a}-{e}-{l}",
                   "1 ({a}) {e}-{l}", "{a}.{e}.{l} x204", "+1 ({a}) {e}-{l} ext. 12", "{a}{e}{l}"]
SSN_SPELLINGS = ["{a}-{g}-{s}", "{a}{g}{s}", "{a} {g} {s}"]


@pytest.fixture(scope="module", params=SALTS)
def salt(request):
    return request.param


@pytest.fixture(scope="module")
def engine(salt):
    return Engine(load_rules(), Keys(salt))


def _nanp_valid(ten: str) -> bool:
    return ten[0] not in "01" and ten[3] not in "01"


def _ssn_valid(nine: str) -> bool:
    return nine[:3] not in ("000", "666") and nine[0] != "9" and nine[3:5] != "00" and nine[5:] != "0000"


def _ten(value: str) -> str:
    """A phone's ten digits: its digits before an extension, the last ten of them."""
    return re.sub(r"[^0-9]", "", re.sub(r" ?(x|ext\.) ?[0-9]+$", "", value))[-10:]


def _shape(value: str) -> str:
    return re.sub(r"[0-9]", "N", value)


def _valid_phones(rng: random.Random, n: int) -> list[str]:
    return [f"{rng.randint(2, 9)}{rng.randint(0, 99):02d}{rng.randint(2, 9)}{rng.randint(0, 99):02d}"
            f"{rng.randint(0, 9999):04d}" for _ in range(n)]


def _valid_ssns(rng: random.Random, n: int) -> list[str]:
    areas = [a for a in range(1, 900) if a != 666]
    return [f"{rng.choice(areas):03d}{rng.randint(1, 99):02d}{rng.randint(1, 9999):04d}" for _ in range(n)]


def _spell(rng: random.Random, digits: str, spellings: list[str], cuts: tuple[int, int]) -> str:
    a, b = cuts
    return rng.choice(spellings).format(a=digits[:a], e=digits[a:b], l=digits[b:], g=digits[a:b], s=digits[b:])


def test_a_valid_phone_gets_a_valid_fake_in_every_spelling(engine):
    rng = random.Random(11)
    tens = _valid_phones(rng, 3000)
    values = [_spell(rng, t, PHONE_SPELLINGS, (3, 6)) for t in tens]
    out = engine.permuter.transform(pa.array(values), "phone", True).to_pylist()
    assert out == [engine.permuter.transform_one(v, "phone", True) for v in values]    # vectorized = one by one
    assert [_shape(f) for f in out] == [_shape(v) for v in values]                     # separators, +1, ext kept
    assert all(f[:2] == v[:2] for f, v in zip(out, values) if v[0] in "+1")             # the +1 / trunk 1 stays
    assert all(_nanp_valid(_ten(f)) for f in out)
    fake_of: dict[str, set] = {}
    for t, f in zip(tens, out):                                                         # one fake per phone
        fake_of.setdefault(t, set()).add(_ten(f))
    assert all(len(f) == 1 for f in fake_of.values())
    assert sum(t != _ten(f) for t, f in zip(tens, out)) > 2990


def test_a_valid_ssn_gets_a_valid_fake_as_a_column_and_as_a_faker(engine):
    rng = random.Random(12)
    nines = _valid_ssns(rng, 3000)
    values = [_spell(rng, n, SSN_SPELLINGS, (3, 5)) for n in nines]
    out = engine.fakes.apply_all("mask_format", values, domain="ssn")           # the rule `ssn` (vectorized)
    assert out == [engine.fakes.apply("faker", v, "ssn", "ssn") for v in values]   # provider ssn, one by one
    assert [_shape(f) for f in out] == [_shape(v) for v in values]
    assert all(_ssn_valid(re.sub(r"[^0-9]", "", f)) for f in out)
    assert sum(v != f for v, f in zip(values, out)) > 2990


@pytest.mark.parametrize("domain, length, valid", [("phone", 10, _nanp_valid), ("ssn", 9, _ssn_valid)])
def test_every_value_keeps_its_class_and_no_two_values_meet(engine, domain, length, valid):
    """Valid and invalid values alike (any digit string of the length): the mapping stays a
    bijection, so distinct inputs keep distinct fakes, and undoing it gives the inputs back."""
    rng = random.Random(13)
    values = sorted({str(rng.randrange(10 ** length)).zfill(length) for _ in range(60_000)})
    out = engine.permuter.transform(pa.array(values), domain, domain == "phone").to_pylist()
    assert len(set(out)) == len(values)
    assert [valid(f) for f in out] == [valid(v) for v in values]
    assert 5000 < sum(not valid(v) for v in values) < 30_000                      # both classes were met
    assert engine.permuter.untransform(pa.array(out), domain).to_pylist() == values


def test_sql_python_workers_and_documents_give_one_valid_fake(salt):
    rng = random.Random(14)
    phones = [_spell(rng, t, PHONE_SPELLINGS, (3, 6)) for t in _valid_phones(rng, MIN_MASK_ROWS + 300)]
    ssns = [_spell(rng, n, SSN_SPELLINGS, (3, 5)) for n in _valid_ssns(rng, len(phones))]
    plugin = make_plugin(salt)
    engine, conn = plugin.engine, duckdb.connect()
    plugin.configure_connection(conn)
    conn.execute(NO_REAL_VALUES)
    columns = [A("p", "mask_format", domain="phone", keep_country_code=True), A("s", "mask_format", domain="ssn"),
               A("s", "faker", provider="ssn", domain="ssn")]
    rows = conn.execute(f"SELECT {', '.join(columns)} FROM (SELECT unnest(?) AS p, unnest(?) AS s, unnest(?) AS i) "
                        "ORDER BY i", [phones, ssns, list(range(len(phones)))]).fetchall()
    conn.close()
    python_phones = [engine.fakes.apply("mask_format", v, None, "phone", keep_country_code=True) for v in phones]
    python_ssns = [engine.fakes.apply("faker", v, "ssn", "ssn") for v in ssns]
    assert [list(r) for r in rows] == [list(r) for r in zip(python_phones, python_ssns, python_ssns)]
    docs = engine.docs.anonymize_texts([json.dumps({"phone": p, "ssn": s}) for p, s in zip(phones, ssns)], "{}")
    assert [json.loads(d)["phone"] for d in docs] == python_phones
    assert [json.loads(d)["ssn"] for d in docs] == python_ssns
    pool = WorkerPool(1)
    try:
        assert pool.mask_format(engine, pa.array(phones), "phone", True, False, None).to_pylist() == python_phones
        assert pool._workers[0] is not None and not pool.broken                   # it went to a worker
    finally:
        pool.close()
    assert all(_nanp_valid(_ten(f)) for f in python_phones)
    assert all(_ssn_valid(re.sub(r"[^0-9]", "", f)) for f in python_ssns)


def test_a_fake_walked_off_a_real_value_stays_valid(engine):
    """taken.py: a fake that is a real number of the slice is permuted again; still valid."""
    rng = random.Random(15)
    for domain, keep, tens, valid in (("phone", True, _valid_phones(rng, 2000), _nanp_valid),
                                      ("ssn", False, _valid_ssns(rng, 2000), _ssn_valid)):
        first = engine.permuter.transform(pa.array(tens), domain, keep).to_pylist()
        token = f"slice#{domain}"
        engine.taken.add(token, {domain: frozenset(engine.permuter.transform_one(normalized(domain, f), DIGITS_DOMAIN)
                                                   for f in first)})
        walked = engine.permuter.transform(pa.array(tens), domain, keep,
                                           taken=engine.taken.get(token).for_domain(domain)).to_pylist()
        assert not set(walked) & set(first) and len(set(walked)) == len(tens)
        assert all(valid(f) for f in walked)


def test_a_phone_domain_of_any_name_keeps_phones_valid():
    """A rule keeping a country code fakes phones, whatever its domain is called: its fakes are
    NANP phones, with or without the option at the call (one fake per domain and value)."""
    rules = load_rules()
    contact = Rule(name="guardian_contact", strategy="mask_format", domain="contact",
                   options={"keep_country_code": True})
    rules = replace(rules, rules=(*rules.rules, contact))
    assert kinds_by_domain(rules)["contact"] == "phone"
    engine = Engine(rules, Keys(SALTS[0]))
    tens = _valid_phones(random.Random(16), 2000)
    kept = engine.permuter.transform(pa.array(tens), "contact", True).to_pylist()
    assert kept == engine.permuter.transform(pa.array(tens), "contact", False).to_pylist()
    assert all(_nanp_valid(f) for f in kept)
    # a domain that fakes neither is permuted as before: about a third of its fakes are no phone
    other = DigitPermuter(Keys(SALTS[0])).transform(pa.array(tens), "natural_id").to_pylist()
    assert 400 < sum(not _nanp_valid(f) for f in other) < 1000


@pytest.mark.parametrize("kind, valid", [("phone", _nanp_valid), ("ssn", _ssn_valid)])
def test_ranks_number_each_class_exactly(kind, valid):
    """numbering.rank/unrank: each class's members are 0 .. SIZE-1 and back, SIZEs add up to all
    strings, and the classes' edges (first and last rank) are members: a gap or an overlap would
    make two values meet or a fake leave its class."""
    length = numbering.LENGTH[kind]
    assert numbering.SIZE[(kind, True)] + numbering.SIZE[(kind, False)] == 10 ** length
    rng = np.random.default_rng(17)
    digits = rng.integers(0, 10, size=(100_000, length)).astype(np.float64)
    digits[:300, :3] = [0, 0, 0]          # the rare SSN corners: area 000, 666, group 00, serial 0000
    digits[300:600, :3] = [6, 6, 6]
    digits[600:900, 3:5] = 0
    digits[900:1200, 5:9] = 0
    is_valid = numbering.valid_rows(kind, digits)
    assert is_valid.tolist() == [valid("".join(str(int(x)) for x in row)) for row in digits]
    for cls in (True, False):
        size = numbering.SIZE[(kind, cls)]
        members = digits[is_valid == cls]
        ranks = numbering.rank(kind, np.full(len(members), cls), members)
        assert 0 <= ranks.min() and ranks.max() < size
        assert (numbering.unrank(kind, np.full(len(members), cls), ranks) == members).all()
        picked = np.concatenate([[0, size - 1], rng.integers(0, size, 100_000)])
        back = numbering.unrank(kind, np.full(len(picked), cls), picked)
        assert (numbering.valid_rows(kind, back) == cls).all()
        assert (numbering.rank(kind, np.full(len(picked), cls), back) == picked).all()
