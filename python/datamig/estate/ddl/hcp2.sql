-- HCP2: health platform 2 (PROD "hcp2", CERT "cert_hcp2"). uuid keys throughout.
-- members.state_student_id is the text natural key of ids.students (logical link, no FK);
-- clinics name their IDS school and district by id (logical links). A member's home clinic
-- may sit in another district (a student who moved).

CREATE TABLE diagnosis_codes (
    icd10_code  varchar(8) PRIMARY KEY,
    description text NOT NULL
);

CREATE TABLE clinics (
    id            uuid PRIMARY KEY,
    district_id   bigint NOT NULL,            -- -> ids.districts.id (logical)
    ids_school_id bigint NOT NULL,            -- -> ids.schools.id (logical)
    name          text NOT NULL,
    address_line1 text,
    city          text,
    state         char(2),
    zip           varchar(10),
    phone         text,
    fax           text
);
CREATE INDEX clinics_district_id_idx ON clinics (district_id);

CREATE TABLE members (
    id                uuid PRIMARY KEY,
    state_student_id  varchar(16) NOT NULL UNIQUE,  -- -> ids.students.state_student_id (logical)
    home_clinic_id    uuid REFERENCES clinics (id),
    given_name        text NOT NULL,
    family_name       text NOT NULL,
    birth_date        date NOT NULL,
    email             text,
    mobile            text,
    alternate_emails  text[],
    guardian_contacts jsonb,                   -- {"guardians":[{"name","phone","email"}]}
    created_at        timestamptz NOT NULL
);
CREATE INDEX members_home_clinic_id_idx ON members (home_clinic_id);

CREATE TABLE visits (
    id                 uuid PRIMARY KEY,
    member_id          uuid NOT NULL REFERENCES members (id),
    clinic_id          uuid NOT NULL REFERENCES clinics (id),
    visit_date         date NOT NULL,
    checked_in_at      timestamptz NOT NULL,
    chief_complaint    text,
    nurse_notes        text,                   -- free text with names / phones
    temperature_c      numeric(4,1),
    follow_up_required boolean NOT NULL
);
CREATE INDEX visits_member_id_idx ON visits (member_id);
CREATE INDEX visits_clinic_id_idx ON visits (clinic_id);

CREATE TABLE visit_diagnoses (
    visit_id   uuid NOT NULL REFERENCES visits (id),
    seq        smallint NOT NULL,
    icd10_code varchar(8) NOT NULL REFERENCES diagnosis_codes (icd10_code),
    PRIMARY KEY (visit_id, seq)
);

CREATE TABLE care_plans (
    id              uuid PRIMARY KEY,
    member_id       uuid NOT NULL REFERENCES members (id),
    plan_type       text NOT NULL,
    start_date      date NOT NULL,
    end_date        date,
    details         jsonb,
    created_by_name text
);
CREATE INDEX care_plans_member_id_idx ON care_plans (member_id);

CREATE TABLE consents (
    member_id      uuid NOT NULL REFERENCES members (id),
    consent_type   text NOT NULL,
    granted        boolean NOT NULL,
    signed_by_name text,
    signer_email   text,
    signed_on      date,
    PRIMARY KEY (member_id, consent_type)
);
