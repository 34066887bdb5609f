"""config/validation-rules.yaml: every mistake a user can make in it is one ConfigError line
naming the file (and line) and the rule or key at fault, raised at load time, before anything is
rendered or written. Each case is a copy of the committed file with one change. No database."""
from __future__ import annotations

import datetime
import pathlib
from pathlib import Path

import pytest
import yaml

import _config_copies as config_copies
from datamig.errors import ConfigError
from datamig.scaffold.validation import load_validation_rules, render_validation

REAL = Path(__file__).resolve().parents[1] / "config" / "validation-rules.yaml"
TEXT = REAL.read_text()


def copy_with(tmp_path: Path, old: str, new: str) -> tuple[Path, int]:
    return config_copies.copy_with(REAL, tmp_path, old, new)


def copy_with_doc(tmp_path: Path, change) -> Path:
    """The committed file as data, `change`d, written back."""
    doc = yaml.safe_load(TEXT)
    change(doc)
    path = tmp_path / "validation-rules.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def line_in_real(snippet: str) -> int:
    return TEXT[:TEXT.index(snippet)].count("\n") + 1


def rule_of(doc: dict, name: str) -> dict:
    return next(r for r in doc["rules"] if r["name"] == name)


def error(path: Path, *needles: str, line: int | None = None) -> str:
    return config_copies.load_error(load_validation_rules, path, *needles, line=line)


# ----- the committed file --------------------------------------------------------------------
def test_committed_file_loads_unchanged():
    vrules = load_validation_rules(REAL)
    assert vrules["settings"] == {"fail_on_warnings": False, "max_warnings_allowed": 10}
    assert vrules["rules"] == yaml.safe_load(TEXT)["rules"]
    assert vrules["lines"]["student_age_5_22"] == line_in_real("name: student_age_5_22")
    assert vrules["lines"]["schools_belong_to_district"] == line_in_real("name: schools_belong_to_district")


# ----- settings --------------------------------------------------------------------------------
@pytest.mark.parametrize("value", ["'no'", "'false'", "\"true\"", "1", "null"])
def test_fail_on_warnings_must_be_a_yaml_boolean(tmp_path, value):
    path, line = copy_with(tmp_path, "fail_on_warnings: false", f"fail_on_warnings: {value}")
    error(path, "settings.fail_on_warnings", "expected true or false", line=line)


@pytest.mark.parametrize("value", ["-5", "2.9", "abc", "true", "'10'"])
def test_max_warnings_allowed_must_be_a_non_negative_integer(tmp_path, value):
    path, line = copy_with(tmp_path, "max_warnings_allowed: 10", f"max_warnings_allowed: {value}")
    error(path, "settings.max_warnings_allowed", "non-negative integer", line=line)


def test_settings_must_be_a_mapping(tmp_path):
    path, line = copy_with(tmp_path, "settings:\n  fail_on_warnings: false\n  max_warnings_allowed: 10\n",
                           "settings: [1]\n")
    error(path, "settings", "expected a mapping", line=line)


def test_unknown_setting_is_named(tmp_path):
    path, line = copy_with(tmp_path, "  max_warnings_allowed: 10\n", "  max_warnings_allowed: 10\n  max_warning: 3\n")
    error(path, "settings", "unknown key 'max_warning'", line=line + 1)


def test_omitted_settings_keep_their_defaults(tmp_path):
    path, _ = copy_with(tmp_path, "  max_warnings_allowed: 10\n", "")
    assert load_validation_rules(path)["settings"] == {"fail_on_warnings": False, "max_warnings_allowed": 10}


# ----- reading the file ------------------------------------------------------------------------
def test_non_utf8_file(tmp_path):
    path, line = copy_with(tmp_path, "  - {name: ids_positive,", "  - {name: ids_positive_\xff,")
    path.write_bytes(path.read_text().encode("latin-1"))
    error(path, "not UTF-8", "0xff", line=line)


def test_directory_instead_of_file(tmp_path):
    error(tmp_path, "cannot read", "directory")


def test_unreadable_file(tmp_path, monkeypatch):
    path, _ = copy_with(tmp_path, "version: 1", "version: 1")
    real_open = pathlib.Path.open

    def denied(self, *args, **kwargs):
        # the tests run as root, for whom chmod 000 changes nothing
        if self == path:
            raise PermissionError(13, "Permission denied", str(self))
        return real_open(self, *args, **kwargs)

    monkeypatch.setattr(pathlib.Path, "open", denied)
    error(path, "cannot read", "Permission denied")


def test_missing_file(tmp_path):
    error(tmp_path / "nope.yaml", "not found")


def test_yaml_syntax_error_gives_the_line(tmp_path):
    path, line = copy_with(tmp_path, "  - {name: ids_positive, severity: error, check: positive_keys}",
                           "  - {name: ids_positive, severity: error, check: positive_keys")
    message = error(path, "invalid YAML")
    reported = int(message.split(":")[1])
    assert line <= reported <= line + 1, message  # the parser notices at the next token


# ----- version and top level -------------------------------------------------------------------
@pytest.mark.parametrize("new", ["version: 2", "version: '1'", "version: true", "version: 1.0"])
def test_wrong_version(tmp_path, new):
    path, line = copy_with(tmp_path, "version: 1", new)
    error(path, "version: expected 1", line=line)


def test_missing_version_means_1_as_it_always_did(tmp_path):
    path, _ = copy_with(tmp_path, "version: 1\n", "")
    assert load_validation_rules(path)["rules"] == load_validation_rules(REAL)["rules"]


def test_what_people_write_in_rules_still_loads(tmp_path):
    """Notes (description, why, as the anonymization rules have), capitals in a name, a boolean value."""
    path, _ = copy_with(tmp_path, "{name: grade_level_0_12, severity: warn,",
                        "{name: Grade_Level_0_12, description: 'K to 12', why: state rule, severity: warn,")
    names = [r["name"] for r in load_validation_rules(path)["rules"]]
    assert "Grade_Level_0_12" in names
    path, _ = copy_with(tmp_path, "value: \"{{ var('district') }}\"", "value: true")
    assert any(r.get("value") is True for r in load_validation_rules(path)["rules"])


def test_unknown_top_level_key(tmp_path):
    path, line = copy_with(tmp_path, "version: 1\n", "version: 1\nrule: []\n")
    error(path, "unknown key 'rule'", line=line + 1)


# ----- rules: required keys per check ----------------------------------------------------------
def _required_key_cases():
    # The committed file uses every check, each rule with exactly the keys its check reads (the
    # optional ones aside: where clauses, as_of): dropping any one must be caught at load, not as a
    # KeyError later.
    for rule in yaml.safe_load(TEXT)["rules"]:
        for key in set(rule) - {"name", "severity", "check", "where", "other_where", "as_of"}:
            yield pytest.param(rule["name"], key, id=f"{rule['name']}-{key}")


@pytest.mark.parametrize("name, key", list(_required_key_cases()))
def test_every_key_the_renderer_reads_is_required(tmp_path, name, key):
    path = copy_with_doc(tmp_path, lambda doc: rule_of(doc, name).pop(key))
    error(path, f"rule {name!r}", f"needs `{key}`")


def test_range_without_min_and_rule_without_table(tmp_path):
    path, line = copy_with(tmp_path, "column: grade_level, min: 0, max: 12}", "column: grade_level, max: 12}")
    error(path, "rule 'grade_level_0_12'", "check range needs `min`", line=line)
    path, line = copy_with(tmp_path, "check: date_order, table: ids.staff, before", "check: date_order, before")
    error(path, "rule 'hire_before_termination'", "needs `table`", line=line)


def test_committed_file_uses_every_check():
    from datamig.scaffold.validation import CHECKS

    assert {r["check"] for r in yaml.safe_load(TEXT)["rules"]} == CHECKS


def test_render_time_error_names_the_rule_line():
    # an estate without the table: the renderer's error now carries the rule's line too
    with pytest.raises(ConfigError) as err:
        render_validation(load_validation_rules(REAL), [])
    assert str(err.value) == (f"{REAL}:{line_in_real('name: student_age_5_22')}: rule 'student_age_5_22': "
                              "no table 'ids.students' in the estate")


# ----- rules: unknown keys, names, severity, check ---------------------------------------------
def test_unknown_key_in_a_rule(tmp_path):
    path, line = copy_with(tmp_path, "column: grade_level, min: 0", "colum: grade_level, column: grade_level, min: 0")
    error(path, "rule 'grade_level_0_12'", "unknown key 'colum'", line=line)


def test_key_of_another_check_is_unknown(tmp_path):
    path, line = copy_with(tmp_path, "check: positive_keys}", "check: positive_keys, min: 1}")
    error(path, "rule 'ids_positive'", "unknown key 'min'", line=line)


def test_duplicate_rule_names(tmp_path):
    path, line = copy_with(tmp_path, "{name: hire_before_termination,", "{name: enrollment_before_graduation,")
    error(path, "rule 'enrollment_before_graduation'", "duplicate rule name",
          f"first at line {line_in_real('name: enrollment_before_graduation')}", line=line)


@pytest.mark.parametrize("old, new, needle", [
    ("severity: warn, check: range", "severity: [warn], check: range", "severity must be error or warn"),
    ("severity: warn, check: range", "severity: warn, check: [range]", "unknown check"),
    ("severity: warn, check: range", "severity: warn, check: between", "unknown check 'between'"),
], ids=["severity-list", "check-list", "check-unknown"])
def test_severity_and_check(tmp_path, old, new, needle):
    path, line = copy_with(tmp_path, old, new)
    error(path, "rule 'grade_level_0_12'", needle, line=line)


@pytest.mark.parametrize("new", ["{name: 'grade level'", "{name: 12", "{name: \"grade_level\\n\"", "{name: 1st_rule"])
def test_rule_name_must_be_an_identifier(tmp_path, new):
    path, line = copy_with(tmp_path, "{name: grade_level_0_12", new)
    error(path, "rule #2", "name: expected", line=line)


def test_rule_must_be_a_mapping(tmp_path):
    path, line = copy_with(tmp_path, "  - {name: ids_positive, severity: error, check: positive_keys}",
                           "  - ids_positive")
    error(path, "rule #17", "expected a mapping", line=line)


# ----- rules: values pasted into SQL -----------------------------------------------------------
@pytest.mark.parametrize("old, new, rule, needle", [
    ("grade_level, min: 0, max: 12}", "grade_level, min: zero, max: 12}", "grade_level_0_12", "min: expected a number"),
    ("grade_level, min: 0, max: 12}", "grade_level, min: 0, max: 12 or 1=1}", "grade_level_0_12",
     "max: expected a number"),
    ("grade_level, min: 0, max: 12}", "grade_level, min: 0, max: .nan}", "grade_level_0_12", "max: expected a number"),
    ("date_of_birth, min: 5, max: 22,", "date_of_birth, min: '5', max: 22,", "student_age_5_22",
     "min: expected a number"),
    ('as_of: "08-31"', 'as_of: "08-31\' or 1=1 --"', "student_age_5_22", "as_of: expected a quoted month and day"),
    ('as_of: "08-31"', 'as_of: "02-29"', "student_age_5_22", "as_of: expected a quoted month and day"),
    ('as_of: "08-31"', "as_of: 2024-08-31", "student_age_5_22", "as_of: expected a quoted month and day"),
    ("    min: 1\n    max: 100", "    min: 1.5\n    max: 100", "names_1_100_chars",
     "min: expected a non-negative integer"),
    ("    min: 10\n", "    min: ten\n", "at_least_10_students_per_school", "min: expected a non-negative integer"),
    ("tolerance: 0.05", "tolerance: 5%", "ids_hcp1_student_counts_within_5pct", "tolerance: expected a non-negative"),
    ('min: "2000-01-01"', "min: yesterday", "created_at_window", "min: expected a date"),
    ('min: "2000-01-01"', "min: \"2000-01-01' or 1=1 --\"", "created_at_window", "min: expected a date"),
    ("grade_level, min: 0, max: 12}", "grade_level, min: 12, max: 0}", "grade_level_0_12", "min 12 is above max 0"),
    ("columns: [id, district_id, name, state]", "columns: id", "school_required_fields",
     "columns: expected a non-empty list"),
    ("value: \"{{ var('district') }}\"", "value: null", "district_in_every_store", "value: expected"),
], ids=["range-min-word", "range-max-sql", "range-nan", "age-min-string", "as-of-sql", "as-of-leap-day",
        "as-of-date", "length-float", "min-children-word",
        "tolerance-percent", "date-word", "date-injection", "min-above-max", "columns-string",
        "value-null"])
def test_bad_values_are_named(tmp_path, old, new, rule, needle):
    path, _ = copy_with(tmp_path, old, new)
    error(path, f"rule {rule!r}", needle)


@pytest.mark.parametrize("new", ["min: 2001-02-30", 'min: "2001-02-30"'], ids=["unquoted", "quoted"])
def test_impossible_date(tmp_path, new):
    # unquoted, PyYAML itself raised ValueError while constructing the date
    path, line = copy_with(tmp_path, 'min: "2000-01-01"', new)
    error(path, "2001-02-30", line=line)


def test_timestamp_window_accepts_an_unquoted_yaml_date(tmp_path):
    path, _ = copy_with(tmp_path, 'min: "2000-01-01"', "min: 2000-01-01")
    rule = rule_of(load_validation_rules(path), "created_at_window")
    assert rule["min"] == datetime.date(2000, 1, 1)


# ----- rules: regex patterns -------------------------------------------------------------------
@pytest.mark.parametrize("pattern, needle", [
    ("'*[0-9]{3}-[0-9]{3}-[0-9]{4}$'", "nothing to repeat"),
    ("'^([0-9]{3}-[0-9]{3}-[0-9]{4}$'", "missing ), unterminated subpattern"),
    ("'^(?=[0-9])[0-9]{3}-[0-9]{3}-[0-9]{4}$'", "DuckDB (RE2)"),      # Python accepts lookahead, RE2 not
    ("'^([0-9])\\1{2}-[0-9]{3}-[0-9]{4}$'", "DuckDB (RE2)"),          # nor a backreference
    ("\"^[0-9]{3}'-[0-9]{3}-[0-9]{4}$\"", "single quote"),             # would end the SQL literal
], ids=["nothing-to-repeat", "unbalanced-paren", "lookahead", "backreference", "quote"])
def test_bad_regex_pattern(tmp_path, pattern, needle):
    path, line = copy_with(tmp_path, "pattern: '^[0-9]{3}-[0-9]{3}-[0-9]{4}$'", f"pattern: {pattern}")
    error(path, "rule 'phone_format'", "pattern", needle, line=line)


def test_a_range_on_a_numeric_without_precision_runs_on_the_text_it_lands_as(tmp_path):
    """A numeric without precision lands in the warehouse as its text (pg_types.duckdb_type), where
    `gpa between 0 and 4` was DuckDB's 'Cannot mix values of type VARCHAR and INTEGER_LITERAL':
    the rule's test errored on every run. The rule compares the number, in DuckDB and PostgreSQL."""
    import duckdb

    from datamig.extract.pg_types import duckdb_type
    from datamig.scaffold.layout import Dataset
    ds = Dataset("ids", "grades", "ids/grades.parquet", {"id": "integer", "gpa": "numeric"}, ("id",))
    rule = {"name": "gpa_0_4", "check": "range", "table": "ids.grades", "column": "gpa", "min": 0, "max": 4.5,
            "severity": "error"}
    tests = render_validation({"rules": [rule], "path": tmp_path / "rules.yaml"}, [ds])
    [[test]] = [t for cols in tests.column.values() for t in cols.values()]
    expression = test["datamig_expression"]["arguments"]["expression"]
    conn = duckdb.connect()
    conn.execute(f"create table grades (gpa {duckdb_type('numeric')})")
    conn.execute("insert into grades values ('3.5'), ('10'), (null), ('NaN'), ('4.5'), ('-0.00000000000000000001')")
    failing = conn.execute(f"select gpa from grades where not ({expression}) order by gpa").fetchall()
    assert failing == [("-0.00000000000000000001",), ("10",), ("NaN",)]
