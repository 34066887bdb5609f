"""Shared pieces of the loader tests (no tests here): a PROD-like CERT schema with the hard
cases, real PostgreSQL 15 clusters with prepared transactions on, a real Neo4j 5.26, fresh
CERT databases per test, run folders built with DuckDB, and fingerprints of CERT.

Hard cases covered by the schema: composite PK and FK (terms, sections, enrollments), the
schools <-> staff cycle closed by a nullable DEFERRABLE FK, a rooms <-> sections cycle closed
by nullable NOT deferrable FKs (written NULL, then UPDATEd), a nullable self-reference
(staff.manager_id), a NOT NULL self-reference (courses.prereq_id), uuid and text keys, jsonb,
text[], timestamptz, numeric, a CERT-only table, CERT-only rows and a CERT-only column
(staff.cert_note). The writer role owns no table, as in the real CERT.
"""
from __future__ import annotations

import itertools
import json
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import neo4j
import psycopg
import pytest

import _pg_cluster
from datamig.config import load_config
from datamig.load.fingerprint import graph_fingerprint, pg_fingerprint

ROOT = Path(__file__).resolve().parents[1]
WRITER = "datamig_load_writer"
PASSWORD = "Wr1ter-S3cret-never-printed"
NEO_PASSWORD = "Neo-L0ad-S3cret-never-printed"
__test__ = False

IDS_DDL = """
CREATE TABLE districts (id bigint PRIMARY KEY, name text NOT NULL, founded date, settings jsonb);
CREATE TABLE schools (
    id bigint PRIMARY KEY, district_id bigint NOT NULL REFERENCES districts (id), name text NOT NULL,
    principal_id bigint, opened_at timestamptz, budget numeric(12,2));
CREATE TABLE staff (
    id bigint PRIMARY KEY, school_id bigint NOT NULL REFERENCES schools (id),
    manager_id bigint REFERENCES staff (id), email text UNIQUE, full_name text, salary numeric(10,2),
    hired_at timestamptz, cert_note text);
ALTER TABLE schools ADD CONSTRAINT schools_principal_fk FOREIGN KEY (principal_id) REFERENCES staff (id)
    DEFERRABLE INITIALLY IMMEDIATE;
CREATE TABLE students (
    id uuid PRIMARY KEY, school_id bigint NOT NULL REFERENCES schools (id), first_name text, last_name text,
    tags text[], profile jsonb, enrolled_at timestamptz, gpa numeric(4,2));
CREATE TABLE terms (
    school_id bigint NOT NULL REFERENCES schools (id), year int NOT NULL, term_no smallint NOT NULL, label text,
    PRIMARY KEY (school_id, year, term_no));
CREATE TABLE rooms (code text PRIMARY KEY, school_id bigint NOT NULL REFERENCES schools (id), home_section text);
CREATE TABLE sections (
    code text PRIMARY KEY, school_id bigint NOT NULL, year int NOT NULL, term_no smallint NOT NULL,
    room_code text REFERENCES rooms (code), teacher_id bigint REFERENCES staff (id),
    CONSTRAINT sections_term_fk FOREIGN KEY (school_id, year, term_no) REFERENCES terms (school_id, year, term_no));
ALTER TABLE rooms ADD CONSTRAINT rooms_home_section_fk FOREIGN KEY (home_section) REFERENCES sections (code);
CREATE TABLE enrollments (
    student_id uuid NOT NULL REFERENCES students (id), section_code text NOT NULL REFERENCES sections (code),
    grade numeric(5,2), PRIMARY KEY (student_id, section_code));
CREATE TABLE courses (id int PRIMARY KEY, name text NOT NULL, prereq_id int NOT NULL REFERENCES courses (id));
CREATE TABLE cert_notes (id serial PRIMARY KEY, body text);

-- CERT's own test data: must survive every load and rollback untouched.
INSERT INTO districts VALUES (99, 'Cert QA District', '2001-01-01', '{"qa": true}');
INSERT INTO schools VALUES (990, 99, 'QA School', NULL, '2001-09-01 08:00:00+00', 1.00);
INSERT INTO staff VALUES (9900, 990, NULL, 'qa@cert.test', 'QA Person', 1.00, '2001-09-01 08:00:00+00', 'cert only');
UPDATE schools SET principal_id = 9900 WHERE id = 990;
INSERT INTO courses VALUES (99, 'QA course', 99);
INSERT INTO cert_notes (body) VALUES ('written by CERT testers');
"""

HCP_DDL = """
CREATE TABLE health_records (
    id bigint PRIMARY KEY, student_ref uuid NOT NULL, recorded_at timestamptz, vitals jsonb, codes text[], note text);
CREATE TABLE visits (
    id bigint PRIMARY KEY, record_id bigint NOT NULL REFERENCES health_records (id), visited_on date,
    cost numeric(8,2));
INSERT INTO health_records VALUES (9000, '00000000-0000-0000-0000-00000000cafe', '2020-01-01 00:00:00+00',
    '{"qa": 1}', '{qa}', 'cert only');
"""

GRANTS = f"""
GRANT USAGE ON SCHEMA public TO {WRITER};
GRANT SELECT, INSERT, UPDATE, DELETE, REFERENCES ON ALL TABLES IN SCHEMA public TO {WRITER};
GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA public TO {WRITER};
"""

CERT_GRAPH = [
    "CREATE (d:District {district_id: 99, name: 'Cert QA'}), (s:School {school_id: 990, name: 'QA School'}), "
    "(s)-[:BELONGS_TO {since: 2001}]->(d)",
]

CONFIG = """
version: 1
stores:
  ids:  {kind: postgres, prod_env: PROD_IDS_URL,  cert_env: CERT_IDS_URL}
  hcp1: {kind: postgres, prod_env: PROD_HCP1_URL, cert_env: CERT_HCP1_URL}
  sp:   {kind: neo4j, prod_env: PROD_SP_URL, cert_env: CERT_SP_URL}
district: {store: ids, table: districts, key: id}
graph:
  store: sp
  root: {label: District, key: district_id}
  node_keys: {District: district_id, School: school_id, Student: student_id, Staff: staff_id}
  follow: []
extract:
  out_dir: %(out)s
"""


# --- clusters and servers ------------------------------------------------------------------

def start_cluster() -> _pg_cluster.PgCluster:
    """_pg_cluster's throwaway cluster, restarted with prepared transactions enabled."""
    cluster = _pg_cluster.start()
    try:
        with psycopg.connect(cluster.url(), autocommit=True) as conn:
            conn.execute("ALTER SYSTEM SET max_prepared_transactions = 64")
            conn.execute(f"CREATE ROLE {WRITER} LOGIN")
        pg_ctl(cluster, "restart")
    except BaseException:
        _pg_cluster.stop(cluster)
        raise
    return cluster


def pg_ctl(cluster: _pg_cluster.PgCluster, action: str) -> None:
    """-l: the server's output goes to its log, never to a pipe the caller waits on."""
    args = [str(_pg_cluster.PG_BIN / "pg_ctl"), "-D", str(cluster.data_dir), "-l", str(cluster.root / "log"), "-w"]
    if action == "stop":
        args += ["-m", "immediate", "stop"]
    elif action == "start":
        args += ["-o", f"-p {cluster.port} -k {cluster.root} -c listen_addresses=127.0.0.1 -c fsync=off", "start"]
    else:
        args += [action]
    _pg_cluster._as_postgres(*args)


def make_template(cluster: _pg_cluster.PgCluster, name: str, ddl: str) -> None:
    with psycopg.connect(cluster.url(), autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    with psycopg.connect(cluster.url(name), autocommit=True) as conn:
        conn.execute(ddl)
        conn.execute(GRANTS)


@pytest.fixture(scope="module")
def neo4j_server(tmp_path_factory):
    from datamig.services import neo4j_server as server

    home = tmp_path_factory.mktemp("neo4j")
    port = _pg_cluster.free_port()
    pid = server.start(ROOT, home, port, NEO_PASSWORD, home / "neo4j.log")
    try:
        yield f"bolt://127.0.0.1:{port}"
    finally:
        server.stop(pid)


# --- one CERT per test ----------------------------------------------------------------------

_serial = itertools.count(1)


@dataclass
class Cert:
    """A fresh CERT estate: two databases from templates, the graph reset to CERT's own data."""

    ids_cluster: _pg_cluster.PgCluster
    hcp_cluster: _pg_cluster.PgCluster
    neo_url: str
    out_dir: Path
    n: int = field(default_factory=lambda: next(_serial))

    def __post_init__(self):
        self.dbs = {"ids": (self.ids_cluster, f"ids_{self.n}"), "hcp1": (self.hcp_cluster, f"hcp1_{self.n}")}
        for store, (cluster, db) in self.dbs.items():
            with psycopg.connect(cluster.url(), autocommit=True) as conn:
                conn.execute(f"CREATE DATABASE {db} TEMPLATE {store}_tpl")
                conn.execute(f"GRANT CREATE, TEMP ON DATABASE {db} TO {WRITER}")
        with self.driver() as driver:
            driver.execute_query("MATCH (n) DETACH DELETE n")
            for cypher in CERT_GRAPH:
                driver.execute_query(cypher)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        cfg_path = self.out_dir / "datamig.yaml"
        cfg_path.write_text(CONFIG % {"out": self.out_dir})
        self.cfg = load_config(cfg_path)

    @property
    def env(self) -> dict[str, str]:
        ids, hcp = self.dbs["ids"], self.dbs["hcp1"]
        return {
            "CERT_IDS_URL": f"postgresql://{WRITER}:{PASSWORD}@127.0.0.1:{ids[0].port}/{ids[1]}",
            "CERT_HCP1_URL": f"postgresql://{WRITER}:{PASSWORD}@127.0.0.1:{hcp[0].port}/{hcp[1]}",
            "CERT_SP_URL": self.neo_url, "CERT_SP_USER": "neo4j", "CERT_SP_PASSWORD": NEO_PASSWORD,
        }

    def admin_url(self, store: str) -> str:
        cluster, db = self.dbs[store]
        return cluster.url(db)

    def driver(self):
        return neo4j.GraphDatabase.driver(self.neo_url, auth=("neo4j", NEO_PASSWORD))

    def sql(self, store: str, query: str, params=None) -> list[tuple]:
        with psycopg.connect(self.admin_url(store), autocommit=True) as conn:
            cur = conn.execute(query, params)
            return cur.fetchall() if cur.description else []

    def cypher(self, query: str, **params) -> list[dict]:
        with self.driver() as driver:
            records, _, _ = driver.execute_query(query, params)
            return [r.data() for r in records]

    def fingerprint(self) -> dict:
        return {"ids": pg_fingerprint(self.admin_url("ids")), "hcp1": pg_fingerprint(self.admin_url("hcp1")),
                "sp": graph_fingerprint(self.neo_url, "neo4j", NEO_PASSWORD)}

    def prepared(self) -> list[str]:
        out = []
        for store in self.dbs:
            out += [r[0] for r in self.sql(store, "SELECT gid FROM pg_prepared_xacts WHERE database = current_database()")]
        return out

    def has_ledger(self, store: str) -> bool:
        return self.sql(store, "SELECT to_regclass('datamig.runs') IS NOT NULL")[0][0]


# --- run folders ------------------------------------------------------------------------

def sid(i: int) -> str:
    return str(uuid.UUID(int=0x5EED0000 + i))


TABLES = {
    "ids": {
        "districts": "id BIGINT, name VARCHAR, founded DATE, settings JSON",
        "schools": "id BIGINT, district_id BIGINT, name VARCHAR, principal_id BIGINT, opened_at TIMESTAMPTZ, "
                   "budget DECIMAL(12,2)",
        "staff": "id BIGINT, school_id BIGINT, manager_id BIGINT, email VARCHAR, full_name VARCHAR, "
                 "salary DECIMAL(10,2), hired_at TIMESTAMPTZ",
        "students": "id UUID, school_id BIGINT, first_name VARCHAR, last_name VARCHAR, tags VARCHAR[], profile JSON, "
                    "enrolled_at TIMESTAMPTZ, gpa DECIMAL(4,2)",
        "terms": "school_id BIGINT, year INTEGER, term_no SMALLINT, label VARCHAR",
        "rooms": "code VARCHAR, school_id BIGINT, home_section VARCHAR",
        "sections": "code VARCHAR, school_id BIGINT, year INTEGER, term_no SMALLINT, room_code VARCHAR, "
                    "teacher_id BIGINT",
        "enrollments": "student_id UUID, section_code VARCHAR, grade DECIMAL(5,2)",
        "courses": "id INTEGER, name VARCHAR, prereq_id INTEGER",
    },
    "hcp1": {
        "health_records": "id BIGINT, student_ref UUID, recorded_at TIMESTAMPTZ, vitals JSON, codes VARCHAR[], "
                          "note VARCHAR",
        "visits": "id BIGINT, record_id BIGINT, visited_on DATE, cost DECIMAL(8,2)",
    },
}
NODES = {
    "District": "district_id BIGINT, name VARCHAR",
    "School": "school_id BIGINT, name VARCHAR, opened DATE",
    "Student": "student_id VARCHAR, grade BIGINT, tags VARCHAR[]",
    "Staff": "staff_id BIGINT, email VARCHAR",
}
RELS = {
    "BELONGS_TO": "start_label VARCHAR, start_key BIGINT, end_label VARCHAR, end_key BIGINT, since BIGINT",
    "ENROLLED_IN": "start_label VARCHAR, start_key VARCHAR, end_label VARCHAR, end_key BIGINT",
    "WORKS_FOR": "start_label VARCHAR, start_key BIGINT, end_label VARCHAR, end_key BIGINT, role VARCHAR",
}


def final_data(students: int = 3, school_name: str = "North High") -> dict:
    """District 1's final rows; `students` scales the biggest tables (fault tests, timing)."""
    ts = "2024-08-01 07:30:00.123456+00"
    studs = [(sid(i), 10 if i % 2 == 0 else 11, f"First{i}", f"Last{i}", [f"t{i % 3}", 'we"ird,{x}', None] if i % 5 == 0
              else [f"t{i % 3}"], json.dumps({"i": i, "nested": {"a": [1, 2]}}), ts, f"{(i % 400) / 100:.2f}")
             for i in range(students)]
    ids = {
        "districts": [(1, "North", "1990-05-01", '{"tz": "UTC", "flags": [1, 2]}')],
        "schools": [(10, 1, school_name, 100, ts, "1234567.89"), (11, 1, "North Middle", 102, ts, "0.50")],
        "staff": [(100, 10, None, "boss@north.test", "Pat Boss", "90000.00", ts),
                  (101, 10, 100, "t1@north.test", "Teacher One", "50000.50", ts),
                  (102, 11, 100, "t2@north.test", "Teacher Two", "51000.00", None)],
        "students": studs,
        "terms": [(10, 2024, 1, "Fall"), (10, 2024, 2, "Spring"), (11, 2024, 1, "Fall")],
        "rooms": [("R-10-A", 10, "S1"), ("R-11-A", 11, None)],
        "sections": [("S1", 10, 2024, 1, "R-10-A", 101), ("S2", 11, 2024, 1, "R-11-A", 102)],
        "enrollments": [(s[0], "S1" if s[1] == 10 else "S2", "3.50") for s in studs],
        "courses": [(1, "Algebra", 1), (2, "Geometry", 1), (3, "Calculus", 2)],
    }
    hcp1 = {
        "health_records": [(5000 + i, s[0], ts, json.dumps({"bp": 120 + i % 7}), ["a", "b"], f"note {i}")
                           for i, s in enumerate(studs)],
        "visits": [(7000 + i, 5000 + i, "2024-09-02", "12.30") for i in range(len(studs))],
    }
    nodes = {
        "District": [(1, "North")],
        "School": [(10, school_name, "1990-09-01"), (11, "North Middle", "1995-09-01")],
        "Student": [(s[0], 9, ["x", "y"]) for s in studs],
        "Staff": [(100, "boss@north.test"), (101, "t1@north.test"), (102, "t2@north.test")],
    }
    rels = {
        "BELONGS_TO": [("School", 10, "District", 1, 1990), ("School", 11, "District", 1, 1995)],
        "ENROLLED_IN": [("Student", s[0], "School", s[1]) for s in studs],
        "WORKS_FOR": [("Staff", 100, "District", 1, "principal"), ("Staff", 101, "District", 1, None),
                      ("Staff", 102, "District", 1, "teacher")],
    }
    return {"pg": {"ids": ids, "hcp1": hcp1}, "nodes": nodes, "rels": rels}


def _write(con: duckdb.DuckDBPyConnection, columns: str, rows: list[tuple], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    con.execute(f"CREATE OR REPLACE TEMP TABLE t ({columns})")
    if rows:
        marks = ", ".join("?" for _ in rows[0])
        con.executemany(f"INSERT INTO t VALUES ({marks})", [list(r) for r in rows])
    con.execute(f"COPY t TO '{path}' (FORMAT parquet)")


def build_run(out_dir: Path, run_id: str, data: dict | None = None, status: str = "PASSED",
              drop: tuple[str, ...] = ()) -> Path:
    """A run folder as the earlier phases leave it: final/*.parquet + validation-report.json."""
    data = data or final_data()
    run_dir = out_dir / run_id
    final = run_dir / "final"
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    for store, tables in data["pg"].items():
        for table, rows in tables.items():
            if f"{store}.{table}" not in drop:
                _write(con, TABLES[store][table], rows, final / store / f"{table}.parquet")
    for label, rows in data["nodes"].items():
        _write(con, NODES[label], rows, final / "sp" / "nodes" / f"{label}.parquet")
    for rtype, rows in data["rels"].items():
        _write(con, RELS[rtype], rows, final / "sp" / "relationships" / f"{rtype}.parquet")
    con.close()
    if status is not None:
        (run_dir / "validation-report.json").write_text(json.dumps({"status": status, "district": 1}))
    return run_dir


def seed_overlap(cert: Cert) -> None:
    """CERT already holds part of district 1 (an earlier copy): some rows equal, some changed,
    one with a CERT-only column value, and a CERT-only graph property."""
    cert.sql("ids", """
        BEGIN;
        SET CONSTRAINTS ALL DEFERRED;
        INSERT INTO districts VALUES (1, 'Old North', '1990-05-01', '{"tz": "UTC", "flags": [1, 2]}');
        INSERT INTO schools VALUES (10, 1, 'North High', 100, '2024-08-01 07:30:00.123456+00', 1234567.89);
        INSERT INTO staff VALUES (100, 10, NULL, 'boss@north.test', 'Pat Boss', 80000.00,
                                  '2024-08-01 07:30:00.123456+00', 'keep me');
        INSERT INTO courses VALUES (1, 'Algebra', 1), (2, 'Geometry', 1), (3, 'Calculus', 2);
        COMMIT;""")
    cert.cypher("CREATE (:District {district_id: 1, name: 'Old North', cert_flag: true}), "
                "(:School {school_id: 10, name: 'North High', opened: date('1990-09-01')})")


def wait_for(predicate, timeout: float = 30, step: float = 0.1) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not met")
        time.sleep(step)


# --- the two clusters' fixtures of the load tests (test_load, test_bookkeeping_names) ------------

@pytest.fixture(scope="module")
def cluster():
    """One PostgreSQL cluster holding the CERT templates a module's Certs are made from."""
    c = start_cluster()
    try:
        make_template(c, "ids_tpl", IDS_DDL)
        make_template(c, "hcp1_tpl", HCP_DDL)
        yield c
    finally:
        _pg_cluster.stop(c)


@pytest.fixture
def cert(cluster, neo4j_server, tmp_path) -> Cert:
    return Cert(cluster, cluster, neo4j_server, tmp_path / "runs")
