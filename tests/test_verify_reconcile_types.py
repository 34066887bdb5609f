"""validate-migration's count of CERT rows present, for a table without primary key (its key is
every column) holding the types the extract lands, on a throwaway PostgreSQL 15 cluster."""
from __future__ import annotations

import duckdb
import psycopg
import pytest

from datamig.verify.reconcile import Keyed, pg_present
from test_extract_shapes import pg  # noqa: F401 - its throwaway cluster, one per module

# (CERT type, the value as the final Parquet holds it (DuckDB), the same value as PostgreSQL reads it)
CASES = [
    ("int[]", "[1, NULL, 3]", "{1,NULL,3}"),
    ("text[]", "['a b', 'q\"\\', '']", '{"a b","q\\"\\\\",""}'),
    ("numeric[]", "['1.10', '1e-20']", "{1.10,1e-20}"),
    ("bytea", "'\\x00\\xFFa'::BLOB", "\\x00ff61"),
    ("jsonb", "'{\"a\": [1, null]}'::JSON", '{"a": [1, null]}'),
    ("json", "'{\"b\": 1,  \"a\": 2}'::JSON", '{"b": 1,  "a": 2}'),
    ("numeric", "'1.10'", "1.10"),
    ("interval", "'P-1DT4H'", "-1 days +04:00:00"),
    ("date", "'infinity'::DATE", "infinity"),
    ("timestamptz", "'2024-01-01 00:00:00+05'::TIMESTAMPTZ", "2024-01-01 00:00:00+05"),
]


@pytest.mark.parametrize("pg_type, final, prod", CASES, ids=[c[0] for c in CASES])
def test_every_row_of_a_table_without_primary_key_is_found(pg, tmp_path, pg_type, final, prod):
    """Arrays and bytea were sent as DuckDB's text ('[1, 2]', '\\x00\\xFF'), which PostgreSQL
    refuses; a json had no equality operator; a jsonb came back as a JSON string; and a row
    holding a NULL was never equal to itself, so it counted as missing from CERT."""
    assert _found(pg, tmp_path, "t_" + pg_type.replace("[]", "_array"), pg_type, final, prod) == [2]


def _found(pg, tmp_path, table: str, pg_type: str, final: str, cert: str) -> list[int]:
    """pg_present of rows (1, final) and (2, NULL) of a final Parquet keyed by every column, CERT's
    table holding (1, cert) and (2, NULL)."""
    with psycopg.connect(pg.url(), autocommit=True) as conn:
        conn.execute(f"CREATE TABLE {table} (id int, v {pg_type})")
        conn.execute(f"INSERT INTO {table} VALUES (1, %s), (2, NULL)", (cert,))
    parquet = tmp_path / "final.parquet"
    duckdb.execute(f"COPY (SELECT * FROM (VALUES (1, {final}), (2, NULL)) t(id, v)) TO '{parquet}' (FORMAT parquet)")
    keyed = Keyed(table, parquet, ["id", "v"], {"id": "integer", "v": pg_type})
    return pg_present(pg.url(), "public", [keyed])


# (CERT type, the value as the final Parquet holds it, a value CERT holds that is not the same)
DIFFERENT = [
    ("int[]", "[1, 2, 3]", "[0:2]={1,2,3}"),
    ("numeric[]", "['1.50']", "{1.5}"),
    ("numeric[]", "['1.5']", "{1.50}"),
    ("text[]", "['a', NULL]", "{a}"),
]


@pytest.mark.parametrize("pg_type, final, cert", DIFFERENT, ids=[f"{c[0]}-{c[2]}" for c in DIFFERENT])
def test_a_row_whose_array_differs_in_bounds_or_scale_is_not_found(pg, tmp_path, pg_type, final, cert):
    """An array loaded with other bounds, or numbers of another scale, is another value: the row
    whose key it is counts as missing from CERT, not as present (equal numbers, other text)."""
    table = "d_" + pg_type.replace("[]", "_array") + str(DIFFERENT.index((pg_type, final, cert)))
    assert _found(pg, tmp_path, table, pg_type, final, cert) == [1]
