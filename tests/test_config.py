"""config/datamig.yaml: the shipped file loads, and each kind of mistake is one line naming
the file, the line and the key."""
import os
import subprocess
from pathlib import Path

import pytest

from datamig.config import load_config
from datamig.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "datamig.yaml"
    path.write_text(text)
    return path


BASE = """\
version: 1
stores:
  ids: {kind: postgres, prod_env: PROD_IDS_URL, cert_env: CERT_IDS_URL}
  sp: {kind: neo4j, prod_env: PROD_SP_URL, cert_env: CERT_SP_URL}
district: {store: ids, table: districts, key: id}
"""


def test_shipped_config_loads():
    cfg = load_config(ROOT / "config/datamig.yaml")
    assert cfg.district.table_id == "ids.districts"
    assert {s.name for s in cfg.postgres_stores()} == {"ids", "hcp1", "hcp2", "adb"}
    assert cfg.stores["sp"].env_names("cert") == ("CERT_SP_URL", "CERT_SP_USER", "CERT_SP_PASSWORD")


def test_links_are_parsed(tmp_path):
    cfg = load_config(write(tmp_path, BASE + "links: ['ids.a.x,y -> ids.b.p,q']\n"))
    link = cfg.links[0]
    assert (link.store, link.table, link.columns, link.ref_table, link.ref_columns) == (
        "ids", "a", ("x", "y"), "b", ("p", "q"))


@pytest.mark.parametrize("text, expected", [
    (BASE.replace("kind: postgres", "kind: mysql"), "datamig.yaml:3: stores.ids.kind"),
    (BASE.replace("store: ids", "store: nope"), "datamig.yaml:5: district.store: unknown store 'nope'"),
    (BASE + "links: ['ids.a.x -> ids.b.p,q']\n", "has 1 columns on the left and 2 on the right"),
    (BASE + "links: ['hcp9.a.x -> ids.b.p']\n", "unknown store 'hcp9'"),
    (BASE + "bogus: 1\n", "(top level): Additional properties are not allowed ('bogus'"),
    (BASE.replace("version: 1", "version: 2"), "datamig.yaml:1: version"),
    (BASE + "graph: {store: ids, root: {label: D, key: k}}\n", "graph.store: store 'ids' is not a neo4j store"),
    ("stores: [", "invalid YAML"),
    # a traceback (the date constructor's ValueError; DuckDB's, later, for a quoted one)
    (BASE + "selection: {as_of: 2026-13-45}\n", "datamig.yaml:6: invalid YAML: bad date '2026-13-45'"),
    (BASE + "selection: {as_of: '2026-02-30'}\n", "datamig.yaml:6: selection.as_of: '2026-02-30' is no date"),
])
def test_mistakes_name_the_key(tmp_path, text, expected):
    with pytest.raises(ConfigError) as err:
        load_config(write(tmp_path, text))
    message = str(err.value)
    assert expected in message
    assert "\n" not in message


def test_missing_file_names_the_path(tmp_path):
    with pytest.raises(ConfigError, match="nope.yaml: config file not found"):
        load_config(tmp_path / "nope.yaml")


def test_env_var_selects_config(tmp_path, monkeypatch):
    path = write(tmp_path, BASE)
    monkeypatch.setenv("DATAMIG_CONFIG", str(path))
    assert load_config().path == path


@pytest.mark.parametrize("extra, expected", [
    ("traversal: {down_exclude: [hcpx.visits.clinic_id]}\n",
     "datamig.yaml:6: traversal.down_exclude.0: unknown store 'hcpx' in 'hcpx.visits.clinic_id'"),
    ("traversal:\n  down_include:\n    - ids.a.b\n    - nope.a.b\n",
     "datamig.yaml:9: traversal.down_include.1: unknown store 'nope' in 'nope.a.b'"),
    ("reference_tables:\n  tables:\n    ids.grades: whole\n    idx.states: whole\n",
     "datamig.yaml:9: reference_tables.tables.idx.states: unknown store 'idx' in 'idx.states'"),
    ("selection:\n  counts: {students: idx.students}\n",
     "datamig.yaml:7: selection.counts.students: unknown store 'idx' in 'idx.students'"),
    ("selection:\n  required_fields:\n    idx.students: [id]\n",
     "datamig.yaml:8: selection.required_fields.idx.students: unknown store 'idx' in 'idx.students'"),
    ("reference_tables: {tables: {sp.states: whole}}\n",
     "datamig.yaml:6: reference_tables.tables.sp.states: store 'sp' in 'sp.states' is not a postgres store"),
])
def test_an_unknown_store_in_a_table_name_is_named(tmp_path, extra, expected):
    """Store names in traversal, reference_tables and selection were taken in silence: a typo
    made the setting do nothing."""
    path = write(tmp_path, BASE + extra)
    with pytest.raises(ConfigError) as err:
        load_config(path)
    message = str(err.value)
    assert message.startswith(f"{path}:{expected.split(':', 1)[1]}") and "\n" not in message, message


@pytest.mark.parametrize("out_dir", ["''", "'  '"])
def test_an_empty_runs_folder_is_refused(tmp_path, out_dir):
    """extract.out_dir '' was Path(''), the working folder: `datamig extract` run in the checkout
    wrote its run folder and latest-d42 link among the project's own files."""
    path = write(tmp_path, BASE + f"extract: {{out_dir: {out_dir}}}\n")
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert str(err.value) == f"{path}:6: extract.out_dir: empty: name the folder runs go to (default data/runs)"


def test_an_empty_runs_folder_stops_extract_before_it_writes_anything(tmp_path):
    """Through the CLI, in a folder of its own: nothing is written there (no run, no latest link)."""
    text = (ROOT / "config" / "datamig.yaml").read_text().replace("out_dir: data/runs", "out_dir: ''")
    (tmp_path / "datamig.yaml").write_text(text)
    env = {**os.environ, "DATAMIG_CONFIG": str(tmp_path / "datamig.yaml"), "DATAMIG_SALT": "empty-out-dir-0123456789",
           "PROD_IDS_URL": "postgresql://u@127.0.0.1:1/ids", "DATAMIG_STATE_DIR": str(tmp_path / "state")}
    result = subprocess.run([str(ROOT / ".venv/bin/datamig"), "extract", "--district", "42"], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stderr.strip().splitlines() == [f"error: {tmp_path / 'datamig.yaml'}:103: extract.out_dir: empty: "
                                                  f"name the folder runs go to (default data/runs)"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["datamig.yaml"]


def test_aliases_of_aliases_are_refused_before_anything_expands_them(tmp_path):
    """Eight levels of ten aliases stand for 10^8 values: the schema check took ~100 s and then
    ran out of memory. An alias of an enclosing node (`a: &x [*x]`) is still no error here."""
    levels = ["version: 1", "exclude_tables:", "  - &a0 [ids.a, ids.b, ids.c, ids.d, ids.e, ids.f, ids.g, ids.h, ids.i, ids.j]"]
    levels += [f"  - &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, 9)]
    with pytest.raises(ConfigError) as err:
        load_config(write(tmp_path, "\n".join(levels) + "\n"))
    assert "aliases expand to over 1,000,000 values" in str(err.value) and "datamig.yaml:" in str(err.value)
    ten_fold = "\n".join(levels[:6]) + "\n"   # 10^3 values: a file may use aliases
    with pytest.raises(ConfigError) as err:  # the schema's own error (no stores), not the size's
        load_config(write(tmp_path, ten_fold))
    assert "required property" in str(err.value) and "aliases expand" not in str(err.value)
