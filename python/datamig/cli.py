"""The `datamig` command: one Typer app, one small function per subcommand.

Every user-caused error reaches the terminal as one line naming the thing at fault, with
exit code 2 (usage, config, connection) or 1 (the migration itself failed), and secrets
redacted.
"""
from __future__ import annotations

import contextlib
import functools
import json
import logging
import os
import re
import signal
import sys
import threading
from datetime import datetime, timezone
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.table import Column, Table
from rich.text import Text
from typer.core import TyperGroup

from . import __version__
from .config import load_config
from .errors import ConfigError, ConnectionFailed, DatamigError, NotFound
from .extract.runs import checked_run_id, district_problem
from .folders import check_folder
from .runfiles import read_json_or_none
from .services import envfile

# Wide enough for any row: piped output is copied from and read by programs.
PIPED_WIDTH = 10_000


def _console(stderr: bool = False) -> Console:
    """Neither console reads markup or emoji codes: what they print quotes users' text and files
    ('[/x]' in a setting, 'rules.yaml:100:' which Rich would turn into an emoji); colour is given
    as Text styles instead.

    Off a terminal Rich lays tables out at 80 columns (or COLUMNS, or the width of a terminal on
    stdin) and cuts run ids and paths with '…'; there the width is PIPED_WIDTH, which cuts nothing."""
    stream = sys.stderr if stderr else sys.stdout
    width = None if stream.isatty() else PIPED_WIDTH
    return Console(stderr=stderr, markup=False, emoji=False, width=width)


console = _console()
err_console = _console(stderr=True)


class OneLineErrors(TyperGroup):
    """A usage error (a bad or missing option, an unknown command) is one line and exit 2, like
    every other error a user causes, not Typer's usage-and-box; --help is untouched.

    Typer (0.29) carries its own copy of click: its exceptions are typer.TyperException's."""

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode, **extra)
        argv = list(sys.argv[1:] if args is None else args)
        try:
            code = super().main(argv, prog_name, complete_var, False, **extra)
        except typer.TyperException as exc:
            code = getattr(exc, "exit_code", 2)
            if type(exc).__name__ == "NoArgsIsHelpError":  # `datamig`, `datamig services`: Rich printed the help
                sys.exit(code)
            line = usage_line(exc)
            if _wants_json(exc, argv):
                _json_error(line)
            print_error(line)
            sys.exit(code)
        except typer.Abort as exc:  # a confirmation declined (or stdin closed), or Ctrl-C
            if isinstance(exc.__cause__, KeyboardInterrupt):
                if "--json" in argv:
                    _json_error("interrupted: stopped by Ctrl-C")
                print_error("stopped by Ctrl-C", "interrupted")
                sys.exit(130)
            if "--json" in argv:
                _json_error("aborted")
            print_error("aborted")
            sys.exit(1)
        sys.exit(code if isinstance(code, int) else 0)

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt as exc:
            # Typer (0.29) turns Ctrl-C into a silent exit 130: the one line below said nothing
            raise typer.Abort() from exc

    def get_command(self, ctx, cmd_name):
        command = super().get_command(ctx, cmd_name)
        if command is not None:
            untyped_flags(command, ctx)
        return command

    def get_params(self, ctx):
        untyped_flags(self, ctx)
        return super().get_params(ctx)


def untyped_flags(command, ctx) -> None:
    """Typer (0.29) gives every flag the type `<bool>` in --help (`--yes <bool>`), as if it took
    a value: an empty metavar leaves a flag's type column blank."""
    for param in [*command.params, command.get_help_option(ctx)]:
        if param is not None and getattr(param, "is_flag", False) and param.metavar is None:
            param.metavar = ""


def usage_line(exc: Exception) -> str:
    """`--district: Input should be greater than or equal to 1`: the option, then the reason."""
    param = getattr(exc, "param", None)
    if isinstance(exc, typer.BadParameter) and type(exc).__name__ != "MissingParameter" and param is not None:
        name = "/".join(param.opts) if param.param_type_name == "option" else param.human_readable_name
        return f"{name}: {exc.message}"
    return exc.format_message() if hasattr(exc, "format_message") else str(exc)


def _wants_json(exc: Exception, argv: list[str]) -> bool:
    """`migrate --json` prints JSON on a usage error too."""
    ctx = getattr(exc, "ctx", None)
    return ctx is not None and ctx.command.name == "migrate" and "--json" in argv


app = typer.Typer(help="Copy one school district from PROD to CERT: anonymized, complete, checked.",
                  no_args_is_help=True, pretty_exceptions_enable=False, cls=OneLineErrors,
                  context_settings={"help_option_names": ["-h", "--help"]})  # subcommands inherit it
services_app = typer.Typer(help="Local PROD and CERT stores (PostgreSQL 15 + Neo4j 5) on loopback.",
                           no_args_is_help=True, cls=OneLineErrors)
app.add_typer(services_app, name="services")


SCALES = ("tiny", "small", "reference", "large")


class Ctx:
    config_path: Optional[Path] = None


def project_root() -> Path:
    return envfile.find_project_root()


def config():
    return load_config(Ctx.config_path)


def runs_config():
    """The config, for a command that reads or writes under its runs folder: that folder is one."""
    cfg = config()
    check_folder(cfg.out_dir, f"extract.out_dir ({cfg.path})")
    return cfg


def reports_config():
    """The config, for a command that writes a run's report beside the runs folder."""
    from .report.build import reports_dir_of

    cfg = runs_config()
    check_folder(reports_dir_of(cfg), f"the reports folder beside extract.out_dir ({cfg.path})")
    return cfg


def env() -> dict[str, str]:
    return envfile.load_env(project_root())


def redacted(message: str) -> str:
    """The message on one line, every secret of the settings removed."""
    try:
        secrets = env()
    except DatamigError:  # an unreadable services.env must not hide the error being reported
        secrets = dict(os.environ)
    return " ".join(envfile.redact(message, secrets).split("\n"))


def print_error(message: str, label: str = "error") -> None:
    """`error: <message>` on stderr, one line, printed as written (no markup, no emoji codes)."""
    err_console.print(Text.assemble((f"{label}:", "bold red"), " ", redacted(message)), highlight=False, soft_wrap=True)


def fail(message: str, code: int = 2, label: str = "error") -> None:
    print_error(message, label)
    raise typer.Exit(code)


def _json_error(message: str) -> None:
    """A program reading `--json` stdout gets JSON on an error too."""
    print(json.dumps({"status": "error", "error": redacted(message)}))


def _copyable(header: str) -> Column:
    """A column users copy from (run ids, paths, errors): on a narrow terminal its text folds
    onto the next line instead of ending in '…'."""
    return Column(header, overflow="fold")


def _text(message) -> Text:
    """A progress message for a Rich status line, which would otherwise read it as markup."""
    return Text(str(message))


def handles_errors(fn):
    """Turn DatamigError into one red line and its exit code; so too a file the system refuses
    (out_dir naming a file, a folder without permission, a full disk), which names its path."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except DatamigError as exc:
            message, code, label = str(exc) + _failed_run_note(exc), exc.exit_code, getattr(exc, "label", "error")
        except OSError as exc:
            if exc.filename is None:  # a socket, a process: not a file the user can point at
                raise
            message, code, label = f"{exc.filename}: {exc.strerror or type(exc).__name__}", 2, "error"
        if kwargs.get("as_json"):
            _json_error(message)
        fail(message, code, label)

    return wrapper


def _failed_run_note(exc: DatamigError) -> str:
    """A phase stopped by a store lost mid-run (not a failed check): the run it made is recorded
    failed and resumable, and the one line is all the user sees of it."""
    state = getattr(exc, "run_state", None)
    if state is None:
        return ""
    return f" (run {state.run_id} failed; once fixed, resume it: datamig migrate --resume {state.run_id})"


def district_id(value: str) -> int:
    """--district as written: Typer's int() read '42_0' as district 420 (and ' 42', '+42', '٤٢'
    as 42), and the errors that followed named 420."""
    if problem := district_problem(str(value)):
        raise typer.BadParameter(problem)
    return int(value)


def whole_number(minimum: int):
    """The parser of a count or seed option, as written: '4_2', ' 4' or '+4' is no number a user
    types for 42 or 4, though int() reads them so."""
    def parse(value) -> int:
        text = str(value)
        if not re.fullmatch(r"[0-9]+", text):
            raise typer.BadParameter(f"{text!r} is not a whole number: digits 0-9 only")
        if int(text) < minimum:
            raise typer.BadParameter(f"Input should be greater than or equal to {minimum}")
        return int(text)

    return parse


def folder(value) -> Path:
    """The parser of an --out-dir: '' was Path('.'), and the artifacts went into the working folder."""
    if not str(value).strip():
        raise typer.BadParameter("empty: name the folder to write into")
    return Path(value)


def config_file(value) -> Path:
    """--config as given: '' was Path('.'), and the error named '.' ("cannot read the config file:
    Is a directory"); ' ' was a file named ' '."""
    if not str(value).strip():
        raise typer.BadParameter("empty: name the config file (--config or DATAMIG_CONFIG; default "
                                 "config/datamig.yaml)")
    return Path(value)


def _print_version(wanted: bool) -> None:
    if wanted:
        print(f"datamig {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    config_path: Optional[Path] = typer.Option(
        None, "--config", envvar="DATAMIG_CONFIG", parser=config_file, metavar="<path>",
        help="Estate config (default config/datamig.yaml)."),
    version: bool = typer.Option(False, "--version", is_eager=True, callback=_print_version,
                                 help="Print datamig's version and exit."),
) -> None:
    Ctx.config_path = config_path
    # a library's module-level logging call (dbt's, imported in the background) would set up the
    # root logger and echo datamig's log lines, which go to the run's run.log, to stderr beside
    # the one-line error; a handler on the root keeps logging from configuring one
    logging.getLogger().addHandler(logging.NullHandler())


@services_app.command("up")
@handles_errors
def services_up() -> None:
    """Start PostgreSQL and both Neo4j servers (idempotent) and create PROD and CERT schemas."""
    from .services import manager

    cfg = config()
    with console.status("starting services"):
        manager.up(project_root(), cfg, apply_schemas=_apply_all_schemas)
    console.print(f"services up; settings in {envfile.env_path(project_root())}", highlight=False)
    _print_status(manager.status(cfg, env()))


def _apply_all_schemas(values: dict) -> None:
    from .estate.seed import apply_schemas

    apply_schemas(values, "prod")
    apply_schemas(values, "cert")


@services_app.command("down")
@handles_errors
def services_down() -> None:
    """Stop what `services up` started; data is kept for the next `up`."""
    from .services import manager

    stopped = manager.down(project_root())
    console.print("stopped: " + (", ".join(stopped) if stopped else "nothing was running"))


@services_app.command("status")
@handles_errors
def services_status() -> None:
    """Show every PROD and CERT store as reachable or not (never a password)."""
    from .services import manager

    rows = manager.status(config(), env())
    _print_status(rows)
    if not all(r.reachable for r in rows):
        raise typer.Exit(1)


def _print_status(rows) -> None:
    table = Table("store", "env", "kind", _copyable("address"), _copyable("state"))
    secrets = env()
    for r in rows:
        detail = envfile.redact(r.detail, secrets)
        state = Text("reachable", "green") if r.reachable else Text.assemble(("unreachable", "red"), f" {detail}")
        table.add_row(r.store, r.target, r.kind, envfile.redact(r.address, secrets), state)
    console.print(table)


@app.command("seed-prod")
@handles_errors
def seed_prod(
    scale: str = typer.Option("tiny", help="tiny | small | reference | large"),
    seed: int = typer.Option(42, parser=whole_number(0), metavar="<int>", help="Same seed, same estate."),
) -> None:
    """Write the deterministic synthetic K-12 estate into the local PROD stores."""
    from .estate.seed import seed_prod as run

    if scale not in SCALES:
        fail(f"--scale: unknown scale {scale!r} (one of {', '.join(SCALES)})")
    values = env()
    _seed_preflight(values, ("prod",))
    with console.status(f"seeding PROD ({scale})"), _seed_connection_errors(values):
        summary = run(values, scale=scale, seed=seed)
    _print_seed_summary(summary)


@app.command("seed-cert")
@handles_errors
def seed_cert(seed: int = typer.Option(7, parser=whole_number(0), metavar="<int>",
                                      help="Same seed, same CERT test data."),
              yes: bool = typer.Option(False, "--yes", help="Replace CERT even when it holds loaded runs.")) -> None:
    """Give CERT its own test data (CERT-only districts and rows whose keys collide with PROD)."""
    from .estate.seed import seed_cert as run

    values = env()
    _seed_preflight(values, ("prod", "cert"))  # CERT's keys collide with PROD's: both are read
    loaded = _loaded_in_cert(values)
    if loaded and not yes:
        raise DatamigError(f"CERT holds runs loaded by datamig ({', '.join(loaded)}): seed-cert replaces all of "
                           f"CERT, their rollback records with it; roll them back first, or pass --yes")
    out_dir = config().out_dir if loaded else None  # a broken config stops before CERT changes
    with console.status("seeding CERT"), _seed_connection_errors(values):
        summary = run(values, seed=seed)
    _mark_replaced(out_dir, loaded)
    _print_seed_summary(summary)


def _mark_replaced(out_dir: Path | None, runs: list[str]) -> None:
    """The wiped runs' folders say CERT no longer holds them (`datamig runs`, the report,
    validate-migration and resume read it there)."""
    from .report.artifacts import write_cert_replaced

    if out_dir is None:
        return
    at = datetime.now(timezone.utc).isoformat(timespec="seconds")
    for run_id in runs:
        if (out_dir / run_id).is_dir():
            write_cert_replaced(out_dir / run_id, at)
            console.print(f"{run_id}: no longer in CERT (seed-cert replaced it)")


ADMIN_URL = "DATAMIG_PG_ADMIN_URL"


def _loaded_in_cert(values: dict) -> list[str]:
    """Runs some CERT database holds as loaded (seed-cert would wipe them and their ledger)."""
    import psycopg

    from .estate.seed import store_urls
    from .load.ledger import loaded_runs

    found: list[str] = []
    for url in store_urls(values, "cert").values():
        with psycopg.connect(url, connect_timeout=5) as conn:
            found += [r for r in loaded_runs(conn) if r not in found]
    return found


def _seed_preflight(values: dict, targets: tuple[str, ...]) -> None:
    """Before seeding writes anything: the superuser setting is there and every database and
    graph it writes answers; else one line naming the setting and the server (never a password)."""
    import psycopg

    from . import pg_address
    from .config import check_neo4j_url
    from .config.neo4j_url import neo4j_address
    from .estate.seed import graph_settings, store_urls
    from .services import neo4j_server

    admin = values.get(ADMIN_URL, "")
    if not admin.strip():
        raise ConfigError(f"{ADMIN_URL} is not set (the superuser URL of the estate's PostgreSQL cluster; "
                          f"`datamig services up` writes it to {envfile.env_path(project_root())})")
    if why := pg_address.why_unreadable(admin):
        raise ConfigError(f"{ADMIN_URL}: {why}")
    for target in targets:
        for store, url in store_urls(values, target).items():
            try:
                with psycopg.connect(url, connect_timeout=5):
                    pass
            except psycopg.Error as exc:
                db = pg_address.conninfo(url).get("dbname")
                raise ConnectionFailed(f"{ADMIN_URL}: cannot connect to PostgreSQL at {pg_address.host_port(url)}/{db} "
                                       f"({target.upper()} {store}): {pg_address.reason(exc, url)}") from None
        settings = graph_settings(values, target)
        if settings:
            check_neo4j_url(f"sp ({target.upper()})", settings[0], f"{target.upper()}_SP_URL")
        if settings and not neo4j_server.is_reachable(*settings):
            raise ConnectionFailed(f"{target.upper()}_SP_URL: no Neo4j answers at {neo4j_address(settings[0])} "
                                   f"with {target.upper()}_SP_USER/_PASSWORD")


@contextlib.contextmanager
def _seed_connection_errors(values: dict):
    """A server lost while seeding: one line naming it, not the driver's traceback."""
    import psycopg
    from neo4j.exceptions import DriverError, Neo4jError

    from . import pg_address

    try:
        yield
    except psycopg.OperationalError as exc:
        url = values.get(ADMIN_URL, "")
        raise ConnectionFailed(f"{ADMIN_URL}: lost PostgreSQL at {pg_address.host_port(url)}: "
                               f"{pg_address.reason(exc, url)}") from None
    except (DriverError, Neo4jError) as exc:
        raise ConnectionFailed(f"Neo4j failed while seeding: {type(exc).__name__}: "
                               f"{str(exc).splitlines()[0] if str(exc) else ''}") from None


def _print_seed_summary(summary: dict) -> None:
    table = Table("store", "tables", "rows")
    for store, tables in sorted(summary.get("rows", summary).items()):
        if isinstance(tables, dict) and all(isinstance(v, int) for v in tables.values()):
            table.add_row(store, str(len(tables)), f"{sum(tables.values()):,}")
    console.print(table)


@app.command("analyze-datastores")
@handles_errors
def analyze_datastores(
    out_dir: Path = typer.Option(Path("data/analysis"), parser=folder, metavar="<path>",
                                 help="Where the analysis artifacts go."),
) -> None:
    """Introspect every PROD store, build the dependency graph, find cycles, order the tables."""
    from .analyze.run import analyze, summary_table

    check_folder(out_dir, "--out-dir")
    with console.status("introspecting stores"):
        summary = analyze(config(), env(), out_dir)
    console.print(summary_table(summary))
    console.print(f"artifacts in {out_dir}/")


@app.command("select-districts")
@handles_errors
def select_districts_cmd(
    top: Optional[int] = typer.Option(None, "--top", parser=whole_number(1), metavar="<int>",
                                      help="How many districts to recommend (default: the config's selection.top)."),
    out_dir: Path = typer.Option(Path("data/manifests"), parser=folder, metavar="<path>",
                                 help="Where the manifest and report go."),
) -> None:
    """Score every district across stores, apply the filters, and pick pilots."""
    from .select.run import select_districts

    check_folder(out_dir, "--out-dir")
    with console.status("measuring districts") as status:
        result = select_districts(config(), env(), out_dir, top, progress=lambda m: status.update(_text(m)))
    table = Table("district", "name", "score", "class", "records", "eligible")
    for r in result["districts"]:
        table.add_row(str(r["district"]), r["name"], f"{r['score']:.2f}", r["size_class"],
                      f"{r['total_records']:,}", "yes" if r["eligible"] else "no: " + "; ".join(r["failed_filters"]))
    console.print(table)
    from .select.run import pilots_text, recommended_text

    console.print("recommended: " + recommended_text(result))
    console.print("pilots: " + pilots_text(result, "="))
    console.print(f"written: {out_dir}/district-manifest.json, {out_dir}/district-selection-report.md")


@app.command("scaffold")
@handles_errors
def scaffold_cmd(
    check: bool = typer.Option(False, "--check", help="Only report generated files that are stale (exit 1)."),
) -> None:
    """Generate dbt sources, staging, anonymized and final models (+ YAML and tests) from
    introspection of PROD and the rules."""
    from .scaffold.run import live_estate, render, stale, write

    cfg, root = config(), project_root()
    warnings: list[str] = []
    with console.status("introspecting PROD"):
        files = render(cfg, live_estate(cfg, env()), root, warnings=warnings)
    for line in warnings:
        console.print(Text.assemble(("warning:", "yellow"), f" {line}"), highlight=False, soft_wrap=True)
    if check:
        differ = stale(root, files)
        for rel in differ:
            console.print(f"stale: {rel}")
        if differ:
            fail(f"{len(differ)} generated dbt files are stale: run `datamig scaffold`", 1)
        console.print(f"{len(files)} generated files up to date")
        return
    changed = write(root, files)
    console.print(f"{len(files)} files generated, {len(changed)} changed")


@app.command("extract")
@handles_errors
def extract_cmd(
    district: int = typer.Option(..., "--district", parser=district_id, metavar="<int>",
                                 help="District id (a positive integer)."),
    run_id: Optional[str] = typer.Option(None, "--run-id", metavar="RUN_ID",
                                         help="Use this run id instead of a new one."),
) -> None:
    """Extract the district's referentially complete slice of every PROD store to Parquet."""
    from .extract.run import extract

    if run_id is not None:  # --run-id "" is not "no run id"
        checked_run_id(run_id)
    with console.status(f"extracting district {district}") as status:
        manifest = extract(runs_config(), env(), district, run_id, progress=lambda m: status.update(_text(m)),
                           models=_models_root())
    _print_extract_summary(manifest)


def _models_root() -> Path | None:
    """The checkout whose dbt models PROD must still match, as migrate's preflight checks it; an
    extract run outside a checkout has no models to compare with (None)."""
    root = project_root()
    return root if (root / "dbt_project.yml").is_file() else None


def _print_extract_summary(manifest: dict) -> None:
    table = Table("table", "rows", "in district", "parents from elsewhere", title=f"run {manifest['run_id']}")
    for table_id, entry in manifest["tables"].items():
        table.add_row(table_id, f"{entry['rows']:,}", f"{entry['rows_in_district']:,}",
                      f"{entry['rows_pulled_as_parents']:,}")
    for kind in ("nodes", "relationships"):
        for name, entry in (manifest.get("graph") or {}).get(kind, {}).items():
            table.add_row(f"sp {kind[:-1]} {name}", f"{entry['rows']:,}", "", "")
    console.print(table)
    console.print(f"{manifest['totals']['rows']:,} rows in {manifest['elapsed_s']}s")
    for line in manifest.get("dangling_foreign_keys", []):
        console.print(f"warning: {line}")


@app.command("transform")
@handles_errors
def transform_cmd(
    district: int = typer.Option(..., "--district", parser=district_id, metavar="<int>",
                                 help="District id (a positive integer)."),
    run_id: Optional[str] = typer.Option(None, "--run-id", metavar="RUN_ID",
                                         help="Default: the district's newest extract."),
) -> None:
    """Anonymize and test a run's extract with dbt: drift gate, dbt build, validation report."""
    from .transform import transform

    if run_id is not None:  # --run-id "" is not "the newest extract"
        checked_run_id(run_id)
    with console.status(f"transforming district {district}") as status:
        report = transform(runs_config(), env(), run_id, district, root=project_root(),
                           progress=lambda m: status.update(_text(m)))
    c = report["counts"]
    console.print(f"{report['status']}: {c['tests']} tests, {c['errors']} blocking, {c['warnings']} warnings, "
                  f"{c['pii_scan_warnings']} unclassified PII-looking columns ({report['timings']['total_s']}s)")
    if report["status"] == "FAILED":
        fail(f"validation FAILED: {report['reason']} "
             f"(see {config().out_dir}/{report['run_id']}/validation-report.json)", 1)


@app.command("migrate")
@handles_errors
def migrate_cmd(
    district: Optional[int] = typer.Option(None, "--district", parser=district_id, metavar="<int>",
                                           help="District id (a positive integer); required unless --resume is given."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Stop before writing CERT; show the load plan."),
    strategy: str = typer.Option("auto", "--strategy", metavar="insert|upsert|merge|auto",
                                  help="How rows CERT already holds are treated."),
    resume: Optional[str] = typer.Option(None, "--resume", metavar="RUN_ID",
                                         help="Continue RUN_ID from the phase that failed (its district and "
                                              "options come from that run: any given must agree with them)."),
    yes: bool = typer.Option(False, "--yes", help="Do not ask before writing CERT."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object instead of tables (on a terminal "
                                                       "it still asks first, on stderr, unless --yes)."),
) -> None:
    """Preflight, extract, dbt build, validation gate, load, verify and report, in one run."""
    from .runner import api

    # Every error below is a DatamigError, so that with --json handles_errors prints it as JSON too.
    if resume is not None:  # --resume "" is an error, not a new migration of district 0
        checked_run_id(resume)
    elif district is None:
        raise DatamigError("--district is required (or --resume RUN_ID)")
    check_strategy(strategy)
    cfg = reports_config()
    if not (dry_run or yes) and sys.stdin.isatty():  # --json is how output looks, not consent to write CERT
        what = f"Resume run {resume}" if resume is not None else f"Migrate district {district}"
        typer.confirm(f"{what} into CERT?", abort=True, err=as_json)  # stdout: the JSON object alone
    said = dry_run or None  # a flag can only say yes: its absence leaves a resumed run as it was
    with ctrl_c_noted() as interrupted:
        if as_json:
            result = api.migrate(cfg, env(), project_root(), district or 0, said, strategy, resume,
                                 interrupted=interrupted)
            print(json.dumps(result, indent=2, default=str))
        else:
            with console.status("migrating") as status:
                result = api.migrate(cfg, env(), project_root(), district or 0, said, strategy, resume,
                                     progress=lambda phase, msg: status.update(_text(f"{phase}: {msg}")),
                                     interrupted=interrupted)
            _print_run(result)
    if result["status"] == "failed":
        raise typer.Exit(1)


def check_strategy(strategy: str) -> None:
    if strategy not in ("insert", "upsert", "merge", "auto"):
        raise DatamigError(f"--strategy: unknown strategy {strategy!r} (insert, upsert, merge or auto)")


@contextlib.contextmanager
def ctrl_c_noted():
    """Ctrl-C still raises KeyboardInterrupt (the phase running stops at once), and is noted,
    so the run stops before its next phase even when Python swallowed the exception: one
    raised inside a finalizer (a driver's __del__) is only printed, "Exception ignored in...",
    and the run went on to its end. That print is dropped too: the run's one line says it all."""
    if signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
        yield lambda: False  # SIGINT ignored (started in the background, nohup) stays ignored
        return
    noted = threading.Event()

    def on_sigint(signum, frame):
        noted.set()
        raise KeyboardInterrupt

    def unraisable(info, default=sys.unraisablehook):
        if not isinstance(info.exc_value, KeyboardInterrupt):
            default(info)

    previous, previous_hook = signal.signal(signal.SIGINT, on_sigint), sys.unraisablehook
    sys.unraisablehook = unraisable
    try:
        yield noted.is_set
    finally:
        signal.signal(signal.SIGINT, previous)
        sys.unraisablehook = previous_hook


def _print_run(result: dict) -> None:
    table = Table("phase", "status", "seconds", _copyable("detail"), title=f"run {result['run_id']} ({result['status']})")
    for name, phase in result["phases"].items():
        colour = {"done": "green", "failed": "red", "skipped": "yellow"}.get(phase["status"], "white")
        table.add_row(name, Text(phase["status"], colour), str(phase["seconds"] or ""), phase["error"] or "")
    console.print(table)
    if result["status"] == "dry_run":
        _print_plan(Path(result["run_dir"]) / "load-dry-run-report.json")
    for kind, path in (result.get("reports") or {}).items():
        console.print(f"report ({kind}): {path}")


PLAN_COLUMNS = ("strategy", "rows", "to_insert", "to_update", "unchanged", "conflicts")


def plan_rows(plan: dict) -> list[list[str]]:
    """One row per table, label and relationship type of a dry run's load plan."""
    from .load.strategy import unchanged

    rows = []
    for store, entry in sorted((plan.get("stores") or {}).items()):
        for kind in ("tables", "nodes", "relationships"):
            for name, counts in sorted((entry.get(kind) or {}).items()):
                where = f"{store}.{name}" if kind == "tables" else f"{store} {kind[:-1]} {name}"
                shown = {**counts, "unchanged": unchanged(counts.get("strategy"), counts)}
                rows.append([where, *("" if shown.get(c) is None else str(shown[c]) for c in PLAN_COLUMNS)])
    return rows


def _print_plan(path: Path) -> None:
    """What the load would do, table by table (the dry run's promise: a plan to read first)."""
    plan = read_json_or_none(path)
    if plan is None:
        return
    table = Table("table", *(c.replace("_", " ") for c in PLAN_COLUMNS), title="load plan (dry run: CERT unchanged)")
    for row in plan_rows(plan):
        table.add_row(*row)
    console.print(table)


@app.command("load")
@handles_errors
def load_cmd(
    run_id: Optional[str] = typer.Argument(None, metavar="RUN_ID", help="The run to load."),
    run: Optional[str] = typer.Option(None, "--run", metavar="RUN_ID", help="The same, as an option."),
    strategy: str = typer.Option("auto", "--strategy", metavar="insert|upsert|merge|auto",
                                  help="How rows CERT already holds are treated."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Show per table what would change; CERT untouched."),
) -> None:
    """Push a run's final models into CERT, all or nothing across stores."""
    from .load.run import load_run

    # positional, as rollback, validate-migration and report take it; --run kept for scripts
    if run_id is not None and run is not None and run_id != run:
        raise DatamigError(f"two runs given ({run_id} and --run {run}): give one")
    run = run_id if run_id is not None else run
    if run is None:
        raise DatamigError("give the run to load: datamig load RUN_ID")
    check_strategy(strategy)  # before the run is looked for: the option is the error, as migrate says it
    cfg = runs_config()
    run_dir = cfg.out_dir / checked_run_id(run)
    if not run_dir.is_dir():
        raise NotFound(f"run {run} not found under {cfg.out_dir}")
    with console.status(f"loading {run}") as status:
        report = load_run(cfg, env(), run_dir, strategy, dry_run, progress=lambda m: status.update(_text(m)))
    if dry_run:
        _print_plan(run_dir / "load-dry-run-report.json")
    console.print_json(json.dumps({k: report.get(k) for k in ("status", "totals")}, default=str))


@app.command("rollback")
@handles_errors
def rollback_cmd(
    run_id: str = typer.Argument(..., metavar="RUN_ID", help="The run to undo."),
    yes: bool = typer.Option(False, "--yes", help="Do not ask for confirmation."),
    force: bool = typer.Option(False, "--force", help="Roll back over the rows CERT wrote since the load "
                                                      "(their change is lost); refused without it."),
) -> None:
    """Restore CERT exactly as it was before RUN_ID was loaded."""
    from .runner import api

    checked_run_id(run_id)  # before asking: a run id that is not one is the error to report
    if not yes:
        if not sys.stdin.isatty():
            fail("rollback changes CERT: confirm with --yes")
        typer.confirm(f"Roll back run {run_id} in CERT?", abort=True)
    result = api.rollback(runs_config(), env(), run_id, force=force)
    console.print_json(json.dumps(result, default=str))


@app.command("validate-migration")
@handles_errors
def validate_migration_cmd(run_id: str = typer.Argument(..., metavar="RUN_ID", help="A loaded run.")) -> None:
    """Check a loaded run in CERT: counts (extracted = final = in CERT), the dbt tests run
    against CERT (dbt-postgres, target cert) on the run's rows, cross-database links; write
    post-load-validation.json."""
    from .runner import api

    checked_run_id(run_id)
    with console.status("validating against CERT"):
        result = api.validate_migration(runs_config(), env(), run_id)
    table = Table("table", "extracted", "final", "in CERT", "ok", title=f"{run_id}: {result['status']}")
    for r in result["tables"]:
        table.add_row(r["table"], str(r["extracted"]), str(r["final"]), str(r["in_cert"]), "yes" if r["ok"] else "NO")
    for r in result["graph"]:
        final = str(r["final"]) if r.get("distinct") in (None, r["final"]) else f"{r['final']} ({r['distinct']} distinct)"
        table.add_row(f"sp {r['kind']} {r['name']}", str(r["extracted"]), final, str(r["in_cert"]),
                      "yes" if r["ok"] else "NO")
    console.print(table)
    summary = result["dbt_tests"]["summary"]
    console.print(f"dbt tests against CERT: {summary['tests']} run, {summary['passed']} passed, "
                  f"{summary['failed']} failed, {summary['warned']} warned, {summary['errored']} errored; "
                  f"links checked: {len(result['links'])}")
    for line in result["warnings"]:
        console.print(Text.assemble(("warning:", "yellow"), f" {line}"), highlight=False, soft_wrap=True)
    for line in result["issues"]:
        console.print(Text.assemble(("issue:", "red"), f" {line}"), highlight=False, soft_wrap=True)
    console.print(f"{run_id}: {result['status']}")
    if result["status"] != "VALID":
        raise typer.Exit(1)


@app.command("report")
@handles_errors
def report_cmd(run_id: str = typer.Argument(..., metavar="RUN_ID", help="Run id.")) -> None:
    """Write a run's report: <run_id>.json, .md and a self-contained .html in the reports folder
    beside the runs folder (extract.out_dir in the config; data/runs -> data/reports)."""
    from .report.build import build_report

    for kind, path in build_report(reports_config(), checked_run_id(run_id)).items():
        console.print(f"{kind}: {path}")


@app.command("mcp")
def mcp_cmd() -> None:
    """Serve datamig to AI agents over MCP (stdio); prints nothing else to stdout."""
    from .mcp_server import main as serve

    if Ctx.config_path:  # the server reads DATAMIG_CONFIG after moving to the project root
        os.environ["DATAMIG_CONFIG"] = str(Path(Ctx.config_path).resolve())
    serve()


@app.command("runs")
@handles_errors
def runs_cmd() -> None:
    """List runs: status, the phase that failed, and where each stands in CERT."""
    from .runner import api

    table = Table(_copyable("run"), "district", "status", "failed phase", _copyable("in CERT"))
    runs = api.list_runs(runs_config())
    for r in runs:
        failed = next((n for n, p in r["phases"].items() if p["status"] == "failed"), "")
        cert = f"{r['cert']['status']} {r['cert']['at'] or ''}".strip() if r["cert"] else ""
        table.add_row(r["run_id"], str(r["district"]), r["status"], failed, cert)
    console.print(table)
    for r in runs:  # why a run's status is not the one its migrate recorded
        if r.get("note"):
            console.print(Text(f"{r['run_id']}: {r['note']}"), soft_wrap=True)


def run() -> None:  # pragma: no cover - console entry for `python -m datamig`
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(app())
