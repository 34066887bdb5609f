-- ADB: analytics (PROD "adb", CERT "cert_adb"). Dimensions and facts keyed by IDS district,
-- school and student ids with NO foreign key to IDS (logical links); FKs only inside ADB.

-- Shared reference dimensions.
CREATE TABLE dim_date (
    date_key      integer PRIMARY KEY,       -- yyyymmdd
    full_date     date NOT NULL UNIQUE,
    school_year   smallint NOT NULL,
    month_key     integer NOT NULL,          -- yyyymm
    day_of_week   smallint NOT NULL,
    is_school_day boolean NOT NULL
);

CREATE TABLE dim_grade (
    grade_level smallint PRIMARY KEY,
    label       text NOT NULL
);

CREATE TABLE dim_subject (
    subject_id integer PRIMARY KEY,
    name       text NOT NULL
);

CREATE TABLE dim_district (
    district_id   bigint PRIMARY KEY,        -- -> ids.districts.id (logical)
    district_name text NOT NULL,
    state         char(2) NOT NULL,
    size_band     text NOT NULL,
    loaded_at     timestamptz NOT NULL
);

CREATE TABLE dim_school (
    school_id      bigint PRIMARY KEY,       -- -> ids.schools.id (logical)
    district_id    bigint NOT NULL REFERENCES dim_district (district_id),
    school_name    text NOT NULL,
    school_type    text NOT NULL,
    capacity       integer,
    principal_name text                      -- denormalized PII
);
CREATE INDEX dim_school_district_id_idx ON dim_school (district_id);

CREATE TABLE fact_enrollment_daily (
    school_id      bigint NOT NULL REFERENCES dim_school (school_id),
    date_key       integer NOT NULL REFERENCES dim_date (date_key),
    grade_level    smallint NOT NULL REFERENCES dim_grade (grade_level),
    district_id    bigint NOT NULL,
    enrolled_count integer NOT NULL,
    PRIMARY KEY (school_id, date_key, grade_level)
);
CREATE INDEX fact_enrollment_daily_district_idx ON fact_enrollment_daily (district_id);

CREATE TABLE fact_attendance_daily (
    school_id       bigint NOT NULL REFERENCES dim_school (school_id),
    date_key        integer NOT NULL REFERENCES dim_date (date_key),
    district_id     bigint NOT NULL,
    present_count   integer NOT NULL,
    absent_count    integer NOT NULL,
    tardy_count     integer NOT NULL,
    attendance_rate numeric(5,4) NOT NULL,
    PRIMARY KEY (school_id, date_key)
);
CREATE INDEX fact_attendance_daily_district_idx ON fact_attendance_daily (district_id);

CREATE TABLE fact_assessment (
    id                bigint PRIMARY KEY,
    district_id       bigint NOT NULL,
    school_id         bigint NOT NULL REFERENCES dim_school (school_id),
    student_id        bigint NOT NULL,       -- -> ids.students.id (logical)
    subject_id        integer NOT NULL REFERENCES dim_subject (subject_id),
    date_key          integer NOT NULL REFERENCES dim_date (date_key),
    assessment_window text NOT NULL,
    scale_score       numeric(6,1),
    proficiency_level smallint
);
CREATE INDEX fact_assessment_district_idx ON fact_assessment (district_id);
CREATE INDEX fact_assessment_student_idx ON fact_assessment (student_id);

CREATE TABLE fact_student_attendance_monthly (
    student_id    bigint NOT NULL,           -- -> ids.students.id (logical)
    month_key     integer NOT NULL,          -- yyyymm
    district_id   bigint NOT NULL,
    school_id     bigint NOT NULL REFERENCES dim_school (school_id),
    days_enrolled smallint NOT NULL,
    days_present  smallint NOT NULL,
    days_absent   smallint NOT NULL,
    PRIMARY KEY (student_id, month_key)
);
CREATE INDEX fact_student_attendance_monthly_district_idx ON fact_student_attendance_monthly (district_id);

CREATE TABLE fact_course_grades (
    school_id        bigint NOT NULL REFERENCES dim_school (school_id),
    term_id          integer NOT NULL,       -- -> ids.terms.id (logical)
    subject_id       integer NOT NULL REFERENCES dim_subject (subject_id),
    district_id      bigint NOT NULL,
    students_count   integer NOT NULL,
    avg_grade_points numeric(4,2),
    PRIMARY KEY (school_id, term_id, subject_id)
);

CREATE TABLE student_risk_scores (
    student_id   bigint PRIMARY KEY,         -- -> ids.students.id (logical)
    district_id  bigint NOT NULL,
    school_id    bigint NOT NULL REFERENCES dim_school (school_id),
    student_name text,                       -- denormalized PII
    risk_score   numeric(5,2) NOT NULL,
    risk_factors text[],
    computed_at  timestamptz NOT NULL
);
CREATE INDEX student_risk_scores_district_idx ON student_risk_scores (district_id);

-- ETL bookkeeping: no district; meant to be excluded from extraction.
CREATE TABLE etl_runs (
    id            bigint PRIMARY KEY,
    job_name      text NOT NULL,
    started_at    timestamptz NOT NULL,
    finished_at   timestamptz,
    status        text NOT NULL,
    rows_loaded   bigint,
    error_message text
);
