"""ADB rows (schema: ddl/adb.sql): dimensions and facts keyed by IDS district, school and
student ids, computed from the IDS `World` (so the facts agree with the roster), with no
foreign key into IDS.
"""
from __future__ import annotations

from datetime import date

import numpy as np
import pyarrow as pa

from . import spec, vec
from .gen_ids import World
from .vec import DAY

DIM_DATE_FROM = date(2024, 7, 1)
DIM_DATE_TO = date(2027, 6, 30)
# (label, day, years before the current school year)
WINDOWS = (("FY25 Fall", date(2024, 10, 1), 2), ("FY25 Winter", date(2025, 1, 21), 2),
           ("FY25 Spring", date(2025, 5, 5), 2), ("FY26 Fall", date(2025, 10, 1), 1),
           ("FY26 Winter", date(2026, 1, 20), 1), ("FY26 Spring", date(2026, 5, 4), 1),
           ("FY27 Fall", date(2026, 10, 5), 0))
RISK_FACTORS = ("chronic_absence", "low_gpa", "behavior_referrals", "mobility", "credit_deficit")
ETL_JOBS = ("load_enrollment", "load_attendance", "load_assessment", "refresh_risk_scores")


def _ymd(days: np.ndarray):
    d64 = np.asarray(days, dtype="datetime64[D]")
    years = d64.astype("datetime64[Y]").astype(np.int64) + 1970
    months = d64.astype("datetime64[M]").astype(np.int64) % 12 + 1
    dom = (d64 - d64.astype("datetime64[M]")).astype(np.int64) + 1
    return years, months, dom


def date_key(days) -> np.ndarray:
    y, m, d = _ymd(days)
    return y * 10000 + m * 100 + d


def _school_day_mask(days: np.ndarray) -> np.ndarray:
    weekday = (days + 3) % 7
    in_term = np.zeros(len(days), bool)
    for _, _, _, _, start, end in spec.TERMS:
        in_term |= (days >= vec.day_number(start)) & (days <= vec.day_number(end))
    return (weekday < 5) & in_term


def build_adb(w: World) -> dict[str, pa.Table]:
    def rng(*labels):
        return vec.rng_for(w.seed, "adb", *labels)

    tables: dict[str, pa.Table] = {}
    days = np.arange(vec.day_number(DIM_DATE_FROM), vec.day_number(DIM_DATE_TO) + 1)
    y, m, _ = _ymd(days)
    tables["dim_date"] = pa.table({
        "date_key": vec.i32(date_key(days)),
        "full_date": vec.dates(days),
        "school_year": vec.i16(np.where(m >= 7, y + 1, y)),
        "month_key": vec.i32(y * 100 + m),
        "day_of_week": vec.i16((days + 3) % 7 + 1),
        "is_school_day": vec.boolean(_school_day_mask(days)),
    })
    tables["dim_grade"] = pa.table({"grade_level": vec.i16([g[0] for g in spec.GRADE_LEVELS]),
                                    "label": [g[2] for g in spec.GRADE_LEVELS]})
    tables["dim_subject"] = pa.table({"subject_id": vec.i32([s[0] for s in spec.SUBJECTS]),
                                      "name": [s[2] for s in spec.SUBJECTS]})

    r = rng("dims")
    students_per_district = np.bincount(w.s_dist, minlength=len(w.d_id))
    band = np.select([students_per_district >= 5000, students_per_district >= 1000], [0, 1], 2)
    tables["dim_district"] = pa.table({
        "district_id": vec.i64(w.d_id),
        "district_name": w.d_name,
        "state": pa.array(w.d_state),
        "size_band": vec.take(pa.array(["large", "medium", "small"]), band),
        "loaded_at": vec.timestamps(w.as_of_sec - r.integers(0, 3 * DAY, len(w.d_id))),
    })
    principal = np.maximum(w.sc_principal, 0)
    tables["dim_school"] = pa.table({
        "school_id": vec.i64(w.sc_id),
        "district_id": vec.i64(w.d_id[w.sc_dist]),
        "school_name": w.sc_name,
        "school_type": vec.take(pa.array(spec.SCHOOL_TYPES), w.sc_type),
        "capacity": vec.i32(w.sc_capacity),
        "principal_name": vec.null_where(w.full_name(w.st_first[principal], w.st_last[principal]), w.sc_principal < 0),
    })

    # daily facts over the current year's school days so far (the last `fact_days` at tiny)
    fact_days = w.school_days if w.scale.fact_days is None else w.school_days[-w.scale.fact_days:]
    nsc, nd = len(w.sc_id), len(fact_days)
    per_grade = np.bincount(w.s_school * 13 + w.s_grade, minlength=nsc * 13).reshape(nsc, 13)
    lo = np.array([g[0] for g in spec.SCHOOL_TYPE_GRADES])[w.sc_type]
    ng = np.array([g[1] - g[0] + 1 for g in spec.SCHOOL_TYPE_GRADES])[w.sc_type]
    r = rng("fact_enrollment_daily")
    rows = nd * ng
    school = np.repeat(np.arange(nsc), rows)
    pos = vec.position_in_group(rows)
    day = fact_days[pos // ng[school]]
    grade = lo[school] + pos % ng[school]
    count = np.maximum(per_grade[school, grade] - r.binomial(1, 0.05, len(school)), 0)
    tables["fact_enrollment_daily"] = pa.table({
        "school_id": vec.i64(w.sc_id[school]),
        "date_key": vec.i32(date_key(day)),
        "grade_level": vec.i16(grade),
        "district_id": vec.i64(w.d_id[w.sc_dist[school]]),
        "enrolled_count": vec.i32(count),
    })

    r = rng("fact_attendance_daily")
    school = np.repeat(np.arange(nsc), nd)
    day = np.tile(fact_days, nsc)
    enrolled = per_grade.sum(axis=1)[school]
    absent = r.binomial(enrolled, 0.06)
    tardy = r.binomial(enrolled - absent, 0.03)
    present = enrolled - absent
    rate = np.where(enrolled > 0, np.round(present * 10000 / np.maximum(enrolled, 1)), 10000).astype(np.int64)
    tables["fact_attendance_daily"] = pa.table({
        "school_id": vec.i64(w.sc_id[school]),
        "date_key": vec.i32(date_key(day)),
        "district_id": vec.i64(w.d_id[w.sc_dist[school]]),
        "present_count": vec.i32(present),
        "absent_count": vec.i32(absent),
        "tardy_count": vec.i32(tardy),
        "attendance_rate": vec.decimal_text(rate, 4),
    })

    r = rng("fact_assessment")
    ns, nw, nsub = len(w.s_id), len(WINDOWS), len(spec.ASSESSED_SUBJECTS)
    student = np.repeat(np.arange(ns), nw * nsub)
    window = np.tile(np.repeat(np.arange(nw), nsub), ns)
    subject = np.tile(np.array(spec.ASSESSED_SUBJECTS), ns * nw)
    back = np.array([wd[2] for wd in WINDOWS])[window]
    grade_then = w.s_grade[student] - back
    keep = grade_then >= 0
    student, window, subject, grade_then = student[keep], window[keep], subject[keep], grade_then[keep]
    n = len(student)
    wday = np.array([vec.day_number(wd[1]) for wd in WINDOWS])[window] + r.integers(0, 10, n)
    score = np.round((150 + 12 * grade_then + r.normal(0, 15, n)) * 10).astype(np.int64)
    expected = (150 + 12 * grade_then) * 10
    level = np.clip(2 + np.round((score - expected) / 150), 1, 4).astype(np.int64)
    missing = r.random(n) < 0.02
    tables["fact_assessment"] = pa.table({
        "id": vec.i64(w.id_offset + 1 + np.arange(n)),
        "district_id": vec.i64(w.d_id[w.s_dist[student]]),
        "school_id": vec.i64(w.sc_id[w.s_school[student]]),
        "student_id": vec.i64(w.s_id[student]),
        "subject_id": vec.i32(subject),
        "date_key": vec.i32(date_key(wday)),
        "assessment_window": vec.take(pa.array([wd[0] for wd in WINDOWS]), window),
        "scale_score": vec.null_where(vec.decimal_text(score, 1), missing),
        "proficiency_level": vec.null_where(vec.i16(level), missing),
    })

    r = rng("fact_student_attendance_monthly")
    _, months_of_days, _ = _ymd(w.school_days)
    years_of_days, _, _ = _ymd(w.school_days)
    month_keys, days_in_month = np.unique(years_of_days * 100 + months_of_days, return_counts=True)
    nm = len(month_keys)
    student = np.repeat(np.arange(ns), nm)
    month = np.tile(np.arange(nm), ns)
    enrolled_days = days_in_month[month]
    absent = r.binomial(enrolled_days, 0.05)
    tables["fact_student_attendance_monthly"] = pa.table({
        "student_id": vec.i64(w.s_id[student]),
        "month_key": vec.i32(month_keys[month]),
        "district_id": vec.i64(w.d_id[w.s_dist[student]]),
        "school_id": vec.i64(w.sc_id[w.s_school[student]]),
        "days_enrolled": vec.i16(enrolled_days),
        "days_present": vec.i16(enrolled_days - absent),
        "days_absent": vec.i16(absent),
    })

    r = rng("fact_course_grades")
    fall = w.extras["e_fall"]
    sec = w.e_section[fall]
    key = w.sec_school[sec] * 100 + w.c_subject[w.sec_course[sec]]
    keys, counts = np.unique(key, return_counts=True)
    nk = len(keys)
    tables["fact_course_grades"] = pa.table({
        "school_id": vec.i64(w.sc_id[keys // 100]),
        "term_id": vec.i32(np.full(nk, spec.FALL_TERM)),
        "subject_id": vec.i32(keys % 100),
        "district_id": vec.i64(w.d_id[w.sc_dist[keys // 100]]),
        "students_count": vec.i32(counts),
        "avg_grade_points": vec.null_where(vec.decimal_text(r.integers(180, 390, nk), 2), r.random(nk) < 0.05),
    })

    r = rng("student_risk_scores")
    student = np.flatnonzero(r.random(ns) < 0.9)
    n = len(student)
    nf = r.choice([0, 1, 2, 3], n, p=[0.5, 0.3, 0.15, 0.05])
    offsets, owner = vec.distinct_picks(r, nf, np.full(n, len(RISK_FACTORS)))
    factor_lists: list[list[str]] = [[] for _ in range(n)]
    for o, f in zip(owner.tolist(), offsets.tolist()):
        factor_lists[o].append(RISK_FACTORS[f])
    factors = [vec.pg_text_array(sorted(x)) for x in factor_lists]
    factors = [None if u < 0.05 else f for f, u in zip(factors, r.random(n).tolist())]
    tables["student_risk_scores"] = pa.table({
        "student_id": vec.i64(w.s_id[student]),
        "district_id": vec.i64(w.d_id[w.s_dist[student]]),
        "school_id": vec.i64(w.sc_id[w.s_school[student]]),
        "student_name": vec.null_where(w.full_name(w.s_first[student], w.s_last[student]), r.random(n) < 0.03),
        "risk_score": vec.decimal_text(r.integers(0, 10001, n), 2),
        "risk_factors": pa.array(factors, pa.string()),
        "computed_at": vec.timestamps(w.as_of_sec - r.integers(0, 7 * DAY, n)),
    })

    r = rng("etl_runs")
    n = 120
    started = w.as_of_sec - (n - np.arange(n)) * (DAY // 2) + r.integers(0, 3600, n)
    status = r.choice(3, n, p=[0.9, 0.08, 0.02])
    status[-1] = 2
    tables["etl_runs"] = pa.table({
        "id": vec.i64(w.id_offset + 1 + np.arange(n)),
        "job_name": vec.take(pa.array(ETL_JOBS), np.arange(n) % len(ETL_JOBS)),
        "started_at": vec.timestamps(started),
        "finished_at": vec.null_where(vec.timestamps(started + r.integers(30, 1800, n)), status == 2),
        "status": vec.take(pa.array(["succeeded", "failed", "running"]), status),
        "rows_loaded": vec.null_where(vec.i64(r.integers(1000, 500000, n)), status != 0),
        "error_message": vec.null_where(pa.array(["statement timeout after 1800 s"] * n), status != 1),
    })
    return tables
