"""Keyed format-preserving permutation of the digits (optionally letters) inside strings (strategy ``mask_format``).

Why: phones, SSNs and natural identifiers must stay UNIQUE and keep their FORMAT (column
lengths, CHECK constraints, "NNN-NNN-NNNN" validation) without storing a real->fake map. A keyed
bijection on digit strings gives both: the punctuation of a value is kept, its d digits are
replaced by pi_{domain,d}(digits), a permutation of the 10^d digit strings of length d. Two
different inputs either differ outside the digits (where each pass below is a bijection of its
own) or in the digits (a bijection), so outputs never collide: uniqueness is exact, not
probabilistic.

The permutation, per (domain, d):
- digit strings longer than 20 are cut into balanced blocks of <= 20 digits, each permuted on its
  own (block index in the key);
- over three blocks (more than 60 digits: a text in a phone column, not a phone), per-block key
  schedules would grow with the value (~0.5 MB of tables per digit): each digit is first shifted by
  a keyed offset of its position (mod 10, a bijection), then every block of one length goes
  through one shared permutation (key label "long"). Tables stay bounded (block lengths 15..20)
  whatever the length; the offsets keep equal blocks of one value from mapping alike;
- a block of <= 5 digits: a keyed random permutation table (argsort of a keyed stream);
- longer blocks: split into k parts of <= 5 digits and run a generalized (type-1) Feistel network
  with modular addition: round i adds T_i[part (j+1) mod k] to part j = i mod k, modulo 10^len(j).
  Each step is invertible, so the whole is a bijection; 10 rounds for k = 2 (as FF1), 6k for k > 2.
  Round functions are random tables drawn from SHAKE-256(master key, domain, d, block, round),
  at most 10^5 entries each, so a round is one numpy gather: millions of values per second.
Everything is vectorized over the Arrow string buffer: no per-row Python.

Letters (opt-in, rule option ``letters: true``): natural identifiers such as 'MACQHBBVCZ' hold
few or no digits, and the digit pass alone would keep them. A second pass, independent of the
first, permutes the l ASCII letters of a value the same way, as base-26 digits (A-Z and a-z both
read 0..25, each position keeping its case): blocks of <= 12 letters, Feistel parts of <= 3
letters (tables <= 26^3 entries), tables from their own key label ("fpe-letters"), so the digit
outputs are the same with or without it. Both passes keep every position's class (digit, upper,
lower, other), and each is a bijection on its own symbols: the whole stays a bijection.

Words (letters not permuted, mask_words.py): a phone or SSN value that holds words ("555-123-4567
(mom Maria Lopez)") would keep a name, so the ASCII letters of its words are permuted by the
letters pass anyway (in groups of <= 12: bounded key schedules), except a short list of kept
words (x, ext, cell, mom, unknown, ...); a permuted word that comes out as a kept word is permuted
again (cycle walking), so the whole stays a bijection. Values with no ASCII letter, almost all of
them, cost one numpy pass over the chunk's bytes (~6 ms per million phones); digits are permuted
exactly as without words.

Phones (keep_country_code): a leading "+CC" is kept, and so is the 1 of 11 digits written
without one (+15551234567, 1-555-123-4567), so every spelling of a phone gets the fake of its ten
digits; other 11-digit values are walked off a leading 1 (cycle walking, a bijection on them).
An extension at the end (555-123-4567 x204, PHONE_EXTENSION_SQL) is a number of its own: the
phone gets the fake it has without one. The cut depends only on what the passes keep (x, ext and
extension are kept words, a non-kept word never becomes one), so the whole stays a bijection.

Valid numbers (numbering.py): in a domain of phones (a phone rule's, or a mask keeping a country
code) a number of ten digits that is a NANP phone (area code and exchange code starting 2-9) gets
a NANP phone, and in a domain of SSNs nine digits that are a possible SSN get one (no area 000,
666 or 9xx, group 00, serial 0000): such a number is ranked among its class's members (valid or
not), the rank permuted by a keyed Feistel network on the class's size, and read back as a
number of the class (a bijection of each class: the whole stays one). Other digit counts and
other domains are permuted as before.

Real values (taken.py): a fake that happens to be another person's real phone or SSN of the slice
walks on (permuted again under domain+walk n) until it is none. Each walk is a bijection too, so
uniqueness stays exact except in the rare walker-meets-fake case taken.py bounds. Every step
being invertible, untransform() undoes a digit-only transform: taken.py decrypts with it the real
values int_pii_values keeps encrypted.

Bound: exact uniqueness for any number of rows. Not a NIST FF1 implementation (no formal proof
for the table-based rounds); brute force needs the key (~2^256), as for any keyed hash.
"""
from __future__ import annotations

import math
import re
from functools import lru_cache
from typing import TYPE_CHECKING, Mapping, NamedTuple

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .arrays import index_array, null_string, string_array
from .keyed import SEP, Keys
from .mask_words import find_words, find_words_one, group_sizes, groups_one, reads_kept_one, rows_reading_kept
from .numbering import LENGTH, SIZE, kept_kind, rank, unrank, valid_rows

if TYPE_CHECKING:
    from .taken import Taken

MAX_BLOCK = 20      # digits per block (longer runs: independent blocks)
MAX_PART = 5        # digits per Feistel part: round tables <= 10^5 entries (400 KB)
LONG_BLOCKS = 3     # more blocks than this: shared block tables (_permute_long)
MAX_WALKS = 16      # walks off real values (taken.py); each is needed with p = density of the slice
ZERO, NINE, PLUS = 48, 57, 43
ONE = ZERO + 1
NANP_DIGITS = 11    # 1 + area code + number: a phone's "1" before its ten digits is kept
UPPER_A, LOWER_A = 65, 97
LOWER_X = ord("x")
# a phone's extension (555-123-4567 x204): a number of its own here, and no part of a phone's last
# 10 digits where real values are compared (taken.py, int_pii_values, macros/tests/leaks.sql)
PHONE_EXTENSION_SQL = r"(?i) ?(x|ext\.?|extension) ?[0-9]{1,6}[ \t]*$"  # RE2 and Python read it alike
PHONE_EXTENSION = re.compile(PHONE_EXTENSION_SQL)


class Alphabet(NamedTuple):
    """What one pass permutes: symbols as base-`radix` digits, `max_part` per Feistel part
    (round tables <= radix^max_part entries), `max_block` per independent block."""
    label: str
    radix: int
    max_part: int
    max_block: int


DIGITS = Alphabet("fpe", 10, MAX_PART, MAX_BLOCK)      # label unchanged: digit outputs as before
LETTERS = Alphabet("fpe-letters", 26, 3, 12)           # tables <= 26^3 = 17,576 entries


def _split(n: int, k: int) -> list[int]:
    """n items into k balanced parts, larger parts first."""
    base, extra = divmod(n, k)
    return [base + (1 if j < extra else 0) for j in range(k)]


@lru_cache(maxsize=128)
def _layout(d: int, alpha: Alphabet = DIGITS) -> tuple[np.ndarray, np.ndarray, np.ndarray, tuple[tuple[int, ...], ...]]:
    """For a string of d symbols: W (d x parts) turning a row of symbol values into part values,
    each symbol's (global) part and power of the radix, and the part lengths of each block."""
    shapes = []
    for size in _split(d, -(-d // alpha.max_block)):
        shapes.append(tuple([size] if size <= alpha.max_part else _split(size, -(-size // alpha.max_part))))
    part_of, pw = [], []
    for g, plen in enumerate(p for parts in shapes for p in parts):
        part_of += [g] * plen
        pw += [alpha.radix ** (plen - 1 - q) for q in range(plen)]  # most significant symbol first
    part_of, pw = np.array(part_of), np.array(pw, dtype=np.int32)
    weights = np.zeros((d, int(part_of[-1]) + 1), dtype=np.float64)
    weights[np.arange(d), part_of] = pw
    return weights, part_of, pw, tuple(shapes)


@lru_cache(maxsize=128)
def _layout_lists(d: int, alpha: Alphabet = DIGITS) -> tuple[list[int], list[int], tuple[tuple[int, ...], ...]]:
    """_layout's part of each symbol and power of the radix as Python lists (one value at a
    time: a numpy scalar per digit cost more than the arithmetic)."""
    _, part_of, pw, shapes = _layout(d, alpha)
    return part_of.tolist(), pw.tolist(), shapes


def _is_letter(byte: int) -> bool:
    return LOWER_A <= (byte | 0x20) < LOWER_A + 26


class DigitPermuter:
    """Applies pi_{domain,d} to the digits (and, with letters=True, sigma_{domain,l} to the ASCII
    letters) of Arrow string arrays. One per key; tables cached."""

    def __init__(self, keys: Keys, kinds: Mapping[str, str] | None = None):
        self._keys = keys
        self._kinds = dict(kinds or {})  # domain -> kind (taken.kinds_by_domain): what numbering.py keeps valid
        self._tables: dict[tuple, list[np.ndarray]] = {}

    @property
    def keys(self) -> Keys:
        return self._keys

    def kept_kind(self, domain: str, keep_country_code: bool = False) -> str | None:
        """phone or ssn when the fakes of `domain` keep a real number's validity (numbering.py)."""
        return kept_kind(domain, self._kinds, keep_country_code)

    # ----- key schedule ---------------------------------------------------------------------
    def _uniform(self, label: str, size: int, modulus: int) -> np.ndarray:
        raw = np.frombuffer(self._keys.stream(label, 8 * size), dtype="<u8")
        return (raw % np.uint64(modulus)).astype(np.int32)

    def _schedule(self, domain: str, d: int, b: int, parts: tuple[int, ...],
                  alpha: Alphabet = DIGITS) -> list[np.ndarray]:
        cache_key = (alpha.label, domain, d, b)
        if cache_key not in self._tables:
            label = f"{alpha.label}{SEP}{domain}{SEP}{d}{SEP}{b}{SEP}"
            r = alpha.radix
            if len(parts) == 1:
                noise = np.frombuffer(self._keys.stream(label + "perm", 8 * r ** parts[0]), dtype="<u8")
                tables = [np.argsort(noise, kind="stable").astype(np.int32)]
            else:
                k = len(parts)
                rounds = 10 if k == 2 else 6 * k
                tables = [
                    self._uniform(f"{label}{i}", r ** parts[(i % k + 1) % k], r ** parts[i % k])
                    for i in range(rounds)
                ]
            self._tables[cache_key] = tables
        return self._tables[cache_key]

    def shifts(self, domain: str, d: int, alpha: Alphabet) -> np.ndarray:
        """A long value's keyed shift per position (_permute_long), as float64 symbol values."""
        return self._uniform(f"{alpha.label}{SEP}{domain}{SEP}{d}{SEP}shift", d, alpha.radix).astype(np.float64)

    def permute_block(self, x: np.ndarray, domain: str, d: int, b: int, parts: tuple[int, ...],
                      alpha: Alphabet = DIGITS, inverse: bool = False) -> np.ndarray:
        """x: (m, k) part values of block b -> permuted values (int32), same shape; with
        `inverse`, the values they were permuted from."""
        tables = self._schedule(domain, d, b, parts, alpha)
        if len(parts) == 1:
            table = self._inverse_table(domain, d, b, alpha) if inverse else tables[0]
            return table[x[:, 0]][:, None]
        k = len(parts)
        # int32 throughout (parts < 10^5, sums < 2 * 10^5): half the memory traffic of int64
        cols = [np.ascontiguousarray(x[:, j], dtype=np.int32) for j in range(k)]  # strided columns are slow
        mods = [np.int32(alpha.radix ** p) for p in parts]
        rounds = reversed(list(enumerate(tables))) if inverse else enumerate(tables)
        for i, table in rounds:
            j = i % k
            if inverse:  # undo "part j += T_i[next part] mod m": the next part is unchanged by it
                s = cols[j] - table[cols[(j + 1) % k]]
                s += mods[j] * (s < 0)
            else:
                s = cols[j] + table[cols[(j + 1) % k]]
                s -= mods[j] * (s >= mods[j])  # both terms < mod, so one conditional subtract is "% mod"
            cols[j] = s
        return np.stack(cols, axis=1)

    def permute_ranks(self, ranks: np.ndarray, valid: np.ndarray, kind: str, domain: str,
                      inverse: bool = False) -> np.ndarray:
        """Per row, a keyed permutation of its class's ranks 0 .. SIZE-1 (numbering.py): a Feistel
        network on a rank's two parts in Z_a x Z_b (a * b >= SIZE, a ~ b ~ sqrt(SIZE): tables of
        <= 80,000 entries), 10 rounds with modular addition as permute_block, the two classes'
        tables side by side so that a chunk takes one pass; a result past SIZE - 1 (fewer than 2
        in sqrt(SIZE)) goes round again (cycle walking)."""
        shape, tables = self._class_tables(kind, domain)
        if valid.all() or not valid.any():  # most chunks: scalars, not a value per row
            a, b, size, high_at, low_at = (np.int32(v) if i != 2 else int(v)
                                           for i, v in enumerate(shape[:, 0 if valid.all() else 1]))
        else:
            a, b, size, high_at, low_at = shape[:, (~valid).astype(np.intp)]  # per row: its class's column
            a, b, high_at, low_at = (v.astype(np.int32) for v in (a, b, high_at, low_at))
        out = _feistel(ranks, a, b, high_at, low_at, tables, inverse)
        over = np.flatnonzero(out >= size)
        while len(over):
            at = [v[over] if isinstance(v, np.ndarray) else v for v in (a, b, size, high_at, low_at)]
            out[over] = _feistel(out[over], *at[:2], *at[3:], tables, inverse)
            over = over[out[over] >= at[2]]
        return out

    def _class_tables(self, kind: str, domain: str) -> tuple[np.ndarray, list[np.ndarray]]:
        """The valid and the invalid class's (a, b, size, where its tables start when indexed by
        the high part, by the low part) as the columns of a 5 x 2 array, and the 10 rounds'
        tables, each the valid class's then the invalid one's."""
        cache_key = ("class", kind, domain)
        if cache_key not in self._tables:
            shape, parts = [], []
            for valid in (True, False):
                size = SIZE[(kind, valid)]
                b = math.isqrt(size - 1) + 1
                a = -(-size // b)
                label = f"fpe-class{SEP}{domain}{SEP}{kind}{SEP}{'valid' if valid else 'invalid'}{SEP}"
                # even rounds add T[low] to the high part (mod a), odd ones T[high] to the low part (mod b)
                parts.append([self._uniform(f"{label}{i}", b if i % 2 == 0 else a, a if i % 2 == 0 else b)
                              for i in range(10)])
                shape.append([a, b, size])
            a_valid, b_valid = shape[0][:2]
            shape[0] += [0, 0]
            shape[1] += [a_valid, b_valid]
            tables = [np.concatenate([parts[0][i], parts[1][i]]) for i in range(10)]  # int32
            self._tables[cache_key] = [np.array(shape, dtype=np.int64).T, *tables]
        shape, *tables = self._tables[cache_key]
        return shape, tables

    def _inverse_table(self, domain: str, d: int, b: int, alpha: Alphabet) -> np.ndarray:
        cache_key = ("inverse", alpha.label, domain, d, b)
        if cache_key not in self._tables:
            self._tables[cache_key] = [np.argsort(self._tables[(alpha.label, domain, d, b)][0]).astype(np.int32)]
        return self._tables[cache_key][0]

    def permute_one(self, x: list[int], domain: str, d: int, b: int, parts: tuple[int, ...],
                    alpha: Alphabet = DIGITS) -> list[int]:
        """permute_block for one value in plain Python ints: the same rounds, without numpy's
        per-call cost on one-element arrays (~10x faster for a JSON document's phone)."""
        tables = self._views(domain, d, b, parts, alpha)
        if len(parts) == 1:
            return [tables[0][x[0]]]
        k = len(parts)
        mods = [alpha.radix ** p for p in parts]
        cols = list(x)
        for i, table in enumerate(tables):
            j = i % k
            s = cols[j] + table[cols[(j + 1) % k]]
            cols[j] = s - mods[j] if s >= mods[j] else s
        return cols

    def _views(self, domain: str, d: int, b: int, parts: tuple[int, ...], alpha: Alphabet) -> list[memoryview]:
        """The round tables as memoryviews: indexing one gives a Python int in ~1/4 of the time
        int(numpy_array[i]) takes, with no copy of the table."""
        cache_key = ("views", alpha.label, domain, d, b)
        if cache_key not in self._tables:
            self._tables[cache_key] = [memoryview(t) for t in self._schedule(domain, d, b, parts, alpha)]
        return self._tables[cache_key]

    # ----- strings ----------------------------------------------------------------------------
    def transform(self, arr: pa.Array, domain: str, keep_country_code: bool = False,
                  letters: bool = False, taken: Taken | None = None) -> pa.Array:
        """Permute the digits and with `letters` the ASCII letters of every string, without it
        the letters of its words but kept words (mask_words.py); NULL stays NULL, strings
        without such characters unchanged. With `taken` (taken.py), an output that
        is a real value of the slice is permuted again under a tweaked domain until it is none."""
        arr = _plain_strings(arr)
        kind = self.kept_kind(domain, keep_country_code)  # of the domain: the walks below keep it too
        out = self._transform(arr, domain, keep_country_code, letters, kind)
        if taken is None:
            return out
        todo = np.flatnonzero(taken(out)).tolist()
        if not todo:  # almost always: a chunk's fakes are rarely real values
            return out
        values, walk = out.to_pylist(), 0
        while todo:
            walk = _next_walk(walk, domain)
            again = self._transform(arr.take(index_array(todo)), _walked(domain, walk), keep_country_code, letters,
                                    kind)
            for i, v in zip(todo, again.to_pylist()):
                values[i] = v
            todo = [i for i, hit in zip(todo, taken(again).tolist()) if hit]
        return string_array(values)

    def untransform(self, arr: pa.Array, domain: str) -> pa.Array:
        """The digit strings transform(arr, domain) was given, from its outputs (digits only: no
        country code, no letters, no walks off real values; a number of the domain's kind walked back
        into its class as transform walked it)."""
        return self._transform(_plain_strings(arr), domain, False, False, self.kept_kind(domain), inverse=True)

    def _transform(self, arr: pa.Array, domain: str, keep_country_code: bool, letters: bool,
                   kind: str | None, inverse: bool = False) -> pa.Array:
        n = len(arr)
        if n == 0:
            return arr
        offsets = np.frombuffer(arr.buffers()[1], dtype=np.int32, count=n + 1, offset=arr.offset * 4)
        start = int(offsets[0])
        raw = arr.buffers()[2]
        data = (np.frombuffer(raw, dtype=np.uint8)[start:int(offsets[-1])].copy()
                if raw is not None else np.zeros(0, np.uint8))
        rel = (offsets - start).astype(np.int32)
        _permute_bytes(self, data, rel, domain, keep_country_code, kind, inverse)
        if letters:
            _permute_letters(self, data, rel, domain)
        elif not inverse:  # untransform's inputs are digit strings: it undoes the digit pass only
            _mask_words(self, data, rel, domain)
        out = pa.StringArray.from_buffers(n, pa.py_buffer(rel), pa.py_buffer(data))
        if arr.null_count:
            out = pc.if_else(arr.is_valid(), out, null_string())
        return out

    def transform_one(self, value: str | None, domain: str, keep_country_code: bool = False,
                      letters: bool = False, taken: Taken | None = None) -> str | None:
        """One value (JSON documents, Python callers): the same steps as transform() on a one-row
        array, in plain Python (an Arrow round trip per value cost ~0.3 ms)."""
        kind = self.kept_kind(domain, keep_country_code)
        out = self._transform_one(value, domain, keep_country_code, letters, kind)
        walk = 0
        while taken is not None and out is not None and taken([out])[0]:
            walk = _next_walk(walk, domain)
            out = self._transform_one(value, _walked(domain, walk), keep_country_code, letters, kind)
        return out

    def _transform_one(self, value: str | None, domain: str, keep_country_code: bool,
                       letters: bool, kind: str | None) -> str | None:
        if value is None:
            return None
        data = bytearray(value.encode("utf-8"))  # UTF-8 continuation bytes are never ASCII
        n = len(data)
        movable = [i for i, byte in enumerate(data) if ZERO <= byte <= NINE]
        if keep_country_code and n > 0 and data[0] == PLUS:  # as _country_code()
            run = 0
            while run < 4 and run + 1 < n and ZERO <= data[run + 1] <= NINE:
                run += 1
            if 1 <= run <= 3 and run < n - 1:
                movable = [i for i in movable if i > run]
        changed = False
        for number in _extension_split_one(value, movable) if keep_country_code else [movable]:
            changed |= self._digits_one(data, number, domain, keep_country_code, kind)
        if letters:
            changed |= self._one_pass(data, [i for i, byte in enumerate(data) if _is_letter(byte)], domain, LETTERS)
        else:
            changed |= self._mask_words_one(data, domain)
        return data.decode("utf-8") if changed else value

    def _digits_one(self, data: bytearray, movable: list[int], domain: str, keep_country_code: bool,
                    kind: str | None) -> bool:
        walk = keep_country_code and len(movable) == NANP_DIGITS  # as _trunk_prefix()
        if walk and data[movable[0]] == ONE:
            movable, walk = movable[1:], False
        changed = self._number_one(data, movable, domain, kind)
        while walk and data[movable[0]] == ONE:
            self._one_pass(data, movable, domain, DIGITS)
        return changed

    def _number_one(self, data: bytearray, movable: list[int], domain: str, kind: str | None) -> bool:
        """The digit pass of one number; a number of `kind` is kept in its class (valid or not)
        by _permute_in_class on a one-row array (~0.1 ms: documents, not hot columns)."""
        if kind is None or len(movable) != LENGTH[kind]:
            return self._one_pass(data, movable, domain, DIGITS)
        row = np.frombuffer(data, dtype=np.uint8).copy()
        _permute_in_class(self, row, np.array([movable]), kind, domain)
        for i in movable:
            data[i] = row[i]
        return True

    def _mask_words_one(self, data: bytearray, domain: str) -> bool:
        """_mask_words for one value."""
        movable, slots = find_words_one(data)
        if not movable:
            return False
        groups = groups_one(movable)
        while True:
            for group in groups:
                self._one_pass(data, group, domain, LETTERS)
            if not reads_kept_one(data, slots):
                return True

    def _one_pass(self, data: bytearray, movable: list[int], domain: str, alpha: Alphabet) -> bool:
        d = len(movable)
        if d == 0:
            return False
        if d > alpha.max_block * LONG_BLOCKS:  # rare (a text, not a phone): the array path on the bytes
            _permute_group(self, np.frombuffer(data, dtype=np.uint8), np.array([movable]), d, domain, alpha)
            return True
        part_of, pw, shapes = _layout_lists(d, alpha)
        if alpha is DIGITS:
            vals = [data[i] - ZERO for i in movable]
            bases = [ZERO] * d
        else:
            bases = [UPPER_A | (data[i] & 0x20) for i in movable]
            vals = [data[i] - base for i, base in zip(movable, bases)]
        x = [0] * (part_of[-1] + 1)
        for q, v in enumerate(vals):
            x[part_of[q]] += v * pw[q]
        first = 0
        for b, parts in enumerate(shapes):
            x[first:first + len(parts)] = self.permute_one(x[first:first + len(parts)], domain, d, b, parts, alpha)
            first += len(parts)
        for q, i in enumerate(movable):
            data[i] = (x[part_of[q]] // pw[q]) % alpha.radix + bases[q]
        return True


def _next_walk(walk: int, domain: str) -> int:
    if walk >= MAX_WALKS:
        raise ValueError(f"mask_format: a fake of domain {domain!r} still equals a real value of the slice "
                         f"after {MAX_WALKS} walks (is the value space nearly full?)")
    return walk + 1


def _walked(domain: str, walk: int) -> str:
    """The tweaked domain of walk n (taken.py): its own key schedule, never a user's domain."""
    return f"{domain}{SEP}walk{walk}"


def _plain_strings(arr) -> pa.Array:
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    if arr.type != pa.string():
        arr = arr.cast(pa.string())
    return arr


def _country_code(data, isdig, rel, lens) -> np.ndarray:
    """Positions of a leading "+CC" (1-3 digits, then a separator): kept, not permuted."""
    starts = rel[:-1]
    rows = np.flatnonzero(lens > 0)
    rows = rows[data[starts[rows]] == PLUS]
    if len(rows) == 0:  # most chunks: the loop below would cost ~20 numpy calls on empty arrays
        return np.zeros(0, dtype=np.int64)
    run = np.zeros(len(rows), dtype=np.int64)
    alive = np.ones(len(rows), dtype=bool)
    for t in range(1, 5):  # run length of digits after '+', capped at 4
        inside = t < lens[rows]
        idx = np.where(inside, starts[rows] + t, 0)
        alive &= inside & isdig[idx]
        run += alive
    ok = (run >= 1) & (run <= 3) & (run < lens[rows] - 1)
    rows, run = rows[ok], run[ok]
    keep = [starts[rows[run >= t]] + t for t in range(1, 4)]
    return np.concatenate(keep) if keep else np.zeros(0, dtype=np.int64)


def _permute_bytes(perm: DigitPermuter, data, rel, domain, keep_country_code, kind, inverse=False) -> None:
    """In place: replace the movable digit bytes; the numbers of `kind` stay in their class."""
    movable = (data >= ZERO) & (data <= NINE)
    walkers = None
    if keep_country_code:
        movable[_country_code(data, movable, rel, np.diff(rel))] = False
        rel = _extension_split(data, rel)  # from here on: numbers, a row's phone and its extension
        walkers = _trunk_prefix(data, rel, movable)
    _permute_positions(perm, data, rel, movable, domain, DIGITS, inverse, kind)
    if walkers is None:
        return
    walkers = walkers[data[walkers[:, 0]] == ONE]
    while len(walkers):  # cycle walking: off the leading 1 the values that keep theirs have
        _permute_group(perm, data, walkers, NANP_DIGITS, domain, DIGITS, inverse)
        walkers = walkers[data[walkers[:, 0]] == ONE]


def _extension_split(data, rel) -> np.ndarray:
    """The offsets of the rows' numbers: `rel` with every row that ends in an extension (an x in
    it: almost none) cut where the extension starts."""
    has_x = (data | np.uint8(0x20)) == LOWER_X
    counts = np.concatenate(([0], np.cumsum(has_x)))
    rows = np.flatnonzero(counts[rel[1:]] > counts[rel[:-1]])
    if len(rows) == 0:
        return rel
    values = pa.StringArray.from_buffers(len(rel) - 1, pa.py_buffer(rel), pa.py_buffer(data)).take(rows)
    at = pc.find_substring_regex(values, PHONE_EXTENSION_SQL).to_numpy(zero_copy_only=False)  # bytes
    found = at >= 0
    return np.union1d(rel, rel[rows[found]] + at[found])


def _extension_split_one(value: str, movable: list[int]) -> list[list[int]]:
    """_extension_split for one value: its digit positions, as one or two numbers."""
    found = PHONE_EXTENSION.search(value) if "x" in value.lower() else None
    if found is None or found.end() != len(value):  # RE2's $ is the end only, Python's also before a last \n
        return [movable]
    cut = len(value[:found.start()].encode("utf-8"))
    return [[i for i in movable if i < cut], [i for i in movable if i >= cut]]


def _trunk_prefix(data, rel, movable) -> np.ndarray | None:
    """A phone's 11 digits with a leading 1 (+15551234567, 1-555-123-4567) are a country or trunk
    code and the ten digits of +1 555 123 4567 or 555-123-4567: the 1 is kept (movable cleared
    in place), so every spelling of one phone gets one fake. Other 11-digit values are permuted as
    before but must not land on a leading 1 (a kept-1 value's fake could be met): returned as an
    (m x 11) matrix of their digit positions, for cycle walking, a bijection on them."""
    counts = np.concatenate(([0], np.cumsum(movable)))
    rows = np.flatnonzero(counts[rel[1:]] - counts[rel[:-1]] == NANP_DIGITS)
    if len(rows) == 0:
        return None
    pos = np.flatnonzero(movable)
    first = pos[counts[rel[rows]]]
    trunk = data[first] == ONE
    movable[first[trunk]] = False
    others = counts[rel[rows[~trunk]]]
    return pos[others[:, None] + np.arange(NANP_DIGITS)]


def _permute_letters(perm: DigitPermuter, data, rel, domain) -> None:
    """In place: replace the ASCII letter bytes (A-Z, a-z: base 26, each keeping its case)."""
    folded = data | np.uint8(0x20)
    _permute_positions(perm, data, rel, (folded >= LOWER_A) & (folded < LOWER_A + 26), domain, LETTERS)


def _mask_words(perm: DigitPermuter, data, rel, domain) -> None:
    """In place: the letters of the words mask_words.py does not keep, permuted in groups of <= 12
    per value; a value where one came out as a kept word is permuted again until none does (cycle
    walking: a bijection on the values whose words are not kept words, see mask_words.py)."""
    words = find_words(data, rel)
    if words is None:
        return
    pos, rows, groups = words.pos, words.rows, words.groups
    while len(pos):
        _permute_rows(perm, data, pos, groups, domain, LETTERS)
        again = np.isin(rows, rows_reading_kept(data, words))
        pos, rows, groups = pos[again], rows[again], groups[again]


def _permute_rows(perm: DigitPermuter, data, pos, rows, domain, alpha: Alphabet) -> None:
    """_permute_positions for a few rows (here: groups of letters) given by their positions (in
    row order) and rows: no pass over the whole chunk."""
    d_of_pos = group_sizes(rows)
    for d in np.unique(d_of_pos):
        _permute_group(perm, data, pos[d_of_pos == d].reshape(-1, int(d)), int(d), domain, alpha)


def _permute_positions(perm: DigitPermuter, data, rel, movable, domain, alpha: Alphabet, inverse=False,
                       kind: str | None = None) -> None:
    """Grouped by symbol count d. Positions are in row order and a row of the group has exactly
    d of them, so they reshape to an (m x d) matrix. The numbers of `kind` stay in their class."""
    c_ext = np.concatenate(([0], np.cumsum(movable)))
    d_row = c_ext[rel[1:]] - c_ext[rel[:-1]]
    pos = np.flatnonzero(movable)
    ds = np.flatnonzero(np.bincount(d_row))
    ds = ds[ds > 0]
    d_of_pos = np.repeat(d_row, d_row) if len(ds) > 1 else None
    for d in ds:
        group = (pos if d_of_pos is None else pos[d_of_pos == d]).reshape(-1, int(d))
        if kind is not None and d == LENGTH[kind]:
            _permute_in_class(perm, data, group, kind, domain, inverse)
        else:
            _permute_group(perm, data, group, int(d), domain, alpha, inverse)


def _feistel(x, a, b, high_at, low_at, tables, inverse: bool) -> np.ndarray:
    """permute_ranks' rounds on int64 ranks x < a * b; a, b and where the class's tables start
    (high_at, low_at) are int32 scalars, or arrays of one per row."""
    high = x // b
    low = (x - high * b).astype(np.int32)  # parts < 80,000: int32 halves the memory traffic
    high = high.astype(np.int32)
    for i in (range(9, -1, -1) if inverse else range(10)):
        if i % 2 == 0:
            high = _add_mod(high, tables[i][_from(low, low_at)], a, inverse)
        else:
            low = _add_mod(low, tables[i][_from(high, high_at)], b, inverse)
    return high.astype(np.int64) * b + low


def _from(part: np.ndarray, start) -> np.ndarray:
    """Indices into a round's two classes' tables: the part, from where its class's table starts."""
    return part + start if isinstance(start, np.ndarray) or start else part


def _add_mod(x: np.ndarray, t: np.ndarray, m: int, inverse: bool) -> np.ndarray:
    """(x + t) mod m, or (x - t) mod m, for x and t in 0 .. m-1: one conditional step, not a %."""
    if inverse:
        x = x - t
        x += m * (x < 0)
    else:
        x = x + t
        x -= m * (x >= m)
    return x


def _permute_in_class(perm, data, pos, kind, domain, inverse=False) -> None:
    """In place: (m x d) numbers of `kind`, each kept in its class, valid or not (numbering.py):
    ranked in its class, the rank permuted (DigitPermuter.permute_ranks), read back as digits."""
    digits = data[pos] - np.float64(ZERO)
    valid = valid_rows(kind, digits)
    ranks = rank(kind, valid, digits)
    fakes = unrank(kind, valid, perm.permute_ranks(ranks, valid, kind, domain, inverse))
    data[pos] = fakes.astype(np.uint8) + np.uint8(ZERO)


def _permute_group(perm, data, pos, d, domain, alpha: Alphabet = DIGITS, inverse=False) -> None:
    """In place: the symbols at (m x d) positions, m values of d symbols each."""
    if alpha is DIGITS:
        base = ZERO
        vals = data[pos] - np.float64(ZERO)
    else:
        base = (data[pos] & np.uint8(0x20)) | np.uint8(UPPER_A)  # 'A' or 'a': the case is kept
        vals = data[pos] - base.astype(np.float64)
    permute = _permute_long if d > alpha.max_block * LONG_BLOCKS else _permute_symbols
    data[pos] = permute(perm, vals, d, domain, alpha, inverse).astype(np.uint8) + base


def _permute_symbols(perm, vals, d, domain, alpha: Alphabet, inverse=False) -> np.ndarray:
    """(m x d) symbol values (float64) -> the permuted ones: pi_{domain,d} on each row."""
    weights, part_of, pw, shapes = _layout(d, alpha)
    # float64 matmul (BLAS) is exact here (parts < 10^5) and far faster than an int64 one
    x = np.rint(vals @ weights).astype(np.int32)  # (m, parts) part values
    first = 0
    for b, parts in enumerate(shapes):
        cols = slice(first, first + len(parts))
        x[:, cols] = perm.permute_block(x[:, cols], domain, d, b, parts, alpha, inverse)
        first += len(parts)
    # back to symbols in float64: exact here (floor of a quotient of integers < 2^53 that is at
    # least 1/pw from the next integer), and twice as fast as numpy's integer // and %
    shifted = np.floor(x[:, part_of] / pw)
    return shifted - alpha.radix * np.floor(shifted / alpha.radix)


def _permute_long(perm, vals, d, domain, alpha: Alphabet, inverse=False) -> np.ndarray:
    """_permute_symbols for values of more than LONG_BLOCKS blocks: keyed shifts per position, then
    each block through the one permutation of its length (blocks of a length, all rows, at once)."""
    radix = alpha.radix
    shift = perm.shifts(domain, d, alpha)
    if not inverse:
        vals = vals + shift
        vals -= radix * (vals >= radix)
    sizes = np.array(_split(d, -(-d // alpha.max_block)))
    size_of = np.repeat(sizes, sizes)  # each position's block length
    out = np.empty_like(vals)
    for size in np.unique(sizes):
        cols = np.flatnonzero(size_of == size)  # whole blocks, in order: one block per row below
        blocks = vals[:, cols].reshape(-1, int(size))
        done = _permute_symbols(perm, blocks, int(size), f"{domain}{SEP}long", alpha, inverse)
        out[:, cols] = done.reshape(len(vals), -1)
    if inverse:
        out -= shift
        out += radix * (out < 0)
    return out
