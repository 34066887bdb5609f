"""Mistakes in config/anonymization-rules.yaml, config/datamig.yaml and the salt that used to pass
the loaders and fail later (inside dbt, after files were written) or as a traceback: each is one
ConfigError line naming the file (and line) and the setting, rule or override at fault, raised
before anything is written, and never showing the salt. Each bad rules file is a copy of the
committed one with one change."""
from __future__ import annotations

import dataclasses
import json
import os
import pathlib
import shutil
import subprocess
from pathlib import Path

import pytest

import _config_copies as config_copies
from _tiny_dbt import write_project
from datamig.anonymize import rules as rules_module
from datamig.anonymize.engine import read_salt
from datamig.anonymize.keyed import Keys
from datamig.anonymize.rules import load_rules
from datamig.config import load_config
from datamig.errors import ConfigError, DatamigError
from datamig.transform import drift, transform
from datamig.transform import dbt_run

ROOT = Path(__file__).resolve().parents[1]
RULES = ROOT / "config" / "anonymization-rules.yaml"
RULES_TEXT = RULES.read_text()
SALT = "rules-file-errors-salt-0123456789"
BAD_SALT = "rules-file-errors-salt-\udcff-0123"  # what os.environ holds for a non-UTF-8 byte
RUN = "mig-20250101-000000-d42"


def copy_with(tmp_path: Path, old: str, new: str) -> tuple[Path, int]:
    return config_copies.copy_with(RULES, tmp_path, old, new)


def one_line(err: pytest.ExceptionInfo, *needles: str, starts: str | None = None) -> str:
    return _no_secret(config_copies.one_line(str(err.value), *needles, starts=starts))


def rules_error(path: Path, *needles: str, line: int | None = None) -> str:
    return _no_secret(config_copies.load_error(load_rules, path, *needles, line=line))


def _no_secret(message: str) -> str:
    for secret in (SALT, BAD_SALT, "\udcff"):
        assert secret not in message, message
    return message


# ----- 1. files that cannot be read: rules file and datamig.yaml alike -----------------------------
LOADERS = {"rules": (load_rules, RULES), "datamig.yaml": (load_config, ROOT / "config" / "datamig.yaml")}


@pytest.mark.parametrize("which", list(LOADERS))
def test_a_directory_instead_of_the_file(tmp_path, which):
    load, _ = LOADERS[which]
    with pytest.raises(ConfigError) as err:
        load(tmp_path)
    one_line(err, "cannot read", "Is a directory", starts=f"{tmp_path}: ")


@pytest.mark.parametrize("which", list(LOADERS))
def test_a_file_that_is_not_utf8(tmp_path, which):
    load, real = LOADERS[which]
    lines = real.read_bytes().split(b"\n")
    at = next(i for i, line in enumerate(lines) if line and not line.startswith(b"#"))  # first non-comment line
    lines[at] = b"# caf\xe9\n" + lines[at]
    path = tmp_path / real.name
    path.write_bytes(b"\n".join(lines))
    offset = path.read_bytes().index(b"\xe9")
    with pytest.raises(ConfigError) as err:
        load(path)
    one_line(err, "not UTF-8", f"byte {offset}: 0xe9", starts=f"{path}:{at + 1}: ")


@pytest.mark.parametrize("which", list(LOADERS))
def test_an_unreadable_file(tmp_path, monkeypatch, which):
    load, real = LOADERS[which]
    path = tmp_path / real.name
    shutil.copyfile(real, path)
    real_open = pathlib.Path.open

    def denied(self, *args, **kwargs):
        # the tests run as root, for whom chmod 000 changes nothing
        if self == path:
            raise PermissionError(13, "Permission denied", str(self))
        return real_open(self, *args, **kwargs)

    monkeypatch.setattr(pathlib.Path, "open", denied)
    with pytest.raises(ConfigError) as err:
        load(path)
    one_line(err, "cannot read", "Permission denied", starts=f"{path}: ")


# ----- 2a. Faker locales ------------------------------------------------------------------------
def test_an_impossible_date_in_the_rules_file(tmp_path):
    """dictionary_seed: 2025-02-30 reached the date constructor: a ValueError traceback."""
    path, line = copy_with(tmp_path, "dictionary_seed: 20251106", "dictionary_seed: 2025-02-30")
    rules_error(path, "invalid YAML", "bad date '2025-02-30'", line=line)


def test_unknown_extra_locale_of_a_dictionary(tmp_path):
    path, line = copy_with(tmp_path, "first_name: {faker: first_name, size: 20000, extra_locales: [es_MX,",
                           "first_name: {faker: first_name, size: 20000, extra_locales: [zz_ZZ,")
    rules_error(path, "settings.dictionaries.first_name.extra_locales", "unknown Faker locale 'zz_ZZ'", line=line)


def test_unknown_locale_of_a_dictionary(tmp_path):
    path, line = copy_with(tmp_path, "street:     {faker: street_address, size: 10000}",
                           "street:     {faker: street_address, size: 10000, locale: qq_QQ}")
    rules_error(path, "settings.dictionaries.street.locale", "unknown Faker locale 'qq_QQ'", line=line)


def test_a_dictionary_method_one_of_its_locales_lacks(tmp_path):
    """kana_name is ja_JP's own: en_US as an extra locale would fail only when the plugin builds
    the dictionaries, after dbt started."""
    path, line = copy_with(tmp_path, "city:       {faker: city, size: 5000}",
                           "city:       {faker: kana_name, size: 5000, locale: ja_JP, extra_locales: [en_US]}")
    rules_error(path, "settings.dictionaries.city", "Faker locale en_US has no provider 'kana_name'", line=line)
    path, _ = copy_with(tmp_path, "city:       {faker: city, size: 5000}",
                        "city:       {faker: kana_name, size: 5000, locale: ja_JP}")
    assert load_rules(path).settings.dictionaries["city"]["faker"] == "kana_name"   # ja_JP alone has it


def test_a_dictionary_method_faker_lacks_everywhere(tmp_path):
    path, line = copy_with(tmp_path, "street:     {faker: street_address, size: 10000}",
                           "street:     {faker: street_adress, size: 10000}")
    rules_error(path, "settings.dictionaries.street", "has no provider 'street_adress'", line=line)


def test_a_salt_variable_not_named_as_a_secret(tmp_path):
    """The servers datamig starts drop, and messages mask, a variable by its name (*SALT*,
    *SECRET*, *TOKEN*, *PASSWORD*): a salt in ANON_KEY stayed in both servers' environment."""
    path, line = copy_with(tmp_path, "salt_env: DATAMIG_SALT", "salt_env: ANON_KEY")
    rules_error(path, "settings.salt_env", "ANON_KEY: the salt's variable must have SALT, SECRET, TOKEN or PASSWORD",
                line=line)
    path, _ = copy_with(tmp_path, "salt_env: DATAMIG_SALT", "salt_env: ANON_SECRET")
    assert load_rules(path).settings.salt_env == "ANON_SECRET"


def test_unknown_faker_locale_is_named_not_blamed_on_a_provider(tmp_path):
    path, line = copy_with(tmp_path, "faker_locale: en_US", "faker_locale: xx_YY")
    message = rules_error(path, "settings.faker_locale", "unknown Faker locale 'xx_YY'", line=line)
    assert "provider" not in message


def test_a_close_typo_gets_a_suggestion(tmp_path):
    path, _ = copy_with(tmp_path, "faker_locale: en_US", "faker_locale: en_UX")
    assert "did you mean en_US" in rules_error(path, "settings.faker_locale")
    # Faker itself would take en-GB, the person-name lists (faker.providers.person.en_GB) would not
    path, _ = copy_with(tmp_path, "city:       {faker: city, size: 5000}",
                        "city:       {faker: city, size: 5000, locale: en-GB}")
    assert "did you mean en_GB" in rules_error(path, "settings.dictionaries.city.locale")


# ----- 2b. pii_shapes that Python accepts and DuckDB (RE2) does not ------------------------------
# the committed ssn shape's line, whatever the shape is now
SSN_SHAPE = next(line.strip() for line in (ROOT / "config" / "anonymization-rules.yaml").read_text().splitlines()
                 if line.strip().startswith("ssn: '"))


@pytest.mark.parametrize("pattern", [r"(?=[0-9])[0-9]{3}-[0-9]{2}-[0-9]{4}",   # lookahead
                                     r"([0-9]{3})-\1-[0-9]{4}"])                 # backreference
def test_a_pii_shape_duckdb_cannot_run(tmp_path, pattern):
    path, line = copy_with(tmp_path, SSN_SHAPE, f"ssn: '{pattern}'")
    rules_error(path, "pii_shapes.ssn", "DuckDB (RE2) cannot use regex", line=line)


def test_a_scrub_placeholder_with_a_backslash(tmp_path):
    # \0 in regexp_replace's replacement is the match: free text would keep its e-mail addresses
    path, line = copy_with(tmp_path, 'email: "[EMAIL]"', "email: '[EMAIL \\0]'")
    rules_error(path, "settings.scrub_placeholders.email", "no backslash", line=line)


# ----- 2c. overrides naming a missing table or column -------------------------------------------
def _project(tmp_path: Path, rules_text: str) -> Path:
    """A project root with the checkout's config and scaffolded staging YAML (what the models
    know), and `rules_text` as its rules file."""
    root = tmp_path / "proj"
    (root / "config").mkdir(parents=True)
    shutil.copyfile(ROOT / "config" / "validation-rules.yaml", root / "config" / "validation-rules.yaml")
    (root / "config" / "anonymization-rules.yaml").write_text(rules_text)
    for yml in (ROOT / "dbt_project" / "staging").glob("*/_*__staging.yml"):
        target = root / yml.relative_to(ROOT)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(yml, target)
    return root


def _extracted_run(tmp_path: Path):
    """A config whose runs are under tmp_path, and run RUN: an extract of district 42."""
    runs = tmp_path / "runs"
    (runs / RUN / "extract").mkdir(parents=True)
    (runs / RUN / "extract" / "extraction-manifest.json").write_text(json.dumps({"district": 42, "tables": {}}))
    return dataclasses.replace(load_config(ROOT / "config" / "datamig.yaml"), out_dir=runs), runs


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


OVERRIDE = "  - {table: ids.districts, column: name, strategy: preserve}\n"


@pytest.mark.parametrize("override, needles", [
    ("  - {table: ids.distrcts, column: name, strategy: preserve}\n",
     ("override ids.distrcts.name", "no table 'ids.distrcts' in the dbt models")),
    ("  - {table: ids.districts, column: nmae, strategy: preserve}\n",
     ("override ids.districts.nmae", "table ids.districts has no column 'nmae'")),
])
def test_transform_stops_on_an_override_the_models_lack_before_writing(tmp_path, override, needles):
    assert RULES_TEXT.count(OVERRIDE) == 1
    root = _project(tmp_path, RULES_TEXT.replace(OVERRIDE, override))
    line = RULES_TEXT[:RULES_TEXT.index(OVERRIDE)].count("\n") + 1
    cfg, runs = _extracted_run(tmp_path)
    before = _files(runs)
    with pytest.raises(ConfigError) as err:
        transform(cfg, {"DATAMIG_SALT": SALT}, RUN, 42, root=root)
    one_line(err, *needles, starts=f"{root / 'config' / 'anonymization-rules.yaml'}:{line}: ")
    assert _files(runs) == before  # no run.log, no final/, no warehouse


def test_committed_overrides_name_tables_and_columns_the_models_have():
    load_rules(RULES).check_overrides(drift.model_columns(ROOT), "the dbt models")


def test_a_bare_table_override_is_checked_in_every_store():
    ruleset = load_rules(RULES)
    bare = dataclasses.replace(ruleset, overrides=(dataclasses.replace(ruleset.overrides[0], table="schools"),))
    catalog = {"ids.schools": ["id", "name"], "adb.schools": ["id", "name"]}
    bare.check_overrides(catalog)  # the scaffold applies it to both
    with pytest.raises(ConfigError) as err:
        bare.check_overrides({**catalog, "adb.schools": ["id"]})
    one_line(err, "override schools.name", "table adb.schools has no column 'name'")


# ----- 2d. a salt UTF-8 cannot encode -----------------------------------------------------------
def test_a_non_utf8_salt_names_the_variable_never_the_value(monkeypatch):
    monkeypatch.setenv("DATAMIG_SALT", BAD_SALT)
    with pytest.raises(ConfigError) as err:
        read_salt("DATAMIG_SALT")
    one_line(err, "DATAMIG_SALT", "not UTF-8")
    with pytest.raises(ConfigError) as err:
        Keys(BAD_SALT, source="OTHER_SALT")
    one_line(err, "OTHER_SALT", "not UTF-8")


def test_transform_with_a_non_utf8_salt_writes_nothing(tmp_path):
    root = _project(tmp_path, RULES_TEXT)
    cfg, runs = _extracted_run(tmp_path)
    before = _files(runs)
    with pytest.raises(ConfigError) as err:
        transform(cfg, {"DATAMIG_SALT": BAD_SALT}, RUN, 42, root=root)
    one_line(err, "DATAMIG_SALT", "not UTF-8")
    assert _files(runs) == before


def test_cli_transform_with_a_non_utf8_salt_is_one_line_exit_2(tmp_path):
    cfg, runs = _extracted_run(tmp_path)
    config = tmp_path / "datamig.yaml"
    config.write_text((ROOT / "config" / "datamig.yaml").read_text().replace("out_dir: data/runs", f"out_dir: {runs}"))
    (tmp_path / "state").mkdir()
    env = {**os.environ, "DATAMIG_CONFIG": str(config), "DATAMIG_STATE_DIR": str(tmp_path / "state"),
           "DATAMIG_SALT": BAD_SALT, "COLUMNS": "200"}  # the child reads the raw byte 0xff
    before = _files(runs)
    proc = subprocess.run([str(ROOT / ".venv/bin/datamig"), "transform", "--district", "42", "--run-id", RUN],
                          cwd=ROOT, env=env, capture_output=True, text=True, errors="replace", timeout=300)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: DATAMIG_SALT ") and "not UTF-8" in lines[0], proc.stderr
    assert "rules-file-errors-salt" not in proc.stdout + proc.stderr
    assert _files(runs) == before


# ----- 2e. dbt stopped at connection time: the cause, not "Database Error" ------------------------
def test_dbt_failing_to_connect_says_why(tmp_path, monkeypatch):
    monkeypatch.setenv("DATAMIG_CACHE_DIR", str(tmp_path / "cache"))  # dbt's partial parse goes there
    root = tmp_path / "proj"
    plugin = {"module": "datamig.dbt_plugin", "config": {"rules_file": str(RULES), "locale": "zz_ZZ"}}
    write_project(root, "datamig", ROOT / "macros",
                  {"type": "duckdb", "path": "warehouse.duckdb", "threads": 1, "plugins": [plugin]})
    (root / "models" / "one.sql").write_text("select 1 as x")
    (root / "config").mkdir()
    shutil.copyfile(RULES, root / "config" / "anonymization-rules.yaml")
    (tmp_path / "runs" / "r1" / "extract").mkdir(parents=True)
    with pytest.raises(DatamigError) as err:
        dbt_run.run_dbt(root, tmp_path / "runs", "r1", 42, env={"DATAMIG_SALT": SALT})
    message = one_line(err, "dbt build of run r1 did not run: ", "settings.dictionaries", "zz_ZZ")
    assert "Database Error" not in message


def test_why_not_run_skips_dbt_headings_and_hides_the_salt():
    exc = RuntimeError(f"Database Error\n  Runtime Error\n    cannot open warehouse (salt {SALT})\n    more")
    assert dbt_run.why_not_run(exc, SALT) == "cannot open warehouse (salt ***)"
    assert dbt_run.why_not_run(RuntimeError("Database Error")) == "Database Error"
    assert dbt_run.why_not_run(None) == "unknown error"


# ----- 3. the not-found hint names DATAMIG_RULES only when it was used -------------------------------
def test_rules_not_found_mentions_datamig_rules_only_when_it_applies(tmp_path, monkeypatch):
    missing = tmp_path / "nope.yaml"
    monkeypatch.delenv("DATAMIG_RULES", raising=False)
    message = rules_error(missing, "anonymization rules file not found")
    assert "DATAMIG_RULES" not in message                   # an explicit path, as the CLI gives
    monkeypatch.setenv("DATAMIG_RULES", str(missing))
    with pytest.raises(ConfigError) as err:
        load_rules()
    one_line(err, "not found (from DATAMIG_RULES)", starts=f"{missing}: ")
    monkeypatch.delenv("DATAMIG_RULES")
    monkeypatch.setattr(rules_module, "DEFAULT_RULES_PATH", missing)
    with pytest.raises(ConfigError) as err:
        load_rules()
    one_line(err, "not found (set DATAMIG_RULES to use another file)", starts=f"{missing}: ")
