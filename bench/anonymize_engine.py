"""Throughput of the anonymization engine on 1,000,000 synthetic rows.

    .venv/bin/python bench/anonymize_engine.py [--rows N] [--threads T]

Prints rows/s per hot strategy (one column, in memory, CREATE TABLE AS) and, for two table
shapes, the ratio against a plain DuckDB copy of the same data in the same run: Parquet ->
Parquet (the pipeline's shape: extracted Parquet in, anonymized Parquet out) and table -> table
in memory. Best of 3 runs each. Wall time and CPU time (all threads) are both shown: on a
shared machine other processes steal wall time, not our CPU seconds.
Targets: hot columns >= 1,000,000 rows/s on 2 cores; a table <= 2x its plain copy.
int_pii_values is built from the synthetic rows' own phones and SSNs, as the model builds it
from the slice's, so mask_format pays its check against real values (taken.py) as in a build.
Measured 2026-12-02 (1M rows, 2 threads, rows/s wall): first name 8.5M, last name 8.2M, email
3.5M, SSN hash 5.0M, birth date 9.7M; phone 0.42M -> 0.56M and SSN permutation 0.47M -> 0.62M
once the check normalized a chunk in numpy and compared raw digests. Then int_pii_values kept
the real phones and SSNs encrypted (keyed digit permutation, column d), decrypted once per build,
and a chunk is checked in numpy; same hour, before/after: phone 0.34M -> 0.71M, SSN permutation
0.47M -> 0.81M (under the 1M target: the permutation's table gathers miss L2, and DuckDB's Arrow
UDF call costs ~0.3 us a value). 2026-12-03, old and new code alternating (best of 5): masks in
the UDF worker processes, pickled chunks, the check's digits read as numbers in one pass:
phone 0.76-0.79M -> 0.97-1.18M, SSN permutation 0.71-1.02M -> 0.92-1.52M. CPU per second now
counts the worker processes too (cpu_seconds).
2026-12-04 (load from a review on the same machine; per CPU-second, which it disturbs less): a
dictionary pick that is never the value nor one of its words (pick_other, 2026-12-03) took
first_name from 3.9M (the code before it, same hour) to 1.7M; testing lower(t) instead of
identity(t) before the word split: 1.65-1.69M -> 1.94-2.09M (same outputs).
2026-12-05 (500k rows, old and new code alternating, 3 runs each, shared and loaded machine):
phones and SSNs keep their class, valid NANP / valid SSN or not (numbering.py). Cycle walking
the digit permutation made the mask 4-5x slower (permutation alone, per CPU-second: phone
4.0M -> 0.7M, SSN 2.6M -> 0.65M); ranking within the class and one Feistel pass instead:
phone 0.61-0.76M -> 0.68-0.78M per CPU-second (1.14M -> 1.32M wall, best), SSN permutation
0.65-1.04M -> 0.69-0.89M (1.60M -> 1.49M wall, best): phone unchanged, SSN ~0.9x at best.
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import duckdb

from datamig.anonymize.engine import Engine
from datamig.anonymize.sqlrender import anonymize_sql as A
from datamig.anonymize.taken import DIGITS_DOMAIN, HASH_DOMAIN

SOURCE = """
CREATE OR REPLACE TABLE src AS
SELECT i AS id,
       42 AS district_id,
       i % 40 AS school_id,
       ['Maria','José','Zoë','Liam','Noah','Olivia','王芳','Sean'][1 + i % 8] || (i % 997)::VARCHAR AS first_name,
       ['Garcia','O''Brien','Smith','Nguyen','Müller','Khan','Li','Brown'][1 + i % 8] || (i % 1009)::VARCHAR AS last_name,
       DATE '2005-01-01' + CAST(i % 5000 AS INTEGER) AS birth_date,
       i % 13 AS grade_level,
       'user' || i::VARCHAR || '@district' || (i % 50)::VARCHAR || '.org' AS email,
       printf('%03d-%03d-%04d', 200 + i % 800, (i // 800) % 1000, i % 10000) AS phone,
       printf('%03d-%02d-%04d', i % 900, (i // 900) % 100, i % 10000) AS ssn,
       DATE '2020-08-15' + CAST(i % 1500 AS INTEGER) AS enrollment_date,
       ['active','inactive','graduated'][1 + i % 3] AS status,
       TIMESTAMP '2024-01-01' + to_seconds(i) AS created_at,
       TIMESTAMP '2025-01-01' + to_seconds(i) AS updated_at
FROM range({rows}) r(i)
"""

# What int_pii_values holds in a build (the slice's real phones and SSNs, normalized, hashed and encrypted):
# mask_format's fakes are checked against it, and one that is a real value walks on.
REAL_VALUES = """
CREATE OR REPLACE TABLE int_pii_values AS
SELECT DISTINCT kind, {hash} AS h, {digits} AS d FROM (
    SELECT 'phone' AS kind, right(regexp_replace(phone, '[^0-9]', '', 'g'), 10) AS value FROM src
    UNION ALL
    SELECT 'ssn', regexp_replace(ssn, '[^0-9]', '', 'g') FROM src)
"""

HOT = {
    "first_name": ("first_name", dict(strategy="faker", provider="first_name", domain="person.first_name")),
    "last_name": ("last_name", dict(strategy="faker", provider="last_name", domain="person.last_name")),
    "email": ("email", dict(strategy="faker", provider="email", domain="email")),
    "phone": ("phone", dict(strategy="mask_format", domain="phone", keep_country_code=True)),
    "ssn_hash": ("ssn", dict(strategy="hash", domain="ssn")),
    "ssn_mask": ("ssn", dict(strategy="mask_format", domain="ssn")),
    "birth_date": ("birth_date", dict(strategy="shift_date", domain="person.birth_date", kind="date")),
}

# Two table shapes: a typical students table (4 of 12 columns are PII) and a PII-heavy one.
TABLES = {
    "students: 12 columns, 4 anonymized (first, last, email, birth date)": (
        ["id", "district_id", "school_id", "first_name", "last_name", "birth_date", "grade_level", "email",
         "enrollment_date", "status", "created_at", "updated_at"],
        ["first_name", "last_name", "birth_date", "email"]),
    "contacts: 8 columns, 6 anonymized (first, last, email, phone, ssn hash, birth date)": (
        ["id", "first_name", "last_name", "email", "phone", "ssn", "birth_date", "status"],
        ["first_name", "last_name", "email", "phone", "ssn_hash", "birth_date"]),
}


def cpu_seconds() -> float:
    """This process's CPU time and its live children's (the UDF worker processes, which
    os.times() counts only once they are reaped), from /proc."""
    total, me, tick = time.process_time(), str(os.getpid()), os.sysconf("SC_CLK_TCK")
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # the process ended meanwhile
            continue
        if fields[1] == me:  # ppid; then utime and stime at fields 14 and 15 of the whole line
            total += (int(fields[11]) + int(fields[12])) / tick
    return total


def best_of(conn, sql: str, runs: int = 3) -> tuple[float, float]:
    best = (float("inf"), float("inf"))
    for _ in range(runs):
        c = cpu_seconds()
        w = time.perf_counter()
        conn.execute(sql)
        w = time.perf_counter() - w
        best = min(best, (w, cpu_seconds() - c))
    return best


def rate(n: int, t: tuple[float, float]) -> str:
    return f"{n / t[0]:>12,.0f} rows/s  ({n / t[1]:>11,.0f} per CPU-second)"


def select(columns: list[str], hot: list[str], source: str) -> str:
    by_column = {HOT[h][0]: h for h in hot}
    exprs = [f"{A(c, **HOT[by_column[c]][1])} AS {c}" if c in by_column else c for c in columns]
    return f"SELECT {', '.join(exprs)} FROM {source}"


def per_column(conn, n: int) -> None:
    print(f"\nper column, in memory ({n:,} rows):")
    print(f"  {'plain copy of one column':26} {rate(n, best_of(conn, 'CREATE OR REPLACE TABLE o AS SELECT first_name FROM src'))}")
    for label, (col, kw) in HOT.items():
        # a warm-up builds the permutation tables once; the timed runs reuse them
        conn.execute(f"CREATE OR REPLACE TABLE o AS SELECT {A(col, **kw)} AS x FROM src LIMIT 10")
        print(f"  {label:26} {rate(n, best_of(conn, f'CREATE OR REPLACE TABLE o AS SELECT {A(col, **kw)} AS x FROM src'))}")


def whole_tables(conn, n: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        src = f"read_parquet('{tmp}/src.parquet')"
        conn.execute(f"COPY src TO '{tmp}/src.parquet' (FORMAT parquet)")
        for label, (columns, hot) in TABLES.items():
            shapes = {
                "Parquet -> Parquet": (f"COPY ({select(columns, [], src)}) TO '{tmp}/plain.parquet' (FORMAT parquet)",
                                       f"COPY ({select(columns, hot, src)}) TO '{tmp}/anon.parquet' (FORMAT parquet)"),
                "in memory": (f"CREATE OR REPLACE TABLE o AS {select(columns, [], 'src')}",
                              f"CREATE OR REPLACE TABLE o AS {select(columns, hot, 'src')}"),
            }
            print(f"\n{label}:")
            for shape, (plain_sql, anon_sql) in shapes.items():
                plain, anon = best_of(conn, plain_sql), best_of(conn, anon_sql)
                print(f"  {shape:18}  plain      {rate(n, plain)}\n  {'':18}  anonymized {rate(n, anon)}"
                      f"\n  {'':18}  ratio {anon[0] / plain[0]:.2f}x wall, {anon[1] / plain[1]:.2f}x CPU")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    os.environ.setdefault("DATAMIG_SALT", "bench-salt-not-a-secret-0123456789")
    t = time.perf_counter()
    engine = Engine.from_env()
    conn = duckdb.connect()
    engine.configure(conn)
    conn.execute(f"SET threads = {args.threads}")
    print(f"engine start-up (dictionaries, UDFs): {time.perf_counter() - t:.2f} s; threads={args.threads}; "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    conn.execute(SOURCE.format(rows=args.rows))
    conn.execute(REAL_VALUES.format(hash=A("value", "hash", domain=HASH_DOMAIN),
                                    digits=f"dm_mask_format(value, '{DIGITS_DOMAIN}', false, false, null)"))
    per_column(conn, args.rows)
    whole_tables(conn, args.rows)


if __name__ == "__main__":
    main()
