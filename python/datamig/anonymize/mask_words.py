"""Which letters of a phone or SSN value mask_format permutes when the rule does not permute
letters (fpe.py does the permuting; this module only finds the words).

Why: a phone column holds "555-123-4567 (mom Maria Lopez)", "555.123.4567 ask for Jose", an SSN
column "123-45-6789 Maria's". The digit permutation alone kept those names. So the ASCII letters
of every word are permuted too (fpe.py's letters pass: keyed, same length, each position keeps
its case), except the words of KEPT_WORDS: labels, roles and non-values that name nobody and keep
the fakes realistic ("x204", "cell", "mom", "unknown", and the "e"/"inf"/"nan" of a number column
read as text, which must stay castable).

A word is a maximal run of ASCII letters of one value, matched case-insensitively. Rules:
- a run touching a non-ASCII byte is never kept: "Dayé" is not the kept "day" plus an accent.
  Non-ASCII letters themselves stay (the letters pass permutes ASCII only): "José" -> "Qxmé";
- a value with more than MAX_LETTERS ASCII letters is prose, not a phone: all its letters go.

Uniqueness: the letters of a value's non-kept words are permuted together, across word
boundaries, in balanced groups of at most GROUP letters (so "Maria" gets no fixed fake word that
could be counted across rows; a group is one block of the letters pass, so a domain needs at most
GROUP key schedules however long its values: a schedule per letter count would take ~1.7 MB a
block, without bound on a column of notes). The result must not read as a kept word where the
input had none, or two inputs could meet ("555 Qx" -> "555 ext", "555 ext" -> "555 ext"); fpe.py
then permutes the value's groups again (cycle walking), which keeps a bijection on the values
whose non-kept words are not kept words. The kept words, the word boundaries and the letter count
are the same in input and output, so the whole stays a bijection. MAX_LETTERS bounds the walks:
the worst case (64 one-letter words, each becoming "x" or "e" with p = 2/26) takes ~170 passes
on average (measured: 140, ~8 ms a value); a phone with a few words, one or two.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

# Whole words, any case. Short on purpose: each is left readable in every phone and SSN value.
KEPT_WORDS = frozenset("""
    x ext extn extension tel phone cell mobile home work office fax main alt id no
    mom dad mother father parent guardian grandma grandpa emergency contact
    day night evening am pm after before only text call ask for or and
    none unknown refused declined na tbd pending unlisted disconnected invalid missing
    xx xxx xxxx
    e inf infinity nan
""".split())
MAX_LETTERS = 64                              # more: prose, every letter permuted
GROUP = 12                                    # letters permuted together (fpe.LETTERS.max_block)
MAX_KEPT = max(len(w) for w in KEPT_WORDS)    # longer runs are never kept
_KEPT_BYTES = frozenset(w.encode() for w in KEPT_WORDS)
_LOWER_A, _CASE, _ASCII = 97, 0x20, 0x80
assert MAX_KEPT <= 12  # a word's code (5 bits a letter) fits an int64


def _code(word: bytes) -> int:
    """Letter k of a word (a = 1 .. z = 26) at bits 5k: distinct words, distinct codes."""
    return sum(((b | _CASE) - _LOWER_A + 1) << (5 * k) for k, b in enumerate(word))


_KEPT_CODES = np.array(sorted(_code(w) for w in _KEPT_BYTES), dtype=np.int64)


class Words(NamedTuple):
    """The letters to permute of a chunk (positions in row order, their rows and their groups:
    numbered in the same order), and the words among them that could come out as a kept word
    (start, length, row): the cycle walk's check."""
    pos: np.ndarray
    rows: np.ndarray
    groups: np.ndarray
    slots: tuple[np.ndarray, np.ndarray, np.ndarray]


def find_words(data: np.ndarray, rel: np.ndarray) -> Words | None:
    """The chunk's words (data: its UTF-8 bytes, rel: its offsets); None when no value holds an
    ASCII letter, as almost every phone and SSN chunk (one pass over the bytes)."""
    pos = np.flatnonzero((data | np.uint8(_CASE)) - np.uint8(_LOWER_A) < 26)  # uint8 wraps below 'a'
    if len(pos) == 0:
        return None
    rows = np.searchsorted(rel, pos, side="right") - 1   # an empty row shares its offset with the next
    new = np.ones(len(pos), dtype=bool)
    new[1:] = (np.diff(pos) != 1) | (np.diff(rows) != 0)
    first = np.flatnonzero(new)
    length = np.diff(np.append(first, len(pos)))
    begin, row = pos[first], rows[first]
    keepable = (length <= MAX_KEPT) & (group_sizes(rows)[first] <= MAX_LETTERS)
    keepable &= ~_touches_non_ascii(data, rel, begin, length, row)
    kept = keepable.copy()
    kept[keepable] = np.isin(_codes(data, begin[keepable], length[keepable]), _KEPT_CODES)
    moved = ~np.repeat(kept, length)
    slot = keepable & ~kept
    return Words(pos[moved], rows[moved], _groups(rows[moved]), (begin[slot], length[slot], row[slot]))


def rows_reading_kept(data: np.ndarray, words: Words) -> np.ndarray:
    """Rows where a permuted word now reads as a kept word: to permute again."""
    begin, length, row = words.slots
    return np.unique(row[np.isin(_codes(data, begin, length), _KEPT_CODES)])


def group_sizes(keys: np.ndarray) -> np.ndarray:
    """For non-decreasing keys: the size of each element's run of equal keys."""
    return _runs_of(keys)[1]


def _runs_of(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For non-decreasing keys: each element's index within its run of equal keys, and the run's size."""
    bounds = np.concatenate(([0], np.flatnonzero(np.diff(keys)) + 1, [len(keys)]))
    sizes = np.diff(bounds)
    return np.arange(len(keys)) - np.repeat(bounds[:-1], sizes), np.repeat(sizes, sizes)


def _groups(rows: np.ndarray) -> np.ndarray:
    """Group number of each letter (rows non-decreasing): a row's n letters in balanced groups of
    <= GROUP, larger first, as _balanced()."""
    if len(rows) == 0:
        return rows
    q, n = _runs_of(rows)
    k = -(-n // GROUP)
    base, extra = n // k, n % k
    big = extra * (base + 1)
    j = np.where(q < big, q // (base + 1), extra + (q - big) // base)
    new = np.ones(len(rows), dtype=bool)
    new[1:] = (np.diff(rows) != 0) | (np.diff(j) != 0)
    return np.cumsum(new)


def _touches_non_ascii(data, rel, begin, length, row) -> np.ndarray:
    end, last = begin + length, max(len(data) - 1, 0)
    before = (begin > rel[row]) & (data[np.maximum(begin - 1, 0)] >= _ASCII)
    after = (end < rel[row + 1]) & (data[np.minimum(end, last)] >= _ASCII)
    return before | after


def _codes(data, begin, length) -> np.ndarray:
    """_code of each word of length <= MAX_KEPT, one numpy step per letter index."""
    code = np.zeros(len(begin), dtype=np.int64)
    for k in range(int(length.max()) if len(length) else 0):
        has = length > k
        letter = (data[begin[has] + k] | np.uint8(_CASE)).astype(np.int64) - (_LOWER_A - 1)
        code[has] |= letter << (5 * k)
    return code


# ----- one value (JSON documents, Python callers): the same rules in plain Python --------------
def find_words_one(data: bytearray) -> tuple[list[int], list[tuple[int, int]]]:
    """find_words for one value: the positions to permute and the (start, end) slots to check."""
    letters = [i for i, b in enumerate(data) if (b | _CASE) - _LOWER_A in range(26)]
    if len(letters) > MAX_LETTERS:
        return letters, []
    movable, slots, n = [], [], len(data)
    for start, end in _runs(letters):
        keepable = end - start <= MAX_KEPT and not (start > 0 and data[start - 1] >= _ASCII) \
            and not (end < n and data[end] >= _ASCII)
        if keepable and bytes(data[start:end]).lower() in _KEPT_BYTES:
            continue
        movable.extend(range(start, end))
        if keepable:
            slots.append((start, end))
    return movable, slots


def groups_one(movable: list[int]) -> list[list[int]]:
    """_groups for one value."""
    groups, at = [], 0
    for size in _balanced(len(movable)):
        groups.append(movable[at:at + size])
        at += size
    return groups


def _balanced(n: int) -> list[int]:
    k = -(-n // GROUP)
    return [n // k + (1 if j < n % k else 0) for j in range(k)] if n else []


def reads_kept_one(data: bytearray, slots: list[tuple[int, int]]) -> bool:
    return any(bytes(data[s:e]).lower() in _KEPT_BYTES for s, e in slots)


def _runs(positions: list[int]) -> list[tuple[int, int]]:
    runs: list[tuple[int, int]] = []
    for p in positions:
        if runs and runs[-1][1] == p:
            runs[-1] = (runs[-1][0], p + 1)
        else:
            runs.append((p, p + 1))
    return runs
