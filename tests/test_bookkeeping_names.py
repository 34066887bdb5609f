"""Names the loader gives its own bookkeeping, held by CERT's data too: a column `__datamig_row`
(the staging tables' row position) and a node or relationship property `_datamig_lock` (what
the graph load writes to lock what it images). CERT's values of them are loaded, kept and
rolled back as any other. A real PostgreSQL 15 (prepared transactions on) and Neo4j 5.26."""
from __future__ import annotations

import duckdb
import pytest

from datamig.load import load_run, rollback_run
from test_load_support import WRITER, build_run, cert, cluster, neo4j_server

pytestmark = pytest.mark.timeout(600)
RUN = "mig-20251106-143000-d1"
__all__ = ["cert", "cluster", "neo4j_server"]


@pytest.mark.parametrize("strategy", ["insert", "upsert"])
def test_a_column_named_as_the_staging_row_position_loads_and_rolls_back(cert, strategy):
    """The staging tables held the final's columns and `__datamig_row` beside them: a CERT
    column of that name stopped every load of its table ("column "__datamig_row" specified
    more than once")."""
    cert.sql("ids", f"""
        CREATE TABLE rowed (id bigint PRIMARY KEY, x int, "__datamig_row" text, "__datamig_row_1" text);
        GRANT SELECT, INSERT, UPDATE, DELETE ON rowed TO {WRITER};
        INSERT INTO rowed VALUES (9, 9, 'cert own', 'cert too');""")
    if strategy == "upsert":
        cert.sql("ids", "INSERT INTO rowed VALUES (1, 1, 'cert before', NULL)")
    before = cert.fingerprint()
    run_dir = build_run(cert.out_dir, RUN)
    duckdb.connect().execute(f"""COPY (SELECT * FROM (VALUES (1::BIGINT, 10, 'run one', 'a'), (2, 20, NULL, 'b'))
                                       v(id, x, "__datamig_row", "__datamig_row_1"))
                                 TO '{run_dir / "final" / "ids" / "rowed.parquet"}' (FORMAT parquet)""")
    report = load_run(cert.cfg, cert.env, run_dir, strategy=strategy)
    counts = report["stores"]["ids"]["tables"]["rowed"]
    assert (counts["inserted"], counts["updated"]) == ((2, 0) if strategy == "insert" else (1, 1))
    assert cert.sql("ids", 'SELECT id, x, "__datamig_row", "__datamig_row_1" FROM rowed ORDER BY id') == [
        (1, 10, "run one", "a"), (2, 20, None, "b"), (9, 9, "cert own", "cert too")]
    rollback_run(cert.cfg, cert.env, cert.out_dir, RUN)
    assert cert.fingerprint() == before


def test_cert_s_own_lock_property_on_a_node_and_a_relationship_is_kept_and_rolled_back(cert):
    """The graph load locks what it images by setting `_datamig_lock` and removing it again:
    a CERT node or relationship with a property of that name lost it to the load, and its image
    (taken after the lock) lacked it, so the rollback did not bring it back either."""
    cert.cypher("CREATE (d:District {district_id: 1, name: 'Old North', _datamig_lock: 'cert own'}), "
                "(s:Staff {staff_id: 100, email: 'boss@north.test'}), "
                "(s)-[:WORKS_FOR {role: 'cert_role', _datamig_lock: ['cert', 'list']}]->(d)")
    before = cert.fingerprint()
    load_run(cert.cfg, cert.env, build_run(cert.out_dir, RUN), strategy="upsert")
    assert cert.cypher("MATCH (s:Staff {staff_id: 100})-[r:WORKS_FOR]->(d:District {district_id: 1}) "
                       "RETURN d.name AS name, d._datamig_lock AS lock, r.role <> 'cert_role' AS rewritten, "
                       "r._datamig_lock AS rel_lock") == [
        {"name": "North", "lock": "cert own", "rewritten": True, "rel_lock": ["cert", "list"]}]
    assert cert.cypher("MATCH (:DatamigRun)-[i:DATAMIG_BEFORE]->(b) WHERE b._datamig_lock IS NOT NULL "
                       "RETURN i.kind AS kind, b._datamig_lock AS lock ORDER BY kind") == [{"kind": "node", "lock": "cert own"}, {"kind": "rel", "lock": ["cert", "list"]}]
    rollback_run(cert.cfg, cert.env, cert.out_dir, RUN)
    assert cert.fingerprint() == before
