"""An independent oracle for `datamig extract`: the primary keys every table of a district's
slice must hold, computed straight from PROD with hand-written recursive SQL.

Nothing here imports the extractor (or the analyzer): the foreign keys of this estate are
written out by hand in the SQL below, per table, following the slice semantics

  down  from the district root row, every row that references a row already in the
        down-set through a NOT NULL FK or a config link (nullable FKs are never walked
        downwards), over any number of hops;
  up    every row referenced (any FK or link, nullable included) by a selected row,
        recursively; rows reached only upwards are never walked downwards.

`EXPECTED_FKS` lists the catalog FKs the SQL was written for; the tests compare it with the
live catalog so a schema change cannot silently leave the oracle behind. Each predicate that
walks an FK downwards is marked `{x:store.table.cols}`, so config traversal.down_exclude can
switch it off; reference tables with policy `whole` switch on `OR %(whole_<table>)s`. Config links whose
child is outside IDS and whose parent is in IDS (the shape of every link of this estate)
become extra predicates: downwards as `col = ANY(<IDS down-set column>)`, upwards as seed
arrays fed back into the IDS statement. So the order is: IDS down-set -> each other store
(down and up, given IDS's down-set as arrays) -> IDS again with the other stores' seeds.
"""
from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field

import psycopg

# ----------------------------------------------------------------------------- the estate

PK = {
    "ids": {
        "states": ["code"], "grade_levels": ["grade_level"], "subjects": ["id"], "terms": ["id"],
        "districts": ["id"], "schools": ["id"], "staff": ["id"], "staff_assignments": ["staff_id", "school_id"],
        "teachers": ["staff_id"], "students": ["id"], "guardians": ["id"],
        "student_guardians": ["student_id", "guardian_id"], "courses": ["id"],
        "course_prerequisites": ["course_id", "prerequisite_course_id"], "sections": ["school_id", "section_code"],
        "section_teachers": ["school_id", "section_code", "staff_id"], "enrollments": ["id"],
        "attendance": ["enrollment_id", "attendance_date"], "assignments": ["id"], "submissions": ["id"],
        "counselor_notes": ["id"], "users": ["id"], "sessions": ["id"], "audit_log": ["id"],
    },
    "hcp1": {
        "vaccines": ["code"], "providers": ["id"], "patients": ["id"], "emergency_contacts": ["id"],
        "encounters": ["id"], "immunizations": ["id"], "allergies": ["patient_id", "allergen"],
        "medications": ["id"], "screenings": ["id"],
    },
    "hcp2": {
        "diagnosis_codes": ["icd10_code"], "clinics": ["id"], "members": ["id"], "visits": ["id"],
        "visit_diagnoses": ["visit_id", "seq"], "care_plans": ["id"], "consents": ["member_id", "consent_type"],
    },
    "adb": {
        "dim_date": ["date_key"], "dim_grade": ["grade_level"], "dim_subject": ["subject_id"],
        "dim_district": ["district_id"], "dim_school": ["school_id"],
        "fact_enrollment_daily": ["school_id", "date_key", "grade_level"],
        "fact_attendance_daily": ["school_id", "date_key"], "fact_assessment": ["id"],
        "fact_student_attendance_monthly": ["student_id", "month_key"],
        "fact_course_grades": ["school_id", "term_id", "subject_id"], "student_risk_scores": ["student_id"],
        "etl_runs": ["id"],
    },
}
STORES = ("ids", "hcp1", "hcp2", "adb")

# (child, columns, parent, parent columns, child columns all nullable) -- what the SQL encodes.
EXPECTED_FKS = {
    "ids": {
        ("districts", ("state",), "states", ("code",), False),
        ("schools", ("district_id",), "districts", ("id",), False),
        ("schools", ("state",), "states", ("code",), False),
        ("schools", ("principal_id",), "staff", ("id",), True),
        ("staff", ("school_id",), "schools", ("id",), False),
        ("staff", ("supervisor_id",), "staff", ("id",), True),
        ("staff", ("state",), "states", ("code",), True),
        ("staff_assignments", ("staff_id",), "staff", ("id",), False),
        ("staff_assignments", ("school_id",), "schools", ("id",), False),
        ("teachers", ("staff_id",), "staff", ("id",), False),
        ("teachers", ("certification_state",), "states", ("code",), True),
        ("teachers", ("primary_subject_id",), "subjects", ("id",), True),
        ("students", ("district_id",), "districts", ("id",), False),
        ("students", ("school_id",), "schools", ("id",), False),
        ("students", ("previous_school_id",), "schools", ("id",), True),
        ("students", ("grade_level",), "grade_levels", ("grade_level",), False),
        ("students", ("state",), "states", ("code",), True),
        ("guardians", ("state",), "states", ("code",), True),
        ("student_guardians", ("student_id",), "students", ("id",), False),
        ("student_guardians", ("guardian_id",), "guardians", ("id",), False),
        ("courses", ("district_id",), "districts", ("id",), False),
        ("courses", ("subject_id",), "subjects", ("id",), False),
        ("courses", ("grade_min",), "grade_levels", ("grade_level",), False),
        ("courses", ("grade_max",), "grade_levels", ("grade_level",), False),
        ("course_prerequisites", ("course_id",), "courses", ("id",), False),
        ("course_prerequisites", ("prerequisite_course_id",), "courses", ("id",), False),
        ("sections", ("school_id",), "schools", ("id",), False),
        ("sections", ("course_id",), "courses", ("id",), False),
        ("sections", ("term_id",), "terms", ("id",), False),
        ("section_teachers", ("school_id", "section_code"), "sections", ("school_id", "section_code"), False),
        ("section_teachers", ("staff_id",), "staff", ("id",), False),
        ("enrollments", ("student_id",), "students", ("id",), False),
        ("enrollments", ("school_id", "section_code"), "sections", ("school_id", "section_code"), False),
        ("attendance", ("enrollment_id",), "enrollments", ("id",), False),
        ("assignments", ("school_id", "section_code"), "sections", ("school_id", "section_code"), False),
        ("submissions", ("assignment_id",), "assignments", ("id",), False),
        ("submissions", ("student_id",), "students", ("id",), False),
        ("counselor_notes", ("student_id",), "students", ("id",), False),
        ("counselor_notes", ("author_staff_id",), "staff", ("id",), False),
        ("users", ("district_id",), "districts", ("id",), False),
        ("users", ("student_id",), "students", ("id",), True),
        ("users", ("staff_id",), "staff", ("id",), True),
        ("users", ("guardian_id",), "guardians", ("id",), True),
        ("sessions", ("user_id",), "users", ("id",), False),
    },
    "hcp1": {
        ("emergency_contacts", ("patient_id",), "patients", ("id",), False),
        ("encounters", ("patient_id",), "patients", ("id",), False),
        ("encounters", ("provider_id",), "providers", ("id",), False),
        ("immunizations", ("patient_id",), "patients", ("id",), False),
        ("immunizations", ("vaccine_code",), "vaccines", ("code",), False),
        ("immunizations", ("provider_id",), "providers", ("id",), True),
        ("allergies", ("patient_id",), "patients", ("id",), False),
        ("medications", ("patient_id",), "patients", ("id",), False),
        ("medications", ("prescriber_id",), "providers", ("id",), True),
        ("screenings", ("patient_id",), "patients", ("id",), False),
    },
    "hcp2": {
        ("members", ("home_clinic_id",), "clinics", ("id",), True),
        ("visits", ("member_id",), "members", ("id",), False),
        ("visits", ("clinic_id",), "clinics", ("id",), False),
        ("visit_diagnoses", ("visit_id",), "visits", ("id",), False),
        ("visit_diagnoses", ("icd10_code",), "diagnosis_codes", ("icd10_code",), False),
        ("care_plans", ("member_id",), "members", ("id",), False),
        ("consents", ("member_id",), "members", ("id",), False),
    },
    "adb": {
        ("dim_school", ("district_id",), "dim_district", ("district_id",), False),
        ("fact_enrollment_daily", ("school_id",), "dim_school", ("school_id",), False),
        ("fact_enrollment_daily", ("date_key",), "dim_date", ("date_key",), False),
        ("fact_enrollment_daily", ("grade_level",), "dim_grade", ("grade_level",), False),
        ("fact_attendance_daily", ("school_id",), "dim_school", ("school_id",), False),
        ("fact_attendance_daily", ("date_key",), "dim_date", ("date_key",), False),
        ("fact_assessment", ("school_id",), "dim_school", ("school_id",), False),
        ("fact_assessment", ("subject_id",), "dim_subject", ("subject_id",), False),
        ("fact_assessment", ("date_key",), "dim_date", ("date_key",), False),
        ("fact_student_attendance_monthly", ("school_id",), "dim_school", ("school_id",), False),
        ("fact_course_grades", ("school_id",), "dim_school", ("school_id",), False),
        ("fact_course_grades", ("subject_id",), "dim_subject", ("subject_id",), False),
        ("student_risk_scores", ("school_id",), "dim_school", ("school_id",), False),
    },
}

# IDS columns a link may point at, with the array type their keys travel as.
IDS_LINK_TARGETS = {
    ("districts", "id"): "bigint[]", ("schools", "id"): "bigint[]", ("staff", "id"): "bigint[]",
    ("students", "id"): "bigint[]", ("students", "state_student_id"): "text[]", ("terms", "id"): "integer[]",
    ("subjects", "id"): "integer[]", ("grade_levels", "grade_level"): "smallint[]", ("states", "code"): "text[]",
    ("courses", "id"): "bigint[]", ("guardians", "id"): "bigint[]", ("users", "id"): "bigint[]",
}
# Tables without any FK (in or out): the only ones the SQL lets the config exclude.
EXCLUDABLE = {"ids.audit_log", "adb.etl_runs"}


@dataclass(frozen=True)
class OracleLink:
    store: str
    table: str
    column: str
    ref_table: str      # always an IDS table
    ref_column: str

    @property
    def param(self) -> str:
        return f"{self.ref_table}__{self.ref_column}"


def parse_links(texts) -> list[OracleLink]:
    """Config link strings -> OracleLink; anything the SQL cannot express is an AssertionError."""
    out = []
    for text in texts:
        left, right = (s.strip() for s in text.split("->"))
        store, table, cols = left.split(".")
        rstore, rtable, rcols = right.split(".")
        assert "," not in cols and "," not in rcols, f"oracle: composite link {text!r} not supported"
        assert rstore == "ids" and store != "ids", f"oracle: link {text!r} is not <other store> -> ids"
        assert (rtable, rcols) in IDS_LINK_TARGETS, f"oracle: link target ids.{rtable}.{rcols} not supported"
        assert table in PK[store], f"oracle: unknown table in link {text!r}"
        out.append(OracleLink(store, table, cols, rtable, rcols))
    return out


def norm(value):
    return str(value) if isinstance(value, uuid.UUID) else value


@dataclass
class TableKeys:
    all: set = field(default_factory=set)     # every row of the slice
    down: set = field(default_factory=set)    # rows in the district (reached downwards)

    @property
    def up_only(self) -> int:
        return len(self.all - self.down)


# ----------------------------------------------------------------------------- SQL

def _in(cols: str, cte: str) -> str:
    return f"({cols}) IN (SELECT * FROM {cte})"


IDS_SQL = """
WITH RECURSIVE
-- ---------------------------------------------------------------- down (NOT NULL FKs only)
d_districts AS (SELECT id FROM districts WHERE id = %(district)s),
d_states AS (SELECT code FROM states WHERE false),
d_grade_levels AS (SELECT grade_level FROM grade_levels WHERE false),
d_subjects AS (SELECT id FROM subjects WHERE false),
d_terms AS (SELECT id FROM terms WHERE false),
d_audit_log AS (SELECT id FROM audit_log WHERE false),
d_schools AS (SELECT id FROM schools WHERE {x:ids.schools.district_id}district_id IN (SELECT id FROM d_districts)),
-- principal_id is nullable: a school's principal is a parent, never a way down
d_staff AS (SELECT id FROM staff WHERE {x:ids.staff.school_id}school_id IN (SELECT id FROM d_schools)),
d_staff_assignments AS (SELECT staff_id, school_id FROM staff_assignments
                        WHERE {x:ids.staff_assignments.staff_id}staff_id IN (SELECT id FROM d_staff) OR {x:ids.staff_assignments.school_id}school_id IN (SELECT id FROM d_schools)),
d_teachers AS (SELECT staff_id FROM teachers WHERE {x:ids.teachers.staff_id}staff_id IN (SELECT id FROM d_staff)),
d_students AS (SELECT id FROM students
               WHERE {x:ids.students.district_id}district_id IN (SELECT id FROM d_districts) OR {x:ids.students.school_id}school_id IN (SELECT id FROM d_schools)),
-- guardians reference nothing in a district (only states): never reached downwards
d_guardians AS (SELECT id FROM guardians WHERE false),
d_student_guardians AS (SELECT student_id, guardian_id FROM student_guardians
                        WHERE {x:ids.student_guardians.student_id}student_id IN (SELECT id FROM d_students) OR {x:ids.student_guardians.guardian_id}guardian_id IN (SELECT id FROM d_guardians)),
d_courses AS (SELECT id FROM courses WHERE {x:ids.courses.district_id}district_id IN (SELECT id FROM d_districts)),
d_course_prerequisites AS (SELECT course_id, prerequisite_course_id FROM course_prerequisites
                           WHERE {x:ids.course_prerequisites.course_id}course_id IN (SELECT id FROM d_courses)
                              OR {x:ids.course_prerequisites.prerequisite_course_id}prerequisite_course_id IN (SELECT id FROM d_courses)),
d_sections AS (SELECT school_id, section_code FROM sections
               WHERE {x:ids.sections.school_id}school_id IN (SELECT id FROM d_schools) OR {x:ids.sections.course_id}course_id IN (SELECT id FROM d_courses)),
d_section_teachers AS (SELECT school_id, section_code, staff_id FROM section_teachers
                       WHERE {x:ids.section_teachers.school_id,section_code}(school_id, section_code) IN (SELECT * FROM d_sections)
                          OR {x:ids.section_teachers.staff_id}staff_id IN (SELECT id FROM d_staff)),
d_enrollments AS (SELECT id FROM enrollments
                  WHERE {x:ids.enrollments.student_id}student_id IN (SELECT id FROM d_students)
                     OR {x:ids.enrollments.school_id,section_code}(school_id, section_code) IN (SELECT * FROM d_sections)),
d_attendance AS (SELECT enrollment_id, attendance_date FROM attendance
                 WHERE {x:ids.attendance.enrollment_id}enrollment_id IN (SELECT id FROM d_enrollments)),
d_assignments AS (SELECT id FROM assignments WHERE {x:ids.assignments.school_id,section_code}(school_id, section_code) IN (SELECT * FROM d_sections)),
d_submissions AS (SELECT id FROM submissions
                  WHERE {x:ids.submissions.assignment_id}assignment_id IN (SELECT id FROM d_assignments) OR {x:ids.submissions.student_id}student_id IN (SELECT id FROM d_students)),
d_counselor_notes AS (SELECT id FROM counselor_notes
                      WHERE {x:ids.counselor_notes.student_id}student_id IN (SELECT id FROM d_students) OR {x:ids.counselor_notes.author_staff_id}author_staff_id IN (SELECT id FROM d_staff)),
-- users.student_id / staff_id / guardian_id are nullable: only district_id leads down
d_users AS (SELECT id FROM users WHERE {x:ids.users.district_id}district_id IN (SELECT id FROM d_districts)),
d_sessions AS (SELECT id FROM sessions WHERE {x:ids.sessions.user_id}user_id IN (SELECT id FROM d_users)),
-- ---------------------------------------------------------------- up (every FK), children first
a_sessions AS (SELECT id FROM sessions WHERE id IN (SELECT id FROM d_sessions) OR %(whole_sessions)s),
a_users AS (SELECT id FROM users
            WHERE id IN (SELECT id FROM d_users)
               OR id IN (SELECT user_id FROM sessions WHERE id IN (SELECT id FROM a_sessions))
               OR id = ANY(%(seed_users__id)s::bigint[]) OR %(whole_users)s),
a_attendance AS (SELECT enrollment_id, attendance_date FROM attendance
                 WHERE (enrollment_id, attendance_date) IN (SELECT * FROM d_attendance) OR %(whole_attendance)s),
a_enrollments AS (SELECT id FROM enrollments
                  WHERE id IN (SELECT id FROM d_enrollments) OR id IN (SELECT enrollment_id FROM a_attendance)
                     OR %(whole_enrollments)s),
a_submissions AS (SELECT id FROM submissions WHERE id IN (SELECT id FROM d_submissions) OR %(whole_submissions)s),
a_assignments AS (SELECT id FROM assignments
                  WHERE id IN (SELECT id FROM d_assignments)
                     OR id IN (SELECT assignment_id FROM submissions WHERE id IN (SELECT id FROM a_submissions))
                     OR %(whole_assignments)s),
a_counselor_notes AS (SELECT id FROM counselor_notes
                      WHERE id IN (SELECT id FROM d_counselor_notes) OR %(whole_counselor_notes)s),
a_section_teachers AS (SELECT school_id, section_code, staff_id FROM section_teachers
                       WHERE (school_id, section_code, staff_id) IN (SELECT * FROM d_section_teachers)
                          OR %(whole_section_teachers)s),
a_course_prerequisites AS (SELECT course_id, prerequisite_course_id FROM course_prerequisites
                           WHERE (course_id, prerequisite_course_id) IN (SELECT * FROM d_course_prerequisites)
                              OR %(whole_course_prerequisites)s),
a_student_guardians AS (SELECT student_id, guardian_id FROM student_guardians
                        WHERE (student_id, guardian_id) IN (SELECT * FROM d_student_guardians)
                           OR %(whole_student_guardians)s),
a_teachers AS (SELECT staff_id FROM teachers WHERE staff_id IN (SELECT * FROM d_teachers) OR %(whole_teachers)s),
a_staff_assignments AS (SELECT staff_id, school_id FROM staff_assignments
                        WHERE (staff_id, school_id) IN (SELECT * FROM d_staff_assignments)
                           OR %(whole_staff_assignments)s),
a_sections AS (SELECT school_id, section_code FROM sections
               WHERE (school_id, section_code) IN (SELECT * FROM d_sections)
                  OR (school_id, section_code) IN (SELECT school_id, section_code FROM a_section_teachers)
                  OR (school_id, section_code) IN (SELECT school_id, section_code FROM enrollments
                                                   WHERE id IN (SELECT id FROM a_enrollments))
                  OR (school_id, section_code) IN (SELECT school_id, section_code FROM assignments
                                                   WHERE id IN (SELECT id FROM a_assignments))
                  OR %(whole_sections)s),
a_courses AS (SELECT id FROM courses
              WHERE id IN (SELECT id FROM d_courses)
                 OR id IN (SELECT course_id FROM sections WHERE (school_id, section_code) IN (SELECT * FROM a_sections))
                 OR id IN (SELECT course_id FROM a_course_prerequisites)
                 OR id IN (SELECT prerequisite_course_id FROM a_course_prerequisites)
                 OR id = ANY(%(seed_courses__id)s::bigint[]) OR %(whole_courses)s),
a_students AS (SELECT id FROM students
               WHERE id IN (SELECT id FROM d_students)
                  OR id IN (SELECT student_id FROM enrollments WHERE id IN (SELECT id FROM a_enrollments))
                  OR id IN (SELECT student_id FROM submissions WHERE id IN (SELECT id FROM a_submissions))
                  OR id IN (SELECT student_id FROM counselor_notes WHERE id IN (SELECT id FROM a_counselor_notes))
                  OR id IN (SELECT student_id FROM a_student_guardians)
                  OR id IN (SELECT student_id FROM users WHERE id IN (SELECT id FROM a_users))
                  OR id = ANY(%(seed_students__id)s::bigint[])
                  OR state_student_id = ANY(%(seed_students__state_student_id)s::text[])
                  OR %(whole_students)s),
a_guardians AS (SELECT id FROM guardians
                WHERE id IN (SELECT id FROM d_guardians)
                   OR id IN (SELECT guardian_id FROM a_student_guardians)
                   OR id IN (SELECT guardian_id FROM users WHERE id IN (SELECT id FROM a_users))
                   OR id = ANY(%(seed_guardians__id)s::bigint[]) OR %(whole_guardians)s),
-- schools and staff reference each other (principal_id, school_id) and staff itself
-- (supervisor_id): one recursive walk over both, each step going to a parent only.
ss(kind, id) AS (
    SELECT kind, id FROM (
        SELECT 'staff'::text AS kind, id FROM d_staff
        UNION SELECT 'staff', staff_id FROM a_staff_assignments
        UNION SELECT 'staff', staff_id FROM a_teachers
        UNION SELECT 'staff', staff_id FROM a_section_teachers
        UNION SELECT 'staff', author_staff_id FROM counselor_notes WHERE id IN (SELECT id FROM a_counselor_notes)
        UNION SELECT 'staff', staff_id FROM users WHERE id IN (SELECT id FROM a_users) AND staff_id IS NOT NULL
        UNION SELECT 'staff', unnest(%(seed_staff__id)s::bigint[])
        UNION SELECT 'staff', id FROM staff WHERE %(whole_staff)s
        UNION SELECT 'school', id FROM d_schools
        UNION SELECT 'school', school_id FROM a_staff_assignments
        UNION SELECT 'school', school_id FROM a_sections
        UNION SELECT 'school', school_id FROM students WHERE id IN (SELECT id FROM a_students)
        UNION SELECT 'school', previous_school_id FROM students
              WHERE id IN (SELECT id FROM a_students) AND previous_school_id IS NOT NULL
        UNION SELECT 'school', unnest(%(seed_schools__id)s::bigint[])
        UNION SELECT 'school', id FROM schools WHERE %(whole_schools)s
    ) base
    UNION
    SELECT step.kind, step.id
    FROM ss CROSS JOIN LATERAL (
        SELECT 'school'::text, st.school_id FROM staff st WHERE ss.kind = 'staff' AND st.id = ss.id
        UNION ALL
        SELECT 'staff', st.supervisor_id FROM staff st
        WHERE ss.kind = 'staff' AND st.id = ss.id AND st.supervisor_id IS NOT NULL
        UNION ALL
        SELECT 'staff', sc.principal_id FROM schools sc
        WHERE ss.kind = 'school' AND sc.id = ss.id AND sc.principal_id IS NOT NULL
    ) AS step(kind, id)
),
a_staff AS (SELECT id FROM staff WHERE id IN (SELECT id FROM ss WHERE kind = 'staff')),
a_schools AS (SELECT id FROM schools WHERE id IN (SELECT id FROM ss WHERE kind = 'school')),
a_districts AS (SELECT id FROM districts
                WHERE id IN (SELECT id FROM d_districts)
                   OR id IN (SELECT district_id FROM schools WHERE id IN (SELECT id FROM a_schools))
                   OR id IN (SELECT district_id FROM students WHERE id IN (SELECT id FROM a_students))
                   OR id IN (SELECT district_id FROM courses WHERE id IN (SELECT id FROM a_courses))
                   OR id IN (SELECT district_id FROM users WHERE id IN (SELECT id FROM a_users))
                   OR id = ANY(%(seed_districts__id)s::bigint[]) OR %(whole_districts)s),
a_terms AS (SELECT id FROM terms
            WHERE id IN (SELECT term_id FROM sections WHERE (school_id, section_code) IN (SELECT * FROM a_sections))
               OR id = ANY(%(seed_terms__id)s::integer[]) OR %(whole_terms)s),
a_subjects AS (SELECT id FROM subjects
               WHERE id IN (SELECT subject_id FROM courses WHERE id IN (SELECT id FROM a_courses))
                  OR id IN (SELECT primary_subject_id FROM teachers WHERE staff_id IN (SELECT * FROM a_teachers))
                  OR id = ANY(%(seed_subjects__id)s::integer[]) OR %(whole_subjects)s),
a_grade_levels AS (SELECT grade_level FROM grade_levels
                   WHERE grade_level IN (SELECT grade_level FROM students WHERE id IN (SELECT id FROM a_students))
                      OR grade_level IN (SELECT grade_min FROM courses WHERE id IN (SELECT id FROM a_courses))
                      OR grade_level IN (SELECT grade_max FROM courses WHERE id IN (SELECT id FROM a_courses))
                      OR grade_level = ANY(%(seed_grade_levels__grade_level)s::smallint[])
                      OR %(whole_grade_levels)s),
a_states AS (SELECT code FROM states
             WHERE code IN (SELECT state FROM districts WHERE id IN (SELECT id FROM a_districts))
                OR code IN (SELECT state FROM schools WHERE id IN (SELECT id FROM a_schools))
                OR code IN (SELECT state FROM staff WHERE id IN (SELECT id FROM a_staff))
                OR code IN (SELECT certification_state FROM teachers WHERE staff_id IN (SELECT * FROM a_teachers))
                OR code IN (SELECT state FROM students WHERE id IN (SELECT id FROM a_students))
                OR code IN (SELECT state FROM guardians WHERE id IN (SELECT id FROM a_guardians))
                OR code = ANY(%(seed_states__code)s::text[]) OR %(whole_states)s),
a_audit_log AS (SELECT id FROM audit_log WHERE %(whole_audit_log)s)
"""

HCP1_SQL = """
WITH
d_vaccines AS (SELECT code FROM vaccines WHERE false {link_vaccines}),
d_providers AS (SELECT id FROM providers WHERE false {link_providers}),
d_patients AS (SELECT id FROM patients WHERE false {link_patients}),
d_emergency_contacts AS (SELECT id FROM emergency_contacts
                         WHERE {x:hcp1.emergency_contacts.patient_id}patient_id IN (SELECT id FROM d_patients) {link_emergency_contacts}),
-- provider_id is NOT NULL but providers are never in a district: still walkable, never walked
d_encounters AS (SELECT id FROM encounters
                 WHERE {x:hcp1.encounters.patient_id}patient_id IN (SELECT id FROM d_patients) OR {x:hcp1.encounters.provider_id}provider_id IN (SELECT id FROM d_providers)
                 {link_encounters}),
d_immunizations AS (SELECT id FROM immunizations
                    WHERE {x:hcp1.immunizations.patient_id}patient_id IN (SELECT id FROM d_patients) OR {x:hcp1.immunizations.vaccine_code}vaccine_code IN (SELECT code FROM d_vaccines)
                    {link_immunizations}),
d_allergies AS (SELECT patient_id, allergen FROM allergies
                WHERE {x:hcp1.allergies.patient_id}patient_id IN (SELECT id FROM d_patients) {link_allergies}),
d_medications AS (SELECT id FROM medications WHERE {x:hcp1.medications.patient_id}patient_id IN (SELECT id FROM d_patients) {link_medications}),
d_screenings AS (SELECT id FROM screenings WHERE {x:hcp1.screenings.patient_id}patient_id IN (SELECT id FROM d_patients) {link_screenings}),
a_emergency_contacts AS (SELECT id FROM emergency_contacts
                         WHERE id IN (SELECT id FROM d_emergency_contacts) OR %(whole_emergency_contacts)s),
a_encounters AS (SELECT id FROM encounters WHERE id IN (SELECT id FROM d_encounters) OR %(whole_encounters)s),
a_immunizations AS (SELECT id FROM immunizations
                    WHERE id IN (SELECT id FROM d_immunizations) OR %(whole_immunizations)s),
a_allergies AS (SELECT patient_id, allergen FROM allergies
                WHERE (patient_id, allergen) IN (SELECT * FROM d_allergies) OR %(whole_allergies)s),
a_medications AS (SELECT id FROM medications WHERE id IN (SELECT id FROM d_medications) OR %(whole_medications)s),
a_screenings AS (SELECT id FROM screenings WHERE id IN (SELECT id FROM d_screenings) OR %(whole_screenings)s),
a_patients AS (SELECT id FROM patients
               WHERE id IN (SELECT id FROM d_patients)
                  OR id IN (SELECT patient_id FROM emergency_contacts WHERE id IN (SELECT id FROM a_emergency_contacts))
                  OR id IN (SELECT patient_id FROM encounters WHERE id IN (SELECT id FROM a_encounters))
                  OR id IN (SELECT patient_id FROM immunizations WHERE id IN (SELECT id FROM a_immunizations))
                  OR id IN (SELECT patient_id FROM a_allergies)
                  OR id IN (SELECT patient_id FROM medications WHERE id IN (SELECT id FROM a_medications))
                  OR id IN (SELECT patient_id FROM screenings WHERE id IN (SELECT id FROM a_screenings))
                  OR %(whole_patients)s),
a_providers AS (SELECT id FROM providers
                WHERE id IN (SELECT id FROM d_providers)
                   OR id IN (SELECT provider_id FROM encounters WHERE id IN (SELECT id FROM a_encounters))
                   OR id IN (SELECT provider_id FROM immunizations WHERE id IN (SELECT id FROM a_immunizations))
                   OR id IN (SELECT prescriber_id FROM medications WHERE id IN (SELECT id FROM a_medications))
                   OR %(whole_providers)s),
a_vaccines AS (SELECT code FROM vaccines
               WHERE code IN (SELECT code FROM d_vaccines)
                  OR code IN (SELECT vaccine_code FROM immunizations WHERE id IN (SELECT id FROM a_immunizations))
                  OR %(whole_vaccines)s)
"""

HCP2_SQL = """
WITH
d_diagnosis_codes AS (SELECT icd10_code FROM diagnosis_codes WHERE false {link_diagnosis_codes}),
d_clinics AS (SELECT id FROM clinics WHERE false {link_clinics}),
-- home_clinic_id is nullable: a member's clinic is a parent, never a way down
d_members AS (SELECT id FROM members WHERE false {link_members}),
d_visits AS (SELECT id FROM visits
             WHERE {x:hcp2.visits.member_id}member_id IN (SELECT id FROM d_members) OR {x:hcp2.visits.clinic_id}clinic_id IN (SELECT id FROM d_clinics) {link_visits}),
d_visit_diagnoses AS (SELECT visit_id, seq FROM visit_diagnoses
                      WHERE {x:hcp2.visit_diagnoses.visit_id}visit_id IN (SELECT id FROM d_visits)
                         OR {x:hcp2.visit_diagnoses.icd10_code}icd10_code IN (SELECT icd10_code FROM d_diagnosis_codes) {link_visit_diagnoses}),
d_care_plans AS (SELECT id FROM care_plans WHERE {x:hcp2.care_plans.member_id}member_id IN (SELECT id FROM d_members) {link_care_plans}),
d_consents AS (SELECT member_id, consent_type FROM consents
               WHERE {x:hcp2.consents.member_id}member_id IN (SELECT id FROM d_members) {link_consents}),
a_visits AS (SELECT id FROM visits WHERE id IN (SELECT id FROM d_visits) OR %(whole_visits)s),
a_visit_diagnoses AS (SELECT visit_id, seq FROM visit_diagnoses
                      WHERE (visit_id, seq) IN (SELECT * FROM d_visit_diagnoses) OR %(whole_visit_diagnoses)s),
a_care_plans AS (SELECT id FROM care_plans WHERE id IN (SELECT id FROM d_care_plans) OR %(whole_care_plans)s),
a_consents AS (SELECT member_id, consent_type FROM consents
               WHERE (member_id, consent_type) IN (SELECT * FROM d_consents) OR %(whole_consents)s),
a_members AS (SELECT id FROM members
              WHERE id IN (SELECT id FROM d_members)
                 OR id IN (SELECT member_id FROM visits WHERE id IN (SELECT id FROM a_visits))
                 OR id IN (SELECT member_id FROM care_plans WHERE id IN (SELECT id FROM a_care_plans))
                 OR id IN (SELECT member_id FROM a_consents)
                 OR %(whole_members)s),
a_clinics AS (SELECT id FROM clinics
              WHERE id IN (SELECT id FROM d_clinics)
                 OR id IN (SELECT clinic_id FROM visits WHERE id IN (SELECT id FROM a_visits))
                 OR id IN (SELECT home_clinic_id FROM members WHERE id IN (SELECT id FROM a_members))
                 OR %(whole_clinics)s),
a_diagnosis_codes AS (SELECT icd10_code FROM diagnosis_codes
                      WHERE icd10_code IN (SELECT icd10_code FROM d_diagnosis_codes)
                         OR icd10_code IN (SELECT icd10_code FROM visit_diagnoses
                                           WHERE (visit_id, seq) IN (SELECT * FROM a_visit_diagnoses))
                         OR %(whole_diagnosis_codes)s)
"""

ADB_SQL = """
WITH
d_dim_date AS (SELECT date_key FROM dim_date WHERE false {link_dim_date}),
d_dim_grade AS (SELECT grade_level FROM dim_grade WHERE false {link_dim_grade}),
d_dim_subject AS (SELECT subject_id FROM dim_subject WHERE false {link_dim_subject}),
d_etl_runs AS (SELECT id FROM etl_runs WHERE false {link_etl_runs}),
d_dim_district AS (SELECT district_id FROM dim_district WHERE false {link_dim_district}),
d_dim_school AS (SELECT school_id FROM dim_school
                 WHERE {x:adb.dim_school.district_id}district_id IN (SELECT district_id FROM d_dim_district) {link_dim_school}),
d_fact_enrollment_daily AS (SELECT school_id, date_key, grade_level FROM fact_enrollment_daily
                            WHERE {x:adb.fact_enrollment_daily.school_id}school_id IN (SELECT school_id FROM d_dim_school)
                               OR {x:adb.fact_enrollment_daily.date_key}date_key IN (SELECT date_key FROM d_dim_date)
                               OR {x:adb.fact_enrollment_daily.grade_level}grade_level IN (SELECT grade_level FROM d_dim_grade)
                               {link_fact_enrollment_daily}),
d_fact_attendance_daily AS (SELECT school_id, date_key FROM fact_attendance_daily
                            WHERE {x:adb.fact_attendance_daily.school_id}school_id IN (SELECT school_id FROM d_dim_school)
                               OR {x:adb.fact_attendance_daily.date_key}date_key IN (SELECT date_key FROM d_dim_date)
                               {link_fact_attendance_daily}),
d_fact_assessment AS (SELECT id FROM fact_assessment
                      WHERE {x:adb.fact_assessment.school_id}school_id IN (SELECT school_id FROM d_dim_school)
                         OR {x:adb.fact_assessment.subject_id}subject_id IN (SELECT subject_id FROM d_dim_subject)
                         OR {x:adb.fact_assessment.date_key}date_key IN (SELECT date_key FROM d_dim_date)
                         {link_fact_assessment}),
d_fact_student_attendance_monthly AS (SELECT student_id, month_key FROM fact_student_attendance_monthly
                                      WHERE {x:adb.fact_student_attendance_monthly.school_id}school_id IN (SELECT school_id FROM d_dim_school)
                                      {link_fact_student_attendance_monthly}),
d_fact_course_grades AS (SELECT school_id, term_id, subject_id FROM fact_course_grades
                         WHERE {x:adb.fact_course_grades.school_id}school_id IN (SELECT school_id FROM d_dim_school)
                            OR {x:adb.fact_course_grades.subject_id}subject_id IN (SELECT subject_id FROM d_dim_subject)
                            {link_fact_course_grades}),
d_student_risk_scores AS (SELECT student_id FROM student_risk_scores
                          WHERE {x:adb.student_risk_scores.school_id}school_id IN (SELECT school_id FROM d_dim_school)
                          {link_student_risk_scores}),
a_fact_enrollment_daily AS (SELECT school_id, date_key, grade_level FROM fact_enrollment_daily
                            WHERE (school_id, date_key, grade_level) IN (SELECT * FROM d_fact_enrollment_daily)
                               OR %(whole_fact_enrollment_daily)s),
a_fact_attendance_daily AS (SELECT school_id, date_key FROM fact_attendance_daily
                            WHERE (school_id, date_key) IN (SELECT * FROM d_fact_attendance_daily)
                               OR %(whole_fact_attendance_daily)s),
a_fact_assessment AS (SELECT id FROM fact_assessment
                      WHERE id IN (SELECT id FROM d_fact_assessment) OR %(whole_fact_assessment)s),
a_fact_student_attendance_monthly AS (SELECT student_id, month_key FROM fact_student_attendance_monthly
                                      WHERE (student_id, month_key) IN (SELECT * FROM d_fact_student_attendance_monthly)
                                         OR %(whole_fact_student_attendance_monthly)s),
a_fact_course_grades AS (SELECT school_id, term_id, subject_id FROM fact_course_grades
                         WHERE (school_id, term_id, subject_id) IN (SELECT * FROM d_fact_course_grades)
                            OR %(whole_fact_course_grades)s),
a_student_risk_scores AS (SELECT student_id FROM student_risk_scores
                          WHERE student_id IN (SELECT student_id FROM d_student_risk_scores)
                             OR %(whole_student_risk_scores)s),
a_etl_runs AS (SELECT id FROM etl_runs WHERE id IN (SELECT id FROM d_etl_runs) OR %(whole_etl_runs)s),
a_dim_school AS (SELECT school_id FROM dim_school
                 WHERE school_id IN (SELECT school_id FROM d_dim_school)
                    OR school_id IN (SELECT school_id FROM a_fact_enrollment_daily)
                    OR school_id IN (SELECT school_id FROM a_fact_attendance_daily)
                    OR school_id IN (SELECT school_id FROM fact_assessment
                                     WHERE id IN (SELECT id FROM a_fact_assessment))
                    OR school_id IN (SELECT school_id FROM fact_student_attendance_monthly
                                     WHERE (student_id, month_key) IN (SELECT * FROM a_fact_student_attendance_monthly))
                    OR school_id IN (SELECT school_id FROM a_fact_course_grades)
                    OR school_id IN (SELECT school_id FROM student_risk_scores
                                     WHERE student_id IN (SELECT * FROM a_student_risk_scores))
                    OR %(whole_dim_school)s),
a_dim_district AS (SELECT district_id FROM dim_district
                   WHERE district_id IN (SELECT district_id FROM d_dim_district)
                      OR district_id IN (SELECT district_id FROM dim_school
                                         WHERE school_id IN (SELECT school_id FROM a_dim_school))
                      OR %(whole_dim_district)s),
a_dim_date AS (SELECT date_key FROM dim_date
               WHERE date_key IN (SELECT date_key FROM d_dim_date)
                  OR date_key IN (SELECT date_key FROM a_fact_enrollment_daily)
                  OR date_key IN (SELECT date_key FROM a_fact_attendance_daily)
                  OR date_key IN (SELECT date_key FROM fact_assessment WHERE id IN (SELECT id FROM a_fact_assessment))
                  OR %(whole_dim_date)s),
a_dim_grade AS (SELECT grade_level FROM dim_grade
                WHERE grade_level IN (SELECT grade_level FROM d_dim_grade)
                   OR grade_level IN (SELECT grade_level FROM a_fact_enrollment_daily)
                   OR %(whole_dim_grade)s),
a_dim_subject AS (SELECT subject_id FROM dim_subject
                  WHERE subject_id IN (SELECT subject_id FROM d_dim_subject)
                     OR subject_id IN (SELECT subject_id FROM fact_assessment
                                       WHERE id IN (SELECT id FROM a_fact_assessment))
                     OR subject_id IN (SELECT subject_id FROM a_fact_course_grades)
                     OR %(whole_dim_subject)s)
"""

STORE_SQL = {"ids": IDS_SQL, "hcp1": HCP1_SQL, "hcp2": HCP2_SQL, "adb": ADB_SQL}


_MARKER = re.compile(r"\{x:([a-z0-9_]+\.[a-z0-9_]+\.[a-z0-9_,]+)\}")
DOWN_LABELS = {m for text in (IDS_SQL, HCP1_SQL, HCP2_SQL, ADB_SQL) for m in _MARKER.findall(text)}


def _down(sql: str, down_exclude: set[str]) -> str:
    """`{x:store.table.cols}` marks a predicate that walks an FK downwards; an FK listed in
    traversal.down_exclude is not walked: its predicate becomes `false AND ...`."""
    return _MARKER.sub(lambda m: "false AND " if m.group(1) in down_exclude else "", sql)


def _select_list(store: str, extra: list[str]) -> str:
    """One row: per table and PK column, the a-set and d-set as arrays aligned on the PK order."""
    items = []
    for table, pk in PK[store].items():
        order = ", ".join(pk)
        for kind in ("a", "d"):
            for col in pk:
                items.append(f'(SELECT array_agg({col} ORDER BY {order}) FROM {kind}_{table}) AS "{kind}:{table}:{col}"')
    return "SELECT " + ",\n       ".join(items + extra)


def _pk_filter(store: str, table: str, cte: str) -> str:
    return _in(", ".join(PK[store][table]), cte)


def _rows(row: dict, store: str, kind: str) -> dict[str, set]:
    out = {}
    for table, pk in PK[store].items():
        cols = [row[f"{kind}:{table}:{c}"] or [] for c in pk]
        out[table] = {tuple(norm(v) for v in values) for values in zip(*cols)}
    return out


@dataclass
class Oracle:
    tables: dict[str, TableKeys]   # "store.table" -> keys
    seeds: dict[str, list]         # IDS up-seeds the other stores produced


def _whole_params(store: str, whole: set[str]) -> dict:
    return {f"whole_{t}": f"{store}.{t}" in whole for t in PK[store]}


def compute(urls: dict[str, str], district: int, links=(), whole=(), exclude=(), down_exclude=()) -> Oracle:
    """Expected slice of `district`. urls: store -> PostgreSQL URL (any role that can read)."""
    link_texts = {_link_label(t): t for t in links}
    links = parse_links(links)
    whole, exclude, down_exclude = set(whole), set(exclude), set(down_exclude)
    assert exclude <= EXCLUDABLE, f"oracle: excluding {sorted(exclude - EXCLUDABLE)} not supported"
    unknown = down_exclude - DOWN_LABELS - set(link_texts)
    assert not unknown, f"oracle: down_exclude {sorted(unknown)} is no FK the SQL walks downwards"
    empty_seeds = {f"seed_{t}__{c}": [] for (t, c) in IDS_LINK_TARGETS}
    ids_first = _run_ids(urls["ids"], district, empty_seeds, whole, down_exclude)
    ids_down = ids_first["down_cols"]
    seeds = {k: set() for k in empty_seeds}
    result: dict[str, TableKeys] = {}
    for store in ("hcp1", "hcp2", "adb"):
        store_links = [lk for lk in links if lk.store == store]
        fragments = {f"link_{t}": "" for t in PK[store]}
        params = _whole_params(store, whole)
        for i, lk in enumerate(store_links):
            if f"{lk.store}.{lk.table}.{lk.column}" in down_exclude:
                continue
            name = f"ids_d_{i}"
            fragments[f"link_{lk.table}"] += (f" OR {lk.column} = ANY(%({name})s::"
                                              f"{IDS_LINK_TARGETS[(lk.ref_table, lk.ref_column)]})")
            params[name] = ids_down[(lk.ref_table, lk.ref_column)]
        extra = [f'(SELECT array_agg(DISTINCT {lk.column}) FROM {lk.table} '
                 f'WHERE {_pk_filter(store, lk.table, "a_" + lk.table)}) AS "seed:{i}"'
                 for i, lk in enumerate(store_links)]
        query = _down(STORE_SQL[store], down_exclude).format(**fragments) + _select_list(store, extra)
        with psycopg.connect(urls[store]) as conn:
            conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            cur = conn.execute(query, params)
            row = dict(zip([d.name for d in cur.description], cur.fetchone()))
            conn.rollback()
        all_rows, down_rows = _rows(row, store, "a"), _rows(row, store, "d")
        for table in PK[store]:
            result[f"{store}.{table}"] = TableKeys(all_rows[table], down_rows[table])
        for i, lk in enumerate(store_links):
            seeds[f"seed_{lk.ref_table}__{lk.ref_column}"] |= set(row[f"seed:{i}"] or [])
    ids_final = _run_ids(urls["ids"], district, {k: sorted(v) for k, v in seeds.items()}, whole, down_exclude)
    for table in PK["ids"]:
        result[f"ids.{table}"] = TableKeys(ids_final["all"][table], ids_final["down"][table])
    for table_id in exclude:
        result.pop(table_id, None)
    return Oracle(result, {k: sorted(v) for k, v in seeds.items() if v})


def _link_label(text: str) -> str:
    return text.split("->")[0].strip()


def _run_ids(url: str, district: int, seeds: dict, whole: set[str], down_exclude: set[str]) -> dict:
    extra = [f'(SELECT array_agg({c}) FROM {t} WHERE {_pk_filter("ids", t, "d_" + t)}) AS "down:{t}:{c}"'
             for (t, c) in IDS_LINK_TARGETS]
    query = _down(IDS_SQL, down_exclude) + _select_list("ids", extra)
    params = {"district": district, **seeds, **_whole_params("ids", whole)}
    with psycopg.connect(url) as conn:
        conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        cur = conn.execute(query, params)
        row = dict(zip([d.name for d in cur.description], cur.fetchone()))
        conn.rollback()
    return {"all": _rows(row, "ids", "a"), "down": _rows(row, "ids", "d"),
            "down_cols": {(t, c): row[f"down:{t}:{c}"] or [] for (t, c) in IDS_LINK_TARGETS}}


# ----------------------------------------------------------------------------- catalog

CATALOG_FKS = """
SELECT cl.relname, array_agg(ca.attname ORDER BY k.pos), pl.relname, array_agg(pa.attname ORDER BY k.pos),
       bool_and(NOT ca.attnotnull)
FROM pg_constraint con
JOIN pg_class cl ON cl.oid = con.conrelid
JOIN pg_namespace n ON n.oid = cl.relnamespace
JOIN pg_class pl ON pl.oid = con.confrelid
CROSS JOIN LATERAL unnest(con.conkey, con.confkey) WITH ORDINALITY k(attnum, refnum, pos)
JOIN pg_attribute ca ON ca.attrelid = con.conrelid AND ca.attnum = k.attnum
JOIN pg_attribute pa ON pa.attrelid = con.confrelid AND pa.attnum = k.refnum
WHERE con.contype = 'f' AND n.nspname = 'public'
GROUP BY con.oid, cl.relname, pl.relname
"""

CATALOG_TABLES = """
SELECT c.relname, array(SELECT a.attname FROM unnest(i.indkey::int2[]) WITH ORDINALITY k(attnum, pos)
                        JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = k.attnum ORDER BY k.pos)
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_index i ON i.indrelid = c.oid AND i.indisprimary
WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p')
"""


def catalog_fks(url: str) -> set[tuple]:
    with psycopg.connect(url) as conn:
        return {(c, tuple(cols), p, tuple(refs), nullable)
                for c, cols, p, refs, nullable in conn.execute(CATALOG_FKS).fetchall()}


def catalog_pks(url: str) -> dict[str, list[str]]:
    with psycopg.connect(url) as conn:
        return {t: list(cols) for t, cols in conn.execute(CATALOG_TABLES).fetchall()}


# ----------------------------------------------------------------------------- graph

def graph_oracle(url: str, user: str, password: str, root_label: str, root_key: str, district,
                 follow: list[dict], max_depth: int) -> set[str]:
    """elementIds of the nodes reachable from the root within max_depth steps, by one
    variable-length Cypher match. Step i (from nodes(p)[i] to nodes(p)[i+1]) must satisfy one
    rule {type, direction, from, to}: "out" leaves nodes(p)[i] along the arrow, "in" arrives
    against it; `from` / `to` (optional) are labels of the node left / reached."""
    import neo4j

    types = "|".join(f"`{t}`" for t in sorted({r["type"] for r in follow}))
    query = (f"MATCH p = (r:`{root_label}` {{`{root_key}`: $k}})-[:{types}*0..{int(max_depth)}]-(n) "
             "WHERE all(i IN range(0, size(relationships(p)) - 1) WHERE any(rule IN $rules WHERE "
             "  type(relationships(p)[i]) = rule.type "
             "  AND CASE rule.direction WHEN 'out' THEN startNode(relationships(p)[i]) = nodes(p)[i] "
             "                          ELSE endNode(relationships(p)[i]) = nodes(p)[i] END "
             "  AND (rule.from IS NULL OR rule.from IN labels(nodes(p)[i])) "
             "  AND (rule.to IS NULL OR rule.to IN labels(nodes(p)[i + 1])))) "
             "RETURN DISTINCT elementId(n) AS id")
    with neo4j.GraphDatabase.driver(url, auth=(user, password)) as driver:
        records, _, _ = driver.execute_query(query, k=district, rules=follow, routing_=neo4j.RoutingControl.READ)
    return {r["id"] for r in records}


def graph_bfs(url: str, user: str, password: str, root_label: str, root_key: str, district,
              follow: list[dict], max_depth: int) -> set[str]:
    """The same set by a plain breadth-first search over every relationship, client-side."""
    import neo4j

    with neo4j.GraphDatabase.driver(url, auth=(user, password)) as driver:
        root, _, _ = driver.execute_query(f"MATCH (r:`{root_label}` {{`{root_key}`: $k}}) RETURN elementId(r) AS id",
                                          k=district, routing_=neo4j.RoutingControl.READ)
        edges, _, _ = driver.execute_query("MATCH (a)-[r]->(b) RETURN elementId(a) AS a, labels(a) AS al, type(r) AS t, "
                                           "elementId(b) AS b, labels(b) AS bl", routing_=neo4j.RoutingControl.READ)
    adj: dict[str, set[str]] = {}
    for e in edges:
        for rule in follow:
            if rule["type"] != e["t"]:
                continue
            here, there, here_labels, there_labels = (
                (e["a"], e["b"], e["al"], e["bl"]) if rule["direction"] == "out" else (e["b"], e["a"], e["bl"], e["al"]))
            if (rule.get("from") in (None, *here_labels)) and (rule.get("to") in (None, *there_labels)):
                adj.setdefault(here, set()).add(there)
    seen = {root[0]["id"]}
    frontier = set(seen)
    for _ in range(max_depth):
        frontier = {m for n in frontier for m in adj.get(n, ())} - seen
        seen |= frontier
    return seen
