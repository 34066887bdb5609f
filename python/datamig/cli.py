"""The `datamig` command: one Typer app, one small function per subcommand.

Every user-caused error reaches the terminal as one line naming the thing at fault, with
exit code 2 (usage, config, connection) or 1 (the migration itself failed), and secrets
redacted.
"""
from __future__ import annotations

import functools
import os
import sys
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from .config import load_config
from .errors import DatamigError, NotFound
from .extract.runs import checked_run_id
from .services import envfile

app = typer.Typer(help="Copy one school district from PROD to CERT: anonymized, complete, checked.",
                  no_args_is_help=True, pretty_exceptions_enable=False)
services_app = typer.Typer(help="Local PROD and CERT stores (PostgreSQL 15 + Neo4j 5) on loopback.",
                           no_args_is_help=True)
app.add_typer(services_app, name="services")

console = Console()
err_console = Console(stderr=True)


SCALES = ("tiny", "small", "reference", "large")


class Ctx:
    config_path: Optional[Path] = None


def project_root() -> Path:
    return envfile.find_project_root()


def config():
    return load_config(Ctx.config_path)


def env() -> dict[str, str]:
    return envfile.load_env(project_root())


def fail(message: str, code: int = 2) -> None:
    try:
        secrets = env()
    except DatamigError:  # an unreadable services.env must not hide the error being reported
        secrets = dict(os.environ)
    # escaped: a message quotes users' text ('[a-z]+' in a regex, '[/x]' in a setting), never markup
    err_console.print(f"[bold red]error:[/] {escape(envfile.redact(message, secrets))}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def handles_errors(fn):
    """Turn DatamigError into one red line and its exit code; so too a file the system refuses
    (out_dir naming a file, a folder without permission, a full disk), which names its path."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except DatamigError as exc:
            fail(str(exc), exc.exit_code)
        except OSError as exc:
            if exc.filename is None:  # a socket, a process: not a file the user can point at
                raise
            fail(f"{exc.filename}: {exc.strerror or type(exc).__name__}", 2)

    return wrapper


@app.callback()
def main(
    config_path: Optional[Path] = typer.Option(
        None, "--config", envvar="DATAMIG_CONFIG", help="Estate config (default config/datamig.yaml)."),
) -> None:
    Ctx.config_path = config_path


@services_app.command("up")
@handles_errors
def services_up() -> None:
    """Start PostgreSQL and both Neo4j servers (idempotent) and create PROD and CERT schemas."""
    from .services import manager

    cfg = config()
    with console.status("starting services"):
        manager.up(project_root(), cfg, apply_schemas=_apply_all_schemas)
    console.print(f"services up; settings in {envfile.env_path(project_root())}")
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
    table = Table("store", "env", "kind", "address", "state")
    secrets = env()
    for r in rows:
        detail = escape(envfile.redact(r.detail, secrets))
        state = "[green]reachable[/]" if r.reachable else f"[red]unreachable[/] {detail}"
        table.add_row(r.store, r.target, r.kind, escape(envfile.redact(r.address, secrets)), state)
    console.print(table)


@app.command("seed-prod")
@handles_errors
def seed_prod(
    scale: str = typer.Option("tiny", help="tiny | small | reference | large"),
    seed: int = typer.Option(42, help="Same seed, same estate."),
) -> None:
    """Write the deterministic synthetic K-12 estate into the local PROD stores."""
    from .estate.seed import seed_prod as run

    if scale not in SCALES:
        fail(f"--scale: unknown scale {scale!r} (one of {', '.join(SCALES)})")
    with console.status(f"seeding PROD ({scale})"):
        summary = run(env(), scale=scale, seed=seed)
    _print_seed_summary(summary)


@app.command("seed-cert")
@handles_errors
def seed_cert(seed: int = typer.Option(7, help="Same seed, same CERT test data.")) -> None:
    """Give CERT its own test data (CERT-only districts and rows whose keys collide with PROD)."""
    from .estate.seed import seed_cert as run

    with console.status("seeding CERT"):
        summary = run(env(), seed=seed)
    _print_seed_summary(summary)


def _print_seed_summary(summary: dict) -> None:
    table = Table("store", "tables", "rows")
    for store, tables in sorted(summary.get("rows", summary).items()):
        if isinstance(tables, dict) and all(isinstance(v, int) for v in tables.values()):
            table.add_row(store, str(len(tables)), f"{sum(tables.values()):,}")
    console.print(table)


@app.command("analyze-datastores")
@handles_errors
def analyze_datastores(
    out_dir: Path = typer.Option(Path("data/analysis"), help="Where the analysis artifacts go."),
) -> None:
    """Introspect every PROD store, build the dependency graph, find cycles, order the tables."""
    from .analyze.run import analyze, summary_table

    with console.status("introspecting stores"):
        summary = analyze(config(), env(), out_dir)
    console.print(summary_table(summary))
    console.print(f"artifacts in {out_dir}/")


@app.command("select-districts")
@handles_errors
def select_districts_cmd(
    top: Optional[int] = typer.Option(None, "--top", min=1, help="How many districts to recommend (default 15)."),
    out_dir: Path = typer.Option(Path("data/manifests"), help="Where the manifest and report go."),
) -> None:
    """Score every district across stores, apply the filters, and pick pilots."""
    from .select.run import select_districts

    with console.status("measuring districts") as status:
        result = select_districts(config(), env(), out_dir, top, progress=lambda m: status.update(m))
    table = Table("district", "name", "score", "class", "records", "eligible")
    for r in result["districts"]:
        table.add_row(str(r["district"]), r["name"], f"{r['score']:.2f}", r["size_class"],
                      f"{r['total_records']:,}", "yes" if r["eligible"] else "no")
    console.print(table)
    console.print("pilots: " + ", ".join(f"{k}={v}" for k, v in result["pilots"].items()))
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
    with console.status("introspecting PROD"):
        files = render(cfg, live_estate(cfg, env()), root)
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
    district: int = typer.Option(..., "--district", min=1, help="District id (a positive integer)."),
    run_id: Optional[str] = typer.Option(None, "--run-id", help="Use this run id instead of a new one."),
) -> None:
    """Extract the district's referentially complete slice of every PROD store to Parquet."""
    from .extract.run import extract

    with console.status(f"extracting district {district}") as status:
        manifest = extract(config(), env(), district, run_id, progress=lambda m: status.update(m))
    _print_extract_summary(manifest)


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


@app.command("transform")
@handles_errors
def transform_cmd(
    district: int = typer.Option(..., "--district", min=1, help="District id (a positive integer)."),
    run_id: Optional[str] = typer.Option(None, "--run-id", help="Default: the district's newest extract."),
) -> None:
    """Anonymize and test a run's extract with dbt: drift gate, dbt build, validation report."""
    from .transform import transform

    with console.status(f"transforming district {district}") as status:
        report = transform(config(), env(), run_id and checked_run_id(run_id), district, root=project_root(),
                           progress=lambda m: status.update(m))
    c = report["counts"]
    console.print(f"{report['status']}: {c['tests']} tests, {c['errors']} blocking, {c['warnings']} warnings, "
                  f"{c['pii_scan_warnings']} unclassified PII-looking columns ({report['timings']['total_s']}s)")
    if report["status"] == "FAILED":
        fail(f"validation FAILED: {report['reason']} "
             f"(see {config().out_dir}/{report['run_id']}/validation-report.json)", 1)


@app.command("migrate")
@handles_errors
def migrate_cmd(
    district: Optional[int] = typer.Option(None, "--district", min=1, help="District id (a positive integer)."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Stop before writing CERT; show the load plan."),
    strategy: str = typer.Option("auto", "--strategy", help="insert | upsert | merge | auto"),
    resume: Optional[str] = typer.Option(None, "--resume", help="Continue RUN_ID from the phase that failed."),
    yes: bool = typer.Option(False, "--yes", help="Do not ask before writing CERT."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object instead of tables."),
) -> None:
    """Preflight, extract, dbt build, validation gate, load, verify and report, in one run."""
    import json as _json

    from .runner import api

    if district is None and resume is None:
        fail("--district is required (or --resume RUN_ID)")
    if strategy not in ("insert", "upsert", "merge", "auto"):
        fail(f"--strategy: unknown strategy {strategy!r} (insert, upsert, merge or auto)")
    if not (dry_run or yes or as_json) and sys.stdin.isatty():
        typer.confirm(f"Migrate district {district} into CERT?", abort=True)
    cfg = config()
    if as_json:
        try:
            result = api.migrate(cfg, env(), project_root(), district or 0, dry_run, strategy, resume)
        except DatamigError as exc:  # a program reading stdout gets JSON either way
            print(_json.dumps({"status": "error", "error": envfile.redact(str(exc), env())}))
            raise
        print(_json.dumps(result, indent=2, default=str))
    else:
        with console.status("migrating") as status:
            result = api.migrate(cfg, env(), project_root(), district or 0, dry_run, strategy, resume,
                                 progress=lambda phase, msg: status.update(f"{phase}: {msg}"))
        _print_run(result)
    if result["status"] == "failed":
        raise typer.Exit(1)


def _print_run(result: dict) -> None:
    table = Table("phase", "status", "seconds", "detail", title=f"run {result['run_id']} ({result['status']})")
    for name, phase in result["phases"].items():
        colour = {"done": "green", "failed": "red", "skipped": "yellow"}.get(phase["status"], "white")
        table.add_row(name, f"[{colour}]{phase['status']}[/]", str(phase["seconds"] or ""), escape(phase["error"] or ""))
    console.print(table)
    for kind, path in (result.get("reports") or {}).items():
        console.print(f"report ({kind}): {path}")


@app.command("load")
@handles_errors
def load_cmd(
    run: str = typer.Option(..., "--run", help="The run id to load."),
    strategy: str = typer.Option("auto", "--strategy", help="insert | upsert | merge | auto"),
    dry_run: bool = typer.Option(False, "--dry-run", help="Show per table what would change; CERT untouched."),
) -> None:
    """Push a run's final models into CERT, all or nothing across stores."""
    import json as _json

    from .load.run import load_run

    cfg = config()
    run_dir = cfg.out_dir / checked_run_id(run)
    if not run_dir.is_dir():
        raise NotFound(f"run {run} not found under {cfg.out_dir}")
    with console.status(f"loading {run}") as status:
        report = load_run(cfg, env(), run_dir, strategy, dry_run, progress=lambda m: status.update(m))
    console.print_json(_json.dumps({k: report.get(k) for k in ("status", "totals")}, default=str))


@app.command("rollback")
@handles_errors
def rollback_cmd(
    run_id: str = typer.Argument(..., help="The run to undo."),
    yes: bool = typer.Option(False, "--yes", help="Do not ask for confirmation."),
) -> None:
    """Restore CERT exactly as it was before RUN_ID was loaded."""
    import json as _json

    from .runner import api

    if not yes:
        if not sys.stdin.isatty():
            fail("rollback changes CERT: confirm with --yes")
        typer.confirm(f"Roll back run {run_id} in CERT?", abort=True)
    result = api.rollback(config(), env(), run_id)
    console.print_json(_json.dumps(result, default=str))


@app.command("validate-migration")
@handles_errors
def validate_migration_cmd(run_id: str = typer.Argument(..., help="A loaded run.")) -> None:
    """Check a loaded run in CERT: counts (extracted = final = in CERT), the dbt tests run
    against CERT (dbt-postgres, target cert) on the run's rows, cross-database links; write
    post-load-validation.json."""
    from .runner import api

    with console.status("validating against CERT"):
        result = api.validate_migration(config(), env(), run_id)
    table = Table("table", "extracted", "final", "in CERT", "ok", title=f"{run_id}: {result['status']}")
    for r in result["tables"]:
        table.add_row(r["table"], str(r["extracted"]), str(r["final"]), str(r["in_cert"]), "yes" if r["ok"] else "NO")
    for r in result["graph"]:
        table.add_row(f"sp {r['kind']} {r['name']}", str(r["extracted"]), str(r["final"]), str(r["in_cert"]),
                      "yes" if r["ok"] else "NO")
    console.print(table)
    summary = result["dbt_tests"]["summary"]
    console.print(f"dbt tests against CERT: {summary['tests']} run, {summary['passed']} passed, "
                  f"{summary['failed']} failed, {summary['warned']} warned, {summary['errored']} errored; "
                  f"links checked: {len(result['links'])}")
    for line in result["warnings"]:
        console.print(f"[yellow]warning:[/] {escape(line)}", highlight=False, soft_wrap=True)
    for line in result["issues"]:
        console.print(f"[red]issue:[/] {escape(line)}", highlight=False, soft_wrap=True)
    console.print(f"{run_id}: {result['status']}")
    if result["status"] != "VALID":
        raise typer.Exit(1)


@app.command("report")
@handles_errors
def report_cmd(run_id: str = typer.Argument(..., help="Run id.")) -> None:
    """Write a run's report: data/reports/<run_id>.json, .md and a self-contained .html."""
    from .report.build import build_report

    for kind, path in build_report(config(), run_id).items():
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
    """List runs with their status and phases."""
    from .runner import api

    table = Table("run", "district", "status", "failed phase")
    for r in api.list_runs(config()):
        failed = next((n for n, p in r["phases"].items() if p["status"] == "failed"), "")
        table.add_row(r["run_id"], str(r["district"]), r["status"], failed)
    console.print(table)


def run() -> None:  # pragma: no cover - console entry for `python -m datamig`
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(app())
