"""The kinds of number whose fakes stay valid: a real NANP phone's fake is a NANP phone, a real
SSN's fake a possible SSN.

Why: apps tested in CERT validate what they store (libphonenumber-style phone checks, the SSA's
rules for SSNs). The digit permutation (fpe.py) maps a phone's ten digits onto any of the 10^10
digit strings, so about a third of the fakes of valid phones had an area code or exchange code
starting with 0 or 1 (055-123-4567, 555-012-3456), and one SSN fake in nine had the area 000,
666 or 9xx, the group 00 or the serial 0000: CERT refused them, or the app did.

How (fpe.py applies it): a number of a kind's length is permuted, and while its fake is not in
the class the real value is in (valid or not), the fake is permuted again by the same
permutation (cycle walking). Within a class this is a bijection: a cycle of the permutation
visits the class's members in order, and each is mapped to the next one of the class on its
cycle. Both classes walk, the invalid one too: if only valid values walked, an invalid value
whose fake is valid could take the fake a valid value walked to. Together the two are a
bijection of all digit strings of the length, so uniqueness stays exact, the same input, salt and
domain give the same fake everywhere, and the inverse walks the inverse permutation alike.
A value whose first fake is already in its class keeps the fake it had before this (64% of
valid phones, 89% of valid SSNs); a valid phone costs 1/0.64 = 1.56 permutations on average, a
valid SSN 1/0.89 = 1.13, an invalid one 2.8 and 9 (rare values).

The classes, by kind and digit count (other counts are not of the kind: permuted as before):
- phone, 10 digits (after a kept +CC or trunk 1, an extension apart): area code and exchange code
  each starting with 2-9 (NXX-NXX-XXXX);
- ssn, 9 digits: area not 000, 666 or 900-999; group not 00; serial not 0000.
"""
from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np

LEAK_KINDS = ("email", "phone", "ssn")
PHONE, SSN = "phone", "ssn"
LENGTH = {PHONE: 10, SSN: 9}  # digits of a number of the kind
ZERO, TWO = ord("0"), ord("2")


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


def valid_rows(kind: str, data: np.ndarray, pos: np.ndarray) -> np.ndarray:
    """Which of the numbers are valid ones of `kind`: `pos` (m x LENGTH[kind]) the positions of
    their digits (ASCII bytes) in `data`, most significant first."""
    if kind == PHONE:
        return (data[pos[:, 0]] >= TWO) & (data[pos[:, 3]] >= TWO)
    digit = [data[pos[:, j]].astype(np.int16) - ZERO for j in range(LENGTH[SSN])]
    area = 100 * digit[0] + 10 * digit[1] + digit[2]
    group = digit[3] | digit[4]
    serial = digit[5] | digit[6] | digit[7] | digit[8]
    return (area != 0) & (area != 666) & (area < 900) & (group != 0) & (serial != 0)


def valid_one(kind: str, digits: Sequence[int]) -> bool:
    """valid_rows for one number, its digit values (0-9) given."""
    if kind == PHONE:
        return digits[0] >= 2 and digits[3] >= 2
    area = 100 * digits[0] + 10 * digits[1] + digits[2]
    return area not in (0, 666) and area < 900 and any(digits[3:5]) and any(digits[5:9])
