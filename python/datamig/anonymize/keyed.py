"""Keyed-hash primitives, shared byte for byte by the SQL macros and the Python code.

How a value, the salt and a domain combine (every implementation must follow this exactly):

1. Master key. ``MK = HMAC-SHA256(key = salt as UTF-8, msg = b"datamig/v1/key")`` (32 bytes),
   ``K = MK.hex()``. Neither the salt nor K ever enters DuckDB.
2. Domain key. ``K_d = base64url(MD5(K || 0x1F || domain))`` without padding (22 chars, 128
   bits; shorter than hex so a typical email still fits one MD5 block), computed in Python and
   handed to SQL by the plugin's UDF ``dm_domain_key('domain')``, which DuckDB folds to a
   constant once per query. 0x1F never occurs in a domain (validated), so domains cannot run
   into each other. Knowing K_d of one domain reveals nothing about another domain's key.
3. 128-bit keyed hash. ``h128(domain, v) = MD5(K_d || 0x1F || v)`` read as a little-endian
   unsigned integer, where ``v`` is the value as text (DuckDB ``CAST(x AS VARCHAR)``, Python
   ``str``), UTF-8. DuckDB: ``md5_number(K_d || chr(31) || v)``.
   Secret-prefix MD5 is used as a PRF (as in HMAC-MD5, whose PRF security does not rest on MD5's
   collision resistance) because DuckDB computes it at ~6M rows/s on 2 cores vs ~2M for SHA-256;
   the 22-char K_d keeps values up to 32 bytes (names, most emails) inside one 64-byte MD5 block. Fakes take disjoint bit
   slices of it (``bits``): picks use [0,32) and [32,64), unique suffixes [64,...).
4. Keyed digest (strategy ``hash``). ``SHA-256(K_d || 0x1F || v)`` as 64 hex chars; DuckDB
   ``sha256(...)`` of the same bytes.
5. Keyed streams (format-preserving permutation tables). ``SHAKE-256(MK || label)``; only
   Python needs them.

Same salt + same domain + same value -> same output, in every table, store and run. A different
salt changes everything. Nothing here stores a real->fake map.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import re

from ..errors import ConfigError

SEP = "\x1f"
DOMAIN_KEY_UDF = "dm_domain_key"
_KDF_LABEL = b"datamig/v1/key"
MIN_SALT_CHARS = 16


class Keys:
    """The derived key material for one salt. Never prints its secret."""

    __slots__ = ("_mk", "_hex", "_domain_keys")

    def __init__(self, salt: str, source: str | None = None):
        """`source`: the environment variable the salt came from, for errors."""
        if len(salt) < MIN_SALT_CHARS:
            # The message must never echo the salt, only its shortcoming.
            raise ValueError(f"salt too short: need at least {MIN_SALT_CHARS} characters")
        self._mk = hmac.new(_salt_bytes(salt, source), _KDF_LABEL, hashlib.sha256).digest()
        self._hex = self._mk.hex()
        self._domain_keys: dict[str, str] = {}

    def __repr__(self) -> str:
        return "Keys(<redacted>)"

    def domain_key(self, domain: str) -> str:
        """K_d, what SQL gets from dm_domain_key(domain)."""
        if domain not in self._domain_keys:
            digest = hashlib.md5((self._hex + SEP + domain).encode("utf-8")).digest()
            self._domain_keys[domain] = base64.urlsafe_b64encode(digest).decode("ascii").rstrip("=")
        return self._domain_keys[domain]

    def keyed_input(self, domain: str, value: str) -> bytes:
        return (self.domain_key(domain) + SEP + value).encode("utf-8")

    def h128(self, domain: str, value: str) -> int:
        return int.from_bytes(hashlib.md5(self.keyed_input(domain, value)).digest(), "little")

    def sha_hex(self, domain: str, value: str) -> str:
        return hashlib.sha256(self.keyed_input(domain, value)).hexdigest()

    def stream(self, label: str, nbytes: int) -> bytes:
        """Pseudo-random bytes bound to the key and a label (SHAKE-256 as a keyed XOF)."""
        return hashlib.shake_256(self._mk + label.encode("utf-8")).digest(nbytes)


def _salt_bytes(salt: str, source: str | None) -> bytes:
    """The salt as UTF-8. Python reads bytes of an environment that are not UTF-8 as lone
    surrogates ('\\udcff'), which UTF-8 cannot encode: a ConfigError naming the variable (never
    the value nor where in it: the salt's bytes are the secret)."""
    try:
        return salt.encode("utf-8")
    except UnicodeEncodeError:
        raise ConfigError(f"{source or 'the anonymization salt'} holds bytes that are not UTF-8 text: "
                          f"export the salt as UTF-8") from None


def bits(h: int, lo: int, n: int) -> int:
    """Bits [lo, lo+n) of a keyed hash; SQL: ``CAST((h >> lo) & (2^n - 1) AS UBIGINT)``."""
    return (h >> lo) & ((1 << n) - 1)


def pick(dictionary: list[str], h: int, lo: int) -> str:
    """Dictionary pick: 32 bits mod n (bias <= n / 2^32, i.e. < 5e-6 for n = 20,000)."""
    return dictionary[bits(h, lo, 32) % len(dictionary)]


def pick_other(dictionary: list[str], h: int, lo: int, value: str) -> str:
    """pick(), but never the value itself nor one of its words (dm_lib.pick_other): Faker's lists
    hold real names, so 'Luis' could fake as 'Luis'; then the next entry (the lists have no repeats)."""
    b = bits(h, lo, 32)
    fake = dictionary[b % len(dictionary)]
    words = identity(value)
    if sql_lower(fake) in words and sql_lower(fake) in _WORD_SEPARATORS.split(words):
        fake = dictionary[(b + 1) % len(dictionary)]
    return fake


_WORD_SEPARATORS = re.compile("[ ,]+")
_DOTTED_CAPITAL_I = {0x130: "i"}


# what dm_lib.identity trims off an email or user name: spaces, tabs, line ends and no-break spaces
# (a value copied from a spreadsheet or a web form), so " ana@x.org\t" is ana@x.org everywhere
IDENTITY_PADDING = " \t\n\r\u00a0"


def identity(text: str) -> str:
    """An email's or user name's identity, as dm_lib.identity computes it: unpadded, lower case."""
    return sql_lower(text.strip(IDENTITY_PADDING))


def sql_lower(text: str) -> str:
    """lower() as DuckDB computes it, so a value's identity (emails, user names) keys the same fake
    in SQL and in Python: code point by code point (Python's str.lower() turns a word-final Σ
    into ς, DuckDB into σ), and İ to i (Python: i + combining dot)."""
    if text.isascii():
        return text.lower()
    return "".join(map(str.lower, text.translate(_DOTTED_CAPITAL_I)))
