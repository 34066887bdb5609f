"""mask_format on values far longer than a phone (a notes text in a phone column, a document's
identifier): key tables stay bounded whatever the length, the mask stays a bijection that keeps
the format, and values of up to 60 digits get the fakes they always had."""
from __future__ import annotations

import random
import tracemalloc

import pyarrow as pa
import pytest

from datamig.anonymize.fpe import DIGITS, LETTERS, LONG_BLOCKS, DigitPermuter
from datamig.anonymize.keyed import Keys

SALT = "long-masks-test-salt-0123456789"
LONGEST_OLD = DIGITS.max_block * LONG_BLOCKS  # 60 digits: the longest value of per-block tables

# Outputs of the code before long values had their own scheme (same salt, domain natural_id,
# keep_country_code): up to 60 digits nothing moved.
UNCHANGED = [("(" + "1234567890" * 6 + ")", False, "(210432070629422393319930569133766081397217668074489494061435)"),
             ("+44 " + "9" * 59, True, "+44 63103892499094347005455649622857718371625513209054390945236")]
# The long scheme's own outputs: existing migrations line up with them from now on.
LONG = [("(" + "1234567890" * 6 + "1)", False, "(3206472195063131479438922803378399104830840498990458404592701)"),
        ("A" * 36 + "-" + "b" * 10, True, "BYSLGKMSBHQBNGWDBFTPWBJKRNEEFCANNBKX-rhgjvmpgop")]


@pytest.fixture()
def permuter():
    return DigitPermuter(Keys(SALT))


def _mask(permuter, values, **options):
    return permuter.transform(pa.array(values, pa.string()), "natural_id", **options).to_pylist()


def _table_bytes(permuter) -> int:
    return sum(t.nbytes for tables in permuter._tables.values() for t in tables)


@pytest.mark.parametrize(("value", "letters", "fake"), UNCHANGED + LONG)
def test_fakes_are_pinned_and_unchanged_up_to_sixty_digits(permuter, value, letters, fake):
    assert _mask(permuter, [value], keep_country_code=True, letters=letters) == [fake]
    assert permuter.transform_one(value, "natural_id", keep_country_code=True, letters=letters) == fake


def test_a_text_in_a_phone_column_keeps_the_key_tables_bounded(permuter):
    """Per-block tables cost ~0.5 MB a digit: 20,000 digits took ~10 GB before."""
    sizes = []
    for digits in (200, 5_000, 20_000):
        value = "Called 555-123-4567 twice, left a message; " * (digits // 10 + 1)
        tracemalloc.start()
        out = _mask(permuter, [value], keep_country_code=True)[0]
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert sum(c.isdigit() for c in value) > digits and out != value and len(out) == len(value)
        assert peak < 150 * 2**20, f"{digits} digits: peak {peak >> 20} MB"
        sizes.append(_table_bytes(permuter))
    assert sizes[0] == sizes[1] == sizes[2] < 40 * 2**20  # no new tables however long the text


def test_long_values_stay_a_bijection_that_keeps_their_format(permuter):
    rng = random.Random(7)
    values = {"".join(rng.choice("0123456789-. ()") for _ in range(rng.randint(80, 400))) for _ in range(3000)}
    base = "".join(rng.choice("0123456789") for _ in range(150))
    values |= {base[:i] + str((int(base[i]) + 1) % 10) + base[i + 1:] for i in range(0, 150, 7)}  # one digit apart
    values = sorted(v for v in values if sum(c.isdigit() for c in v) > LONGEST_OLD)
    out = _mask(permuter, values)
    assert len(set(out)) == len(values)
    for v, o in zip(values, out):
        assert [c.isdigit() or c for c in o] == [c.isdigit() or c for c in v]
    digit_only = ["".join(c for c in v if c.isdigit()) for v in values]
    fakes = _mask(permuter, digit_only)
    assert permuter.untransform(pa.array(fakes), "natural_id").to_pylist() == digit_only


def test_equal_blocks_of_one_long_value_get_different_fakes(permuter):
    out = _mask(permuter, ["0123456789" * 12])[0]  # six blocks of 20 equal digits
    assert len({out[i:i + 20] for i in range(0, 120, 20)}) == 6


@pytest.mark.parametrize("letters", [False, True])
def test_one_value_at_a_time_equals_the_chunk_on_long_values(permuter, letters):
    rng = random.Random(11)
    alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz -+()"
    values = ["+1 " + "".join(rng.choice(alphabet) for _ in range(rng.randint(20, 600))) for _ in range(60)]
    assert any(sum(c.isdigit() for c in v) > LONGEST_OLD for v in values)
    assert any(sum(c.isalpha() for c in v) > LETTERS.max_block * LONG_BLOCKS for v in values)
    chunk = _mask(permuter, values, keep_country_code=True, letters=letters)
    assert [permuter.transform_one(v, "natural_id", keep_country_code=True, letters=letters) for v in values] == chunk
    assert len(set(chunk)) == len(values) and all(c != v for c, v in zip(chunk, values))
