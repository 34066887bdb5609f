"""More errors a user causes, through the CLI as users meet them, with no server running: one
line naming the thing, exit 2, no secret, and nothing changed (no run folder, no file of a run
touched, no cache written). Stores are pointed at 127.0.0.1:1, where nothing listens."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from _unreachable import one_error_line, run_cli, unreachable_stores, work_folder

ROOT = Path(__file__).resolve().parents[1]
SALT = "more-errors-salt-0123456789abcdef"
NEO_PASSWORD = "neo-Planted-pw-4242"
URL_PASSWORD = "url-pw-Planted-1234"
RUN = "mig-20990101-000000-d42"


@pytest.fixture()
def work(tmp_path) -> Path:
    """A config whose runs land in tmp_path/runs, a state folder of its own (and, in _env, a cache folder)."""
    return work_folder(tmp_path)


def _env(work: Path, **extra: str | None) -> dict:
    stores = unreachable_stores(URL_PASSWORD)
    stores.update({f"{t}_SP_PASSWORD": NEO_PASSWORD for t in ("PROD", "CERT")})
    env = {**os.environ, **stores, "DATAMIG_CONFIG": str(work / "datamig.yaml"),
           "DATAMIG_STATE_DIR": str(work / "state"), "DATAMIG_SALT": SALT, "DATAMIG_CACHE_DIR": str(work / "cache"),
           "COLUMNS": "200"}
    for key, value in extra.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return env


def _cli(work: Path, *args: str, cwd: Path = ROOT, **extra: str | None) -> subprocess.CompletedProcess:
    return run_cli(_env(work, **extra), *args, cwd=cwd)


def _one_error_line(proc: subprocess.CompletedProcess, *named: str) -> str:
    return one_error_line(proc, (SALT, NEO_PASSWORD, URL_PASSWORD), *named)


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _run(work: Path, manifest: dict) -> Path:
    """Run RUN with an extraction manifest (what validate-migration and transform read first)."""
    run = work / "runs" / RUN
    (run / "extract").mkdir(parents=True)
    (run / "extract" / "extraction-manifest.json").write_text(json.dumps(manifest))
    (run / "run.log").write_text("2099-01-01 00:00:00 INFO datamig.extract: extracted\n")
    return run


MANIFEST = {"district": 42, "tables": {"ids.districts": {"store": "ids", "table": "districts", "rows": 1,
                                                          "primary_key": ["id"], "columns": []}}}
LOADED = {"status": "LOADED", "dry_run": False, "finished_at": "2099-01-01T00:01:00"}


# --- 1. validate-migration with CERT down ------------------------------------------------------

def test_validate_migration_with_cert_down_is_one_line_and_writes_nothing(work):
    """It crashed with psycopg's traceback, after writing dbt-cert/ into the run and a parse cache."""
    run = _run(work, MANIFEST)
    (run / "load-report.json").write_text(json.dumps(LOADED))
    before = _files(run)
    line = _one_error_line(_cli(work, "validate-migration", RUN), "store ids (CERT)", "127.0.0.1:1",
                           "Connection refused")
    assert "Traceback" not in line
    assert _files(run) == before and sorted(p.name for p in run.iterdir()) == ["extract", "load-report.json", "run.log"]
    assert not (work / "cache").exists()


def test_validate_migration_of_a_final_parquet_cut_short_is_one_line_and_writes_nothing(work):
    """It was DuckDB's 'No magic bytes found' traceback, exit 1, from a check thread, after dbt's
    parse had written dbt-cert/ into the run; checked before CERT is reached (here: down)."""
    run = _run(work, MANIFEST)
    (run / "load-report.json").write_text(json.dumps(LOADED))
    (run / "final" / "ids").mkdir(parents=True)
    (run / "final" / "ids" / "districts.parquet").write_bytes(b"PAR1 cut short")
    before = _files(run)
    _one_error_line(_cli(work, "validate-migration", RUN),
                    f"run {RUN}: final/ids/districts.parquet is not readable Parquet (")
    assert _files(run) == before and not (work / "cache").exists()


def test_validate_migration_of_a_load_report_cut_short_names_it(work):
    """It said 'run ... was never loaded into CERT: load it first' of a run CERT may well hold (its
    load's record is what was cut short): the file at fault is named instead."""
    run = _run(work, MANIFEST)
    (run / "load-report.json").write_text(json.dumps(LOADED)[:25])
    before = _files(run)
    line = _one_error_line(_cli(work, "validate-migration", RUN), f"{run / 'load-report.json'}: not readable JSON (")
    assert "never loaded" not in line
    assert _files(run) == before


@pytest.mark.parametrize("reports, named", [
    ({}, "was never loaded into CERT"),
    ({"load-report.json": {"status": "DRY_RUN", "dry_run": True}}, "was never loaded into CERT"),
    ({"load-report.json": {"status": "FAILED", "dry_run": False}}, "is not loaded into CERT (its load: LOAD_FAILED)"),
    ({"load-report.json": LOADED,
      "rollback-report.json": {"status": "ROLLED_BACK", "finished_at": "2099-01-01T00:02:00"}},
     "was rolled back from CERT at 2099-01-01T00:02:00"),
])
def test_validate_migration_of_a_run_not_in_cert_says_so(work, reports, named):
    """It went on to CERT and answered ISSUES_FOUND (every count 0 in CERT), blaming CERT for a
    load that is not there."""
    run = _run(work, MANIFEST)
    for name, report in reports.items():
        (run / name).write_text(json.dumps(report))
    before = _files(run)
    _one_error_line(_cli(work, "validate-migration", RUN), f"run {RUN} {named}", f"datamig load {RUN}")
    assert _files(run) == before


# --- 2. a broken validation-rules file, caught by migrate's preflight ----------------------------

def _project(tmp_path: Path) -> Path:
    """A project root (found from its dbt_project.yml) with the checkout's config files and
    scaffolded staging YAML (what the models know): what migrate's preflight reads."""
    root = tmp_path / "proj"
    (root / "config").mkdir(parents=True)
    shutil.copyfile(ROOT / "dbt_project.yml", root / "dbt_project.yml")
    for name in ("anonymization-rules.yaml", "validation-rules.yaml"):
        shutil.copyfile(ROOT / "config" / name, root / "config" / name)
    (root / "dbt_project").mkdir()
    shutil.copyfile(ROOT / "dbt_project" / "scaffold-inputs.json", root / "dbt_project" / "scaffold-inputs.json")
    for yml in (ROOT / "dbt_project" / "staging").glob("*/_*__staging.yml"):
        target = root / yml.relative_to(ROOT)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(yml, target)
    return root


def test_migrate_preflight_stops_on_a_broken_validation_rules_file(work, tmp_path):
    """The transform read it first, after the extract had written the run folder."""
    root = _project(tmp_path)
    rules = root / "config" / "validation-rules.yaml"
    text = rules.read_text()
    at = text.index("settings:")
    rules.write_text(text[:at] + "settings: [\n" + text[at + len("settings:"):])
    proc = _cli(work, "migrate", "--district", "42", "--yes", cwd=root)
    error = _one_error_line(proc, "invalid YAML")
    line = error.removeprefix(f"error: {rules}:").split(":")[0]
    assert line.isdigit() and int(line) > text[:at].count("\n"), error   # the file and a line of it
    assert not (work / "runs").exists() or not any((work / "runs").iterdir())


# --- 3. a Neo4j URL with a scheme the driver takes but cannot serve -----------------------------

def test_migrate_with_a_http_neo4j_url_is_one_line_naming_store_and_scheme(work):
    """The driver accepts http:// (its HTTP API) and then failed importing aiohttp: 70 lines."""
    proc = _cli(work, "migrate", "--district", "42", "--yes", PROD_SP_URL=f"http://neo4j:{NEO_PASSWORD}@127.0.0.1:1")
    _one_error_line(proc, "store sp (PROD)", "PROD_SP_URL", "'http://'", "bolt://")
    assert not (work / "runs").exists()


def test_a_http_neo4j_url_is_refused_where_the_loader_makes_its_driver(work):
    from datamig.config import load_config
    from datamig.errors import ConfigError
    from datamig.load.graph import connect

    cfg = load_config(work / "datamig.yaml")
    with pytest.raises(ConfigError) as err:
        connect(cfg.stores["sp"], {"CERT_SP_URL": "https://127.0.0.1:1", "CERT_SP_PASSWORD": NEO_PASSWORD})
    assert str(err.value).startswith("store sp (CERT): CERT_SP_URL has the scheme 'https://'")


def test_a_http_neo4j_url_is_refused_by_status_extract_and_analyze_alike(work):
    """`services status` crashed (aiohttp); the extract and the introspection made their drivers
    unchecked. The extract's message names host:port, never the URL (it may carry a password)."""
    from datamig.analyze.neo4j_introspect import open_driver
    from datamig.config import load_config
    from datamig.errors import ConfigError, ConnectionFailed
    from datamig.extract.graph_slice import extract_subgraph

    proc = _cli(work, "services", "status", PROD_SP_URL=f"http://neo4j:{NEO_PASSWORD}@127.0.0.1:1")
    assert proc.returncode == 1 and proc.stderr == "", proc.stderr  # a row of the table, not a traceback
    assert "PROD_SP_URL has the scheme 'http://'" in proc.stdout
    assert NEO_PASSWORD not in proc.stdout
    cfg = load_config(work / "datamig.yaml")
    with pytest.raises(ConfigError, match="store sp has the scheme 'https://'"):
        extract_subgraph("https://127.0.0.1:1", "neo4j", NEO_PASSWORD, cfg.graph, 42)
    with pytest.raises(ConfigError, match="store sp has the scheme 'http://'"):
        open_driver(cfg.stores["sp"], "http://127.0.0.1:1", "neo4j", NEO_PASSWORD)
    with pytest.raises(ConnectionFailed) as err:
        extract_subgraph("bolt://127.0.0.1:1", "neo4j", NEO_PASSWORD, cfg.graph, 42)
    assert str(err.value) == "store sp: cannot connect to Neo4j at 127.0.0.1:1"
    with pytest.raises(ConfigError) as err:  # a URL holding a password is refused before any driver
        extract_subgraph(f"bolt://neo4j:{URL_PASSWORD}@127.0.0.1:1", "neo4j", NEO_PASSWORD, cfg.graph, 42)
    assert str(err.value).startswith("store sp holds a user name or password") and URL_PASSWORD not in str(err.value)


@pytest.mark.parametrize("port", ["99999", "0", "abc"])
def test_a_neo4j_url_whose_port_is_no_port_is_one_line_naming_it(work, port):
    """bolt://127.0.0.1:99999 was 'cannot connect to Neo4j at (unparsable URL): Failed to establish
    connection to ResolvedIPv4Address(('127.0.0.1', 34463))': a port the user never wrote."""
    url = f"bolt://neo4j:{NEO_PASSWORD}@127.0.0.1:{port}"
    proc = _cli(work, "extract", "--district", "42", PROD_SP_URL=url, PROD_IDS_URL=None)
    _one_error_line(proc, f"store sp has the port '{port}': a port is a number from 1 to 65535")
    proc = _cli(work, "migrate", "--district", "42", "--yes", PROD_SP_URL=url)
    _one_error_line(proc, f"store sp (PROD): PROD_SP_URL has the port '{port}'")
    proc = _cli(work, "services", "status", PROD_SP_URL=url)
    assert proc.returncode == 1 and proc.stderr == "", proc.stderr
    assert f"PROD_SP_URL has the port '{port}'" in proc.stdout and NEO_PASSWORD not in proc.stdout
    assert not (work / "runs").exists()


@pytest.mark.parametrize("url, problem", [
    (f"neo4j:{NEO_PASSWORD}@127.0.0.1:1", "PROD_SP_URL has no host: a Neo4j URL reads neo4j://host:port"),
    (f"bolt://neo4j:{NEO_PASSWORD}@127.0.0.1:1",
     "PROD_SP_URL holds a user name or password, which the driver refuses: give them in PROD_SP_USER and "
     "PROD_SP_PASSWORD"),
    ("bolt://[::1:1", "PROD_SP_URL is not a URL: its host part cannot be read"),
], ids=["no-slashes", "user-and-password", "unclosed-bracket"])
def test_a_neo4j_url_the_driver_cannot_use_is_one_line_naming_what_is_wrong(work, url, problem):
    """neo4j:pw@host:port (the // left out) was 'cannot connect to Neo4j at localhost:7687', and
    services status showed the password as the address's database; a user and password in the URL
    were the driver's 'URI userinfo is not supported', and to status 'no Bolt answer'; an unclosed
    IPv6 bracket read 'has no scheme'."""
    proc = _cli(work, "extract", "--district", "42", PROD_SP_URL=url, PROD_IDS_URL=None)
    _one_error_line(proc, "store sp " + problem.removeprefix("PROD_SP_URL ").split(":")[0])  # no variable known
    proc = _cli(work, "migrate", "--district", "42", "--yes", PROD_SP_URL=url)
    _one_error_line(proc, f"store sp (PROD): {problem}")
    proc = _cli(work, "services", "status", PROD_SP_URL=url)
    assert proc.returncode == 1 and proc.stderr == "", proc.stderr
    assert problem in " ".join(proc.stdout.split()) and NEO_PASSWORD not in proc.stdout, proc.stdout
    assert not (work / "runs").exists()


def test_status_names_the_port_a_neo4j_url_without_one_is_tried_at(work):
    """The driver tries bolt://127.0.0.1 at 7687, as the extract's message says; status showed
    '127.0.0.1:None'."""
    proc = _cli(work, "services", "status", PROD_SP_URL="bolt://127.0.0.1")
    row = next(line for line in proc.stdout.splitlines() if "│ sp" in line and "prod" in line)
    assert "127.0.0.1:7687" in row and "None" not in row, row


def test_an_empty_run_id_is_no_run_id_for_every_caller(work):
    """`resume=""` started a new migration of district 0 and `extract(run_id="")` a new run, for
    callers other than the CLI (the MCP server, scripts)."""
    from datamig.config import load_config
    from datamig.errors import DatamigError
    from datamig.extract.run import extract
    from datamig.runner import api

    cfg = load_config(work / "datamig.yaml")
    with pytest.raises(DatamigError, match="is not a run id"):
        api.migrate(cfg, _env(work), ROOT, 0, False, "auto", "")
    with pytest.raises(DatamigError, match="is not a run id"):
        extract(cfg, _env(work), 42, "")
    assert not (work / "runs").exists() or not any((work / "runs").iterdir())


def test_seeding_without_the_admin_url_is_a_config_error():
    from datamig.errors import ConfigError
    from datamig.estate.seed import _admin_url

    with pytest.raises(ConfigError, match="DATAMIG_PG_ADMIN_URL is not set"):
        _admin_url({})


def test_an_unreachable_neo4j_routing_url_adds_no_driver_log_line(work):
    """neo4j:// made the driver log 'Unable to retrieve routing information' to stderr (Python's
    last-resort handler) beside datamig's own line or table."""
    status = _cli(work, "services", "status", PROD_SP_URL="neo4j://127.0.0.1:1")
    assert status.returncode == 1 and "unreachable" in status.stdout
    assert status.stderr == "", status.stderr
    proc = _cli(work, "migrate", "--district", "42", "--yes", PROD_SP_URL="neo4j://127.0.0.1:1")
    _one_error_line(proc, "unreachable")


# --- 5. transform's drift, and a resumed run without a salt, change nothing --------------------

def test_transform_with_schema_drift_leaves_the_run_log_alone(work):
    run = _run(work, {"district": 42, "tables": {"ids.lockers": {
        "store": "ids", "table": "lockers", "rows": 0, "columns": [{"name": "id"}]}}})
    before = _files(run)
    proc = _cli(work, "transform", "--district", "42", "--run-id", RUN)
    _one_error_line(proc, "schema drift", "ids.lockers")
    assert _files(run) == before


def test_resume_without_a_salt_leaves_the_run_state_alone(work):
    run = _run(work, MANIFEST)
    phases = {p: {"status": "pending", "seconds": None, "started_at": None, "error": None, "summary": {}}
              for p in ("preflight", "extract", "transform", "gate", "load", "verify", "report")}
    phases["preflight"]["status"] = phases["extract"]["status"] = "done"
    phases["transform"].update(status="failed", error="dbt build failed")
    (run / "run-state.json").write_text(json.dumps({
        "run_id": RUN, "district": 42, "options": {"dry_run": False, "strategy": "auto"}, "status": "failed",
        "created_at": "2099-01-01T00:00:00+00:00", "phases": phases}, indent=2))
    before = _files(run)
    proc = _cli(work, "migrate", "--resume", RUN, "--yes", DATAMIG_SALT=None)
    _one_error_line(proc, "DATAMIG_SALT")
    assert _files(run) == before
    # a store down is the user's to fix too: the state stays as it was
    proc = _cli(work, "migrate", "--resume", RUN, "--yes")
    _one_error_line(proc, "(CERT) unreachable", "127.0.0.1:1")
    assert _files(run) == before


# --- a CERT setting that names PROD ---------------------------------------------------------------

@pytest.mark.parametrize("store, url", [
    ("IDS", f"postgresql://datamig:{URL_PASSWORD}@127.0.0.1:1/ids"),
    ("IDS", "host=localhost port=1 dbname=ids user=writer password=pw-Planted-99"),
    ("SP", "neo4j://localhost:1"),
    # the driver ignores a Neo4j URL's path: this is PROD's server (it passed as another place)
    ("SP", "bolt://127.0.0.1:1/cert"),
], ids=["url", "key-value", "neo4j", "neo4j-path"])
def test_a_cert_setting_that_names_prod_is_refused_before_anything_is_written(work, store, url):
    """A review pointed CERT_IDS_URL at PROD: preflight passed (PROD's schema fits itself) and
    the load tried to write its ledger into production; only the read-only role stopped it.
    CERT_SP_URL=bolt://<PROD's host:port>/cert (a path read as a database, as in PostgreSQL's
    URLs) passed the check, and the load went on to PROD's graph: the driver ignores the path."""
    named = (f"store {store.lower()}", f"CERT_{store}_URL", "points at PROD", "127.0.0.1:1")
    run = _run(work, MANIFEST)
    before = _files(work / "runs")
    for args in (("migrate", "--district", "42", "--yes"), ("load", "--run", RUN), ("rollback", RUN, "--yes")):
        proc = _cli(work, *args, **{f"CERT_{store}_URL": url})
        assert "pw-Planted-99" not in proc.stdout + proc.stderr
        _one_error_line(proc, *named)
    assert _files(work / "runs") == before and [p.name for p in (work / "runs").iterdir()] == [run.name]


# --- rules edited since the models were generated ---------------------------------------------------

@pytest.mark.parametrize("name, edit", [
    ("anonymization-rules.yaml", lambda t: t + "  - {table: ids.students, column: notes, strategy: nullify}\n"),
    ("validation-rules.yaml", lambda t: t.replace("fail_on_warnings: false", "fail_on_warnings: true")),
])
def test_rules_edited_since_the_scaffold_stop_migrate_and_transform(work, tmp_path, name, edit):
    """A review added an override (notes nullified) and ran the migration: exit 0, the notes
    still there; the models had been generated from the old rules. Comments are no change."""
    root = _project(tmp_path)
    path = root / "config" / name
    text = path.read_text()
    path.write_text("# a comment changes nothing\n" + text)
    proc = _cli(work, "migrate", "--district", "42", "--yes", cwd=root)
    _one_error_line(proc, "unreachable")                      # past the rules: they are what made the models
    edited = edit(text)
    assert edited != text
    path.write_text(edited)
    run = _run(work, MANIFEST)
    before = _files(work / "runs")
    for args in (("migrate", "--district", "42", "--yes"), ("transform", "--district", "42", "--run-id", RUN)):
        _one_error_line(_cli(work, *args, cwd=root), str(path), "changed since the dbt models were generated",
                        "datamig scaffold")
    assert _files(work / "runs") == before and [p.name for p in (work / "runs").iterdir()] == [run.name]


def test_the_loopbacks_names_are_one_place_and_other_databases_are_not(work):
    from datamig.config import load_config
    from datamig.errors import ConfigError
    from datamig.services.manager import check_cert_apart

    cfg = load_config(work / "datamig.yaml")
    env = unreachable_stores(URL_PASSWORD)
    check_cert_apart(cfg, env)   # CERT's own databases on PROD's server: apart
    for cert in ("postgresql://w@[::1]:1/ids", "postgresql://w@localhost:1/ids", "host=127.0.0.1 port=1 dbname=ids"):
        with pytest.raises(ConfigError, match="store ids: CERT \\(CERT_IDS_URL\\) points at PROD"):
            check_cert_apart(cfg, {**env, "CERT_IDS_URL": cert})


# --- a run file that is not JSON (cut short by a full disk, edited by hand) ------------------------

@pytest.mark.parametrize("name, args", [
    ("extract/extraction-manifest.json", ("transform", "--district", "42", "--run-id", RUN)),
    ("run-state.json", ("migrate", "--resume", RUN)),
    ("validation-report.json", ("load", RUN)),
    ("extract/extraction-manifest.json", ("validate-migration", RUN)),
], ids=["transform", "resume", "load", "validate-migration"])
def test_a_run_file_that_is_not_json_is_one_line_naming_it(work, name, args):
    """transform, resume and validate-migration were json.decoder's traceback, exit 1; load's said
    "is not readable JSON", exit 1 as if the migration had failed, naming no file."""
    run = _run(work, MANIFEST)
    (run / name).write_text('{"district": 42, "tab')
    before = _files(run)
    _one_error_line(_cli(work, *args), f"{run / name}: not readable JSON")
    assert _files(run) == before


@pytest.mark.parametrize("manifest, problem", [
    ({k: v for k, v in MANIFEST.items() if k != "district"}, "no district number"),
    ({**MANIFEST, "district": "42"}, "no district number"),
    ({"district": 42, "tables": {"ids.districts": {"store": "ids", "rows": 1}}},
     "table ids.districts lacks its store, table or columns"),
], ids=["no-district", "district-as-text", "table-without-columns"])
@pytest.mark.parametrize("args", [("transform", "--district", "42", "--run-id", RUN), ("validate-migration", RUN)],
                         ids=["transform", "validate-migration"])
def test_an_extraction_manifest_of_another_shape_is_one_line_naming_it(work, manifest, problem, args):
    """validate-migration read manifest["district"]: a KeyError traceback, exit 1; the transform
    went on to dbt, which said "run . is an extract of district None"."""
    run = _run(work, manifest)
    before = _files(run)
    path = run / "extract" / "extraction-manifest.json"
    _one_error_line(_cli(work, *args), f"{path}: not an extraction manifest ({problem}); extract the district again")
    assert _files(run) == before


@pytest.mark.parametrize("state", [{"run_id": RUN}, [1, 2], {"run_id": RUN, "district": 42, "options": {},
                                                          "phases": {"gate": {"state": "done"}}}],
                         ids=["no-phases", "a-list", "a-phase-of-another-shape"])
def test_a_run_state_of_another_shape_is_one_line_naming_it(work, state):
    """JSON, but not what migrate writes: a KeyError or TypeError traceback, exit 1."""
    run = _run(work, MANIFEST)
    (run / "run-state.json").write_text(json.dumps(state))
    before = _files(run)
    named = "not a JSON object" if isinstance(state, list) else "not a datamig run state"
    _one_error_line(_cli(work, "migrate", "--resume", RUN), str(run / "run-state.json"), named)
    assert _files(run) == before
    listed = _cli(work, "runs")  # the run is still listed, from what its folder holds
    assert listed.returncode == 0 and RUN in listed.stdout


def test_the_gate_of_a_resumed_run_names_a_validation_report_that_is_not_json(work):
    """The gate read the report with json.loads: a report cut short or edited by hand between the
    transform and a resume was json.decoder's traceback instead of one line naming the file."""
    from datamig.config import load_config
    from datamig.errors import DatamigError
    from datamig.runner.migrate import Migration
    from datamig.runner.state import RunState

    cfg = load_config(work / "datamig.yaml")
    run = _run(work, MANIFEST)
    report = run / "validation-report.json"
    migration = Migration(cfg, {}, ROOT, RunState(run_id=RUN, district=42, options={}), None, None, None)
    for text, named in (('{"status": "PASS', "not readable JSON"), ('["PASSED"]', "not a JSON object")):
        report.write_text(text)
        with pytest.raises(DatamigError, match=f"^{report}: {named}"):
            migration._gate()
    report.write_text('{"status": "PASSED"}')
    assert migration._gate() == {"validation_status": "PASSED"}


@pytest.mark.parametrize("command", ["down", "up"])
def test_a_services_state_file_that_is_not_json_is_one_line_naming_it(work, command):
    """`services down` finds the servers in state/state.json: one cut short was json.decoder's
    traceback, exit 1, naming no file (and `up` would have started servers it could not record)."""
    state = work / "state" / "state.json"
    state.parent.mkdir(parents=True, exist_ok=True)
    state.write_text('{"postgres": {"port": 5')
    before = _files(work / "state")
    _one_error_line(_cli(work, "services", command), f"{state}: not readable JSON")
    assert _files(work / "state") == before


def test_the_settings_file_stays_private_when_written_over_a_readable_one(tmp_path):
    """services.env holds passwords: written over a file others could read, it is 0600 again, and
    no temporary file of it is left beside it."""
    import stat

    from datamig.services import envfile

    path = tmp_path / "services.env"
    path.write_text("OLD=1\n")
    path.chmod(0o644)
    envfile.write_env_file(path, {"PROD_IDS_URL": f"postgresql://u:{URL_PASSWORD}@127.0.0.1:1/ids"})
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert envfile.read_env_file(path) == {"PROD_IDS_URL": f"postgresql://u:{URL_PASSWORD}@127.0.0.1:1/ids"}
    assert [p.name for p in tmp_path.iterdir()] == ["services.env"]


@pytest.mark.parametrize("args", [(), ("--json",)], ids=["tables", "json"])
def test_migrate_on_a_terminal_asks_before_writing_cert_even_with_json(work, args):
    """`--json` skipped the question: a user at a terminal choosing how the output looks went
    straight on to write CERT. Now it is asked on stderr (stdout stays one JSON object), and a
    "no" changes nothing: exit 1, `aborted`, no run folder."""
    import pty

    controller, terminal = pty.openpty()
    try:
        os.write(controller, b"n\n")
        proc = subprocess.run([str(ROOT / ".venv/bin/datamig"), "migrate", "--district", "42", *args], cwd=ROOT,
                              env=_env(work), stdin=terminal, capture_output=True, text=True, timeout=300)
    finally:
        os.close(controller)
        os.close(terminal)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    asked = proc.stderr if args else proc.stdout
    assert "Migrate district 42 into CERT? [y/N]" in asked, proc.stdout + proc.stderr
    assert proc.stderr.rstrip().endswith("error: aborted")  # after the prompt, where the answer was typed
    if args:
        assert json.loads(proc.stdout) == {"status": "error", "error": "aborted"}
    assert not (work / "runs").exists()


@pytest.mark.parametrize("args", [("transform", "--district", "42", "--run-id", RUN), ("validate-migration", RUN)],
                         ids=["transform", "validate-migration"])
def test_a_missing_extraction_manifest_is_the_same_line_for_every_reader(work, args):
    """transform and validate-migration worded the same missing file two ways, one of them
    without saying how to get it."""
    run = _run(work, MANIFEST)
    path = run / "extract" / "extraction-manifest.json"
    path.unlink()
    before = _files(run)
    _one_error_line(_cli(work, *args),
                    f"{path}: no extraction manifest (the extract did not finish; run `datamig extract`)")
    assert _files(run) == before


def test_transform_of_a_run_another_process_has_open_is_one_line(work):
    """`datamig transform` beside a `dbt build` of the same run removed its final/ and verdict
    under the build, then failed on DuckDB's lock in dbt's traceback."""
    run = _run(work, MANIFEST)
    (run / "final").mkdir()
    (run / "final" / "kept.parquet").write_bytes(b"PAR1")
    (run / "validation-report.json").write_text('{"status": "PASSED"}')
    hold = "import duckdb, sys; c = duckdb.connect(sys.argv[1]); print('open', flush=True); sys.stdin.read()"
    holder = subprocess.Popen([str(ROOT / ".venv/bin/python"), "-c", hold, str(run / "warehouse.duckdb")],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "open"
        before = _files(run)
        proc = _cli(work, "transform", "--district", "42", "--run-id", RUN)
        after = _files(run)
    finally:
        holder.communicate("", timeout=60)
    _one_error_line(proc, f"run {RUN} is in use: process {holder.pid} has its warehouse.duckdb open")
    assert after == before
