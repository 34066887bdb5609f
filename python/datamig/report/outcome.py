"""What happened to the run in one word and one line, and what to do next.

The commands suggested are the ones users know (`datamig migrate`, `validate-migration`,
`rollback`); `COMMANDS` keeps their spelling in one place (tests run them past the CLI's parser).
"""
from __future__ import annotations

from . import stepwise
from .artifacts import gone_from_cert

COMMANDS = {
    "migrate": "datamig migrate --district {district}",
    "resume": "datamig migrate --resume {run_id}",
    "transform": "datamig transform --district {district} --run-id {run_id}",
    "load": "datamig load {run_id}",
    "validate": "datamig validate-migration {run_id}",
    "rollback": "datamig rollback {run_id}",
    "scaffold": "datamig scaffold",
    "services": "datamig services status",
}
RULES_SHOWN = 5
STEP_COMMANDS = {"transform": "transform", "gate": "transform", "load": "load", "verify": "validate"}


def command(name: str, run_id: str, district) -> str:
    return COMMANDS[name].format(run_id=run_id, district=district if district is not None else "<district>")


def status_of(state: dict | None, phases: list[dict]) -> tuple[str, str | None]:
    """(SUCCEEDED | DRY_RUN | FAILED | CANCELLED | INCOMPLETE | INTERRUPTED | UNKNOWN, the failed
    or stopped phase). CANCELLED: its caller (an agent) cancelled it, and it stopped between
    phases. INTERRUPTED: its process is gone (killed, or its MCP server stopped) or its user
    pressed Ctrl-C."""
    if not state:
        return "UNKNOWN", None
    failed = next((p["name"] for p in phases if p["status"] == "failed"), None)
    stopped = next((p["name"] for p in phases if p["status"] not in ("done", "skipped")), None)
    # stopped by its user or caller, in a phase (marked failed) or before one: a phase that
    # failed in an earlier try of a resumed run is not why it stopped this time
    if state.get("status") == "interrupted":
        return "INTERRUPTED", stopped
    if state.get("status") == "cancelled":
        return "CANCELLED", stopped
    if failed or state.get("status") == "failed":
        return "FAILED", failed
    dry = bool((state.get("options") or {}).get("dry_run"))
    if state.get("status") == "succeeded":
        return "SUCCEEDED", None
    if state.get("status") == "dry_run":
        return "DRY_RUN", None
    # The report phase builds this report while it is itself "running": every phase before
    # it done means the run has in effect finished.
    before = [p for p in phases if p["name"] != "report"]
    if before and all(p["status"] in ("done", "skipped") for p in before):
        return ("DRY_RUN" if dry else "SUCCEEDED"), None
    from ..runner.state import process_gone  # here: the runner's state module reads reports too

    return ("INTERRUPTED" if process_gone(state.get("pid"), state.get("host")) else "INCOMPLETE"), stopped


def _fmt(n) -> str:
    return f"{n:,}" if isinstance(n, int) else "?"


def verdict(status: str, phase: str | None, district, rows: dict, validation: dict, load: dict,
            verify: dict, error: str | None) -> str:
    d = f"district {district}" if district is not None else "the district"
    if status == "SUCCEEDED":
        checked = f", verified {verify['status']}" if verify.get("available") else ""
        return (f"Migrated {d} to CERT: {_fmt(rows.get('total'))} rows extracted, "
                f"{_fmt(rows.get('loaded'))} written{checked}.")
    if status == "DRY_RUN":
        t = load.get("totals") or {}
        would = (f"; the load would insert {_fmt(_sum(load, 'inserted'))} and update {_fmt(_sum(load, 'updated'))}"
                 if load.get("available") else "")
        return (f"Dry run of {d}: {_fmt(rows.get('total'))} rows extracted, validation "
                f"{validation.get('status') or 'not run'}{would}; CERT unchanged."
                + (f" {t.get('conflicts')} insert conflicts." if t.get("conflicts") else ""))
    if status == "FAILED":
        if phase == "gate" or validation.get("status") == "FAILED":
            errors = validation.get("blocking")
            what = f" ({errors} blocking failure{'' if errors == 1 else 's'})" if errors else ""
            return f"Validation FAILED for {d}{what}: nothing was loaded into CERT."
        if phase == "load":
            return f"The load of {d} failed ({error or 'see the load report'}): CERT was left unchanged."
        if phase == "verify":
            return (f"{d.capitalize()} was loaded, but post-load verification found "
                    f"{len(verify.get('issues') or [])} issues.")
        return f"The migration of {d} failed at {phase or 'an unknown phase'}: {error or 'see run.log'}."
    if status == "CANCELLED":
        return (f"The run of {d} was cancelled by its caller before {phase or 'an unknown phase'}; "
                f"the phases before it are done.")
    if status == "INCOMPLETE":
        return f"The run of {d} is in progress or was interrupted (at {phase or 'an unknown phase'})."
    if status == "INTERRUPTED":
        return (f"The run of {d} was interrupted at {phase or 'an unknown phase'}: its process ended, or was "
                f"stopped (Ctrl-C), before it did.")
    return f"No run state for this run: the report shows whatever artifacts exist."


def after_rollback(verdict_line: str, steps: list[str], cert: dict | None, run_id: str, district) -> tuple[str, list[str]]:
    """The verdict and next steps of a run since gone from CERT (rolled back, or wiped by
    seed-cert): what it did is history, and undoing it again, or checking CERT for its rows, is
    no next step."""
    gone = gone_from_cert(cert)
    if not gone:
        return verdict_line, steps
    line = f"{verdict_line} Then {gone}: CERT holds none of its rows."
    kept = [s for s in steps if "rollback" not in s and "validate-migration" not in s]
    return line, [f"To load this run again: `{command('load', run_id, district)}`."] + kept


def _sum(load: dict, key: str) -> int:
    return sum(s.get(key) or 0 for s in (load.get("by_strategy") or {}).values())


class _Steps:
    """The run's facts, and the commands that go on from them (`datamig ...`, in backticks)."""

    def __init__(self, phase: str | None, run_id: str, district, validation: dict, load: dict, verify: dict,
                 options: dict, error: str | None):
        self.phase, self.run_id, self.district, self.options, self.error = phase, run_id, district, options, error
        self.validation, self.load, self.verify = validation, load, verify

    def cmd(self, name: str) -> str:
        return f"`{command(name, self.run_id, self.district)}`"

    def again(self, step: str | None) -> str:
        """How the run goes on from `step`: one made phase by phase has no migrate to resume."""
        return self.cmd(STEP_COMMANDS.get(step or "", "transform")) if self.options.get("stepwise") else self.cmd("resume")

    def failed(self) -> list[str]:
        if self.phase == "gate" or self.validation.get("status") == "FAILED":
            return self.failed_validation()
        if self.phase == "load":
            return self.failed_load()
        if self.phase == "verify":
            return [f"Read post-load-validation.json: counts extracted, final and in CERT disagree for "
                    f"{len(self.verify.get('issues') or [])} items.",
                    "Re-check once the cause is understood: " + self.cmd("validate") + "; if CERT holds wrong "
                    "data, undo this run: " + self.cmd("rollback") + "."]
        hint = {"preflight": "check the stores and the salt (" + self.cmd("services") + ")",
                "extract": "check PROD's reachability and the district id",
                "transform": "see run.log; a schema drift needs " + self.cmd("scaffold"),
                "report": "the data work is done; only the report failed"}.get(self.phase or "", "see run.log")
        return [f"{(self.phase or 'The run').capitalize()} failed: {self.error or 'no message'}; {hint}.",
                "Then run it again from the failed phase: " + self.again(self.phase) + "."]

    def failed_validation(self) -> list[str]:
        validation, steps = self.validation, []
        rules = [r for r in validation.get("rules") or [] if r["severity"] == "error"] or validation.get("rules") or []
        if validation.get("model_errors"):
            steps.append("Models failed to build: " + ", ".join(validation["model_errors"][:RULES_SHOWN])
                         + "; see the run's dbt/logs/ folder.")
        if rules:
            shown = ", ".join(f"{r['rule']} ({_rule_found(r)})" for r in rules[:RULES_SHOWN])
            steps.append(f"Look at the blocking rules first: {shown}; the failing tests and sample keys are "
                         f"listed under Validation.")
        else:
            steps.append("Read validation-report.json: the validation did not pass"
                         + (f" (status {validation.get('status')})" if validation.get("status") else "") + ".")
        steps.append("Fix the rule or model at fault, then run it again from the transform: " + self.again("transform")
                     + " (the same extract); a fix to PROD's data needs a new run: " + self.cmd("migrate")
                     + ". Nothing was loaded, so there is nothing to roll back.")
        return steps

    def failed_load(self) -> list[str]:
        steps = []
        if self.load.get("conflicts"):
            steps.append("Insert conflicts: CERT already holds some of these keys; choose "
                         "`--strategy upsert` or `--strategy merge`, or remove those CERT rows.")
        if self.error and "drift" in self.error.lower():
            steps.append("CERT's schema has drifted from the final columns: align CERT (see drift-report.json).")
        return steps + [f"Fix the cause ({self.error or 'see load-report.json'}), then run the load again: "
                        + self.again("load") + ".",
                        "CERT was not changed: the load is all or nothing across stores (a load killed after its "
                        "decision is finished by the next load or rollback)."]

    def succeeded(self) -> list[str]:
        return ["Re-check CERT against the extract at any time: " + self.cmd("validate") + ".",
                "To undo this run (only its own rows and changes; CERT's own data is kept): "
                + self.cmd("rollback") + " (asks for confirmation)."]

    def dry_run(self) -> list[str]:
        strategy = self.options.get("strategy") or "auto"
        flag = f" --strategy {strategy}" if strategy != "auto" else ""
        steps = []
        if (self.load.get("totals") or {}).get("conflicts"):
            steps.append("The insert strategy would conflict with keys CERT already holds: run with "
                         "`--strategy upsert` or `--strategy merge`.")
        return steps + [f"Nothing was written to CERT. Migrate for real: "
                        f"`{command('migrate', self.run_id, self.district)}{flag}`."]

    def incomplete(self) -> list[str]:
        if self.options.get("stepwise"):
            return [f"{stepwise.next_step(self.phase)}: {self.again(self.phase)}."]
        return [f"If the run is not still going, resume it: {self.cmd('resume')}."]

    def stopped(self) -> list[str]:
        return [f"Resume it from the phase it stopped in: {self.cmd('resume')}."]

    def warnings(self, coverage: dict) -> list[str]:
        """What did not block the run but needs a look, whatever its outcome."""
        steps = []
        if self.validation.get("status") == "PASSED_WITH_WARNINGS":
            warn = [r["rule"] for r in self.validation.get("rules") or [] if r["severity"] != "error"]
            steps.append("Review the validation warnings" + (f" ({', '.join(warn[:RULES_SHOWN])})" if warn else "")
                         + ": they did not block the load.")
        flagged = coverage.get("possible_pii_without_rule") or []
        if flagged:
            steps.append(f"{len(flagged)} column{'' if len(flagged) == 1 else 's'} may hold PII with no rule: add a "
                         "rule or a per-column override (config/anonymization-rules.yaml, "
                         "meta.datamig.override), then " + self.cmd("scaffold") + ".")
        return steps


def next_steps(status: str, phase: str | None, run_id: str, district, validation: dict, load: dict,
               verify: dict, coverage: dict, options: dict, error: str | None) -> list[str]:
    steps = _Steps(phase, run_id, district, validation, load, verify, options, error)
    by_status = {"FAILED": steps.failed, "SUCCEEDED": steps.succeeded, "DRY_RUN": steps.dry_run,
                 "INCOMPLETE": steps.incomplete, "INTERRUPTED": steps.stopped, "CANCELLED": steps.stopped}
    first = by_status.get(status)
    return (first() if first else []) + steps.warnings(coverage)


def _rule_found(rule: dict) -> str:
    """What a rule's tests found; one that errored never ran, so its "0 failing rows" told of none."""
    found = f"{rule['failures']} failing rows"
    if not rule.get("errored"):
        return found
    errored = f"{rule['errored']} test{'' if rule['errored'] == 1 else 's'} errored"
    return errored if rule["errored"] == rule["failed"] else f"{found}, {errored}"
