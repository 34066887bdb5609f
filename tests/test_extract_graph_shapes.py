"""The extract's graph slice of shapes the shipped graph lacks, on a Neo4j 5 server of this
module's own (emptied and refilled by each test), read with the shipped config's graph rules."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import neo4j
import pyarrow.parquet as pq
import pytest

import _pg_cluster
from datamig.errors import MigrationFailed
from test_analyze import _wait_for

ROOT = Path(__file__).resolve().parents[1]
PASSWORD = "Shapes-Neo-Pw-do-not-print"


@pytest.fixture(scope="module")
def graph(tmp_path_factory):
    server = pytest.importorskip("datamig.services.neo4j_server")
    home = tmp_path_factory.mktemp("neo4j")
    port = _pg_cluster.free_port()
    pid = server.start(ROOT, home, port, PASSWORD, home / "neo4j.log")
    try:
        url = f"bolt://127.0.0.1:{port}"
        with neo4j.GraphDatabase.driver(url, auth=("neo4j", PASSWORD)) as driver:
            _wait_for(driver)
        yield url
    finally:
        server.stop(pid)


def _fill(url: str, *cypher: str) -> None:
    with neo4j.GraphDatabase.driver(url, auth=("neo4j", PASSWORD)) as driver:
        driver.execute_query("MATCH (n) DETACH DELETE n")
        for statement in cypher:
            driver.execute_query(statement)


def _slice(cfg, url: str, out: Path) -> dict:
    """extract's graph slice of district 1, through the Parquet writer."""
    from datamig.extract import run as extract_run

    env = {cfg.stores[cfg.graph.store].prod_env: url, "PROD_SP_PASSWORD": PASSWORD}
    return extract_run._slice_graph(cfg, env, 1, out)


@pytest.mark.parametrize("cypher, named", [
    # one chunk: a grade 'K' beside grade 5
    ("CREATE (d:District {district_id: 1}), (:School {school_id: 10, grade: 'K'})-[:BELONGS_TO]->(d), "
     "(:School {school_id: 11, grade: 5})-[:BELONGS_TO]->(d)",
     "label School: property 'grade' holds values of different types (integer, string)"),
    ("CREATE (d:District {district_id: 1}), (:School {school_id: 10})-[:BELONGS_TO {since: 2020}]->(d), "
     "(:School {school_id: 11})-[:BELONGS_TO {since: '2021'}]->(d)",
     "relationship type BELONGS_TO: property 'since' holds values of different types (integer, string)"),
    ("CREATE (d:District {district_id: 1}), (:School {school_id: 10, tags: [1]})-[:BELONGS_TO]->(d), "
     "(:School {school_id: 11, tags: ['a']})-[:BELONGS_TO]->(d)",
     "label School: property 'tags' holds values of different types (list of integer, list of string)"),
    # two chunks (graph_slice.BATCH nodes each): integers in the first, strings after
    ("CREATE (d:District {district_id: 1}) WITH d UNWIND range(1, 10050) AS i "
     "CREATE (:School {school_id: i, grade: CASE WHEN i < 10000 THEN i ELSE 'K' END})-[:BELONGS_TO]->(d)",
     "label School: property 'grade' holds values of different types (int64, string)"),
])
def test_a_property_of_two_types_is_one_line_naming_it(graph, cfg, tmp_path, cypher, named):
    """pyarrow's traceback (ArrowTypeError: Expected bytes, got a 'int' object), naming nothing."""
    _fill(graph, cypher)
    with pytest.raises(MigrationFailed) as err:
        _slice(dataclasses.replace(cfg, out_dir=tmp_path), graph, tmp_path / "extract")
    message = str(err.value)
    assert "\n" not in message and message.startswith("graph store sp: ") and named in message, message
    assert PASSWORD not in message


def test_properties_whose_names_differ_only_in_case_are_one_line_naming_them(graph, cfg, tmp_path):
    """DuckDB, which orders and writes the rows, does not tell 'Name' from 'name': it was
    pyarrow's 'field names are not matching' traceback."""
    _fill(graph, "CREATE (d:District {district_id: 1}), (:School {school_id: 10, Name: 'A', name: 'a'})"
                 "-[:BELONGS_TO]->(d)")
    with pytest.raises(MigrationFailed) as err:
        _slice(dataclasses.replace(cfg, out_dir=tmp_path), graph, tmp_path / "extract")
    assert str(err.value) == ("graph store sp: label School: properties 'Name' and 'name' differ only in case, "
                              "which DuckDB does not tell apart; rename one in PROD")


def test_a_list_property_empty_on_every_node_lands_as_empty_lists(graph, cfg, tmp_path):
    """Items of no type: DuckDB handed the column back as INTEGER[], and the extract stopped
    ('Unsupported cast from int32 to null')."""
    _fill(graph, "CREATE (d:District {district_id: 1}), (:School {school_id: 10, tags: []})-[:BELONGS_TO]->(d), "
                 "(:School {school_id: 11, tags: []})-[:BELONGS_TO]->(d)")
    out = tmp_path / "extract"
    graph_manifest = _slice(dataclasses.replace(cfg, out_dir=tmp_path), graph, out)
    rows = pq.read_table(out / graph_manifest["nodes"]["School"]["path"]).to_pylist()
    assert rows == [{"school_id": 10, "_labels": None, "tags": []}, {"school_id": 11, "_labels": None, "tags": []}]


MULTI_LABEL = ("CREATE (d:District {district_id: 1}), (s:School {school_id: 10})-[:BELONGS_TO]->(d), "
               "(:Staff:Teacher {staff_id: 5})-[:WORKS_FOR]->(s), (:Staff {staff_id: 6})-[:WORKS_FOR]->(s), "
               "(:Student:Active:`Odd ``label`` x` {student_id: 7})-[:ENROLLED_IN]->(s), "
               "(:Student {student_id: 8})-[:ENROLLED_IN]->(s), (:Archived {x: 1})")


def test_a_nodes_other_labels_land_beside_its_properties(graph, cfg, tmp_path):
    """A node landed in its key label's file with that label alone: `:Staff:Teacher` reached
    CERT as `:Staff`. The others travel sorted in `_labels` (NULL for a node with none); a
    label of the graph no node of the slice has (Archived) is in none."""
    _fill(graph, MULTI_LABEL)
    out = tmp_path / "extract"
    graph_manifest = _slice(dataclasses.replace(cfg, out_dir=tmp_path), graph, out)

    def rows(label, key):
        table = pq.read_table(out / graph_manifest["nodes"][label]["path"], columns=[key, "_labels"])
        return table.to_pylist()

    assert rows("Staff", "staff_id") == [{"staff_id": 5, "_labels": ["Teacher"]},
                                         {"staff_id": 6, "_labels": None}]
    assert rows("Student", "student_id") == [{"student_id": 7, "_labels": ["Active", "Odd `label` x"]},
                                             {"student_id": 8, "_labels": None}]
    assert rows("School", "school_id") == [{"school_id": 10, "_labels": None}]
    assert graph_manifest["nodes"]["School"]["columns"][0:2] == [{"name": "school_id", "type": "int64"},
                                                                 {"name": "_labels", "type": "list<item: string>"}]


def test_a_label_first_used_while_the_slice_is_read_reads_it_again(graph, cfg):
    """A label put on a node already read is not in its row: the read is one of a changed graph."""
    from datamig.extract.graph_slice import extract_subgraph

    _fill(graph, MULTI_LABEL)
    added = []

    def sink(kind, name, table):
        if not added:
            _write(graph, "MATCH (n:Staff {staff_id: 6}) SET n:Substitute")
            added.append(name)
    sub = extract_subgraph(graph, "neo4j", PASSWORD, cfg.graph, 1, sink=sink)
    assert added and sub.labels_changed and not sub.orphans
    assert not extract_subgraph(graph, "neo4j", PASSWORD, cfg.graph, 1, sink=sink).labels_changed


def _write(url: str, cypher: str) -> None:
    with neo4j.GraphDatabase.driver(url, auth=("neo4j", PASSWORD)) as driver:
        driver.execute_query(cypher)


def test_a_property_named_like_the_labels_column_is_one_line_naming_it(graph, cfg, tmp_path):
    _fill(graph, "CREATE (d:District {district_id: 1}), (:School {school_id: 10, _labels: 'x'})-[:BELONGS_TO]->(d)")
    with pytest.raises(MigrationFailed) as err:
        _slice(dataclasses.replace(cfg, out_dir=tmp_path), graph, tmp_path / "extract")
    assert str(err.value) == ("graph store sp: label School: property '_labels' has the name of the column that "
                              "carries a node's other labels; rename it in PROD")


TWO_KEY_LABELS = ("CREATE (d:District {district_id: 1}), (s:School {school_id: 10})-[:BELONGS_TO]->(d), "
                  "(:Staff {staff_id: 5, email: 'a@x.test'})-[:WORKS_FOR]->(s), "
                  "(:Guardian:Staff {guardian_id: 2, staff_id: 7, email: 'g@x.test', relation: 'aunt'})"
                  "-[:WORKS_FOR]->(s)")


def test_a_node_with_two_key_labels_is_its_key_label_s_columns_only(graph, cfg, tmp_path):
    """A :Guardian:Staff node is keyed, written and loaded as Guardian. Its properties were
    given to Staff too: introspection made guardian_id and relation columns of Staff, and the
    extract's first guess of Staff's columns took them from it, a column of nulls alone that
    stopped the extract ('Unsupported cast from int32 to null')."""
    from datamig.analyze.graph_keys import keyed_properties
    from datamig.analyze.neo4j_introspect import introspect_neo4j

    _fill(graph, TWO_KEY_LABELS)
    store = cfg.stores[cfg.graph.store]
    estate = introspect_neo4j(store, graph, "neo4j", PASSWORD)
    keyed = keyed_properties(estate.label_sets, cfg.graph.node_keys)
    assert keyed["Staff"] == {"email": "text", "staff_id": "bigint"}
    assert keyed["Guardian"] == {"email": "text", "guardian_id": "bigint", "relation": "text", "staff_id": "bigint"}
    out = tmp_path / "extract"
    graph_manifest = _slice(dataclasses.replace(cfg, out_dir=tmp_path), graph, out)
    for label, entry in graph_manifest["nodes"].items():       # the files hold what the models will
        assert set(pq.read_schema(out / entry["path"]).names) == {*keyed[label], "_labels"}, label
    rows = pq.read_table(out / graph_manifest["nodes"]["Guardian"]["path"]).to_pylist()
    assert rows == [{"guardian_id": 2, "_labels": ["Staff"], "email": "g@x.test", "relation": "aunt", "staff_id": 7}]


def test_a_property_typed_apart_on_two_label_sets_is_text(graph, cfg):
    """The type of the label set read last won: a date on :Staff and a string on :Staff:Teacher
    made Staff's column `date` (Neo4j lists :Staff last), which the strings do not fit."""
    from datamig.analyze.neo4j_introspect import introspect_neo4j

    _fill(graph, "CREATE (:Staff {staff_id: 1, hired: date('2020-01-01')}), (:Staff:Teacher {staff_id: 2, hired: 'x'})")
    estate = introspect_neo4j(cfg.stores[cfg.graph.store], graph, "neo4j", PASSWORD)
    assert estate.labels["Staff"].property_types == {"hired": "text", "staff_id": "bigint"}
    assert estate.labels["Teacher"].property_types == {"hired": "text", "staff_id": "bigint"}


def test_a_property_only_other_districts_hold_is_a_column_of_typed_nulls(graph, cfg, tmp_path):
    """The models select every property of the whole graph. One the district's nodes lack was
    pyarrow's traceback ('Unsupported cast from int32 to null') when a chunk read it from another
    district's node, and a missing column (the drift gate's refusal) when none did."""
    from datamig.analyze.neo4j_introspect import graph_property_types

    _fill(graph, "CREATE (d:District {district_id: 1}), (:School {school_id: 10})-[:BELONGS_TO]->(d), "
                 "(:School {school_id: 11})-[:BELONGS_TO]->(d), (d2:District {district_id: 2}), "
                 "(:School {school_id: 20, nickname: 5, opened: date('2020-01-01')})-[:BELONGS_TO {since: 3}]->(d2), "
                 "(:School:Charter {school_id: 30, charter_no: 'C-1'})-[:BELONGS_TO]->(d2)")
    _slice(dataclasses.replace(cfg, out_dir=tmp_path), graph, tmp_path / "extract")
    schools = pq.read_table(tmp_path / "extract" / "sp" / "nodes" / "School.parquet")
    assert {f.name: str(f.type) for f in schools.schema if f.name != "_labels"} == {
        "school_id": "int64", "nickname": "int64", "opened": "date32[day]", "charter_no": "string"}
    assert schools.to_pylist() == [{"school_id": s, "_labels": None, "nickname": None, "opened": None,
                                    "charter_no": None} for s in (10, 11)]
    belongs = pq.read_table(tmp_path / "extract" / "sp" / "relationships" / "BELONGS_TO.parquet")
    assert str(belongs.schema.field("since").type) == "int64" and belongs.column("since").null_count == 2
    # what the preflight and the drift gate compare the models with: the whole graph's properties
    nodes, rels = graph_property_types(cfg.stores["sp"], graph, "neo4j", PASSWORD, cfg.graph.node_keys)
    assert set(schools.schema.names) == {*nodes["School"], "_labels"}
    assert set(belongs.schema.names) == {*rels["BELONGS_TO"], "start_label", "start_key", "end_label", "end_key"}


@pytest.mark.parametrize("value, kind", [
    ("point({x: 1.5, y: 2.0})", "point"), ("[point({latitude: 45.0, longitude: 7.0})]", "point"),
    ("duration('P1M2DT3S')", "duration"), ("time('12:30:00+01:00')", "time-with-offset"),
])
def test_a_property_parquet_would_retype_is_one_line_naming_it(graph, cfg, tmp_path, value, kind):
    """A point landed as a list of numbers, a duration as a list of integers and a zoned time
    as a local one: CERT got other types than PROD holds, without a word."""
    _fill(graph, f"CREATE (d:District {{district_id: 1}}), (:School {{school_id: 10, spot: {value}}})"
                 f"-[:BELONGS_TO]->(d), (:School {{school_id: 11}})-[:BELONGS_TO]->(d)")
    with pytest.raises(MigrationFailed) as err:
        _slice(dataclasses.replace(cfg, out_dir=tmp_path), graph, tmp_path / "extract")
    assert str(err.value).startswith(f"graph store sp: label School: property 'spot' holds {kind} values, "
                                     f"which datamig cannot carry"), err.value


def test_a_local_time_property_lands_as_a_time(graph, cfg, tmp_path):
    import datetime

    _fill(graph, "CREATE (d:District {district_id: 1}), (:School {school_id: 10, bell: localtime('08:15:30')})"
                 "-[:BELONGS_TO]->(d), (:School {school_id: 11})-[:BELONGS_TO]->(d)")
    out = tmp_path / "extract"
    graph_manifest = _slice(dataclasses.replace(cfg, out_dir=tmp_path), graph, out)
    rows = pq.read_table(out / graph_manifest["nodes"]["School"]["path"]).to_pylist()
    assert [r["bell"] for r in rows] == [datetime.time(8, 15, 30), None]


# district 1's Schools lack school_id, their key (graph.node_keys); district 2's School holds it
KEYLESS = ("CREATE (d:District {district_id: 1}), (:School {name: 'A'})-[:BELONGS_TO]->(d), "
           "(:School {name: 'B'})-[:BELONGS_TO]->(d), (d2:District {district_id: 2}), "
           "(:School {school_id: 20, name: 'C'})-[:BELONGS_TO]->(d2)")


@pytest.mark.parametrize("more, said", [
    # only another district's node held the key: the key column had no type, and was pyarrow's
    # traceback ('Unsupported cast from int32 to null')
    ((), "2 of district 1's 2 nodes lack their"),
    # the load refused the node without its key, after the extract and the transform
    (("MATCH (s:School {name: 'B'}) SET s.school_id = 11",), "1 of district 1's 2 nodes lacks its"),
])
def test_nodes_of_the_district_without_their_key_are_one_line_naming_it(graph, cfg, tmp_path, more, said):
    _fill(graph, KEYLESS, *more)
    out = tmp_path / "extract"
    with pytest.raises(MigrationFailed) as err:
        _slice(dataclasses.replace(cfg, out_dir=tmp_path), graph, out)
    assert str(err.value) == (f"graph store sp: label School: {said} key property 'school_id' (graph.node_keys), "
                              "by which the load matches nodes; give them one in PROD")
    assert not (out / "sp" / "nodes" / "School.parquet").exists()
