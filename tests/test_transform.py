"""`datamig transform` on the tiny estate: drift gate -> real `dbt build` -> validation report.

One full build of district 42 is shared by most assertions (module fixtures); the second
same-salt run builds models only, the other-salt and planted-leak runs build `--select`
subsets. Every run works on its own copy of one extract, in a private runs folder.
"""
from __future__ import annotations

import dataclasses
import json
import re
import shutil
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from conftest import SALT

ROOT = Path(__file__).resolve().parents[1]
OTHER_SALT = "another-salt-9876543210"
RUN_A = "mig-20260101-000000-d42"          # the full build
RUN_SAME = "mig-20260101-000001-d42"       # same salt, models only
RUN_OTHER = "mig-20260101-000002-d42"      # other salt, a subset
RUN_LEAK = "mig-20260101-000003-d42"       # planted leaks, in a copy of the project
RUN_TWIN = "mig-20260101-000011-d42"       # a real phone that is another guardian's fake
RUN_STOPPED = "mig-20260101-000012-d42"    # a re-transform that stops in dbt
RUN_COMPOUND = "mig-20260101-000020-d42"   # a student named with a two-word first and last name
RUN_RESALTED = "mig-20260101-000021-d42"   # built under one salt, then transformed whole under another
EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")
SSN = re.compile(r"\b[0-9]{3}-[0-9]{2}-[0-9]{4}\b")
PHONE = re.compile(r"(\+?1[ .-]?)?(\([0-9]{3}\)|\b[0-9]{3})[ .-]?[0-9]{3}[ .-]?[0-9]{4}\b")
TEXT_TYPES = ("VARCHAR", "JSON", "VARCHAR[]")


# ----------------------------------------------------------------------------- helpers

def rp(path: Path) -> str:
    return "read_parquet('" + str(path).replace("'", "''") + "')"


def rows(path: Path, sql: str) -> list[tuple]:
    """`sql` with {t} standing for the Parquet file."""
    return duckdb.sql(sql.format(t=rp(path))).fetchall()


def dataset_paths(manifest: dict) -> list[str]:
    """Every extracted file, relative to extract/: tables, node labels, relationship types."""
    graph = manifest.get("graph") or {}
    return ([e["path"] for e in manifest["tables"].values()]
            + [e["path"] for kind in ("nodes", "relationships") for e in (graph.get(kind) or {}).values()])


def text_values(base: Path, rel_paths: list[str]):
    """(file, column, value as text) of every text-like column of every file."""
    for rel in rel_paths:
        path = base / rel
        for name, type_, *_ in duckdb.sql(f"describe select * from {rp(path)}").fetchall():
            if type_ in TEXT_TYPES:
                q = '"' + name.replace('"', '""') + '"'
                for (value,) in duckdb.sql(f"select cast({q} as varchar) from {rp(path)} where {q} is not null").fetchall():
                    yield rel, name, value


def clone_run(runs: Path, source: str, target: str) -> Path:
    """A new run holding a copy of `source`'s extract (an extract is immutable: sharing its
    bytes is what a rerun of the transform does)."""
    shutil.copytree(runs / source / "extract", runs / target / "extract")
    return runs / target


def copy_project(dest: Path) -> Path:
    for name in ("dbt_project.yml", "profiles.yml"):
        shutil.copy2(ROOT / name, dest / name)
    for name in ("config", "macros", "dbt_project", "seeds"):
        if (ROOT / name).exists():
            shutil.copytree(ROOT / name, dest / name)
    return dest


def replace_line(path: Path, pattern: str, new: str) -> None:
    text = path.read_text()
    changed, n = re.subn(pattern, new, text, flags=re.M)
    assert n == 1, f"{path.name}: expected one line matching {pattern!r}"
    path.write_text(changed)


# ----------------------------------------------------------------------------- fixtures

@pytest.fixture(scope="module")
def env(tiny_estate):
    return tiny_estate["env"]


@pytest.fixture(scope="module")
def senv(env):
    """The estate env plus the test salt (transform reads the salt from env, else os.environ)."""
    return {**env, "DATAMIG_SALT": SALT}


@pytest.fixture(scope="module")
def xcfg(cfg, tmp_path_factory):
    return dataclasses.replace(cfg, out_dir=tmp_path_factory.mktemp("runs"))


@pytest.fixture(scope="module")
def extracted(xcfg, env):
    from datamig.extract.run import extract

    return extract(xcfg, env, 42, run_id=RUN_A)


@pytest.fixture(scope="module")
def built(xcfg, senv, extracted):
    """The full transform of district 42: (report, run folder)."""
    from datamig.transform import transform

    report = transform(xcfg, senv, RUN_A, 42, root=ROOT)
    return report, xcfg.out_dir / RUN_A


@pytest.fixture(scope="module")
def same_salt(xcfg, senv, built):
    """A second run of the same extract with the same salt: every model, no tests."""
    from datamig.transform import transform

    clone_run(xcfg.out_dir, RUN_A, RUN_SAME)
    report = transform(xcfg, senv, RUN_SAME, 42, root=ROOT, extra_args=["--exclude-resource-type", "test"])
    return report, xcfg.out_dir / RUN_SAME


@pytest.fixture(scope="module")
def other_salt(xcfg, env, built):
    from datamig.transform import transform

    clone_run(xcfg.out_dir, RUN_A, RUN_OTHER)
    report = transform(xcfg, {**env, "DATAMIG_SALT": OTHER_SALT}, RUN_OTHER, 42, root=ROOT,
                       select=["+ids__students", "+sp__node_student", "+hcp1__patients"],
                       extra_args=["--exclude-resource-type", "test"])
    return report, xcfg.out_dir / RUN_OTHER


@pytest.fixture(scope="module")
def planted(xcfg, senv, built, tmp_path_factory):
    """Hand-made leaks in a copy of the project: students.first_name passed through unchanged,
    counselor notes' free text not scrubbed (it holds e-mail addresses), and in the extract an
    e-mail under a key of a student's document that no rule classifies (it stays as it is)."""
    from datamig.transform import transform

    project = copy_project(tmp_path_factory.mktemp("project"))
    inter = project / "dbt_project" / "intermediate" / "ids"
    replace_line(inter / "int_ids__students_anonymized.sql", r"^.*\bas first_name,$", "    first_name,")
    replace_line(inter / "int_ids__counselor_notes_anonymized.sql", r"^.*\bas body$", "    body")
    run = clone_run(xcfg.out_dir, RUN_A, RUN_LEAK)
    _edit_a_document(run / "extract" / "ids" / "students.parquet",
                     lambda doc: doc.update(pediatrician={"office": {"reach_at": UNCLASSIFIED_KEY_EMAIL}}))
    report = transform(xcfg, senv, RUN_LEAK, 42, root=project,
                       select=["+ids__students", "+ids__counselor_notes", "+int_pii_values"],
                       extra_args=["--indirect-selection", "cautious"])
    return report, xcfg.out_dir / RUN_LEAK


DOCUMENT_ONLY_PHONE = "(212) 555-0147"   # planted in one emergency-contacts document, in no column
DOCUMENT_ONLY_EMAIL = "Only.In.A.Document@example.org"   # the same document, at a path no rule names
UNCLASSIFIED_KEY_EMAIL = "kept.as.is@example.org"   # planted under a key no rule classifies


def _edit_a_document(path: Path, edit) -> None:
    """`edit` applied to the first emergency-contacts document that lists guardians."""
    table = pq.read_table(path)
    docs = table["emergency_contacts"].to_pylist()
    i = next(i for i, d in enumerate(docs) if d and json.loads(d).get("guardians"))
    doc = json.loads(docs[i])
    edit(doc)
    docs[i] = json.dumps(doc)
    column = table.schema.get_field_index("emergency_contacts")
    pq.write_table(table.set_column(column, table.schema.field(column), pa.array(docs, table.schema.field(column).type)), path)


@pytest.fixture(scope="module")
def coincidence(xcfg, senv, built):
    """A copy of the extract in which guardian B's real mobile phone is what guardian A's became
    in the full build: the coincidence a keyed permutation makes now and then at scale (it did
    at `reference`). Returns (report, run folder, A's id, B's id, A's old fake)."""
    from datamig.transform import transform

    run = clone_run(xcfg.out_dir, RUN_A, RUN_TWIN)
    path = run / "extract" / "ids" / "guardians.parquet"
    table = pq.read_table(path)
    ids, phones = table["id"].to_pylist(), table["mobile_phone"].to_pylist()
    a, b = [i for i, p in enumerate(phones) if p][:2]
    fake_a = dict(rows(built[1] / "final" / "ids/guardians.parquet", "select id, mobile_phone from {t}"))[ids[a]]
    phones[b] = fake_a
    column = table.schema.get_field_index("mobile_phone")
    pq.write_table(table.set_column(column, table.schema.field(column), pa.array(phones, table["mobile_phone"].type)), path)
    _edit_a_document(run / "extract" / "ids" / "students.parquet", lambda doc: (
        doc["guardians"][0].update(phone=DOCUMENT_ONLY_PHONE), doc.update(pediatrician={"email": DOCUMENT_ONLY_EMAIL})))
    report = transform(xcfg, senv, RUN_TWIN, 42, root=ROOT, select=["+ids__guardians"],
                       extra_args=["--indirect-selection", "cautious"])
    return report, run, ids[a], ids[b], fake_a


@pytest.fixture(scope="module")
def compound(xcfg, senv, built):
    """A copy of the extract in which one student is María José de la Cruz in ids.students and in
    adb's risk scores. Returns (run folder, the student's id)."""
    from datamig.transform import transform

    run = clone_run(xcfg.out_dir, RUN_A, RUN_COMPOUND)
    student = rows(run / "extract" / "adb/student_risk_scores.parquet",
                   "select min(student_id) from {t} where student_name is not null")[0][0]
    _set_where(run / "extract" / "ids/students.parquet", "id", student,
               {"first_name": "María José", "last_name": "de la Cruz"})
    _set_where(run / "extract" / "adb/student_risk_scores.parquet", "student_id", student,
               {"student_name": "María José de la Cruz"})
    transform(xcfg, senv, RUN_COMPOUND, 42, root=ROOT, select=["+ids__students", "+adb__student_risk_scores"],
              extra_args=["--exclude-resource-type", "test"])
    return run, student


def _set_where(path: Path, key: str, value, columns: dict[str, str]) -> None:
    table = pq.read_table(path)
    hit = [k == value for k in table[key].to_pylist()]
    assert any(hit)
    for name, new in columns.items():
        old, i = table[name].to_pylist(), table.schema.get_field_index(name)
        changed = [new if h else v for h, v in zip(hit, old)]
        table = table.set_column(i, table.schema.field(i), pa.array(changed, table.schema.field(i).type))
    pq.write_table(table, path)


# ----------------------------------------------------------------------------- (a) the full transform

def test_full_transform_passes(built):
    report, run = built
    assert report["status"] in ("PASSED", "PASSED_WITH_WARNINGS"), report["reason"]
    assert report["counts"]["errors"] == 0 and report["model_errors"] == []
    # models dbt executes: the 75 finals and int_pii_values (staging and anonymized are ephemeral)
    assert report["counts"]["models_errored"] == 0 and report["counts"]["models"] > 70
    assert report["counts"]["tests"] > 400
    assert report["counts"]["warnings"] <= report["settings"]["max_warnings_allowed"]
    assert {"pk_integrity", "fk_integrity", "pii_leak", "graph_integrity", "student_age_5_22"} <= set(report["by_rule"])
    assert report["by_severity"]["error"]["failed"] == 0 and report["by_severity"]["error"]["errored"] == 0
    assert report["scope"] == {"selection": "full"}
    on_disk = json.loads((run / "validation-report.json").read_text())
    assert on_disk["status"] == report["status"] and on_disk["counts"] == report["counts"]
    for name in ("run_results.json", "manifest.json"):
        assert (run / "dbt" / name).exists()
    assert {"drift_gate_s", "dbt_s", "report_s", "total_s"} <= set(report["timings"])


def test_warnings_name_their_rows_by_key_only(built):
    report, run = built
    nodes = json.loads((run / "dbt" / "manifest.json").read_text())["nodes"]
    assert report["failures"], "the tiny estate has known warnings (phone formats)"
    for failure in report["failures"]:
        assert not failure["blocking"] and failure["severity"] == "warn" and failure["status"] == "warn"
        assert set(failure) >= {"model", "column", "rule", "severity", "failures", "sample_keys"}
        columns = nodes[f"model.datamig.{failure['model']}"]["columns"]
        for key in failure["sample_key_columns"]:
            assert columns[key]["meta"]["datamig"]["pii"] is False, f"{failure['model']}.{key} is PII"
        assert 1 <= len(failure["sample_keys"]) <= 5 or failure["rule"] in ("district_in_every_store",
                                                                            "ids_hcp1_student_counts_within_5pct")
        for key in failure["sample_keys"]:
            assert list(key) == failure["sample_key_columns"]


def test_pii_scan_flags_unclassified_columns(built, extracted, tmp_path):
    """Every PII-shaped column of the estate is classified, so the real build flags nothing;
    a column left without a rule (its meta.datamig.rule emptied in a project copy) is flagged
    by the shape of its values, with counts only."""
    from datamig.anonymize.rules import load_rules
    from datamig.transform.drift import pii_warnings

    report, run = built
    assert report["pii_scan"] == []
    root = Path(__file__).resolve().parents[1]
    copy = tmp_path / "project"
    shutil.copytree(root / "dbt_project", copy / "dbt_project")
    yml = copy / "dbt_project/intermediate/hcp1/_hcp1__intermediate.yml"
    text = yml.read_text()
    column = "  - name: instructions\n    data_type: text\n"
    marker = (column + "    description: 'PII: replaced by `scrub_text` (rule `free_text`).'\n"
              "    meta:\n      datamig:\n        pii: true\n        rule: free_text\n")
    assert marker in text
    yml.write_text(text.replace(marker, column + "    meta:\n      datamig:\n        pii: false\n        rule: null\n"))
    findings = pii_warnings(copy, run / "extract", load_rules(root / "config/anonymization-rules.yaml"))
    flagged = {f["column"]: f for f in findings}
    assert "hcp1.medications.instructions" in flagged
    finding = flagged["hcp1.medications.instructions"]
    assert finding["shape"] == "phone" and finding["matched"] > 0
    assert set(finding) == {"column", "shape", "how", "matched", "sampled"}  # counts, never values


def test_pii_scan_flags_a_document_key_no_rule_classifies(built, tmp_path):
    """An email under a key of the students' emergency-contacts documents that no rule
    classifies (by_key leaves it as it is) is flagged with the document path, counts only."""
    from datamig.anonymize.rules import load_rules
    from datamig.transform.drift import pii_warnings

    _, run = built
    extract = tmp_path / "extract"
    shutil.copytree(run / "extract", extract)
    path = extract / "ids" / "students.parquet"
    table = pq.read_table(path)
    docs = [json.dumps({**json.loads(d), "pediatrician": {"reach_at": f"doc{i}@clinic.example.org"}}) if d else d
            for i, d in enumerate(table["emergency_contacts"].to_pylist())]
    column = table.schema.get_field_index("emergency_contacts")
    pq.write_table(table.set_column(column, table.schema.field(column), pa.array(docs, table.schema.field(column).type)),
                   path)
    root = Path(__file__).resolve().parents[1]
    findings = {f["column"]: f for f in pii_warnings(root, extract, load_rules(root / "config/anonymization-rules.yaml"))}
    finding = findings["ids.students.emergency_contacts:$.pediatrician.reach_at"]
    assert finding["shape"] == "email" and finding["how"] == "whole" and finding["matched"] > 0
    assert "@" not in json.dumps(findings)   # counts, never values


def test_final_parquet_for_every_dataset_with_equal_row_counts(built, extracted):
    _, run = built
    paths = dataset_paths(extracted)
    assert len(paths) == len(extracted["tables"]) + len(extracted["graph"]["nodes"]) + len(extracted["graph"]["relationships"])
    for rel in paths:
        final = run / "final" / rel
        assert final.exists(), f"no final/{rel}"
        n_in = rows(run / "extract" / rel, "select count(*) from {t}")[0][0]
        n_out = rows(final, "select count(*) from {t}")[0][0]
        assert n_in == n_out, f"{rel}: {n_in} rows extracted, {n_out} in final"


def test_no_email_or_ssn_of_the_extract_survives_anywhere(built, extracted):
    """Every e-mail address and SSN found anywhere in the extract (columns, free text, JSON,
    arrays, graph properties) is absent from every text value of final/."""
    _, run = built
    paths = dataset_paths(extracted)
    emails, ssns = set(), set()
    for _, _, value in text_values(run / "extract", paths):
        emails.update(m.lower() for m in EMAIL.findall(value))
        ssns.update(m.group(0) for m in SSN.finditer(value))
    assert len(emails) > 50 and len(ssns) > 10  # the spot-check checks something
    leaks = []
    for rel, column, value in text_values(run / "final", paths):
        low = value.lower()
        leaks += [(rel, column, "email") for e in EMAIL.findall(low) if e in emails]
        leaks += [(rel, column, "ssn") for m in SSN.finditer(value) if m.group(0) in ssns]
    assert leaks == []


def test_structured_pii_columns_hold_no_original_of_their_row(built):
    _, run = built
    for rel, key, cols in (("ids/students.parquet", "id", ("first_name", "last_name", "email", "ssn", "phone")),
                           ("ids/staff.parquet", "id", ("first_name", "last_name", "email")),
                           ("hcp1/patients.parquet", "id", ("first_name", "last_name", "email")),
                           ("sp/nodes/Student.parquet", "student_id", ("first_name", "last_name", "email"))):
        for col in cols:
            kept = duckdb.sql(f"select count(*) from {rp(run / 'final' / rel)} f join {rp(run / 'extract' / rel)} o "
                              f"using ({key}) where f.{col} = o.{col}").fetchall()[0][0]
            total = duckdb.sql(f"select count({col}) from {rp(run / 'extract' / rel)}").fetchall()[0][0]
            assert total > 0
            # a dictionary pick may hit the original by chance (about 1 in 20,000 per name)
            assert kept <= max(1, total // 100), f"{rel}.{col}: {kept} of {total} rows kept their value"


def test_no_phone_number_of_the_extract_survives_in_free_text(built, extracted):
    _, run = built
    paths = dataset_paths(extracted)
    phones = {re.sub(r"\D", "", m.group(0))[-10:] for _, _, v in text_values(run / "extract", paths)
              for m in PHONE.finditer(v)}
    leaks = {(rel, col) for rel, col, v in text_values(run / "final", paths)
             for m in PHONE.finditer(v) if re.sub(r"\D", "", m.group(0))[-10:] in phones}
    assert leaks == set()


def _full_name_leaks(run: Path, extracted: dict, keep) -> set[tuple[str, str]]:
    names = {f"{f} {l}" for f, l in rows(run / "extract" / "ids/students.parquet",
                                         "select first_name, last_name from {t}") if keep(f, l)}
    assert names
    return {(rel, col) for rel, col, v in text_values(run / "final", dataset_paths(extracted))
            if any(n in v for n in names)}


def test_no_student_full_name_survives_in_free_text(built, extracted):
    """Notes in other tables and stores name the student (counselor_notes.body, encounters.notes,
    visits.nurse_notes, attendance.note, the graph's Message.body): scrub_text is handed the names
    of the parents the row points at (FKs and links, two hops) and of related graph nodes."""
    _, run = built
    assert _full_name_leaks(run, extracted, lambda f, l: len(f) >= 2 and len(l) >= 2) == set()


def test_no_student_name_of_one_character_parts_survives_in_free_text(built, extracted):
    """A one-character CJK given and family name ('芳 王'): scrub_text removes one-character name
    parts outside Latin script (Latin initials stay)."""
    _, run = built
    assert _full_name_leaks(run, extracted, lambda f, l: len(f) < 2 and len(l) < 2) == set()


def test_the_report_names_the_dictionaries_the_fakes_came_from(built):
    """A Faker upgrade changes the lists and with them every fake of a salt: the report says which."""
    import faker

    from datamig.anonymize.dictionaries import build as build_dictionaries, fingerprint
    from datamig.anonymize.rules import load_rules

    report, run = built
    settings = load_rules(ROOT / "config" / "anonymization-rules.yaml").settings
    dicts = build_dictionaries(settings.dictionaries, settings.faker_locale, settings.dictionary_seed)
    assert report["anonymization"] == {"dictionaries_sha256": fingerprint(dicts), "faker": faker.VERSION,
                                       "locale": settings.faker_locale, "dictionary_seed": settings.dictionary_seed}
    assert json.loads((run / "validation-report.json").read_text())["anonymization"] == report["anonymization"]


def test_salt_is_written_nowhere(built):
    _, run = built
    needle = SALT.encode()
    for path in run.rglob("*"):
        if path.is_file():
            assert needle not in path.read_bytes(), f"salt found in {path.relative_to(run)}"


# ----------------------------------------------------------------------------- (b) determinism

def test_same_salt_gives_byte_identical_final_parquet(built, same_salt, extracted):
    _, run_a = built
    report, run_b = same_salt
    assert report["scope"]["selection"] == "partial" and report["counts"]["tests"] == 0
    for rel in dataset_paths(extracted):
        a, b = run_a / "final" / rel, run_b / "final" / rel
        assert a.read_bytes() == b.read_bytes(), f"final/{rel} differs between two runs with the same salt"


def test_a_second_run_of_the_district_reuses_the_first_runs_parse(same_salt):
    """dbt runs inside the run folder with the same vars every time: its partial parse of one
    run is valid for the next (a full parse of the project is most of dbt's start-up)."""
    log = (same_salt[1] / "dbt" / "logs" / "dbt.log").read_text()
    assert "Partial parsing enabled, no changes found" in log
    assert "Starting full parse" not in log


def test_dbt_sends_no_usage_events(built):
    """dbt_project.yml turns dbt's anonymous usage tracking off: nothing about a run leaves
    the machine (dbt logs every event it sends)."""
    log = (built[1] / "dbt" / "logs" / "dbt.log").read_text()
    assert "Running with dbt" in log
    assert "Sending event" not in log


def test_preload_imports_dbt_in_the_background():
    """The runner imports dbt while the extract waits on servers; a fresh process shows it."""
    import subprocess
    import sys

    code = ("import sys; from datamig.transform.dbt_process import preload; t = preload(); "
            "assert t.daemon; t.join(); print(sorted(m for m in sys.modules if m in "
            "('dbt.cli.main', 'dbt.task.build', 'dbt.adapters.duckdb')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "['dbt.adapters.duckdb', 'dbt.cli.main', 'dbt.task.build']"


def test_a_full_transform_builds_a_run_again_under_another_salt(xcfg, env, built):
    """The build records its salt (salt-check), and dbt refuses a build or test under another
    (models and leak tests would mix two keys); `datamig transform`, which builds every model
    again, is how a run changes salt."""
    from datamig.transform import transform

    run = clone_run(xcfg.out_dir, RUN_A, RUN_RESALTED)
    shutil.copy2(built[1] / "salt-check", run / "salt-check")
    report = transform(xcfg, {**env, "DATAMIG_SALT": OTHER_SALT}, RUN_RESALTED, 42, root=ROOT)
    assert report["counts"]["tests"] > 0 and (run / "salt-check").read_text() != (built[1] / "salt-check").read_text()


def test_other_salt_gives_other_names(built, other_salt):
    _, run_a = built
    report, run_c = other_salt
    assert report["counts"]["models_errored"] == 0
    for rel, key in (("ids/students.parquet", "id"), ("sp/nodes/Student.parquet", "student_id"),
                     ("hcp1/patients.parquet", "id")):
        a = dict(rows(run_a / "final" / rel, f"select {key}, first_name from {{t}}"))
        c = dict(rows(run_c / "final" / rel, f"select {key}, first_name from {{t}}"))
        assert a.keys() == c.keys()
        differ = sum(1 for k in a if a[k] != c[k])
        assert differ >= 0.9 * len(a), f"{rel}: only {differ} of {len(a)} first names changed with the salt"
    # keys are kept whatever the salt
    ids = lambda run: [r[0] for r in rows(run / "final" / "ids/students.parquet", "select id from {t} order by id")]
    assert ids(run_a) == ids(run_c)


# ----------------------------------------------------------------------------- (c) consistency across stores

def test_same_name_same_fake_across_ids_graph_and_hcp1(built):
    _, run = built
    f, e = run / "final", run / "extract"
    sql = f"""
        select s.id, so.first_name, s.first_name, n.first_name, p.first_name
        from {rp(f / 'ids/students.parquet')} s
        join {rp(e / 'ids/students.parquet')} so on so.id = s.id
        join {rp(f / 'sp/nodes/Student.parquet')} n on n.student_id = s.id
        join {rp(e / 'sp/nodes/Student.parquet')} no on no.student_id = s.id
        join {rp(f / 'hcp1/patients.parquet')} p on p.ids_student_id = s.id
        join {rp(e / 'hcp1/patients.parquet')} po on po.id = p.id
        where so.first_name = no.first_name and so.first_name = po.first_name"""
    found = duckdb.sql(sql).fetchall()
    assert len(found) >= 10
    for student, original, ids_fake, graph_fake, hcp1_fake in found:
        assert ids_fake == graph_fake == hcp1_fake, f"student {student}: {ids_fake!r} / {graph_fake!r} / {hcp1_fake!r}"
    assert sum(1 for r in found if r[1] != r[2]) >= 0.9 * len(found)


def test_a_compound_name_is_faked_in_adb_as_in_its_students_columns(compound):
    """'María José' + 'de la Cruz' in ids.students is 'María José de la Cruz' in adb's
    student_name, where no rule can tell the given names from the surname (split on its last
    space it was 'María' + 'José de la' + 'Cruz'): int_pii_values records where the slice's
    name columns split it, and the full name is faked the same way."""
    run, student = compound
    f = run / "final"
    fake_first, fake_last = rows(f / "ids/students.parquet",
                                 f"select first_name, last_name from {{t}} where id = {student}")[0]
    fulls = {v for (v,) in rows(f / "adb/student_risk_scores.parquet",
                                f"select student_name from {{t}} where student_id = {student}")}
    assert fulls == {f"{fake_first} {fake_last}"}


def test_same_first_name_same_fake_in_hcp2_members(built):
    """hcp2.members.given_name is in the same domain (person.first_name) as students.first_name."""
    _, run = built
    f, e = run / "final", run / "extract"
    pairs = duckdb.sql(f"""
        select distinct so.first_name, s.first_name, m.given_name
        from {rp(e / 'ids/students.parquet')} so
        join {rp(f / 'ids/students.parquet')} s on s.id = so.id
        join {rp(e / 'hcp2/members.parquet')} mo on mo.given_name = so.first_name
        join {rp(f / 'hcp2/members.parquet')} m on m.id = mo.id""").fetchall()
    assert pairs
    assert all(fake == member_fake for _, fake, member_fake in pairs)


def test_hcp2_members_still_join_students_on_state_student_id(built):
    _, run = built
    f, e = run / "final", run / "extract"
    join = ("select count(*), count(s.id) from {m} m left join {s} s on s.state_student_id = m.state_student_id")
    before = duckdb.sql(join.format(m=rp(e / "hcp2/members.parquet"), s=rp(e / "ids/students.parquet"))).fetchall()[0]
    after = duckdb.sql(join.format(m=rp(f / "hcp2/members.parquet"), s=rp(f / "ids/students.parquet"))).fetchall()[0]
    assert before[0] > 0 and after == before
    kept = duckdb.sql(f"select count(*) from {rp(f / 'ids/students.parquet')} s "
                      f"join {rp(e / 'ids/students.parquet')} o using (id) "
                      f"where s.state_student_id = o.state_student_id").fetchall()[0][0]
    assert kept == 0, "state_student_id is a natural identifier: it must change"


# ----------------------------------------------------------------------------- (d) planted leaks

def _failure(report, model, column, test_macro):
    found = [f for f in report["failures"] if f["model"] == model and f["column"] == column and test_macro in f["test"]]
    assert found, f"no failing {test_macro} on {model}.{column}: {[f['test'] for f in report['failures']]}"
    return found[0]


def test_planted_pass_through_fails_the_leak_test(planted, built):
    report, run = planted
    assert report["status"] == "FAILED"
    assert report["scope"]["selection"] == "partial"
    leak = _failure(report, "ids__students", "first_name", "datamig_no_row_leak")
    assert leak["rule"] == "pii_leak" and leak["severity"] == "error" and leak["blocking"]
    named = rows(run / "extract" / "ids/students.parquet", "select count(first_name) from {t}")[0][0]
    assert 0 < leak["failures"] <= named
    assert "leak" in leak["tags"]
    # keys only: the student ids, never the names
    assert leak["sample_key_columns"][0] == "id" and "first_name" not in leak["sample_key_columns"]
    assert 1 <= len(leak["sample_keys"]) <= 5
    assert all(isinstance(k["id"], int) for k in leak["sample_keys"])


def test_real_values_include_the_phones_of_json_documents(coincidence):
    """int_pii_values (keyed hashes and encrypted digits, no real value) holds the configured
    document paths' phones too: a phone only in a guardian document is a real phone of the slice
    to avoid and look for."""
    from datamig.anonymize.engine import Engine
    from datamig.anonymize.keyed import Keys
    from datamig.anonymize.rules import load_rules
    from datamig.anonymize.taken import DIGITS_DOMAIN, HASH_DOMAIN, normalized

    _, run, *_ = coincidence
    digits = normalized("phone", DOCUMENT_ONLY_PHONE)
    in_columns = {normalized("phone", v) for (v,) in rows(run / "extract" / "ids/guardians.parquet",
                  "select unnest([mobile_phone, work_phone]) from {t}") if v}
    assert digits not in in_columns
    with duckdb.connect(str(run / "warehouse.duckdb"), read_only=True) as db:
        stored = set(db.execute("select kind, h, d from int_pii_values").fetchall())
        assert not db.execute("select count(*) from int_pii_values where not regexp_full_match(h, '[0-9a-f]{64}') "
                              "or (kind = 'email') <> (d is null)").fetchone()[0]
    # d as the taken check computes it in Python: the SQL and Python permutations agree
    permuted = Engine(load_rules(), Keys(SALT)).permuter.transform_one(digits, DIGITS_DOMAIN)
    assert permuted != digits and ("phone", Keys(SALT).sha_hex(HASH_DOMAIN, digits), permuted) in stored


def test_an_email_under_a_key_no_rule_classifies_fails_no_text_leak(planted):
    """Such a value passes through a document unchanged; int_pii_values holds every email shape
    of by_key documents, so the document's own text-leak test sees it, and names only keys."""
    report, _ = planted
    leak = _failure(report, "ids__students", "emergency_contacts", "datamig_no_text_leak")
    assert leak["rule"] == "pii_leak" and leak["blocking"] and leak["failures"] >= 1
    assert UNCLASSIFIED_KEY_EMAIL not in json.dumps(report)


def test_real_values_include_emails_anywhere_in_documents_whose_keys_are_classified(coincidence):
    """A by_key document's PII is wherever its data puts it: an email under a key no configured
    path names is a real email of the slice too (for the free-text leak test and the taken set)."""
    from datamig.anonymize.keyed import Keys
    from datamig.anonymize.taken import HASH_DOMAIN, normalized

    _, run, *_ = coincidence
    with duckdb.connect(str(run / "warehouse.duckdb"), read_only=True) as db:
        stored = set(db.execute("select kind, h from int_pii_values").fetchall())
    assert ("email", Keys(SALT).sha_hex(HASH_DOMAIN, normalized("email", DOCUMENT_ONLY_EMAIL))) in stored


def test_a_fake_never_lands_on_another_persons_real_phone(coincidence, built):
    report, run, a, b, fake_a = coincidence
    assert report["counts"]["tests"] > 10 and not [f for f in report["failures"] if f["rule"] == "pii_leak"]
    out = dict(rows(run / "final" / "ids/guardians.parquet", "select id, mobile_phone from {t}"))
    before = dict(rows(built[1] / "final" / "ids/guardians.parquet", "select id, mobile_phone from {t}"))
    real = {p for (p,) in rows(run / "extract" / "ids/guardians.parquet", "select mobile_phone from {t}")}
    assert fake_a in real and out[a] != fake_a and out[a] not in real    # A walked on...
    assert re.sub(r"[0-9]", "9", out[a]) == re.sub(r"[0-9]", "9", fake_a)  # ...in the same format
    assert out[b] != fake_a and out[b] not in real
    assert {i for i in out if out[i] != before[i]} == {a, b}                 # nobody else moved
    assert len(set(out.values())) == len(out)


def test_planted_email_in_free_text_fails_no_text_leak(planted):
    report, run = planted
    leak = _failure(report, "ids__counselor_notes", "body", "datamig_no_text_leak")
    assert leak["rule"] == "pii_leak" and leak["blocking"] and leak["failures"] > 0
    assert "body" not in leak["sample_key_columns"] and leak["sample_keys"]
    # the notes that hold an e-mail address or a phone number (the ones the test is about)
    noted = {i for i, body in rows(run / "extract" / "ids/counselor_notes.parquet", "select id, body from {t}")
             if EMAIL.search(body or "") or PHONE.search(body or "")}
    assert {k["id"] for k in leak["sample_keys"]} <= noted


def test_the_report_of_a_leak_holds_no_pii(planted):
    report, run = planted
    text = (run / "validation-report.json").read_text()
    originals = rows(run / "extract" / "ids/students.parquet", "select first_name, last_name, email from {t}")
    for first, last, email in originals:
        assert f'"{first}"' not in text and f'"{last}"' not in text
        assert not email or email not in text
    for (body,) in rows(run / "extract" / "ids/counselor_notes.parquet", "select body from {t}"):
        for address in EMAIL.findall(body or ""):
            assert address not in text


# ----------------------------------------------------------------------------- (e) missing salt

def test_missing_salt_is_one_line_and_builds_nothing(xcfg, env, extracted, monkeypatch):
    from datamig.errors import ConfigError
    from datamig.transform import transform

    monkeypatch.delenv("DATAMIG_SALT", raising=False)
    run = clone_run(xcfg.out_dir, RUN_A, "mig-20260101-000004-d42")
    with pytest.raises(ConfigError) as err:
        transform(xcfg, {k: v for k, v in env.items() if k != "DATAMIG_SALT"}, run.name, 42, root=ROOT)
    message = str(err.value)
    assert "DATAMIG_SALT" in message and "\n" not in message
    assert sorted(p.name for p in run.iterdir()) == ["extract"]


def test_short_salt_is_refused(xcfg, env, extracted):
    from datamig.errors import ConfigError
    from datamig.transform import transform

    run = clone_run(xcfg.out_dir, RUN_A, "mig-20260101-000005-d42")
    with pytest.raises(ConfigError, match="DATAMIG_SALT is too short"):
        transform(xcfg, {**env, "DATAMIG_SALT": "short"}, run.name, 42, root=ROOT)
    assert sorted(p.name for p in run.iterdir()) == ["extract"]


# ----------------------------------------------------------------------------- (f) schema drift

def _add_manifest_column(run: Path, table_id: str, column: str) -> None:
    path = run / "extract" / "extraction-manifest.json"
    manifest = json.loads(path.read_text())
    manifest["tables"][table_id]["columns"].append(
        {"name": column, "pg_type": "text", "type": "VARCHAR", "nullable": True})
    path.write_text(json.dumps(manifest))


def _add_table(run: Path, table_id: str) -> None:
    path = run / "extract" / "extraction-manifest.json"
    manifest = json.loads(path.read_text())
    store, table = table_id.split(".")
    manifest["tables"][table_id] = {"store": store, "table": table, "rows": 0, "path": f"{store}/{table}.parquet",
                                    "columns": [{"name": "id", "pg_type": "bigint", "type": "BIGINT", "nullable": False}]}
    path.write_text(json.dumps(manifest))
    # and its file, as an extract writes it (a file the manifest lists and the run lacks is named first)
    pq.write_table(pa.table({"id": pa.array([], pa.int64())}), run / "extract" / store / f"{table}.parquet")


def _add_node_property(run: Path, label: str, prop: str) -> None:
    path = run / "extract" / "sp" / "nodes" / f"{label}.parquet"
    table = pq.read_table(path)
    pq.write_table(table.append_column(prop, pa.array(["x"] * table.num_rows, pa.string())), path)


@pytest.mark.parametrize("plant, named, suffix", [
    (lambda run: _add_manifest_column(run, "ids.students", "nickname2"), "ids.students.nickname2", "6"),
    (lambda run: _add_table(run, "ids.lockers"), "ids.lockers", "7"),
    (lambda run: _add_node_property(run, "Student", "favorite_color"), "sp.node_student.favorite_color", "8"),
], ids=["column", "table", "graph-property"])
def test_drift_stops_before_dbt_and_names_it(xcfg, senv, extracted, plant, named, suffix):
    from datamig.transform import transform
    from datamig.transform.drift import SchemaDrift

    run = clone_run(xcfg.out_dir, RUN_A, f"mig-20260101-00000{suffix}-d42")
    plant(run)
    with pytest.raises(SchemaDrift) as err:
        transform(xcfg, senv, run.name, 42, root=ROOT)
    message = str(err.value)
    assert message == (f"schema drift: {named} is not in the dbt models: "
                       "run `datamig scaffold` and classify it")
    assert err.value.exit_code == 2
    assert not (run / "warehouse.duckdb").exists() and not (run / "final").exists() and not (run / "dbt").exists()


def test_drift_passed_once_is_not_read_again_until_a_file_changes(xcfg, extracted, monkeypatch):
    """`datamig transform` runs the gate and then its dbt plugin runs it again on the same files
    in the same process: the second read is skipped, but a file changed in between (a long-lived
    MCP server, a property planted in a node file) is checked again and its drift named."""
    from datamig.transform import drift

    run = clone_run(xcfg.out_dir, RUN_A, "mig-20260101-000013-d42")
    real, reads = drift.extracted_columns, []

    def counted(*args):
        reads.append(args)
        return real(*args)

    monkeypatch.setattr(drift, "extracted_columns", counted)
    drift.check_drift(ROOT, run / "extract")
    drift.check_drift(ROOT, run / "extract")
    assert len(reads) == 1
    _add_node_property(run, "Student", "favorite_color")
    with pytest.raises(drift.SchemaDrift, match=r"sp\.node_student\.favorite_color is not in the dbt models"):
        drift.check_drift(ROOT, run / "extract")
    assert len(reads) == 2


def test_model_column_missing_from_the_extract_is_drift(xcfg, senv, extracted):
    from datamig.transform import transform
    from datamig.transform.drift import SchemaDrift

    run = clone_run(xcfg.out_dir, RUN_A, "mig-20260101-000009-d42")
    path = run / "extract" / "extraction-manifest.json"
    manifest = json.loads(path.read_text())
    manifest["tables"]["ids.students"]["columns"] = [c for c in manifest["tables"]["ids.students"]["columns"]
                                                     if c["name"] != "notes"]
    path.write_text(json.dumps(manifest))
    with pytest.raises(SchemaDrift, match=r"ids\.students\.notes is in the dbt models but not in the extract"):
        transform(xcfg, senv, run.name, 42, root=ROOT)
    assert not (run / "dbt").exists()


def test_model_table_missing_from_the_extract_is_drift(xcfg, senv, extracted):
    """A table gone from PROD (dropped, moved to another schema) was no drift: dbt's model of it
    failed, and the run was a FAILED validation (exit 1) after the whole build."""
    from datamig.transform import transform
    from datamig.transform.drift import SchemaDrift

    run = clone_run(xcfg.out_dir, RUN_A, "mig-20260101-000010-d42")
    path = run / "extract" / "extraction-manifest.json"
    manifest = json.loads(path.read_text())
    del manifest["tables"]["ids.course_prerequisites"]
    path.write_text(json.dumps(manifest))
    (run / "extract" / "ids" / "course_prerequisites.parquet").unlink()
    with pytest.raises(SchemaDrift, match=r"^schema drift: ids\.course_prerequisites is in the dbt models but "
                                          r"not in the extract: run `datamig scaffold`$"):
        transform(xcfg, senv, run.name, 42, root=ROOT)
    assert sorted(p.name for p in run.iterdir()) == ["extract"]


def test_run_of_another_district_is_refused(xcfg, senv, extracted):
    from datamig.errors import DatamigError
    from datamig.transform import transform

    with pytest.raises(DatamigError, match="is an extract of district 42, not 55"):
        transform(xcfg, senv, RUN_A, 55, root=ROOT)


def test_a_run_loaded_into_cert_is_not_transformed_again(xcfg, senv, built):
    """Its final/ was deleted and rebuilt under it: CERT then held data final/ no longer had."""
    from datamig.errors import DatamigError
    from datamig.transform import transform

    run = built[1]
    before = {p: p.stat().st_mtime_ns for p in (run / "final").rglob("*.parquet")}
    (run / "load-report.json").write_text(json.dumps({"status": "LOADED", "dry_run": False}))
    try:
        with pytest.raises(DatamigError, match=f"run {RUN_A} is loaded into CERT"):
            transform(xcfg, senv, RUN_A, 42, root=ROOT)
    finally:
        (run / "load-report.json").unlink()
    assert before and {p: p.stat().st_mtime_ns for p in (run / "final").rglob("*.parquet")} == before


# ----------------------------------------------------------------------------- report logic (no services)

def _node(uid, severity="error", rule=None, macro="datamig_expression", column=None, model="model.datamig.m"):
    return {"unique_id": uid, "resource_type": "test", "name": uid.split(".")[-1], "attached_node": model,
            "column_name": column, "test_metadata": {"name": macro, "kwargs": {}},
            "config": {"severity": severity, "meta": {"rule": rule} if rule else {}, "tags": []}}


def _results(*pairs):
    return {"results": [{"unique_id": uid, "status": status, "failures": 1 if status in ("fail", "warn") else 0,
                         "message": msg, "compiled_code": ""} for uid, status, msg in pairs]}


@pytest.mark.parametrize("errors, warnings, pii, settings, status", [
    (0, 0, 0, {}, "PASSED"),
    (0, 3, 0, {}, "PASSED_WITH_WARNINGS"),
    (0, 0, 1, {}, "PASSED_WITH_WARNINGS"),
    (0, 10, 0, {"max_warnings_allowed": 10}, "PASSED_WITH_WARNINGS"),
    (0, 11, 0, {"max_warnings_allowed": 10}, "FAILED"),
    (0, 1, 0, {"fail_on_warnings": True}, "FAILED"),
    (0, 0, 2, {"fail_on_warnings": True}, "PASSED_WITH_WARNINGS"),
    (1, 0, 0, {}, "FAILED"),
])
def test_status_from_counts_and_settings(errors, warnings, pii, settings, status):
    from datamig.transform.validation_report import decide

    assert decide(errors, warnings, pii, settings)[0] == status


def test_report_counts_by_severity_and_rule():
    from datamig.transform.validation_report import build_report

    nodes = {n["unique_id"]: n for n in (
        _node("test.datamig.unique_m_id", macro="unique", column="id"),
        _node("test.datamig.fk", rule="fk_integrity", macro="datamig_relationship"),
        _node("test.datamig.phone", severity="warn", rule="phone_format", column="phone"),
        _node("test.datamig.age", severity="warn", rule="student_age_5_22"),
        _node("test.datamig.broken", severity="warn", rule="names_1_100_chars"))}
    nodes["model.datamig.m"] = {"unique_id": "model.datamig.m", "resource_type": "model", "name": "m", "columns": {}}
    nodes["model.datamig.n"] = {"unique_id": "model.datamig.n", "resource_type": "model", "name": "n", "columns": {}}
    results = _results(("model.datamig.m", "success", "OK"), ("model.datamig.n", "error", "bad value a.b@c.org"),
                       ("test.datamig.unique_m_id", "pass", None), ("test.datamig.fk", "fail", "Got 1 result"),
                       ("test.datamig.phone", "warn", "Got 1 result"), ("test.datamig.age", "pass", None),
                       ("test.datamig.broken", "error", "Binder Error"))
    shapes = {"email": r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}"}
    report = build_report(results, {"nodes": nodes}, {"max_warnings_allowed": 10}, run_id="r", district=42,
                          shapes=shapes)
    assert report["status"] == "FAILED"
    assert report["counts"]["errors"] == 3          # the FK failure, the errored test, the model
    assert report["counts"]["warnings"] == 1
    assert report["by_rule"]["pk_integrity"] == {"severity": "error", "tests": 1, "passed": 1, "failed": 0,
                                                 "errored": 0, "skipped": 0}
    assert report["by_severity"]["warn"] == {"tests": 3, "passed": 1, "failed": 1, "errored": 1, "skipped": 0}
    assert report["model_errors"] == [{"model": "n", "message": "bad value [REDACTED]"}]
    assert [f["test"] for f in report["failures"] if f["blocking"]] == ["fk", "broken"]


def test_failing_keys_for_the_shapes_tests_return(tmp_path):
    """unique / not_null (built-in), composite keys, value leaks, text leaks and `select *`
    tests all come back as keys of the model, never the tested values."""
    from datamig.transform import failing_keys as fk

    conn = duckdb.connect()
    conn.execute("create table t (id int, parent_id int, email varchar, note varchar)")
    conn.execute("insert into t values (1, 10, 'a@x.org', 'call a@x.org'), (1, 11, 'b@x.org', null), "
                 "(2, null, 'c@x.org', 'fine'), (3, 12, null, 'mail c@x.org')")
    model = {"columns": {"id": {"meta": {"datamig": {"pii": False, "rule": "surrogate_key"}}},
                         "parent_id": {"meta": {"datamig": {"pii": False, "rule": "surrogate_key"}}},
                         "email": {"meta": {"datamig": {"pii": True, "rule": "email"}}},
                         "note": {"meta": {"datamig": {"pii": True, "rule": "free_text"}}}}}
    tests = [{"test_metadata": {"name": "unique"}, "column_name": "id"}]
    keys = fk.model_key_columns(model, tests)
    assert keys == ["id", "parent_id"]
    cols = list(model["columns"])

    def sample(sql, name="x", column=None, kwargs=None):
        return fk.sample_keys(conn, sql, "t", keys, cols, name, kwargs or {}, column)

    unique = ("select unique_field, count(*) as n_records from (select id as unique_field from t "
              "where id is not null) as d group by unique_field having count(*) > 1")
    assert sample(unique, "unique", "id") == [{"id": 1, "parent_id": 10}, {"id": 1, "parent_id": 11}]
    assert sample("select parent_id from t where parent_id is null", "not_null", "parent_id") == [
        {"id": 2, "parent_id": None}]
    assert sample("select * from t where email = 'c@x.org'") == [{"id": 2, "parent_id": None}]
    value_leak = "select distinct cast(email as varchar) as v from t where email like 'b%'"
    assert sample(value_leak, "datamig_no_value_leak", "email") == [{"id": 1, "parent_id": 11}]
    text_leak = "select 'c@x.org' as v"
    assert sample(text_leak, "datamig_no_text_leak", "note") == [{"id": 3, "parent_id": 12}]
    assert sample("select 5 as model_rows, 7 as other_rows", "datamig_count_ratio") == []
    assert len(sample("select * from t")) <= 5


def test_failing_keys_are_the_identifying_key_s_not_another_unique_key_s():
    """A unique test of another unique key (rule unique_integrity) read as one of the primary
    key's: a non-PII unique column (a course code) joined the sample's key, ahead of the primary
    key when its test came first."""
    from datamig.transform import failing_keys as fk

    plain = {"meta": {"datamig": {"pii": False, "rule": "code"}}}
    model = {"columns": {"code": plain, "id": {"meta": {"datamig": {"pii": False, "rule": "surrogate_key"}}},
                         "district_id": plain, "course_code": plain}}
    other = {"config": {"meta": {"rule": "unique_integrity"}}}
    tests = [{"test_metadata": {"name": "unique"}, "column_name": "code", **other},
             {"test_metadata": {"name": "unique"}, "column_name": "id"},
             {"test_metadata": {"name": "datamig_unique_key",
                                "kwargs": {"columns": ["district_id", "course_code"], "nulls_distinct": True}},
              **other}]
    assert fk.model_key_columns(model, tests) == ["id"]


def _build_one_rule(root: Path, models: dict[str, str], datasets: list, rule: dict, model: str, column: str):
    """The rule as the scaffold renders it, built by dbt on DuckDB over `models` (name -> SQL)
    in a small project at `root`: its test's result (warehouse: root/w.duckdb)."""
    from _tiny_dbt import invoke, write_project
    from datamig.scaffold.validation import Renderer

    write_project(root, rule["name"], ROOT / "macros" / "tests",
                  {"type": "duckdb", "path": str(root / "w.duckdb"), "threads": 1}, models={"+materialized": "table"})
    for name, sql in models.items():
        (root / "models" / f"{name}.sql").write_text(sql)
    renderer = Renderer(datasets, root / "rules.yaml")
    renderer.render(rule)
    (root / "models" / "schema.yml").write_text(yaml.safe_dump({"version": 2, "models": [
        {"name": model, "columns": [{"name": column, "data_tests": renderer.tests.column[model][column]}]}]}))
    result = invoke(root, "build", "--quiet")
    assert result.success, result.exception
    return next(r for r in result.result.results if r.node.resource_type == "test")


def test_same_parent_value_samples_exactly_the_failing_children(tmp_path):
    """Its sample names the students whose district is not their school's, not every student of
    those schools (the test used to return the school id, which all of a school's students share)."""
    from datamig.scaffold.layout import Dataset
    from datamig.transform import failing_keys as fk

    models = {"ids__schools": "select * from (values (1, 42), (2, 43)) as t(id, district_id)",
              # 11 and 14 are in another district than their school
              "ids__students": "select * from (values (10, 1, 42), (11, 1, 43), (12, 1, 42), (13, 2, 43), "
                               "(14, 2, 42)) as t(id, school_id, district_id)"}
    students = Dataset("ids", "students", "", {"id": "integer", "school_id": "integer", "district_id": "integer"}, ("id",))
    schools = Dataset("ids", "schools", "", {"id": "integer", "district_id": "integer"}, ("id",))
    rule = {"name": "spv", "severity": "warn", "check": "same_parent_value", "table": "ids.students",
            "column": "school_id", "parent": "ids.schools", "parent_key": "id",
            "child_value": "district_id", "parent_value": "district_id"}
    root = tmp_path / "proj"
    test = _build_one_rule(root, models, [students, schools], rule, "ids__students", "school_id")
    assert (test.status, test.failures) == ("warn", 2)
    with duckdb.connect(str(root / "w.duckdb")) as conn:
        sample = fk.sample_keys(conn, test.node.compiled_code, "main.ids__students", ["id", "school_id"],
                                ["id", "school_id", "district_id"], "datamig_same_parent_value",
                                test.node.test_metadata.kwargs, "school_id")
    assert sample == [{"id": 11, "school_id": 1}, {"id": 14, "school_id": 2}]


def test_within_range_of_means_within_one_of_the_ranges(tmp_path):
    """A date between two terms (a summer) passed: the test compared with the first start and
    the last end of all the terms."""
    from datamig.scaffold.layout import Dataset

    models = {"ids__terms": "select * from (values (1, date '2025-08-25', date '2025-12-19'), (2, date '2026-01-05', "
                            "date '2026-06-12'), (3, date '2026-08-24', date '2026-12-18')) as t(id, start_date, end_date)",
              # in a term, on a break, in a summer, before the first term, null
              "ids__attendance": "select * from (values (1, date '2025-09-01'), (2, date '2025-12-28'), "
                                 "(3, date '2026-07-15'), (4, date '2025-08-01'), (5, null)) as t(id, attendance_date)"}
    attendance = Dataset("ids", "attendance", "", {"id": "integer", "attendance_date": "date"}, ("id",))
    terms = Dataset("ids", "terms", "", {"id": "integer", "start_date": "date", "end_date": "date"}, ("id",))
    rule = {"name": "in_year", "severity": "warn", "check": "within_range_of", "table": "ids.attendance",
            "column": "attendance_date", "range_table": "ids.terms", "start": "start_date", "end": "end_date"}
    test = _build_one_rule(tmp_path / "proj", models, [attendance, terms], rule, "ids__attendance", "attendance_date")
    assert (test.status, test.failures) == ("warn", 3)


def test_a_profile_without_the_plugin_stops_in_one_line_naming_it(tmp_path):
    """An analyst's own DuckDB profile that forgot the plugin: on-run-start says so before any
    model runs (each model would otherwise fail alone, on a missing dm_lib macro)."""
    from dbt.cli.main import dbtRunner

    warehouse = tmp_path / "warehouse.duckdb"
    (tmp_path / "profiles.yml").write_text(
        f"datamig:\n  target: mine\n  outputs:\n    mine:\n      type: duckdb\n      path: '{warehouse}'\n")
    result = dbtRunner().invoke(["run", "--quiet", "--project-dir", str(ROOT), "--profiles-dir", str(tmp_path),
                                 "--target-path", str(tmp_path / "target"), "--log-path", str(tmp_path / "logs"),
                                 "--select", "int_pii_values"])
    assert not result.success
    assert ("the datamig dbt-duckdb plugin is not loaded on target 'mine': add `plugins: [{module: "
            "datamig.dbt_plugin}]`") in str(result.exception)
    with duckdb.connect(str(warehouse)) as db:  # dbt-duckdb may keep its own connection open: same config
        assert db.execute("select count(*) from duckdb_tables()").fetchone() == (0,)


def test_a_transform_that_stops_in_dbt_leaves_no_earlier_verdict_behind(xcfg, senv, built):
    """The transform removes final/ before dbt builds it again; a build stopped there left the
    earlier build's validation report, and the load took the half-built final/ on its word."""
    from datamig.errors import DatamigError
    from datamig.transform import transform

    run = clone_run(xcfg.out_dir, RUN_A, RUN_STOPPED)
    shutil.copytree(built[1] / "final", run / "final")
    shutil.copy2(built[1] / "validation-report.json", run / "validation-report.json")
    with pytest.raises(DatamigError, match=f"dbt build of run {RUN_STOPPED} did not run: .*no-such-dbt-flag"):
        transform(xcfg, senv, RUN_STOPPED, 42, root=ROOT, extra_args=["--no-such-dbt-flag"])
    assert not (run / "validation-report.json").exists()
    assert not (run / "final").exists() or not any((run / "final").rglob("*.parquet"))
