"""Graph classify and apply against a real Neo4j 5.26, on a mix the fast paths must tell apart:
nodes existing-unchanged, existing-changed and new; relationships existing (changed or not),
new between two existing ends, new to a new end, new to an end only CERT has, and ends that
exist nowhere; plus the in-transaction re-check against changes made after classify."""
from __future__ import annotations

from pathlib import Path

import duckdb
import neo4j
import pytest

from datamig.config.model import StoreConfig
from datamig.errors import MigrationFailed
from datamig.load import graph_load
from datamig.load.fingerprint import graph_fingerprint
from datamig.load.graph import GraphStore
from datamig.load.graph_undo import undo
from test_load_support import NEO_PASSWORD, neo4j_server

pytestmark = pytest.mark.timeout(300)
__all__ = ["neo4j_server"]
RUN = "mig-20251106-143000-d1"
KEYS = {"Student": "student_id", "School": "school_id"}

CERT_GRAPH = """
CREATE (s1:Student {student_id: 's1', grade: 9}), (s2:Student {student_id: 's2', grade: 8, cert_only: true}),
       (c10:School {school_id: 10, name: 'Only in CERT'}), (:School {school_id: 13, name: 'Also only in CERT'}),
       (s1)-[:ENROLLED_IN {since: 2020}]->(c10), (s2)-[:ENROLLED_IN {since: 2019}]->(c10)
"""
STUDENTS = [("s1", 9), ("s2", 9), ("s3", 10)]        # unchanged, changed, new
SCHOOLS = [(11, "New School")]                          # new
ENROLLED = [("s1", 10, 2020),   # exists, unchanged
            ("s2", 10, 2021),   # exists, changed
            ("s1", 11, 2024),   # new: its end is new
            ("s3", 10, 2024),   # new: its start is new, its end only in CERT
            ("s1", 13, 2024)]   # new between two existing ends


@pytest.fixture
def graph(neo4j_server):
    with neo4j.GraphDatabase.driver(neo4j_server, auth=("neo4j", NEO_PASSWORD)) as driver:
        driver.execute_query("MATCH (n) DETACH DELETE n")
        driver.execute_query(CERT_GRAPH)
    store = StoreConfig("sp", "neo4j", "PROD_SP_URL", "CERT_SP_URL")
    g = GraphStore(store, neo4j_server, "neo4j", NEO_PASSWORD, {})
    g.ensure_constraints(KEYS)
    try:
        yield g
    finally:
        g.close()


def cypher(g: GraphStore, query: str, **params) -> list[dict]:
    return g.run(query, "test", **params)


def fingerprint(g: GraphStore) -> str:
    """CERT's data, ledger nodes left out."""
    return graph_fingerprint(f"bolt://{g.where}", "neo4j", NEO_PASSWORD)


def final(tmp_path: Path, enrolled=ENROLLED) -> list[graph_load.GraphSet]:
    con = duckdb.connect()
    tables = {"nodes/Student": ("student_id VARCHAR, grade BIGINT", STUDENTS),
              "nodes/School": ("school_id BIGINT, name VARCHAR", SCHOOLS),
              "relationships/ENROLLED_IN": ("start_label VARCHAR, start_key VARCHAR, end_label VARCHAR, "
                                            "end_key BIGINT, since BIGINT",
                                            [("Student", s, "School", e, y) for s, e, y in enrolled])}
    for name, (columns, rows) in tables.items():
        path = tmp_path / f"{name}.parquet"
        path.parent.mkdir(parents=True, exist_ok=True)
        con.execute(f"CREATE OR REPLACE TEMP TABLE t ({columns})")
        con.executemany(f"INSERT INTO t VALUES ({', '.join('?' for _ in rows[0])})", rows)
        con.execute(f"COPY t TO '{path}' (FORMAT parquet)")
    nodes = {p.stem: p for p in (tmp_path / "nodes").glob("*.parquet")}
    rels = {p.stem: p for p in (tmp_path / "relationships").glob("*.parquet")}
    return graph_load.plan_sets("sp", nodes, rels, KEYS)


def by_id(sets: list[graph_load.GraphSet]) -> dict[str, graph_load.GraphSet]:
    return {s.id: s for s in sets}


def counts(s: graph_load.GraphSet, *names: str) -> tuple:
    return tuple(s.counts[n] for n in names)


SPLIT = ("rows", "existing", "new", "changed", "unchanged")
ENROLLED_ID = "(Student)-[ENROLLED_IN]->(School)"


def test_classify_splits_new_changed_and_unchanged_nodes_and_relationships(graph, tmp_path):
    sets = by_id(final(tmp_path))
    graph_load.classify(graph, list(sets.values()))
    assert counts(sets["Student"], *SPLIT) == (3, 2, 1, 1, 1)
    assert sets["Student"].conflicts == ["s1", "s2"]
    assert counts(sets["School"], *SPLIT) == (1, 0, 1, 0, 0)
    assert counts(sets[ENROLLED_ID], *SPLIT) == (5, 2, 3, 1, 1)
    assert sets[ENROLLED_ID].conflicts == [{"start": "s1", "end": 10}, {"start": "s2", "end": 10}]


@pytest.mark.parametrize("strategy", ["merge", "upsert"])
def test_apply_writes_only_what_the_strategy_asks_and_undo_restores_cert(graph, tmp_path, strategy):
    before = fingerprint(graph)
    sets = final(tmp_path)
    graph_load.classify(graph, sets)
    for s in sets:
        s.strategy = strategy
    graph_load.apply(graph, sets, RUN, 1, lambda _: None)
    sets = by_id(sets)
    # upsert rewrites the unchanged node and relationship too, with their own values: not updated
    assert counts(sets["Student"], "inserted", "updated", "unchanged") == (1, 1, 1)
    assert counts(sets["School"], "inserted", "updated") == (1, 0)
    assert counts(sets[ENROLLED_ID], "inserted", "updated", "unchanged") == (3, 1, 1)
    assert cypher(graph, "MATCH (s:Student {student_id: 's2'}) RETURN s.grade AS g, s.cert_only AS c") == [
        {"g": 9, "c": True}]
    assert cypher(graph, "MATCH (s:Student)-[r:ENROLLED_IN]->(c:School) RETURN s.student_id AS s, "
                         "c.school_id AS c, r.since AS y ORDER BY s, c") == [
        {"s": s, "c": c, "y": y} for s, c, y in sorted(ENROLLED)]
    undo(graph, RUN, "compensated")
    assert fingerprint(graph) == before


def test_an_end_neither_in_cert_nor_in_the_run_is_refused_at_classify(graph, tmp_path):
    sets = final(tmp_path, ENROLLED + [("s3", 12, 2024)])
    with pytest.raises(MigrationFailed, match=r"store sp: relationship \(Student\)-\[ENROLLED_IN\]->\(School\): "
                                              r"1 rows whose end nodes are neither in CERT nor in the run "
                                              r"\(first: Student 's3' -> School 12\)"):
        graph_load.classify(graph, sets)


@pytest.mark.parametrize("change, message", [
    ("CREATE (:School {school_id: 11})", "label School: nodes appeared in CERT since the conflict check"),
    ("MATCH (a:Student {student_id: 's1'}), (b:School {school_id: 13}) CREATE (a)-[:ENROLLED_IN]->(b)",
     r"relationship \(Student\)-\[ENROLLED_IN\]->\(School\): relationships appeared in CERT since the conflict"),
    ("MATCH (b:School {school_id: 13}) DETACH DELETE b",
     r"relationship \(Student\)-\[ENROLLED_IN\]->\(School\): 1 rows whose end nodes are not in CERT"),
])
def test_changes_made_after_classify_stop_the_batch_that_meets_them(graph, tmp_path, change, message):
    sets = final(tmp_path, [e for e in ENROLLED if e[2] == 2024])  # only new relationships
    graph_load.classify(graph, sets)
    for s in sets:
        s.strategy = "merge" if s.name == "Student" else "insert"
    assert [s.counts["existing"] for s in sets] == [0, 2, 0]
    graph.run(change, "test")
    changed = fingerprint(graph)
    with pytest.raises(MigrationFailed, match="store sp: " + message):
        graph_load.apply(graph, sets, RUN, 1, lambda _: None)
    undo(graph, RUN, "compensated")
    assert fingerprint(graph) == changed


def test_property_values_reach_cert_as_the_driver_sends_python_values(graph, tmp_path):
    """Columns are converted a column at a time (timestamps via pandas where they fit): the
    values in CERT are those a row of Python values gives, zone names and all."""
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    path = tmp_path / "nodes" / "Student.parquet"
    path.parent.mkdir(parents=True)
    con.execute(f"""COPY (SELECT * FROM (VALUES
        ('t1', TIMESTAMPTZ '2024-08-01 07:30:00.123456+00', TIMESTAMP '2024-08-01 07:30:00', 1.50::DECIMAL(4,2),
         ['a', 'b'], {{'x': 1}}, DATE '2024-02-29', uuid '5eed0000-0000-0000-0000-000000000001'),
        ('t2', TIMESTAMPTZ '1500-01-01 00:00:00+00', NULL, NULL, [], NULL, NULL, NULL),
        ('t3', NULL, TIMESTAMP '9999-12-31 23:59:59.999999', 2::DECIMAL(4,2), NULL, NULL, NULL, NULL))
        v(student_id, "at", local_at, gpa, tags, doc, born, ext)) TO '{path}' (FORMAT parquet)""")
    sets = graph_load.plan_sets("sp", {"Student": path}, {}, KEYS)
    graph_load.classify(graph, sets)
    sets[0].strategy = "insert"
    graph_load.apply(graph, sets, RUN, 1, lambda _: None)
    rows = cypher(graph, "MATCH (s:Student) WHERE s.student_id STARTS WITH 't' RETURN s.student_id AS id, "
                         "toString(s.at) AS at, toString(s.local_at) AS local_at, s.gpa AS gpa, s.tags AS tags, "
                         "s.doc AS doc, toString(s.born) AS born, s.ext AS ext, keys(s) AS k ORDER BY id")
    assert rows == [
        {"id": "t1", "at": "2024-08-01T07:30:00.123456Z[UTC]", "local_at": "2024-08-01T07:30:00", "gpa": 1.5,
         "tags": ["a", "b"], "doc": '{"x": 1}', "born": "2024-02-29", "ext": "5eed0000-0000-0000-0000-000000000001",
         "k": rows[0]["k"]},
        {"id": "t2", "at": "1500-01-01T00:00:00Z[UTC]", "local_at": None, "gpa": None, "tags": [], "doc": None,
         "born": None, "ext": None, "k": rows[1]["k"]},
        {"id": "t3", "at": None, "local_at": "9999-12-31T23:59:59.999999", "gpa": 2.0, "tags": None, "doc": None,
         "born": None, "ext": None, "k": rows[2]["k"]}]
    assert sorted(rows[1]["k"]) == ["at", "student_id", "tags"]  # a NULL is no property at all
    # Loading the same rows again finds every one unchanged: the comparison sees equal values.
    again = graph_load.plan_sets("sp", {"Student": path}, {}, KEYS)
    graph_load.classify(graph, again)
    assert counts(again[0], "existing", "unchanged") == (3, 3)


def test_a_value_is_unchanged_only_as_the_same_type_and_the_same_float(graph, tmp_path):
    """Classify compared `x[p] <> row.p[p]`: NaN <> NaN is true, so a node holding NaN counted as
    changed (and a merge rewrote and imaged it) on every load, while 1 = 1.0 and 0.0 = -0.0 are
    true, so a merge left CERT's integer or unsigned zero where the final has another value."""
    cypher(graph, "CREATE (:Student {student_id: 'f1', score: 0.0 / 0.0, scores: [1.5, 0.0 / 0.0]}), "
                  "(:Student {student_id: 'f2', score: 1, scores: [1, 2]}), "
                  "(:Student {student_id: 'f3', score: 0.0, scores: [0.0]}), "
                  "(:Student {student_id: 'f4', score: 2.5, scores: [2.5]})")
    path = tmp_path / "nodes" / "Student.parquet"
    path.parent.mkdir(parents=True)
    duckdb.connect().execute(f"""COPY (SELECT * FROM (VALUES
        ('f1', 'nan'::DOUBLE, [1.5, 'nan'::DOUBLE]), ('f2', 1.0::DOUBLE, [1.0, 2.0]::DOUBLE[]),
        ('f3', '-0.0'::DOUBLE, ['-0.0'::DOUBLE]), ('f4', 2.5::DOUBLE, [2.5]::DOUBLE[]))
        v(student_id, score, scores)) TO '{path}' (FORMAT parquet)""")

    def classified(strategy=None):
        sets = graph_load.plan_sets("sp", {"Student": path}, {}, KEYS)
        graph_load.classify(graph, sets)
        if strategy:
            sets[0].strategy = strategy
            graph_load.apply(graph, sets, RUN, 1, lambda _: None)
        return sets[0]

    assert counts(classified("merge"), "existing", "changed", "unchanged") == (4, 2, 2)  # f2, f3 changed
    rows = cypher(graph, "MATCH (s:Student) WHERE s.student_id IN ['f2', 'f3'] RETURN s.student_id AS id, "
                         "valueType(s.score) AS t, toString(s.score) AS v, valueType(s.scores) AS lt, "
                         "[x IN s.scores | toString(x)] AS lv ORDER BY id")
    floats = {"t": "FLOAT NOT NULL", "lt": "LIST<FLOAT NOT NULL> NOT NULL"}
    assert rows == [{"id": "f2", "v": "1.0", "lv": ["1.0", "2.0"], **floats},
                    {"id": "f3", "v": "-0.0", "lv": ["-0.0"], **floats}]
    assert counts(classified(), "existing", "changed", "unchanged") == (4, 0, 4)  # as the merge left them
    undo(graph, RUN, "rolled_back")  # CERT's own values back, the integers and the unsigned zero too
    rows = cypher(graph, "MATCH (s:Student) WHERE s.student_id IN ['f2', 'f3'] RETURN s.student_id AS id, "
                         "valueType(s.score) AS t, toString(s.score) AS v ORDER BY id")
    assert rows == [{"id": "f2", "t": "INTEGER NOT NULL", "v": "1"}, {"id": "f3", "t": "FLOAT NOT NULL", "v": "0.0"}]


def test_the_undo_counts_an_image_as_restored_only_when_a_value_changed_back(graph, tmp_path):
    """The undo counted `properties(x) <> image`: a NaN the upsert rewrote with the NaN it held
    was counted restored, and -0.0 put back over the run's 0.0 was counted unchanged."""
    cypher(graph, "CREATE (:Student {student_id: 'g1', score: 0.0 / 0.0}), "
                  "(:Student {student_id: 'g2', score: 0.0 / 0.0}), (:Student {student_id: 'g3', score: -0.0})")
    before = fingerprint(graph)
    path = tmp_path / "nodes" / "Student.parquet"
    path.parent.mkdir(parents=True)
    duckdb.connect().execute(f"COPY (SELECT * FROM (VALUES ('g1', 'nan'::DOUBLE), ('g2', 'nan'::DOUBLE), "
                             f"('g3', 0.0::DOUBLE)) v(student_id, score)) TO '{path}' (FORMAT parquet)")
    sets = graph_load.plan_sets("sp", {"Student": path}, {}, KEYS)
    graph_load.classify(graph, sets)
    sets[0].strategy = "upsert"  # images every node it finds
    graph_load.apply(graph, sets, RUN, 1, lambda _: None)
    assert cypher(graph, "MATCH (s:Student {student_id: 'g3'}) RETURN toString(s.score) AS v") == [{"v": "0.0"}]
    counts = undo(graph, RUN, "rolled_back")
    assert (counts["nodes_restored"], counts["nodes_unchanged"]) == (1, 2)
    assert fingerprint(graph) == before
