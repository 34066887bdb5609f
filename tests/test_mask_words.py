"""mask_format without `letters` (phones, SSNs): the words of a value lose their letters, but a
short list of kept words (mask_words.py); digits exactly as before; the SQL UDF, the worker
processes and the Python twin (JSON documents) agree; the mask stays a bijection."""
from __future__ import annotations

import itertools
import json
import os
import random
import re
import string

import duckdb
import pyarrow as pa
import pytest

from datamig.anonymize.engine import Engine
from datamig.anonymize.fpe import LETTERS
from datamig.anonymize.keyed import Keys
from datamig.anonymize.mask_words import KEPT_WORDS, MAX_LETTERS
from datamig.anonymize.rules import DEFAULT_RULES_PATH, load_rules
from datamig.anonymize.sqlrender import anonymize_sql as A
from datamig.anonymize.taken import DIGITS_DOMAIN, normalized
from datamig.anonymize.udf_workers import MIN_MASK_ROWS, WorkerPool
from datamig.dbt_plugin import Plugin

SALT = "mask-words-test-salt-0123456789"
WORD = re.compile(r"[A-Za-z]+")

# (domain, keep_country_code, value, kept words, name words): values as they are found in PROD
NAMED = [
    ("phone", True, "555-123-4567 (mom Maria Lopez)", ["mom"], ["Maria", "Lopez"]),
    ("phone", True, "555.123.4567 ask for Jose", ["ask", "for"], ["Jose"]),
    ("phone", True, "Cell: +1 555 123 4567 ext. 12 (Dad, TOM)", ["Cell", "ext", "Dad"], ["TOM"]),
    ("phone", True, "555-123-4567 x204 Grandma Rosa only after 5pm", ["x", "Grandma", "only", "after", "pm"], ["Rosa"]),
    ("ssn", False, "123-45-6789 Maria's", [], ["Maria"]),
    ("ssn", False, "SSN 123-45-6789 (Lopez)", [], ["Lopez"]),
]

# Outputs of the code before words were masked (same salt): values without ASCII letters must
# not move, nor the digits of values with them (taken.py and existing migrations rely on them).
# Since then a ten-digit phone and an SSN keep their class, valid or not (numbering.py): those moved.
PINNED = [("555-123-4567", "phone", True, "080-174-7748"), ("+1 (555) 123-4567", "phone", True, "+1 (080) 174-7748"),
          ("555.123.4567 #204", "phone", True, "259.577.2976 #558"), ("123-45-6789", "ssn", False, "098-35-4883"),
          ("123 45 6789", "ssn", False, "098 35 4883")]


@pytest.fixture(scope="module")
def engine():
    return Engine(load_rules(), Keys(SALT))


@pytest.fixture(scope="module")
def plugin():
    old = os.environ.get("DATAMIG_SALT")
    os.environ["DATAMIG_SALT"] = SALT
    try:
        plugin = Plugin.__new__(Plugin)
        plugin.initialize({"rules_file": str(DEFAULT_RULES_PATH)})
    finally:
        if old is None:
            os.environ.pop("DATAMIG_SALT", None)
        else:
            os.environ["DATAMIG_SALT"] = old
    return plugin


def _shape(value: str) -> str:
    """Each character's class: what a CHECK or a length limit sees."""
    return "".join("9" if c.isascii() and c.isdigit() else "A" if "A" <= c <= "Z" else "a" if "a" <= c <= "z" else c
                   for c in value)


def _words(value: str) -> list[tuple[int, str]]:
    return [(m.start(), m.group()) for m in WORD.finditer(value)]


def _digits(value: str) -> str:
    return re.sub(r"[^0-9]", "", value)


@pytest.mark.parametrize("domain, keep, value, kept, names", NAMED)
def test_a_name_in_a_phone_or_ssn_value_is_no_longer_readable(engine, domain, keep, value, kept, names):
    perm = engine.permuter
    out = perm.transform_one(value, domain, keep)
    assert len(out) == len(value) and _shape(out) == _shape(value)   # length, punctuation, case kept
    assert out == perm.transform(pa.array([value]), domain, keep)[0].as_py()
    before, after = dict(_words(value)), dict(_words(out))
    for word in kept:
        at = next(i for i, w in before.items() if w == word)
        assert after[at] == word
    for name in names:
        at = next(i for i, w in before.items() if w == name)
        assert after[at].lower() != name.lower() and name.lower() not in out.lower()


def test_digits_are_exactly_those_of_the_value_without_its_words(engine):
    perm = engine.permuter
    for value, domain, keep, want in PINNED:
        assert perm.transform_one(value, domain, keep) == want
        assert perm.transform(pa.array([value]), domain, keep).to_pylist() == [want]
    for domain, keep, value, _, _ in NAMED + [("phone", True, "José 王 555-123-4567", [], [])]:
        bare = WORD.sub("", value)
        assert _digits(perm.transform_one(value, domain, keep)) == _digits(perm.transform_one(bare, domain, keep))
    assert _digits(perm.transform_one("José 王 555-123-4567", "phone", True)) == "0801747748"


def test_kept_words_stay_in_any_case(engine):
    perm = engine.permuter
    values = ["555-123-4567 X204", "555.123.4567ext.3", "CELL 555-123-4567", "Mom/Dad 555-123-4567 after 5PM",
              "unknown", "NONE", "Refused", "n/a", "1e+20", "-Infinity", "NaN", "-inf", "ID-12", "(555) 123-4567 Work",
              # statuses and masks an SSN or phone column holds (a review saw them garbled)
              "XXX-XX-6789", "TBD", "Pending", "unlisted"]
    for value in values:
        letters = [w for _, w in _words(value)]
        if value == "n/a":  # single letters are initials, not kept words: "N/A" is permuted
            assert [w for _, w in _words(perm.transform_one(value, "phone", True))] != letters
            continue
        assert [w for _, w in _words(perm.transform_one(value, "phone", True))] == letters, value
        assert [w for _, w in _words(perm.transform_one(value, "ssn", False))] == letters, value
    assert {"x", "ext", "cell", "mom", "unknown", "e", "inf", "nan", "pm"} <= KEPT_WORDS


def test_a_word_touching_a_non_ascii_character_is_not_kept(engine):
    """ASCII letters of "José" are permuted, its é stays; "Dayé" is not the kept "day"."""
    perm = engine.permuter
    for value, word, at in (("José 555-123-4567", "Jos", 0), ("Dayé 555-123-4567", "Day", 0),
                            ("555-123-4567 mamá", "mam", 13)):
        out = perm.transform_one(value, "phone", True)
        assert len(out) == len(value) and _shape(out) == _shape(value)
        assert out[at + len(word)] == value[at + len(word)]     # the accented letter stays
        assert out[at:at + len(word)].lower() != word.lower()


def test_a_long_text_loses_every_letter_kept_words_too(engine):
    """Over MAX_LETTERS letters a value is prose, not a phone: no word is kept."""
    perm = engine.permuter
    value = "555-123-4567 " + " ".join(["call mom"] * (MAX_LETTERS // 7 + 1))
    out = perm.transform_one(value, "phone", True)
    assert _shape(out) == _shape(value) and _digits(out) == _digits(perm.transform_one("555-123-4567", "phone", True))
    assert sum(w.lower() in ("call", "mom") for _, w in _words(out)) < 3
    assert out == perm.transform(pa.array([value]), "phone", True)[0].as_py()


def test_one_value_at_a_time_equals_the_vectorized_chunk(engine):
    """transform_one (JSON documents) and transform (the SQL UDF), on random values full of kept
    words, names, non-ASCII letters and walls of letters, in a sliced array (offsets)."""
    perm, rng = engine.permuter, random.Random(7)
    tokens = [*KEPT_WORDS, "Maria", "LOPEZ", "José", "é", "王", "a", "Q", "(", ")", "x2", "2pm", "'s", "-", ".", ",",
              "\u00a0", "ab", "Zz"]
    # few digit counts: each new one costs the digit pass a key schedule (slow to build)
    phones = ["", "", "555-123-4567 ", "+1 555 123 4567", "123-45-6789", "5551234567"]
    vals = [None, "", "+1 555 123 4567 x", "x", "ID", "Ωmega"]
    for _ in range(4000):
        sep = rng.choice(["", " ", "/", "-"])
        words = sep.join(rng.choice(tokens) for _ in range(rng.choice([1, 2, 3, 5, 8, 20, 40])))
        vals.append(rng.choice(phones) + words if rng.random() < 0.8 else words + rng.choice(phones))
    assert any(v and sum(c.isascii() and c.isalpha() for c in v) > MAX_LETTERS for v in vals)
    arr = pa.array(["pad", "pad", *vals], pa.string()).slice(2)
    for domain, keep in (("phone", True), ("phone", False), ("ssn", False)):
        chunk = perm.transform(arr, domain, keep).to_pylist()
        assert chunk == [perm.transform_one(v, domain, keep) for v in vals]
        assert all(o is None if v is None else _shape(o) == _shape(v) for v, o in zip(vals, chunk))


def test_the_mask_stays_a_bijection_where_a_word_could_turn_into_a_kept_word(engine):
    """Every word of 1 to 3 letters after one phone: the non-kept words of each length are
    permuted among themselves (one fake each), kept words stay, no fake word reads as a kept
    word; the first permutation did land on kept words, so the cycle walk ran."""
    perm = engine.permuter
    words = ["".join(t) for n in (1, 2, 3) for t in itertools.product(string.ascii_lowercase, repeat=n)]
    words += [w.upper() for w in words if len(w) < 3] + [w.title() for w in words if len(w) == 2]
    vals = [f"555-123-4567 {w}" for w in words]
    out = perm.transform(pa.array(vals), "phone", True).to_pylist()
    assert out == [perm.transform_one(v, "phone", True) for v in vals]
    fake = [o.split(" ", 1)[1] for o in out]
    assert len(set(out)) == len(vals) and {o.split(" ", 1)[0] for o in out} == {out[0].split(" ", 1)[0]}
    assert sorted(fake) == sorted(words)                              # a permutation of the words
    assert all(f == w for w, f in zip(words, fake) if w.lower() in KEPT_WORDS)
    assert not any(f.lower() in KEPT_WORDS for w, f in zip(words, fake) if w.lower() not in KEPT_WORDS)
    assert sum(f != w for w, f in zip(words, fake)) > 0.9 * len(words)
    first = [_permuted_once(perm, w) for w in words if w.lower() not in KEPT_WORDS]
    assert sum(f.lower() in KEPT_WORDS for f in first) > 0          # the walk was needed


def _permuted_once(perm, word: str) -> str:
    """One letters pass over a lone word: what the first step does to it in a value."""
    data = bytearray(word.encode())
    perm._one_pass(data, list(range(len(data))), "phone", LETTERS)
    return data.decode()


def test_a_walked_fake_still_loses_its_words_alike_in_a_chunk_and_one_by_one(engine):
    """A fake that is another real phone of the slice walks on (taken.py): the walked value's
    words are masked too, and a chunk and one value at a time agree."""
    perm, rng = engine.permuter, random.Random(3)
    vals = [f"{rng.randint(200, 999)}-{rng.randint(200, 999)}-{rng.randint(1000, 9999)} "
            + rng.choice(["(mom Maria Lopez)", "ask for Jose", "x204", "cell", "Ana"]) for _ in range(400)]
    plain = [perm.transform_one(v, "phone", True) for v in vals]
    real = {normalized("phone", v) for v in vals} | {normalized("phone", f) for f in plain[::5]}
    engine.taken.add("words#1", {"phone": frozenset(perm.transform_one(r, DIGITS_DOMAIN) for r in real)})
    check = engine.taken.get("words#1").for_domain("phone")
    chunk = perm.transform(pa.array(vals), "phone", True, taken=check).to_pylist()
    assert chunk == [perm.transform_one(v, "phone", True, taken=check) for v in vals]
    walked = [(v, o) for v, o, p in zip(vals, chunk, plain) if o != p]
    assert len(walked) >= len(vals[::5]) and not check(chunk).any()
    for v, o in walked:
        assert _shape(o) == _shape(v) and "maria" not in o.lower() and "jose" not in o.lower()


def test_sql_workers_and_documents_mask_words_as_python_does(plugin):
    """dm_mask_format (chunks big enough for the worker processes), the phone and ssn fakers and a
    JSON document's phone give the Python twin's output."""
    engine, rng = plugin.engine, random.Random(5)
    conn = duckdb.connect()
    plugin.configure_connection(conn)
    conn.execute("CREATE TABLE int_pii_values (kind VARCHAR, h VARCHAR, d VARCHAR)")
    extras = ["(mom Maria Lopez)", "ask for Jose", "x204", "Ext. 7 WORK", "José", "", "unknown", "Maria's"]
    vals = [None if i % 50 == 0 else f"{rng.randint(200, 999)}-{rng.randint(200, 999)}-{rng.randint(1000, 9999)} "
            f"{rng.choice(extras)}".strip() for i in range(3 * MIN_MASK_ROWS)]
    vals += [e for e in extras if e]
    columns = {
        "phone": (A("v", "mask_format", domain="phone", keep_country_code=True),
                  lambda v: engine.fakes.apply("mask_format", v, domain="phone", keep_country_code=True)),
        "ssn": (A("v", "mask_format", domain="ssn"), lambda v: engine.fakes.apply("mask_format", v, domain="ssn")),
        "faker_phone": (A("v", "faker", provider="phone", domain="phone"),
                        lambda v: engine.fakes.apply("faker", v, "phone", "phone")),
        "faker_ssn": (A("v", "faker", provider="ssn", domain="ssn"), lambda v: engine.fakes.apply("faker", v, "ssn", "ssn")),
    }
    select = ", ".join(f"{sql} AS {name}" for name, (sql, _) in columns.items())
    got = conn.execute(f"SELECT v, {select} FROM (SELECT unnest(?) AS v, generate_subscripts(?, 1) AS i) ORDER BY i",
                       [vals, vals]).fetchall()
    assert [r[0] for r in got] == vals
    for k, (name, (_, python)) in enumerate(columns.items(), start=1):
        assert [r[k] for r in got] == [python(v) for v in vals], name
    assert any("Maria" in v for v in vals if v) and not any("Maria" in r[1] for r in got if r[1])
    doc = json.dumps({"guardians": [{"phone": "555-123-4567 (mom Maria Lopez)"}]})
    out = conn.execute("SELECT dm_jsonb(?, '{}', dm_taken('int_pii_values'), CAST([] AS VARCHAR[]))", [doc]).fetchone()[0]
    assert json.loads(out)["guardians"][0]["phone"] == engine.fakes.apply(
        "mask_format", "555-123-4567 (mom Maria Lopez)", domain="phone", keep_country_code=True)
    assert json.loads(out) == json.loads(engine.docs.anonymize_text(doc, "{}"))


def test_a_worker_process_masks_words_as_the_python_twin(engine):
    """The UDF's chunks run in worker processes (udf_workers.py): same fakes as one by one."""
    rng = random.Random(9)
    vals = [None if i % 31 == 0 else f"555-{i % 1000:03d}-{i:04d} " + rng.choice(["mom Maria", "x12", "Jose", ""])
            for i in range(MIN_MASK_ROWS + 100)]
    pool = WorkerPool(1)
    try:
        got = pool.mask_format(engine, pa.array(vals, pa.string()), "phone", True, False, None).to_pylist()
        assert not pool.broken and pool._workers[0] is not None           # it went to a worker
    finally:
        pool.close()
    assert got == [engine.permuter.transform_one(v, "phone", True) for v in vals]
    assert not any("Maria" in v or "Jose" in v for v in got if v)
