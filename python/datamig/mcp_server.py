"""datamig as an MCP server (stdio), for agents: the same operations as the CLI, with
structured JSON results.

A FAILED validation, a failed migration or a refused rollback is a normal result (its
`status` says so); only usage, config and connection errors (DatamigError) are tool errors,
each one line with secrets redacted. Long operations report progress from the runner's
progress callback.

Config: DATAMIG_CONFIG, else config/datamig.yaml; connection settings: services.env of the
checkout (found from the working directory) overlaid by the process environment.
Run: `python -m datamig.mcp_server` (or `datamig mcp`).
"""
from __future__ import annotations

import dataclasses
import itertools
import json
import logging
import os
import threading
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Literal

import anyio
import anyio.from_thread
import anyio.lowlevel
import anyio.to_thread
from pydantic import Field, ValidationError

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError, UnexpectedToolError
from mcp_types import ToolAnnotations

from . import __version__
from .errors import DatamigError, MigrationFailed
from .extract.runs import MAX_DISTRICT, checked_run_id
from .folders import check_folder
from .report import scrub
from .runner.state import PHASES
from .services import envfile

log = logging.getLogger("datamig.mcp")

INSTRUCTIONS = """datamig copies one school district from PROD to CERT: extract -> dbt transform
(anonymization + tests) -> validation gate -> load -> verify -> report.
Start with list_runs or select_districts; migrate runs as a dry run unless dry_run=false;
rollback needs confirm=true. Results are JSON with a `status` field."""


# The checkout, fixed when the server starts. Tools run side by side in worker threads, and a
# migrate's dbt moves the process into its run folder for a while: a path resolved against the
# working directory then named a folder inside that run (a review's list_runs came back empty,
# select_districts wrote its manifests there).
_ROOT: Path | None = None
# Tools that run dbt in this process (its working directory, environment and state are the
# process's): one at a time; a second is refused at once instead of corrupting the first.
_DBT = threading.Lock()
# Set when the server is ending (the client closed the session): a migrate still running stops
# before its next phase, as when its call is cancelled.
_ENDING = threading.Event()


def _root() -> Path:
    return _ROOT or envfile.find_project_root()


class Settings:
    """What every tool needs, read afresh per call (services.env may change between calls),
    every path absolute."""

    def __init__(self, writes: str | None = None) -> None:
        from .config import load_config

        self.root = _root()
        self.env = envfile.load_env(self.root)
        named = os.environ.get("DATAMIG_CONFIG")
        cfg = load_config(self.root / named if named else self.root / "config" / "datamig.yaml")
        self.cfg = dataclasses.replace(cfg, out_dir=(self.root / cfg.out_dir).resolve())
        # the folder the tool writes into (the runs folder unless named) is one, as the CLI checks it
        if writes is None:
            check_folder(self.cfg.out_dir, f"extract.out_dir ({cfg.path})")
        else:
            check_folder(self.root / writes, writes)

    def check_reports(self) -> None:
        """The reports folder beside the runs folder (where migrate and get_report write) is one."""
        from .report.build import reports_dir_of

        check_folder(reports_dir_of(self.cfg), f"the reports folder beside extract.out_dir ({self.cfg.path})")


class _DbtSlot:
    """The work `fn` of one call holding _DBT, refused at once (a tool error saying what to do)
    when another dbt-running tool holds it. The worker thread releases it when `fn` ends,
    however it ended; `abandon()` releases it when the call was cancelled before its thread
    began `fn` (anyio may cancel it while it waits for a thread), which then never runs."""

    def __init__(self, tool: str, fn: Callable[[], Any]):
        if not _DBT.acquire(blocking=False):
            raise ToolError(f"{tool}: another migrate or validate_migration is running in this server; "
                            f"call again when it has ended (list_runs shows its run)")
        self.fn = fn
        self.began = self.released = False
        self.lock = threading.Lock()

    def __call__(self) -> Any:
        with self.lock:
            if self.released:
                return None
            self.began = True
        try:
            return self.fn()
        finally:
            _DBT.release()

    def abandon(self) -> None:
        with self.lock:
            if not self.began and not self.released:
                self.released = True
                _DBT.release()


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


def _line(exc: Exception) -> str:
    """The error's one line, secrets redacted."""
    return _scrubbed(str(exc).splitlines()[0] if str(exc) else type(exc).__name__)


def _scrubbed(text: str) -> str:
    try:
        env = envfile.load_env(_root())
    except DatamigError:  # an unreadable services.env: the real environment still names the secrets
        env = dict(os.environ)
    return scrub.text(text, env)


class _Progress:
    """Runner progress callbacks (called in a worker thread) -> MCP progress notifications.

    The progress value strictly increases (the protocol requires it): migrate reports
    phase index + a fraction per message, total = number of phases; other tools count messages.
    """

    def __init__(self, ctx: Context, total: float | None = None):
        self.ctx, self.total = ctx, total
        self.token = anyio.lowlevel.current_token()  # created in the tool: the server's event loop
        self.env = envfile.load_env(_root())
        self.value = 0.0
        self.counter = itertools.count(1)
        self.phase: str | None = None
        self.in_phase = 0
        self.lock = threading.RLock()

    def _send(self, value: float, message: str) -> None:
        # Callbacks come from several threads at once (dbt's node threads, validate-migration's):
        # the lock makes taking a value and sending it one step, so notifications leave in order.
        with self.lock:
            self.value = max(value, self.value + 1e-6)
            try:
                anyio.from_thread.run(self.ctx.report_progress, self.value, self.total,
                                      scrub.text(message, self.env)[:300], token=self.token)
            except Exception:  # noqa: BLE001 - a client gone away must not fail the migration
                log.debug("progress notification not sent", exc_info=True)

    def message(self, message: str) -> None:
        self._send(float(next(self.counter)), message)

    def phase_message(self, phase: str, message: str) -> None:
        with self.lock:
            if phase != self.phase:
                self.phase, self.in_phase = phase, 0
            self.in_phase += 1
            base = PHASES.index(phase) if phase in PHASES else self.value
            self._send(base + self.in_phase / (self.in_phase + 1), f"{phase}: {message}")


def _run_id(run_id: str) -> str:
    """The run id when it is one, else the tool error every tool taking a run id gives: a run id
    names a file or folder under the runs and reports folders, so '../x' must reach nothing."""
    try:
        return checked_run_id(run_id)
    except DatamigError as exc:
        raise ToolError(_line(exc)) from None


async def _call(fn: Callable[[], Any], on_cancel: Callable[[], None] | None = None) -> dict[str, Any]:
    """Run blocking datamig code in a worker thread; DatamigError -> tool error (one line).
    The result is made JSON-safe and scrubbed of secret values (belt and braces: datamig's
    results carry none).

    A thread cannot be killed: when the client cancels a call given `on_cancel`, the call
    returns at once and `on_cancel` asks the work to stop at its next safe point (without it,
    the cancelled call waits for the work to end)."""
    try:
        result = await anyio.to_thread.run_sync(fn, abandon_on_cancel=on_cancel is not None)
    except anyio.get_cancelled_exc_class():
        if on_cancel is not None:
            on_cancel()
        raise
    except DatamigError as exc:
        raise ToolError(_line(exc)) from None
    except Exception as exc:  # an agent gets the reason, not a bare "Error executing tool"
        log.error("tool failed: %s", _scrubbed(traceback.format_exc()))  # stderr, which hosts keep
        raise ToolError(f"{type(exc).__name__}: {_line(exc)}") from None
    return scrub.deep(_jsonable(result), envfile.load_env(_root()))


class _Server(MCPServer):
    """The SDK's server, with arguments its schema refuses told in one line naming each argument
    (the SDK passed on pydantic's report: four lines, the last a link to pydantic's site), and
    an argument no parameter of the tool takes refused (the SDK dropped it: a misspelt dry_run
    or resume was a run the agent did not ask for), and a boolean given for an integer or
    anything but a boolean for a boolean refused (pydantic's lax mode converted them)."""

    async def call_tool(self, name: str, arguments: dict[str, Any], context: Context | None = None) -> Any:
        schema = self._tool_input_schema(name)
        known = list((schema or {}).get("properties", {}))
        unknown = [key for key in arguments if key not in known]
        if schema is not None and unknown:
            takes = f"({', '.join(known)})" if known else "(it takes none)"
            raise ToolError(f"Error executing tool {name}: {name}: unknown argument {unknown[0]!r} {takes}")
        for key, value in arguments.items():
            if why := _wrong_kind(schema, key, value):
                raise ToolError(f"Error executing tool {name}: {name}: {key}: {why}")
        try:
            return await super().call_tool(name, arguments, context)
        except ToolError as exc:
            if isinstance(exc, UnexpectedToolError) or not isinstance(exc.__cause__, ValidationError):
                raise
            wrong = "; ".join(f"{'.'.join(str(part) for part in error['loc'])}: {error['msg']}"
                              for error in exc.__cause__.errors())
            raise ToolError(f"Error executing tool {name}: {name}: {wrong}") from exc.__cause__


def _wrong_kind(schema: dict | None, argument: str, value: Any) -> str | None:
    """Why `value` is refused for `argument`, for what pydantic's lax mode would take: JSON's true
    is no number, but pydantic (bool being an int in Python) took it as 1 (a `district: true`
    migrated district 1), and 42.0 as 42; and it took "false", "no", "0", 0 or 1 as a boolean
    (`dry_run: "no"` was a run that writes CERT, `confirm: "yes"` a rollback). A boolean argument
    takes true or false only, an integer argument no string and no fraction."""
    types = _types(schema, argument)
    if isinstance(value, bool) and "integer" in types and "boolean" not in types:
        return f"Input should be a valid integer, not a boolean ({json.dumps(value)})"
    if isinstance(value, float) and "integer" in types and "number" not in types:
        return f"Input should be a valid integer, not a number ({json.dumps(value)})"  # pydantic took 42.0 as 42
    if isinstance(value, str) and "integer" in types and "string" not in types:
        return f"Input should be a valid integer, not {_kind(value)}"  # pydantic took "42" as 42
    if "boolean" in types and not isinstance(value, bool) and not (value is None and "null" in types):
        # the value's kind, not the value: an argument may hold anything, a secret included
        return f"Input should be a JSON boolean (true or false), not {_kind(value)}"
    return None


def _types(schema: dict | None, argument: str) -> set[str]:
    """The JSON types the tool's input schema gives `argument` (`int | None` is an anyOf)."""
    prop = (schema or {}).get("properties", {}).get(argument, {})
    return {branch.get("type") for branch in [prop, *prop.get("anyOf", ())]} - {None}


def _kind(value: Any) -> str:
    kinds = {str: "a string", int: "an integer", float: "a number", list: "an array", dict: "an object"}
    return "null" if value is None else kinds.get(type(value), type(value).__name__)


def _tool(server: MCPServer, title: str, *, read_only: bool = False, destructive: bool = False,
          idempotent: bool, open_world: bool) -> Callable:
    """server.tool with the hints hosts read to decide what needs the user's confirmation.
    readOnlyHint is for the whole environment, files included: a tool that writes under data/ or
    the run folder is not read-only, however it leaves PROD and CERT alone."""
    hints = ToolAnnotations(title=title, read_only_hint=read_only, destructive_hint=destructive,
                            idempotent_hint=idempotent, open_world_hint=open_world)
    return server.tool(title=title, annotations=hints)


def build_server() -> MCPServer:
    server = _Server(name="datamig", version=__version__, instructions=INSTRUCTIONS)

    # writes data/analysis/ afresh (no more than the last analysis is lost); reads PROD
    @_tool(server, "Analyze PROD datastores", idempotent=True, open_world=True)
    async def analyze_datastores(ctx: Context) -> dict[str, Any]:
        """Introspect every PROD store: tables, foreign keys and declared links, cycles, load order.
        Writes the analysis artifacts under data/analysis/."""
        progress = _Progress(ctx, total=2)

        def run() -> dict:
            from .runner import api

            s = Settings(writes="data/analysis")
            progress.message("introspecting PROD stores")
            summary = api.analyze_datastores(s.cfg, s.env, s.root / "data" / "analysis")
            progress.message("analysis written")
            return summary

        return await _call(run)

    # writes data/manifests/ afresh; reads PROD
    @_tool(server, "Select pilot districts", idempotent=True, open_world=True)
    async def select_districts(
        ctx: Context,
        top: Annotated[int | None, Field(ge=1, description="How many districts to recommend (default: the "
                                                                 "config's selection.top).")] = None,
    ) -> dict[str, Any]:
        """Score every district across stores (size, activity, completeness, priority), apply the
        filters and pick pilots (one large, one medium, one small). Writes data/manifests/."""
        progress = _Progress(ctx)

        def run() -> dict:
            from .select.run import select_districts as select

            s = Settings(writes="data/manifests")
            return select(s.cfg, s.env, s.root / "data" / "manifests", top, progress=progress.message)

        return await _call(run)

    # the hints hold for the worst call (dry_run false: CERT's rows overwritten); every call is a new run
    @_tool(server, "Migrate a district to CERT", destructive=True, idempotent=False, open_world=True)
    async def migrate(
        ctx: Context,
        district: Annotated[int | None, Field(ge=1, le=MAX_DISTRICT, description="District id (an integer); not needed "
                                                               "with resume.")] = None,
        dry_run: Annotated[bool, Field(description="Do everything but write to CERT (the load "
                                                   "reports what it would do).")] = True,
        strategy: Annotated[Literal["auto", "insert", "upsert", "merge"],
                            Field(description="Load strategy; auto chooses per table.")] = "auto",
        resume: Annotated[str | None, Field(description="Run id to resume from its failed phase "
                                                        "(district and options come from that run; "
                                                        "dry_run must be false to resume a run that is not "
                                                        "a dry run, true to resume a dry run).")] = None,
    ) -> dict[str, Any]:
        """Migrate one district PROD -> CERT: preflight, extract, transform (anonymize + test),
        validation gate, load, verify, report. A dry run by default. A failed phase is a normal
        result: status "failed" and the phase's error. Cancelling the call stops the run before
        its next phase (list_runs then shows it "cancelled"; resume continues it)."""
        if resume is not None:  # "" is not "no run": it would start a new migration of district 0
            _run_id(resume)
        elif district is None:
            raise ToolError("migrate: give a district (or resume with a run id)")
        progress = _Progress(ctx, total=len(PHASES))
        cancelled = threading.Event()

        def run() -> dict:
            from .runner import api

            s = Settings()
            s.check_reports()
            return api.migrate(s.cfg, s.env, s.root, district or 0, dry_run=dry_run, strategy=strategy,
                               resume=resume, progress=progress.phase_message,
                               stop=lambda: cancelled.is_set() or _ENDING.is_set(), phase_errors_as_results=True)

        def cancel() -> None:  # a cancelled migrate used to run on to its end, the load included
            cancelled.set()
            slot.abandon()

        slot = _DbtSlot("migrate", run)
        return await _call(slot, on_cancel=cancel)

    # reads CERT; writes the run's post-load-validation.json and dbt's files in its run folder
    @_tool(server, "Validate a migration in CERT", idempotent=True, open_world=True)
    async def validate_migration(
        ctx: Context,
        run_id: Annotated[str, Field(description="Run id, e.g. mig-20251106-143000-d42.")],
    ) -> dict[str, Any]:
        """Check a loaded run in CERT: row counts per table, label and relationship type
        (extracted = final = in CERT), the project's dbt tests run against CERT on the run's rows,
        and the cross-database links. status VALID or ISSUES_FOUND. A run that cannot be checked
        (unknown, not loaded in CERT, its files missing, CERT unreachable) is a tool error saying
        why in one line."""
        _run_id(run_id)
        progress = _Progress(ctx)

        def run() -> dict:
            from .runner import api

            s = Settings()
            progress.message(f"validating {run_id} against CERT")
            result = api.validate_migration(s.cfg, s.env, run_id)
            progress.message(f"{run_id}: {result.get('status')}")
            return result

        slot = _DbtSlot("validate_migration", run)  # read-only: once cancelled, it runs to its end unheard
        return await _call(slot, on_cancel=slot.abandon)

    # deletes and restores rows in CERT, and first recovers any run's interrupted load or rollback
    @_tool(server, "Roll back a run in CERT", destructive=True, idempotent=False, open_world=True)
    async def rollback(
        run_id: Annotated[str, Field(description="Run id to roll back.")],
        confirm: Annotated[bool, Field(description="Must be true: rollback removes the run's rows from "
                                                   "CERT and restores what it overwrote.")] = False,
        force: Annotated[bool, Field(description="Roll back over the rows CERT wrote since the load (their "
                                                 "change is lost); without it such a rollback fails, naming "
                                                 "the row.")] = False,
    ) -> dict[str, Any]:
        """Undo one loaded run in CERT (only its own inserts and updates; CERT's own data is kept).
        Refuses, as a normal result, unless confirm is true. Every result has run_id, status
        (ROLLED_BACK, REFUSED, or FAILED when CERT has changed so that the run cannot be undone)
        and rolled_back (true or false). A run that is unknown or not loaded in CERT is a tool
        error saying so in one line."""
        _run_id(run_id)
        if not confirm:
            return _refused(run_id)

        def run() -> dict:
            from .runner import api

            s = Settings()
            try:
                report = api.rollback(s.cfg, s.env, run_id, force=force)
            except MigrationFailed as exc:
                return {"run_id": run_id, "status": "FAILED", "rolled_back": False, "error": _line(exc)}
            # a refused or failed rollback says rolled_back false; a done one had no such key, so an
            # agent testing it read a done rollback as not done
            return {"run_id": run_id, "status": report["status"], "rolled_back": report["status"] == "ROLLED_BACK",
                    **report}

        return await _call(run)

    # reads the run folder only, and writes the run's reports (json, md, html) afresh
    @_tool(server, "Get a run's report", idempotent=True, open_world=False)
    async def get_report(
        run_id: Annotated[str, Field(description="Run id.")],
    ) -> dict[str, Any]:
        """The report of a run, built afresh from its run folder (so it tells a later load or
        rollback too): summary and verdict, phases, per-store rows, anonymization coverage,
        validation, load, verification, timings, warnings, errors, next steps, artifacts."""
        _run_id(run_id)

        def run() -> dict:
            from .runner import api

            s = Settings()
            s.check_reports()
            return api.get_report(s.cfg, run_id, s.root)

        return await _call(run)

    @_tool(server, "List runs", read_only=True, idempotent=True, open_world=False)
    async def list_runs() -> dict[str, Any]:
        """Every run under the runs folder with its status and per-phase status."""

        def run() -> dict:
            from .runner import api

            return {"runs": api.list_runs(Settings().cfg)}

        return await _call(run)

    return server


def _refused(run_id: str) -> dict:
    found = None
    try:
        from .runner.state import RunState

        state = RunState.load(Settings().cfg.out_dir, run_id)  # checked by _run_id
        found = {"status": state.status, "district": state.district}
    except (DatamigError, OSError, ValueError, TypeError):
        pass
    return {"run_id": run_id, "status": "REFUSED", "rolled_back": False, "run": found,
            "reason": "rollback not confirmed: it deletes this run's rows from CERT and restores the rows it "
                      "overwrote; call rollback again with confirm=true to proceed"}


def main() -> None:
    """Serve over stdio from the checkout's root, so relative paths (config/, data/) resolve
    there whatever directory the client started the server in."""
    global _ROOT
    _ROOT = envfile.find_project_root()
    os.chdir(_ROOT)
    _log_to_stderr()
    try:
        build_server().run("stdio")
    finally:
        _let_running_work_end()


def _let_running_work_end() -> None:
    """The session is over, but a migrate or validate_migration abandoned by it may still run in
    its worker thread. Returning now began the interpreter's shutdown under it: dbt could schedule
    no more nodes ("cannot schedule new futures after interpreter shutdown") and the run ended
    failed mid-phase. Instead the server asks it to stop before its next phase and waits."""
    _ENDING.set()
    if not _DBT.acquire(blocking=False):
        log.warning("session ended: waiting for the running migrate or validate_migration to stop at "
                    "the end of its phase")
        _DBT.acquire()
    _DBT.release()


def _log_to_stderr() -> None:
    """stderr is the log hosts keep. The SDK sets up a stderr handler on the root logger only if
    it has none, and `datamig mcp` (the CLI's callback) put a NullHandler there: every log line
    of the server, the traceback of a tool that failed unexpectedly included, went nowhere."""
    root = logging.getLogger()
    root.handlers = [h for h in root.handlers if type(h) is not logging.NullHandler]


if __name__ == "__main__":
    main()
