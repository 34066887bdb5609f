"""Column types round trip: the final Parquet in the shapes the extract lands (numeric and
interval as text, ...) loads into CERT columns of the PROD types holding exactly PROD's values,
and a rollback restores CERT exactly."""
from __future__ import annotations

import duckdb
import pytest

from datamig.load import load_run, rollback_run
from test_load import RUN, cert, cluster
from test_load_support import build_run, neo4j_server, WRITER

pytestmark = pytest.mark.timeout(600)
__all__ = ["neo4j_server", "cert", "cluster"]  # test_load's CERT cluster and stores, one per module


# (CERT column type, the DuckDB expression the final Parquet holds, PROD's text of the value)
CASES = [
    ("numeric", "'1e-20'", "1e-20"),
    ("numeric", "'12345678901234567890123456789012345.5'", "12345678901234567890123456789012345.5"),
    ("numeric", "'-0'", "-0"),
    ("numeric", "'1.10'", "1.10"),
    ("numeric", "'NaN'", "NaN"),
    ("numeric(12,3)", "CAST('-0.500' AS DECIMAL(12,3))", "-0.500"),
    ("interval", "'P-1DT4H'", "-1 days +04:00:00"),
    ("interval", "'P1Y2M3DT4H5M6.000007S'", "1 year 2 mons 3 days 04:05:06.000007"),
    ("money", "'$1,234.50'", "$1,234.50"),
    ("timetz", "'04:05:06+05:30'", "04:05:06+05:30"),
    ("timestamptz", "CAST('2024-03-10 02:30:00+00' AS TIMESTAMPTZ)", "2024-03-10 02:30:00+00"),
    ("date", "CAST('infinity' AS DATE)", "infinity"),
    ("date", "CAST('-infinity' AS DATE)", "-infinity"),
    ("timestamptz", "CAST('infinity' AS TIMESTAMPTZ)", "infinity"),
    ("bytea", "'\\x00\\xFF'::BLOB", "\\x00ff"),
    ("int[]", "[1, NULL, 3]", "{1,NULL,3}"),
    ("text[]", "['a', NULL, 'b,c']", '{a,NULL,"b,c"}'),
    ("numeric[]", "['1.10', '1e-20']", "{1.10,0.00000000000000000001}"),
]


@pytest.mark.parametrize("pg_type, final, prod", CASES, ids=[f"{c[0]}-{c[2]}" for c in CASES])
def test_a_value_loads_as_prod_holds_it_and_rolls_back(cert, pg_type, final, prod):
    cert.sql("ids", f"""
        CREATE TABLE typed (id bigint PRIMARY KEY, v {pg_type});
        GRANT SELECT, INSERT, UPDATE, DELETE ON typed TO {WRITER};
        INSERT INTO typed VALUES (1, NULL);""")
    before = cert.fingerprint()
    run_dir = build_run(cert.out_dir, RUN)
    duckdb.connect().execute(f"""COPY (SELECT * FROM (VALUES (1::BIGINT, {final}), (2, {final})) t(id, v))
                                 TO '{run_dir / "final" / "ids" / "typed.parquet"}' (FORMAT parquet)""")
    load_run(cert.cfg, cert.env, run_dir, strategy="upsert")
    want = cert.sql("ids", f"SELECT %s::{pg_type}::text", (prod,))[0][0]
    assert cert.sql("ids", "SELECT v::text FROM typed ORDER BY id") == [(want,), (want,)]
    assert cert.sql("ids", f"SELECT count(*) FROM typed WHERE v IS NOT DISTINCT FROM %s::{pg_type}", (prod,)) \
        == [(2,)]
    rollback_run(cert.cfg, cert.env, cert.out_dir, RUN)
    assert cert.fingerprint() == before


def test_graph_temporal_and_list_properties_load_and_roll_back_exactly(cert):
    """Dates, zoned and local datetimes, lists and empty lists: CERT's before-images and the
    run's values both keep their Neo4j types."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    from test_load_support import sid

    cert.cypher("""CREATE (:Student {student_id: $k, born: date('2010-02-03'),
                                     seen: datetime('2024-01-02T03:04:05.123456+05:30'),
                                     at: localdatetime('2024-01-02T03:04:05'), tags: [], ns: [1, 2],
                                     days: [date('2020-01-01')], named: datetime('2024-06-01T10:00[Europe/Paris]')})""",
                k=sid(0))
    before = cert.fingerprint()
    run_dir = build_run(cert.out_dir, RUN)
    path = run_dir / "final" / "sp" / "nodes" / "Student.parquet"
    t = pq.read_table(path)
    n = t.num_rows
    t = t.append_column("born", pa.array([None] * n, pa.date32()))
    t = t.append_column("empty", pa.array([[]] * n, pa.list_(pa.string())))
    pq.write_table(t, path)
    load_run(cert.cfg, cert.env, run_dir, strategy="upsert")
    rows = cert.cypher("MATCH (s:Student {student_id: $k}) RETURN s.empty AS e, s.born AS b", k=sid(1))
    assert rows == [{"e": [], "b": None}]
    rollback_run(cert.cfg, cert.env, cert.out_dir, RUN)
    assert cert.fingerprint() == before


@pytest.mark.parametrize("base, final, prod", [
    ("numeric(12,3)", "CAST('1.500' AS DECIMAL(12,3))", "1.500"), ("integer", "5::INTEGER", "5"),
    ("date", "DATE '2020-01-01'", "2020-01-01"), ("text", "'x'", "x")])
def test_a_domain_column_takes_final_values_of_its_base_type(cert, base, final, prod):
    """The drift check compared a typed final column (DECIMAL, INTEGER, DATE) with the domain's
    name, which reads as text, and refused the load ('cannot be written to CERT type d')."""
    cert.sql("ids", f"""CREATE DOMAIN d AS {base}; CREATE TYPE e AS ENUM ('a', 'b');
        CREATE TABLE dom (id bigint PRIMARY KEY, v d, en e);
        GRANT SELECT, INSERT, UPDATE, DELETE ON dom TO {WRITER};""")
    before = cert.fingerprint()
    run_dir = build_run(cert.out_dir, RUN)
    duckdb.connect().execute(f"""COPY (SELECT * FROM (VALUES (1::BIGINT, {final}, 'b')) t(id, v, en))
                                 TO '{run_dir / "final" / "ids" / "dom.parquet"}' (FORMAT parquet)""")
    load_run(cert.cfg, cert.env, run_dir, strategy="upsert")
    assert cert.sql("ids", "SELECT v::text, en::text FROM dom") == [(prod, "b")]
    rollback_run(cert.cfg, cert.env, cert.out_dir, RUN)
    assert cert.fingerprint() == before


@pytest.mark.parametrize("pg_type, cert_value, final, prod", [
    ("numeric[]", "{1.5,2}", "['1.50', '2']", "{1.50,2}"),
    ("numeric", "1.5", "'1.50'", "1.50"),
    ("interval", "1 day", "'PT24H'", "24:00:00"),
    ("double precision[]", "{0}", "[CAST('-0' AS DOUBLE)]", "{-0}"),
])
def test_a_cert_value_equal_to_prods_but_printed_otherwise_is_updated(cert, pg_type, cert_value, final, prod):
    """merge updated a row when `ROW(...) IS DISTINCT FROM` its final: a numeric 1.5 equals 1.50,
    '1 day' equals '24 hours' and 0 equals -0, so CERT kept its own value, not PROD's, and the
    run counted the row unchanged. Rolled back, CERT's own value returns exactly."""
    cert.sql("ids", f"""
        CREATE TABLE typed (id bigint PRIMARY KEY, v {pg_type});
        GRANT SELECT, INSERT, UPDATE, DELETE ON typed TO {WRITER};""")
    cert.sql("ids", "INSERT INTO typed VALUES (1, %s)", (cert_value,))
    before = cert.fingerprint()
    run_dir = build_run(cert.out_dir, RUN)
    duckdb.connect().execute(f"""COPY (SELECT * FROM (VALUES (1::BIGINT, {final})) t(id, v))
                                 TO '{run_dir / "final" / "ids" / "typed.parquet"}' (FORMAT parquet)""")
    load_run(cert.cfg, cert.env, run_dir, strategy="merge")
    want = cert.sql("ids", f"SELECT %s::{pg_type}::text", (prod,))[0][0]
    assert cert.sql("ids", "SELECT v::text FROM typed") == [(want,)]
    rollback_run(cert.cfg, cert.env, cert.out_dir, RUN)
    assert cert.fingerprint() == before
    assert cert.sql("ids", f"SELECT v::text = %s::{pg_type}::text FROM typed", (cert_value,)) == [(True,)]
