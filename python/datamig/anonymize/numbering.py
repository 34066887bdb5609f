"""The kinds of number whose fakes stay valid: a real NANP phone's fake is a NANP phone, a real
SSN's fake a possible SSN.

Why: apps tested in CERT validate what they store (libphonenumber-style phone checks, the SSA's
rules for SSNs). The digit permutation (fpe.py) maps a phone's ten digits onto any of the 10^10
digit strings, so about a third of the fakes of valid phones had an area code or exchange code
starting with 0 or 1 (055-123-4567, 555-012-3456), and one SSN fake in nine had the area 000,
666 or 9xx, the group 00 or the serial 0000: CERT refused them, or the app did.

How (fpe.py applies it): a number of a kind's length is kept in its class, valid or not: the
class's members are ranked (mixed radix: 8 x 10 x 10 for an area code NXX), the rank goes
through a keyed permutation of the class's size (a Feistel network on two parts, fpe.py), and
the new rank is read back as digits. Both classes are permuted, the invalid one too: a bijection
that maps valid numbers onto valid ones maps the others onto the others, else an invalid value's
fake could be a valid value's. Together the two are a bijection of all digit strings of the
length, so uniqueness stays exact, the same input, salt and domain give the same fake
everywhere, and the inverse is the inverse permutation between the same ranks. One pass per
number, in numpy over the chunk: cycle walking over the digit permutation instead (permuting
again until the fake is back in its class) took a pass per step, up to ~30 steps for a chunk's
rare invalid SSN (8 in 9 fakes leave that class), and made the mask 4-5x slower.

The classes, by kind and digit count (other counts are not of the kind: permuted as before):
- phone, 10 digits (after a kept +CC or trunk 1, an extension apart): area code and exchange code
  each starting with 2-9 (NXX-NXX-XXXX);
- ssn, 9 digits: area not 000, 666 or 900-999; group not 00; serial not 0000.
"""
from __future__ import annotations

from typing import Mapping

import numpy as np

LEAK_KINDS = ("email", "phone", "ssn")
PHONE, SSN = "phone", "ssn"
LENGTH = {PHONE: 10, SSN: 9}  # digits of a number of the kind


def leak_kind(*names: str | None) -> str | None:
    """email, phone or ssn when the last dotted part of a provider, domain or rule name says so
    (int_pii_values' kinds); None otherwise."""
    for name in names:
        if name:
            last = name.split(".")[-1]
            for kind in LEAK_KINDS:
                if kind in last:
                    return kind
    return None


def kept_kind(domain: str, kinds: Mapping[str, str], keep_country_code: bool) -> str | None:
    """The kind whose validity the fakes of `domain` keep: the rules' kind of the domain (as
    taken.py reads it), else a phone when the mask keeps a country code; None for other kinds."""
    kind = kinds.get(domain) or leak_kind(domain) or (PHONE if keep_country_code else None)
    return kind if kind in LENGTH else None


def valid_rows(kind: str, digits: np.ndarray) -> np.ndarray:
    """Which of the numbers are valid ones of `kind`: `digits` (m x LENGTH[kind]) their digit
    values (0-9, float64), most significant first."""
    if kind == PHONE:
        return (digits[:, 0] >= 2) & (digits[:, 3] >= 2)
    parts = digits @ _SSN_PARTS
    return _AREA_OK[np.rint(parts[:, 0]).astype(np.intp)] & (parts[:, 1] > 0) & (parts[:, 2] > 0)


# Ranks and numbers in float64 (matmuls and floor divisions, exact below 2^53): several times
# faster than int64 // and % (as fpe._permute_symbols). A "number" is the value of the digit string.
def _digits_of(number: np.ndarray, length: int) -> np.ndarray:
    shifted = np.floor(number[:, None] / 10.0 ** np.arange(length - 1, -1, -1))
    return shifted - 10 * np.floor(shifted / 10)


def _split(x: np.ndarray, unit: float) -> tuple[np.ndarray, np.ndarray]:
    """divmod(x, unit) in float64."""
    q = np.floor(x / unit)
    return q, x - q * unit


# ----- phones: area code A1A2A3, exchange E1E2E3, line: all digits but A1 and E1 are free ------
_E6, _E8, _E9 = 1e6, 1e8, 1e9
_PHONE_LOW = 2 * _E9                   # invalid phones with A1 in 0-1: the first ranks, as their number


def _phone_weights(first: float, exchange: float) -> np.ndarray:
    """A phone's rank as digits @ weights: A1 and E1 weigh `first` and `exchange`, the other 8
    digits their place in an 8-digit number."""
    w = np.zeros(10)
    w[[1, 2, 4, 5, 6, 7, 8, 9]] = 10.0 ** np.arange(7, -1, -1)
    w[0], w[3] = first, exchange
    return w


_VALID_W, _HIGH_W, _PLAIN_W = _phone_weights(8 * _E8, _E8), _phone_weights(2 * _E8, _E8), 10.0 ** np.arange(9, -1, -1)


def _phone_rank(valid: bool, d: np.ndarray) -> np.ndarray:
    """valid: (A1-2, E1-2) in 8 x 8, then the 8 other digits (6.4e9 ranks); invalid: A1 in 0-1
    and 9 other digits (2e9), then A1 in 2-9, E1 in 0-1 and the 8 other digits (1.6e9)."""
    if valid:
        return d @ _VALID_W - (2 * 8 * _E8 + 2 * _E8)
    return np.where(d[:, 0] < 2, d @ _PLAIN_W, d @ _HIGH_W + (_PHONE_LOW - 2 * 2 * _E8))


def _phone_number(first: np.ndarray, exchange: np.ndarray, rest: np.ndarray) -> np.ndarray:
    """A1 and E1 put back among the 8 other digits (`rest`, A2A3 then E2E3 and the line)."""
    high, low = _split(rest, _E6)
    return first * _E9 + high * 1e7 + exchange * _E6 + low


def _phone_unrank(valid: bool, r: np.ndarray) -> np.ndarray:
    if valid:
        q, rest = _split(r, _E8)
        a, e = _split(q, 8)
        return _phone_number(a + 2, e + 2, rest)
    q, rest = _split(np.maximum(r - _PHONE_LOW, 0), _E8)
    a, e = _split(q, 2)
    return np.where(r < _PHONE_LOW, r, _phone_number(a + 2, e, rest))


# ----- SSNs: area AAA, group GG, serial SSSS ----------------------------------------------------
_AREA_OK = np.array([a not in (0, 666) and a < 900 for a in range(1000)])
_AREAS = (np.flatnonzero(_AREA_OK).astype(np.float64), np.flatnonzero(~_AREA_OK).astype(np.float64))
_AREA_RANK = np.zeros(1000)
for _areas in _AREAS:
    _AREA_RANK[_areas.astype(np.int64)] = np.arange(len(_areas))
_N_AREA, _N_BAD_AREA = len(_AREAS[0]), len(_AREAS[1])
_SSN_GROUP0 = _N_BAD_AREA * 1e6                     # invalid: after bad areas, good area + group 00
_SSN_SERIAL0 = _SSN_GROUP0 + _N_AREA * 1e4          # then good area and group, serial 0000
_SSN_PARTS = np.zeros((9, 3))                       # digits @ this: area, group, serial
_SSN_PARTS[[0, 1, 2], 0], _SSN_PARTS[[3, 4], 1], _SSN_PARTS[[5, 6, 7, 8], 2] = [100, 10, 1], [10, 1], [1e3, 100, 10, 1]


def _ssn_rank(valid: bool, d: np.ndarray) -> np.ndarray:
    """valid: area rank, group-1, serial-1 (898 x 99 x 9999); invalid: a bad area and any rest,
    then a good area with group 00, then a good area and group with serial 0000."""
    parts = d @ _SSN_PARTS
    area, group, serial = np.rint(parts[:, 0]).astype(np.int64), parts[:, 1], parts[:, 2]
    rank = _AREA_RANK[area]
    if valid:
        return (rank * 99 + group - 1) * 9999 + serial - 1
    return np.where(~_AREA_OK[area], rank * 1e6 + group * 1e4 + serial,
                    np.where(group == 0, _SSN_GROUP0 + rank * 1e4 + serial, _SSN_SERIAL0 + rank * 99 + group - 1))


def _area(valid: bool, rank: np.ndarray) -> np.ndarray:
    areas = _AREAS[0 if valid else 1]
    return areas[np.clip(rank, 0, len(areas) - 1).astype(np.int64)]  # clipped: rows another branch takes


def _ssn_unrank(valid: bool, r: np.ndarray) -> np.ndarray:
    if valid:
        rest, serial = _split(r, 9999)
        rank, group = _split(rest, 99)
        return _area(True, rank) * 1e6 + (group + 1) * 1e4 + serial + 1
    rank, rest = _split(r, 1e6)                                       # bad area: group and serial as they are
    bad = _area(False, rank) * 1e6 + rest
    rank, serial = _split(r - _SSN_GROUP0, 1e4)                       # group 00
    group0 = _area(True, rank) * 1e6 + serial
    rank, group = _split(r - _SSN_SERIAL0, 99)                        # serial 0000
    serial0 = _area(True, rank) * 1e6 + (group + 1) * 1e4
    return np.where(r < _SSN_GROUP0, bad, np.where(r < _SSN_SERIAL0, group0, serial0))


SIZE = {(PHONE, True): 64 * 10 ** 8, (PHONE, False): 36 * 10 ** 8,
        (SSN, True): _N_AREA * 99 * 9999, (SSN, False): int(_SSN_SERIAL0) + _N_AREA * 99}


def _by_class(formula, valid: np.ndarray, x: np.ndarray) -> np.ndarray:
    """formula(True, x) on the valid rows, formula(False, x) on the others: a chunk is most often
    all of one class (one call), else the few rows of the other class are redone."""
    majority = bool(valid.mean() >= 0.5)
    out = formula(majority, x)
    others = np.flatnonzero(valid != majority)
    if len(others):
        out[others] = formula(not majority, x[others])
    return out


def rank(kind: str, valid: np.ndarray, digits: np.ndarray) -> np.ndarray:
    """Each row's place (0 .. SIZE - 1) among the numbers of its class (`valid`: per row), as
    int64; `digits` (m x LENGTH[kind]) digit values (0-9, float64)."""
    ranked = _by_class(_phone_rank if kind == PHONE else _ssn_rank, valid, digits)
    return np.rint(ranked).astype(np.int64)


def unrank(kind: str, valid: np.ndarray, ranks: np.ndarray) -> np.ndarray:
    """rank()'s inverse: the (m x LENGTH[kind]) digit values (float64) of the numbers at `ranks`."""
    number = _by_class(_phone_unrank if kind == PHONE else _ssn_unrank, valid, ranks.astype(np.float64))
    return _digits_of(number, LENGTH[kind])
