"""validate-migration's graph counts (verify.run.graph_counts) against a real Neo4j 5.26 that the
real graph load wrote: CERT holds one node per key of a label and one relationship per (start,
end) pair of a type, so the final's distinct keys and pairs are what is looked for in CERT."""
from __future__ import annotations

import pytest

from datamig.load import load_run
from datamig.verify import reconcile
from datamig.verify.run import graph_counts
from test_load import cert, cluster
from test_load_support import build_run, final_data, neo4j_server

pytestmark = pytest.mark.timeout(600)
RUN = "mig-20251106-143000-d1"
__all__ = ["neo4j_server", "cluster", "cert"]
# CHUNK 2 puts the repeated row of each file in another chunk than its first: counted once too
CHUNKS = pytest.mark.parametrize("chunk", [reconcile.CHUNK, 2])


def _graph_only(data: dict) -> dict:
    data["pg"] = {store: {table: [] for table in tables} for store, tables in data["pg"].items()}
    return data


def _manifest(data: dict) -> dict:
    """The extraction manifest's graph part: every row extracted reached the final."""
    return {"graph": {"nodes": {k: {"rows": len(v)} for k, v in data["nodes"].items()},
                      "relationships": {k: {"rows": len(v)} for k, v in data["rels"].items()}}}


def _counts(cert, run_dir, data) -> dict[tuple, dict]:
    return {(r["kind"], r["name"]): r for r in graph_counts(cert.cfg, cert.env, run_dir, _manifest(data))}


def _seen(row: dict) -> tuple:
    return row["extracted"], row["final"], row["distinct"], row["in_cert"], row["ok"]


@CHUNKS
def test_parallel_relationships_of_prod_merged_by_the_load_are_no_issue(cert, monkeypatch, chunk):
    """PROD held two WORKS_FOR between the same staff and district: the load draws one (and says
    so, duplicate_rows_merged), and validate-migration reported 4 rows against 3 in CERT."""
    monkeypatch.setattr(reconcile, "CHUNK", chunk)
    data = _graph_only(final_data())
    data["rels"]["WORKS_FOR"].append(("Staff", 101, "District", 1, "aide"))
    run_dir = build_run(cert.out_dir, RUN, data=data)
    loaded = load_run(cert.cfg, cert.env, run_dir)["stores"]["sp"]["relationships"]
    assert loaded["(Staff)-[WORKS_FOR]->(District)"]["duplicate_rows_merged"] == 1

    counts = _counts(cert, run_dir, data)
    assert _seen(counts[("relationship", "WORKS_FOR")]) == (4, 4, 3, 3, True)
    assert all(r["ok"] for r in counts.values()), counts

    # one really missing from CERT is still an issue
    cert.cypher("MATCH (:Staff {staff_id: 101})-[r:WORKS_FOR]->(:District {district_id: 1}) DELETE r")
    assert _seen(_counts(cert, run_dir, data)[("relationship", "WORKS_FOR")]) == (4, 4, 3, 2, False)


@CHUNKS
def test_a_node_file_naming_a_key_twice_counts_the_one_node_the_load_wrote(cert, monkeypatch, chunk):
    """The load MERGEs rows of one key into one node (and says so, duplicate_rows_merged);
    validate-migration compared the file's rows with CERT (an issue where there was none), and
    counted a key once per chunk naming it."""
    monkeypatch.setattr(reconcile, "CHUNK", chunk)
    data = _graph_only(final_data())
    data["nodes"]["Staff"].append((101, "t1@north.test"))
    run_dir = build_run(cert.out_dir, RUN, data=data)
    loaded = load_run(cert.cfg, cert.env, run_dir)["stores"]["sp"]["nodes"]
    assert (loaded["Staff"]["inserted"], loaded["Staff"]["duplicate_rows_merged"]) == (3, 1)
    assert cert.cypher("MATCH (s:Staff) RETURN count(s) AS n") == [{"n": 3}]

    counts = _counts(cert, run_dir, data)
    assert _seen(counts[("node", "Staff")]) == (4, 4, 3, 3, True)
    assert all(r["ok"] for r in counts.values()), counts

    # a node really missing from CERT is still an issue (and so is its relationship)
    cert.cypher("MATCH (s:Staff {staff_id: 102}) DETACH DELETE s")
    counts = _counts(cert, run_dir, data)
    assert _seen(counts[("node", "Staff")]) == (4, 4, 3, 2, False)
    assert _seen(counts[("relationship", "WORKS_FOR")]) == (3, 3, 3, 2, False)


@CHUNKS
def test_a_node_lacking_one_of_its_other_labels_in_cert_is_not_present(cert, monkeypatch, chunk):
    """Nodes were looked for by key label and key alone: a :Staff:Teacher of PROD loaded into
    CERT as :Staff counted as present."""
    from test_load import _with_labels

    monkeypatch.setattr(reconcile, "CHUNK", chunk)
    data = _graph_only(final_data())
    run_dir = build_run(cert.out_dir, RUN, data=data)
    _with_labels(run_dir, "Staff", "staff_id", {101: ["Teacher"], 102: ["Teacher", "Odd `x`"]})
    load_run(cert.cfg, cert.env, run_dir)
    cert.cypher("MATCH (s:Staff {staff_id: 100}) SET s:CertOnly")  # a label of CERT's own is no issue
    counts = _counts(cert, run_dir, data)
    assert _seen(counts[("node", "Staff")]) == (3, 3, 3, 3, True)
    assert all(r["ok"] for r in counts.values()), counts

    cert.cypher("MATCH (s:Staff {staff_id: 102}) REMOVE s:`Odd ``x```")
    assert _seen(_counts(cert, run_dir, data)[("node", "Staff")]) == (3, 3, 3, 2, False)


def test_a_relationship_type_with_a_backtick_is_counted(cert):
    """Labels and types were spliced between backticks unquoted: a type named with a backtick
    (PROD's name, loaded quoted) made the count's query a syntax error."""
    data = _graph_only(final_data())
    run_dir = build_run(cert.out_dir, RUN, data=data)
    rels = run_dir / "final" / "sp" / "relationships"
    (rels / "WORKS_FOR.parquet").rename(rels / "WORKS `FOR.parquet")
    data["rels"]["WORKS `FOR"] = data["rels"].pop("WORKS_FOR")
    load_run(cert.cfg, cert.env, run_dir)
    assert cert.cypher("MATCH ()-[r:`WORKS ``FOR`]->() RETURN count(r) AS n") == [{"n": 3}]
    assert _seen(_counts(cert, run_dir, data)[("relationship", "WORKS `FOR")]) == (3, 3, 3, 3, True)
