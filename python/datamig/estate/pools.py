"""Small dictionaries of realistic values, made once per seed with Faker.

Per-row Faker runs at a few thousand rows/s; the generator instead picks from these pools by
index (numpy), which is what makes `reference` fit in minutes. Pools are plain lists built in
a fixed order from seeded Faker instances, so they are identical on every run.
"""
from __future__ import annotations

import re
import unicodedata
import zlib
from dataclasses import dataclass

import pyarrow as pa

# Hard cases that must exist whatever the seed: non-ASCII, apostrophes, hyphens, CJK.
NASTY_FIRST = ("José", "Zoë", "芳", "Renée", "Siobhán", "Łukasz", "Björn", "D'Andre", "Mary-Kate",
               "Chloé", "Ådne", "Nguyệt")
NASTY_LAST = ("O'Brien", "王", "Müller", "García", "D'Angelo", "Núñez", "van der Berg", "Smith-Jones",
              "Nguyễn", "Ó Súilleabháin", "Øvergaard", "McDonald-O'Neil")

EMAIL_DOMAINS = ("gmail.com", "yahoo.com", "outlook.com", "icloud.com", "hotmail.com", "aol.com",
                 "proton.me", "comcast.net")
USER_AGENTS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/128.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148",
    "Mozilla/5.0 (X11; CrOS x86_64 15917.71.0) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/127.0 Mobile Safari/537.36",
    "SchoolApp/4.2.1 (iPad; iOS 17.4)",
)


def slug(value: str) -> str:
    """ASCII login/e-mail fragment of a name; CJK names get a stable made-up one."""
    text = unicodedata.normalize("NFKD", value).encode("ascii", "ignore").decode().lower()
    text = re.sub(r"[^a-z0-9]", "", text)
    return text or f"u{zlib.crc32(value.encode('utf-8')) % 100000}"


@dataclass(frozen=True)
class Pools:
    first: pa.Array          # first names (nasty ones included)
    first_slug: pa.Array     # ASCII slug of each first name, same index
    last: pa.Array
    last_slug: pa.Array
    street: pa.Array         # street names ("Maple Avenue")
    city: pa.Array
    company: pa.Array
    paragraph: pa.Array      # lorem-ish sentences for long text
    domain: pa.Array
    user_agent: pa.Array
    first_index: dict        # name -> index, to force hard cases onto chosen rows
    last_index: dict


def _unique(values):
    seen, out = set(), []
    for v in values:
        if v and v not in seen:
            seen.add(v)
            out.append(v)
    return out


def build(seed: int) -> Pools:
    from faker import Faker

    def faker(locale: str, salt: str) -> Faker:
        fake = Faker(locale)
        fake.seed_instance(zlib.crc32(f"{seed}:{locale}:{salt}".encode()))
        return fake

    # (locale, how many draws): mostly US names, a real share of Spanish, some others.
    mix = (("en_US", 900), ("es_MX", 200), ("fr_FR", 50), ("de_DE", 50), ("zh_CN", 40), ("vi_VN", 30))
    first, last = [], []
    for locale, count in mix:
        fake = faker(locale, "names")
        first += [fake.first_name() for _ in range(count)]
        last += [fake.last_name() for _ in range(count)]
    first = _unique(list(NASTY_FIRST) + first)
    last = _unique(list(NASTY_LAST) + last)
    us = faker("en_US", "places")
    street = _unique(us.street_name() for _ in range(600))
    city = _unique(us.city() for _ in range(400))
    company = _unique(us.company() for _ in range(200))
    paragraph = [us.paragraph(nb_sentences=6) for _ in range(80)]
    return Pools(
        first=pa.array(first), first_slug=pa.array([slug(v) for v in first]),
        last=pa.array(last), last_slug=pa.array([slug(v) for v in last]),
        street=pa.array(street), city=pa.array(city), company=pa.array(company),
        paragraph=pa.array(paragraph), domain=pa.array(EMAIL_DOMAINS), user_agent=pa.array(USER_AGENTS),
        first_index={v: i for i, v in enumerate(first)}, last_index={v: i for i, v in enumerate(last)},
    )
