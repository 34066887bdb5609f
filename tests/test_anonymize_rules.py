"""Rules file: classification (every Fix of domain-facts.md), planning, one-line config errors,
and the value-shape scan for unruled columns."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from datamig.anonymize import pii_scan
from datamig.anonymize.rules import DEFAULT_RULES_PATH, load_rules, tokens, type_family
from datamig.errors import ConfigError


@pytest.fixture(scope="module")
def rules():
    return load_rules(DEFAULT_RULES_PATH)


# ----- classification -------------------------------------------------------------------------
@pytest.mark.parametrize("column,data_type", [
    ("capacity", "integer"), ("capacity", None),                    # was a city
    ("ethnicity_code", "varchar(4)"), ("ethnicity", "text"),        # was a city
    ("last_login_at", "timestamp with time zone"), ("last_login_at", None),  # was a user name
    ("state", "char(2)"), ("created_at", "timestamp"), ("is_active", "boolean"),
    ("id", "integer"), ("student_id", "bigint"), ("school_key", "text"), ("grade_level", "text"),
    ("room_number", "text"),
    # codes and flags beside the names below, which must stay what they are
    ("incident_type", "text"), ("response_code", "text"), ("cell_count", "bigint"),
    ("medicaid_eligible", "boolean"), ("is_medicaid", "boolean"), ("email_status", "text"),
    ("emergency_contact_relationship", "text"), ("parent_relationship", "text"), ("teacher_id", "text"),
    # ... and what a review found the first version of those names took for PII
    ("white_blood_cells", "numeric"), ("num_cells", "integer"), ("sickle_cell", "text"), ("email_types", "text"),
    ("emergency_contact_relationships", "text[]"), ("homeroom_teacher", "varchar(10)"), ("course_alias", "text"),
    ("period_first", "text"), ("grade_last", "text"), ("card_last4", "char(4)"), ("medicaid", "text"),
    ("wifi_ssid", "text"),
    # codes and flags about a value are not the value (a mask garbled phone_type's "Home" and
    # ssn_verified's "Y"; an email rule faked email_opt_in's "yes")
    ("phone_type", "text"), ("ssn_status", "text"), ("guardian_type", "text"), ("address_type", "text"),
    ("phone_verified", "text"), ("ssn_verified", "text"), ("email_opt_in", "text"), ("emailConsent", "text"),
    ("phone_language", "text"), ("zip_valid", "text"), ("first_name_flag", "text"),
    # things and places, which full_name's bare "name" took for people ("Ibuprofen" -> "Käthe Emo")
    ("drug_name", "text"), ("vaccine_name", "text"), ("clinic_name", "text"), ("state_name", "text"),
    ("language_name", "text"), ("plan_name", "text"), ("diagnosis_name", "text"), ("facility_name", "text"),
    ("member_id", "bigint"), ("member_id", "text"),                 # a key, not a member number
])
def test_not_pii(rules, column, data_type):
    rule = rules.classify(column, data_type)
    assert rule is None or rule.strategy == "preserve", f"{column} -> {rule}"


@pytest.mark.parametrize("column,data_type,rule_name,strategy", [
    ("address", "text", "street", "faker"),                          # was not matched
    ("home_address", "varchar", "street", "faker"),
    ("name", "text", "full_name", "faker"),                          # was not matched
    ("student_name", "character varying(100)", "full_name", "faker"),  # was not matched
    ("state_student_id", "varchar", "natural_identifier", "mask_format"),  # was kept as a key
    ("ssn", "char(11)", "ssn", "mask_format"),
    ("social_security_number", "text", "ssn", "mask_format"),
    ("license_number", "text", "natural_identifier", "mask_format"),
    ("badge_no", "text", "other_number", "mask_format"),
    ("guardian_phone", "text", "phone", "mask_format"),
    ("phone_number", "text", "phone", "mask_format"),
    ("email", "text", "email", "faker"), ("email_address", "citext", "email", "faker"),
    ("alternate_emails", "text[]", "email", "faker"),
    ("first_name", "text", "first_name", "faker"), ("firstName", None, "first_name", "faker"),
    ("surname", "text", "last_name", "faker"),
    ("birth_date", "date", "birth_date", "shift_date"), ("dob", "text", "birth_date_text", "shift_date"),
    ("username", "text", "user_name", "faker"), ("login", "text", "user_name", "faker"),
    ("password_hash", "text", "password", "constant"), ("api_key", "text", "credential", "nullify"),
    ("ip_address", "inet", "ip_address", "faker"), ("website", "text", "url", "faker"),
    ("city", "text", "city", "faker"), ("zip_code", "text", "zip", "faker"),
    ("notes", "text", "free_text", "scrub_text"), ("contacts", "jsonb", "json_document", "jsonb"),
    # names a K-12 or health schema uses that used to match no rule (kept as they were)
    *[(c, "text", "free_text", "scrub_text") for c in (
        "incident", "concern", "observation", "detail", "explanation", "medical_history", "accommodations",
        "behavior", "action_taken", "response", "statement", "transcript", "chief_complaint", "symptoms",
        "treatment", "addendum", "desc", "cmt", "sms_text", "email_body", "email_subject")],
    *[(c, "text", "full_name", "faker") for c in (
        "mother", "guardian", "guardian2", "physician", "pediatrician", "pcp", "case_manager", "aka", "student_alias")],
    *[(c, "text", "first_name", "faker") for c in ("guardian_first", "mname", "middle", "middle_initial", "nick")],
    *[(c, "text", "last_name", "faker") for c in ("guardian_last", "maiden")],
    *[(c, "text", "phone", "mask_format") for c in ("home_ph", "cell_no")],
    # phones that fell to the natural-id rule (a number): the same phone then got another fake
    *[(c, "text", "phone", "mask_format") for c in (
        "contact_no", "contact_number", "emergency_contact_no", "ph_no", "emergency_number")],
    ("account_no", "text", "other_number", "mask_format"),
    # notes about a value are free text, not the value (a phone mask kept their names)
    *[(c, "text", "free_text", "scrub_text") for c in (
        "guardian_phone_notes", "phone_comment", "ssn_note", "email_notes", "address_remarks", "phone_instructions")],
    *[(c, "text", "street", "faker") for c in ("address_history", "home_address")],
    *[(c, "text", "free_text", "scrub_text") for c in (
        "first_name_comment", "last_name_notes", "zip_notes", "medicaid_id_notes", "parent_name_notes")],
    # ... but a word about a value vetoes only as the name's last words: these are the value
    *[(c, "text", rule, strategy) for c, rule, strategy in (
        ("verified_email", "email", "faker"), ("validated_address", "street", "faker"),
        ("speech_language_pathologist_name", "full_name", "faker"), ("consent_signer_name", "full_name", "faker"),
        ("country_phone", "phone", "mask_format"), ("verified_phone_number", "phone", "mask_format"),
        ("type_1_diabetes_doctor_phone", "phone", "mask_format"))],
    *[(c, "text", "cell_phone", "mask_format") for c in ("cell", "guardianCell", "home_cell")],
    *[(c, "text", "natural_identifier", "mask_format") for c in (
        "mrn", "lasid", "sasid", "mac_address", "imei")],   # mac_address was a street
    ("S.S.N.", "text", "ssn", "mask_format"),
    ("bday", "date", "birth_date", "shift_date"), ("birth_dt", "text", "birth_date_text", "shift_date"),
    ("dob_str", "text", "birth_date_text", "shift_date"),
    # a health plan's member number identifies a patient: it was kept as a key (*_id)
    *[(c, "varchar(20)", "natural_identifier", "mask_format") for c in (
        "insurance_member_id", "insurance_id", "policy_number", "subscriber_number", "member_number")],
])
def test_pii(rules, column, data_type, rule_name, strategy):
    rule = rules.classify(column, data_type)
    assert rule is not None and (rule.name, rule.strategy) == (rule_name, strategy), f"{column} -> {rule}"


def test_tokens_split_snake_camel_and_digits():
    assert tokens("guardianPhone2") == ("guardian", "phone", "2")
    assert tokens("state_student_id") == ("state", "student", "id")
    assert tokens("HTMLAddress") == ("html", "address")
    assert tokens("address_line_1") == tokens("addressLine1") == ("address", "line", "1")


@pytest.mark.parametrize("data_type,family", [
    ("character varying(255)", "text"), ("TEXT[]", "text_array"), ("_varchar", "text_array"),
    ("integer[]", "array"), ("jsonb", "json"), ("timestamp without time zone", "timestamp"),
    ("numeric(10,2)", "numeric"), ("inet", "inet"), ("USER-DEFINED", "enum"), ("geometry", "other"),
])
def test_type_family(data_type, family):
    assert type_family(data_type) == family


# ----- planning -------------------------------------------------------------------------------
def test_plan_table_applies_overrides_and_per_column_options(rules):
    plan = rules.plan_table({"id": "int", "name": "text", "capacity": "int"}, table="ids.schools")
    assert plan["name"].strategy == "preserve"          # override: a school's name is not PII
    plan = rules.plan_table({"id": "int", "name": "text", "alternate_emails": "text[]",
                             "birth_date": "date", "title": "text"}, table="ids.students")
    rule, strategy, provider, domain = plan["name"]
    assert (strategy, provider, domain) == ("faker", "name", "person.full_name")
    assert plan["alternate_emails"].rule.options["elementwise"] is True
    assert plan["birth_date"].rule.macro_kwargs()["kind"] == "date"
    assert plan["title"] == (None, None, None, None)     # unclassified: for the drift gate


def test_override_naming_a_missing_column_is_one_line(rules):
    with pytest.raises(ConfigError) as err:
        rules.plan_table({"id": "int"}, overrides={"nmae": "preserve"}, table="ids.schools")
    _one_line(err, "override ids.schools.nmae", str(rules.path))
    with pytest.raises(ConfigError) as err:
        rules.check_overrides({"ids.schools": ["id", "title"], "ids.districts": ["id", "name"]})
    _one_line(err, "override ids.schools.name", str(rules.path))


# ----- bad rules files --------------------------------------------------------------------------
def _one_line(err, *needles: str) -> None:
    msg = str(err.value)
    assert "\n" not in msg, msg
    for needle in needles:
        assert needle in msg, msg


def _write(tmp_path: Path, mutate) -> Path:
    data = yaml.safe_load(DEFAULT_RULES_PATH.read_text())
    mutate(data)
    path = tmp_path / "rules.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True))
    return path


def _rule(data, name):
    return next(r for r in data["rules"] if r["name"] == name)


BAD = {
    "bad regex": (lambda d: _rule(d, "email")["match"].update(regex="e(mail"), "rule 'email'", "bad regex"),
    "unknown strategy": (lambda d: _rule(d, "city").update(strategy="fakr"), "rule 'city'", "unknown strategy 'fakr'"),
    "unknown provider": (lambda d: _rule(d, "city").update(provider="citty"), "rule 'city'", "unknown Faker provider 'citty'"),
    "unknown dictionary method": (lambda d: d["settings"]["dictionaries"].update(pet={"faker": "no_such_thing", "size": 50})
                                  or _rule(d, "city").update(provider="pet"), "settings.dictionaries.pet", "no_such_thing"),
    "missing domain": (lambda d: _rule(d, "first_name").pop("domain"), "rule 'first_name'", "domain"),
    "unique impossible": (lambda d: _rule(d, "first_name").update(unique=True), "rule 'first_name'", "cannot be unique"),
    "schema: unknown key": (lambda d: _rule(d, "zip").update(stratgy="x"), "rule 'zip'", "stratgy"),
    "schema: bad type family": (lambda d: _rule(d, "zip").update(types=["txt"]), "rule 'zip'", "txt"),
    "bad json path": (lambda d: _rule(d, "json_document")["paths"][0].update(path="guardians.name"),
                      "rule 'json_document'", "must start with '$'"),
    "duplicate name": (lambda d: d["rules"].append(dict(_rule(d, "zip"))), "rule 'zip'", "duplicate"),
    "override of unknown rule": (lambda d: d["overrides"].append({"table": "ids.x", "column": "y", "rule": "nope"}),
                                 "override ids.x.y", "unknown rule 'nope'"),
    "bad pii shape": (lambda d: d["pii_shapes"].update(ssn="[0-9"), "pii_shapes.ssn", "bad regex"),
    "letters without mask_format": (lambda d: _rule(d, "zip").update(letters=True), "rule 'zip'",
                                    "letters only goes with strategy mask_format"),
    "one domain, two letters settings": (lambda d: _rule(d, "natural_identifier").pop("letters"), "rule 'other_number'",
                                         "shares domain natural_id with rule 'natural_identifier'"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_rules_file_is_one_line_naming_rule_and_file(tmp_path, case):
    mutate, who, what = BAD[case]
    path = _write(tmp_path, mutate)
    with pytest.raises(ConfigError) as err:
        load_rules(path)
    _one_line(err, str(path), who, what)


def test_missing_file_and_bad_yaml(tmp_path):
    with pytest.raises(ConfigError) as err:
        load_rules(tmp_path / "nope.yaml")
    _one_line(err, "nope.yaml", "not found")
    bad = tmp_path / "bad.yaml"
    bad.write_text("version: 1\nrules: [\n")
    with pytest.raises(ConfigError) as err:
        load_rules(bad)
    _one_line(err, "bad.yaml", "invalid YAML")


# ----- value shapes -------------------------------------------------------------------------------
def test_pii_scan_flags_unruled_columns_by_their_values(rules):
    samples = {
        "contact": ["ana@x.org", "bob@y.org", None, "", "n/a"],
        "misc": ["call 555-123-4567 after 5", "ok", "fax (555) 987-6543", "fine"],
        "ref_code": ["A-12", "B-7", "C-99"],
        "tax": ["123-45-6789", "987-65-4321"],
    }
    findings = pii_scan.scan(samples, rules)
    got = {(f.column, f.shape, f.how) for f in findings}
    assert ("contact", "email", "whole") in got
    assert ("misc", "phone", "inside") in got
    assert ("tax", "ssn", "whole") in got
    assert not any(f.column == "ref_code" for f in findings)
    assert all("@" not in str(f) for f in findings)  # counts, never values


def test_pii_scan_flags_document_keys_no_rule_classifies(rules):
    """by_key leaves the values of unclassified keys as they are: those are scanned by path;
    configured paths and classified keys are not (they are anonymized)."""
    doc = {"guardians": [{"name": "Ann Lee", "phone": "555-123-4567", "notes": "x"}],
           "pediatrician": {"office": {"reach_at": "dr.who@clinic.org"}},
           "aliases": ["a1@x.org", "a2@x.org"], "email": "kid@x.org", "ref": "A-12",
           "contacts": [["555-123-4567"], {"kind": "home"}]}
    docs = [json.dumps(doc)] * 4 + [None, "not json", "[1, 2]"]
    values = pii_scan.document_values(docs, rules, ["$.guardians[*].name"])
    assert "$.guardians[*].name" not in values and "$.guardians[*].phone" not in values
    assert "$.email" not in values                      # a classified key
    findings = {(f.column, f.shape, f.how) for f in pii_scan.scan(values, rules)}
    assert findings == {("$.pediatrician.office.reach_at", "email", "whole"), ("$.aliases[*]", "email", "whole"),
                        ("$.contacts[*][*]", "phone", "whole")}          # a list in a list too
    bare = pii_scan.document_values(['[{"reach_at": "a@b.org"}, "x@y.org"]'] * 4, rules)
    assert bare == {"$[*].reach_at": ["a@b.org"] * 4, "$[*]": ["x@y.org"] * 4}  # a document that is a list


def test_json_paths_reach_exactly_the_values_they_name():
    """jsonpath.targets: keys, quoted keys, [*] over a list, .* over an object, [n]; a path that
    does not match a document (missing key, index past the end, wrong type) reaches nothing."""
    from datamig.anonymize import jsonpath

    doc = {"g": [{"name": "a", "tel": {"home": "1", "work": "2"}}, {"name": "b"}, "not an object"],
           "odd key": {"x": "3"}, "n": 5}
    reached = [(node, slot) for path in ("$.g[*].name", "$.g[0].tel.*", "$['odd key'].x", "$.g[7].name",
                                          "$.n.deeper", "$.missing")
               for node, slot in jsonpath.targets(doc, jsonpath.parse(path))]
    assert [node[slot] for node, slot in reached] == ["a", "b", "1", "2", "3"]   # in document order
    assert [(id(node), slot) for node, slot in reached] == [
        (id(doc["g"][0]), "name"), (id(doc["g"][1]), "name"), (id(doc["g"][0]["tel"]), "home"),
        (id(doc["g"][0]["tel"]), "work"), (id(doc["odd key"]), "x")]


def test_the_estates_lookup_and_place_names_are_kept_and_peoples_names_faked(rules):
    """A bare `name` is a person's by default; the rules file's overrides keep the names of the
    synthetic estate's states, subjects, vaccines, clinics, schools... (a review found them faked
    as people's names and merged into CERT's shared lookup tables)."""
    kept = ["ids.states", "ids.subjects", "ids.terms", "ids.grade_levels", "hcp1.vaccines", "hcp2.clinics",
            "adb.dim_subject", "sp.node_school", "sp.node_district", "ids.schools", "ids.districts"]
    for table in kept:
        planned = rules.plan_table({"id": "integer", "name": "text"}, table=table)
        assert planned["name"].rule.strategy == "preserve", table
    assert rules.plan_table({"name": "text"}, table="sp.node_guardian")["name"].rule.name == "full_name"
