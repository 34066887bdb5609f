"""The synthetic estate: schemas, every hard case, determinism, CERT's own data.

Fixtures (tests/conftest.py): `services` -- env mapping of the running test estate
(DATAMIG_PG_ADMIN_URL, PROD_SP_*, CERT_SP_*); `tiny_estate` -- PROD seeded at scale tiny
(seed 42) and CERT seeded, as {"env", "prod", "cert"}.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from datetime import date

import psycopg
import pytest
from psycopg import sql

from datamig.estate import cert_seed, pg_writer, spec
from datamig.estate.gen_graph import NODE_KEYS
from datamig.estate.generate import ddl_tables, generate

STORES = ("ids", "hcp1", "hcp2", "adb")
ROOT = spec.ROOT_DISTRICT


# ----------------------------------------------------------------------------- helpers

def _url(env, db: str) -> str:
    return pg_writer.db_url(env["DATAMIG_PG_ADMIN_URL"], db)


def _q(env, db: str, query: str, params=()):
    with psycopg.connect(_url(env, db), autocommit=True) as conn:
        return conn.execute(query, params).fetchall()


def _one(env, db: str, query: str, params=()):
    return _q(env, db, query, params)[0][0]


def _column(env, db: str, table: str, column: str) -> list:
    return [r[0] for r in _q(env, db, sql.SQL("SELECT {} FROM {}").format(sql.Identifier(column), sql.Identifier(table)).as_string())]


def _cypher(env, target: str, query: str, **params):
    from neo4j import GraphDatabase

    prefix = f"{target.upper()}_SP"
    with GraphDatabase.driver(env[f"{prefix}_URL"], auth=(env[f"{prefix}_USER"], env[f"{prefix}_PASSWORD"])) as driver:
        with driver.session() as session:
            return [r.data() for r in session.run(query, **params)]


@pytest.fixture(scope="module")
def env(tiny_estate):
    return tiny_estate["env"]


# ----------------------------------------------------------------------------- pure generator

def test_generated_tables_match_ddl_and_count():
    estate = generate("tiny", 42)
    total = 0
    for store in STORES:
        assert list(estate.pg[store]) == list(ddl_tables(store))
        total += len(estate.pg[store])
        for name, table in estate.pg[store].items():
            assert table.num_rows > 0, f"{store}.{name} is empty"
    assert total >= 40
    assert 2_000 <= estate.total_rows() <= 15_000          # "a few thousand rows"


def test_scales_rosters():
    for name, plan in spec.SCALES.items():
        ids = [d for d, _ in plan.districts]
        assert ROOT in ids and len(ids) == len(set(ids)), name
    assert len(spec.SCALES["tiny"].districts) >= 4
    reference = dict(spec.SCALES["reference"].districts)
    assert 18 <= len(reference) <= 22 and reference[ROOT] == 6000
    assert max(reference.values()) / min(reference.values()) > 50          # very different sizes
    assert dict(spec.SCALES["large"].districts)[ROOT] == 10 * reference[ROOT]


@pytest.mark.parametrize("seed", [1, 7, 2024])
def test_hard_cases_hold_for_any_seed(seed):
    """The hard cases are forced, not left to chance: check them on the generated data."""
    import numpy as np

    w = generate("tiny", seed).world
    root = int(np.flatnonzero(w.d_id == ROOT)[0])
    first = {(w.pools.first[int(f)].as_py(), w.pools.last[int(l)].as_py())
             for f, l in zip(w.s_first[w.s_dist == root], w.s_last[w.s_dist == root])}
    assert {("José", "O'Brien"), ("Zoë", "Müller"), ("芳", "王")} <= first
    prev = w.s_prev_school
    moved = prev >= 0
    prev_dist = np.where(moved, w.sc_dist[np.maximum(prev, 0)], -1)
    assert np.any(moved & (w.s_dist == root) & (prev_dist != root))
    assert np.any(moved & (w.s_dist != root) & (prev_dist == root))
    cross = w.extras["cross_staff"]
    assert any(w.sc_dist[w.st_school[s]] == root for s, _ in cross)
    assert any(w.sc_dist[t] == root for _, t in cross)
    assert any(w.g_dist[g] == root or w.s_dist[s] == root for g, s in w.extras["cross_guardians"])
    assert np.any(w.sc_principal >= 0) and np.any(w.sc_principal < 0)


def _csv_digests(scale: str, seed: int) -> dict:
    import hashlib

    estate = generate(scale, seed)
    out = {f"{s}.{t}": hashlib.sha256(pg_writer.to_csv(tab)).hexdigest() for s, ts in estate.pg.items() for t, tab in ts.items()}
    out.update({f"sp.{k}": hashlib.sha256(pg_writer.to_csv(t)).hexdigest() for k, t in estate.graph.nodes.items()})
    out.update({f"sp.{r.type}": hashlib.sha256(pg_writer.to_csv(r.table)).hexdigest() for r in estate.graph.rels})
    return out


def test_generation_is_deterministic_across_processes():
    """Same seed -> same bytes, even in a process with another hash seed; other seed -> other data."""
    here = _csv_digests("tiny", 42)
    script = ("import json, hashlib\n"
              "from datamig.estate.generate import generate\n"
              "from datamig.estate.pg_writer import to_csv\n"
              "e = generate('tiny', 42)\n"
              "out = {f'{s}.{t}': hashlib.sha256(to_csv(x)).hexdigest() for s, ts in e.pg.items() for t, x in ts.items()}\n"
              "out.update({f'sp.{k}': hashlib.sha256(to_csv(t)).hexdigest() for k, t in e.graph.nodes.items()})\n"
              "out.update({f'sp.{r.type}': hashlib.sha256(to_csv(r.table)).hexdigest() for r in e.graph.rels})\n"
              "print(json.dumps(out))\n")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True,
                            env={**os.environ, "PYTHONHASHSEED": "12345"})
    assert json.loads(result.stdout) == here
    other = _csv_digests("tiny", 43)
    changed = [k for k in here if here[k] != other[k]]
    assert {"ids.students", "ids.enrollments", "hcp1.patients", "hcp2.members", "adb.fact_assessment",
            "sp.Student"} <= set(changed)
    assert here["ids.states"] == other["ids.states"]         # reference data does not depend on the seed


# ----------------------------------------------------------------------------- schemas

def test_schemas_exist_in_every_store(env):
    total = 0
    for store in STORES:
        wanted = set(ddl_tables(store))
        for db in (spec.PROD_DATABASES[store], spec.CERT_DATABASES[store]):
            present = {r[0] for r in _q(env, db, "SELECT table_name FROM information_schema.tables "
                                                 "WHERE table_schema = 'public' AND table_type = 'BASE TABLE'")}
            assert wanted <= present, (db, wanted - present)
        total += len(wanted)
    assert total >= 40


def test_realistic_column_types(env):
    types = set()
    for store in STORES:
        types |= {r[0] for r in _q(env, store, "SELECT DISTINCT format_type(atttypid, atttypmod) FROM pg_attribute a "
                                               "JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
                                               "WHERE n.nspname = 'public' AND c.relkind = 'r' AND a.attnum > 0")}
    simple = {re.sub(r"\(.*\)", "", t) for t in types}
    assert {"bigint", "uuid", "text", "character varying", "date", "timestamp with time zone", "numeric",
            "boolean", "jsonb", "text[]", "integer", "smallint"} <= simple


def test_summary_shape(tiny_estate):
    prod = tiny_estate["prod"]
    for store in STORES:
        assert set(prod[store]) == set(ddl_tables(store))
        assert set(prod["checksums"][store]) == set(ddl_tables(store))
        assert all(re.fullmatch(r"[0-9a-f]{64}", v) for v in prod["checksums"][store].values())
    assert prod["sp"]["nodes"] > 0 and prod["sp"]["relationships"] > 0 and not prod["sp"]["skipped"]
    assert prod["meta"]["scale"] == "tiny" and prod["meta"]["seed"] == 42


def test_every_foreign_key_resolves(env):
    for db in list(spec.PROD_DATABASES.values()) + list(spec.CERT_DATABASES.values()):
        violations = pg_writer.fk_violations(_url(env, db))
        assert violations and not {k: v for k, v in violations.items() if v}, db


def test_row_counts_match_summary(env, tiny_estate):
    for store in STORES:
        assert pg_writer.row_counts(_url(env, store)) == tiny_estate["prod"][store]


# ----------------------------------------------------------------------------- hard cases (PROD)

def _fk(env, db, child, parent) -> list[tuple[list, list, bool]]:
    rows = _q(env, db, """
        SELECT array(SELECT a.attname FROM unnest(p.conkey) WITH ORDINALITY k(n, o)
                     JOIN pg_attribute a ON a.attrelid = p.conrelid AND a.attnum = k.n ORDER BY k.o)::text[],
               array(SELECT a.attname FROM unnest(p.confkey) WITH ORDINALITY k(n, o)
                     JOIN pg_attribute a ON a.attrelid = p.confrelid AND a.attnum = k.n ORDER BY k.o)::text[],
               p.condeferrable
        FROM pg_constraint p WHERE p.contype = 'f' AND p.conrelid = %s::regclass AND p.confrelid = %s::regclass""",
              (child, parent))
    return [(list(a), list(b), d) for a, b, d in rows]


def test_chain_only_tables_reach_the_district(env):
    cols = {r[0] for r in _q(env, "ids", "SELECT column_name FROM information_schema.columns WHERE table_name = 'attendance'")}
    assert "district_id" not in cols and "school_id" not in cols
    assert _fk(env, "ids", "attendance", "enrollments")
    assert _fk(env, "ids", "enrollments", "sections")
    assert _fk(env, "ids", "sections", "schools")
    assert _fk(env, "ids", "schools", "districts")
    n = _one(env, "ids", """SELECT count(*) FROM attendance a JOIN enrollments e ON e.id = a.enrollment_id
                             JOIN sections s ON s.school_id = e.school_id AND s.section_code = e.section_code
                             JOIN schools sc ON sc.id = s.school_id WHERE sc.district_id = %s""", (ROOT,))
    assert n > 0


def test_fk_cycle_and_self_references(env):
    principal = _fk(env, "ids", "schools", "staff")
    assert principal == [(["principal_id"], ["id"], True)]             # deferrable: loaders can insert schools first
    assert (["school_id"], ["id"], False) in _fk(env, "ids", "staff", "schools")
    assert _fk(env, "ids", "staff", "staff")[0][0] == ["supervisor_id"]
    assert sorted(f[0] for f in _fk(env, "ids", "course_prerequisites", "courses")) == [["course_id"], ["prerequisite_course_id"]]
    # the cycle is populated for district 42, and a nullable principal exists somewhere
    assert _one(env, "ids", """SELECT count(*) FROM schools sc JOIN staff st ON st.id = sc.principal_id
                                WHERE sc.district_id = %s AND st.school_id = sc.id""", (ROOT,)) > 0
    assert _one(env, "ids", "SELECT count(*) FROM schools WHERE principal_id IS NULL") > 0
    assert _one(env, "ids", """SELECT count(*) FROM staff s JOIN staff boss ON boss.id = s.supervisor_id
                                JOIN staff top ON top.id = boss.supervisor_id""") > 0     # 3 levels
    assert _one(env, "ids", "SELECT count(*) FROM course_prerequisites") > 0


def test_composite_keys(env):
    pk = _q(env, "ids", """SELECT array(SELECT a.attname FROM unnest(p.conkey) WITH ORDINALITY k(n, o)
                            JOIN pg_attribute a ON a.attrelid = p.conrelid AND a.attnum = k.n ORDER BY k.o)::text[]
                            FROM pg_constraint p WHERE p.contype = 'p' AND p.conrelid = 'sections'::regclass""")
    assert list(pk[0][0]) == ["school_id", "section_code"]
    for child in ("enrollments", "section_teachers", "assignments"):
        assert (["school_id", "section_code"], ["school_id", "section_code"], False) in _fk(env, "ids", child, "sections")


def test_reference_tables_have_no_district(env):
    for db, table in (("ids", "states"), ("ids", "grade_levels"), ("ids", "subjects"), ("ids", "terms"),
                      ("hcp1", "vaccines"), ("hcp1", "providers"), ("hcp2", "diagnosis_codes"),
                      ("adb", "dim_date"), ("adb", "dim_grade"), ("adb", "dim_subject")):
        cols = {r[0] for r in _q(env, db, "SELECT column_name FROM information_schema.columns WHERE table_name = %s", (table,))}
        assert cols and not any(re.search(r"(district|school)(_id)?$", c) for c in cols), (db, table)
        assert _one(env, db, sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table)).as_string()) > 0
    assert _one(env, "ids", "SELECT fips_code FROM states WHERE code = 'CA'") == "06"


def test_cross_district_rows_involving_42(env):
    out_of_42 = _one(env, "ids", """SELECT count(*) FROM students s JOIN schools p ON p.id = s.previous_school_id
                                     WHERE s.district_id = %s AND p.district_id <> %s""", (ROOT, ROOT))
    into_42 = _one(env, "ids", """SELECT count(*) FROM students s JOIN schools p ON p.id = s.previous_school_id
                                   WHERE s.district_id <> %s AND p.district_id = %s""", (ROOT, ROOT))
    assert out_of_42 > 0 and into_42 > 0
    staff_q = """SELECT count(*) FROM staff_assignments a JOIN staff s ON s.id = a.staff_id
                 JOIN schools home ON home.id = s.school_id JOIN schools there ON there.id = a.school_id
                 WHERE home.district_id {} %s AND there.district_id {} %s AND home.district_id <> there.district_id"""
    assert _one(env, "ids", staff_q.format("=", "<>"), (ROOT, ROOT)) > 0
    assert _one(env, "ids", staff_q.format("<>", "="), (ROOT, ROOT)) > 0
    # a cross-district teacher also teaches a section in the other district
    assert _one(env, "ids", """SELECT count(*) FROM section_teachers t JOIN staff s ON s.id = t.staff_id
                                JOIN schools home ON home.id = s.school_id
                                WHERE home.district_id <> (SELECT district_id FROM schools WHERE id = t.school_id)""") > 0
    # a guardian of children in two districts, one of them 42
    assert _one(env, "ids", """SELECT count(*) FROM (SELECT g.guardian_id FROM student_guardians g
                                JOIN students s ON s.id = g.student_id GROUP BY g.guardian_id
                                HAVING count(DISTINCT s.district_id) > 1 AND bool_or(s.district_id = %s)) x""", (ROOT,)) > 0
    # an HCP2 member whose home clinic is in another district than its IDS student
    ssid_district = dict(_q(env, "ids", "SELECT state_student_id, district_id FROM students"))
    rows = _q(env, "hcp2", "SELECT m.state_student_id, c.district_id FROM members m JOIN clinics c ON c.id = m.home_clinic_id")
    assert any(ssid_district[s] != d and (d == ROOT or ssid_district[s] == ROOT) for s, d in rows)


def test_key_kinds_and_logical_links(env):
    assert _one(env, "hcp2", "SELECT format_type(atttypid, atttypmod) FROM pg_attribute "
                             "WHERE attrelid = 'members'::regclass AND attname = 'id'") == "uuid"
    assert _one(env, "hcp1", "SELECT format_type(atttypid, atttypmod) FROM pg_attribute "
                             "WHERE attrelid = 'patients'::regclass AND attname = 'ids_student_id'") == "bigint"
    # no FK leaves a database; links resolve by value
    for db in ("hcp1", "hcp2", "adb"):
        for child, parent in _q(env, db, "SELECT conrelid::regclass::text, confrelid::regclass::text FROM pg_constraint WHERE contype = 'f'"):
            assert parent not in ("students", "schools", "districts"), (db, child, parent)
    students = set(_column(env, "ids", "students", "id"))
    ssids = set(_column(env, "ids", "students", "state_student_id"))
    schools = set(_column(env, "ids", "schools", "id"))
    districts = set(_column(env, "ids", "districts", "id"))
    assert set(_column(env, "hcp1", "patients", "ids_student_id")) <= students
    assert set(_column(env, "hcp2", "members", "state_student_id")) <= ssids
    assert set(_column(env, "hcp2", "clinics", "ids_school_id")) <= schools
    assert set(_column(env, "hcp2", "clinics", "district_id")) <= districts
    assert set(_column(env, "adb", "dim_school", "school_id")) == schools
    assert set(_column(env, "adb", "dim_district", "district_id")) == districts
    for table in ("fact_assessment", "fact_student_attendance_monthly", "student_risk_scores"):
        assert set(_column(env, "adb", table, "student_id")) <= students
    # district 42 is present in every store
    assert _one(env, "hcp1", "SELECT count(*) FROM patients WHERE ids_student_id = ANY(%s)",
                ([r[0] for r in _q(env, "ids", "SELECT id FROM students WHERE district_id = %s", (ROOT,))],)) > 0
    assert _one(env, "adb", "SELECT count(*) FROM fact_assessment WHERE district_id = %s", (ROOT,)) > 0
    assert _one(env, "hcp2", "SELECT count(*) FROM clinics WHERE district_id = %s", (ROOT,)) > 0


PHONE_SHAPES = {"dash": r"\d{3}-\d{3}-\d{4}", "paren": r"\(\d{3}\) \d{3}-\d{4}", "intl": r"\+1 \d{3} \d{3} \d{4}"}


def test_pii_shapes(env):
    phones = [p for p in _column(env, "ids", "guardians", "mobile_phone") + _column(env, "ids", "students", "phone") if p]
    for name, shape in PHONE_SHAPES.items():
        assert any(re.fullmatch(shape, p) for p in phones), name
    emails = [e for e in _column(env, "ids", "students", "email") if e]
    assert emails and all(re.fullmatch(r"[a-z0-9.]+@[a-z0-9.-]+\.[a-z]+", e) for e in emails)
    ssns = [s for s in _column(env, "ids", "staff", "ssn") if s]
    assert ssns and all(re.fullmatch(r"\d{3}-\d{2}-\d{4}", s) for s in ssns)
    assert _one(env, "ids", "SELECT count(*) FROM students WHERE ssn IS NOT NULL") > 0
    ages = _q(env, "ids", "SELECT min(date_part('year', age(%s::date, date_of_birth))), "
                          "max(date_part('year', age(%s::date, date_of_birth))) FROM students", (spec.AS_OF, spec.AS_OF))[0]
    assert 5 <= ages[0] and ages[1] <= 18
    ips = [i for i in _column(env, "ids", "sessions", "ip_address") if i]
    assert any(re.fullmatch(r"\d+\.\d+\.\d+\.\d+", i) for i in ips) and any(":" in i for i in ips)
    assert all(u.startswith("https://") for u in _column(env, "ids", "districts", "website_url"))
    assert any((r or "").startswith("https://") for r in _column(env, "ids", "sessions", "referrer_url"))
    assert any((h or "").startswith("$2b$12$") for h in _column(env, "ids", "users", "password_hash"))
    assert all(re.fullmatch(r"[a-z0-9]+\.[a-z0-9]+\.\d+", u) for u in _column(env, "ids", "users", "username"))
    assert any(re.fullmatch(r"\d+ .+", a or "") for a in _column(env, "ids", "guardians", "address_line1"))


def test_pii_inside_text_jsonb_arrays(env):
    # free text naming the student, with an e-mail and a phone
    assert _one(env, "ids", """SELECT count(*) FROM students WHERE notes LIKE '%%' || first_name || ' ' || last_name || '%%'""") > 0
    assert _one(env, "ids", r"SELECT count(*) FROM students WHERE notes ~ '[a-z0-9.]+@[a-z0-9.-]+' AND notes ~ '\d{3}\) \d{3}-\d{4}'") > 0
    assert _one(env, "ids", r"SELECT count(*) FROM counselor_notes WHERE body ~ '@' ") > 0
    assert _one(env, "hcp1", r"SELECT count(*) FROM encounters WHERE notes ~ '\d{3}'") > 0
    assert _one(env, "hcp2", r"SELECT count(*) FROM visits WHERE nurse_notes ~ '\d{3}'") > 0
    # jsonb guardian contacts
    names = _q(env, "ids", """SELECT g->>'name', g->>'phone', g->>'email' FROM students,
                               jsonb_array_elements(emergency_contacts->'guardians') g""")
    assert names and all(n for n, _, _ in names) and any(e for _, _, e in names) and all(p for _, p, _ in names)
    assert _one(env, "hcp2", "SELECT count(*) FROM members WHERE jsonb_array_length(guardian_contacts->'guardians') > 0") > 0
    # text[] of e-mails (also empty arrays and NULLs)
    assert _one(env, "ids", "SELECT count(*) FROM students WHERE cardinality(alternate_emails) > 0 "
                            "AND alternate_emails[1] LIKE '%%@%%'") > 0
    assert _one(env, "ids", "SELECT count(*) FROM students WHERE alternate_emails = '{}'") > 0
    assert _one(env, "ids", "SELECT count(*) FROM students WHERE alternate_emails IS NULL") > 0


def test_nasty_values(env):
    names = set(_q(env, "ids", "SELECT first_name, last_name FROM students WHERE district_id = %s", (ROOT,)))
    for pair in (("José", "O'Brien"), ("Zoë", "Müller"), ("芳", "王")):
        assert pair in names
    assert _one(env, "ids", "SELECT count(*) FROM students WHERE middle_name = ''") > 0
    assert _one(env, "ids", "SELECT count(*) FROM students WHERE middle_name IS NULL") > 0
    assert _one(env, "ids", "SELECT count(*) FROM students WHERE notes = ''") > 0
    assert _one(env, "ids", "SELECT max(length(notes)) FROM students WHERE district_id = %s", (ROOT,)) > 5000
    assert _one(env, "ids", "SELECT count(*) FROM students WHERE district_id = %s AND zip LIKE '0%%'", (ROOT,)) > 0
    assert _one(env, "ids", "SELECT count(*) FROM guardians WHERE last_name LIKE '%%''%%'") > 0
    assert _one(env, "ids", "SELECT count(*) FROM guardians WHERE address_line2 = ''") > 0


def test_pii_lookalike_columns_are_not_pii(env):
    cols = set(_q(env, "ids", "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = 'public'"))
    assert {("schools", "capacity"), ("students", "ethnicity_code"), ("students", "state"), ("staff", "last_login_at")} <= cols
    assert all(isinstance(c, int) for c in _column(env, "ids", "schools", "capacity"))
    assert all(re.fullmatch(r"E\d", e) for e in _column(env, "ids", "students", "ethnicity_code") if e)


def test_activity_and_validity_rules(env):
    """PROD passes the blocking validation rules (a migration must be possible) and shows recent activity."""
    assert _one(env, "ids", "SELECT count(*) FROM students WHERE graduation_date <= enrollment_date") == 0
    assert _one(env, "ids", "SELECT count(*) FROM staff WHERE termination_date <= hire_date") == 0
    assert _one(env, "ids", "SELECT count(*) FROM students s JOIN schools sc ON sc.id = s.school_id "
                            "WHERE sc.district_id <> s.district_id") == 0
    assert _one(env, "ids", "SELECT count(*) FROM students WHERE updated_at > %s::date - 30 AND district_id = %s",
                (spec.AS_OF, ROOT)) > 0
    assert _one(env, "ids", "SELECT max(created_at) FROM students") <= _one(env, "ids", "SELECT now()")


# ----------------------------------------------------------------------------- graph (PROD)

def test_graph_constraints_and_counts(env, tiny_estate):
    constraints = _cypher(env, "prod", "SHOW CONSTRAINTS YIELD labelsOrTypes, properties, type RETURN *")
    have = {(c["labelsOrTypes"][0], c["properties"][0]) for c in constraints if c["type"] == "UNIQUENESS"}
    assert set(NODE_KEYS.items()) <= have
    counts = _cypher(env, "prod", "MATCH (n) RETURN count(n) AS n")[0]["n"]
    rels = _cypher(env, "prod", "MATCH ()-[r]->() RETURN count(r) AS n")[0]["n"]
    assert counts == tiny_estate["prod"]["sp"]["nodes"] and rels == tiny_estate["prod"]["sp"]["relationships"]
    for label in ("District", "School", "Student", "Staff", "Section", "Guardian"):
        assert _cypher(env, "prod", f"MATCH (n:{label}) RETURN count(n) AS n")[0]["n"] > 0


def test_graph_relationships_with_and_without_properties(env):
    types = {r["t"] for r in _cypher(env, "prod", "MATCH ()-[r]->() RETURN DISTINCT type(r) AS t")}
    assert {"BELONGS_TO", "ENROLLED_IN", "WORKS_FOR", "TEACHES", "OFFERED_AT", "GUARDIAN_OF"} <= types
    since = _cypher(env, "prod", "MATCH (:Student)-[r:ENROLLED_IN]->(:School) RETURN r.since AS since LIMIT 1")[0]["since"]
    assert since.to_native() <= spec.AS_OF
    assert _cypher(env, "prod", "MATCH (:School)-[r:BELONGS_TO]->(:District) RETURN keys(r) AS k LIMIT 1")[0]["k"] == []
    assert _cypher(env, "prod", "MATCH ()-[r:GUARDIAN_OF]->() RETURN r.relationship AS v LIMIT 1")[0]["v"]
    path = _cypher(env, "prod", """MATCH (st:Staff)-[:TEACHES]->(:Section)-[:OFFERED_AT]->(:School)-[:BELONGS_TO]->(d:District)
                                   RETURN count(*) AS n""")[0]["n"]
    assert path > 0


def test_graph_cross_district_and_pii(env):
    two = _cypher(env, "prod", """MATCH (s:Staff)-[:WORKS_FOR]->(d:District) WITH s, collect(d.district_id) AS ds
                                  WHERE size(ds) > 1 AND $root IN ds RETURN count(s) AS n""", root=ROOT)[0]["n"]
    assert two > 0
    prev = _cypher(env, "prod", """MATCH (:District {district_id: $root})<-[:BELONGS_TO]-(:School)<-[:ENROLLED_IN]-(s:Student)
                                   -[:PREVIOUSLY_ENROLLED_IN]->(:School)-[:BELONGS_TO]->(d:District)
                                   WHERE d.district_id <> $root RETURN count(s) AS n""", root=ROOT)[0]["n"]
    assert prev > 0
    jose = _cypher(env, "prod", "MATCH (s:Student {first_name: 'José', last_name: \"O'Brien\"}) RETURN s")[0]["s"]
    assert "@" in jose["email"] and jose["phone"] and isinstance(jose["date_of_birth"].to_native(), date)
    assert _cypher(env, "prod", "MATCH (m:Message) WHERE m.body CONTAINS '@' OR m.body =~ '.*\\\\d{3}.*' RETURN count(m) AS n")[0]["n"] > 0
    # graph and IDS describe the same people
    ids_students = _one(env, "ids", "SELECT count(*) FROM students")
    assert _cypher(env, "prod", "MATCH (s:Student) RETURN count(s) AS n")[0]["n"] == ids_students


# ----------------------------------------------------------------------------- determinism in the database

@pytest.fixture(scope="module")
def scratch_databases(env):
    """Scratch databases beside PROD (PROD itself is never reseeded here)."""
    names = ["estate_det_a", "estate_det_b"]
    admin = env["DATAMIG_PG_ADMIN_URL"]
    with psycopg.connect(admin, autocommit=True) as conn:
        for name in names:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name)))
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    yield {name: pg_writer.db_url(admin, name) for name in names}
    with psycopg.connect(admin, autocommit=True) as conn:
        for name in names:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def test_seeding_is_deterministic_in_the_database(env, scratch_databases):
    a, b = scratch_databases["estate_det_a"], scratch_databases["estate_det_b"]
    pg_writer.apply_ddl(a, "ids")
    pg_writer.apply_ddl(b, "ids")
    pg_writer.load_tables(a, generate("tiny", 42).pg["ids"])
    prod = pg_writer.table_checksums(_url(env, "ids"))
    assert pg_writer.table_checksums(a) == prod            # seed_prod wrote exactly generate()'s rows
    pg_writer.load_tables(b, generate("tiny", 43).pg["ids"])
    other = pg_writer.table_checksums(b)
    assert other["students"] != prod["students"] and other["enrollments"] != prod["enrollments"]
    assert other["states"] == prod["states"]
    pg_writer.load_tables(b, generate("tiny", 42).pg["ids"])     # reload over existing rows: same again
    assert pg_writer.table_checksums(b) == prod


def test_reapplying_schemas_is_harmless(env):
    from datamig.estate.seed import apply_schemas

    before = pg_writer.row_counts(_url(env, "ids"))
    apply_schemas(env, "prod")
    apply_schemas(env, "cert")
    assert pg_writer.row_counts(_url(env, "ids")) == before


# ----------------------------------------------------------------------------- CERT's own data

def test_cert_districts_in_every_store(env, tiny_estate):
    cert = tiny_estate["cert"]
    assert cert["meta"]["districts"] == list(spec.CERT_DISTRICTS)
    assert {r[0] for r in _q(env, "cert_ids", "SELECT id FROM districts")} == set(spec.CERT_DISTRICTS)
    assert not _q(env, "ids", "SELECT id FROM districts WHERE id = ANY(%s)", (list(spec.CERT_DISTRICTS),))
    for district in spec.CERT_DISTRICTS:
        assert _one(env, "cert_ids", "SELECT count(*) FROM students WHERE district_id = %s", (district,)) > 0
        assert _one(env, "cert_hcp2", "SELECT count(*) FROM clinics WHERE district_id = %s", (district,)) > 0
        assert _one(env, "cert_adb", "SELECT count(*) FROM dim_district WHERE district_id = %s", (district,)) > 0
        assert _cypher(env, "cert", "MATCH (d:District {district_id: $d})<-[:BELONGS_TO]-(s:School) RETURN count(s) AS n",
                       d=district)[0]["n"] > 0
    cert_students = set(_column(env, "cert_ids", "students", "id"))
    assert set(_column(env, "cert_hcp1", "patients", "ids_student_id")) <= cert_students
    for store in STORES:
        assert sum(cert[store].values()) > 0
    assert cert["sp"]["nodes"] > 0


def test_cert_keys_collide_with_prod_district_42(env, tiny_estate):
    keys = tiny_estate["cert"]["meta"]["collisions"]
    student = keys["ids.students.id"]
    assert _one(env, "ids", "SELECT district_id FROM students WHERE id = %s", (student,)) == ROOT
    assert _one(env, "cert_ids", "SELECT district_id FROM students WHERE id = %s", (student,)) in spec.CERT_DISTRICTS
    school = keys["ids.schools.id"]
    assert _one(env, "ids", "SELECT district_id FROM schools WHERE id = %s", (school,)) == ROOT
    assert _one(env, "cert_ids", "SELECT district_id FROM schools WHERE id = %s", (school,)) in spec.CERT_DISTRICTS
    ssid = keys["ids.students.state_student_id"]
    prod_row = _q(env, "ids", "SELECT id, district_id FROM students WHERE state_student_id = %s", (ssid,))[0]
    cert_row = _q(env, "cert_ids", "SELECT id, district_id FROM students WHERE state_student_id = %s", (ssid,))[0]
    assert prod_row[1] == ROOT and cert_row[1] in spec.CERT_DISTRICTS and prod_row[0] != cert_row[0]
    for table, key in (("staff", "ids.staff.id"), ("guardians", "ids.guardians.id"), ("enrollments", "ids.enrollments.id")):
        q = sql.SQL("SELECT count(*) FROM {} WHERE id = %s").format(sql.Identifier(table)).as_string()
        assert _one(env, "ids", q, (keys[key],)) == 1 and _one(env, "cert_ids", q, (keys[key],)) == 1, table
    sec_school, sec_code = keys["ids.sections.school_id,section_code"]
    q = "SELECT course_id FROM sections WHERE school_id = %s AND section_code = %s"
    assert _q(env, "ids", q, (sec_school, sec_code)) and _q(env, "cert_ids", q, (sec_school, sec_code))
    assert _q(env, "cert_hcp1", "SELECT id FROM patients WHERE ids_student_id = %s", (student,))[0][0] == keys["hcp1.patients.id"]
    assert str(_q(env, "cert_hcp2", "SELECT id FROM members WHERE state_student_id = %s", (ssid,))[0][0]) == keys["hcp2.members.id"]
    assert _one(env, "cert_adb", "SELECT district_id FROM dim_school WHERE school_id = %s", (school,)) in spec.CERT_DISTRICTS
    node = _cypher(env, "cert", "MATCH (s:Student {student_id: $id})-[:ENROLLED_IN]->(:School)-[:BELONGS_TO]->(d:District) "
                                "RETURN d.district_id AS d", id=student)
    assert node and node[0]["d"] in spec.CERT_DISTRICTS
    assert _cypher(env, "prod", "MATCH (s:Student {student_id: $id}) RETURN count(s) AS n", id=student)[0]["n"] == 1


def test_cert_keys_from_estate_match_database(env):
    """seed_cert picks the same PROD keys whether it reads PROD or regenerates it."""
    from_db = cert_seed.prod_keys_from_db(env)
    from_estate = cert_seed.prod_keys_from_estate(generate("tiny", 42))
    assert from_db == {k: (str(v) if k == "member_id" else v) for k, v in from_estate.items()}
