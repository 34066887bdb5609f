"""Birth dates and street addresses inside free text, and shapes a rules file adds: every pii_shape
leaves free text, alike in a column's SQL, in Python and inside a JSON document."""
from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest

import _config_copies as config_copies
from datamig.anonymize.rules import DEFAULT_RULES_PATH, load_rules
from datamig.anonymize.sqlrender import anonymize_sql as A
from datamig.dbt_plugin import Plugin
from test_anonymize_engine import NO_REAL_VALUES, salt_env

SALT = "free-text-shapes-salt-0123456789"


def _plugin(rules_file: Path) -> Plugin:
    with salt_env(SALT):
        plugin = Plugin.__new__(Plugin)
        plugin.initialize({"rules_file": str(rules_file)})
    return plugin


@pytest.fixture(scope="module")
def plugin():
    return _plugin(DEFAULT_RULES_PATH)


def _connect(plugin: Plugin) -> duckdb.DuckDBPyConnection:
    conn = duckdb.connect()
    plugin.configure_connection(conn)
    conn.execute(NO_REAL_VALUES)
    return conn


def _scrubbed_three_ways(plugin: Plugin, texts: list[str], names: list[str]) -> tuple[list, list, list]:
    """Each text scrubbed (of its row's one name too): by a column's SQL, by Python, in a document."""
    conn = _connect(plugin)
    try:
        sql = A("v", "scrub_text", names=["n"])
        column = [r[0] for r in conn.execute(f"SELECT {sql} FROM (SELECT unnest(?) AS v, unnest(?) AS n, "
                                             "unnest(?) AS i) ORDER BY i",
                                             [texts, names, list(range(len(texts)))]).fetchall()]
    finally:
        conn.close()
    python = [plugin.engine.fakes.scrub_text(t, [n]) for t, n in zip(texts, names)]
    docs = [json.loads(plugin.engine.docs.anonymize_text(json.dumps({"notes": t}), "{}", None, [n]))["notes"]
            for t, n in zip(texts, names)]
    return column, python, docs


def _assert_scrubs(plugin: Plugin, cases: dict[str, str], name: str = "") -> None:
    """Each text of `cases` (of a row named `name`) becomes its value, all three ways."""
    want = list(cases.values())
    assert _scrubbed_three_ways(plugin, list(cases), [name] * len(cases)) == (want, want, want)


def test_a_birth_date_after_its_label_leaves_free_text(plugin):
    """A nurse's note giving the student's date of birth kept it: only emails, SSNs and phones went."""
    cases = {
        "Ana Lopez, DOB: 03/14/2012, allergic to nuts": "[NAME] [NAME], [DOB], allergic to nuts",
        "D.O.B. 2012-03-14": "[DOB]",
        "born 3/14/12 at Mercy": "[DOB] at Mercy",
        "born on 3/14/2012": "[DOB]",
        "dob 20120314": "[DOB]",
        "Birthday is March 14, 2012": "[DOB]",
        "bday: 14th of March 2012": "[DOB]",
        "Date of Birth - 3.14.2012": "[DOB]",
        "birthdate=2012/3/14": "[DOB]",
        "Birthday 3/14!": "[DOB]!",
        # spellings a review found kept
        "DOB: 2012-03-14T00:00:00": "[DOB]T00:00:00", "DOB: 14-Mar-2012": "[DOB]", "DOB (3/14/2012)": "[DOB])",
        "DOB; 3/14/2012": "[DOB]", "DOB -- 3/14/2012": "[DOB]", "DOB/Age: 3/14/2012": "[DOB]", "DOB 3 / 14 / 2012": "[DOB]",
        "born on the 14th of March 2012": "[DOB]", "DOB:\u00a03/14/2012": "[DOB]", "DOB 3\u201314\u20132012": "[DOB]",
        "Fecha de nacimiento: 14/03/2012": "[DOB]", "nacido el 14 de marzo de 2012": "[DOB]", "DOB: March 2012": "[DOB]",
        "DOB 12/2011": "[DOB]", "nació 3/14/2012": "[DOB]", "NACIÓ el 14/03/2012": "[DOB]", "DOB:\u202f3/14/2012": "[DOB]",
        # a gestational age after "born" is no birth date
        "born 34/40 weeks": "born 34/40 weeks", "born 2/3 weeks early": "born 2/3 weeks early",
        # what is no birth date stays: a label without a date, a date without a label, a span
        "DOB on file": "DOB on file",
        "adobe 03/14/2012": "adobe 03/14/2012",
        "seen 03/14/2012": "seen 03/14/2012",
        "born 2 weeks early": "born 2 weeks early",
        "born 3-4 weeks premature": "born 3-4 weeks premature",
    }
    _assert_scrubs(plugin, cases, "Ana Lopez")


def test_a_street_address_leaves_free_text(plugin):
    cases = {
        "lives at 123 Main St, Springfield": "lives at [ADDRESS], Springfield",
        "moved to 4502 N. Martin Luther King Jr Blvd Apt 4B yesterday": "moved to [ADDRESS] yesterday",
        "500 5th Ave": "[ADDRESS]",
        "1200 Oak Hill Rd NW #12": "[ADDRESS]",
        "mailing: 99 O'Neil Way, Unit 3": "mailing: [ADDRESS]",
        "12 Maple Avenue.": "[ADDRESS]",
        "PO Box 1234 or P.O. Box 77": "[ADDRESS] or [ADDRESS]",
        "123 Dr. Martin Luther King Jr. Blvd": "[ADDRESS]", "RR 2 Box 14": "[ADDRESS]", "POB 1234": "[ADDRESS]",
        "123 Highway 61": "[ADDRESS]", "12-B Oak St": "[ADDRESS]", "123 MAIN ST": "[ADDRESS]",
        "123 W Main Street, Apt 2, Springfield, IL 62704": "[ADDRESS]",
        # what a count, a time or a scan before a word that is also a street suffix is
        "Appointment at 3 PM Dr Lee": "Appointment at 3 PM Dr Lee", "seen at 10 AM Dr. Patel": "seen at 10 AM Dr. Patel",
        "had 1 Head CT": "had 1 Head CT", "10 AM CT scan": "10 AM CT scan", "won 2 First Place ribbons": "won 2 First Place ribbons",
        "Grade 5 Math Ct": "Grade 5 Math Ct",
        # numbers before ordinary words stay
        "walked 2 laps around the court": "walked 2 laps around the court",
        "Scored 85 on the Road test": "Scored 85 on the Road test",
        "Room 12 West Wing": "Room 12 West Wing",
    }
    _assert_scrubs(plugin, cases)


def test_a_phone_without_its_area_code_leaves_free_text_after_a_phone_word(plugin):
    """Local numbers (555-1234) and Mexican 2-4-4 ones (55 1234 5678) stayed in notes; alone they
    look like too many other things, so only right after a phone word."""
    cases = {
        "call 555-1234": "[PHONE]",
        "call her at 555-1234 after 3": "[PHONE] after 3",
        "Phone: 555.1234": "[PHONE]",
        "mom's cell is 555-1234": "mom's [PHONE]",
        "cell 55 1234 5678": "[PHONE]",
        "teléfono 55-1234-5678": "[PHONE]",
        "Text 5551234": "[PHONE]",
        "cell phone number is 555-1234": "cell [PHONE]", "Mom: 555-1234": "[PHONE]", "call 555\u20131234": "[PHONE]",
        "phone: mom 555-1234, dad 555-9876": "[PHONE], [PHONE]", "Cel de mamá 55 1234 5678": "[PHONE]",
        "tel: (55) 1234 5678": "[PHONE]", "reach 100 1000 steps": "reach 100 1000 steps",
        # accented capitals and words ending in an accent, alike in RE2 and in Python's ASCII mode
        "TELÉFONO 555-1234": "[PHONE]", "NÚMERO: 555-1234": "[PHONE]", "mamá: 555-1234": "[PHONE]",
        "cell: MAÑANA 555-1234": "[PHONE]",
        "call 555-123-4567": "call [PHONE]",     # a whole phone keeps its word, as before
        "room 555-1234x9 stays": "room 555-1234x9 stays",
        "work 2012-2013 year": "work 2012-2013 year",
        "worked 555-1234 hours": "worked 555-1234 hours",
        "home for 3 days, 555-1234": "home for 3 days, 555-1234",
        "call 911": "call 911",
    }
    _assert_scrubs(plugin, cases)


def test_the_pii_scan_flags_unruled_columns_of_addresses_and_birth_dates(plugin):
    from datamig.anonymize import pii_scan
    rules = load_rules(DEFAULT_RULES_PATH)
    found = pii_scan.scan({"misc1": ["12 Maple Avenue", "77 Oak Hill Rd", "PO Box 3"],
                           "misc2": ["dob 2012-03-04", "DOB: 3/4/2011 per mom", ""],
                           "misc3": ["Room 12", "Grade 5", "seen 2012-03-04"]}, rules)
    assert {(f.column, f.shape, f.how) for f in found} == {
        ("misc1", "street_address", "whole"), ("misc2", "birth_date", "inside")}


def test_a_shape_the_rules_file_adds_is_scrubbed_with_a_placeholder_of_its_name(tmp_path):
    """A district's own identifier shape, added to pii_shapes, leaves free text too: without a
    placeholder of its own it becomes [ITS_NAME]; before, only emails, SSNs and phones were scrubbed."""
    text = DEFAULT_RULES_PATH.read_text()
    path = tmp_path / "rules.yaml"
    path.write_text(text.replace("\npii_shapes:\n", "\npii_shapes:\n  student_number: '\\bS[0-9]{7}\\b'\n", 1))
    plugin = _plugin(path)
    _assert_scrubs(plugin, {"student S1234567 called 555-123-4567": "student [STUDENT_NUMBER] called [PHONE]",
                            "class S12345 stays": "class S12345 stays"})


def test_a_placeholder_for_no_shape_is_a_config_error(tmp_path):
    # a typo would scrub nothing: the shape it meant keeps its default placeholder
    path, line = config_copies.copy_with(DEFAULT_RULES_PATH, tmp_path, 'ssn: "[SSN]"', 'snn: "[SSN]"')
    message = config_copies.load_error(load_rules, path, "settings.scrub_placeholders.snn", "no pii_shape named 'snn'")
    assert "birth_date" in message and "street_address" in message


def test_a_shape_name_that_is_no_identifier_is_a_config_error(tmp_path):
    path, _ = config_copies.copy_with(DEFAULT_RULES_PATH, tmp_path, "\npii_shapes:\n",
                                      "\npii_shapes:\n  Student-ID: 'S[0-9]{7}'\n")
    config_copies.load_error(load_rules, path, "pii_shapes", "Student-ID")


@pytest.mark.parametrize("pattern", ["x|", "\\bS?[0-9]{0,7}\\b", "[0-9]*"])
def test_a_shape_that_matches_an_empty_string_is_a_config_error(tmp_path, pattern):
    """Every shape scrubs free text now: one that matches nothing at all would put its placeholder
    between every two characters of every note."""
    path, line = config_copies.copy_with(DEFAULT_RULES_PATH, tmp_path, "\npii_shapes:\n",
                                         f"\npii_shapes:\n  student_number: '{pattern}'\n")
    config_copies.load_error(load_rules, path, "pii_shapes.student_number", "matches an empty string", line=line + 2)


@pytest.mark.parametrize("pattern", ["(?:[A-Za-z]+ ?)+#[0-9]{6}", "(\\w*,)*x", "(?:a|(?:b+c)){2,}"])
def test_a_shape_that_repeats_a_repetition_is_a_config_error(tmp_path, pattern):
    """A review's `(?:[A-Za-z]+ ?)+#[0-9]{6}` loaded, then the PII scan spent minutes of CPU on a
    tiny district's notes (Python backtracks; RE2 does not): the transform never finished."""
    path, line = config_copies.copy_with(DEFAULT_RULES_PATH, tmp_path, "\npii_shapes:\n",
                                         f"\npii_shapes:\n  student_number: '{pattern}'\n")
    config_copies.load_error(load_rules, path, "pii_shapes.student_number", "repeats a repetition without a bound",
                             line=line + 2)


def test_a_repetition_bounded_small_inside_another_is_no_error(tmp_path):
    path, _ = config_copies.copy_with(DEFAULT_RULES_PATH, tmp_path, "\npii_shapes:\n",
                                      "\npii_shapes:\n  student_number: '(?:[A-Za-z]+ ?){1,8}#[0-9]{6}'\n")
    assert "student_number" in load_rules(path).pii_shapes
