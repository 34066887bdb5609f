"""IDS rows (schema: ddl/ids.sql), generated column-wise with numpy, plus the `World`: the
entity arrays (students, guardians, schools, staff, sections...) that HCP1, HCP2, ADB and the
graph derive their rows from, so every store describes the same people.

Entities are laid out district after district in ascending district id; ids come from global
counters (a student id says nothing about its district). Rows that must exist whatever the
seed or scale -- the hard cases -- are forced explicitly, never left to chance:
  * the first students of district 42 carry the nasty names (José O'Brien, Zoë Müller, 王芳...);
  * every district sends students (previous_school_id), staff (staff_assignments, a
    co-taught section) and a guardian to its "partner", the next district in id order, so
    district 42 both points at and is pointed at by other districts.
"""
from __future__ import annotations

import json
from datetime import date
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa

from . import spec
from . import vec
from .pools import Pools, slug
from .vec import DAY

# staff roles (codes index ROLE_NAMES)
SUPT, PRIN, TEACH, COUNS, NURSE, AIDE, OFFICE = range(7)
ROLE_NAMES = ("superintendent", "principal", "teacher", "counselor", "nurse", "aide", "office")

ID_BASE = {"school": 1001, "staff": 20001, "student": 100001, "guardian": 700001, "course": 3001}

GUARDIAN_RELATIONS = ("mother", "father", "grandmother", "grandfather", "stepmother", "stepfather",
                      "aunt", "legal guardian")
NOTE_CATEGORIES = ("attendance", "academic", "behavior", "wellbeing", "college", "family")
HOLIDAYS = ("2026-09-07", "2026-10-12", "2026-11-11")


@dataclass
class World:
    """Entity arrays shared by every store's generator (index = row position, not id)."""
    seed: int
    scale: spec.Scale
    pools: Pools
    as_of_day: int
    as_of_sec: int
    id_offset: int = 0                   # added to every generated surrogate key (CERT: far from PROD's)
    # districts
    d_id: np.ndarray = None
    d_state: list = None
    d_zip3: np.ndarray = None
    d_name: pa.Array = None
    d_domain: list = None
    d_city: np.ndarray = None
    partner: np.ndarray = None           # index of the partner district
    # schools
    sc_id: np.ndarray = None
    sc_dist: np.ndarray = None
    sc_type: np.ndarray = None
    sc_name: pa.Array = None
    sc_phone: pa.Array = None
    sc_capacity: np.ndarray = None
    sc_principal: np.ndarray = None      # staff index of the principal (-1: none on record)
    # staff
    st_id: np.ndarray = None
    st_school: np.ndarray = None
    st_role: np.ndarray = None
    st_first: np.ndarray = None
    st_last: np.ndarray = None
    st_email: pa.Array = None
    st_phone: pa.Array = None
    st_active: np.ndarray = None
    st_supervisor: np.ndarray = None     # staff index, -1 = none
    st_extra_districts: list = None      # (staff index, district index) from cross-district work
    # students
    s_id: np.ndarray = None
    s_dist: np.ndarray = None
    s_school: np.ndarray = None
    s_prev_school: np.ndarray = None     # school index, -1 = none
    s_grade: np.ndarray = None
    s_first: np.ndarray = None
    s_last: np.ndarray = None
    s_dob: np.ndarray = None             # day numbers
    s_gender: pa.Array = None
    s_ssid: pa.Array = None
    s_email: pa.Array = None
    s_phone: pa.Array = None
    s_street: pa.Array = None
    s_city: pa.Array = None
    s_zip: pa.Array = None
    s_enrolled_day: np.ndarray = None
    s_family: np.ndarray = None
    # guardians
    g_id: np.ndarray = None
    g_first: np.ndarray = None
    g_last: np.ndarray = None
    g_email: pa.Array = None
    g_phone: pa.Array = None
    g_relation: np.ndarray = None
    g_family: np.ndarray = None
    g_dist: np.ndarray = None
    # student_guardians pairs (student index, guardian index), sorted
    sg_student: np.ndarray = None
    sg_guardian: np.ndarray = None
    sg_primary: np.ndarray = None
    # courses / sections / enrollments / assignments / submissions
    c_id: np.ndarray = None
    c_dist: np.ndarray = None
    c_code: pa.Array = None
    c_title: pa.Array = None
    c_subject: np.ndarray = None
    sec_school: np.ndarray = None
    sec_code: pa.Array = None
    sec_course: np.ndarray = None
    sec_term: np.ndarray = None
    sec_room: pa.Array = None
    st_pairs: tuple = None               # section_teachers (section index, staff index, role)
    e_id: np.ndarray = None
    e_student: np.ndarray = None
    e_section: np.ndarray = None
    e_enrolled_day: np.ndarray = None
    a_id: np.ndarray = None
    a_section: np.ndarray = None
    a_title: pa.Array = None
    a_due_sec: np.ndarray = None
    sub_id: np.ndarray = None
    sub_assignment: np.ndarray = None
    sub_student: np.ndarray = None
    sub_at_sec: np.ndarray = None
    sub_score_cents: np.ndarray = None
    school_days: np.ndarray = None       # day numbers of current-year school days up to AS_OF
    extras: dict = field(default_factory=dict)

    def rng(self, *labels) -> np.random.Generator:
        return vec.rng_for(self.seed, "ids", *labels)

    def full_name(self, first_idx, last_idx) -> pa.Array:
        return vec.cat(vec.take(self.pools.first, first_idx), " ", vec.take(self.pools.last, last_idx))


def _name(world: World, first_idx, last_idx):
    return vec.take(world.pools.first, first_idx), vec.take(world.pools.last, last_idx)


def _email(world: World, first_idx, last_idx, suffix, domains) -> pa.Array:
    """first.last<suffix>@domain with ASCII slugs of the (possibly non-ASCII) names."""
    return vec.cat(vec.take(world.pools.first_slug, first_idx), ".", vec.take(world.pools.last_slug, last_idx),
                   suffix, "@", domains)


def _personal_domains(world: World, rng, n) -> pa.Array:
    return vec.take(world.pools.domain, rng.integers(0, len(world.pools.domain), n))


def _street(world: World, rng, n) -> pa.Array:
    return vec.cat(vec.text(rng.integers(1, 9999, n)), " ", vec.take(world.pools.street, rng.integers(0, len(world.pools.street), n)))


def _updated_after(rng, created_sec: np.ndarray, as_of_sec: int, recent_share: float) -> np.ndarray:
    """updated_at between created_at and AS_OF; a share within the last 30 days (activity)."""
    n = len(created_sec)
    span = np.maximum(as_of_sec - created_sec, 0)
    updated = created_sec + (rng.random(n) * span).astype(np.int64)
    recent = as_of_sec - (rng.random(n) * 30 * DAY).astype(np.int64)
    return np.where(rng.random(n) < recent_share, np.maximum(recent, created_sec), updated)


def _school_days(as_of_day: int) -> np.ndarray:
    start = vec.day_number(spec.TERM_BY_ID[spec.FALL_TERM][4])
    days = np.arange(start, as_of_day + 1)
    weekday = (days + 3) % 7          # 1970-01-01 was a Thursday: 0 = Monday
    holidays = np.array([vec.day_number(date.fromisoformat(h)) for h in HOLIDAYS])
    return days[(weekday < 5) & ~np.isin(days, holidays)]


# ============================================================================ entities

def _districts(w: World) -> None:
    rng = w.rng("districts")
    d_id = np.array([d for d, _ in w.scale.districts], dtype=np.int64)
    order = np.argsort(d_id, kind="stable")
    d_id = d_id[order]
    w.d_id = d_id
    w.d_state = [spec.DISTRICT_STATE[int(d)] for d in d_id]
    w.d_zip3 = np.array([spec.STATE_ZIP3[s] for s in w.d_state], dtype=np.int64)
    w.d_city = rng.integers(0, len(w.pools.city), len(d_id))
    cities = w.pools.city.take(pa.array(w.d_city)).to_pylist()
    kinds = ("Unified School District", "Public Schools", "Independent School District", "Regional School District")
    w.d_name = pa.array([f"{c} {kinds[int(k)]}" for c, k in zip(cities, rng.integers(0, len(kinds), len(d_id)))])
    w.d_domain = [f"{slug(c)}{int(d)}.k12.{s.lower()}.us" for c, d, s in zip(cities, d_id, w.d_state)]
    w.partner = (np.arange(len(d_id)) + 1) % len(d_id)


def _schools(w: World, students_per_district: np.ndarray) -> None:
    rng = w.rng("schools")
    per = np.maximum(3, np.round(students_per_district / 400).astype(np.int64))
    n_high = np.maximum(1, np.round(per * 0.22).astype(np.int64))
    n_mid = np.maximum(1, np.round(per * 0.22).astype(np.int64))
    n_elem = per - n_high - n_mid
    sc_dist, sc_type = [], []
    type_start = np.zeros((len(per), 3), np.int64)
    type_count = np.stack([n_elem, n_mid, n_high], axis=1)
    cursor = 0
    for d in range(len(per)):
        for t in range(3):
            type_start[d, t] = cursor
            sc_dist += [d] * int(type_count[d, t])
            sc_type += [t] * int(type_count[d, t])
            cursor += int(type_count[d, t])
    w.sc_dist = np.array(sc_dist, np.int64)
    w.sc_type = np.array(sc_type, np.int64)
    w.sc_id = w.id_offset + ID_BASE["school"] + np.arange(len(sc_dist), dtype=np.int64)
    w.extras["type_start"], w.extras["type_count"] = type_start, type_count
    n = len(sc_dist)
    kind = pa.array(["Elementary School", "Middle School", "High School"])
    w.sc_name = vec.cat(vec.take(w.pools.last, rng.integers(0, len(w.pools.last), n)), " ",
                        vec.take(kind, w.sc_type))
    w.sc_phone = vec.phones(rng, n, p=(0.9, 0.1, 0, 0, 0))


def _students(w: World, students_per_district: np.ndarray) -> None:
    rng = w.rng("students")
    n = int(students_per_district.sum())
    w.s_dist = np.repeat(np.arange(len(w.d_id)), students_per_district)
    w.s_id = w.id_offset + ID_BASE["student"] + np.arange(n, dtype=np.int64)
    w.s_grade = rng.integers(0, 13, n)
    s_type = np.select([w.s_grade <= 5, w.s_grade <= 8], [0, 1], 2)
    ts, tc = w.extras["type_start"], w.extras["type_count"]
    w.s_school = ts[w.s_dist, s_type] + (rng.random(n) * tc[w.s_dist, s_type]).astype(np.int64)
    # Age = grade + 5 on AS_OF (a few held back one year): 5..18.
    held = rng.random(n) < 0.04
    age = w.s_grade + 5 + held
    w.s_dob = w.as_of_day - np.floor(age * 365.25).astype(np.int64) - rng.integers(0, 365, n)
    # Entered the district some time after turning 5.
    max_back = np.maximum(w.as_of_day - (w.s_dob + 5 * 365) - 20, 1)
    w.s_enrolled_day = w.as_of_day - 10 - (rng.random(n) * max_back).astype(np.int64)
    # State-assigned natural key: state + 10 digits, a bijection of the id (so unique).
    state = pa.array(w.d_state).take(pa.array(w.s_dist))
    w.s_ssid = vec.cat(state, vec.lpad((w.s_id * 2654435761) % 10_000_000_000, 10))


def _families(w: World) -> None:
    """Households: siblings share a surname (mostly), an address, a phone and guardians."""
    rng = w.rng("families")
    n = len(w.s_id)
    family = np.empty(n, np.int64)
    fam_dist = []
    next_family = 0
    for d in range(len(w.d_id)):
        members = np.flatnonzero(w.s_dist == d)
        perm = members[rng.permutation(len(members))]
        sizes = rng.choice([1, 2, 3], size=len(members), p=[0.6, 0.3, 0.1])
        labels = np.repeat(np.arange(len(sizes)), sizes)[:len(members)]
        family[perm] = next_family + labels
        used = int(labels[-1]) + 1 if len(labels) else 0
        fam_dist += [d] * used
        next_family += used
    fam_dist = np.array(fam_dist, np.int64)
    F = next_family
    w.s_family = family
    fam_last = rng.integers(0, len(w.pools.last), F)
    fam_street = _street(w, rng, F)
    in_town = rng.random(F) < 0.8
    fam_city = np.where(in_town, w.d_city[fam_dist], rng.integers(0, len(w.pools.city), F))
    fam_zip = vec.zips(rng, w.d_zip3[fam_dist])
    fam_phone = vec.phones(rng, F)
    w.extras.update(fam_dist=fam_dist, fam_last=fam_last)

    # students inherit the household
    keep_surname = rng.random(n) < 0.9
    w.s_last = np.where(keep_surname, fam_last[family], rng.integers(0, len(w.pools.last), n))
    w.s_first = rng.integers(0, len(w.pools.first), n)
    fam_idx = pa.array(family)
    w.s_street = fam_street.take(fam_idx)
    w.s_city = vec.take(w.pools.city, fam_city[family])
    w.s_zip = fam_zip.take(fam_idx)
    w.s_phone = fam_phone.take(fam_idx)

    # guardians: one or two per household
    per_family = np.where(rng.random(F) < 0.65, 2, 1)
    G = int(per_family.sum())
    w.g_family = np.repeat(np.arange(F), per_family)
    gpos = vec.position_in_group(per_family)
    w.g_id = w.id_offset + ID_BASE["guardian"] + np.arange(G, dtype=np.int64)
    w.g_dist = fam_dist[w.g_family]
    w.g_first = rng.integers(0, len(w.pools.first), G)
    same = (gpos == 0) | (rng.random(G) < 0.7)
    w.g_last = np.where(same, fam_last[w.g_family], rng.integers(0, len(w.pools.last), G))
    first_rel = rng.choice([0, 1, 2, 7], G, p=[0.58, 0.3, 0.06, 0.06])
    second_rel = rng.choice([1, 0, 3, 4, 5, 6], G, p=[0.55, 0.2, 0.08, 0.05, 0.07, 0.05])
    w.g_relation = np.where(gpos == 0, first_rel, second_rel)
    w.g_email = vec.null_where(_email(w, w.g_first, w.g_last, vec.text(rng.integers(1, 99, G)),
                                      _personal_domains(w, rng, G)), rng.random(G) < 0.08)
    w.g_phone = vec.phones(rng, G)
    g_start = vec.starts_of(per_family)
    w.extras.update(g_start=g_start, g_count=per_family, fam_street=fam_street, fam_city=fam_city,
                    fam_zip=fam_zip, g_pos=gpos)

    # student_guardians: every student x every guardian of the household ...
    k = per_family[family]
    owner = np.repeat(np.arange(n), k)
    guardian = g_start[family[owner]] + vec.position_in_group(k)
    primary = vec.position_in_group(k) == 0
    # ... plus, per district, one guardian who is also guardian of a child in the partner district.
    extra_s, extra_g = [], []
    for d in range(len(w.d_id)):
        p = w.partner[d]
        if p == d:
            continue
        g_choices = np.flatnonzero(w.g_dist == d)
        s_choices = np.flatnonzero(w.s_dist == p)
        for _ in range(max(1, len(g_choices) // 4000)):
            extra_g.append(g_choices[int(rng.integers(0, len(g_choices)))])
            extra_s.append(s_choices[int(rng.integers(0, len(s_choices)))])
    student = np.concatenate([owner, np.array(extra_s, np.int64)])
    guardian = np.concatenate([guardian, np.array(extra_g, np.int64)])
    primary = np.concatenate([primary, np.zeros(len(extra_s), bool)])
    order = np.lexsort((guardian, student))
    w.sg_student, w.sg_guardian, w.sg_primary = student[order], guardian[order], primary[order]
    w.extras["cross_guardians"] = list(zip(extra_g, extra_s))


def _force_hard_cases(w: World) -> None:
    """Nasty names on the first students of district 42 (of the first district when 42 is
    absent, as in CERT's own data) and on the first guardian of the first one."""
    matches = np.flatnonzero(w.d_id == spec.ROOT_DISTRICT)
    root = int(matches[0]) if len(matches) else 0
    first = int(np.flatnonzero(w.s_dist == root)[0])
    fi, li = w.pools.first_index, w.pools.last_index
    forced = [("José", "O'Brien"), ("Zoë", "Müller"), ("芳", "王"), ("Siobhán", "García"),
              ("D'Andre", "Smith-Jones"), ("Łukasz", "Nguyễn")]
    for k, (f, l) in enumerate(forced):
        w.s_first[first + k] = fi[f]
        w.s_last[first + k] = li[l]
    g = int(w.extras["g_start"][w.s_family[first]])
    w.g_first[g], w.g_last[g] = fi["Renée"], li["O'Brien"]
    emails = w.g_email.to_pylist()
    emails[g] = "renee.obrien@example.org"          # the address José's note mentions
    w.g_email = pa.array(emails, pa.string())
    w.extras["forced_first_student"] = first


def _staff(w: World) -> None:
    rng = w.rng("staff")
    NS = len(w.sc_id)
    per_school_students = np.bincount(w.s_school, minlength=NS)
    w.sc_capacity = np.round(np.maximum(per_school_students, 10) * (1.15 + 0.4 * rng.random(NS))).astype(np.int64)
    first_of_district = np.zeros(NS, bool)
    first_of_district[vec.starts_of(np.bincount(w.sc_dist, minlength=len(w.d_id)))] = True
    base = np.maximum(5, np.round(per_school_students / 12.5).astype(np.int64))
    count = base + first_of_district
    school = np.repeat(np.arange(NS), count)
    pos = vec.position_in_group(count) - first_of_district[school]      # -1 = superintendent
    n = len(school)
    role = np.select([pos == -1, pos == 0, pos <= 2, pos == 3, pos == 4],
                     [SUPT, PRIN, TEACH, COUNS, NURSE],
                     rng.choice([TEACH, AIDE, OFFICE], n, p=[0.8, 0.1, 0.1]))
    w.st_id = w.id_offset + ID_BASE["staff"] + np.arange(n, dtype=np.int64)
    w.st_school, w.st_role = school, role
    school_start = vec.starts_of(count)
    principal_of_school = school_start + first_of_district
    supt_of_district = school_start[np.flatnonzero(first_of_district)]
    dist = w.sc_dist[school]
    w.st_supervisor = np.select([role == SUPT, role == PRIN], [-1, supt_of_district[dist]],
                                principal_of_school[school])
    # A few leavers, never the people the structure hangs on (supt, principal, first teachers).
    w.st_active = ~((rng.random(n) < 0.04) & (pos >= 3))
    w.st_first = rng.integers(0, len(w.pools.first), n)
    w.st_last = rng.integers(0, len(w.pools.last), n)
    domains = pa.array(w.d_domain).take(pa.array(dist))
    w.st_email = _email(w, w.st_first, w.st_last, "", domains)
    w.st_phone = vec.phones(rng, n, p=(0.8, 0.2, 0, 0, 0))
    # No principal on record for some schools (vacancy): principal_id NULL.
    w.sc_principal = np.where(np.arange(NS) % 7 == 3, -1, principal_of_school)
    w.extras.update(st_pos=pos, school_staff_start=school_start, first_of_district=first_of_district)


def _previous_schools(w: World) -> None:
    rng = w.rng("previous_school")
    n = len(w.s_id)
    per_district = np.bincount(w.sc_dist, minlength=len(w.d_id))
    dist_start = vec.starts_of(per_district)
    moved = rng.random(n) < 0.08
    other = dist_start[w.s_dist] + (w.s_school - dist_start[w.s_dist] + 1 + rng.integers(0, 2, n)) % per_district[w.s_dist]
    prev = np.where(moved & (other != w.s_school), other, -1)
    # Cross-district: students of each district who came from a school of its partner.
    forced_first = w.extras["forced_first_student"]
    for d in range(len(w.d_id)):
        p = w.partner[d]
        members = np.flatnonzero(w.s_dist == d)
        members = members[members != forced_first]
        k = max(2, len(members) // 200)
        chosen = members[np.sort(rng.choice(len(members), size=min(k, len(members)), replace=False))]
        prev[chosen] = dist_start[p] + rng.integers(0, per_district[p], len(chosen))
    w.s_prev_school = prev


def _courses_sections(w: World, students_per_district: np.ndarray) -> None:
    rng = w.rng("courses")
    n_subj = len(spec.SUBJECTS)
    blocks = np.maximum(1, np.round(students_per_district / 1500).astype(np.int64))
    per = 3 * n_subj * blocks
    c_dist = np.repeat(np.arange(len(w.d_id)), per)
    i = vec.position_in_group(per)
    subj, band, level = i % n_subj, (i // n_subj) % 3, i // (3 * n_subj)
    w.c_id = w.id_offset + ID_BASE["course"] + np.arange(len(c_dist), dtype=np.int64)
    w.c_dist, w.c_subject = c_dist, subj + 1
    codes = pa.array([s[1] for s in spec.SUBJECTS])
    names = pa.array([s[2] for s in spec.SUBJECTS])
    w.c_code = vec.cat(vec.take(codes, subj), vec.text(100 * (band + 1) + level + 1))
    w.c_title = vec.cat(vec.take(names, subj), " ", vec.take(pa.array(["Foundations", "Intermediate", "Advanced"]), band),
                        " ", vec.text(level + 1))
    w.extras.update(c_band=band, c_level=level, c_start=vec.starts_of(per), c_blocks=blocks)

    # sections: per school ~8 seats per student / 25 per section, half fall, half spring
    rng = w.rng("sections")
    NS = len(w.sc_id)
    per_school_students = np.bincount(w.s_school, minlength=NS)
    n_sec = np.maximum(2, np.ceil(per_school_students * 8 / 25).astype(np.int64))
    sec_school = np.repeat(np.arange(NS), n_sec)
    pos = vec.position_in_group(n_sec)
    half = (n_sec + 1) // 2
    term = np.where(pos < half[sec_school], spec.CURRENT_TERMS[0], spec.CURRENT_TERMS[1])
    d = w.sc_dist[sec_school]
    b = w.sc_type[sec_school]
    j = (rng.random(len(sec_school)) * (blocks[d] * n_subj)).astype(np.int64)
    course = w.extras["c_start"][d] + (j // n_subj) * 3 * n_subj + b * n_subj + j % n_subj
    term_codes = pa.array([spec.TERM_BY_ID[t][1] for t in spec.CURRENT_TERMS])
    w.sec_school, w.sec_course, w.sec_term = sec_school, course, term
    w.sec_code = vec.cat(w.c_code.take(pa.array(course)), "-", vec.take(term_codes, term - spec.CURRENT_TERMS[0]),
                         "-", vec.lpad(pos + 1, 3))
    w.sec_room = vec.null_where(vec.cat("Room ", vec.text(rng.integers(100, 350, len(pos)))),
                                rng.random(len(pos)) < 0.1)
    w.extras.update(sec_start=vec.starts_of(n_sec), sec_count=n_sec, sec_half=half)


def _section_teachers(w: World) -> None:
    rng = w.rng("section_teachers")
    NS = len(w.sc_id)
    is_teacher = (w.st_role == TEACH) & w.st_active
    teachers = np.flatnonzero(is_teacher)                # ordered by school
    t_count = np.bincount(w.st_school[teachers], minlength=NS)
    t_start = vec.starts_of(t_count)
    n = len(w.sec_school)
    sch = w.sec_school
    k = (rng.random(n) * t_count[sch]).astype(np.int64)
    primary = teachers[t_start[sch] + k]
    co = rng.random(n) < 0.1
    co_teacher = teachers[t_start[sch] + (k + 1) % t_count[sch]]
    sec = np.concatenate([np.arange(n), np.flatnonzero(co)])
    staff = np.concatenate([primary, co_teacher[co]])
    role = np.concatenate([np.zeros(n, np.int64), np.ones(int(co.sum()), np.int64)])
    # Cross-district staff: itinerant teachers of each district co-teach in the partner district.
    extra_staff, extra_school = [], []
    for d in range(len(w.d_id)):
        p = w.partner[d]
        pool = teachers[w.sc_dist[w.st_school[teachers]] == d]
        kk = max(1, len(pool) // 100)
        chosen = pool[np.sort(rng.choice(len(pool), size=min(kk, len(pool)), replace=False))]
        p_schools = np.flatnonzero(w.sc_dist == p)
        for s in chosen:
            target = p_schools[int(rng.integers(0, len(p_schools)))]
            extra_staff.append(int(s))
            extra_school.append(int(target))
            sec_choice = w.extras["sec_start"][target] + int(rng.integers(0, w.extras["sec_count"][target]))
            sec = np.append(sec, sec_choice)
            staff = np.append(staff, s)
            role = np.append(role, 1)
    w.st_pairs = (sec, staff, role)
    w.extras["cross_staff"] = list(zip(extra_staff, extra_school))
    w.st_extra_districts = sorted({(s, int(w.sc_dist[t])) for s, t in zip(extra_staff, extra_school)})


def _enrollments(w: World) -> None:
    rng = w.rng("enrollments")
    n = len(w.s_id)
    sch = w.s_school
    count = w.extras["sec_count"][sch]
    k = np.minimum(8, count)
    offsets, owner = vec.distinct_picks(rng, k, count)
    section = w.extras["sec_start"][sch[owner]] + offsets
    w.e_student, w.e_section = owner, section
    w.e_id = w.id_offset + 1 + np.arange(len(owner), dtype=np.int64)
    fall = w.sec_term[section] == spec.FALL_TERM
    fall_start = vec.day_number(spec.TERM_BY_ID[spec.FALL_TERM][4])
    w.e_enrolled_day = np.where(fall, fall_start - rng.integers(0, 21, len(owner)),
                                w.as_of_day - rng.integers(0, 13, len(owner)))
    w.extras["e_fall"] = fall


def _assignments_submissions(w: World) -> None:
    rng = w.rng("assignments")
    fall_sections = np.flatnonzero(w.sec_term == spec.FALL_TERM)
    m = 4
    a_section = np.repeat(fall_sections, m)
    j = np.tile(np.arange(m), len(fall_sections))
    fall_start_sec = vec.day_number(spec.TERM_BY_ID[spec.FALL_TERM][4]) * DAY
    w.a_due_sec = fall_start_sec + (j + 1) * 16 * DAY + rng.integers(0, 3, len(j)) * DAY + 23 * 3600 + 59 * 60
    w.a_section = a_section
    w.a_id = w.id_offset + 1 + np.arange(len(a_section), dtype=np.int64)
    subj = w.c_subject[w.sec_course[a_section]] - 1
    kind = pa.array(["Homework", "Quiz", "Project", "Essay"])
    w.a_title = vec.cat(vec.take(pa.array([s[2] for s in spec.SUBJECTS]), subj), " ",
                        vec.take(kind, rng.integers(0, 4, len(j))), " ", vec.text(j + 1))
    w.extras["a_points"] = rng.choice([10, 20, 50, 100], len(j))
    w.extras["a_j"] = j
    # where the assignments of a fall section start (-1 for spring sections)
    a_first = np.full(len(w.sec_school), -1, np.int64)
    a_first[fall_sections] = np.arange(len(fall_sections)) * m

    rng = w.rng("submissions")
    enrolled = np.flatnonzero(w.extras["e_fall"] & ~w.extras["e_dropped"])
    owner = np.repeat(enrolled, m)
    jj = np.tile(np.arange(m), len(enrolled))
    keep = rng.random(len(owner)) < 0.4
    owner, jj = owner[keep], jj[keep]
    assignment = a_first[w.e_section[owner]] + jj
    w.sub_assignment = assignment
    w.sub_student = w.e_student[owner]
    w.sub_id = w.id_offset + 1 + np.arange(len(owner), dtype=np.int64)
    n = len(owner)
    late = rng.random(n) < 0.1
    due = w.a_due_sec[assignment]
    w.sub_at_sec = np.where(late, due + rng.integers(3600, 48 * 3600, n), due - rng.integers(60, 72 * 3600, n))
    w.extras["sub_late"] = late
    points = w.extras["a_points"][assignment]
    w.sub_score_cents = np.floor((0.35 + 0.65 * rng.random(n)) * points * 100).astype(np.int64)
    w.extras["sub_score_null"] = rng.random(n) < 0.05


# ============================================================================ tables

def _reference_tables() -> dict[str, pa.Table]:
    return {
        "states": pa.table({"code": [s[0] for s in spec.STATES], "name": [s[1] for s in spec.STATES],
                            "fips_code": [s[2] for s in spec.STATES]}),
        "grade_levels": pa.table({"grade_level": vec.i16([g[0] for g in spec.GRADE_LEVELS]),
                                  "code": [g[1] for g in spec.GRADE_LEVELS], "name": [g[2] for g in spec.GRADE_LEVELS]}),
        "subjects": pa.table({"id": vec.i32([s[0] for s in spec.SUBJECTS]), "code": [s[1] for s in spec.SUBJECTS],
                              "name": [s[2] for s in spec.SUBJECTS]}),
        "terms": pa.table({"id": vec.i32([t[0] for t in spec.TERMS]), "code": [t[1] for t in spec.TERMS],
                           "school_year": vec.i16([t[2] for t in spec.TERMS]), "name": [t[3] for t in spec.TERMS],
                           "start_date": vec.dates([vec.day_number(t[4]) for t in spec.TERMS]),
                           "end_date": vec.dates([vec.day_number(t[5]) for t in spec.TERMS])}),
    }


def _districts_table(w: World) -> pa.Table:
    rng = w.rng("districts.table")
    n = len(w.d_id)
    fips = {s[0]: int(s[2]) for s in spec.STATES}
    created = vec.day_number(spec.TERMS[0][4]) * DAY - rng.integers(5, 20, n) * 365 * DAY
    sup_first = rng.integers(0, len(w.pools.first), n)
    sup_last = rng.integers(0, len(w.pools.last), n)
    return pa.table({
        "id": vec.i64(w.d_id),
        "name": w.d_name,
        "state": w.d_state,
        "nces_id": vec.lpad(np.array([fips[s] for s in w.d_state]) * 100000 + (w.d_id * 7919) % 100000, 7),
        "address_line1": _street(w, rng, n),
        "city": vec.take(w.pools.city, w.d_city),
        "zip": vec.zips(rng, w.d_zip3, plus4_share=0.0),
        "phone": vec.phones(rng, n, p=(1, 0, 0, 0, 0)),
        "website_url": pa.array([f"https://www.{d}/" for d in w.d_domain]),
        "superintendent_name": w.full_name(sup_first, sup_last),
        "business_priority": vec.i16(rng.choice([50, 80, 20], n, p=[0.7, 0.15, 0.15])),
        "created_at": vec.timestamps(created),
        "updated_at": vec.timestamps(w.as_of_sec - rng.integers(1, 20, n) * DAY),
    })


def _schools_table(w: World) -> pa.Table:
    rng = w.rng("schools.table")
    n = len(w.sc_id)
    created = vec.day_number(spec.TERMS[0][4]) * DAY - rng.integers(1, 12, n) * 365 * DAY
    principal = np.where(w.sc_principal >= 0, w.st_id[np.maximum(w.sc_principal, 0)], 0)
    domains = [w.d_domain[d] for d in w.sc_dist]
    return pa.table({
        "id": vec.i64(w.sc_id),
        "district_id": vec.i64(w.d_id[w.sc_dist]),
        "name": w.sc_name,
        "school_type": vec.take(pa.array(spec.SCHOOL_TYPES), w.sc_type),
        "state": pa.array(w.d_state).take(pa.array(w.sc_dist)),
        "address_line1": _street(w, rng, n),
        "city": vec.take(w.pools.city, w.d_city[w.sc_dist]),
        "zip": vec.zips(rng, w.d_zip3[w.sc_dist], plus4_share=0.2),
        "phone": w.sc_phone,
        "website_url": pa.array([f"https://www.{d}/schools/{int(i)}" for d, i in zip(domains, w.sc_id)]),
        "capacity": vec.i32(w.sc_capacity),
        "principal_id": vec.null_where(vec.i64(principal), w.sc_principal < 0),
        "opened_on": vec.dates(vec.day_number(spec.TERMS[0][4]) - rng.integers(5 * 365, 70 * 365, n)),
        "created_at": vec.timestamps(created),
        "updated_at": vec.timestamps(_updated_after(rng, created, w.as_of_sec, 0.2)),
    })


def _staff_tables(w: World) -> dict[str, pa.Table]:
    rng = w.rng("staff.table")
    n = len(w.st_id)
    dist = w.sc_dist[w.st_school]
    age_years = rng.integers(23, 66, n)
    dob = w.as_of_day - age_years * 365 - rng.integers(0, 365, n)
    hire = w.as_of_day - (rng.random(n) * np.minimum(age_years - 22, 30) * 365).astype(np.int64) - 30
    term_day = np.where(w.st_active, 0, np.minimum(hire + rng.integers(200, 3000, n), w.as_of_day - 1))
    salary = {SUPT: 21000000, PRIN: 13500000, TEACH: 6800000, COUNS: 7200000, NURSE: 7000000,
              AIDE: 3400000, OFFICE: 4100000}
    base = np.vectorize(salary.get)(w.st_role)
    created = hire * DAY + 9 * 3600
    first, last = _name(w, w.st_first, w.st_last)
    title = vec.choose(rng.integers(0, 3, n), vec.cat("Ms. ", last), vec.cat("Mr. ", last), vec.cat(first, " ", last))
    login = w.as_of_sec - rng.integers(600, 60 * DAY, n)
    staff = pa.table({
        "id": vec.i64(w.st_id),
        "school_id": vec.i64(w.sc_id[w.st_school]),
        "supervisor_id": vec.null_where(vec.i64(np.where(w.st_supervisor >= 0, w.st_id[np.maximum(w.st_supervisor, 0)], 0)),
                                        w.st_supervisor < 0),
        "employee_number": vec.cat("E", vec.lpad(w.st_id, 7)),
        "first_name": first,
        "last_name": last,
        "display_name": vec.null_where(title, rng.random(n) < 0.1),
        "email": w.st_email,
        "work_phone": vec.cat(w.sc_phone.take(pa.array(w.st_school)), " x", vec.text(rng.integers(100, 999, n))),
        "mobile_phone": vec.null_where(w.st_phone, rng.random(n) < 0.15),
        "address_line1": _street(w, rng, n),
        "city": vec.take(w.pools.city, rng.integers(0, len(w.pools.city), n)),
        "state": pa.array(w.d_state).take(pa.array(dist)),
        "zip": vec.zips(rng, w.d_zip3[dist]),
        "ssn": vec.null_where(vec.ssns(rng, n), rng.random(n) < 0.1),
        "date_of_birth": vec.dates(dob),
        "role": vec.take(pa.array(ROLE_NAMES), w.st_role),
        "hire_date": vec.dates(hire),
        "termination_date": vec.null_where(vec.dates(term_day), w.st_active),
        "salary": vec.decimal_text(base + rng.integers(0, 2500000, n), 2),
        "is_active": vec.boolean(w.st_active),
        "last_login_at": vec.null_where(vec.timestamps(login), rng.random(n) < 0.15),
        "created_at": vec.timestamps(created),
        "updated_at": vec.timestamps(_updated_after(rng, created, w.as_of_sec, 0.3)),
    })
    w.extras["st_hire"], w.extras["st_term"] = hire, term_day

    teachers = np.flatnonzero(w.st_role == TEACH)
    tn = len(teachers)
    cert_state = pa.array(w.d_state).take(pa.array(dist[teachers]))
    teachers_t = pa.table({
        "staff_id": vec.i64(w.st_id[teachers]),
        "certification_number": vec.null_where(vec.cat(cert_state, vec.random_chars(rng, tn, 8, vec.ALNUM_UPPER)),
                                               rng.random(tn) < 0.05),
        "certification_state": vec.null_where(cert_state, rng.random(tn) < 0.03),
        "primary_subject_id": vec.i32(rng.integers(1, len(spec.SUBJECTS) + 1, tn)),
        "years_experience": vec.i16((w.as_of_day - hire[teachers]) // 365 + rng.integers(0, 5, tn)),
    })

    # staff_assignments: home school, some second schools in the district, cross-district work.
    sa_staff = [np.arange(n)]
    sa_school = [w.st_school]
    sa_role = [w.st_role.astype(object)]
    second = np.flatnonzero(np.isin(w.st_role, [TEACH, NURSE, COUNS]) & (rng.random(n) < 0.05))
    per_district = np.bincount(w.sc_dist, minlength=len(w.d_id))
    dstart = vec.starts_of(per_district)
    d2 = dist[second]
    other = dstart[d2] + (w.st_school[second] - dstart[d2] + 1) % per_district[d2]
    sa_staff.append(second)
    sa_school.append(other)
    cross = w.extras["cross_staff"]
    sa_staff.append(np.array([s for s, _ in cross], np.int64))
    sa_school.append(np.array([t for _, t in cross], np.int64))
    staff_idx = np.concatenate(sa_staff)
    school_idx = np.concatenate(sa_school)
    kind = np.concatenate([np.zeros(n, np.int64), np.ones(len(second), np.int64), np.full(len(cross), 2, np.int64)])
    order = np.lexsort((school_idx, staff_idx))
    staff_idx, school_idx, kind = staff_idx[order], school_idx[order], kind[order]
    m = len(staff_idx)
    home_role = vec.take(pa.array(ROLE_NAMES), w.st_role[staff_idx])
    role = vec.choose(kind, home_role, vec.cat("itinerant ", home_role), pa.array(["itinerant teacher"] * m))
    fte = np.where(kind == 0, 100, rng.choice([20, 25, 40, 50], m))
    start = np.where(kind == 0, hire[staff_idx], w.as_of_day - rng.integers(30, 700, m))
    end_ok = (kind == 0) & ~w.st_active[staff_idx]
    assignments = pa.table({
        "staff_id": vec.i64(w.st_id[staff_idx]),
        "school_id": vec.i64(w.sc_id[school_idx]),
        "role": role,
        "fte": vec.decimal_text(fte, 2),
        "start_date": vec.dates(start),
        "end_date": vec.null_where(vec.dates(term_day[staff_idx]), ~end_ok),
    })
    return {"staff": staff, "staff_assignments": assignments, "teachers": teachers_t}


def _emergency_contacts_json(w: World, student_idx: np.ndarray) -> list:
    """{"guardians":[{"name","relationship","phone","email"}]} per student (Python: small n)."""
    first = w.pools.first.to_pylist()
    last = w.pools.last.to_pylist()
    phone = w.g_phone.to_pylist()
    email = w.g_email.to_pylist()
    by_student: dict[int, list[int]] = {}
    for s, g in zip(w.sg_student.tolist(), w.sg_guardian.tolist()):
        by_student.setdefault(s, []).append(g)
    out = []
    for s in student_idx.tolist():
        items = []
        for g in by_student.get(s, []):
            items.append({"name": f"{first[w.g_first[g]]} {last[w.g_last[g]]}",
                          "relationship": GUARDIAN_RELATIONS[w.g_relation[g]],
                          "phone": phone[g], "email": email[g]})
        out.append(json.dumps({"guardians": items}, ensure_ascii=False))
    w.extras["guardians_of_student"] = by_student
    return out


def _students_table(w: World) -> pa.Table:
    rng = w.rng("students.table")
    n = len(w.s_id)
    first, last = _name(w, w.s_first, w.s_last)
    domains = pa.array([f"students.{d}" for d in w.d_domain]).take(pa.array(w.s_dist))
    w.s_email = vec.null_where(_email(w, w.s_first, w.s_last, vec.text(w.s_id % 10000), domains), rng.random(n) < 0.08)
    middle = vec.take(w.pools.first, rng.integers(0, len(w.pools.first), n))
    u = rng.random(n)
    middle = vec.where(u < 0.1, pa.array([""] * n), vec.null_where(middle, u > 0.6))
    u = rng.random(n)
    preferred = vec.take(w.pools.first, rng.integers(0, len(w.pools.first), n))
    preferred = vec.where(u < 0.05, pa.array([""] * n), vec.null_where(preferred, u > 0.2))
    gender_u = rng.random(n)
    w.s_gender = vec.null_where(vec.take(pa.array(["F", "M", "X"]), np.select([gender_u < 0.49, gender_u < 0.98], [0, 1], 2)),
                                rng.random(n) < 0.005)
    state = pa.array(w.d_state).take(pa.array(w.s_dist))
    phone_u = rng.random(n)
    phone = vec.where(phone_u < 0.02, pa.array([""] * n), vec.null_where(w.s_phone, phone_u > 0.95))

    # alternate_emails text[]: NULL, empty array, or 1-2 personal addresses.
    alt_u = rng.random(n)
    e1 = _email(w, w.s_first, w.s_last, vec.text(rng.integers(1, 999, n)), _personal_domains(w, rng, n)).to_pylist()
    e2 = vec.cat(vec.take(w.pools.first_slug, w.s_first), vec.text(rng.integers(1990, 2030, n)), "@",
                 _personal_domains(w, rng, n)).to_pylist()
    alt = [None if a >= 0.4 else ("{}" if a < 0.1 else vec.pg_text_array([x] if a < 0.3 else [x, y]))
           for a, x, y in zip(alt_u.tolist(), e1, e2)]

    contacts = _emergency_contacts_json(w, np.arange(n))
    contacts = [None if r < 0.05 else c for c, r in zip(contacts, rng.random(n).tolist())]

    grad_day = vec.day_number(spec.TERM_BY_ID[6][5]) - rng.integers(0, 7, n)
    graduation = vec.null_where(vec.dates(grad_day), w.s_grade != 12)

    # notes: NULL, '', PII-bearing sentences, and a few very long ones.
    note_u = rng.random(n)
    email_txt = vec.fill(w.s_email, "no e-mail on file")
    phone_txt = vec.fill(w.s_phone, "no phone")
    templates = (
        vec.cat(first, " ", last, " moved to a new homeroom. Mother asked to be reached at ", phone_txt, "."),
        vec.cat("Contact ", first, " at ", email_txt, " about missing work."),
        vec.cat("IEP review for ", first, " ", last, " (DOB on file). Family phone ", phone_txt,
                "; alt e-mail ", email_txt, "."),
    )
    notes = vec.choose(rng.integers(0, 3, n), *templates)
    long_text = vec.cat(notes, " ", *[vec.take(w.pools.paragraph, rng.integers(0, len(w.pools.paragraph), n)) for _ in range(12)],
                        " Again: ", first, " ", last, ", ", phone_txt, ".")
    notes = vec.where(note_u < 0.02, long_text, notes)
    notes = vec.where((note_u >= 0.02) & (note_u < 0.12), pa.array([""] * n), notes)
    notes = vec.null_where(notes, note_u >= 0.35)
    forced = w.extras["forced_first_student"]
    notes_list = notes.to_pylist()
    notes_list[forced] = (f"{first[forced].as_py()} {last[forced].as_py()} called from (555) 123-4567; "
                          f"guardian e-mail renee.obrien@example.org. {notes_list[forced] or ''}")
    notes_list[forced + 3] = long_text[forced + 3].as_py() * 3         # ~10k+ characters
    created = w.s_enrolled_day * DAY + 8 * 3600 + rng.integers(0, 36000, n)
    prev = np.where(w.s_prev_school >= 0, w.sc_id[np.maximum(w.s_prev_school, 0)], 0)
    table = pa.table({
        "id": vec.i64(w.s_id),
        "district_id": vec.i64(w.d_id[w.s_dist]),
        "school_id": vec.i64(w.sc_id[w.s_school]),
        "state_student_id": w.s_ssid,
        "previous_school_id": vec.null_where(vec.i64(prev), w.s_prev_school < 0),
        "first_name": first,
        "middle_name": middle,
        "last_name": last,
        "preferred_name": preferred,
        "date_of_birth": vec.dates(w.s_dob),
        "gender": w.s_gender,
        "ethnicity_code": vec.null_where(vec.cat("E", vec.text(rng.integers(1, 8, n))), rng.random(n) < 0.05),
        "grade_level": vec.i16(w.s_grade),
        "email": w.s_email,
        "phone": phone,
        "address_line1": w.s_street,
        "city": w.s_city,
        "state": state,
        "zip": w.s_zip,
        "ssn": vec.null_where(vec.ssns(rng, n), rng.random(n) > 0.25),
        "alternate_emails": pa.array(alt, pa.string()),
        "emergency_contacts": pa.array(contacts, pa.string()),
        "enrollment_date": vec.dates(w.s_enrolled_day),
        "graduation_date": graduation,
        "is_active": vec.boolean(rng.random(n) < 0.97),
        "notes": pa.array(notes_list, pa.string()),
        "created_at": vec.timestamps(created),
        "updated_at": vec.timestamps(_updated_after(rng, created, w.as_of_sec, 0.35)),
    })
    # the forced hard-case rows: empty middle name, empty preferred name
    mid = table.column("middle_name").to_pylist()
    pref = table.column("preferred_name").to_pylist()
    mid[forced], pref[forced + 1] = "", ""
    table = table.set_column(table.schema.get_field_index("middle_name"), "middle_name", pa.array(mid, pa.string()))
    return table.set_column(table.schema.get_field_index("preferred_name"), "preferred_name", pa.array(pref, pa.string()))


def _guardian_tables(w: World) -> dict[str, pa.Table]:
    rng = w.rng("guardians.table")
    G = len(w.g_id)
    first, last = _name(w, w.g_first, w.g_last)
    fam = pa.array(w.g_family)
    u = rng.random(G)
    line2 = vec.where(u < 0.1, pa.array([""] * G), vec.null_where(vec.cat("Apt ", vec.text(rng.integers(1, 40, G))), u > 0.2))
    guardians = pa.table({
        "id": vec.i64(w.g_id),
        "first_name": first,
        "last_name": last,
        "email": w.g_email,
        "mobile_phone": w.g_phone,
        "work_phone": vec.null_where(vec.phones(rng, G), rng.random(G) < 0.6),
        "address_line1": w.extras["fam_street"].take(fam),
        "address_line2": line2,
        "city": vec.take(w.pools.city, w.extras["fam_city"][w.g_family]),
        "state": pa.array(w.d_state).take(pa.array(w.g_dist)),
        "zip": w.extras["fam_zip"].take(fam),
        "employer": vec.null_where(vec.take(w.pools.company, rng.integers(0, len(w.pools.company), G)), rng.random(G) < 0.3),
        "preferred_language": vec.null_where(vec.take(pa.array(["en", "es", "zh", "vi", "fr", "pt-BR"]),
                                                      rng.choice(6, G, p=[0.72, 0.18, 0.03, 0.03, 0.02, 0.02])),
                                             rng.random(G) < 0.05),
        "created_at": vec.timestamps(w.s_enrolled_day.min() * DAY + (rng.random(G) * (w.as_of_sec - w.s_enrolled_day.min() * DAY)).astype(np.int64)),
    })
    m = len(w.sg_student)
    links = pa.table({
        "student_id": vec.i64(w.s_id[w.sg_student]),
        "guardian_id": vec.i64(w.g_id[w.sg_guardian]),
        "relationship": vec.take(pa.array(GUARDIAN_RELATIONS), w.g_relation[w.sg_guardian]),
        "is_primary": vec.boolean(w.sg_primary),
        "can_pickup": vec.boolean(rng.random(m) < 0.95),
    })
    return {"guardians": guardians, "student_guardians": links}


def _course_tables(w: World) -> dict[str, pa.Table]:
    rng = w.rng("courses.table")
    n = len(w.c_id)
    band, level = w.extras["c_band"], w.extras["c_level"]
    lo = np.array([r[0] for r in spec.SCHOOL_TYPE_GRADES])[band]
    hi = np.array([r[1] for r in spec.SCHOOL_TYPE_GRADES])[band]
    u = rng.random(n)
    desc = vec.take(w.pools.paragraph, rng.integers(0, len(w.pools.paragraph), n))
    desc = vec.where(u < 0.05, pa.array([""] * n), vec.null_where(desc, u > 0.7))
    courses = pa.table({
        "id": vec.i64(w.c_id),
        "district_id": vec.i64(w.d_id[w.c_dist]),
        "subject_id": vec.i32(w.c_subject),
        "course_code": w.c_code,
        "title": w.c_title,
        "credits": vec.decimal_text(np.where(band == 2, 10, 5), 1),
        "grade_min": vec.i16(lo),
        "grade_max": vec.i16(hi),
        "description": desc,
    })
    # prerequisites: the previous level of the same subject and band (course -> course)
    n_subj = len(spec.SUBJECTS)
    a = np.flatnonzero((level >= 1) & (rng.random(n) < 0.8))
    b = np.flatnonzero((level >= 2) & (rng.random(n) < 0.3))
    c = np.flatnonzero((level == 0) & (band >= 1) & (rng.random(n) < 0.5))
    course = np.concatenate([a, b, c])
    prereq = np.concatenate([a - 3 * n_subj, b - 6 * n_subj, c - n_subj])
    order = np.lexsort((w.c_id[prereq], w.c_id[course]))
    course, prereq = course[order], prereq[order]
    m = len(course)
    prereqs = pa.table({
        "course_id": vec.i64(w.c_id[course]),
        "prerequisite_course_id": vec.i64(w.c_id[prereq]),
        "min_grade": vec.null_where(vec.take(pa.array(["C", "C-", "B", "D"]), rng.integers(0, 4, m)), rng.random(m) < 0.3),
    })
    return {"courses": courses, "course_prerequisites": prereqs}


def _section_tables(w: World) -> dict[str, pa.Table]:
    rng = w.rng("sections.table")
    n = len(w.sec_school)
    sections = pa.table({
        "school_id": vec.i64(w.sc_id[w.sec_school]),
        "section_code": w.sec_code,
        "course_id": vec.i64(w.c_id[w.sec_course]),
        "term_id": vec.i32(w.sec_term),
        "room": w.sec_room,
        "capacity": vec.i16(rng.integers(18, 36, n)),
        "meeting_days": vec.take(pa.array(["MTWRF", "MWF", "TR", "MW"]), rng.integers(0, 4, n)),
    })
    sec, staff, role = w.st_pairs
    order = np.lexsort((w.st_id[staff], sec))
    sec, staff, role = sec[order], staff[order], role[order]
    section_teachers = pa.table({
        "school_id": vec.i64(w.sc_id[w.sec_school[sec]]),
        "section_code": w.sec_code.take(pa.array(sec)),
        "staff_id": vec.i64(w.st_id[staff]),
        "role": vec.take(pa.array(["primary", "co_teacher"]), role),
    })
    return {"sections": sections, "section_teachers": section_teachers}


def _enrollment_tables(w: World) -> dict[str, pa.Table]:
    rng = w.rng("enrollments.table")
    n = len(w.e_id)
    fall = w.extras["e_fall"]
    dropped = fall & (rng.random(n) < 0.03)
    w.extras["e_dropped"] = dropped
    drop_day = np.minimum(w.e_enrolled_day + rng.integers(25, 60, n), w.as_of_day - 1)
    sec = pa.array(w.e_section)
    enrollments = pa.table({
        "id": vec.i64(w.e_id),
        "student_id": vec.i64(w.s_id[w.e_student]),
        "school_id": vec.i64(w.sc_id[w.sec_school[w.e_section]]),
        "section_code": w.sec_code.take(sec),
        "enrolled_on": vec.dates(w.e_enrolled_day),
        "dropped_on": vec.null_where(vec.dates(drop_day), ~dropped),
        "status": vec.where(dropped, pa.array(["dropped"] * n), pa.array(["enrolled"] * n)),
        "final_grade": vec.null_where(pa.array(["W"] * n), ~dropped),
    })

    # attendance: exceptions (absent/tardy/excused, a few notes) on distinct school days
    rng = w.rng("attendance")
    days = w.school_days
    eligible = np.flatnonzero(fall)
    k = np.minimum(rng.poisson(4.0, len(eligible)), len(days))
    offsets, owner = vec.distinct_picks(rng, k, np.full(len(eligible), len(days)))
    e = eligible[owner]
    day = days[offsets]
    order = np.lexsort((day, e))
    e, day = e[order], day[order]
    m = len(e)
    status = rng.choice(4, m, p=[0.45, 0.3, 0.2, 0.05])
    student = w.e_student[e]
    first = vec.take(w.pools.first, w.s_first[student])
    note = vec.cat("Called home at ", vec.fill(w.s_phone.take(pa.array(student)), "n/a"), ", spoke with ", first, "'s guardian.")
    u = rng.random(m)
    note = vec.where(u < 0.05, pa.array([""] * m), vec.null_where(note, u > 0.2))
    attendance = pa.table({
        "enrollment_id": vec.i64(w.e_id[e]),
        "attendance_date": vec.dates(day),
        "status": vec.take(pa.array(["absent", "tardy", "excused", "present"]), status),
        "minutes_late": vec.null_where(vec.i16(rng.integers(1, 46, m)), status != 1),
        "note": note,
        "recorded_at": vec.timestamps(day * DAY + 12 * 3600 + rng.integers(0, 4 * 3600, m)),
    })
    return {"enrollments": enrollments, "attendance": attendance}


def _assignment_tables(w: World) -> dict[str, pa.Table]:
    rng = w.rng("assignments.table")
    n = len(w.a_id)
    u = rng.random(n)
    desc = vec.take(w.pools.paragraph, rng.integers(0, len(w.pools.paragraph), n))
    desc = vec.where(u < 0.05, pa.array([""] * n), vec.null_where(desc, u > 0.7))
    sec = pa.array(w.a_section)
    assignments = pa.table({
        "id": vec.i64(w.a_id),
        "school_id": vec.i64(w.sc_id[w.sec_school[w.a_section]]),
        "section_code": w.sec_code.take(sec),
        "title": w.a_title,
        "description": desc,
        "due_at": vec.timestamps(w.a_due_sec),
        "max_points": vec.decimal_text(w.extras["a_points"] * 100, 2),
        "created_at": vec.timestamps(w.a_due_sec - 7 * DAY - rng.integers(0, 3 * DAY, n)),
    })
    m = len(w.sub_id)
    first = vec.take(w.pools.first, w.s_first[w.sub_student])
    fb = vec.choose(rng.integers(0, 3, m), vec.cat("Nice work, ", first, "!"),
                    vec.cat(first, ", please see me after class."), pa.array(["Resubmit with sources."] * m))
    submissions = pa.table({
        "id": vec.i64(w.sub_id),
        "assignment_id": vec.i64(w.a_id[w.sub_assignment]),
        "student_id": vec.i64(w.s_id[w.sub_student]),
        "submitted_at": vec.timestamps(w.sub_at_sec),
        "score": vec.null_where(vec.decimal_text(w.sub_score_cents, 2), w.extras["sub_score_null"]),
        "is_late": vec.boolean(w.extras["sub_late"]),
        "feedback": vec.null_where(fb, rng.random(m) > 0.15),
    })
    return {"assignments": assignments, "submissions": submissions}


def _counselor_notes(w: World) -> pa.Table:
    rng = w.rng("counselor_notes")
    n_students = len(w.s_id)
    n = max(1, n_students // 2)
    student = np.sort(rng.choice(n_students, n, replace=False))
    sch = w.s_school[student]
    author = w.extras["school_staff_start"][sch] + w.extras["first_of_district"][sch] + 3     # the counselor
    first = vec.take(w.pools.first, w.s_first[student])
    last = vec.take(w.pools.last, w.s_last[student])
    email = vec.fill(w.s_email.take(pa.array(student)), "(no e-mail)")
    phone = vec.fill(w.s_phone.take(pa.array(student)), "(no phone)")
    body = vec.choose(rng.integers(0, 3, n),
                      vec.cat("Met with ", first, " ", last, " about attendance. Follow up by e-mail at ", email, "."),
                      vec.cat(first, " reports stress at home; guardian reachable at ", phone, "."),
                      vec.cat("College planning with ", first, " ", last, " (", email, ", ", phone, ")."))
    long_body = vec.cat(body, " ", *[vec.take(w.pools.paragraph, rng.integers(0, len(w.pools.paragraph), n)) for _ in range(8)])
    body = vec.where(rng.random(n) < 0.02, long_body, body)
    return pa.table({
        "id": vec.i64(w.id_offset + 1 + np.arange(n)),
        "student_id": vec.i64(w.s_id[student]),
        "author_staff_id": vec.i64(w.st_id[author]),
        "note_date": vec.dates(w.as_of_day - rng.integers(0, 400, n)),
        "category": vec.take(pa.array(NOTE_CATEGORIES), rng.integers(0, len(NOTE_CATEGORIES), n)),
        "body": body,
    })


def _user_tables(w: World) -> dict[str, pa.Table]:
    rng = w.rng("users")
    ns, nst, ng = len(w.s_id), len(w.st_id), len(w.g_id)
    s_sel = np.flatnonzero((w.s_grade >= 3) & (rng.random(ns) < 0.9))
    st_sel = np.flatnonzero(w.st_active | (rng.random(nst) < 0.5))
    g_sel = np.flatnonzero(rng.random(ng) < 0.55)
    kinds = np.concatenate([np.zeros(len(s_sel), np.int64), np.ones(len(st_sel), np.int64), np.full(len(g_sel), 2)])
    first = np.concatenate([w.s_first[s_sel], w.st_first[st_sel], w.g_first[g_sel]])
    last = np.concatenate([w.s_last[s_sel], w.st_last[st_sel], w.g_last[g_sel]])
    dist = np.concatenate([w.s_dist[s_sel], w.sc_dist[w.st_school[st_sel]], w.g_dist[g_sel]])
    email = pa.concat_arrays([w.s_email.take(pa.array(s_sel)), w.st_email.take(pa.array(st_sel)), w.g_email.take(pa.array(g_sel))])
    n = len(kinds)
    uid = w.id_offset + 1 + np.arange(n, dtype=np.int64)
    login = w.as_of_sec - rng.integers(300, 45 * DAY, n)
    logged = rng.random(n) < 0.85
    ip = vec.where(rng.random(n) < 0.9, vec.ipv4(rng, n), vec.ipv6(rng, n))
    pw_u = rng.random(n)
    pw = vec.where(pw_u < 0.03, pa.array([""] * n), vec.null_where(vec.password_hashes(rng, n), (pw_u >= 0.03) & (pw_u < 0.06)))
    created = w.as_of_sec - rng.integers(60 * DAY, 6 * 365 * DAY, n)

    def fk(sel, ids, kind):
        col = np.zeros(n, np.int64)
        col[kinds == kind] = ids[sel]
        return vec.null_where(vec.i64(col), kinds != kind)

    users = pa.table({
        "id": vec.i64(uid),
        "district_id": vec.i64(w.d_id[dist]),
        "username": vec.cat(vec.take(w.pools.first_slug, first), ".", vec.take(w.pools.last_slug, last), ".", vec.text(uid)),
        "email": email,
        "password_hash": pw,
        "role": vec.take(pa.array(["student", "staff", "guardian"]), kinds),
        "student_id": fk(s_sel, w.s_id, 0),
        "staff_id": fk(st_sel, w.st_id, 1),
        "guardian_id": fk(g_sel, w.g_id, 2),
        "last_login_at": vec.null_where(vec.timestamps(login), ~logged),
        "last_ip_address": vec.null_where(ip, ~logged),
        "is_active": vec.boolean(rng.random(n) < 0.95),
        "created_at": vec.timestamps(created),
    })
    w.extras["users_n"] = n

    rng = w.rng("sessions")
    active_users = np.flatnonzero(logged)
    k = rng.poisson(2.0, len(active_users))
    owner = np.repeat(active_users, k)
    m = len(owner)
    started = login[owner] - rng.integers(0, 60 * DAY, m)
    ended = started + rng.integers(60, 7200, m)
    ref_u = rng.random(m)
    domains = pa.array([f"https://www.{d}/" for d in w.d_domain]).take(pa.array(dist[owner]))
    search = vec.cat("https://www.google.com/search?q=", vec.take(w.pools.last_slug, last[owner]), "+school+portal")
    referrer = vec.null_where(vec.where(ref_u < 0.3, domains, search), ref_u >= 0.5)
    sessions = pa.table({
        "id": vec.uuids(rng, m),
        "user_id": vec.i64(uid[owner]),
        "started_at": vec.timestamps(started),
        "ended_at": vec.null_where(vec.timestamps(ended), rng.random(m) < 0.05),
        "ip_address": vec.where(rng.random(m) < 0.92, vec.ipv4(rng, m), vec.ipv6(rng, m)),
        "user_agent": vec.null_where(vec.take(w.pools.user_agent, rng.integers(0, len(w.pools.user_agent), m)), rng.random(m) < 0.02),
        "referrer_url": referrer,
    })
    return {"users": users, "sessions": sessions}


def _audit_log(w: World) -> pa.Table:
    rng = w.rng("audit_log")
    n = max(10, int(len(w.s_id) * 0.8))
    s = rng.integers(0, len(w.s_id), n)
    old = _email(w, w.s_first[s], w.s_last[s], "", _personal_domains(w, rng, n)).to_pylist()
    new = w.s_email.take(pa.array(s)).to_pylist()
    phones = w.s_phone.take(pa.array(s)).to_pylist()
    field_u = rng.random(n).tolist()
    payload = [json.dumps({"field": "email", "old": o, "new": nw}) if f < 0.6 else
               json.dumps({"field": "phone", "old": None, "new": p}) if f < 0.9 else None
               for o, nw, p, f in zip(old, new, phones, field_u)]
    users = max(1, w.extras.get("users_n", 1))
    return pa.table({
        "id": vec.i64(w.id_offset + 1 + np.arange(n)),
        "table_name": vec.take(pa.array(["students", "students", "guardians", "enrollments", "users"]), rng.integers(0, 5, n)),
        "row_pk": vec.text(w.s_id[s]),
        "action": vec.take(pa.array(["UPDATE", "UPDATE", "INSERT", "DELETE"]), rng.integers(0, 4, n)),
        "changed_at": vec.timestamps(np.sort(w.as_of_sec - rng.integers(60, 120 * DAY, n))),
        "changed_by_user_id": vec.null_where(vec.i64(w.id_offset + rng.integers(1, users + 1, n)), rng.random(n) < 0.1),
        "payload": pa.array(payload, pa.string()),
    })


# ============================================================================ entry point

def build(seed: int, scale: spec.Scale, pools: Pools, id_offset: int = 0,
          patch=None) -> tuple[dict[str, pa.Table], World]:
    """IDS tables and the World. `patch(world)`, if given, runs after the entities exist and
    before any table is built, so a key changed there (CERT's deliberate collisions with
    PROD) propagates to every referencing column and store."""
    as_of_day = vec.day_number(spec.AS_OF)
    w = World(seed=seed, scale=scale, pools=pools, as_of_day=as_of_day, as_of_sec=as_of_day * DAY + 17 * 3600,
              id_offset=id_offset)
    w.school_days = _school_days(as_of_day)
    _districts(w)
    counts = np.array([dict(scale.districts)[int(d)] for d in w.d_id], np.int64)
    _schools(w, counts)
    _students(w, counts)
    _families(w)
    _force_hard_cases(w)
    _staff(w)
    _previous_schools(w)
    _courses_sections(w, counts)
    _section_teachers(w)
    _enrollments(w)
    if patch is not None:
        patch(w)

    tables = dict(_reference_tables())
    tables["districts"] = _districts_table(w)
    tables.update(_staff_tables(w))           # before schools: fills hire dates
    tables["schools"] = _schools_table(w)
    tables["students"] = _students_table(w)
    tables.update(_guardian_tables(w))
    tables.update(_course_tables(w))
    tables.update(_section_tables(w))
    tables.update(_enrollment_tables(w))      # decides drops, used by submissions
    _assignments_submissions(w)
    tables.update(_assignment_tables(w))
    tables["counselor_notes"] = _counselor_notes(w)
    tables.update(_user_tables(w))
    tables["audit_log"] = _audit_log(w)
    return tables, w
