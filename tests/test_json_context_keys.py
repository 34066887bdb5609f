"""JSON documents (jsondoc.py): a key no rule names is classified by the object around it: by its
parent key (FHIR name.family is a family_name, address.line a street) and, for a value key, by a
sibling label ({"label": "Home phone", "value": ...}, FHIR telecom {"system": "phone", ...}). Each
fake must be what the same rule gives the same value as a column; codes must stay as they are."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

import _config_copies as config_copies
from datamig.anonymize.engine import Engine
from datamig.anonymize.jsondoc import DocAnonymizer
from datamig.anonymize.keyed import Keys
from datamig.anonymize.rules import DEFAULT_RULES_PATH, load_rules

REAL = ["Zebulon", "Quixote", "Ximena", "742 Evergreen Terrace", "Springfield", "555-123-4567",
        "555-222-3333", "555-444-5555", "zq@x.org", "123-45-6789"]


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine(load_rules(), Keys("json-context-keys-test-salt-0123"))


def run(engine: Engine, doc) -> tuple[str, object]:
    text = engine.docs.anonymize_text(json.dumps(doc), "{}")
    return text, json.loads(text)


def as_column(engine: Engine, column: str, value):
    """What a column named `column` holding `value` becomes."""
    rule = engine.ruleset.classify(column, {bool: "boolean", int: "integer"}.get(type(value), "text"))
    assert rule is not None and rule.strategy not in ("preserve", "scrub_text"), (column, rule)
    return engine.fakes.apply(rule.strategy, value, rule.provider, rule.domain, **rule.options)


def assert_gone(text: str, *real: str) -> None:
    assert [r for r in real if r in text] == []


FHIR_PATIENT = {
    "resourceType": "Patient",
    "name": [{"use": "official", "family": "Quixote", "given": ["Zebulon", "Ximena"], "text": "Zebulon Quixote",
              "prefix": ["Mr."]}],
    "address": [{"use": "home", "type": "both", "line": ["742 Evergreen Terrace"], "city": "Springfield",
                 "district": "Sangamon", "state": "IL", "postalCode": "62704"}],
    "telecom": [{"system": "phone", "value": "555-123-4567", "use": "home"},
                {"system": "email", "value": "zq@x.org"},
                {"system": "sms", "value": "555-222-3333"}, {"system": "fax", "value": "555-444-5555", "rank": 2}],
    "gender": "male",
}


def test_a_fhir_patient_keeps_none_of_its_real_values(engine):
    text, out = run(engine, FHIR_PATIENT)
    assert_gone(text, *REAL)
    name, address, telecom = out["name"][0], out["address"][0], out["telecom"]
    assert name["family"] == as_column(engine, "family_name", "Quixote")
    assert name["given"] == [as_column(engine, "given_name", v) for v in ("Zebulon", "Ximena")]
    assert name["text"] == as_column(engine, "full_name", "Zebulon Quixote")  # a full name, not text to scrub
    assert address["line"] == [as_column(engine, "address_line", "742 Evergreen Terrace")]
    assert [t["value"] for t in telecom] == [as_column(engine, "phone", "555-123-4567"), as_column(engine, "email", "zq@x.org"),
                                             as_column(engine, "phone", "555-222-3333"), as_column(engine, "fax", "555-444-5555")]


def test_codes_in_a_fhir_patient_stay_as_they_are(engine):
    """use_name is "name" again and address_use "address": a key adds nothing to its parent, so
    use, system, type, district stay; keys with a rule of their own keep it (state: a code)."""
    _, out = run(engine, FHIR_PATIENT)
    name, address, telecom = out["name"][0], out["address"][0], out["telecom"]
    assert (name["use"], name["prefix"]) == ("official", ["Mr."])
    assert {k: address[k] for k in ("use", "type", "district", "state")} == {
        "use": "home", "type": "both", "district": "Sangamon", "state": "IL"}
    assert address["city"] == as_column(engine, "city", "Springfield")
    assert [t["system"] for t in telecom] == ["phone", "email", "sms", "fax"]
    assert (telecom[0]["use"], telecom[3]["rank"], out["gender"]) == ("home", 2, "male")


@pytest.mark.parametrize("doc,path,column,real", [
    ({"guardian": {"first": "Zebulon", "last": "Quixote", "role": "parent"}}, ("guardian", "first"), "first_name", "Zebulon"),
    ({"guardian": {"first": "Zebulon", "last": "Quixote", "role": "parent"}}, ("guardian", "last"), "last_name", "Quixote"),
    ({"emergency": {"contact": "Zebulon Quixote"}}, ("emergency", "contact"), "emergency_contact", "Zebulon Quixote"),
    ({"phone": {"value": "555-123-4567", "type": "home"}}, ("phone", "value"), "phone", "555-123-4567"),
    ({"name": {"formatted": "Zebulon Quixote"}}, ("name", "formatted"), "full_name", "Zebulon Quixote"),
    ({"contacts": [{"names": [{"family": "Quixote"}]}]}, ("contacts", 0, "names", 0, "family"), "family_name", "Quixote"),
])
def test_a_key_with_no_rule_is_classified_with_its_parent(engine, doc, path, column, real):
    text, out = run(engine, doc)
    for step in path:
        out = out[step]
    assert out == as_column(engine, column, real)
    assert real not in text


def test_a_key_only_repeating_its_parent_stays_as_it_is(engine):
    """role_guardian is a full name only because of "guardian": a role is no name. The memo is
    by parent too: a pet's family is no family name."""
    _, out = run(engine, {"guardian": {"role": "parent", "relationship": "aunt"},
                          "name": {"family": "Quixote"}, "pet": {"family": "Felidae"}})
    assert out["guardian"] == {"role": "parent", "relationship": "aunt"}
    assert out["pet"] == {"family": "Felidae"} and out["name"]["family"] != "Quixote"


def test_a_key_only_repeating_a_phone_or_email_parent_takes_its_rule_for_such_values(engine):
    """home_phones is a phone only because of "phones": the value decides, by the rule's shape."""
    doc = {"phones": {"home": "555-123-4567", "work": "(555) 222-3333 x12", "use": "home", "ext": "204", "rank": 1},
           "emails": {"work": "zq@x.org", "kind": "work", "primary": "yes"}}
    text, out = run(engine, doc)
    assert out["phones"] == {"home": as_column(engine, "phone", "555-123-4567"),
                             "work": as_column(engine, "phone", "(555) 222-3333 x12"), "use": "home", "ext": "204", "rank": 1}
    assert out["emails"] == {"work": as_column(engine, "email", "zq@x.org"), "kind": "work", "primary": "yes"}
    assert_gone(text, *REAL)


FORM = {"fields": [
    {"label": "Mother's name", "value": "Zebulon Quixote"},
    {"label": "Home phone", "value": "555-123-4567"},
    {"question": "Emergency contact email", "answer": "zq@x.org"},
    {"label": "Grade", "value": "05"},                    # codes
    {"label": "Allergy type", "value": "Food"},
    {"label": "Status", "value": "Active"},
    {"label": "Notes", "value": "Zebulon Quixote called twice"},
]}


def test_a_forms_values_get_the_rule_of_their_label(engine):
    text, out = run(engine, FORM)
    fields = out["fields"]
    assert fields[0]["value"] == as_column(engine, "mothers_name", "Zebulon Quixote")
    assert fields[1]["value"] == as_column(engine, "home_phone", "555-123-4567")
    assert fields[2]["answer"] == as_column(engine, "emergency_contact_email", "zq@x.org")
    assert fields[6]["value"] == "[NAME] [NAME] called twice"   # a name found by its label joins the document's
    assert_gone(text, *REAL)


def test_code_labels_leave_their_values_as_they_are(engine):
    _, out = run(engine, FORM)
    assert [f["value"] for f in out["fields"][3:6]] == ["05", "Food", "Active"]
    assert [f.get("label") or f["question"] for f in out["fields"]] == [
        f.get("label") or f["question"] for f in FORM["fields"]]


@pytest.mark.parametrize("label,column,value", [
    ("First name", "first_name", "Zebulon"),
    ("Last name", "last_name", "Quixote"),
    ("Guardian name", "guardian_name", "Zebulon Quixote"),
    ("Parent/guardian name", "guardian_name", "Zebulon Quixote"),
    ("Date of birth (MM/DD/YYYY)", "date_of_birth", "2012-03-04"),
    ("DOB", "dob", "2012-03-04"),
    ("Address", "address", "742 Evergreen Terrace"),
    ("Phone", "phone", "555-123-4567"),
    ("Phone", "phone", 5551234567),                          # a number: the key's own rule keeps it
    ("E-mail", "email", "zq@x.org"),
    ("SSN", "ssn", "123-45-6789"),
    ("State student ID", "state_student_id", "S1234567"),
])
@pytest.mark.parametrize("shape", ["label/value", "name/val", "key/valueString", "prompt/response"])
def test_a_label_names_its_value_as_a_column_would(engine, label, column, value, shape):
    descriptor, value_key = shape.split("/")
    _, out = run(engine, {"form": [{descriptor: label, value_key: value}]})
    assert out["form"][0][value_key] == as_column(engine, column, value)


@pytest.mark.parametrize("label", ["Student ID", "Relationship", "Allergy", "Grade level", "Type"])
def test_a_label_no_rule_makes_pii_leaves_its_value(engine, label):
    doc = {"form": [{"label": label, "value": "Zebulon"}, {"field": label, "old": "Ann", "new": 5}]}
    assert run(engine, doc)[1] == doc


def test_a_fhir_answer_gets_the_rule_of_its_question(engine):
    doc = {"resourceType": "QuestionnaireResponse", "item": [
        {"linkId": "1", "text": "Mother's name", "answer": [{"valueString": "Zebulon Quixote"}]},
        {"linkId": "2", "text": "Grade", "answer": [{"valueString": "Ximena"}]}]}
    text, out = run(engine, doc)
    assert out["item"][0]["answer"] == [{"valueString": as_column(engine, "mothers_name", "Zebulon Quixote")}]
    assert out["item"][1] == doc["item"][1]
    assert "Zebulon" not in text


def test_an_audit_change_gets_the_rule_of_its_field(engine):
    _, out = run(engine, [{"field": "email", "old": "zq@x.org", "new": None},
                          {"field": "phone", "old": "555-123-4567", "new": "555-222-3333"}])
    assert out == [{"field": "email", "old": as_column(engine, "email", "zq@x.org"), "new": None},
                   {"field": "phone", "old": as_column(engine, "phone", "555-123-4567"),
                    "new": as_column(engine, "phone", "555-222-3333")}]


def test_a_label_beats_free_text_scrubbing_only_with_a_fake(engine):
    """`response` is free text by its own rule; scrubbing keeps a name it was never told."""
    _, out = run(engine, {"q": [{"question": "Mother's name", "response": "Zebulon Quixote"},
                                {"question": "Grade", "response": "Zebulon Quixote said 555-123-4567"}]})
    assert out["q"][0]["response"] == as_column(engine, "mothers_name", "Zebulon Quixote")
    assert out["q"][1]["response"] == "[NAME] [NAME] said [PHONE]"  # still scrubbed, of the name found above


def test_names_found_by_context_leave_the_documents_free_text(engine):
    doc = {"name": [{"family": "Quixote", "given": ["Zebulon"]}], "notes": "Zebulon Quixote missed school"}
    assert run(engine, doc)[1]["notes"] == "[NAME] [NAME] missed school"


def test_a_value_key_with_a_rule_of_its_own_keeps_it(engine, tmp_path: Path):
    """Neither a label nor a parent outranks a key's own rule that replaces its value (here a
    rules file in which an `answer` is a phone)."""
    path, _ = config_copies.copy_with(DEFAULT_RULES_PATH, tmp_path, "any: [phone, phones,", "any: [answer, phone, phones,")
    docs = DocAnonymizer(engine.fakes, load_rules(path))
    doc = {"email": {"label": "Email", "answer": "555-123-4567"}}
    out = json.loads(docs.anonymize_text(json.dumps(doc), "{}"))
    assert out == {"email": {"label": "Email", "answer": as_column(engine, "phone", "555-123-4567")}}


def test_the_pii_scan_of_documents_reports_what_by_key_keeps_and_nothing_it_fakes():
    """pii_scan.document_values reads keys as the anonymizer does (doc_keys.KeyRules): a FHIR
    telecom value or a labelled form value is faked, so reporting it as unanonymized PII was a
    false alarm; a value neither its key, its parent nor a label classifies is still reported."""
    import json as json_
    from datamig.anonymize import pii_scan

    rules = load_rules(DEFAULT_RULES_PATH)
    doc = {"telecom": [{"system": "phone", "value": "555-123-4567"}, {"system": "email", "value": "m@x.org"}],
           "fields": [{"label": "Home phone", "value": "555-987-6543"}, {"label": "Misc", "value": "555-222-3333"}],
           "name": [{"family": "Lopez", "given": ["Maria"]}], "extra": {"reach_at": "a@b.org"}}
    values = pii_scan.document_values([json_.dumps(doc)] * 4, rules)
    assert values["$.fields[*].value"] == ["555-222-3333"] * 4          # only the unlabelled one
    assert "$.telecom[*].value" not in values and "$.name[*].family" not in values
    findings = {(f.column, f.shape) for f in pii_scan.scan(values, rules)}
    assert findings == {("$.fields[*].value", "phone"), ("$.extra.reach_at", "email")}


def test_a_street_under_an_address_key_that_says_nothing_more_is_faked_by_its_shape(engine):
    docs = DocAnonymizer(engine.fakes, load_rules(DEFAULT_RULES_PATH))
    out = json.loads(docs.anonymize_text(json.dumps({"address": {"home": "742 Evergreen Terrace", "use": "home"}}), "{}"))
    assert out["address"]["home"] == engine.fakes.apply("faker", "742 Evergreen Terrace", "street", "address.street")
    assert out["address"]["home"] != "742 Evergreen Terrace" and out["address"]["use"] == "home"


# ----- what a review of the first version found -------------------------------------------------
@pytest.mark.parametrize("doc", [
    {"fields": [{"label": "Email opt-in", "value": "yes"}, {"label": "Email consent", "value": "Granted"}]},
    {"fields": [{"label": "Address type", "value": "home"}, {"label": "SSN on file", "value": "Yes"}]},
    {"fields": [{"label": "Primary phone language", "value": "Spanish"}, {"label": "Home phone", "value": "none"}]},
    {"question": "Do you have a phone?", "answer": "yes"},
    {"label": "How many phones in the home?", "value": 2},
    {"text": "Is the address below correct?", "answer": [{"valueString": "Yes"}]},
])
def test_form_answers_that_are_no_pii_stay_as_they_are(engine, doc):
    """A label turned "yes" into a fake email and "Spanish" into scrambled letters: a question or a
    long label names no column, a flag or code word vetoes the rule, and a phone, email or SSN
    label takes only a value that could be one."""
    _, out = run(engine, doc)
    assert out == doc


def test_a_name_key_that_labels_a_field_is_no_persons_name(engine):
    doc = {"fields": [{"name": "Home phone", "value": "555-123-4567"}], "notes": "Called home phone, no answer"}
    _, out = run(engine, doc)
    assert out["fields"][0] == {"name": "Home phone", "value": as_column(engine, "phone", "555-123-4567")}
    assert out["notes"] == doc["notes"]              # "Home" and "phone" were scrubbed as a name's parts


def test_free_text_inside_free_text_is_scrubbed(engine):
    """FHIR's narrative (text.div) came back byte for byte: `div` under `text` is free text too."""
    doc = {"text": {"status": "generated", "div": "<div>Zebulon Quixote, ph 555-123-4567</div>"},
           "name": [{"family": "Quixote", "given": ["Zebulon"]}]}
    text, out = run(engine, doc)
    assert_gone(text, "Zebulon", "Quixote", "555-123-4567")
    assert out["text"] == {"status": "generated", "div": "<div>[NAME] [NAME], ph [PHONE]</div>"}


def test_a_phones_number_is_a_phone_and_a_number_under_a_phone_parent_too(engine):
    """{"phones": [{"number": ...}]} took the natural-id rule of a bare "number" (another fake than
    the phone column's), and an integer under a phone parent stayed as it was."""
    _, out = run(engine, {"phones": [{"type": "home", "number": "555-123-4567"}], "home_phones": {"home": 5551234567},
                          "phone": {"count": 2}})
    assert out["phones"] == [{"type": "home", "number": as_column(engine, "phone", "555-123-4567")}]
    assert out["home_phones"]["home"] == as_column(engine, "phone", 5551234567) != 5551234567
    assert out["phone"] == {"count": 2}


@pytest.mark.parametrize("doc, path, column, real", [
    ({"text": "Mother's name?", "answer": [{"valueString": "Ximena Quixote"}]}, ("answer", 0, "valueString"),
     "full_name", "Ximena Quixote"),
    ({"question": "What is your phone number?", "answer": "555-123-4567"}, ("answer",), "phone", "555-123-4567"),
    ({"label": "Emergency Contact Home Phone Number", "value": "555-123-4567"}, ("value",), "phone", "555-123-4567"),
    ({"label": "Parent/Guardian 1 First Name", "value": "Ximena"}, ("value",), "first_name", "Ximena"),
])
def test_a_question_for_a_value_and_a_long_label_still_name_it(engine, doc, path, column, real):
    """Only a yes/no or how-many question names nothing; a label of up to six words names a field."""
    _, out = run(engine, doc)
    for step in path:
        out = out[step]
    assert out == as_column(engine, column, real) != real


def test_a_persons_name_beside_a_value_is_faked_and_a_number_of_a_person_is_no_name(engine):
    """A name that reads as a person's is no field label ({"name": "Nick Jones", ...}); a person's
    "number" is not faked as the person's name (only a masked parent lends its rule to a number)."""
    text, out = run(engine, {"contacts": [{"name": "Nick Jones", "value": "555-123-4567"}],
                             "emergency_contact": {"number": "555-123-4567"}})
    assert_gone(text, "Nick Jones")
    assert out["contacts"][0]["name"] == as_column(engine, "name", "Nick Jones")
    assert out["emergency_contact"]["number"] == as_column(engine, "number", "555-123-4567")   # as before


def test_a_number_faked_by_its_key_or_label_stays_a_number(engine):
    """{"zip": 62704} became {"zip": "94863"}: a document's types are its readers' schema. The
    fake is the string zip's, as a number; a text zip stays text."""
    text_zip = as_column(engine, "zip", "62704")
    _, out = run(engine, {"zip": 62704, "address": {"postalCode": 62704, "line": ["742 Evergreen Terrace"]},
                          "fields": [{"label": "Zip code", "value": 62704}], "mailing_zip": "62704"})
    assert out["zip"] == out["address"]["postalCode"] == out["fields"][0]["value"] == int(text_zip) != 62704
    assert out["mailing_zip"] == text_zip
