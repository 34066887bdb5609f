"""Python twin of the SQL macros: for the same salt, domain and value it returns exactly what the
SQL returns (tests hold the two together).

Why a twin: values that never pass through DuckDB SQL still need the same pseudonyms: JSON
documents (the jsonb UDF walks them in Python), Neo4j properties, report samples. Per-value
Python is fine there; hot table columns go through SQL.
"""
from __future__ import annotations

import datetime as dt
import re
import unicodedata
from typing import Any, Mapping, Sequence

import pyarrow as pa

from .arrays import string_array
from .fpe import DigitPermuter
from .keyed import Keys, bits, identity, pick, pick_other
from .rules import Settings
from .taken import TakenValues
from .names import TITLE, NameScrubber, name_pattern
from .pii_scan import compile_shapes


_VECTOR_MIN = 16  # fewer texts are permuted one by one


# what DuckDB's trim() strips: the space and Unicode's other space separators (no tab, no line end)
_DUCKDB_TRIMMED = " \u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u202f\u205f\u3000"


def is_blank(v: str) -> bool:
    """As dm_lib.is_blank: empty, or starting with a space and nothing left once trimmed (" \u00a0"
    stays as it is in SQL, so it must here too)."""
    return v == "" or (v[0] == " " and v.strip(_DUCKDB_TRIMMED) == "")




class Fakes:
    def __init__(self, keys: Keys, dicts: Mapping[str, Sequence[str]], settings: Settings,
                 shapes: Mapping[str, str], permuter: DigitPermuter | None = None):
        self.keys, self.dicts, self.settings = keys, dicts, settings
        self.permuter = permuter or DigitPermuter(keys)
        self._shapes = compile_shapes(shapes)
        # dict caches only: two threads at once at worst compute a name's parts twice
        self._names = NameScrubber(settings.scrub_placeholders["name"])

    def apply(self, strategy: str, value: Any, /, provider: str | None = None, domain: str | None = None,
              taken: TakenValues | None = None, **options: Any) -> Any:
        """One value through one strategy; NULL stays NULL, blank strings stay as they are.
        `taken`: the slice's real values, which a permuted phone or SSN must not be (taken.py).
        (strategy and value are positional only: `constant` has an option named `value`.)"""
        if value is None:
            return None
        if options.pop("elementwise", False) and isinstance(value, list):
            return [self.apply(strategy, v, provider, domain, taken, **options) for v in value]
        if strategy == "preserve":
            return value
        if strategy == "nullify":
            return None
        if strategy == "shift_date":
            return self.shift_date(domain, value, options.get("kind", "text"), options.get("key"))
        text = str(value)
        if is_blank(text):
            return text
        if strategy == "constant":
            return options["value"]
        if strategy == "faker":
            fake = self.faker(provider, domain, text, taken)
            # {"zip": 62704} in a document stays a number: its type is part of the document's schema
            return int(fake) if type(value) is int and fake.isdigit() else fake
        if strategy == "hash":
            return self.keys.sha_hex(domain, text)
        if strategy == "tokenize":
            return "TOKEN_" + str(bits(self.keys.h128(domain, text), 0, 63)).zfill(19)
        if strategy == "mask_format":
            # letters: text only, as SQL (rules drop the option for number columns): 1e+20 stays a number
            letters = bool(options.get("letters")) and isinstance(value, str)
            out = self.permuter.transform_one(text, domain, bool(options.get("keep_country_code")), letters,
                                              taken.for_domain(domain) if taken else None)
            return int(out) if isinstance(value, int) and out.isdigit() else out
        if strategy == "scrub_text":
            return self.scrub_text(text, options.get("names", ()))
        raise ValueError(f"strategy {strategy!r} has no per-value form here")

    def apply_all(self, strategy: str, values: Sequence[Any], /, provider: str | None = None,
                  domain: str | None = None, taken: TakenValues | None = None, **options: Any) -> list:
        """apply() of each value, in one go: texts a digit permutation fakes go through the
        vectorized permutation (a phone one by one costs ~20 us), a value met twice is faked once."""
        out: list = [None] * len(values)
        permutation = _permutation(strategy, provider, options)
        texts = [i for i, v in enumerate(values) if type(v) is str and not is_blank(v)] if permutation else []
        if len(texts) < _VECTOR_MIN:  # an Arrow round trip costs more than a few values one by one
            texts = []
        if texts:
            keep, letters = permutation
            fakes = self.permuter.transform(string_array([values[i] for i in texts]), domain, keep, letters,
                                            taken.for_domain(domain) if taken else None).to_pylist()
            for i, fake in zip(texts, fakes):
                out[i] = fake
        memo: dict[tuple[type, Any], Any] = {}
        vectorized = set(texts)
        for i, value in enumerate(values):
            if i not in vectorized:
                # True == 1 and -0.0 == 0.0, but their texts and so their fakes differ
                key = (type(value), repr(value) if isinstance(value, float) else value)
                if key not in memo:
                    memo[key] = self.apply(strategy, value, provider, domain, taken, **options)
                out[i] = memo[key]
        return out

    def faker(self, provider: str, domain: str, v: str, taken: TakenValues | None = None) -> str:
        d, s = self.dicts, self.settings
        if provider in ("phone", "ssn"):
            return self.permuter.transform_one(v, domain, provider == "phone", False,
                                               taken.for_domain(domain) if taken else None)
        if provider in ("email", "user_name"):
            v = identity(v)  # one identity whatever its case or padding, as dm_lib.identity
        h = self.keys.h128(domain, v)
        if provider == "name":
            return self.full_name(v, domain, taken)
        if provider == "email":
            first, last = pick(d["first_name_ascii"], h, 0), pick(d["last_name_ascii"], h, 32)
            return f"{first}.{last}.{bits(h, 64, 40):010x}@{s.email_domain}"
        if provider == "user_name":
            first, last = pick(d["first_name_ascii"], h, 0), pick(d["last_name_ascii"], h, 32)
            return f"{first[0]}{last}_{bits(h, 64, 48):012x}"
        if provider == "ipv4":
            return f"{s.ipv4_prefix}.{bits(h, 0, 8)}.{bits(h, 8, 8)}.{1 + bits(h, 16, 8) % 254}"
        if provider == "url":
            return f"https://{pick(d['last_name_ascii'], h, 0)}.{s.url_domain}/{bits(h, 32, 32):08x}"
        return pick_other(d[provider], h, 0, v)

    def full_name(self, v: str, domain: str, taken: TakenValues | None = None) -> str:
        """A full name part by part, each as a first_name or last_name column fakes it, in the
        domains beside `domain` (dm_lib.full_name in sql_library.sql, the same steps). A name the
        slice's name columns split (`taken`) is split there (known_full_name)."""
        prefix = domain.rpartition(".")[0]
        fd, ld = (f"{prefix}.first_name", f"{prefix}.last_name") if prefix else ("first_name", "last_name")
        part = self._name_part

        def given(g: str) -> str:
            if " " not in g:
                return part("first_name", fd, g)
            first, _, rest = g.partition(" ")
            return part("first_name", fd, first) + " " + part("first_name", fd, rest.lstrip(_DUCKDB_TRIMMED))

        def untitled(v: str) -> str:
            known = self.known_full_name(v, fd, ld, taken)
            if known is not None:
                return known
            if "," in v:
                last, _, rest = v.partition(",")
                return part("last_name", ld, last.strip(_DUCKDB_TRIMMED)) + ", " + given(rest.strip(_DUCKDB_TRIMMED))
            t = v.strip(_DUCKDB_TRIMMED)  # as trim(), ltrim(), rtrim()
            if " " not in t:
                return part("first_name", fd, t)
            head, _, last = t.rpartition(" ")
            return given(head.rstrip(_DUCKDB_TRIMMED)) + " " + part("last_name", ld, last)

        t = v.strip(_DUCKDB_TRIMMED)
        titled = _TITLE.match(t)
        if not titled:
            return untitled(v)
        title = titled.group(1)  # kept as written, as dm_lib.full_name_titled
        rest = t[len(title):].strip(_DUCKDB_TRIMMED)
        return title + (part("last_name", ld, rest) if " " not in rest else untitled(rest))

    def _name_part(self, dictionary: str, part_domain: str, p: str) -> str:
        return pick_other(self.dicts[dictionary], self.keys.h128(part_domain, p), 0, p)

    def known_full_name(self, v: str, fd: str, ld: str, taken: TakenValues | None) -> str | None:
        """A full name of three or more words that is some row's "first last" of the slice (or
        "last, first"), faked as those two columns are: "María José de la Cruz" is not "María"
        + "José de la" + "Cruz" when the columns said "María José" and "de la Cruz". None for
        any other name (dm_full_name_known, the UDF the SQL twin calls)."""
        t = v.strip(_DUCKDB_TRIMMED)
        if taken is None or t.count(" ") < 2:
            return None
        if "," in t:
            last, _, given = (p.strip(_DUCKDB_TRIMMED) for p in t.partition(","))
            if taken.name_split(f"{given} {last}") != len(given):
                return None
            return self._name_part("last_name", ld, last) + ", " + self._name_part("first_name", fd, given)
        at = taken.name_split(t)
        if at is None:
            return None
        return self._name_part("first_name", fd, t[:at]) + " " + self._name_part("last_name", ld, t[at + 1:])

    def shift_date(self, domain: str, value: Any, kind: str = "text", key: Any = None) -> Any:
        """Move a date by 1..W days either way, keyed by the date itself (or by `key`); a date
        written as the number yyyymmdd stays one (dates.sql, kind 'integer')."""
        if isinstance(value, float):  # 20120304.0: yyyymmdd that went through a float (dates.sql, 'number')
            moved = self.shift_date(domain, int(value), kind, key) if value.is_integer() else None
            return None if moved is None else float(moved)
        if isinstance(value, int) and not isinstance(value, bool):
            day = _yyyymmdd(value)
            try:
                moved = day and self.shift_date(domain, day, "date", key)
            except OverflowError:  # past 9999-12-31
                moved = None
            # as SQL: not a date, or no longer 8 digits -> NULL
            return int(moved.strftime("%Y%m%d")) if moved and 1000 <= moved.year <= 9999 else None
        if isinstance(value, str):
            if is_blank(value):
                return value
            day = text_date(value)
            if day is None:
                return None  # an unreadable birth date is dropped, as in SQL
        else:
            day = value.date() if isinstance(value, dt.datetime) else value
        h = self.keys.h128(domain, str(key) if key is not None else day.isoformat())
        days = 1 + bits(h, 0, 32) % self.settings.date_shift_days
        delta = dt.timedelta(days=-days if bits(h, 32, 1) else days)
        if _TURNABLE[0] <= day <= _TURNABLE[1] and self._school_year(day + delta) != self._school_year(day):
            delta = -delta  # kept in its school year, as dates.sql's anon_shift_days
        if not isinstance(value, str):
            return value + delta
        try:
            return (day + delta).isoformat()
        except OverflowError:  # past 9999-12-31 (an "unknown" 9999-12-31) or before year 1: as SQL, NULL
            return None

    def _school_year(self, day: dt.date) -> int:
        return day.year - (day.month < self.settings.school_year_start_month)

    def scrub_text(self, text: str, names: Sequence[str | None] = ()) -> str:
        ph = self.settings.scrub_placeholders
        # composed first, as text.sql does (nfc_normalize): a decomposed é still names José
        text = unicodedata.normalize("NFC", text)
        names = [None if n is None else unicodedata.normalize("NFC", n) for n in names]
        for shape, pattern in self._shapes.items():  # the file's order, as dm_lib.scrub_shapes
            text = pattern.sub(lambda _m, r=ph[shape]: r, text)
        fast = self._names.scrub(text, names)  # the regex's result without a regex per name (names.py)
        if fast is not None:
            return fast
        for name in names:
            pattern = name_pattern(name or "")
            if pattern is None:
                continue
            for _ in range(2):  # pass 2 catches names the first pass's edges swallowed ("Ann Lee")
                text = pattern.sub(lambda m: m.group(1) + ph["name"] + m.group(2), text)
        return text


# dates a shift may turn to keep in their school year: d +- 3650 days (date_shift_days' maximum)
# stays a date Python can make (dates.sql, anon_shift_days)
_TURNABLE = (dt.date(11, 1, 1), dt.date(9989, 12, 31))

_TITLE = re.compile(TITLE)

# What a text birth date is, here and in dates.sql (kind 'text'): yyyy-mm-dd of years 1-9999, then
# perhaps a time (hh:mm...) after 'T' or a space. Neither DuckDB's cast (it takes '2012/3/4',
# 'epoch', '12-03-04', '2012-03-04 BC') nor fromisoformat (it takes '20120304', '2012-W10-1')
# alone, so that one value shifts the same way in a text column and in a JSON document.
TEXT_DATE = r"^[\t\n\f\r ]*([0-9]{4}-[0-9]{2}-[0-9]{2})(?:[T ][0-9]{2}:[0-9]{2}.*)?[\t\n\f\r ]*$"
_TEXT_DATE = re.compile(TEXT_DATE, re.DOTALL)


def text_date(value: str) -> dt.date | None:
    found = _TEXT_DATE.fullmatch(value)  # as RE2's $: the very end
    try:
        return dt.date.fromisoformat(found.group(1)) if found else None
    except ValueError:  # 2012-02-30
        return None


def _yyyymmdd(value: int) -> dt.date | None:
    if not 10000101 <= value <= 99991231:
        return None
    try:
        return dt.date(value // 10000, value // 100 % 100, value % 100)
    except ValueError:  # 20120230
        return None


def _permutation(strategy: str, provider: str | None, options: Mapping[str, Any]) -> tuple[bool, bool] | None:
    """(keep_country_code, letters) when apply() fakes a text by the digit permutation, else None."""
    if strategy == "mask_format":
        return bool(options.get("keep_country_code")), bool(options.get("letters"))
    if strategy == "faker" and provider in ("phone", "ssn"):
        return provider == "phone", False
    return None
