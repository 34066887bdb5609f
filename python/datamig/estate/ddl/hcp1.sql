-- HCP1: health platform 1 (PROD "hcp1", CERT "cert_hcp1"). bigint keys.
-- patients.ids_student_id names an IDS student (ids.students.id) with NO foreign key: the
-- databases are separate. Nothing here carries a district id: a district's patients are
-- found only through that logical link.

-- Shared reference tables.
CREATE TABLE vaccines (
    code           varchar(12) PRIMARY KEY,
    name           text NOT NULL,
    doses_required smallint NOT NULL
);

-- Providers serve every district (no district column); they are PII themselves.
CREATE TABLE providers (
    id             bigint PRIMARY KEY,
    npi            char(10) NOT NULL UNIQUE,
    full_name      text NOT NULL,
    specialty      text NOT NULL,
    phone          text,
    email          text,
    clinic_address text
);

CREATE TABLE patients (
    id                  bigint PRIMARY KEY,
    ids_student_id      bigint NOT NULL UNIQUE,   -- -> ids.students.id (logical)
    mrn                 varchar(12) NOT NULL UNIQUE,
    first_name          text NOT NULL,
    last_name           text NOT NULL,
    date_of_birth       date NOT NULL,
    sex                 char(1),
    primary_phone       text,
    email               text,
    address_line1       text,
    city                text,
    state               char(2),
    zip                 varchar(10),
    insurance_member_id varchar(20),
    created_at          timestamptz NOT NULL,
    updated_at          timestamptz NOT NULL
);

CREATE TABLE emergency_contacts (
    id           bigint PRIMARY KEY,
    patient_id   bigint NOT NULL REFERENCES patients (id),
    contact_name text NOT NULL,
    relationship text,
    phone        text,
    email        text
);
CREATE INDEX emergency_contacts_patient_id_idx ON emergency_contacts (patient_id);

CREATE TABLE encounters (
    id             bigint PRIMARY KEY,
    patient_id     bigint NOT NULL REFERENCES patients (id),
    provider_id    bigint NOT NULL REFERENCES providers (id),
    encounter_at   timestamptz NOT NULL,
    encounter_type text NOT NULL,
    reason         text,
    notes          text,                          -- free text with the patient's name / phone
    vitals         jsonb
);
CREATE INDEX encounters_patient_id_idx ON encounters (patient_id);

CREATE TABLE immunizations (
    id              bigint PRIMARY KEY,
    patient_id      bigint NOT NULL REFERENCES patients (id),
    vaccine_code    varchar(12) NOT NULL REFERENCES vaccines (code),
    dose_number     smallint NOT NULL,
    administered_on date NOT NULL,
    lot_number      varchar(12),
    provider_id     bigint REFERENCES providers (id)
);
CREATE INDEX immunizations_patient_id_idx ON immunizations (patient_id);

CREATE TABLE allergies (
    patient_id bigint NOT NULL REFERENCES patients (id),
    allergen   text NOT NULL,
    severity   text NOT NULL,
    reaction   text,
    noted_on   date,
    PRIMARY KEY (patient_id, allergen)
);

CREATE TABLE medications (
    id            bigint PRIMARY KEY,
    patient_id    bigint NOT NULL REFERENCES patients (id),
    drug_name     text NOT NULL,
    dosage        text,
    frequency     text,
    prescribed_on date NOT NULL,
    prescriber_id bigint REFERENCES providers (id),
    instructions  text
);
CREATE INDEX medications_patient_id_idx ON medications (patient_id);

CREATE TABLE screenings (
    id             bigint PRIMARY KEY,
    patient_id     bigint NOT NULL REFERENCES patients (id),
    screening_type text NOT NULL,
    screened_on    date NOT NULL,
    result         text NOT NULL,
    measurement    numeric(6,2)
);
CREATE INDEX screenings_patient_id_idx ON screenings (patient_id);
