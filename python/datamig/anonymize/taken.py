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

The real values come from the `int_pii_values` model: per kind, the keyed SHA-256 of the
normalized values (no real value is stored in the warehouse). `dm_taken(relation)` reads that
table once per build and returns a token; dm_mask_format and dm_jsonb take the token. The
function of (salt, domain, value) this makes is unchanged except for the rare walkers, whose
fake also depends on which real values the slice holds (a new phone in PROD can move them).
"""
from __future__ import annotations

import hashlib
import re
import threading
from typing import Callable, Iterable, Mapping, Sequence

import numpy as np
import pyarrow as pa

from .keyed import Keys
from .rules import RuleSet

LEAK_KINDS = ("email", "phone", "ssn")
AVOIDED = frozenset({"phone", "ssn"})  # what a permutation outputs; emails are keyed fakes
HASH_DOMAIN = "pii.values"              # keys int_pii_values' hashes (SQL: anonymize_hash)
_RELATION = re.compile(r'^("[^"]+"|\w+)(\.("[^"]+"|\w+)){0,2}$')
_NOT_DIGIT = re.compile(r"[^0-9]")

Taken = Callable[[Sequence | pa.Array], list]  # values -> which of them are real values of the slice


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


def normalized(kind: str, value: str) -> str:
    """As int_pii_values normalizes (scaffold/pii_values.py): emails lower-case, phones their
    last 10 digits, SSNs their digits."""
    if kind == "email":
        return value.lower()
    digits = _NOT_DIGIT.sub("", value)
    return digits[-10:] if kind == "phone" else digits


def kinds_by_domain(ruleset: RuleSet) -> dict[str, str]:
    """Pseudonym domain -> leak kind, from every rule, override and jsonb path of the rules file
    (a rule named `phone` with domain `contact` makes `contact` a phone domain)."""
    out: dict[str, str] = {}
    rules = [*ruleset.rules, *(o.rule for o in ruleset.overrides)]
    for rule in rules:
        if rule.domain:
            kind = leak_kind(rule.provider, rule.domain, rule.name)
            if kind:
                out.setdefault(rule.domain, kind)
        for path in rule.options.get("paths", ()) or ():
            kind = leak_kind(path.get("provider"), path.get("domain"))
            if kind and path.get("domain"):
                out.setdefault(path["domain"], kind)
    return out


class TakenValues:
    """The hashed real values of one slice, by kind."""

    def __init__(self, keys: Keys, hashes: Mapping[str, frozenset], kinds: Mapping[str, str]):
        self._keys, self._hashes, self._kinds = keys, hashes, kinds
        self._digests: dict[str, frozenset[bytes]] = {}  # by kind, built on first use

    def for_domain(self, domain: str) -> Taken | None:
        """The check for fakes of `domain`, or None when its kind is not one to avoid."""
        kind = self._kinds.get(domain) or leak_kind(domain)
        hashes = self._hashes.get(kind) if kind in AVOIDED else None
        if not hashes:
            return None

        digests = self._digests.get(kind)
        if digests is None:
            digests = self._digests[kind] = frozenset(_digest(h) for h in hashes)
        # Keys.sha_hex's bytes with the key part built once, raw digests, and the normalization
        # of a whole chunk in numpy: this runs for every permuted phone and SSN (a call per value
        # held mask_format to ~0.4M rows/s)
        prefix, sha256, last = self._keys.keyed_input(HASH_DOMAIN, ""), hashlib.sha256, 10 if kind == "phone" else 0

        def taken(values: Sequence[str | None] | pa.Array) -> list:
            digits, spans = digit_spans(values, last)
            return [s < e and sha256(prefix + digits[s:e]).digest() in digests for s, e in spans]
        return taken


def digit_spans(values: Sequence[str | None] | pa.Array, last: int = 0) -> tuple[bytes, list[tuple[int, int]]]:
    """normalized() of a chunk of phones or SSNs at once: the ASCII digits of all values as one
    bytes object, and each value's (start, end) in it (its last `last` digits when `last`;
    (0, 0) for NULL). Byte-wise is exact: no byte of a multi-byte UTF-8 character is a digit."""
    arr = values if isinstance(values, pa.Array) else pa.array(values, pa.string())
    n = len(arr)
    if n == 0:
        return b"", []
    offsets = np.frombuffer(arr.buffers()[1], dtype=np.int32, count=n + 1, offset=arr.offset * 4)
    raw = arr.buffers()[2]
    data = np.frombuffer(raw, dtype=np.uint8)[offsets[0]:offsets[-1]] if raw is not None else np.zeros(0, np.uint8)
    is_digit = (data >= ord("0")) & (data <= ord("9"))
    before = np.concatenate(([0], np.cumsum(is_digit)))  # digits before each byte
    rel = offsets - offsets[0]
    starts, ends = before[rel[:-1]], before[rel[1:]]
    if last:
        starts = np.maximum(starts, ends - last)
    if arr.null_count:
        valid = arr.is_valid().to_numpy(zero_copy_only=False)
        starts, ends = np.where(valid, starts, 0), np.where(valid, ends, 0)
    return data[is_digit].tobytes(), list(zip(starts.tolist(), ends.tolist()))


def _digest(h: str) -> bytes:
    try:
        return bytes.fromhex(h)
    except ValueError:  # not a hash int_pii_values made (a blank value keeps its text): no match
        return b""


class TakenRegistry:
    """dm_taken(relation): reads the relation on its own cursor and hands out a token; the same
    table content gives the same token (a second build in the same process reads it again only
    if it changed)."""

    def __init__(self, keys: Keys, kinds: Mapping[str, str], keep: int = 4):
        self._keys, self._kinds, self._keep = keys, kinds, keep
        self._by_token: dict[str, TakenValues] = {}
        self._lock = threading.Lock()

    def load(self, conn, relation: str) -> str:
        if not _RELATION.match(relation or ""):
            raise ValueError(f"dm_taken: {relation!r} is not a relation name")
        cur = conn.cursor()
        try:
            # cheap content signature: a rebuilt table with other values gets another token
            try:
                n, sig = cur.execute(f"select count(*), coalesce(sum(hash(kind, h)), 0) from {relation}").fetchone()
            except Exception:
                raise ValueError(f"dm_taken: cannot read {relation}: build int_pii_values first "
                                 f"(dbt build --select +int_pii_values)") from None
            token = f"{relation}#{n}#{sig}"
            with self._lock:
                if token not in self._by_token:
                    rows = cur.execute(f"select kind, h from {relation}").fetchall()
                    self._remember(token, TakenValues(self._keys, _group(rows), self._kinds))
        finally:
            cur.close()
        return token

    def hashes(self, token: str) -> dict[str, frozenset]:
        """The hashed values behind a token, by kind: what a UDF worker process is sent."""
        return dict(self.get(token)._hashes)

    def add(self, token: str, hashes: Mapping[str, frozenset]) -> None:
        """A token another process loaded (a UDF worker's side of hashes())."""
        with self._lock:
            self._remember(token, TakenValues(self._keys, hashes, self._kinds))

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


def _group(rows: Iterable[tuple[str, str]]) -> dict[str, frozenset]:
    by_kind: dict[str, set] = {}
    for kind, h in rows:
        by_kind.setdefault(kind, set()).add(h)
    return {k: frozenset(v) for k, v in by_kind.items()}
