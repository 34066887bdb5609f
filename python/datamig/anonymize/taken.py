"""The real values of the slice that no fake may be.

Why: a keyed permutation of the digits keeps a phone unique and in its format, but it maps each
phone onto some other 10-digit string, and now and then that string is another person's REAL
phone of the same district: about N^2/10^10 for N phones (N^2/10^9 for SSNs), so a certainty at
some size. CERT would then hold a real number of the district, and the leak tests rightly fail.
So for the kinds a permutation can land on (phones and SSNs), an output that equals a real value
of its kind anywhere in the slice is permuted again under a tweaked domain ("walks on") until it
is none. Each round is itself a bijection, so two values only collide if one walked and the
other did not and the walker landed on the other's fake: about R * N / 10^10 for R walkers (R
itself ~N^2/10^10), and a unique test catches it if it ever happens.

The real values come from the `int_pii_values` model, which stores no real value: per kind the
keyed SHA-256 of the normalized values (`h`, what the free-text leak tests join on) and, for
phones and SSNs, a keyed format-preserving encryption of their digits under a domain of its
own (`d`: fpe.py's permutation, as strong as the fakes CERT receives). `dm_taken(relation)`
reads the table once per build, decrypts `d` in memory (where the slice's real values pass
anyway: the UDFs are anonymizing them) and returns a token; dm_mask_format and dm_jsonb take
the token. A chunk of fakes is then checked in numpy: normalized, read as integers, looked up in
the sorted real ones; no call per value (a keyed SHA-256 per fake held mask_format to ~0.5M
rows/s). The function of (salt, domain, value) this makes is unchanged except for the rare
walkers, whose fake also depends on which real values the slice holds (a new phone in PROD can
move them).

The same table says where the slice's multi-word full names split (kind `name`): a person whose
first or last name column holds two words ("María José", "de la Cruz") is written in a full-name
column as "María José de la Cruz", where no rule can tell the given names from the surname. The
row keeps the keyed hash of "first last" and the first name's length (`d`); a full name found
there is faked as its two columns are (fakes.Fakes.known_full_name), so the person keeps one
fake name in every table and store.
"""
from __future__ import annotations

import re
import threading
from typing import Callable, Iterable, Mapping, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .arrays import not_null_mask, string_array
from .fpe import PHONE_EXTENSION, PHONE_EXTENSION_SQL, DigitPermuter
from .keyed import identity
from .numbering import PHONE, leak_kind
from .rules import RuleSet

AVOIDED = frozenset({"phone", "ssn"})  # what a permutation outputs; emails are keyed fakes
NAME_KIND = "name"                      # int_pii_values' rows of multi-word names: h and where they split
HASH_DOMAIN = "pii.values"              # keys int_pii_values' hashes (SQL: anonymize_hash)
DIGITS_DOMAIN = "pii.values.digits"     # keys its digit encryption (SQL: anonymize_taken_digits)
VECTOR_MIN = 16                         # fewer values are checked one by one
MAX_NUMBER_DIGITS = 18                  # int("1" + 18 digits) < 2^64
ZERO = ord("0")
_POWERS = 10 ** np.arange(MAX_NUMBER_DIGITS + 1, dtype=np.uint64)
_RELATION = re.compile(r'^("[^"]+"|\w+)(\.("[^"]+"|\w+)){0,2}$')
_NOT_DIGIT = re.compile(r"[^0-9]")

Taken = Callable[[Sequence | pa.Array], np.ndarray]  # values -> which are real values of the slice (bool)


def normalized(kind: str, value: str) -> str:
    """As int_pii_values normalizes (scaffold/pii_values.py): emails unpadded and lower-case, phones their
    last 10 digits, SSNs their digits."""
    if kind == "email":
        return identity(value)
    if kind == "phone":
        return _NOT_DIGIT.sub("", PHONE_EXTENSION.sub("", value, count=1))[-10:]
    return _NOT_DIGIT.sub("", value)


def kinds_by_domain(ruleset: RuleSet) -> dict[str, str]:
    """Pseudonym domain -> leak kind, from every rule, override and jsonb path of the rules file
    (a rule named `phone` with domain `contact` makes `contact` a phone domain, and so does a
    mask keeping a country code: its fakes stay NANP phones in every column, numbering.py)."""
    out: dict[str, str] = {}
    rules = [*ruleset.rules, *(o.rule for o in ruleset.overrides)]
    for rule in rules:
        if rule.domain:
            kind = leak_kind(rule.provider, rule.domain, rule.name) or _phone_mask(rule.options)
            if kind:
                out.setdefault(rule.domain, kind)
        for path in rule.options.get("paths", ()) or ():
            kind = leak_kind(path.get("provider"), path.get("domain")) or _phone_mask(path)
            if kind and path.get("domain"):
                out.setdefault(path["domain"], kind)
    return out


def _phone_mask(options: Mapping) -> str | None:
    return PHONE if options.get("keep_country_code") else None


class TakenValues:
    """The real values of one slice, by kind (phones and SSNs), decrypted from int_pii_values' `d`."""

    def __init__(self, permuter: DigitPermuter, state: Mapping[str, frozenset], kinds: Mapping[str, str]):
        self._permuter, self._kinds = permuter, kinds
        self.state = state  # `d` by kind: what a UDF worker is sent (never a real value)
        self._real: dict[str, tuple[frozenset, _NumberSet]] = {}  # by kind, built on first use
        self._splits: dict[str, int] | None = None
        self._lock = threading.Lock()

    def name_split(self, full: str) -> int | None:
        """Where a full name "first last" of the slice's name columns ends its first name (the
        first name's length), when either part has a space; None for any other value."""
        if self._splits is None:
            splits: dict[str, int] = {}
            for entry in self.state.get(NAME_KIND, ()):
                h, _, at = entry.partition(":")
                splits[h] = min(int(at), splits.get(h, int(at)))  # one string, two splits: one rule
            self._splits = splits
        return self._splits.get(self._permuter.keys.sha_hex(HASH_DOMAIN, full)) if self._splits else None

    def for_domain(self, domain: str) -> Taken | None:
        """The check for fakes of `domain`, or None when its kind is not one to avoid."""
        kind = self._kinds.get(domain) or leak_kind(domain)
        if kind not in AVOIDED or not self.state.get(kind):
            return None
        real, members, last = *self._real_values(kind), 10 if kind == "phone" else 0

        def taken(values: Sequence[str | None] | pa.Array) -> np.ndarray:
            if len(values) < VECTOR_MIN:  # a JSON document's phone: an Arrow round trip costs more
                values = values.to_pylist() if isinstance(values, pa.Array) else values
                return np.array([v is not None and normalized(kind, v) in real for v in values], dtype=bool)
            numbers, lengths = digit_numbers(values, last)
            found = members.contains(numbers)
            for i in np.flatnonzero(lengths > MAX_NUMBER_DIGITS):  # too long to be a number (junk SSNs)
                value = values[i]
                found[i] = normalized(kind, value.as_py() if isinstance(value, pa.Scalar) else value) in real
            return found
        return taken

    def _real_values(self, kind: str) -> tuple[frozenset, _NumberSet]:
        """The decrypted real values of a kind, as strings and as digit_numbers."""
        with self._lock:
            if kind not in self._real:
                real = self._permuter.untransform(string_array(sorted(self.state[kind])), DIGITS_DOMAIN)
                numbers, _ = digit_numbers(real)
                self._real[kind] = frozenset(real.to_pylist()), _NumberSet(numbers[numbers > 0])
            return self._real[kind]


def digit_numbers(values: Sequence[str | None] | pa.Array, last: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """normalized() of a chunk of phones or SSNs as numbers, without a call per value: each
    value's digits (its last `last` when `last`) read as int("1" + digits), so leading zeros
    count, as uint64 (0 for NULL, no digits, or more than MAX_NUMBER_DIGITS digits); and each
    value's count of normalized digits. Byte-wise is exact: no byte of a multi-byte UTF-8
    character is an ASCII digit. Each digit is weighed by its power of ten within its value and
    a value's number is the difference of a running total (exact modulo 2^64; every number fits)."""
    arr = values if isinstance(values, pa.Array) else string_array(values)
    n = len(arr)
    if n == 0:
        return np.zeros(0, np.uint64), np.zeros(0, np.int64)
    if last:  # phones: an extension is no part of their last digits (normalized), in RE2 as in SQL
        arr = pc.replace_substring_regex(arr, PHONE_EXTENSION_SQL, "", max_replacements=1)
    offsets = np.frombuffer(arr.buffers()[1], dtype=np.int32, count=n + 1, offset=arr.offset * 4)
    raw = arr.buffers()[2]
    data = np.frombuffer(raw, dtype=np.uint8)[offsets[0]:offsets[-1]] if raw is not None else np.zeros(0, np.uint8)
    is_digit = (data >= ZERO) & (data <= ZERO + 9)
    before = np.zeros(len(data) + 1, np.int64)  # digits before each byte
    np.cumsum(is_digit, out=before[1:])
    rel = offsets - offsets[0]
    first, ends = before[rel[:-1]], before[rel[1:]]
    starts = np.maximum(first, ends - last) if last else first
    if arr.null_count:
        starts = np.where(not_null_mask(arr), starts, ends)
    lengths = ends - starts
    digits = data[is_digit] - np.uint64(ZERO)
    place = np.repeat(ends, ends - first) - 1 - np.arange(len(digits))  # power of ten of each digit
    total = np.zeros(len(digits) + 1, np.uint64)
    np.cumsum(digits * _POWERS[np.minimum(place, MAX_NUMBER_DIGITS)], out=total[1:])
    numbers = total[ends] - total[starts] + _POWERS[np.minimum(lengths, MAX_NUMBER_DIGITS)]
    numbers[(lengths == 0) | (lengths > MAX_NUMBER_DIGITS)] = 0
    return numbers, lengths


class _NumberSet:
    """Membership of uint64s in a fixed set, for a chunk at a time: a bitmap of a multiplicative
    hash (>= 16 slots per member, so at most 1 in 16 misses gets further) in front of a binary
    search, which alone cost ~1 ms per 2048 values against a million members (cache misses).
    One bit per slot: a million members' bitmap is 2 MB, where a byte per slot (8 MB) missed
    the cache on most lookups."""

    _MIX = np.uint64(0x9E3779B97F4A7C15)  # odd: the product's top bits spread any input bits

    def __init__(self, members: np.ndarray):
        self._sorted = np.sort(members)
        bits = max(10, int(len(members) * 16 - 1).bit_length())
        self._shift = np.uint64(64 - bits)
        slots = np.zeros(1 << bits, dtype=bool)
        slots[self._slot(self._sorted)] = True
        self._bitmap = np.packbits(slots, bitorder="little")

    def _slot(self, numbers: np.ndarray) -> np.ndarray:
        return (numbers * self._MIX) >> self._shift  # modulo 2^64: uint64 wraps

    def contains(self, numbers: np.ndarray) -> np.ndarray:
        found = np.zeros(len(numbers), dtype=bool)
        slot = self._slot(numbers)
        marked = (self._bitmap[slot >> np.uint64(3)] >> (slot & np.uint64(7)).astype(np.uint8)) & np.uint8(1)
        maybe = np.flatnonzero(marked.astype(bool) & (numbers > 0))
        if len(maybe) and len(self._sorted):
            wanted = numbers[maybe]
            at = np.minimum(np.searchsorted(self._sorted, wanted), len(self._sorted) - 1)
            found[maybe] = self._sorted[at] == wanted
        return found


class TakenRegistry:
    """dm_taken(relation): reads the relation on its own cursor and hands out a token; the same
    table content gives the same token (a second build in the same process reads it again only
    if it changed)."""

    def __init__(self, permuter: DigitPermuter, kinds: Mapping[str, str], keep: int = 4):
        self._permuter, self._kinds, self._keep = permuter, kinds, keep
        self._by_token: dict[str, TakenValues] = {}
        self._lock = threading.Lock()

    def load(self, conn, relation: str) -> str:
        if not _RELATION.match(relation or ""):
            raise ValueError(f"dm_taken: {relation!r} is not a relation name")
        cur = conn.cursor()
        try:
            # cheap content signature: a rebuilt table with other values gets another token
            try:
                n, sig = cur.execute(f"select count(*), coalesce(sum(hash(kind, h, d)), 0) from {relation}").fetchone()
            except Exception:
                raise ValueError(f"dm_taken: cannot read {relation}: build int_pii_values first "
                                 f"(dbt run --select +int_pii_values)") from None
            token = f"{relation}#{n}#{sig}"
            with self._lock:
                if token not in self._by_token:
                    rows = cur.execute(f"select kind, case when kind = '{NAME_KIND}' then h || ':' || d else d end "
                                       f"from {relation} where d is not null").fetchall()
                    self._remember(token, TakenValues(self._permuter, _by_kind(rows), self._kinds))
        finally:
            cur.close()
        return token

    def state(self, token: str) -> Mapping[str, frozenset]:
        """The encrypted values behind a token, by kind: what a UDF worker process is sent."""
        return self.get(token).state

    def add(self, token: str, state: Mapping[str, frozenset]) -> None:
        """A token another process loaded (a UDF worker's side of state())."""
        with self._lock:
            self._remember(token, TakenValues(self._permuter, state, self._kinds))

    def _remember(self, token: str, taken: TakenValues) -> None:
        if len(self._by_token) >= self._keep:
            self._by_token.pop(next(iter(self._by_token)))
        self._by_token[token] = taken

    def get(self, token: str | None) -> TakenValues | None:
        if token is None:
            return None
        try:
            return self._by_token[token]
        except KeyError:
            raise ValueError("dm_taken: unknown token (call dm_taken(relation) in the same process)") from None


def _by_kind(rows: Iterable[tuple[str, str]]) -> dict[str, frozenset]:
    by_kind: dict[str, set] = {}
    for kind, d in rows:
        by_kind.setdefault(kind, set()).add(d)
    return {k: frozenset(v) for k, v in by_kind.items()}
