"""Vectorized column builders (numpy in, pyarrow out).

Every random draw goes through `rng_for(seed, *labels)`: one independent, named stream per
table/column family, keyed by CRC32 of the labels (never Python's salted `hash`). Adding a new
draw therefore never shifts the values of an existing column.
"""
from __future__ import annotations

import zlib
from datetime import date

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

EPOCH = date(1970, 1, 1)
DAY = 86400


def rng_for(seed: int, *labels) -> np.random.Generator:
    words = [int(seed) & 0xFFFFFFFF, (int(seed) >> 32) & 0xFFFFFFFF]
    words += [zlib.crc32(str(label).encode("utf-8")) for label in labels]
    return np.random.default_rng(np.random.SeedSequence(words))


def day_number(d: date) -> int:
    return (d - EPOCH).days


# ----------------------------------------------------------------------------- typed arrays

def i64(values) -> pa.Array:
    return pa.array(np.asarray(values, dtype=np.int64), pa.int64())


def i32(values) -> pa.Array:
    return pa.array(np.asarray(values, dtype=np.int32), pa.int32())


def i16(values) -> pa.Array:
    return pa.array(np.asarray(values, dtype=np.int16), pa.int16())


def boolean(values) -> pa.Array:
    return pa.array(np.asarray(values, dtype=bool), pa.bool_())


def dates(day_numbers) -> pa.Array:
    return pa.array(np.asarray(day_numbers, dtype=np.int32), pa.int32()).view(pa.date32())


def timestamps(seconds) -> pa.Array:
    micros = np.asarray(seconds, dtype=np.int64) * 1_000_000
    return pa.array(micros, pa.int64()).view(pa.timestamp("us", tz="UTC"))


def text(values) -> pa.Array:
    """Numbers (or anything pyarrow can cast) as their decimal text."""
    if isinstance(values, (pa.Array, pa.ChunkedArray)):
        return pc.cast(values, pa.string())
    return pc.cast(pa.array(np.asarray(values)), pa.string())


def lpad(values, width: int, fill: str = "0") -> pa.Array:
    return pc.utf8_lpad(text(values), width=width, padding=fill)


def cat(*parts) -> pa.Array:
    """Element-wise concatenation of arrays and str scalars; a null part gives a null."""
    return pc.binary_join_element_wise(*parts, "")


def take(pool: pa.Array, index) -> pa.Array:
    return pool.take(pa.array(np.asarray(index, dtype=np.int64)))


def null_where(values: pa.Array, mask) -> pa.Array:
    mask = np.asarray(mask, dtype=bool)
    if not mask.any():
        return values
    return pc.if_else(pa.array(mask), pa.scalar(None, values.type), values)


def fill(values: pa.Array, default: str) -> pa.Array:
    return pc.fill_null(values, default)


def where(mask, if_true, if_false) -> pa.Array:
    return pc.if_else(pa.array(np.asarray(mask, dtype=bool)), if_true, if_false)


def choose(which, *options) -> pa.Array:
    return pc.choose(pa.array(np.asarray(which, dtype=np.int8)), *options)


def decimal_text(units, scale: int) -> pa.Array:
    """Exact numeric text from integers: decimal_text([12345], 2) -> "123.45"."""
    units = np.asarray(units, dtype=np.int64)
    factor = 10 ** scale
    sign = np.where(units < 0, "-", "")
    units = np.abs(units)
    return cat(pa.array(sign), text(units // factor), ".", lpad(units % factor, scale))


def fixed_ascii(matrix: np.ndarray) -> pa.Array:
    """(n, w) uint8 ASCII codes -> string array of n values of width w, without a Python loop."""
    matrix = np.ascontiguousarray(matrix, dtype=np.uint8)
    n, width = matrix.shape
    offsets = (np.arange(n + 1, dtype=np.int32) * width).tobytes()
    return pa.Array.from_buffers(pa.string(), n, [None, pa.py_buffer(offsets), pa.py_buffer(matrix.tobytes())])


_HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)


def uuids(rng: np.random.Generator, n: int) -> pa.Array:
    """Random (version 4 layout) UUIDs as canonical text."""
    raw = rng.integers(0, 256, size=(n, 16), dtype=np.uint8)
    raw[:, 6] = (raw[:, 6] & 0x0F) | 0x40
    raw[:, 8] = (raw[:, 8] & 0x3F) | 0x80
    hexed = np.empty((n, 32), np.uint8)
    hexed[:, 0::2] = _HEX[raw >> 4]
    hexed[:, 1::2] = _HEX[raw & 0x0F]
    out = np.full((n, 36), ord("-"), np.uint8)
    for src, dst in ((slice(0, 8), slice(0, 8)), (slice(8, 12), slice(9, 13)), (slice(12, 16), slice(14, 18)),
                     (slice(16, 20), slice(19, 23)), (slice(20, 32), slice(24, 36))):
        out[:, dst] = hexed[:, src]
    return fixed_ascii(out)


def random_chars(rng: np.random.Generator, n: int, width: int, alphabet: bytes) -> pa.Array:
    table = np.frombuffer(alphabet, dtype=np.uint8)
    return fixed_ascii(table[rng.integers(0, len(table), size=(n, width))])


ALNUM_UPPER = b"ABCDEFGHJKLMNPQRSTUVWXYZ0123456789"
BCRYPT_ALPHABET = b"./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"


def password_hashes(rng: np.random.Generator, n: int) -> pa.Array:
    return cat("$2b$12$", random_chars(rng, n, 53, BCRYPT_ALPHABET))


# ----------------------------------------------------------------------------- PII shapes

PHONE_FORMATS = ("NNN-NNN-NNNN", "(NNN) NNN-NNNN", "+1 NNN NNN NNNN", "NNN.NNN.NNNN", "NNNNNNNNNN")


def phones(rng: np.random.Generator, n: int, p=(0.55, 0.2, 0.12, 0.08, 0.05)) -> pa.Array:
    """US phone numbers in several formats (p = weights of PHONE_FORMATS)."""
    area = text(rng.integers(201, 990, n))
    exchange = text(rng.integers(200, 1000, n))
    line = lpad(rng.integers(0, 10000, n), 4)
    options = (cat(area, "-", exchange, "-", line), cat("(", area, ") ", exchange, "-", line),
               cat("+1 ", area, " ", exchange, " ", line), cat(area, ".", exchange, ".", line),
               cat(area, exchange, line))
    return choose(rng.choice(len(options), n, p=np.asarray(p) / np.sum(p)), *options)


def ssns(rng: np.random.Generator, n: int) -> pa.Array:
    area = rng.integers(1, 900, n)
    area = np.where(area == 666, 667, area)
    return cat(lpad(area, 3), "-", lpad(rng.integers(1, 100, n), 2), "-", lpad(rng.integers(1, 10000, n), 4))


def ipv4(rng: np.random.Generator, n: int) -> pa.Array:
    octets = [text(rng.integers(lo, 255, n)) for lo in (1, 0, 0, 1)]
    return cat(octets[0], ".", octets[1], ".", octets[2], ".", octets[3])


def ipv6(rng: np.random.Generator, n: int) -> pa.Array:
    # Small share of rows only, so a Python hex format is fine here.
    hexgroups = [pa.array([format(int(v), "x") for v in rng.integers(0, 65536, n)], pa.string()) for _ in range(4)]
    return cat("2001:db8:", hexgroups[0], ":", hexgroups[1], "::", hexgroups[2], ":", hexgroups[3])


def zips(rng: np.random.Generator, zip3, plus4_share: float = 0.05) -> pa.Array:
    """5-digit ZIPs (leading zeros kept: Massachusetts is 021xx) and a share of ZIP+4."""
    zip3 = np.asarray(zip3, dtype=np.int64)
    n = len(zip3)
    five = lpad(zip3 * 100 + rng.integers(0, 100, n), 5)
    plus4 = cat(five, "-", lpad(rng.integers(1, 10000, n), 4))
    return where(rng.random(n) < plus4_share, plus4, five)


# ----------------------------------------------------------------------------- grouping helpers

def starts_of(counts) -> np.ndarray:
    counts = np.asarray(counts, dtype=np.int64)
    return np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)


def position_in_group(counts) -> np.ndarray:
    """For rows laid out group after group with these counts: each row's index inside its group."""
    counts = np.asarray(counts, dtype=np.int64)
    total = int(counts.sum())
    return np.arange(total, dtype=np.int64) - np.repeat(starts_of(counts), counts)


def distinct_picks(rng: np.random.Generator, k, n) -> np.ndarray:
    """For each row i, k[i] distinct offsets in [0, n[i]) (k <= n), flattened row after row.

    A random start plus an even stride: distinct by construction and fully vectorized.
    """
    k = np.asarray(k, dtype=np.int64)
    n = np.asarray(n, dtype=np.int64)
    owner = np.repeat(np.arange(len(k)), k)
    j = position_in_group(k)
    stride = np.maximum(n // np.maximum(k, 1), 1)
    start = (rng.random(len(k)) * n).astype(np.int64)
    return (start[owner] + j * stride[owner]) % np.maximum(n[owner], 1), owner


def pg_text_array(items: list[str | None] | None) -> str | None:
    """PostgreSQL array literal for text[] ('{"a@b.org","c@d.org"}'); None stays NULL."""
    if items is None:
        return None
    parts = []
    for item in items:
        if item is None:
            parts.append("NULL")
        else:
            parts.append('"' + item.replace("\\", "\\\\").replace('"', '\\"') + '"')
    return "{" + ",".join(parts) + "}"
