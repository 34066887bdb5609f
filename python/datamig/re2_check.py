"""Whether DuckDB's regex engine (RE2) can run a pattern: it rejects some Python accepts
(lookarounds, backreferences), and a config pattern DuckDB runs must fail on load, not in dbt."""
from __future__ import annotations

from functools import lru_cache

from .quoting import sql_literal


@lru_cache(maxsize=1024)
def re2_problem(pattern: str) -> str | None:
    """RE2's reason for refusing `pattern`, or None."""
    import duckdb  # here: only loading a config file needs it

    con = _connection()
    try:  # a literal, not a parameter: binding one imports pandas, +0.5 s to a load
        con.execute(f"SELECT regexp_matches('', {sql_literal(pattern)})").fetchall()
    except duckdb.Error as exc:
        return " ".join(str(exc).split())
    return None


@lru_cache(maxsize=1)
def _connection():
    import duckdb

    return duckdb.connect()
