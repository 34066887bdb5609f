"""`datamig scaffold [--check]` against the test estate's PROD, and what dbt makes of the
generated project (docs metadata and lineage), without a database or a salt (target lint)."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
GENERATED = "dbt_project/intermediate/ids/int_ids__students_anonymized.sql"


@pytest.fixture(scope="module")
def estate(cfg, tiny_estate):
    from datamig.scaffold.run import live_estate

    return live_estate(cfg, tiny_estate["env"])


@pytest.fixture(scope="module")
def files(cfg, estate):
    from datamig.scaffold.run import render

    return render(cfg, estate, ROOT)


@pytest.fixture
def project_copy(tmp_path) -> Path:
    for name in ("dbt_project.yml", "profiles.yml"):
        shutil.copy2(ROOT / name, tmp_path / name)
    for name in ("config", "macros", "dbt_project"):
        shutil.copytree(ROOT / name, tmp_path / name)
    return tmp_path


# ----------------------------------------------------------------------------- --check

def test_committed_project_is_up_to_date(files):
    from datamig.scaffold.run import stale

    assert len(files) > 200
    assert stale(ROOT, files) == []


def test_generated_yaml_spells_every_test_out(files):
    """Tests sharing one config dict were dumped as a YAML anchor and its aliases (&id001,
    *id001): valid, but a reader of the models saw a pointer, not the test."""
    written = {rel: text for rel, text in files.items() if rel.endswith(".yml")}
    assert written
    assert [rel for rel, text in written.items() if "&id0" in text or "*id0" in text] == []


def test_an_edited_generated_file_is_stale(files, project_copy):
    from datamig.scaffold.run import stale

    path = project_copy / GENERATED
    path.write_text(path.read_text().replace("as first_name,", "as first_name, -- hand edit", 1))
    assert stale(project_copy, files) == [GENERATED]


def test_missing_and_orphaned_generated_files_are_stale(files, project_copy):
    from datamig.scaffold.run import GENERATED_MARK, stale, write

    (project_copy / "dbt_project/marts/ids/ids__students.sql").unlink()
    orphan = project_copy / "dbt_project/marts/ids/ids__lockers.sql"
    orphan.write_text(f"-- {GENERATED_MARK} from introspection; do not edit, regenerate\nselect 1\n")
    own = project_copy / "dbt_project/marts/ids/my_own_model.sql"   # not generated: left alone
    own.write_text("select 1 as x\n")
    assert stale(project_copy, files) == ["dbt_project/marts/ids/ids__students.sql",
                                          "dbt_project/marts/ids/ids__lockers.sql"]
    write(project_copy, files)
    assert stale(project_copy, files) == []
    assert not orphan.exists() and own.exists()


def _override(project: Path, table: str, column: str, rule: str) -> None:
    """A per-column override of an ids table, written into the anonymized layer's YAML as a user would."""
    path = project / "dbt_project/intermediate/ids/_ids__intermediate.yml"
    doc = yaml.safe_load(path.read_text())
    model = next(m for m in doc["models"] if m["name"] == f"int_ids__{table}_anonymized")
    next(c for c in model["columns"] if c["name"] == column)["meta"]["datamig"]["override"] = rule
    path.write_text(yaml.safe_dump(doc, sort_keys=False))


def test_meta_override_survives_regeneration(cfg, estate, project_copy):
    """A per-column override written into the anonymized layer's YAML is read back by render()."""
    from datamig.scaffold.run import render

    _override(project_copy, "students", "preferred_name", "last_name")
    out = render(cfg, estate, project_copy)
    sql = out["dbt_project/intermediate/ids/int_ids__students_anonymized.sql"]
    assert "anonymize('preferred_name', strategy='faker', provider='last_name'" in sql


# ----------------------------------------------------------------------------- free text: related names

def _person_plan(rules, ds):
    from datamig.scaffold.anonymized import plan

    return plan(ds, rules, {})


def _note_estate():
    """students <- enrollments <- attendance (two hops), staff <- notes, a lookup with a bare
    `name`, a parent joined on a non-key column (skipped), and a graph Message ABOUT a Student."""
    from datamig.analyze.model import ForeignKey
    from datamig.scaffold.layout import Dataset

    def fk(table, cols, ref, ref_cols, declared=True):
        return ForeignKey(name=f"{table}_fk", store="s", table=table, columns=cols, ref_store="s", ref_table=ref,
                          ref_columns=ref_cols, nullable=True, declared=declared)

    grades = Dataset("s", "grades", "", {"id": "bigint", "name": "text"}, ("id",))
    students = Dataset("s", "students", "", {"id": "bigint", "first_name": "text", "last_name": "text",
                                             "grade_id": "bigint", "sis_code": "text"}, ("id",),
                       foreign_keys=[fk("students", ("grade_id",), "grades", ("id",))], unique_keys=[("sis_code",)])
    staff = Dataset("s", "staff", "", {"id": "bigint", "first_name": "text", "last_name": "text",
                                       "email": "text"}, ("id",))
    enrollments = Dataset("s", "enrollments", "", {"id": "bigint", "student_id": "bigint"}, ("id",),
                          foreign_keys=[fk("enrollments", ("student_id",), "students", ("id",))])
    attendance = Dataset("s", "attendance", "", {"enrollment_id": "bigint", "day": "date", "note": "text"},
                         ("enrollment_id", "day"),
                         foreign_keys=[fk("attendance", ("enrollment_id",), "enrollments", ("id",))])
    notes = Dataset("s", "counselor_notes", "", {"id": "bigint", "student_sis": "text", "author_id": "bigint",
                                                 "grade_id": "bigint", "teacher_email": "text", "body": "text"},
                    ("id",), foreign_keys=[
                        fk("counselor_notes", ("student_sis",), "students", ("sis_code",), declared=False),
                        fk("counselor_notes", ("author_id",), "staff", ("id",)),
                        fk("counselor_notes", ("grade_id",), "grades", ("id",)),
                        fk("counselor_notes", ("teacher_email",), "staff", ("email",))])   # not a key
    message = Dataset("g", "node_message", "", {"message_id": "bigint", "body": "text"}, ("message_id",),
                      kind="node", graph_name="Message")
    student_node = Dataset("g", "node_student", "", {"student_id": "bigint", "first_name": "text",
                                                     "last_name": "text"}, ("student_id",),
                           kind="node", graph_name="Student")
    about = Dataset("g", "rel_about", "", {"start_label": "text", "start_key": "bigint", "end_label": "text",
                                           "end_key": "bigint"}, ("start_label", "start_key", "end_label", "end_key"),
                    kind="relationship", graph_name="ABOUT", ends=[("Message", "Student")])
    return [grades, students, staff, enrollments, attendance, notes, message, student_node, about]


@pytest.fixture(scope="module")
def note_models():
    from datamig.anonymize.rules import load_rules
    from datamig.scaffold.anonymized import anonymized_sql

    rules = load_rules(ROOT / "config" / "anonymization-rules.yaml")
    sets = _note_estate()
    plans = {ds.id: _person_plan(rules, ds) for ds in sets}
    return {ds.name: anonymized_sql(ds, plans[ds.id], sets, plans) for ds in sets}


def test_free_text_is_scrubbed_of_parent_names_joined_on_their_key(note_models):
    sql = note_models["counselor_notes"]
    # one name expression for all parents: the student (through a link on a unique key) and the author
    assert "names=['dm_parent_names']" in sql and sql.rstrip().endswith("from named")
    assert ("left join {{ ref('stg_s__students') }} as student_sis\n"
            "        on src.student_sis = student_sis.sis_code") in sql
    assert "left join {{ ref('stg_s__staff') }} as author\n        on src.author_id = author.id" in sql
    for column in ("student_sis.first_name", "student_sis.last_name", "author.first_name", "author.last_name"):
        assert f"            {column},\n" in sql or f"            {column}\n" in sql
    # a lookup's bare `name` is no person; a join on a column that is not a key could repeat rows
    assert "grades" not in sql and "teacher_email =" not in sql
    # LEFT JOINs only, never an inner join: the row count is the staging model's
    assert "inner join" not in sql and sql.count("left join") == 2


def test_free_text_reaches_names_two_hops_away(note_models):
    sql = note_models["attendance"]
    assert ("left join {{ ref('stg_s__enrollments') }} as enrollment\n"
            "        on src.enrollment_id = enrollment.id") in sql
    assert ("left join {{ ref('stg_s__students') }} as enrollment_student\n"
            "        on enrollment.student_id = enrollment_student.id") in sql
    assert "enrollment_student.first_name" in sql and "names=['dm_parent_names']" in sql
    # no free text, no joins
    assert "join" not in note_models["enrollments"] and "join" not in note_models["students"]


def test_graph_free_text_is_scrubbed_of_related_node_names(note_models):
    sql = note_models["node_message"]
    # the students a message is ABOUT, one aggregated string per message: the LEFT JOIN cannot repeat it
    assert "from {{ ref('stg_g__rel_about') }} as rel" in sql
    assert "on rel.end_key = node.student_id" in sql and "group by rel.start_key" in sql
    assert "rel.start_label = 'Message'" in sql and "rel.end_label = 'Student'" in sql
    assert "left join about_student\n        on src.message_id = about_student.message_id" in sql
    assert "names=['dm_parent_names']" in sql


def test_committed_note_models_scrub_parent_names(files):
    """The estate's own note tables: each passes its parents' names to scrub_text."""
    inter = "dbt_project/intermediate"
    expect = {
        "ids/int_ids__counselor_notes_anonymized.sql": ["student.first_name", "student.last_name"],
        "ids/int_ids__attendance_anonymized.sql": ["enrollment_student.first_name", "enrollment_student.last_name"],
        "hcp1/int_hcp1__encounters_anonymized.sql": ["patient.first_name", "patient_ids_student.last_name"],
        "hcp2/int_hcp2__visits_anonymized.sql": ["member.given_name", "member_state_student.last_name"],
        "sp/int_sp__node_message_anonymized.sql": ["about_student.names", "to_guardian.names"],
    }
    for path, columns in expect.items():
        sql = files[f"{inter}/{path}"]
        assert "names=['dm_parent_names']" in sql, path
        assert all(c in sql for c in columns), path


def test_named_cte_is_materialized(files):
    """The parents' names come through left joins, whose probes cut a 2,048-row chunk into
    pieces of 1-250 rows: read straight from the joins, most UDF calls of a note model got a
    piece, ran it in the dbt process (under udf_workers.MIN_ROWS) and paid a call's fixed cost
    on a few rows. Materialized, the CTE is read back in full chunks."""
    named = {rel: sql for rel, sql in files.items() if "-- free text also loses the names" in sql}
    assert len(named) >= 10
    assert [rel for rel, sql in named.items() if "named as materialized (\n" not in sql] == []


# ----------------------------------------------------------------------------- validation rules

@pytest.mark.parametrize("edit, named", [
    ({"column": "date_of_birthday"}, "table ids.students has no column 'date_of_birthday'"),
    ({"table": "ids.pupils"}, "no table 'ids.pupils' in the estate"),
], ids=["column", "table"])
def test_validation_rule_naming_what_is_missing_is_a_one_line_config_error(cfg, estate, tmp_path, edit, named):
    from datamig.errors import ConfigError
    from datamig.scaffold.run import render

    doc = yaml.safe_load((ROOT / "config" / "validation-rules.yaml").read_text())
    rule = next(r for r in doc["rules"] if r["name"] == "student_age_5_22")
    rule.update(edit)
    path = tmp_path / "validation-rules.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    with pytest.raises(ConfigError) as err:
        render(cfg, estate, ROOT, validation_path=path)
    message = str(err.value)
    assert "\n" not in message
    assert str(path) in message and "'student_age_5_22'" in message and named in message


@pytest.mark.parametrize("table", ["ids.schoolz", "schoolz"])
def test_an_override_of_a_table_the_estate_lacks_is_a_one_line_config_error(cfg, estate, tmp_path, table):
    """The scaffold skipped it without a word and wrote the models (school names faked as a person's);
    only the next transform or migrate refused the rules."""
    from datamig.errors import ConfigError
    from datamig.scaffold.run import render

    text = (ROOT / "config" / "anonymization-rules.yaml").read_text()
    written = "  - {table: ids.schools, column: name, strategy: preserve}"
    path = tmp_path / "anonymization-rules.yaml"
    path.write_text(text.replace(written, written.replace("ids.schools", table), 1))
    line = path.read_text().splitlines().index(written.replace("ids.schools", table)) + 1
    with pytest.raises(ConfigError) as err:
        render(cfg, estate, ROOT, rules_path=path)
    assert str(err.value) == f"{path}:{line}: override {table}.name: no table {table!r} in the estate"


def _rules_file_with(tmp_path: Path, name: str, edit: dict) -> tuple[Path, int]:
    """A copy of the rules file with rule `name` edited; (its path, the rule's line)."""
    doc = yaml.safe_load((ROOT / "config" / "validation-rules.yaml").read_text())
    next(r for r in doc["rules"] if r["name"] == name).update(edit)
    path = tmp_path / "validation-rules.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    line = path.read_text().splitlines().index(f"- name: {name}") + 1
    return path, line


@pytest.mark.parametrize("name, edit, named", [
    ("active_teachers_have_a_class", {"column": "staff_id"}, "table ids.staff has no column 'staff_id'"),
    ("at_least_10_students_per_school", {"column": "school_id"}, "table ids.schools has no column 'school_id'"),
    ("student_school_in_student_district", {"column": "schol_id"}, "table ids.students has no column 'schol_id'"),
    ("student_school_in_student_district", {"parent_key": "school_id"},
     "table ids.schools has no column 'school_id'"),
    ("attendance_in_school_year", {"column": "attended_on"}, "table ids.attendance has no column 'attended_on'"),
    # where: unqualified, through the macro's aliases, in a {table:} subquery, on either side of count_ratio
    ("active_teachers_have_a_class", {"where": "role = 'teacher' and active"}, "table ids.staff has no column 'active'"),
    ("at_least_10_students_per_school", {"where": "p.district = {{ var('district') }}"},
     "table ids.schools has no column 'district'"),
    ("at_least_10_students_per_school", {"where": "c.grade < 13"}, "table ids.students has no column 'grade'"),
    ("active_teachers_have_a_class", {"where": "school_id in (select id from {table:ids.schools} where district = 1)"},
     "table ids.staff has no column 'district'"),
    ("ids_hcp1_student_counts_within_5pct", {"where": "district = {{ var('district') }}"},
     "table ids.students has no column 'district'"),
    ("ids_hcp1_student_counts_within_5pct", {"other_where": "no_such_column is null"},
     "table hcp1.patients has no column 'no_such_column'"),
], ids=["has_children.column", "min_children.column", "same_parent_value.column", "same_parent_value.parent_key",
        "within_range_of.column", "has_children.where", "min_children.where.p", "min_children.where.c",
        "has_children.where.subquery", "count_ratio.where", "count_ratio.other_where"])
def test_every_column_a_rule_names_is_checked_at_render(cfg, estate, tmp_path, name, edit, named):
    """Each used to render and fail only in dbt, on a Binder Error; now one line, nothing rendered."""
    from datamig.errors import ConfigError
    from datamig.scaffold.run import render

    path, line = _rules_file_with(tmp_path, name, edit)
    with pytest.raises(ConfigError) as err:
        render(cfg, estate, ROOT, validation_path=path)
    assert str(err.value) == f"{path}:{line}: rule {name!r}: {named}"


def test_a_where_clause_naming_real_columns_renders(cfg, estate, tmp_path):
    """Both aliases of min_children, jinja and a {table:} subquery bind: no false alarm."""
    from datamig.scaffold.run import render

    where = ("p.district_id = {{ var('district') }} and c.grade_level between 0 and 12 "
             "and p.id in (select id from {table:ids.schools} where state is not null)")
    path, _ = _rules_file_with(tmp_path, "at_least_10_students_per_school", {"where": where})
    files = render(cfg, estate, ROOT, validation_path=path)
    assert "c.grade_level between 0 and 12" in files["dbt_project/marts/ids/_ids__marts.yml"]


def test_a_count_ratio_where_clause_may_name_another_table_as_has_children_s_may(cfg, estate, tmp_path):
    """count_ratio pasted {table:store.table} into its SQL as written: dbt failed on it."""
    from datamig.scaffold.run import render

    where = "school_id in (select id from {table:ids.schools} where state is not null)"
    path, _ = _rules_file_with(tmp_path, "ids_hcp1_student_counts_within_5pct", {"where": where})
    rendered = render(cfg, estate, ROOT, validation_path=path)["dbt_project/marts/ids/_ids__marts.yml"]
    assert "{table:" not in rendered
    assert "school_id in (select id from {{ ref('ids__schools') }} where state is not null)" in rendered


# ----------------------------------------------------------------------------- dbt docs metadata

@pytest.fixture(scope="module")
def dbt_manifest(tmp_path_factory) -> dict:
    """`dbt parse --target lint` (what `dbt docs generate` documents): no database, no salt."""
    from dbt.cli.main import dbtRunner

    out = tmp_path_factory.mktemp("dbt")
    before, salt = Path.cwd(), os.environ.pop("DATAMIG_SALT", None)
    os.chdir(ROOT)  # the profile names the rules file relative to the project
    try:
        result = dbtRunner().invoke(["parse", "--quiet", "--project-dir", str(ROOT), "--profiles-dir", str(ROOT),
                                     "--target", "lint", "--target-path", str(out / "target"),
                                     "--log-path", str(out / "logs")])
    finally:
        os.chdir(before)
        if salt is not None:
            os.environ["DATAMIG_SALT"] = salt
    assert result.success, result.exception
    return json.loads((out / "target" / "manifest.json").read_text())


def test_pii_columns_carry_rule_and_strategy_in_the_docs(dbt_manifest):
    nodes = dbt_manifest["nodes"]
    for model in ("model.datamig.int_ids__students_anonymized", "model.datamig.ids__students"):
        columns = nodes[model]["columns"]
        assert columns["first_name"]["meta"]["datamig"] == {
            "pii": True, "rule": "first_name", "strategy": "faker", "provider": "first_name",
            "domain": "person.first_name"}
        assert columns["ssn"]["meta"]["datamig"]["strategy"] == "mask_format"
        assert columns["id"]["meta"]["datamig"] == {"pii": False, "rule": "surrogate_key", "strategy": "preserve"}
    for model in ("model.datamig.int_ids__students_anonymized", "model.datamig.ids__students"):
        assert {"pii", "rule:first_name", "strategy:faker"} <= set(nodes[model]["columns"]["first_name"]["tags"])
        assert not nodes[model]["columns"]["id"].get("tags")
    # every column of every final model says what happened to it
    finals = [n for n in nodes.values() if n["resource_type"] == "model" and n["path"].startswith("marts/")]
    assert len(finals) > 70
    for node in finals:
        for name, column in node["columns"].items():
            meta = column["meta"]["datamig"]
            assert "pii" in meta and "rule" in meta, f"{node['name']}.{name}"
            if meta["pii"]:
                assert meta["rule"] and meta["strategy"], f"{node['name']}.{name}"
                assert f"rule:{meta['rule']}" in column["tags"], f"{node['name']}.{name}"  # docs' search finds it


def test_docs_carry_prods_comments_and_what_is_done_to_every_column(dbt_manifest):
    """PROD's COMMENT ON TABLE / COLUMN reach dbt docs, and every column of the anonymized and
    final layers says whether it reaches CERT as PROD holds it (488 columns had no description)."""
    nodes, sources = dbt_manifest["nodes"], dbt_manifest["sources"]
    notes = "Free text written by staff; may name the student or their family."
    assert sources["source.datamig.prod_ids.students"]["columns"]["notes"]["description"] == notes
    assert sources["source.datamig.prod_ids.students"]["description"] == (
        "ids.students. A student enrolled at one school of the district.")
    final = nodes["model.datamig.ids__students"]
    assert final["description"].endswith(": loaded into CERT. A student enrolled at one school of the district.")
    assert final["columns"]["notes"]["description"] == f"{notes} PII: replaced by `scrub_text` (rule `free_text`)."
    assert final["columns"]["id"]["description"] == "Kept as PROD holds it (rule `surrogate_key`: preserve)."
    said = {"PII: replaced by", "Kept as PROD holds it", "Not PII: copied as PROD holds it"}
    layers = [n for n in nodes.values() if n["resource_type"] == "model"
              and n["path"].startswith(("marts/", "intermediate/")) and n["name"] != "int_pii_values"]
    assert len(layers) > 140
    for node in layers:
        for name, column in node["columns"].items():
            meta = column["meta"]["datamig"]
            told = next(s for s in said if s in column["description"])  # StopIteration: said nothing
            assert (told == "PII: replaced by") is meta["pii"], f"{node['name']}.{name}: {column['description']}"


def test_a_comment_holding_jinja_is_documented_as_written(cfg, estate, project_copy):
    """dbt renders descriptions as Jinja: a PROD comment holding `{{`, `{%` or `{#` broke every parse."""
    import dataclasses

    from dbt.cli.main import dbtRunner

    from datamig.analyze.model import Estate
    from datamig.scaffold.run import render, write

    odd = "Template {{ var('district') }} {% if x %}y{% endif %} {# c #} {% endraw %} kept."
    table = estate.tables["ids.students"]
    columns = [dataclasses.replace(c, comment=odd) if c.name == "notes" else c for c in table.columns]
    tables = {**estate.tables, "ids.students": dataclasses.replace(table, columns=columns, comment=odd)}
    write(project_copy, render(cfg, Estate(tables, estate.foreign_keys, estate.graphs), project_copy))
    before = Path.cwd()
    os.chdir(project_copy)
    try:
        result = dbtRunner().invoke(["parse", "--quiet", "--project-dir", str(project_copy), "--profiles-dir",
                                     str(project_copy), "--target", "lint"])
    finally:
        os.chdir(before)
    assert result.success, result.exception
    manifest = json.loads((project_copy / "target" / "manifest.json").read_text())
    source = manifest["sources"]["source.datamig.prod_ids.students"]
    kept = odd.replace("{% endraw", "{ % endraw")  # the one sequence a raw block cannot hold
    assert source["columns"]["notes"]["description"] == kept
    assert manifest["nodes"]["model.datamig.ids__students"]["columns"]["notes"]["description"].startswith(kept)


def test_comments_are_documentation_not_shape():
    """CERT's comments may differ from PROD's: no drift, and an analysis replayed keeps them."""
    from datamig.analyze.model import Column, Estate, Table

    assert Column("a", "text", True, 1, "PROD's words") == Column("a", "text", True, 1, "")
    estate = Estate(tables={"ids.t": Table("ids", "public", "t", [Column("a", "text", True, 1, "c")], ("a",),
                                           comment="table words")})
    again = Estate.from_dict(json.loads(json.dumps(estate.to_dict())))
    assert again.tables["ids.t"].comment == "table words" and again.tables["ids.t"].columns[0].comment == "c"


def test_lineage_source_staging_anonymized_final(dbt_manifest):
    parents = dbt_manifest["parent_map"]
    assert parents["model.datamig.ids__students"] == ["model.datamig.int_ids__students_anonymized"]
    # its own staging, the staging of the parents whose names its free text loses, and the
    # slice's real phones and SSNs (hashed), which its permuted phone must not be
    anonymized = parents["model.datamig.int_ids__students_anonymized"]
    assert "model.datamig.stg_ids__students" in anonymized and "model.datamig.int_pii_values" in anonymized
    assert all(p.startswith("model.datamig.stg_") for p in anonymized if p != "model.datamig.int_pii_values")
    assert all(p.startswith("model.datamig.stg_") for p in parents["model.datamig.int_pii_values"])
    assert parents["model.datamig.int_ids__states_anonymized"] == ["model.datamig.stg_ids__states"]
    assert parents["model.datamig.stg_ids__students"] == ["source.datamig.prod_ids.students"]
    source = dbt_manifest["sources"]["source.datamig.prod_ids.students"]
    assert source["meta"]["external_location"].endswith("/extract/ids/students.parquet")
    # the leak tests read both ends: the final model and the original (staging)
    leak_tests = [n for n in dbt_manifest["nodes"].values()
                  if n["resource_type"] == "test" and n.get("attached_node") == "model.datamig.ids__students"
                  and "leak" in n["config"]["tags"]]
    assert leak_tests
    assert all("model.datamig.stg_ids__students" in t["depends_on"]["nodes"] or
               "model.datamig.int_pii_values" in t["depends_on"]["nodes"] for t in leak_tests)


@pytest.fixture(scope="module")
def cert_manifest(tmp_path_factory):
    """The project parsed under the cert target (dbt-postgres; parsing connects to nothing)."""
    from dbt.cli.main import dbtRunner

    out = tmp_path_factory.mktemp("dbt-cert")
    before = Path.cwd()
    os.chdir(ROOT)
    try:
        result = dbtRunner().invoke(["parse", "--quiet", "--project-dir", str(ROOT), "--profiles-dir", str(ROOT),
                                     "--target", "cert", "--target-path", str(out / "target"),
                                     "--log-path", str(out / "logs")])
    finally:
        os.chdir(before)
    assert result.success, result.exception
    return json.loads((out / "target" / "manifest.json").read_text())


def test_cert_target_makes_finals_the_run_rows_of_cert_tables(cert_manifest, dbt_manifest):
    nodes = cert_manifest["nodes"]
    students = nodes["model.datamig.ids__students"]
    assert students["config"]["materialized"] == "ephemeral"
    assert cert_manifest["parent_map"]["model.datamig.ids__students"] == []
    assert "datamig_cert_rows('students') }}" in students["raw_code"]
    # graph finals have no PostgreSQL table: disabled, with their tests
    assert "model.datamig.sp__node_student" not in nodes
    assert not any(n["resource_type"] == "test" and "model.datamig.sp__node_student" in n["depends_on"]["nodes"]
                   for n in nodes.values())
    # the same tests as the transform's on every PostgreSQL final
    def tests_of(manifest, model):
        return sorted(n["name"] for n in manifest["nodes"].values()
                      if n["resource_type"] == "test" and n.get("attached_node") == model)
    assert tests_of(cert_manifest, "model.datamig.ids__enrollments") == \
        tests_of(dbt_manifest, "model.datamig.ids__enrollments")
    # the DuckDB side is unchanged: a table of the anonymized model, exported
    duck = dbt_manifest["nodes"]["model.datamig.ids__students"]
    assert duck["config"]["materialized"] == "table" and "datamig_export" in str(duck["config"]["post-hook"])


def test_dbt_test_against_cert_without_a_run_id_is_one_clear_error(tiny_estate, tmp_path):
    """Without a run_id every CERT test failed or errored (~140), naming no cause."""
    from datamig.verify.dbt_cert import profile_env

    env = {**os.environ, **profile_env(tiny_estate["env"]["CERT_IDS_URL"], "public")}
    proc = subprocess.run([str(ROOT / ".venv/bin/dbt"), "test", "--profiles-dir", str(ROOT), "--target", "cert",
                           "--vars", "{district: 42}", "--select", "tag:ids", "--target-path", str(tmp_path / "target"),
                           "--log-path", str(tmp_path / "logs")], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode != 0
    assert "target 'cert' tests CERT, which needs --vars run_id" in proc.stdout
    assert "Nothing to do" not in proc.stdout and " FAIL " not in proc.stdout and " ERROR " not in proc.stdout


def test_dbt_test_against_cert_of_a_run_never_loaded_is_one_clear_error(tiny_estate, tmp_path):
    """A mistyped or rolled-back run id: every test looked at no row (none of the run's keys in
    datamig.run_keys) and passed, exit 0, a green CI over nothing."""
    from datamig.verify.dbt_cert import profile_env

    env = {**os.environ, **profile_env(tiny_estate["env"]["CERT_IDS_URL"], "public")}
    proc = subprocess.run([str(ROOT / ".venv/bin/dbt"), "test", "--profiles-dir", str(ROOT), "--target", "cert",
                           "--vars", "{district: 42, run_id: mig-20990101-000000-d42}", "--select", "tag:ids",
                           "--indirect-selection", "cautious", "--exclude", "tag:leak",
                           "--target-path", str(tmp_path / "target"), "--log-path", str(tmp_path / "logs")],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode != 0
    assert ("run mig-20990101-000000-d42 loaded no rows into CERT database cert_ids (datamig.run_keys has none of "
            "it: a run id never loaded, or rolled back): its tests would pass over no rows") in proc.stdout, proc.stdout
    assert " PASS " not in proc.stdout and " FAIL " not in proc.stdout and "Traceback" not in proc.stdout


def test_dbt_test_against_cert_with_a_district_var_that_is_no_district_id_is_one_clear_error(tiny_estate, tmp_path):
    """The cert target has no plugin to refuse it: every test compared `district_id = abc`."""
    from datamig.verify.dbt_cert import profile_env

    env = {**os.environ, **profile_env(tiny_estate["env"]["CERT_IDS_URL"], "public")}
    proc = subprocess.run([str(ROOT / ".venv/bin/dbt"), "test", "--profiles-dir", str(ROOT), "--target", "cert",
                           "--vars", "{district: abc, run_id: mig-20990101-000000-d42}", "--select", "tag:ids",
                           "--target-path", str(tmp_path / "target"), "--log-path", str(tmp_path / "logs")],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode != 0
    assert "--vars district: 'abc' is not a district id (a positive whole number)" in proc.stdout
    assert " FAIL " not in proc.stdout and " ERROR " not in proc.stdout and "Traceback" not in proc.stdout


def test_a_regex_rule_means_the_whole_value_in_cert_as_in_the_transform(tiny_estate, tmp_path):
    """PostgreSQL's ~ matched the pattern anywhere in the value, DuckDB's regexp_full_match (the
    transform's) the whole value: a value that failed in the transform passed in CERT."""
    from datamig.verify.dbt_cert import profile_env

    cases = {"part": ("'ab1'", "[a-z]+"), "whole": ("'ab'", "[a-z]+"), "flag": ("'AB'", "(?i)[a-z]+"),
             "either": ("'b'", "a|b"), "anchored": ("'ab'", "^[a-z]+$")}
    inline = "select " + ", ".join(f"{{{{ datamig_regex_matches(\"{value}\", '{pattern}') }}}} as {name}"
                                   for name, (value, pattern) in cases.items())
    env = {**os.environ, **profile_env(tiny_estate["env"]["CERT_IDS_URL"], "public")}
    proc = subprocess.run([str(ROOT / ".venv/bin/dbt"), "show", "--profiles-dir", str(ROOT), "--target", "cert",
                           "--inline", inline, "--output", "json", "--log-format", "json",
                           "--target-path", str(tmp_path / "target"), "--log-path", str(tmp_path / "logs")],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-2000:]
    shown = [json.loads(line)["data"] for line in proc.stdout.splitlines() if '"preview"' in line]
    assert json.loads(shown[0]["preview"]) == [{"part": False, "whole": True, "flag": True, "either": True,
                                                "anchored": True}]


def test_a_table_with_a_unique_key_only_is_keyed_as_the_loader_records_it():
    """The loader records a run's keys of such a table by its unique key; the CERT model of
    validate-migration looked them up by every column, found none and tested no row."""
    from datamig.analyze.model import Column, Estate, Table
    from datamig.config import load_config
    from datamig.scaffold.layout import datasets

    cfg = load_config(Path(__file__).resolve().parents[1] / "config" / "datamig.yaml")
    cols = [Column("code", "text", False, 1), Column("v", "integer", True, 2)]
    table = Table("ids", "public", "codes", cols, (), unique_keys=[("code",)])
    (ds,) = [d for d in datasets(cfg, Estate(tables={table.id: table})) if d.name == "codes"]
    assert ds.key == ("code",)


def test_a_tables_other_unique_keys_are_tested_as_postgresql_judges_them():
    """Only the identifying key was tested: a unique column anonymized into repeats (an MRN
    masked, a username faked) passed the transform and stopped the load at CERT's constraint."""
    from datamig.analyze.model import Column, Estate, Table
    from datamig.config import load_config
    from datamig.scaffold.layout import datasets
    from datamig.scaffold.marts import key_tests

    cfg = load_config(Path(__file__).resolve().parents[1] / "config" / "datamig.yaml")
    cols = [Column("id", "bigint", False, 1), Column("mrn", "text", False, 2), Column("code", "text", False, 3),
            Column("variant", "text", True, 4)]
    table = Table("ids", "public", "charts", cols, ("id",),
                  unique_keys=[("mrn",), ("code", "variant"), ("variant", "code"), ("id",)])
    (ds,) = [d for d in datasets(cfg, Estate(tables={table.id: table})) if d.name == "charts"]
    columns, model = key_tests(ds)
    named = {"config": {"meta": {"rule": "unique_integrity"}}}
    assert columns == {"id": ["unique", "not_null"], "mrn": [{"unique": named}]}
    assert model == [{"datamig_unique_key": {"arguments": {"columns": ["code", "variant"], "nulls_distinct": True},
                                             **named}}]


def test_a_unique_key_declared_nulls_not_distinct_is_tested_so():
    """A key of PostgreSQL 15's NULLS NOT DISTINCT was tested as if NULLs clashed with none."""
    from datamig.analyze.model import Column, Estate, Table
    from datamig.config import load_config
    from datamig.scaffold.layout import datasets
    from datamig.scaffold.marts import key_tests

    cfg = load_config(Path(__file__).resolve().parents[1] / "config" / "datamig.yaml")
    cols = [Column("id", "bigint", False, 1), Column("code", "text", True, 2), Column("variant", "text", True, 3)]
    table = Table("ids", "public", "slots", cols, ("id",), unique_keys=[("code",), ("code", "variant")],
                  nulls_not_distinct=[("code",), ("code", "variant")])
    (ds,) = [d for d in datasets(cfg, Estate(tables={table.id: table})) if d.name == "slots"]
    columns, model = key_tests(ds)
    named = {"config": {"meta": {"rule": "unique_integrity"}}}
    assert columns == {"id": ["unique", "not_null"]}
    assert model == [{"datamig_unique_key": {"arguments": {"columns": key, "nulls_not_distinct": True}, **named}}
                     for key in (["code"], ["code", "variant"])]


def test_a_unique_column_replaced_by_a_rule_that_is_not_unique_is_named_at_scaffold(cfg, estate):
    """Its unique test failed the transform naming the column, not the rule that made repeats:
    the scaffold names both. The shipped rules keep every unique column of the estate unique."""
    from datamig.analyze.model import Column, Estate, Table
    from datamig.anonymize.rules import load_rules
    from datamig.scaffold import anonymized
    from datamig.scaffold.layout import datasets
    from datamig.scaffold.run import render
    from datamig.scaffold.unique_risks import unique_risks

    shipped: list[str] = []
    render(cfg, estate, ROOT, warnings=shipped)
    assert shipped == []
    cols = [Column("id", "bigint", False, 1), Column("first_name", "text", False, 2),
            Column("email", "text", False, 3), Column("nickname", "text", True, 4)]
    table = Table("ids", "public", "people", cols, ("id",), unique_keys=[("first_name",), ("email",),
                                                                        ("first_name", "nickname")])
    (ds,) = [d for d in datasets(cfg, Estate(tables={table.id: table})) if d.name == "people"]
    plans = {ds.id: anonymized.plan(ds, load_rules(ROOT / "config" / "anonymization-rules.yaml"), {})}
    (line,) = unique_risks([ds], plans)
    assert line.startswith("ids.people.first_name is unique in PROD, but rule `first_name` (faker) is not")


def test_datamig_scaffold_warns_of_a_unique_column_overridden_to_a_rule_that_is_not_unique(
        tiny_estate, project_copy):
    """The command, not just render(): the warning reaches the user, naming column and rule."""
    _override(project_copy, "users", "username", "first_name")
    proc = subprocess.run([str(ROOT / ".venv" / "bin" / "datamig"), "scaffold", "--check"], cwd=project_copy,
                          env={**os.environ, **tiny_estate["env"]}, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1, proc.stdout + proc.stderr  # the override changes the users model: stale
    assert ("warning: ids.users.username is unique in PROD, but rule `first_name` (faker) is not"
            in " ".join(proc.stdout.split()))


def test_an_fk_declared_on_each_of_two_partitions_is_tested_once():
    """Both partitions' FKs are FKs of the partitioned table, over the same columns: rendered
    twice, the two relationship tests of one name stopped dbt's parse."""
    from datamig.analyze.model import Column, Estate, ForeignKey, Table
    from datamig.config import load_config
    from datamig.scaffold.layout import datasets
    from datamig.scaffold.marts import fk_tests

    cfg = load_config(Path(__file__).resolve().parents[1] / "config" / "datamig.yaml")
    parent = Table("ids", "public", "zones", [Column("id", "integer", False, 1)], ("id",))
    child = Table("ids", "public", "visits", [Column("zone_id", "integer", False, 1),
                                               Column("day", "date", False, 2)], ("zone_id", "day"))
    fks = [ForeignKey(f"visits_{year}_fk", "ids", "visits", ("zone_id",), "ids", "zones", ("id",), False,
                      partition=f"public.visits_{year}", partition_filter=f"year = {year}") for year in (2023, 2024)]
    by_id = {d.id: d for d in datasets(cfg, Estate(tables={parent.id: parent, child.id: child}, foreign_keys=fks))}
    tests = fk_tests(by_id["ids.visits"], by_id)
    assert [t["datamig_relationship"]["name"] for t in tests] == ["fk_ids__visits__zone_id"]
    # it holds for those partitions' rows alone (test_analyze runs such a filter on DuckDB)
    assert tests[0]["datamig_relationship"]["arguments"]["row_filter"] == "(year = 2023) or (year = 2024)"
    # a hash partition's constraint is no SQL DuckDB reads: no test (CERT's FK holds for it)
    hashed = ForeignKey("visits_h_fk", "ids", "visits", ("zone_id",), "ids", "zones", ("id",), False,
                        partition="public.visits_h0", partition_filter="satisfies_hash_partition('1'::oid, 2, 0, year)")
    by_id = {d.id: d for d in datasets(cfg, Estate(tables={parent.id: parent, child.id: child}, foreign_keys=[hashed]))}
    assert fk_tests(by_id["ids.visits"], by_id) == []


def test_columns_pointing_at_two_parents_get_a_test_of_each():
    """Two FKs over one column (a person id that must be a student and a portal user): both
    tests were named by the child's columns only, and two tests of one name stop dbt's parse."""
    from datamig.analyze.model import Column, Estate, ForeignKey, Table
    from datamig.config import load_config
    from datamig.scaffold.layout import datasets
    from datamig.scaffold.marts import fk_tests

    cfg = load_config(Path(__file__).resolve().parents[1] / "config" / "datamig.yaml")
    parents = [Table("ids", "public", name, [Column("id", "integer", False, 1)], ("id",))
               for name in ("students", "portal_users")]
    child = Table("ids", "public", "visits", [Column("person_id", "integer", False, 1),
                                               Column("school_id", "integer", False, 2)], ("person_id",))
    fks = [ForeignKey(f"visits_{p.name}_fk", "ids", "visits", ("person_id",), "ids", p.name, ("id",), True)
           for p in parents]
    fks.append(ForeignKey("visits_school_fk", "ids", "visits", ("school_id",), "ids", "students", ("id",), True))
    tables = {t.id: t for t in (*parents, child)}
    by_id = {d.id: d for d in datasets(cfg, Estate(tables=tables, foreign_keys=fks))}
    tests = [t["datamig_relationship"] for t in fk_tests(by_id["ids.visits"], by_id)]
    assert [(t["name"], t["arguments"]["to"]) for t in tests] == [
        ("fk_ids__visits__person_id__to_ids__students__id", "ref('ids__students')"),
        ("fk_ids__visits__person_id__to_ids__portal_users__id", "ref('ids__portal_users')"),
        ("fk_ids__visits__school_id", "ref('ids__students')")]


@pytest.mark.parametrize("modifier", ["+", "-", ""])
def test_a_comment_cannot_close_the_raw_block_its_jinja_is_kept_in(modifier):
    """Jinja ends a raw block at `{%+ endraw %}` too: a PROD comment holding one closed it, and
    the Jinja after it ran in dbt's parse (an env_var() would print a secret into the docs)."""
    from dbt_common.clients.jinja import get_template, render_template

    from datamig.scaffold.describe import jinja_safe

    comment = f"a {{%{modifier} endraw %}}{{{{ 7 * 7 }}}}{{% raw %}} b"
    rendered = render_template(get_template(jinja_safe(comment), {}), {})
    assert "49" not in rendered and "{{ 7 * 7 }}" in rendered
