"""Fake-value dictionaries built from Faker once per process.

Why dictionaries: a per-row Faker call runs at ~5k rows/s; picking from a prebuilt list by a keyed
hash runs at millions of rows/s in SQL. The dictionaries depend only on Faker's data, the locale
list and a fixed seed (never on the salt), so every run builds the same lists; the salt decides
only which entry a value picks. Lists are deduplicated, put in a canonical order (sorted, then a
seeded shuffle so a size cut is not alphabetical) and cut to the configured size.

Names come from the locale's person-provider lists (the full list, no sampling); other providers
are drawn by calling the seeded Faker method until `size` distinct values or 3 x size attempts.
A Faker upgrade can change the lists, and with them the fakes: `provenance()` goes into the
run's validation report and the final report's anonymization section, so such a change is visible.

Drawing 10,000 streets from Faker takes 3-9 s, paid by every process (every `dbt` command), so a
built list is also kept on disk (DATAMIG_CACHE_DIR, default ~/.cache/datamig) under a key of
everything it depends on (method, locales, size, seed, Faker and Python versions, this module's
cache version); a missing, unreadable or unwritable cache just means building it again.
"""
from __future__ import annotations

import hashlib
import importlib
import json
import random
import sys
import re
import unicodedata
from functools import lru_cache
from pathlib import Path
from typing import Mapping

import faker
from faker import Faker

from ..cache import cache_dir
from ..runfiles import write_text_atomic

# Derived lists the SQL needs besides the configured ones: ASCII local parts for emails/user names.
ASCII_VARIANTS = {"first_name_ascii": "first_name", "last_name_ascii": "last_name"}
_PERSON_ATTRS = {"first_name": "first_names", "last_name": "last_names"}


def _person_list(locale: str, method: str) -> list[str] | None:
    """All names of a locale's person provider (first_names*, last_names* attributes)."""
    prefix = _PERSON_ATTRS.get(method)
    if prefix is None:
        return None
    try:
        provider = importlib.import_module(f"faker.providers.person.{locale}").Provider
    except (ImportError, AttributeError):
        return None
    names: list[str] = []
    for attr in sorted(a for a in dir(provider) if a.startswith(prefix)):
        value = getattr(provider, attr)
        if isinstance(value, (dict, list, tuple)):
            names.extend(str(v) for v in value)
    return names or None


def _drawn(locale: str, method: str, size: int, seed: int) -> list[str]:
    fake = Faker(locale)
    fake.seed_instance(seed)
    generate = getattr(fake, method)
    seen: dict[str, None] = {}
    for _ in range(3 * size):
        seen[str(generate())] = None
        if len(seen) >= size:
            break
    return list(seen)


CACHE_VERSION = 1


def _cache_path(method: str, locales: tuple[str, ...], size: int, seed: int) -> Path:
    key = json.dumps([CACHE_VERSION, method, list(locales), size, seed, faker.VERSION,
                      f"{sys.version_info.major}.{sys.version_info.minor}"])
    return cache_dir("dictionaries", f"{method}-{hashlib.sha256(key.encode()).hexdigest()[:32]}.json")


@lru_cache(maxsize=None)
def build_one(method: str, locales: tuple[str, ...], size: int, seed: int) -> tuple[str, ...]:
    """One dictionary: distinct, canonical order, at most `size` entries. Cached per process and
    on disk."""
    path = _cache_path(method, locales, size, seed)
    try:
        cached = json.loads(path.read_text(encoding="utf-8"))
        if isinstance(cached, list) and cached and all(isinstance(v, str) for v in cached):
            return tuple(cached)
    except (OSError, ValueError):
        pass
    built = _build_one(method, locales, size, seed)
    try:
        write_text_atomic(path, json.dumps(list(built), ensure_ascii=False))  # concurrent workers share it
    except OSError:
        pass
    return built


def _build_one(method: str, locales: tuple[str, ...], size: int, seed: int) -> tuple[str, ...]:
    values: set[str] = set()
    for locale in locales:
        values.update(_person_list(locale, method) or _drawn(locale, method, size, seed))
    values = {v.strip() for v in values if v and v.strip()}
    ordered = sorted(values)
    random.Random(seed).shuffle(ordered)
    return tuple(ordered[:size])


def ascii_variant(values: tuple[str, ...]) -> tuple[str, ...]:
    """Lower-case a-z forms (José -> jose) for email local parts and user names; deduplicated."""
    out: dict[str, None] = {}
    for v in values:
        folded = unicodedata.normalize("NFKD", v).encode("ascii", "ignore").decode().lower()
        folded = re.sub(r"[^a-z]", "", folded)
        if len(folded) >= 2:
            out[folded] = None
    return tuple(out)


def build(specs: Mapping[str, Mapping], default_locale: str, seed: int) -> dict[str, tuple[str, ...]]:
    """All configured dictionaries plus the ASCII variants, by provider name."""
    out = {}
    for provider, spec in specs.items():
        locales = (spec.get("locale", default_locale), *spec.get("extra_locales", ()))
        out[provider] = build_one(spec.get("faker", provider), locales, int(spec["size"]), seed)
    for name, source in ASCII_VARIANTS.items():
        if source in out:
            out[name] = ascii_variant(out[source])
    empty = [p for p, v in out.items() if not v]
    if empty:
        raise ValueError(f"empty fake dictionaries: {', '.join(empty)}")
    return out


def fingerprint(dicts: Mapping[str, tuple[str, ...]]) -> str:
    """SHA-256 over every list: changes exactly when the fakes a salt produces would change."""
    h = hashlib.sha256()
    for name in sorted(dicts):
        h.update(name.encode() + b"\x1e" + "\x1f".join(dicts[name]).encode() + b"\x1d")
    return h.hexdigest()


def provenance(settings) -> dict:
    """What a run's fakes were picked from: two runs whose provenance and salt agree fake a value
    alike. The lists come from the disk cache, as the dbt plugin built them for this run."""
    dicts = build(settings.dictionaries, settings.faker_locale, settings.dictionary_seed)
    return {"dictionaries_sha256": fingerprint(dicts), "faker": faker.VERSION, "locale": settings.faker_locale,
            "dictionary_seed": settings.dictionary_seed}
