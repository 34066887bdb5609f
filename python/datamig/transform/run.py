"""`datamig transform --district N [--run-id R]`: drift gate -> dbt build -> validation report.

The run's extract (data/runs/<run_id>/extract) becomes final/ Parquet, anonymized and tested;
<run>/validation-report.json says whether the load may proceed. Nothing is built when the gate
fails (schema drift, missing salt, missing extract, an override naming what the models lack).
"""
from __future__ import annotations

import json
import logging
import shutil
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from ..anonymize.dictionaries import provenance
from ..anonymize.keyed import Keys
from ..anonymize.rules import RuleSet, load_rules
from ..config import Config
from ..errors import DatamigError, NotFound
from ..extract.manifest import load_manifest
from ..extract.runs import attach_run_log, detach_run_log, loaded_run_refusal
from ..file_locks import in_use_refusal
from ..scaffold.inputs import check_models_current
from ..scaffold.validation import load_validation_rules
from ..services.envfile import find_project_root
from . import drift
from .dbt_run import require_salt, run_dbt
from .validation_report import REPORT as VALIDATION_REPORT, SALT_CHECK, build_report, write_report

log = logging.getLogger("datamig.transform")


def resolve_run(runs_dir: Path, district: int, run_id: str | None) -> str:
    """The run id given, else the district's newest extract (`latest-d<N>`)."""
    if run_id:
        if not (runs_dir / run_id).is_dir():
            raise NotFound(f"run {run_id} not found in {runs_dir}")
        return run_id
    link = runs_dir / f"latest-d{district}"
    if not link.exists():
        raise NotFound(f"no extract of district {district} in {runs_dir} (run `datamig extract --district {district}`)")
    return link.resolve().name


def transform(cfg: Config, env: Mapping[str, str], run_id: str | None, district: int, *,
              root: Path | None = None, select: Sequence[str] = (), exclude: Sequence[str] = (),
              extra_args: Sequence[str] = (), progress: Callable[[str], None] | None = None) -> dict:
    """Run the transform of one extracted run; returns the validation report (also written to
    <run>/validation-report.json). `select`/`exclude`: dbt selectors for a partial build (the
    report records the scope)."""
    root = (root or find_project_root()).resolve()
    runs_dir = Path(cfg.out_dir).resolve()
    run_id = resolve_run(runs_dir, district, run_id)
    run_dir = runs_dir / run_id
    rules, settings, keys = _check_inputs(root, run_dir, district, env)
    started = time.monotonic()
    say = progress or log.info
    say("checking the extract against the dbt models")
    # before the run's log is opened: schema drift is the user's to fix, and changes nothing
    drift.check_drift(root, run_dir / "extract")
    handler = attach_run_log(run_dir)
    try:
        findings = _pii_findings(root, run_dir / "extract", rules)
        gate_s = round(time.monotonic() - started, 3)
        # final/ holds exactly what this build exported; the old verdict goes first, so a build
        # stopped half way leaves no report a load would take for this final/'s
        (run_dir / VALIDATION_REPORT).unlink(missing_ok=True)
        if not (select or exclude or extra_args):  # every model is built again, under this salt
            (run_dir / SALT_CHECK).unlink(missing_ok=True)
        shutil.rmtree(run_dir / "final", ignore_errors=True)
        built = run_dbt(root, runs_dir, run_id, district, env=env, select=select, exclude=exclude,
                        extra=extra_args, progress=progress)
        report_started = time.monotonic()
        scope = {"selection": "full"} if not (select or exclude or extra_args) else {
            "selection": "partial", "select": list(select), "exclude": list(exclude), "extra_args": list(extra_args)}
        report = build_report(
            json.loads(built.run_results.read_text()), json.loads(built.manifest.read_text()), settings,
            run_id=run_id, district=district, warehouse=run_dir / "warehouse.duckdb", pii_findings=findings,
            shapes=rules.pii_shapes, scope=scope, keys=keys, timings={"drift_gate_s": gate_s, **built.timings})
        report["anonymization"] = provenance(rules.settings)
        report["timings"]["report_s"] = round(time.monotonic() - report_started, 3)
        report["timings"]["total_s"] = round(time.monotonic() - started, 3)
        write_report(run_dir, report)
        log.info("transform %s: %s (%s)", run_id, report["status"], report["reason"])
        return report
    except BaseException as exc:
        log.error("transform failed: %s", exc if isinstance(exc, DatamigError) else type(exc).__name__)
        raise
    finally:
        detach_run_log(handler)


def _check_inputs(root: Path, run_dir: Path, district: int, env: Mapping[str, str]) -> tuple[RuleSet, dict, Keys]:
    """(rules, validation settings, the salt's keys), once every input a user can get wrong is
    checked: nothing is built or written before."""
    manifest = load_manifest(run_dir / "extract")
    if int(manifest.get("district", district)) != int(district):
        raise DatamigError(f"run {run_dir.name} is an extract of district {manifest['district']}, not {district}")
    if refusal := loaded_run_refusal(run_dir) or in_use_refusal(run_dir, run_dir.name):
        raise DatamigError(refusal)
    salt_env, salt = require_salt(root, env)
    rules = load_rules(root / "config" / "anonymization-rules.yaml")
    # else an override naming a table or column the models lack goes unnoticed: the scaffold
    # skips an unknown table in silence, and the transform never reads the overrides
    rules.check_overrides(drift.model_columns(root), "the dbt models (dbt_project/staging)")
    settings = load_validation_rules(root / "config" / "validation-rules.yaml")["settings"]
    check_models_current(root)  # else an edited rules file would be ignored until the next scaffold
    return rules, settings, Keys(salt, salt_env)


def _pii_findings(root: Path, extract_dir: Path, rules: RuleSet) -> list[dict]:
    """Columns no rule covers whose sampled values look like PII, each also logged."""
    findings = drift.pii_warnings(root, extract_dir, rules)
    for f in findings:
        log.warning("unclassified column %s: %s/%s sampled values %s %ss", f["column"], f["matched"],
                    f["sampled"], "are" if f["how"] == "whole" else "contain", f["shape"])
    return findings
