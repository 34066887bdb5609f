"""HCP1 and HCP2 rows (schemas: ddl/hcp1.sql, ddl/hcp2.sql), derived from the IDS `World` so
that a health record describes the same child (same name, birth date, guardians' phones) as
IDS does -- the anonymizer has to keep such repeated PII consistent across stores.

HCP1 links to IDS by bigint (patients.ids_student_id), HCP2 by the text natural key
(members.state_student_id) and uses uuid keys; neither has a foreign key into IDS.
"""
from __future__ import annotations

import json

import numpy as np
import pyarrow as pa

from . import spec, vec
from .gen_ids import GUARDIAN_RELATIONS, World
from .vec import DAY

ALLERGENS = ("peanuts", "tree nuts", "penicillin", "latex", "bee stings", "shellfish", "eggs", "milk",
             "soy", "sulfa drugs")
DRUGS = (("Albuterol inhaler", "90 mcg", "as needed"), ("Methylphenidate", "10 mg", "daily"),
         ("EpiPen Jr", "0.15 mg", "as needed"), ("Cetirizine", "5 mg", "daily"),
         ("Insulin lispro", "per sliding scale", "with meals"), ("Ibuprofen", "200 mg", "every 6 hours"),
         ("Fluticasone", "44 mcg", "twice daily"), ("Sertraline", "25 mg", "daily"))
ENCOUNTER_TYPES = ("sick visit", "well child", "injury", "follow-up", "medication", "screening")
REASONS = ("headache", "stomach ache", "fever", "sprained ankle", "asthma symptoms", "sore throat",
           "scraped knee", "anxiety", "nosebleed", "rash")
SCREENING_TYPES = ("vision", "hearing", "bmi", "scoliosis", "dental")
# (vaccine, dose, age in days when given)
SCHEDULE = (("HEPB", 1, 0), ("HEPB", 2, 30), ("HEPB", 3, 180), ("DTAP", 1, 60), ("DTAP", 2, 120),
            ("DTAP", 3, 180), ("DTAP", 4, 450), ("DTAP", 5, 1640), ("HIB", 1, 60), ("HIB", 2, 120),
            ("HIB", 3, 180), ("HIB", 4, 365), ("IPV", 1, 60), ("IPV", 2, 120), ("IPV", 3, 180),
            ("IPV", 4, 1640), ("MMR", 1, 365), ("MMR", 2, 1640), ("VAR", 1, 365), ("VAR", 2, 1640),
            ("HEPA", 1, 365), ("HEPA", 2, 545), ("TDAP", 1, 4000), ("MENACWY", 1, 4000),
            ("MENACWY", 2, 5840), ("HPV", 1, 4000), ("HPV", 2, 4200), ("FLU", 1, 2000), ("COVID19", 1, 2500))
CONSENT_TYPES = ("data_sharing", "photo_release", "treatment")
CARE_PLANS = ("asthma action plan", "allergy action plan", "diabetes management", "seizure plan",
              "behavioral support")


def _guardian_lists(w: World) -> dict:
    """student index -> guardian indices (from the IDS student_guardians pairs)."""
    return w.extras["guardians_of_student"]


def _first_guardian(w: World, students: np.ndarray) -> np.ndarray:
    by_student = _guardian_lists(w)
    return np.array([by_student[s][0] if by_student.get(s) else -1 for s in students.tolist()], np.int64)


# ============================================================================ HCP1

def build_hcp1(w: World) -> dict[str, pa.Table]:
    def rng(*labels):
        return vec.rng_for(w.seed, "hcp1", *labels)

    pools = w.pools
    tables: dict[str, pa.Table] = {}
    tables["vaccines"] = pa.table({"code": [v[0] for v in spec.VACCINES], "name": [v[1] for v in spec.VACCINES],
                                   "doses_required": vec.i16([v[2] for v in spec.VACCINES])})

    r = rng("providers")
    npv = int(np.clip(len(w.s_id) // 100, 20, 400))
    pf, pl = r.integers(0, len(pools.first), npv), r.integers(0, len(pools.last), npv)
    provider_id = w.id_offset + 1 + np.arange(npv, dtype=np.int64)
    tables["providers"] = pa.table({
        "id": vec.i64(provider_id),
        # NPI derived from the id (a bijection mod 1e9): distinct across PROD and CERT too.
        "npi": vec.cat("1", vec.lpad((provider_id * 104729 + 7) % 1_000_000_000, 9)),
        "full_name": vec.cat("Dr. ", w.full_name(pf, pl)),
        "specialty": vec.take(pa.array(["Pediatrics", "Family Medicine", "School Nursing", "Allergy", "Psychiatry"]),
                              r.integers(0, 5, npv)),
        "phone": vec.phones(r, npv),
        "email": vec.null_where(vec.cat(vec.take(pools.last_slug, pl), ".md@", vec.take(pools.domain, r.integers(0, 8, npv))),
                                r.random(npv) < 0.2),
        "clinic_address": vec.cat(vec.text(r.integers(1, 999, npv)), " ", vec.take(pools.street, r.integers(0, len(pools.street), npv)),
                                  ", ", vec.take(pools.city, r.integers(0, len(pools.city), npv))),
    })

    r = rng("patients")
    ns = len(w.s_id)
    student = np.flatnonzero(r.random(ns) < 0.97)
    # the forced hard-case students always have a health record
    forced = w.extras["forced_first_student"]
    student = np.union1d(student, np.arange(forced, forced + 6))
    n = len(student)
    pid = w.id_offset + 1 + np.arange(n, dtype=np.int64)
    guardian = _first_guardian(w, student)
    g_phone = w.g_phone.take(pa.array(np.maximum(guardian, 0)))
    g_email = w.g_email.take(pa.array(np.maximum(guardian, 0)))
    sp = pa.array(student)
    sex = vec.take(pa.array(["F", "M", "U"]), np.select([w.s_gender.to_numpy(zero_copy_only=False) == "F",
                                                         w.s_gender.to_numpy(zero_copy_only=False) == "M"], [0, 1], 2)[student])
    sex = vec.null_where(sex, np.asarray(w.s_gender.is_null())[student])
    created = np.maximum(w.s_dob[student] + 5 * 365, w.as_of_day - 8 * 365) * DAY + r.integers(0, DAY, n)
    tables["patients"] = pa.table({
        "id": vec.i64(pid),
        "ids_student_id": vec.i64(w.s_id[student]),
        "mrn": vec.cat("MRN", vec.lpad((pid * 48271) % 100_000_000, 8)),
        "first_name": vec.take(pools.first, w.s_first[student]),
        "last_name": vec.take(pools.last, w.s_last[student]),
        "date_of_birth": vec.dates(w.s_dob[student]),
        "sex": sex,
        "primary_phone": vec.null_where(g_phone, guardian < 0),
        "email": vec.null_where(g_email, guardian < 0),
        "address_line1": w.s_street.take(sp),
        "city": w.s_city.take(sp),
        "state": pa.array(w.d_state).take(pa.array(w.s_dist[student])),
        "zip": w.s_zip.take(sp),
        "insurance_member_id": vec.null_where(vec.random_chars(r, n, 12, vec.ALNUM_UPPER), r.random(n) < 0.1),
        "created_at": vec.timestamps(created),
        "updated_at": vec.timestamps(np.maximum(created, w.as_of_sec - r.integers(0, 400 * DAY, n))),
    })
    w.extras["hcp1_patient_students"] = student

    # emergency contacts: the IDS guardians again (same names, phones, e-mails)
    r = rng("emergency_contacts")
    by_student = _guardian_lists(w)
    owner, gidx = [], []
    for i, s in enumerate(student.tolist()):
        for g in by_student.get(s, []):
            owner.append(i)
            gidx.append(g)
    owner, gidx = np.array(owner, np.int64), np.array(gidx, np.int64)
    m = len(owner)
    tables["emergency_contacts"] = pa.table({
        "id": vec.i64(w.id_offset + 1 + np.arange(m)),
        "patient_id": vec.i64(pid[owner]),
        "contact_name": w.full_name(w.g_first[gidx], w.g_last[gidx]),
        "relationship": vec.take(pa.array(GUARDIAN_RELATIONS), w.g_relation[gidx]),
        "phone": w.g_phone.take(pa.array(gidx)),
        "email": w.g_email.take(pa.array(gidx)),
    })

    first = vec.take(pools.first, w.s_first[student])
    last = vec.take(pools.last, w.s_last[student])
    phone = vec.fill(g_phone, "n/a")

    r = rng("encounters")
    k = r.poisson(8.0, n)
    owner = np.repeat(np.arange(n), k)
    m = len(owner)
    dob = w.s_dob[student][owner]
    day = np.maximum(dob + 60, w.as_of_day - r.integers(1, 3 * 365, m))
    at = day * DAY + 8 * 3600 + r.integers(0, 8 * 3600, m)
    order = np.lexsort((at, owner))
    owner, at = owner[order], at[order]
    reason = vec.take(pa.array(REASONS), r.integers(0, len(REASONS), m))
    o = pa.array(owner)
    notes = vec.choose(r.integers(0, 3, m),
                       vec.cat("Pt ", first.take(o), " ", last.take(o), " seen for ", reason, ". Guardian notified at ", phone.take(o), "."),
                       vec.cat("Spoke with mother at ", phone.take(o), "; ", first.take(o), " returned to class."),
                       vec.cat(first.take(o), " sent home, ", reason, "."))
    u = r.random(m)
    notes = vec.where(u < 0.03, pa.array([""] * m), vec.null_where(notes, u > 0.8))
    age_years = (at // DAY - dob[order]) / 365.25
    height = np.round((75 + 6.2 * age_years + r.normal(0, 5, m)) * 10).astype(np.int64)
    weight = np.round((9 + 2.9 * age_years + r.normal(0, 3, m)).clip(8, 150) * 10).astype(np.int64)
    temp = np.round((36.6 + np.abs(r.normal(0, 0.7, m))) * 10).astype(np.int64)
    vitals = vec.cat('{"height_cm": ', vec.decimal_text(height, 1), ', "weight_kg": ', vec.decimal_text(weight, 1),
                     ', "temp_c": ', vec.decimal_text(temp, 1), "}")
    tables["encounters"] = pa.table({
        "id": vec.i64(w.id_offset + 1 + np.arange(m)),
        "patient_id": vec.i64(pid[owner]),
        "provider_id": vec.i64(w.id_offset + r.integers(1, npv + 1, m)),
        "encounter_at": vec.timestamps(at),
        "encounter_type": vec.take(pa.array(ENCOUNTER_TYPES), r.integers(0, len(ENCOUNTER_TYPES), m)),
        "reason": vec.null_where(reason, r.random(m) < 0.05),
        "notes": notes,
        "vitals": vec.null_where(vitals, r.random(m) < 0.15),
    })

    r = rng("immunizations")
    ns_ = len(SCHEDULE)
    owner = np.repeat(np.arange(n), ns_)
    item = np.tile(np.arange(ns_), n)
    age = np.array([s[2] for s in SCHEDULE])[item]
    day = w.s_dob[student][owner] + age + r.integers(0, 40, len(owner))
    keep = (r.random(len(owner)) < 0.4) & (day <= w.as_of_day)
    owner, item, day = owner[keep], item[keep], day[keep]
    m = len(owner)
    tables["immunizations"] = pa.table({
        "id": vec.i64(w.id_offset + 1 + np.arange(m)),
        "patient_id": vec.i64(pid[owner]),
        "vaccine_code": vec.take(pa.array([s[0] for s in SCHEDULE]), item),
        "dose_number": vec.i16(np.array([s[1] for s in SCHEDULE])[item]),
        "administered_on": vec.dates(day),
        "lot_number": vec.null_where(vec.random_chars(r, m, 7, vec.ALNUM_UPPER), r.random(m) < 0.1),
        "provider_id": vec.null_where(vec.i64(w.id_offset + r.integers(1, npv + 1, m)), r.random(m) < 0.3),
    })

    r = rng("allergies")
    k = r.choice([0, 1, 2], n, p=[0.6, 0.3, 0.1])
    offsets, owner = vec.distinct_picks(r, k, np.full(n, len(ALLERGENS)))
    order = np.lexsort((offsets, owner))
    offsets, owner = offsets[order], owner[order]
    m = len(owner)
    tables["allergies"] = pa.table({
        "patient_id": vec.i64(pid[owner]),
        "allergen": vec.take(pa.array(ALLERGENS), offsets),
        "severity": vec.take(pa.array(["mild", "moderate", "severe"]), r.integers(0, 3, m)),
        "reaction": vec.null_where(vec.take(pa.array(["hives", "anaphylaxis", "rash", "swelling", ""]), r.integers(0, 5, m)),
                                   r.random(m) < 0.2),
        "noted_on": vec.null_where(vec.dates(w.as_of_day - r.integers(30, 3000, m)), r.random(m) < 0.1),
    })

    r = rng("medications")
    k = r.poisson(1.5, n)
    owner = np.repeat(np.arange(n), k)
    m = len(owner)
    drug = r.integers(0, len(DRUGS), m)
    o = pa.array(owner)
    tables["medications"] = pa.table({
        "id": vec.i64(w.id_offset + 1 + np.arange(m)),
        "patient_id": vec.i64(pid[owner]),
        "drug_name": vec.take(pa.array([d[0] for d in DRUGS]), drug),
        "dosage": vec.take(pa.array([d[1] for d in DRUGS]), drug),
        "frequency": vec.take(pa.array([d[2] for d in DRUGS]), drug),
        "prescribed_on": vec.dates(w.as_of_day - r.integers(1, 900, m)),
        "prescriber_id": vec.null_where(vec.i64(w.id_offset + r.integers(1, npv + 1, m)), r.random(m) < 0.1),
        "instructions": vec.null_where(vec.cat("Give to ", first.take(o), " at lunch; call ", phone.take(o), " if symptoms persist."),
                                       r.random(m) < 0.5),
    })

    r = rng("screenings")
    per = len(SCREENING_TYPES) * 2
    owner = np.repeat(np.arange(n), per)
    item = np.tile(np.arange(per), n)
    keep = r.random(len(owner)) < 0.8
    owner, item = owner[keep], item[keep]
    m = len(owner)
    kind = item % len(SCREENING_TYPES)
    year_back = item // len(SCREENING_TYPES)
    day = w.as_of_day - year_back * 365 - r.integers(5, 70, m)
    measurement = np.where(kind == 2, np.round((14 + r.random(m) * 14) * 100), 0).astype(np.int64)
    tables["screenings"] = pa.table({
        "id": vec.i64(w.id_offset + 1 + np.arange(m)),
        "patient_id": vec.i64(pid[owner]),
        "screening_type": vec.take(pa.array(SCREENING_TYPES), kind),
        "screened_on": vec.dates(day),
        "result": vec.take(pa.array(["pass", "pass", "pass", "refer"]), r.integers(0, 4, m)),
        "measurement": vec.null_where(vec.decimal_text(measurement, 2), kind != 2),
    })
    return tables


# ============================================================================ HCP2

def build_hcp2(w: World) -> dict[str, pa.Table]:
    def rng(*labels):
        return vec.rng_for(w.seed, "hcp2", *labels)

    pools = w.pools
    tables: dict[str, pa.Table] = {}
    tables["diagnosis_codes"] = pa.table({"icd10_code": [d[0] for d in spec.DIAGNOSIS_CODES],
                                          "description": [d[1] for d in spec.DIAGNOSIS_CODES]})

    r = rng("clinics")
    nsc = len(w.sc_id)
    clinic_id = vec.uuids(r, nsc)                      # one school-based clinic per school
    tables["clinics"] = pa.table({
        "id": clinic_id,
        "district_id": vec.i64(w.d_id[w.sc_dist]),
        "ids_school_id": vec.i64(w.sc_id),
        "name": vec.cat(w.sc_name, " Health Office"),
        "address_line1": vec.cat(vec.text(r.integers(1, 9999, nsc)), " ", vec.take(pools.street, r.integers(0, len(pools.street), nsc))),
        "city": vec.take(pools.city, w.d_city[w.sc_dist]),
        "state": pa.array(w.d_state).take(pa.array(w.sc_dist)),
        "zip": vec.zips(r, w.d_zip3[w.sc_dist]),
        "phone": w.sc_phone,
        "fax": vec.null_where(vec.phones(r, nsc, p=(1, 0, 0, 0, 0)), r.random(nsc) < 0.4),
    })

    r = rng("members")
    ns = len(w.s_id)
    student = np.flatnonzero(r.random(ns) < 0.8)
    forced = w.extras["forced_first_student"]
    # hard cases: the forced students and every cross-district mover have a member record
    cross = np.flatnonzero((w.s_prev_school >= 0) & (w.sc_dist[np.maximum(w.s_prev_school, 0)] != w.s_dist))
    student = np.union1d(student, np.union1d(np.arange(forced, forced + 6), cross))
    n = len(student)
    member_id = vec.uuids(r, n)
    prev = w.s_prev_school[student]
    moved_in = (prev >= 0) & (w.sc_dist[np.maximum(prev, 0)] != w.s_dist[student])
    # A student who came from another district keeps the home clinic of the old school.
    home = np.where(moved_in, prev, w.s_school[student])
    no_home = (r.random(n) < 0.05) & ~moved_in
    by_student = _guardian_lists(w)
    g_first = pools.first.to_pylist()
    g_last = pools.last.to_pylist()
    g_phone = w.g_phone.to_pylist()
    g_email = w.g_email.to_pylist()
    contacts = []
    for s, u in zip(student.tolist(), r.random(n).tolist()):
        if u < 0.07:
            contacts.append(None)
            continue
        items = [{"name": f"{g_first[w.g_first[g]]} {g_last[w.g_last[g]]}", "phone": g_phone[g], "email": g_email[g]}
                 for g in by_student.get(s, [])]
        contacts.append(json.dumps({"guardians": items}, ensure_ascii=False))
    guardian = _first_guardian(w, student)
    alt_u = r.random(n)
    alt_mail = vec.cat(vec.take(pools.first_slug, w.s_first[student]), "_", vec.take(pools.last_slug, w.s_last[student]),
                       "@", vec.take(pools.domain, r.integers(0, len(pools.domain), n))).to_pylist()
    alt = [None if a > 0.3 else ("{}" if a < 0.05 else vec.pg_text_array([e])) for a, e in zip(alt_u.tolist(), alt_mail)]
    sp = pa.array(student)
    created = w.as_of_sec - r.integers(30 * DAY, 5 * 365 * DAY, n)
    tables["members"] = pa.table({
        "id": member_id,
        "state_student_id": w.s_ssid.take(sp),
        "home_clinic_id": vec.null_where(clinic_id.take(pa.array(home)), no_home),
        "given_name": vec.take(pools.first, w.s_first[student]),
        "family_name": vec.take(pools.last, w.s_last[student]),
        "birth_date": vec.dates(w.s_dob[student]),
        "email": w.s_email.take(sp),
        "mobile": vec.null_where(w.g_phone.take(pa.array(np.maximum(guardian, 0))), guardian < 0),
        "alternate_emails": pa.array(alt, pa.string()),
        "guardian_contacts": pa.array(contacts, pa.string()),
        "created_at": vec.timestamps(created),
    })

    first = vec.take(pools.first, w.s_first[student])
    last = vec.take(pools.last, w.s_last[student])
    phone = vec.fill(w.g_phone.take(pa.array(np.maximum(guardian, 0))), "n/a")

    r = rng("visits")
    k = r.poisson(8.0, n)
    owner = np.repeat(np.arange(n), k)
    m = len(owner)
    visit_id = vec.uuids(r, m)
    clinic = np.where(no_home[owner], w.s_school[student][owner], home[owner])
    day = w.as_of_day - r.integers(1, 2 * 365, m)
    o = pa.array(owner)
    complaint = vec.take(pa.array(REASONS), r.integers(0, len(REASONS), m))
    notes = vec.choose(r.integers(0, 3, m),
                       vec.cat(first.take(o), " ", last.take(o), " c/o ", complaint, "; called guardian ", phone.take(o), "."),
                       vec.cat("Rested 20 min, ", first.take(o), " back to class."),
                       vec.cat("Ice pack applied. Left voicemail at ", phone.take(o), "."))
    u = r.random(m)
    tables["visits"] = pa.table({
        "id": visit_id,
        "member_id": member_id.take(o),
        "clinic_id": clinic_id.take(pa.array(clinic)),
        "visit_date": vec.dates(day),
        "checked_in_at": vec.timestamps(day * DAY + 8 * 3600 + r.integers(0, 7 * 3600, m)),
        "chief_complaint": vec.null_where(complaint, r.random(m) < 0.05),
        "nurse_notes": vec.where(u < 0.03, pa.array([""] * m), vec.null_where(notes, u > 0.75)),
        "temperature_c": vec.null_where(vec.decimal_text(np.round((36.4 + np.abs(r.normal(0, 0.8, m))) * 10).astype(np.int64), 1),
                                        r.random(m) < 0.3),
        "follow_up_required": vec.boolean(r.random(m) < 0.12),
    })

    r = rng("visit_diagnoses")
    u = r.random(m)
    kd = 1 + (u < 0.3) + (u < 0.1)
    vowner = np.repeat(np.arange(m), kd)
    seq = vec.position_in_group(kd) + 1
    tables["visit_diagnoses"] = pa.table({
        "visit_id": visit_id.take(pa.array(vowner)),
        "seq": vec.i16(seq),
        "icd10_code": vec.take(pa.array([d[0] for d in spec.DIAGNOSIS_CODES]), r.integers(0, len(spec.DIAGNOSIS_CODES), len(vowner))),
    })

    r = rng("care_plans")
    k = r.poisson(1.0, n)
    owner = np.repeat(np.arange(n), k)
    mp = len(owner)
    o = pa.array(owner)
    start = w.as_of_day - r.integers(10, 900, mp)
    nurse_f, nurse_l = r.integers(0, len(pools.first), mp), r.integers(0, len(pools.last), mp)
    details = vec.cat('{"instructions": "Call guardian before medication", "contact": {"name": ',
                      pa.array([json.dumps(x, ensure_ascii=False) for x in
                                vec.cat(first.take(o), " ", last.take(o), "'s guardian").to_pylist()], pa.string()),
                      ', "phone": "', phone.take(o), '"}, "review_weeks": ', vec.text(r.integers(4, 27, mp)), "}")
    tables["care_plans"] = pa.table({
        "id": vec.uuids(r, mp),
        "member_id": member_id.take(o),
        "plan_type": vec.take(pa.array(CARE_PLANS), r.integers(0, len(CARE_PLANS), mp)),
        "start_date": vec.dates(start),
        "end_date": vec.null_where(vec.dates(start + r.integers(60, 400, mp)), r.random(mp) < 0.6),
        "details": vec.null_where(details, r.random(mp) < 0.1),
        "created_by_name": vec.null_where(vec.cat("Nurse ", w.full_name(nurse_f, nurse_l)), r.random(mp) < 0.05),
    })

    r = rng("consents")
    nc = len(CONSENT_TYPES)
    owner = np.repeat(np.arange(n), nc)
    item = np.tile(np.arange(nc), n)
    keep = r.random(len(owner)) < 0.95
    owner, item = owner[keep], item[keep]
    mc = len(owner)
    g = guardian[owner]
    gp = pa.array(np.maximum(g, 0))
    signer = w.full_name(w.g_first[np.maximum(g, 0)], w.g_last[np.maximum(g, 0)])
    tables["consents"] = pa.table({
        "member_id": member_id.take(pa.array(owner)),
        "consent_type": vec.take(pa.array(CONSENT_TYPES), item),
        "granted": vec.boolean(r.random(mc) < 0.9),
        "signed_by_name": vec.null_where(signer, g < 0),
        "signer_email": vec.null_where(w.g_email.take(gp), g < 0),
        "signed_on": vec.null_where(vec.dates(w.as_of_day - r.integers(10, 1500, mc)), r.random(mc) < 0.05),
    })
    w.extras["hcp2_member_students"] = student
    return tables
