-- IDS: identity and rostering (PROD database "ids", CERT twin "cert_ids").
-- Hard cases on purpose: FK cycle schools <-> staff, self reference staff.supervisor_id,
-- course -> course junction, composite PK (school_id, section_code) referenced by composite
-- FKs, tables that reach a district only through FK chains (attendance -> enrollments ->
-- sections -> schools -> districts), reference tables without a district, cross-district
-- pointers (students.previous_school_id, staff_assignments), PII in text, jsonb and text[].

-- Shared reference tables: no district.
CREATE TABLE states (
    code        char(2) PRIMARY KEY,
    name        text NOT NULL,
    fips_code   varchar(2) NOT NULL          -- leading zeros ('06')
);

CREATE TABLE grade_levels (
    grade_level smallint PRIMARY KEY,        -- K = 0
    code        varchar(4) NOT NULL UNIQUE,
    name        text NOT NULL
);

CREATE TABLE subjects (
    id          integer PRIMARY KEY,
    code        varchar(8) NOT NULL UNIQUE,
    name        text NOT NULL
);

CREATE TABLE terms (
    id          integer PRIMARY KEY,
    code        varchar(8) NOT NULL UNIQUE,
    school_year smallint NOT NULL,           -- 2027 = the 2026-27 school year
    name        text NOT NULL,
    start_date  date NOT NULL,
    end_date    date NOT NULL
);

CREATE TABLE districts (
    id                  bigint PRIMARY KEY,
    name                text NOT NULL,
    state               char(2) NOT NULL REFERENCES states (code),
    nces_id             varchar(7) NOT NULL,
    address_line1       text,
    city                text,
    zip                 varchar(10),
    phone               text,
    website_url         text,
    superintendent_name text,
    business_priority   smallint NOT NULL DEFAULT 50,
    created_at          timestamptz NOT NULL,
    updated_at          timestamptz NOT NULL
);

-- schools.principal_id -> staff and staff.school_id -> schools form a cycle: the principal
-- FK is nullable and deferred so a loader can insert schools before their staff.
CREATE TABLE schools (
    id            bigint PRIMARY KEY,
    district_id   bigint NOT NULL REFERENCES districts (id),
    name          text NOT NULL,
    school_type   text NOT NULL,             -- elementary | middle | high
    state         char(2) NOT NULL REFERENCES states (code),
    address_line1 text,
    city          text,
    zip           varchar(10),
    phone         text,
    website_url   text,
    capacity      integer,                   -- looks like PII to a naive regex; is not
    principal_id  bigint,
    opened_on     date,
    created_at    timestamptz NOT NULL,
    updated_at    timestamptz NOT NULL
);
CREATE INDEX schools_district_id_idx ON schools (district_id);

CREATE TABLE staff (
    id               bigint PRIMARY KEY,
    school_id        bigint NOT NULL REFERENCES schools (id),
    supervisor_id    bigint REFERENCES staff (id) DEFERRABLE INITIALLY DEFERRED,
    employee_number  varchar(12) NOT NULL UNIQUE,
    first_name       text NOT NULL,
    last_name        text NOT NULL,
    display_name     text,
    email            text,
    work_phone       text,
    mobile_phone     text,
    address_line1    text,
    city             text,
    state            char(2) REFERENCES states (code),
    zip              varchar(10),
    ssn              char(11),
    date_of_birth    date,
    role             text NOT NULL,          -- superintendent | principal | teacher | counselor | nurse | aide | office
    hire_date        date NOT NULL,
    termination_date date,
    salary           numeric(10,2),
    is_active        boolean NOT NULL,
    last_login_at    timestamptz,            -- not a user name
    created_at       timestamptz NOT NULL,
    updated_at       timestamptz NOT NULL
);
CREATE INDEX staff_school_id_idx ON staff (school_id);
CREATE INDEX staff_supervisor_id_idx ON staff (supervisor_id);

ALTER TABLE schools ADD CONSTRAINT schools_principal_id_fkey
    FOREIGN KEY (principal_id) REFERENCES staff (id) DEFERRABLE INITIALLY DEFERRED;

-- Staff may work at several schools, some of them in another district.
CREATE TABLE staff_assignments (
    staff_id   bigint NOT NULL REFERENCES staff (id),
    school_id  bigint NOT NULL REFERENCES schools (id),
    role       text NOT NULL,
    fte        numeric(3,2) NOT NULL,
    start_date date NOT NULL,
    end_date   date,
    PRIMARY KEY (staff_id, school_id)
);
CREATE INDEX staff_assignments_school_id_idx ON staff_assignments (school_id);

CREATE TABLE teachers (
    staff_id             bigint PRIMARY KEY REFERENCES staff (id),
    certification_number varchar(16),
    certification_state  char(2) REFERENCES states (code),
    primary_subject_id   integer REFERENCES subjects (id),
    years_experience     smallint
);

CREATE TABLE students (
    id                 bigint PRIMARY KEY,
    district_id        bigint NOT NULL REFERENCES districts (id),
    school_id          bigint NOT NULL REFERENCES schools (id),
    state_student_id   varchar(16) NOT NULL UNIQUE,  -- natural key used by HCP2; PII-like identifier
    previous_school_id bigint REFERENCES schools (id), -- may be a school of another district
    first_name         text NOT NULL,
    middle_name        text,
    last_name          text NOT NULL,
    preferred_name     text,
    date_of_birth      date NOT NULL,
    gender             char(1),
    ethnicity_code     varchar(4),            -- not PII by name
    grade_level        smallint NOT NULL REFERENCES grade_levels (grade_level),
    email              text,
    phone              text,
    address_line1      text,
    city               text,
    state              char(2) REFERENCES states (code),
    zip                varchar(10),
    ssn                char(11),
    alternate_emails   text[],
    emergency_contacts jsonb,                 -- {"guardians":[{"name","phone","email","relationship"}]}
    enrollment_date    date NOT NULL,
    graduation_date    date,
    is_active          boolean NOT NULL,
    notes              text,                  -- free text, sometimes with the student's own PII
    created_at         timestamptz NOT NULL,
    updated_at         timestamptz NOT NULL
);
CREATE INDEX students_district_id_idx ON students (district_id);
CREATE INDEX students_school_id_idx ON students (school_id);
CREATE INDEX students_previous_school_id_idx ON students (previous_school_id);

-- Guardians carry no district: they are reached through student_guardians -> students.
CREATE TABLE guardians (
    id                 bigint PRIMARY KEY,
    first_name         text NOT NULL,
    last_name          text NOT NULL,
    email              text,
    mobile_phone       text,
    work_phone         text,
    address_line1      text,
    address_line2      text,
    city               text,
    state              char(2) REFERENCES states (code),
    zip                varchar(10),
    employer           text,
    preferred_language varchar(8),
    created_at         timestamptz NOT NULL
);

CREATE TABLE student_guardians (
    student_id   bigint NOT NULL REFERENCES students (id),
    guardian_id  bigint NOT NULL REFERENCES guardians (id),
    relationship text NOT NULL,
    is_primary   boolean NOT NULL,
    can_pickup   boolean NOT NULL,
    PRIMARY KEY (student_id, guardian_id)
);
CREATE INDEX student_guardians_guardian_id_idx ON student_guardians (guardian_id);

CREATE TABLE courses (
    id          bigint PRIMARY KEY,
    district_id bigint NOT NULL REFERENCES districts (id),
    subject_id  integer NOT NULL REFERENCES subjects (id),
    course_code varchar(16) NOT NULL,
    title       text NOT NULL,
    credits     numeric(3,1) NOT NULL,
    grade_min   smallint NOT NULL REFERENCES grade_levels (grade_level),
    grade_max   smallint NOT NULL REFERENCES grade_levels (grade_level),
    description text,
    UNIQUE (district_id, course_code)
);

-- course -> course: a junction whose both sides point at courses.
CREATE TABLE course_prerequisites (
    course_id              bigint NOT NULL REFERENCES courses (id),
    prerequisite_course_id bigint NOT NULL REFERENCES courses (id),
    min_grade              varchar(2),
    PRIMARY KEY (course_id, prerequisite_course_id)
);
CREATE INDEX course_prerequisites_prereq_idx ON course_prerequisites (prerequisite_course_id);

-- Composite natural PK, referenced by composite FKs below.
CREATE TABLE sections (
    school_id    bigint NOT NULL REFERENCES schools (id),
    section_code varchar(32) NOT NULL,
    course_id    bigint NOT NULL REFERENCES courses (id),
    term_id      integer NOT NULL REFERENCES terms (id),
    room         text,
    capacity     smallint,
    meeting_days varchar(8),
    PRIMARY KEY (school_id, section_code)
);
CREATE INDEX sections_course_id_idx ON sections (course_id);

CREATE TABLE section_teachers (
    school_id    bigint NOT NULL,
    section_code varchar(32) NOT NULL,
    staff_id     bigint NOT NULL REFERENCES staff (id),
    role         text NOT NULL,              -- primary | co_teacher
    PRIMARY KEY (school_id, section_code, staff_id),
    FOREIGN KEY (school_id, section_code) REFERENCES sections (school_id, section_code)
);
CREATE INDEX section_teachers_staff_id_idx ON section_teachers (staff_id);

CREATE TABLE enrollments (
    id           bigint PRIMARY KEY,
    student_id   bigint NOT NULL REFERENCES students (id),
    school_id    bigint NOT NULL,
    section_code varchar(32) NOT NULL,
    enrolled_on  date NOT NULL,
    dropped_on   date,
    status       text NOT NULL,
    final_grade  varchar(2),
    FOREIGN KEY (school_id, section_code) REFERENCES sections (school_id, section_code)
);
CREATE INDEX enrollments_student_id_idx ON enrollments (student_id);
CREATE INDEX enrollments_section_idx ON enrollments (school_id, section_code);

-- No district and no school column: reaches a district only via enrollments -> sections -> schools.
CREATE TABLE attendance (
    enrollment_id   bigint NOT NULL REFERENCES enrollments (id),
    attendance_date date NOT NULL,
    status          text NOT NULL,           -- absent | tardy | excused | present
    minutes_late    smallint,
    note            text,
    recorded_at     timestamptz NOT NULL,
    PRIMARY KEY (enrollment_id, attendance_date)
);

CREATE TABLE assignments (
    id           bigint PRIMARY KEY,
    school_id    bigint NOT NULL,
    section_code varchar(32) NOT NULL,
    title        text NOT NULL,
    description  text,
    due_at       timestamptz NOT NULL,
    max_points   numeric(6,2) NOT NULL,
    created_at   timestamptz NOT NULL,
    FOREIGN KEY (school_id, section_code) REFERENCES sections (school_id, section_code)
);
CREATE INDEX assignments_section_idx ON assignments (school_id, section_code);

CREATE TABLE submissions (
    id            bigint PRIMARY KEY,
    assignment_id bigint NOT NULL REFERENCES assignments (id),
    student_id    bigint NOT NULL REFERENCES students (id),
    submitted_at  timestamptz NOT NULL,
    score         numeric(6,2),
    is_late       boolean NOT NULL,
    feedback      text
);
CREATE INDEX submissions_assignment_id_idx ON submissions (assignment_id);
CREATE INDEX submissions_student_id_idx ON submissions (student_id);

CREATE TABLE counselor_notes (
    id              bigint PRIMARY KEY,
    student_id      bigint NOT NULL REFERENCES students (id),
    author_staff_id bigint NOT NULL REFERENCES staff (id),
    note_date       date NOT NULL,
    category        text NOT NULL,
    body            text NOT NULL            -- mentions names, emails, phones
);
CREATE INDEX counselor_notes_student_id_idx ON counselor_notes (student_id);

-- One login per person; exactly one of student_id / staff_id / guardian_id is set.
CREATE TABLE users (
    id              bigint PRIMARY KEY,
    district_id     bigint NOT NULL REFERENCES districts (id),
    username        text NOT NULL UNIQUE,
    email           text,
    password_hash   text,
    role            text NOT NULL,           -- student | staff | guardian
    student_id      bigint REFERENCES students (id),
    staff_id        bigint REFERENCES staff (id),
    guardian_id     bigint REFERENCES guardians (id),
    last_login_at   timestamptz,
    last_ip_address varchar(45),
    is_active       boolean NOT NULL,
    created_at      timestamptz NOT NULL
);
CREATE INDEX users_district_id_idx ON users (district_id);

CREATE TABLE sessions (
    id           uuid PRIMARY KEY,
    user_id      bigint NOT NULL REFERENCES users (id),
    started_at   timestamptz NOT NULL,
    ended_at     timestamptz,
    ip_address   varchar(45),
    user_agent   text,
    referrer_url text
);
CREATE INDEX sessions_user_id_idx ON sessions (user_id);

-- An application log: no FK, no district; meant to be excluded from extraction.
CREATE TABLE audit_log (
    id                 bigint PRIMARY KEY,
    table_name         text NOT NULL,
    row_pk             text NOT NULL,
    action             text NOT NULL,
    changed_at         timestamptz NOT NULL,
    changed_by_user_id bigint,
    payload            jsonb
);

-- What dbt docs shows of PROD's own documentation (datamig carries COMMENT ON into the models' YAML).
COMMENT ON TABLE districts IS 'A school district: the unit a migration copies.';
COMMENT ON TABLE schools IS 'A school of a district.';
COMMENT ON TABLE staff IS 'Everyone employed at a school, teachers included.';
COMMENT ON TABLE students IS 'A student enrolled at one school of the district.';
COMMENT ON TABLE guardians IS 'Parents and guardians, reached through student_guardians.';
COMMENT ON COLUMN schools.school_type IS 'elementary, middle or high';
COMMENT ON COLUMN staff.role IS 'superintendent, principal, teacher, counselor, nurse, aide or office';
COMMENT ON COLUMN students.state_student_id IS 'The state''s identifier of the student; HCP2 links on it.';
COMMENT ON COLUMN students.previous_school_id IS 'May be a school of another district.';
COMMENT ON COLUMN students.emergency_contacts IS 'JSON: {"guardians": [{"name", "phone", "email", "relationship"}]}';
COMMENT ON COLUMN students.notes IS 'Free text written by staff; may name the student or their family.';
COMMENT ON COLUMN students.grade_level IS 'Grade: 0 for kindergarten, then 1 to 12.';
