"""The analyze phase against a real PostgreSQL 15 cluster (and Neo4j when its launcher exists)."""
from __future__ import annotations

import json
import time
from pathlib import Path

import neo4j
import psycopg
import pytest

import _pg_cluster
from datamig.analyze.dependency import (
    DEFER, LOGICAL, NULLIFY, SINGLE_STATEMENT, links_to_foreign_keys, plan_dependencies,
)
from datamig.analyze.model import Estate, ForeignKey
from datamig.analyze.neo4j_introspect import introspect_neo4j
from datamig.analyze.pg_introspect import connect_read_only, introspect_postgres
from datamig.analyze.run import analyze, summary_table
from datamig.config import Link, StoreConfig, load_config
from datamig.errors import ConfigError, ConnectionFailed

# Structures the tests assert on, built by hand so no estate knowledge hides in the code.
IDS_SQL = """
CREATE TABLE districts (id int PRIMARY KEY, name text NOT NULL);
CREATE TABLE settings (key text PRIMARY KEY, value text);
CREATE TABLE legacy_codes (code text PRIMARY KEY);
CREATE TABLE schools (
    id int PRIMARY KEY,
    district_id int NOT NULL REFERENCES districts (id),
    principal_id int,
    code text NOT NULL,
    CONSTRAINT schools_code_uq UNIQUE (district_id, code)
);
CREATE TABLE staff (
    id int PRIMARY KEY,
    school_id int NOT NULL REFERENCES schools (id),
    manager_id int CONSTRAINT staff_manager_fk REFERENCES staff (id),
    email text
);
CREATE UNIQUE INDEX staff_email_idx ON staff (email);
ALTER TABLE schools ADD CONSTRAINT schools_principal_fk FOREIGN KEY (principal_id) REFERENCES staff (id);
CREATE TABLE terms (
    year int NOT NULL,
    school_id int NOT NULL REFERENCES schools (id),
    term_no int NOT NULL,
    label text,
    PRIMARY KEY (year, school_id, term_no)
);
CREATE TABLE sections (
    id int PRIMARY KEY,
    legacy text,
    term_no int NOT NULL,
    term_year int NOT NULL,
    term_school int NOT NULL,
    CONSTRAINT sections_term_fk FOREIGN KEY (term_school, term_no, term_year)
        REFERENCES terms (school_id, term_no, year)
);
ALTER TABLE sections DROP COLUMN legacy;
CREATE TABLE enrollments (
    id bigint PRIMARY KEY,
    section_id int NOT NULL,
    student_name varchar(80),
    tags text[],
    amount numeric(10, 2),
    reason_code text CONSTRAINT enrollments_reason_fk REFERENCES legacy_codes (code),
    CONSTRAINT enrollments_section_fk FOREIGN KEY (section_id) REFERENCES sections (id)
        DEFERRABLE INITIALLY DEFERRED
);
CREATE TABLE audit_log (id bigserial PRIMARY KEY, district_id int REFERENCES districts (id), msg text);
CREATE TABLE attendance (
    school_id int NOT NULL REFERENCES schools (id), day date NOT NULL, present int,
    PRIMARY KEY (school_id, day)
) PARTITION BY RANGE (day);
CREATE TABLE attendance_2024 PARTITION OF attendance FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
CREATE VIEW school_codes AS SELECT id, code FROM schools;

INSERT INTO districts VALUES (1, 'North'), (2, 'South'), (3, 'East');
INSERT INTO schools VALUES (10, 1, NULL, 'A'), (11, 1, NULL, 'B');
INSERT INTO staff VALUES (100, 10, NULL, 'a@x'), (101, 10, 100, 'b@x');
UPDATE schools SET principal_id = 100 WHERE id = 10;
INSERT INTO attendance SELECT 10, d::date, 1 FROM generate_series('2024-01-01'::date, '2024-01-05', '1 day') d;
ANALYZE schools;

-- A second schema: a NOT NULL cycle (unbreakable), a deferrable-only cycle, an FK out of the schema.
CREATE SCHEMA loop;
CREATE TABLE loop.a (id int PRIMARY KEY, b_id int NOT NULL);
CREATE TABLE loop.b (id int PRIMARY KEY, a_id int NOT NULL CONSTRAINT b_a_fk REFERENCES loop.a (id));
ALTER TABLE loop.a ADD CONSTRAINT a_b_fk FOREIGN KEY (b_id) REFERENCES loop.b (id);
CREATE TABLE loop.c (id int PRIMARY KEY, a_id int NOT NULL CONSTRAINT c_a_fk REFERENCES loop.a (id), d_id int NOT NULL);
CREATE TABLE loop.d (id int PRIMARY KEY, c_id int NOT NULL CONSTRAINT d_c_fk REFERENCES loop.c (id) DEFERRABLE);
ALTER TABLE loop.c ADD CONSTRAINT c_d_fk FOREIGN KEY (d_id) REFERENCES loop.d (id) DEFERRABLE INITIALLY DEFERRED;
CREATE TABLE loop.outside (id int PRIMARY KEY, district_id int CONSTRAINT outside_fk REFERENCES public.districts (id));
"""

HCP1_SQL = "CREATE TABLE health_records (id int PRIMARY KEY, staff_ref int NOT NULL, note text);"

PASSWORD = "S3cr3t-Pw-do-not-print"


def _store(name: str, schema: str = "public") -> StoreConfig:
    return StoreConfig(name=name, kind="postgres", prod_env=f"PROD_{name.upper()}_URL",
                       cert_env=f"CERT_{name.upper()}_URL", schema=schema)


@pytest.fixture(scope="session")
def pg():
    with _pg_cluster.running({"ids": IDS_SQL, "hcp1": HCP1_SQL}) as cluster:
        yield cluster


@pytest.fixture(scope="session")
def ids(pg):
    tables, fks = introspect_postgres(_store("ids"), pg.url("ids"))
    return {t.id: t for t in tables}, {fk.name: fk for fk in fks}


@pytest.fixture(scope="session")
def loop(pg):
    tables, fks = introspect_postgres(_store("lp", "loop"), pg.url("ids"))
    return {t.id: t for t in tables}, {fk.name: fk for fk in fks}


# --- introspection --------------------------------------------------------------------

def test_tables_are_ordinary_and_partitioned_only(ids):
    tables, _ = ids
    assert set(tables) == {f"ids.{n}" for n in (
        "districts", "settings", "legacy_codes", "schools", "staff", "terms", "sections",
        "enrollments", "audit_log", "attendance")}  # no partition, no view, no other schema
    assert all(t.schema == "public" and t.store == "ids" for t in tables.values())


def test_columns_types_nullability_and_order(ids):
    tables, _ = ids
    enr = tables["ids.enrollments"]
    assert [(c.name, c.data_type, c.nullable) for c in enr.columns] == [
        ("id", "bigint", False), ("section_id", "integer", False),
        ("student_name", "character varying(80)", True), ("tags", "text[]", True),
        ("amount", "numeric(10,2)", True), ("reason_code", "text", True)]
    sections = tables["ids.sections"]
    assert [c.name for c in sections.columns] == ["id", "term_no", "term_year", "term_school"]
    ordinals = [c.ordinal for c in sections.columns]
    assert ordinals == sorted(ordinals) and len(set(ordinals)) == len(ordinals)


def test_primary_and_unique_keys_keep_column_order(ids):
    tables, _ = ids
    assert tables["ids.terms"].primary_key == ("year", "school_id", "term_no")
    assert tables["ids.attendance"].primary_key == ("school_id", "day")
    assert tables["ids.schools"].unique_keys == [("district_id", "code")]
    assert tables["ids.staff"].unique_keys == [("email",)]  # a unique index, no constraint
    assert tables["ids.settings"].primary_key == ("key",)


def test_composite_fk_pairs_columns_by_position(ids):
    _, fks = ids
    fk = fks["sections_term_fk"]
    assert (fk.child, fk.parent) == ("ids.sections", "ids.terms")
    assert fk.columns == ("term_school", "term_no", "term_year")
    assert fk.ref_columns == ("school_id", "term_no", "year")
    assert fk.declared and not fk.nullable and not fk.deferrable


def test_fk_flags(ids):
    _, fks = ids
    assert fks["enrollments_section_fk"].deferrable and not fks["enrollments_section_fk"].nullable
    assert fks["schools_principal_fk"].nullable and not fks["schools_principal_fk"].deferrable
    assert fks["staff_manager_fk"].parent == fks["staff_manager_fk"].child == "ids.staff"
    # The partitioned table's FK is reported once, not once per partition.
    assert [fk.child for fk in fks.values()].count("ids.attendance") == 1
    assert not any(fk.child == "ids.settings" for fk in fks.values())


def test_row_estimates_and_sizes(ids):
    tables, _ = ids
    assert tables["ids.districts"].row_estimate == 3   # never analyzed: counted
    assert tables["ids.schools"].row_estimate == 2     # analyzed: reltuples
    assert tables["ids.attendance"].row_estimate == 5  # partitioned parent: counted
    assert tables["ids.settings"].row_estimate == 0
    assert tables["ids.attendance"].size_bytes > 0     # summed over its partitions
    assert all(t.size_bytes > 0 for t in tables.values())


def test_session_is_read_only(pg):
    with connect_read_only(_store("ids"), pg.url("ids")) as conn:
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
            conn.execute("CREATE TABLE should_not_exist (id int)")


def test_fk_to_another_schema_keeps_the_schema(loop):
    _, fks = loop
    assert fks["outside_fk"].ref_table == "public.districts"


# --- connection errors ----------------------------------------------------------------

def test_unreachable_store_names_store_and_host_not_password():
    port = _pg_cluster.free_port()  # nothing listens there
    url = f"postgresql://admin:{PASSWORD}@127.0.0.1:{port}/ids"
    with pytest.raises(ConnectionFailed) as err:
        introspect_postgres(_store("ids"), url)
    message = str(err.value)
    assert "ids" in message and f"127.0.0.1:{port}" in message
    assert PASSWORD not in message and "\n" not in message


def test_extract_snapshot_names_the_same_way_with_the_reason():
    """The extract's snapshot connection fails with the same line as introspection (pg_address):
    store, host:port and libpq's reason, never the password."""
    from datamig.extract.pg_snapshot import snapshot

    port = _pg_cluster.free_port()
    url = f"postgresql://reader:{PASSWORD}@127.0.0.1:{port}/hcp1"
    with pytest.raises(ConnectionFailed) as err, snapshot("hcp1", url):
        pass
    message = str(err.value)
    assert message.startswith(f"store hcp1: cannot connect to PostgreSQL at 127.0.0.1:{port}: ")
    assert "refused" in message.lower() and PASSWORD not in message and "\n" not in message


def test_refused_database_does_not_leak_password(pg):
    url = pg.url("no_such_db", password=PASSWORD)
    with pytest.raises(ConnectionFailed) as err:
        introspect_postgres(_store("hcp9"), url)
    message = str(err.value)
    assert "hcp9" in message and f"127.0.0.1:{pg.port}" in message and "no_such_db" in message
    assert PASSWORD not in message


# --- dependency graph -----------------------------------------------------------------

def _assert_parents_first(plan, fks):
    position = {t: i for i, t in enumerate(plan.order)}
    broken = plan.broken_fks()
    # No order satisfies an unbreakable cycle; it is reported instead.
    stuck = [set(c.members) for c in plan.cycles if not c.breakable]
    for fk in fks:
        if any({fk.child, fk.parent} <= s for s in stuck):
            continue
        if fk.child != fk.parent and fk.name not in broken and fk.parent in position:
            assert position[fk.parent] < position[fk.child], fk.name


def test_cycle_breaks_the_nullable_fk_and_notes_the_self_reference(ids):
    tables, fks = ids
    plan = plan_dependencies(tables, fks.values())
    assert [c.members for c in plan.cycles] == [("ids.schools", "ids.staff")]
    cycle = plan.cycles[0]
    assert [(b.fk.name, b.method) for b in cycle.breaks] == [("schools_principal_fk", NULLIFY)]
    assert [(b.fk.name, b.method) for b in cycle.self_references] == [("staff_manager_fk", NULLIFY)]
    assert cycle.breakable


def test_load_order_puts_parents_first(ids):
    tables, fks = ids
    plan = plan_dependencies(tables, fks.values())
    assert sorted(plan.order) == sorted(tables)
    _assert_parents_first(plan, fks.values())
    assert plan.order.index("ids.schools") + 1 == plan.order.index("ids.staff")  # cycle contiguous


def test_not_null_cycle_is_unbreakable_and_deferrable_cycle_is_deferred(loop):
    tables, fks = loop
    plan = plan_dependencies(tables, fks.values())
    by_members = {c.members: c for c in plan.cycles}
    assert set(by_members) == {("lp.a", "lp.b"), ("lp.c", "lp.d")}
    assert not by_members[("lp.a", "lp.b")].breakable
    assert by_members[("lp.a", "lp.b")].breaks == []
    deferred = by_members[("lp.c", "lp.d")]
    assert deferred.breakable and [b.method for b in deferred.breaks] == [DEFER]
    # Both FKs defer equally well: the tie is broken by name so the plan is stable.
    assert [b.fk.name for b in deferred.breaks] == ["c_d_fk"]
    assert plan.order.index("lp.a") < plan.order.index("lp.c")
    _assert_parents_first(plan, fks.values())


def _fk(name, child, parent, nullable=False, deferrable=False, declared=True):
    s, t = child.split(".")
    rs, rt = parent.split(".")
    return ForeignKey(name, s, t, ("x",), rs, rt, ("id",), nullable, deferrable, declared)


def test_three_table_cycle_prefers_link_then_nullable():
    fks = [_fk("ab", "s.a", "s.b"), _fk("bc", "s.b", "s.c", nullable=True),
           _fk("ca", "s.c", "s.a", declared=False)]
    plan = plan_dependencies(["s.a", "s.b", "s.c", "s.d"], fks)
    assert [(b.fk.name, b.method) for b in plan.cycles[0].breaks] == [("ca", LOGICAL)]
    assert plan.order == ["s.c", "s.b", "s.a", "s.d"]
    _assert_parents_first(plan, fks)


def test_edge_with_a_not_null_fk_cannot_be_broken_by_its_nullable_sibling():
    fks = [_fk("ab1", "s.a", "s.b", nullable=True), _fk("ab2", "s.a", "s.b"),
           _fk("ba", "s.b", "s.a", nullable=True)]
    plan = plan_dependencies(["s.a", "s.b"], fks)
    assert [b.fk.name for b in plan.cycles[0].breaks] == ["ba"]
    assert plan.order == ["s.b", "s.a"]


def test_lone_self_reference_is_noted_not_broken():
    fks = [_fk("tree", "s.a", "s.a", nullable=True), _fk("strict", "s.b", "s.b"), _fk("ab", "s.a", "s.b")]
    plan = plan_dependencies(["s.a", "s.b"], fks)
    assert [c.members for c in plan.cycles] == [("s.a",), ("s.b",)]
    assert all(c.breakable and c.breaks == [] for c in plan.cycles)
    # NOT NULL and not deferrable still loads: PostgreSQL checks it at the end of the statement.
    assert [[b.method for b in c.self_references] for c in plan.cycles] == [[NULLIFY], [SINGLE_STATEMENT]]
    assert plan.order == ["s.b", "s.a"]


def test_link_to_missing_column_or_table_is_a_config_error(ids):
    tables, _ = ids
    bad_col = Link("ids", "staff", ("nope",), "ids", "schools", ("id",), "ids.staff.nope -> ids.schools.id")
    with pytest.raises(ConfigError, match="ids.staff.nope -> ids.schools.id.*no column 'nope'"):
        links_to_foreign_keys([bad_col], tables)
    bad_table = Link("ids", "staff", ("id",), "ids", "ghosts", ("id",), "ids.staff.id -> ids.ghosts.id")
    with pytest.raises(ConfigError, match="ids.ghosts not found"):
        links_to_foreign_keys([bad_table], tables)


# --- the whole phase ------------------------------------------------------------------

CONFIG = """
version: 1
stores:
  ids:  {kind: postgres, prod_env: PROD_IDS_URL,  cert_env: CERT_IDS_URL}
  hcp1: {kind: postgres, prod_env: PROD_HCP1_URL, cert_env: CERT_HCP1_URL}
district: {store: ids, table: districts, key: id}
links:
  - "hcp1.health_records.staff_ref -> ids.staff.id"
exclude_tables: [ids.audit_log, ids.legacy_codes]
"""


@pytest.fixture
def cfg(tmp_path):
    path = tmp_path / "datamig.yaml"
    path.write_text(CONFIG)
    return load_config(path)


def test_analyze_writes_artifacts_and_summary(pg, cfg, tmp_path):
    out = tmp_path / "out"
    env = {"PROD_IDS_URL": pg.url("ids"), "PROD_HCP1_URL": pg.url("hcp1")}
    summary = analyze(cfg, env, out)

    assert sorted(p.name for p in out.iterdir()) == [
        "dependency-graph.dot", "dependency-graph.mmd", "extraction-order.json", "schema-analysis.json"]
    analysis = json.loads((out / "schema-analysis.json").read_text())
    estate = Estate.from_dict(analysis)
    assert "ids.audit_log" not in estate.tables and "ids.legacy_codes" not in estate.tables
    assert Estate.from_dict(estate.to_dict()).to_dict() == estate.to_dict()
    link = next(fk for fk in estate.foreign_keys if not fk.declared)
    assert (link.child, link.parent, link.nullable) == ("hcp1.health_records", "ids.staff", False)
    assert analysis["warnings"]["dangling_foreign_keys"] == [
        {"fk": "enrollments_reason_fk", "child": "ids.enrollments", "parent": "ids.legacy_codes",
         "reason": "parent excluded"}]
    assert analysis["cycles"][0]["breaks"][0]["fk"] == "schools_principal_fk"

    order = json.loads((out / "extraction-order.json").read_text())
    assert sorted(order["order"]) == sorted(estate.tables)
    assert order["order"].index("ids.staff") < order["order"].index("hcp1.health_records")
    assert order["cycles"][0]["members"] == ["ids.schools", "ids.staff"]

    dot = (out / "dependency-graph.dot").read_text()
    assert '"hcp1.health_records" -> "ids.staff" [label="link", style=dashed];' in dot
    assert 'label="schools_principal_fk", color=red' in dot
    assert "-.->" in (out / "dependency-graph.mmd").read_text()

    ids_summary = summary["stores"]["ids"]
    assert ids_summary["tables"] == 8 and ids_summary["rows"] == 3 + 2 + 2 + 5
    assert summary["stores"]["hcp1"]["links"] == 1
    assert summary["cycles"] == 1 and summary["unbreakable_cycles"] == 0
    assert summary_table(summary).row_count == 2
    assert not list(out.glob(".*.tmp"))


def test_failed_analyze_leaves_no_artifact(pg, cfg, tmp_path):
    out = tmp_path / "out"
    port = _pg_cluster.free_port()
    env = {"PROD_IDS_URL": pg.url("ids"), "PROD_HCP1_URL": f"postgresql://u:{PASSWORD}@127.0.0.1:{port}/hcp1"}
    with pytest.raises(ConnectionFailed, match="hcp1"):
        analyze(cfg, env, out)
    assert not out.exists()
    with pytest.raises(ConfigError, match="PROD_HCP1_URL"):
        analyze(cfg, {"PROD_IDS_URL": pg.url("ids")}, out)


def test_link_error_surfaces_from_analyze(pg, tmp_path):
    path = tmp_path / "datamig.yaml"
    path.write_text(CONFIG.replace("staff_ref -> ids.staff.id", "staff_ref -> ids.staff.staff_no"))
    env = {"PROD_IDS_URL": pg.url("ids"), "PROD_HCP1_URL": pg.url("hcp1")}
    with pytest.raises(ConfigError, match="hcp1.health_records.staff_ref -> ids.staff.staff_no"):
        analyze(load_config(path), env, tmp_path / "out")


@pytest.mark.parametrize("old, new, named", [
    ("ids.legacy_codes]", "ids.legacy_code]", "exclude_tables.1: no table 'ids.legacy_code'"),
    ("key: id}", "key: idd}", "district.key: ids.districts has no column 'idd'"),
], ids=["exclusion", "district-key"])
def test_a_name_the_config_misspells_stops_analyze_before_any_artifact(pg, tmp_path, old, new, named):
    """analyze wrote its artifacts and exited 0 over a misspelt exclusion (the table it was to
    leave out analyzed as kept) or district key; only the extract found them, later."""
    path = tmp_path / "datamig.yaml"
    path.write_text(CONFIG.replace(old, new))
    env = {"PROD_IDS_URL": pg.url("ids"), "PROD_HCP1_URL": pg.url("hcp1")}
    with pytest.raises(ConfigError) as err:
        analyze(load_config(path), env, tmp_path / "out")
    assert str(err.value).startswith(f"{path}:") and named in str(err.value), str(err.value)
    assert not (tmp_path / "out").exists()


# --- Neo4j ------------------------------------------------------------------------------

NEO_PASSWORD = "Neo-S3cret-do-not-print"
GRAPH_CYPHER = [
    "CREATE CONSTRAINT district_key FOR (d:District) REQUIRE d.district_id IS UNIQUE",
    """CREATE (d:District {district_id: 1, name: 'North'}),
              (a:School {school_id: 10, name: 'A'}), (b:School {school_id: 11}),
              (a)-[:BELONGS_TO {since: 2020}]->(d), (b)-[:BELONGS_TO]->(d), (a)-[:NEAR]->(b)""",
]


def _neo_store() -> StoreConfig:
    return StoreConfig(name="sp", kind="neo4j", prod_env="PROD_SP_URL", cert_env="CERT_SP_URL")


def test_neo4j_unreachable_names_store_and_host_not_password():
    port = _pg_cluster.free_port()
    with pytest.raises(ConnectionFailed) as err:
        introspect_neo4j(_neo_store(), f"bolt://127.0.0.1:{port}", "neo4j", NEO_PASSWORD)
    message = str(err.value)
    assert "sp" in message and f"127.0.0.1:{port}" in message
    assert NEO_PASSWORD not in message and "\n" not in message


def test_neo4j_bad_url_is_a_config_error_naming_the_scheme_not_the_password():
    with pytest.raises(ConfigError, match="store sp has the scheme 'nosuchscheme://'") as err:
        introspect_neo4j(_neo_store(), f"nosuchscheme://u:{NEO_PASSWORD}@host:1", "neo4j", NEO_PASSWORD)
    assert NEO_PASSWORD not in str(err.value)


@pytest.fixture(scope="module")
def neo4j_url(tmp_path_factory):
    server = pytest.importorskip("datamig.services.neo4j_server",
                                 reason="Neo4j launcher (datamig.services.neo4j_server) not available")
    home = tmp_path_factory.mktemp("neo4j")
    port = _pg_cluster.free_port()
    pid = server.start(Path(__file__).resolve().parents[1], home, port, NEO_PASSWORD, home / "neo4j.log")
    try:
        url = f"bolt://127.0.0.1:{port}"
        with neo4j.GraphDatabase.driver(url, auth=("neo4j", NEO_PASSWORD)) as driver:
            _wait_for(driver)
            for cypher in GRAPH_CYPHER:
                driver.execute_query(cypher)
        yield url
    finally:
        server.stop(pid)


def _wait_for(driver, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            driver.verify_connectivity()
            return
        except neo4j.exceptions.ServiceUnavailable:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def test_neo4j_introspection(neo4j_url):
    graph = introspect_neo4j(_neo_store(), neo4j_url, "neo4j", NEO_PASSWORD)
    assert graph.store == "sp"
    district, school = graph.labels["District"], graph.labels["School"]
    assert (district.count, district.properties, district.key) == (1, ["district_id", "name"], "district_id")
    assert (school.count, school.properties, school.key) == (2, ["name", "school_id"], None)
    rels = {(r.start_label, r.type, r.end_label): r for r in graph.relationships}
    assert set(rels) == {("School", "BELONGS_TO", "District"), ("School", "NEAR", "School")}
    assert (rels["School", "BELONGS_TO", "District"].count, rels["School", "BELONGS_TO", "District"].properties) \
        == (2, ["since"])
    assert (rels["School", "NEAR", "School"].count, rels["School", "NEAR", "School"].properties) == (1, [])
    assert [c["name"] for c in graph.constraints] == ["district_key"]


def test_neo4j_wrong_password_does_not_leak(neo4j_url):
    with pytest.raises(ConnectionFailed) as err:
        introspect_neo4j(_neo_store(), neo4j_url, "neo4j", "Wrong-" + NEO_PASSWORD)
    assert "store sp" in str(err.value) and NEO_PASSWORD not in str(err.value)


def test_analyze_reads_the_graph_with_credentials_from_env(pg, neo4j_url, tmp_path):
    path = tmp_path / "datamig.yaml"
    path.write_text("""
version: 1
stores:
  ids: {kind: postgres, prod_env: PROD_IDS_URL, cert_env: CERT_IDS_URL}
  sp:  {kind: neo4j, prod_env: PROD_SP_URL, cert_env: CERT_SP_URL}
district: {store: ids, table: districts, key: id}
""")
    # the user is `neo4j` unless set, as extract reads it (analyze alone required PROD_SP_USER)
    env = {"PROD_IDS_URL": pg.url("ids"), "PROD_SP_URL": neo4j_url, "PROD_SP_USER": "", "PROD_SP_PASSWORD": NEO_PASSWORD}
    summary = analyze(load_config(path), env, tmp_path / "out")
    assert summary["stores"]["sp"] == {"kind": "neo4j", "labels": 2, "relationship_types": 2,
                                       "constraints": 1, "relationships": 3}
    analysis = (tmp_path / "out" / "schema-analysis.json").read_text()
    assert Estate.from_dict(json.loads(analysis)).graphs["sp"].labels["District"].key == "district_id"
    assert NEO_PASSWORD not in analysis


def test_an_fk_declared_only_on_a_partition_is_an_fk_of_its_partitioned_table(pg):
    """The FK's table is the partitioned one (the table datamig extracts and loads), it names
    the partition it holds for, and the dependency graph orders its parent first."""
    with psycopg.connect(pg.url(), autocommit=True) as conn:
        conn.execute("CREATE DATABASE partfk")
    with psycopg.connect(pg.url("partfk"), autocommit=True) as conn:
        conn.execute("""
            CREATE TABLE districts (id int PRIMARY KEY);
            CREATE TABLE attendance (district_id int NOT NULL, day date NOT NULL) PARTITION BY RANGE (day);
            CREATE TABLE attendance_y PARTITION OF attendance
                FOR VALUES FROM ('2024-01-01') TO ('2025-01-01') PARTITION BY LIST (district_id);
            CREATE TABLE attendance_y1 PARTITION OF attendance_y FOR VALUES IN (1);
            ALTER TABLE attendance_y ADD CONSTRAINT att_district_fk
                FOREIGN KEY (district_id) REFERENCES districts (id);""")
    tables, fks = introspect_postgres(_store("ids"), pg.url("partfk"))
    assert [(fk.name, fk.child, fk.columns, fk.parent, fk.partition) for fk in fks] == [
        ("att_district_fk", "ids.attendance", ("district_id",), "ids.districts", "public.attendance_y")]
    plan = plan_dependencies({t.id: t for t in tables}, fks)
    assert plan.graph.has_edge("ids.attendance", "ids.districts")
    assert plan.order == ["ids.districts", "ids.attendance"]


def test_an_fk_declared_only_on_partitions_is_tested_on_their_rows_alone(pg):
    """events_s alone references students, events_t alone staff: each relationship test looked at
    every events row, so staff 2's event failed the students test (no student 2) and student 1's
    the staff one. The test reads the partition's own constraint, which DuckDB evaluates too."""
    import duckdb

    from datamig.scaffold.layout import datasets
    from datamig.scaffold.marts import fk_tests

    with psycopg.connect(pg.url(), autocommit=True) as conn:
        conn.execute("CREATE DATABASE partfk_rows")
    with psycopg.connect(pg.url("partfk_rows"), autocommit=True) as conn:
        conn.execute("""
            CREATE TABLE districts (id int PRIMARY KEY);
            CREATE TABLE students (id int PRIMARY KEY);
            CREATE TABLE staff (id int PRIMARY KEY);
            CREATE TABLE events (subject_id int NOT NULL, kind text NOT NULL) PARTITION BY LIST (kind);
            CREATE TABLE events_s PARTITION OF events FOR VALUES IN ('s', 'S');
            CREATE TABLE events_t PARTITION OF events FOR VALUES IN ('t');
            ALTER TABLE events_s ADD CONSTRAINT ev_student_fk FOREIGN KEY (subject_id) REFERENCES students (id);
            ALTER TABLE events_t ADD CONSTRAINT ev_staff_fk FOREIGN KEY (subject_id) REFERENCES staff (id);""")
    tables, fks = introspect_postgres(_store("ids"), pg.url("partfk_rows"))
    cfg = load_config(Path(__file__).resolve().parents[1] / "config" / "datamig.yaml")
    by_id = {d.id: d for d in datasets(cfg, Estate(tables={t.id: t for t in tables}, foreign_keys=fks))}
    tests = {t["datamig_relationship"]["arguments"]["to"]: t["datamig_relationship"]["arguments"]
             for t in fk_tests(by_id["ids.events"], by_id)}
    db = duckdb.connect()
    db.execute("CREATE TABLE events AS SELECT * FROM (VALUES (1, 's'), (2, 'S'), (3, 't')) v(subject_id, kind)")
    assert {to: db.execute(f"SELECT list(subject_id ORDER BY subject_id) FROM events WHERE {a['row_filter']}")
            .fetchone()[0] for to, a in tests.items()} == {"ref('ids__students')": [1, 2], "ref('ids__staff')": [3]}


def test_a_unique_index_s_included_columns_are_no_part_of_its_key():
    """`CREATE UNIQUE INDEX ... (code) INCLUDE (label)` makes code unique, not (code, label): the
    INCLUDE columns sit in pg_index.indkey after the key's, and read as key columns they made a
    weaker key, whose unique test passed repeats of code that CERT's index refuses."""
    sql = ("CREATE TABLE tags (code text NOT NULL, label text);"
           "CREATE UNIQUE INDEX tags_code_idx ON tags (code) INCLUDE (label);")
    with _pg_cluster.running({"inc": sql}) as cluster:
        (table,) = introspect_postgres(_store("inc"), cluster.url("inc"))[0]
    assert table.unique_keys == [("code",)]
    assert table.row_key() == ("code",)


def test_unique_keys_declared_nulls_not_distinct_are_told_apart():
    """PostgreSQL 15's NULLS NOT DISTINCT (a constraint's or an index's): a NULL clashes with a
    NULL there, and the key's test, which passed over rows with a NULL, let repeats CERT refuses
    through."""
    sql = ("CREATE TABLE slots (a int, b int, c int, d int, UNIQUE NULLS NOT DISTINCT (a, b), UNIQUE (c));"
           "CREATE UNIQUE INDEX slots_d_idx ON slots (d) NULLS NOT DISTINCT;")
    with _pg_cluster.running({"nnd": sql}) as cluster:
        (table,) = introspect_postgres(_store("nnd"), cluster.url("nnd"))[0]
    assert table.unique_keys == [("a", "b"), ("c",), ("d",)]
    assert table.nulls_not_distinct == [("a", "b"), ("d",)]
    assert Estate.from_dict(Estate(tables={table.id: table}).to_dict()).tables[table.id] == table


def test_a_partition_s_bounds_read_the_same_whatever_the_prod_database_prints_dates_as(pg):
    """An FK's partition filter is the partition constraint PostgreSQL deparses with the session's
    DateStyle and TimeZone: under a PROD database set to German dates and Asia/Kolkata, the
    bounds read '01.01.2024' (DuckDB's tests and CERT's ISO sessions refuse or misread it) and
    shifted offsets. The introspection prints them as under PostgreSQL's defaults."""
    ddl = """
        CREATE TABLE students (id int PRIMARY KEY);
        CREATE TABLE marks (student_id int NOT NULL, day date NOT NULL, at timestamptz NOT NULL,
                            took interval NOT NULL) PARTITION BY RANGE (day, at, took);
        CREATE TABLE marks_2024 PARTITION OF marks FOR VALUES
            FROM ('2024-01-02', '2024-01-02 00:00:00+00', '-1 day 02:00:00')
            TO ('2025-01-02', '2025-01-02 00:00:00+00', '1 day');
        ALTER TABLE marks_2024 ADD CONSTRAINT marks_student_fk FOREIGN KEY (student_id) REFERENCES students (id);"""
    filters = {}
    for db, settings in (("bounds_plain", {}), ("bounds_dmy", {"DateStyle": "German", "TimeZone": "Asia/Kolkata",
                                                                 "IntervalStyle": "sql_standard"})):
        with psycopg.connect(pg.url(), autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {db}")
        with psycopg.connect(pg.url(db), autocommit=True) as conn:
            conn.execute(ddl)  # the bounds read under the defaults: the same values in both
            for name, value in settings.items():
                conn.execute(f"ALTER DATABASE {db} SET {name} = '{value}'")
        _, fks = introspect_postgres(_store("ids"), pg.url(db))
        filters[db] = [fk.partition_filter for fk in fks]
    assert "'2024-01-02'::date" in filters["bounds_plain"][0], filters
    assert filters["bounds_dmy"] == filters["bounds_plain"]


def test_a_prod_statement_timeout_stopping_the_catalog_read_is_one_line_naming_the_store(pg):
    """A DBA's statement_timeout on the PROD database cancelled the introspection's catalog read
    (here waiting on a table another session holds locked): a QueryCanceled traceback."""
    with psycopg.connect(pg.url(), autocommit=True) as conn:
        conn.execute("CREATE DATABASE timed")
    with psycopg.connect(pg.url("timed"), autocommit=True) as conn:
        conn.execute("CREATE TABLE busy (id int PRIMARY KEY); ALTER DATABASE timed SET statement_timeout = '200ms'")
    with psycopg.connect(pg.url("timed", password=PASSWORD)) as holder:
        holder.execute("LOCK TABLE busy IN ACCESS EXCLUSIVE MODE")
        with pytest.raises(ConfigError) as err:
            introspect_postgres(_store("ids"), pg.url("timed", password=PASSWORD))
    message = str(err.value)
    assert message.startswith("store ids: PostgreSQL cancelled the catalog read at the statement_timeout "
                              "(200ms) its database or role sets"), message
    assert "\n" not in message and PASSWORD not in message
