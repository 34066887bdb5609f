"""SP (Neo4j) content: node and relationship tables derived from the IDS `World`.

Nodes are identified by a business-key property per label (never Neo4j's internal ids, which
differ between PROD and CERT). A relationship table has `start` and `end` columns holding
those keys plus its own property columns; some types carry properties, most carry none.
Cross-district edges exist on purpose: staff WORKS_FOR two districts and TEACHES a section
of the other one, students were PREVIOUSLY_ENROLLED_IN a school of another district, and a
guardian is GUARDIAN_OF children in two districts.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from . import spec, vec
from .gen_ids import ROLE_NAMES, TEACH, COUNS, GUARDIAN_RELATIONS, World
from .vec import DAY

# label -> business key property
NODE_KEYS = {"District": "district_id", "School": "school_id", "Student": "student_id", "Staff": "staff_id",
             "Guardian": "guardian_id", "Section": "section_id", "Course": "course_id",
             "Assignment": "assignment_id", "Submission": "submission_id", "Message": "message_id"}


@dataclass(frozen=True)
class RelSet:
    type: str
    start_label: str
    end_label: str
    table: pa.Table            # columns: start, end, then properties


@dataclass(frozen=True)
class Graph:
    nodes: dict[str, pa.Table]      # label -> table whose first column is NODE_KEYS[label]
    rels: list[RelSet]

    def node_count(self) -> int:
        return sum(t.num_rows for t in self.nodes.values())

    def rel_count(self) -> int:
        return sum(r.table.num_rows for r in self.rels)


def section_keys(w: World) -> pa.Array:
    return vec.cat(vec.text(w.sc_id[w.sec_school]), ":", w.sec_code)


def _rel(type_, start_label, end_label, start, end, **props) -> RelSet:
    cols = {"start": start if isinstance(start, pa.Array) else vec.i64(start),
            "end": end if isinstance(end, pa.Array) else vec.i64(end)}
    cols.update(props)
    return RelSet(type_, start_label, end_label, pa.table(cols))


def build_graph(w: World) -> Graph:
    def rng(*labels):
        return vec.rng_for(w.seed, "sp", *labels)

    pools = w.pools
    sec_key = section_keys(w)
    nodes: dict[str, pa.Table] = {}
    nodes["District"] = pa.table({"district_id": vec.i64(w.d_id), "name": w.d_name, "state": pa.array(w.d_state)})
    nodes["School"] = pa.table({"school_id": vec.i64(w.sc_id), "district_id": vec.i64(w.d_id[w.sc_dist]),
                                "name": w.sc_name, "school_type": vec.take(pa.array(spec.SCHOOL_TYPES), w.sc_type),
                                "phone": w.sc_phone})
    nodes["Student"] = pa.table({
        "student_id": vec.i64(w.s_id), "state_student_id": w.s_ssid,
        "first_name": vec.take(pools.first, w.s_first), "last_name": vec.take(pools.last, w.s_last),
        "email": w.s_email, "phone": w.s_phone, "date_of_birth": vec.dates(w.s_dob), "grade_level": vec.i64(w.s_grade),
    })
    nodes["Staff"] = pa.table({
        "staff_id": vec.i64(w.st_id), "first_name": vec.take(pools.first, w.st_first),
        "last_name": vec.take(pools.last, w.st_last), "email": w.st_email, "phone": w.st_phone,
        "role": vec.take(pa.array(ROLE_NAMES), w.st_role),
    })
    nodes["Guardian"] = pa.table({
        "guardian_id": vec.i64(w.g_id), "first_name": vec.take(pools.first, w.g_first),
        "last_name": vec.take(pools.last, w.g_last), "email": w.g_email, "phone": w.g_phone,
    })
    term_codes = pa.array([spec.TERM_BY_ID[t][1] for t in spec.CURRENT_TERMS])
    nodes["Section"] = pa.table({"section_id": sec_key, "section_code": w.sec_code,
                                 "term": vec.take(term_codes, w.sec_term - spec.CURRENT_TERMS[0]), "room": w.sec_room})
    nodes["Course"] = pa.table({"course_id": vec.i64(w.c_id), "code": w.c_code, "title": w.c_title})
    nodes["Assignment"] = pa.table({"assignment_id": vec.i64(w.a_id), "title": w.a_title,
                                    "due_at": vec.timestamps(w.a_due_sec)})
    score = pa.array(w.sub_score_cents / 100.0, pa.float64())
    nodes["Submission"] = pa.table({"submission_id": vec.i64(w.sub_id), "submitted_at": vec.timestamps(w.sub_at_sec),
                                    "score": vec.null_where(score, w.extras["sub_score_null"])})

    # Messages: staff -> guardians about a student; free text full of PII.
    r = rng("messages")
    ns = len(w.s_id)
    k = r.poisson(w.scale.messages_per_student, ns)
    student = np.repeat(np.arange(ns), k)
    m = len(student)
    by_student = w.extras["guardians_of_student"]
    first_guardian = np.array([by_student[s][0] for s in range(ns)], np.int64)
    guardian = first_guardian[student]
    senders = np.flatnonzero(np.isin(w.st_role, [TEACH, COUNS]) & w.st_active)
    per_school = np.bincount(w.st_school[senders], minlength=len(w.sc_id))
    start = vec.starts_of(per_school)
    sch = w.s_school[student]
    sender = senders[start[sch] + (r.random(m) * per_school[sch]).astype(np.int64)]
    sp, gp, tp = pa.array(student), pa.array(guardian), pa.array(sender)
    s_first = vec.take(pools.first, w.s_first).take(sp)
    body = vec.choose(r.integers(0, 3, m),
                      vec.cat("Hi ", vec.take(pools.first, w.g_first).take(gp), ", ", s_first, " ",
                              vec.take(pools.last, w.s_last).take(sp), " was absent today. Please call me at ",
                              w.st_phone.take(tp), "."),
                      vec.cat(s_first, " has missing work; reply to ", w.st_email.take(tp), "."),
                      vec.cat("Great progress from ", s_first, " this week!"))
    message_id = w.id_offset + 1 + np.arange(m, dtype=np.int64)
    nodes["Message"] = pa.table({
        "message_id": vec.i64(message_id),
        "sent_at": vec.timestamps(w.as_of_sec - r.integers(60, 90 * DAY, m)),
        "subject": vec.take(pa.array(["Absence today", "Missing work", "Great progress", "Conference request"]),
                            r.integers(0, 4, m)),
        "body": body,
    })

    rels: list[RelSet] = []
    rels.append(_rel("BELONGS_TO", "School", "District", w.sc_id, w.d_id[w.sc_dist]))
    rels.append(_rel("ENROLLED_IN", "Student", "School", w.s_id, w.sc_id[w.s_school], since=vec.dates(w.s_enrolled_day)))
    prev = np.flatnonzero(w.s_prev_school >= 0)
    rels.append(_rel("PREVIOUSLY_ENROLLED_IN", "Student", "School", w.s_id[prev], w.sc_id[w.s_prev_school[prev]]))
    # WORKS_FOR: the home district, plus every other district the person is assigned in.
    home = w.sc_dist[w.st_school]
    extra = w.st_extra_districts
    staff = np.concatenate([np.arange(len(w.st_id)), np.array([s for s, _ in extra], np.int64)])
    dist = np.concatenate([home, np.array([d for _, d in extra], np.int64)])
    order = np.lexsort((dist, staff))
    rels.append(_rel("WORKS_FOR", "Staff", "District", w.st_id[staff[order]], w.d_id[dist[order]]))
    sup = np.flatnonzero(w.st_supervisor >= 0)
    rels.append(_rel("SUPERVISES", "Staff", "Staff", w.st_id[w.st_supervisor[sup]], w.st_id[sup]))
    sec, tstaff, role = w.st_pairs
    rels.append(_rel("TEACHES", "Staff", "Section", w.st_id[tstaff], sec_key.take(pa.array(sec)),
                     role=vec.take(pa.array(["primary", "co_teacher"]), role)))
    rels.append(_rel("OFFERED_AT", "Section", "School", sec_key, w.sc_id[w.sec_school]))
    rels.append(_rel("INSTANCE_OF", "Section", "Course", sec_key, w.c_id[w.sec_course]))
    rels.append(_rel("ATTENDS", "Student", "Section", w.s_id[w.e_student], sec_key.take(pa.array(w.e_section)),
                     enrolled_on=vec.dates(w.e_enrolled_day)))
    rels.append(_rel("GUARDIAN_OF", "Guardian", "Student", w.g_id[w.sg_guardian], w.s_id[w.sg_student],
                     relationship=vec.take(pa.array(GUARDIAN_RELATIONS), w.g_relation[w.sg_guardian]),
                     is_primary=vec.boolean(w.sg_primary)))
    rels.append(_rel("ASSIGNED_IN", "Assignment", "Section", w.a_id, sec_key.take(pa.array(w.a_section))))
    rels.append(_rel("SUBMITTED", "Student", "Submission", w.s_id[w.sub_student], w.sub_id))
    rels.append(_rel("FOR_ASSIGNMENT", "Submission", "Assignment", w.sub_id, w.a_id[w.sub_assignment]))
    rels.append(_rel("SENT", "Staff", "Message", w.st_id[sender], message_id))
    rels.append(_rel("ABOUT", "Message", "Student", message_id, w.s_id[student]))
    rels.append(_rel("TO", "Message", "Guardian", message_id, w.g_id[guardian]))
    return Graph(nodes=nodes, rels=rels)
