"""dbt-duckdb plugin: puts the anonymization engine on every DuckDB connection dbt opens.

Profile:
    outputs:
      dev:
        type: duckdb
        path: target/datamig.duckdb
        plugins:
          - module: datamig.dbt_plugin
            config: {rules_file: config/anonymization-rules.yaml, locale: en_US}  # both optional

initialize() runs once per dbt process, before any model: it reads the salt from the env var the
rules name (DATAMIG_SALT) and fails the run with a one-line error if it is missing or empty.
configure_connection() registers the UDFs, once per DuckDB connection dbt-duckdb opens. Each dbt
node then runs on a fresh cursor of that connection (environments/local.py: handle() ->
conn.cursor() -> configure_cursor()); UDFs registered on the connection are seen by all its
cursors, and dictionaries and settings are UDFs too (engine.py), so configure_cursor() has nothing
to do (it used to re-set every dictionary as a DuckDB variable, ~0.1 s per node).
The salt is never templated into SQL: compiled SQL (written by dbt to target/) only says
dm_domain_key('person.first_name'); the UDF returns a key derived from the salt, and neither the
salt nor the master key is ever handed to DuckDB.
"""
from __future__ import annotations

import gc
import re
import secrets
import sys
from pathlib import Path
from typing import Any, Dict

from dbt.adapters.duckdb.plugins import BasePlugin
from dbt_common.exceptions import DbtRuntimeError

from .anonymize.engine import Engine, read_salt
from .anonymize.keyed import Keys
from .anonymize.rules import load_rules
from .errors import ConfigError, DatamigError, NotFound
from .extract.manifest import MANIFEST
from .extract.runs import checked_run_id, district_of, district_problem, loaded_run_refusal
from .file_locks import in_use_refusal
from .runfiles import read_json_or_none
from .transform.drift import check_drift
from .transform.validation_report import REPORT as VALIDATION_REPORT, SALT_CHECK

READS_DATA = ("build", "run", "retry", "test", "show")  # dbt commands that read the run's extract or warehouse
# what `dbt show` must not be asked for: models and sources of PROD's values, before anonymization,
# and the extract's own files (`--inline "select * from read_parquet('…/extract/ids/students.parquet')"`)
UNANONYMIZED = re.compile(r"\b(?:stg|int)_|\bsource\s*\(|staging|intermediate|\bextract[/\\]")


class Plugin(BasePlugin):
    def initialize(self, config: Dict[str, Any]) -> None:
        # config also carries the profile's `settings`; only our keys are read.
        _check_parse_only(config)
        try:
            ruleset = load_rules(config.get("rules_file"))
            self.engine = Engine(ruleset, self._keys(config, ruleset), config.get("locale"))
        except ConfigError as exc:
            # dbt prints its own errors as one clean line; anything else becomes a traceback
            raise DbtRuntimeError(f"datamig.dbt_plugin: {exc}") from None
        run_dir, run_id = config.get("run_dir"), str(config.get("run_id") or "")
        if "district" in config:  # the lint target names none; `{district: null}` renders as None
            _check_district_var(str(config["district"]))
            _check_district_var(_district_as_given())
        _check_run_id(run_id)
        if run_dir and not Path(run_dir).is_dir():
            # else DuckDB fails to open <run>/warehouse.duckdb, in ~200 lines of traceback
            raise DbtRuntimeError(f"datamig.dbt_plugin: run folder {run_dir} not found: extract the district first "
                                  "(datamig extract --district N), or name an extracted run with --vars "
                                  "'{district: N, run_id: mig-...}'")
        _check_extracted(run_dir, run_id)
        _check_district(run_dir, run_id, str(config.get("district") or ""))
        if run_dir and _builds_models() and (refusal := loaded_run_refusal(Path(run_dir))):
            # `dbt build` with no run_id builds the district's newest run, loaded or not
            raise DbtRuntimeError(f"datamig.dbt_plugin: {refusal}")
        _check_not_in_use(run_dir, run_id)  # first: a run being built has no final/ files yet
        _check_built(run_dir, run_id)
        _check_show()
        _check_drift(run_dir)
        _check_salt(run_dir, run_id, self.engine.keys)
        if run_dir and _builds_models():
            _forget_verdict(Path(run_dir))
            (Path(run_dir) / SALT_CHECK).write_text(_salt_check(self.engine.keys) + "\n")
        _prepare_final_dirs(run_dir)
        # dbt's manifest and modules, loaded by now and alive until dbt exits, were walked again by
        # every full garbage collection (~1 s of a `reference` `dbt run` in the one at exit alone).
        # Frozen, the collector walks only what is allocated after this (README "Benchmarks").
        gc.freeze()

    @staticmethod
    def _keys(config: Dict[str, Any], ruleset) -> Keys:
        """The salt's keys; a target that only parses or lints (require_salt: false) gets a
        random throwaway key instead, so it needs no secret and can produce nothing reusable."""
        salt_env = config.get("salt_env") or ruleset.settings.salt_env
        if config.get("require_salt", True):
            return read_salt(salt_env)
        return Keys(secrets.token_hex(32))

    def configure_connection(self, conn) -> None:
        self.engine.configure(conn)
        if _builds_models():
            self.engine.warm_workers()


def _builds_models() -> bool:
    """Whether this dbt command runs models (`retry` re-runs a failed run's), whose JSON
    documents and masks the UDF workers take; `dbt test`, `docs generate` or `show` would start
    them for nothing."""
    return _command() in ("run", "build", "retry")


def _flag(name: str) -> Any:
    """One of the running dbt command's flags (WHICH: the command), None outside dbt-core."""
    try:
        from dbt.flags import get_flags
        return getattr(get_flags(), name, None)
    except ImportError:  # dbt-core is not what loaded the plugin
        return None


def _command() -> str | None:
    return _flag("WHICH")


def _run_name(run_dir: str, run_id: str) -> str:
    return run_id or Path(run_dir).resolve().name  # the transform runs dbt inside the run folder: "."


def _check_parse_only(config: Dict[str, Any]) -> None:
    """A target without the salt (lint) has a random key, no run folder and an in-memory DuckDB:
    models built there read the newest extract for nothing, and tests met an empty database
    (`dbt test --target lint`: ~435 "table does not exist" errors, naming no target)."""
    if not config.get("require_salt", True) and _command() in READS_DATA:
        raise DbtRuntimeError(f"datamig.dbt_plugin: target '{_flag('TARGET') or 'lint'}' only parses and lints "
                              f"(no salt, no run folder): dbt {_command()} runs on the default target, dev")


def _check_extracted(run_dir: str | None, run_id: str) -> None:
    """A run whose extract never finished (stopped by Ctrl-C: only its run.log) passed the
    district check and the drift gate, which read the manifest, and failed in ~940 lines of
    missing Parquet files, leaving a warehouse in the folder."""
    if run_dir and _command() in READS_DATA and not (Path(run_dir) / "extract" / MANIFEST).is_file():
        raise DbtRuntimeError(f"datamig.dbt_plugin: run {_run_name(run_dir, run_id)} has no extract (its "
                              f"extract/{MANIFEST} is missing: the extract did not finish); extract the district "
                              "again")


def _check_built(run_dir: str | None, run_id: str) -> None:
    """`dbt test` of a run never built (a new extract moves latest-dN) failed every test, ~430
    "table does not exist" errors; its models are built by `dbt build`, which tests them too.
    Built means a model exported to final/: `dbt docs generate` or `compile` on a new run
    leaves an empty warehouse.duckdb (dbt-duckdb creates the file it connects to)."""
    if not (run_dir and _command() == "test"):
        return
    if not ((Path(run_dir) / "warehouse.duckdb").is_file() and any((Path(run_dir) / "final").rglob("*.parquet"))):
        raise DbtRuntimeError(f"datamig.dbt_plugin: run {_run_name(run_dir, run_id)} is not built: `dbt build` "
                              "builds and tests it (or `datamig transform`)")


def _check_not_in_use(run_dir: str | None, run_id: str) -> None:
    """A second dbt command on a run another process has open (a `dbt build` beside `datamig
    transform`) failed on DuckDB's lock in ~220 lines of traceback, after this plugin had already
    removed the run's verdict. Checked before anything is changed; a lock this process holds
    (the runner's own connection) is not another user."""
    if run_dir and (refusal := in_use_refusal(Path(run_dir), _run_name(run_dir, run_id))):
        raise DbtRuntimeError(f"datamig.dbt_plugin: {refusal}")


def _check_show() -> None:
    """`dbt show` of a staging or intermediate model (or a source) printed PROD's real values
    (emails, phones, student ids), and dbt kept the preview in logs/dbt.log, a file analysts
    share; the marts hold the anonymized rows."""
    if _command() != "show":
        return
    asked = " ".join([*(_flag("SELECT") or ()), _flag("INLINE") or ""])
    if UNANONYMIZED.search(asked):
        raise DbtRuntimeError("datamig.dbt_plugin: dbt show of a staging or intermediate model or a source would "
                              "print PROD's real values (and dbt keeps the preview in its log): show a mart, e.g. "
                              "ids__students, which holds the anonymized rows")


def _salt_check(keys: Keys) -> str:
    """A keyed hash of a fixed text: tells whether two salts are the same, as int_pii_values'
    keyed hashes already could, and nothing else."""
    return keys.sha_hex("datamig.salt_check", "salt check")


def _check_salt(run_dir: str | None, run_id: str, keys: Keys) -> None:
    """`dbt test` under another salt than the build's: the text-leak tests hash the output's
    emails, phones and SSNs to join them with int_pii_values' keyed hashes, so none matched and
    a leak passed. A build too (`dbt run -s one_model`): its models would read the int_pii_values
    of the other salt, and record its own salt for the tests. `datamig transform`, which builds
    every model again, clears the record first. A run built before this check has no record."""
    if not (run_dir and (_command() == "test" or _builds_models())):
        return
    recorded = Path(run_dir) / SALT_CHECK
    if recorded.is_file() and recorded.read_text().strip() != _salt_check(keys):
        name = _run_name(run_dir, run_id)
        raise DbtRuntimeError(f"datamig.dbt_plugin: the salt is not the one run {name} was built with: its "
                              "models and leak tests would mix two keys; export the build's salt, or build every "
                              f"model again under this one (datamig transform --district "
                              f"{district_of(name)} --run-id {name})")


def _forget_verdict(run_dir: Path) -> None:
    """The run's validation report judged the final/ this build replaces: gone, a load refuses
    the run until `datamig transform` judges it again (it loaded a final/ a `dbt build --empty`
    had emptied after the gate, on the old PASSED)."""
    (run_dir / VALIDATION_REPORT).unlink(missing_ok=True)


def _check_district_var(district: Any) -> None:
    """--vars district is a district id, as the CLI's --district is: else the profile named a run
    folder `latest-dabc` and the error was that folder's absence (and a non-number reached the
    models' SQL as `district_id = abc`). The lint target names no district (None)."""
    text = None if district is None else str(district)
    if text is not None and (problem := district_problem(text)):
        raise DbtRuntimeError(f"datamig.dbt_plugin: --vars district: {problem}")


def _district_as_given() -> str | None:
    """--vars district as written on dbt's command line: dbt reads --vars as YAML, whose integers
    take '42_0' (420), '+42' and '0x2a', so the profile rendered another number than the one
    given, and the run of that one was built. None when the command line names none (datamig
    runs dbt itself with a district it checked)."""
    import yaml

    args, text = sys.argv[1:], None
    for i, arg in enumerate(args):
        if arg == "--vars" and i + 1 < len(args):
            text = args[i + 1]
        elif arg.startswith("--vars="):
            text = arg.removeprefix("--vars=")
    try:
        given = yaml.load(text, Loader=yaml.BaseLoader) if text else None  # every value as written
        parsed = yaml.safe_load(text) if text else None  # as dbt read it
    except yaml.YAMLError:
        return None
    if not (isinstance(given, dict) and isinstance(parsed, dict) and isinstance(given.get("district"), str)):
        return None
    vars_read = _flag("VARS") or {}
    # the command line this process was started with is the one dbt runs (not dbt run by a program)
    return given["district"] if vars_read.get("district", object()) == parsed.get("district") else None


def _check_run_id(run_id: str) -> None:
    """As the CLI checks it, for analysts running dbt directly: --vars run_id names a run folder
    under the runs folder (`../analysis` built a warehouse outside it)."""
    if run_id:
        try:
            checked_run_id(run_id)
        except NotFound as exc:
            raise DbtRuntimeError(f"datamig.dbt_plugin: --vars run_id: {exc}") from None


def _check_district(run_dir: str | None, run_id: str, district: str) -> None:
    """The run is an extract of --vars district: else dbt overwrote another district's final/
    and tested it against the wrong district."""
    manifest = Path(run_dir or ".") / "extract" / MANIFEST
    if not (run_dir and district and manifest.is_file()):
        return
    read = read_json_or_none(manifest)
    if read is None:
        return  # the drift gate and the models' sources report an unreadable extract
    extracted = str(read.get("district"))
    if extracted != district:
        raise DbtRuntimeError(f"datamig.dbt_plugin: run {_run_name(run_dir, run_id)} is an extract of district "
                              f"{extracted}, not {district} (--vars district)")


def _check_drift(run_dir: str | None) -> None:
    """The transform's drift gate (transform/drift.py), for analysts running `dbt build`
    directly: the staging models select the columns they know, so a column new in PROD was
    dropped from final/ in silence, and a new table never built. Only when models are built (a
    `dbt test` or `docs generate` reads what a build made)."""
    extract = Path(run_dir or ".") / "extract"
    if not (run_dir and _builds_models() and (extract / MANIFEST).is_file()):
        return
    try:
        check_drift(_project_dir(), extract)
    except DatamigError as exc:  # SchemaDrift, or a manifest that is not JSON: one line naming it
        raise DbtRuntimeError(f"datamig.dbt_plugin: {exc}") from None


def _project_dir() -> Path:
    """The dbt project being built (--project-dir, else dbt's own default): its models are the
    ones compared with the extract."""
    from dbt.cli.resolvers import default_project_dir
    from dbt.flags import get_flags

    return Path(getattr(get_flags(), "PROJECT_DIR", None) or default_project_dir())


def _prepare_final_dirs(run_dir: str | None) -> None:
    """final/ mirrors extract/ folder by folder: DuckDB's COPY TO does not create folders."""
    if not run_dir:
        return
    extract = Path(run_dir) / "extract"
    if not extract.is_dir():
        return
    for folder in [extract, *(p for p in extract.rglob("*") if p.is_dir())]:
        (Path(run_dir) / "final" / folder.relative_to(extract)).mkdir(parents=True, exist_ok=True)
