"""CERT's own test data: what a CERT environment holds before any migration, and which a
migration must never destroy or silently overwrite.

Two CERT-only districts (9001, 9002) with schools, staff, students, guardians, health
records, analytics and graph nodes in every CERT store, made by the same generator as PROD
(its surrogate keys shifted by CERT_ID_OFFSET, far from PROD's), plus deliberate collisions:
CERT rows whose keys equal keys of PROD district 42 -- a school id, a student id, another
student's state_student_id, a staff id, a guardian id, a section (school_id, section_code),
an enrollment id, an HCP1 patient id (and its ids_student_id), an HCP2 member uuid -- and the
matching graph nodes (Student, School, Staff, Guardian, Section). Loading district 42 into
CERT therefore meets existing CERT rows, and a loader must notice rather than clobber them.

seed_cert resets CERT: whatever the CERT stores held is replaced by this data.
"""
from __future__ import annotations

import time
from collections.abc import Mapping

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import psycopg

from . import spec
from .generate import Estate, generate
from .pg_writer import db_url
from .seed import Progress, _admin_url, write_estate

CERT_ID_OFFSET = 50_000_000
CERT_SCALE = spec.Scale("cert", ((spec.CERT_DISTRICTS[0], 40), (spec.CERT_DISTRICTS[1], 20)), fact_days=3,
                        messages_per_student=2.0)


# ----------------------------------------------------------------------------- PROD's keys

def prod_keys_from_db(env: Mapping[str, str]) -> dict | None:
    """Keys of PROD district 42 to collide with, read from PROD; None if 42 is not there."""
    admin = _admin_url(env)
    root = spec.ROOT_DISTRICT
    try:
        with psycopg.connect(db_url(admin, spec.PROD_DATABASES["ids"]), autocommit=True) as conn:
            students = conn.execute("SELECT id, state_student_id FROM students WHERE district_id = %s "
                                    "ORDER BY id LIMIT 2", (root,)).fetchall()
            if len(students) < 2:
                return None
            school = conn.execute("SELECT min(id) FROM schools WHERE district_id = %s", (root,)).fetchone()[0]
            keys = {
                "school_id": school,
                "student_id": students[0][0],
                "state_student_id": students[1][1],
                "staff_id": conn.execute("SELECT min(s.id) FROM staff s JOIN schools sc ON sc.id = s.school_id "
                                         "WHERE sc.district_id = %s", (root,)).fetchone()[0],
                "guardian_id": conn.execute("SELECT min(g.guardian_id) FROM student_guardians g JOIN students s "
                                            "ON s.id = g.student_id WHERE s.district_id = %s", (root,)).fetchone()[0],
                "section_code": conn.execute("SELECT min(section_code) FROM sections WHERE school_id = %s",
                                             (school,)).fetchone()[0],
                "enrollment_id": conn.execute("SELECT min(e.id) FROM enrollments e JOIN students s "
                                              "ON s.id = e.student_id WHERE s.district_id = %s", (root,)).fetchone()[0],
            }
        with psycopg.connect(db_url(admin, spec.PROD_DATABASES["hcp1"]), autocommit=True) as conn:
            row = conn.execute("SELECT id FROM patients WHERE ids_student_id = %s", (keys["student_id"],)).fetchone()
            keys["patient_id"] = row[0] if row else None
        with psycopg.connect(db_url(admin, spec.PROD_DATABASES["hcp2"]), autocommit=True) as conn:
            row = conn.execute("SELECT id::text FROM members WHERE state_student_id = %s",
                               (keys["state_student_id"],)).fetchone()
            keys["member_id"] = row[0] if row else None
    except psycopg.errors.UndefinedTable:
        return None
    return keys


def prod_keys_from_estate(estate: Estate) -> dict:
    """The same keys, computed from a generated PROD estate (PROD not seeded yet)."""
    w = estate.world
    root = int(np.flatnonzero(w.d_id == spec.ROOT_DISTRICT)[0])
    students = np.flatnonzero(w.s_dist == root)
    students = students[np.argsort(w.s_id[students])]
    schools = np.flatnonzero(w.sc_dist == root)
    school = int(schools[np.argmin(w.sc_id[schools])])
    staff = np.flatnonzero(w.sc_dist[w.st_school] == root)
    in_root = w.s_dist[w.sg_student] == root
    sections = np.flatnonzero(w.sec_school == school)
    enrolled = np.flatnonzero(w.s_dist[w.e_student] == root)
    keys = {
        "school_id": int(w.sc_id[school]),
        "student_id": int(w.s_id[students[0]]),
        "state_student_id": w.s_ssid[int(students[1])].as_py(),
        "staff_id": int(w.st_id[staff].min()),
        "guardian_id": int(w.g_id[w.sg_guardian[in_root]].min()),
        "section_code": min(w.sec_code.take(pa.array(sections)).to_pylist()),
        "enrollment_id": int(w.e_id[enrolled].min()),
    }
    patients = estate.pg["hcp1"]["patients"]
    hit = patients.filter(pc.equal(patients["ids_student_id"], keys["student_id"]))
    keys["patient_id"] = hit["id"][0].as_py() if hit.num_rows else None
    members = estate.pg["hcp2"]["members"]
    hit = members.filter(pc.equal(members["state_student_id"], keys["state_student_id"]))
    keys["member_id"] = hit["id"][0].as_py() if hit.num_rows else None
    return keys


# ----------------------------------------------------------------------------- collisions

def _collide_entities(keys: dict):
    """World patch: give chosen CERT entities PROD district 42's keys before tables exist, so
    every referencing column (and the graph) follows."""

    def patch(w) -> None:
        first_school = int(np.flatnonzero(w.sc_dist == 0)[0])
        w.sc_id[first_school] = keys["school_id"]
        first_student = int(np.flatnonzero(w.s_dist == 0)[0])
        w.s_id[first_student] = keys["student_id"]
        ssid = w.s_ssid.to_pylist()
        ssid[first_student + 1] = keys["state_student_id"]
        w.s_ssid = pa.array(ssid, pa.string())
        teacher = int(np.flatnonzero((w.st_school == first_school) & (w.st_role == 2))[0])
        w.st_id[teacher] = keys["staff_id"]
        guardian = int(w.sg_guardian[np.flatnonzero(w.sg_student == first_student)[0]])
        w.g_id[guardian] = keys["guardian_id"]
        section = int(np.flatnonzero(w.sec_school == first_school)[0])
        codes = w.sec_code.to_pylist()
        codes[section] = keys["section_code"]
        w.sec_code = pa.array(codes, pa.string())
        w.extras["cert_collisions"] = {"first_student": first_student, "teacher": teacher,
                                       "guardian": guardian, "section": section}

    return patch


def _remap(table: pa.Table, column: str, old, new) -> pa.Table:
    col = table[column]
    value = pa.scalar(new, col.type) if not pa.types.is_string(col.type) else pa.scalar(str(new))
    replaced = pc.if_else(pc.equal(col, pa.scalar(old, col.type)), value, col)
    return table.set_column(table.schema.get_field_index(column), column, replaced)


def _collide_rows(estate: Estate, keys: dict) -> None:
    """Row-level keys that no World array holds: enrollment id, patient id, member uuid."""
    ids, hcp1, hcp2 = estate.pg["ids"], estate.pg["hcp1"], estate.pg["hcp2"]
    old = ids["enrollments"]["id"][0].as_py()
    ids["enrollments"] = _remap(ids["enrollments"], "id", old, keys["enrollment_id"])
    ids["attendance"] = _remap(ids["attendance"], "enrollment_id", old, keys["enrollment_id"])
    if keys.get("patient_id") is not None:
        patients = hcp1["patients"]
        hit = patients.filter(pc.equal(patients["ids_student_id"], keys["student_id"]))
        old = hit["id"][0].as_py()
        for name, column in (("patients", "id"), ("emergency_contacts", "patient_id"), ("encounters", "patient_id"),
                             ("immunizations", "patient_id"), ("allergies", "patient_id"),
                             ("medications", "patient_id"), ("screenings", "patient_id")):
            hcp1[name] = _remap(hcp1[name], column, old, keys["patient_id"])
    if keys.get("member_id") is not None:
        members = hcp2["members"]
        hit = members.filter(pc.equal(members["state_student_id"], keys["state_student_id"]))
        old = hit["id"][0].as_py()
        for name, column in (("members", "id"), ("visits", "member_id"), ("care_plans", "member_id"),
                             ("consents", "member_id")):
            hcp2[name] = _remap(hcp2[name], column, old, keys["member_id"])


def cert_estate(keys: dict, seed: int = 7) -> Estate:
    estate = generate(CERT_SCALE, seed, id_offset=CERT_ID_OFFSET, patch=_collide_entities(keys))
    _collide_rows(estate, keys)
    return estate


def collision_report(keys: dict) -> dict[str, object]:
    """Where CERT deliberately shares keys with PROD district 42 ("store.table.column": key)."""
    report = {
        "ids.schools.id": keys["school_id"], "ids.students.id": keys["student_id"],
        "ids.students.state_student_id": keys["state_student_id"], "ids.staff.id": keys["staff_id"],
        "ids.guardians.id": keys["guardian_id"],
        "ids.sections.school_id,section_code": [keys["school_id"], keys["section_code"]],
        "ids.enrollments.id": keys["enrollment_id"],
        "hcp1.patients.ids_student_id": keys["student_id"],
        "hcp2.members.state_student_id": keys["state_student_id"],
        "adb.dim_school.school_id": keys["school_id"],
        "sp.Student.student_id": keys["student_id"], "sp.School.school_id": keys["school_id"],
        "sp.Staff.staff_id": keys["staff_id"], "sp.Guardian.guardian_id": keys["guardian_id"],
        "sp.Section.section_id": f"{keys['school_id']}:{keys['section_code']}",
    }
    if keys.get("patient_id") is not None:
        report["hcp1.patients.id"] = keys["patient_id"]
    if keys.get("member_id") is not None:
        report["hcp2.members.id"] = keys["member_id"]
    return report


def seed_cert(env: Mapping[str, str], seed: int = 7, progress: Progress = None) -> dict:
    """Reset CERT to its own test data (see module doc). Same summary shape as seed_prod, with
    meta.collisions listing the keys shared with PROD district 42 (read from PROD when it is
    seeded, else taken from the tiny PROD estate of seed 42)."""
    start = time.perf_counter()
    keys = prod_keys_from_db(env)
    source = "prod database"
    if keys is None:
        keys = prod_keys_from_estate(generate("tiny", 42))
        source = "generated tiny estate (PROD not seeded)"
    estate = cert_estate(keys, seed)
    timings = {"generate": round(time.perf_counter() - start, 3)}
    summary = write_estate(env, "cert", estate, progress, timings)
    summary["meta"]["collisions"] = collision_report(keys)
    summary["meta"]["collision_source"] = source
    summary["meta"]["seconds"]["total"] = round(time.perf_counter() - start, 3)
    return summary
