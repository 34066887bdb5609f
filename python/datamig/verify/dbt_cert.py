"""The transform's dbt tests, run again after the load against CERT (dbt-postgres, target
`cert` of profiles.yml), one CERT PostgreSQL store at a time.

Under the cert target the final models are ephemeral selects of the CERT tables restricted to
the run's keys (datamig.run_keys, macros/cert.sql), so the tests judge exactly the rows the run
loaded. Selection: `tag:<store> --indirect-selection cautious --exclude tag:leak`: a test whose
models span stores (another database) is not run here (cross-store links are checked in
Python, see cert_scope.check_link, and the rule tests in cross_store.py), and the PII-leak
tests need the original values, which only the transform's DuckDB has.

The project is parsed once per validation (parse()) and every store's `dbt test` reuses the
parsed manifest. The parse is the same for every run of a district (vars {district}; run_id is
only read when a test compiles, and each `dbt test` is given it), so dbt's partial parsing carries
over from one validation to the next through a copy of partial_parse.msgpack in datamig's cache,
as the transform does for its own target; dbt checks the copy and parses afresh when the project
changed. dbt writes no manifest.json here (~1.6 s of CPU each time): the nodes come from the
parsed manifest in memory, run_results.json is written per store.

Connection settings reach the profile through DATAMIG_CERT_* variables set for the duration of
the dbt call from the store's CERT URL; the password is never an argument, a log line or a file.
"""
from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg

from ..errors import DatamigError
from ..pg_address import output_options
from ..transform import failing_keys
from ..transform.dbt_process import (SILENT, environ, partial_parse_cache, reraise_interrupt, silent_runner,
                                     why_not_run, working_dir)
from ..transform.dbt_run import RUN_DIR_ENV
from ..transform.validation_report import Scrubber, test_rule
from . import cert_scope

log = logging.getLogger("datamig.verify")

DBT_DIR = "dbt-cert"

# The tests' sessions (libpq reads PGOPTIONS). Read only: the profile connects as CERT's writer
# role, and a verification must not be able to change what it verifies. PostgreSQL estimates
# the run's key set, an unnest() of datamig.run_keys arrays, at 10 rows, so it checks a foreign
# key with a nested-loop anti join over two "10-row" sets that hold the whole district: minutes
# at `reference` for one test, against 0.6 s for the hash/merge join it takes without nested
# loops. JIT only adds compile time to these one-off scans (and the disabled nested loops' cost
# makes it kick in).
SESSION_OPTIONS = "-c default_transaction_read_only=on -c enable_nestloop=off -c jit=off"


def profile_env(url: str, schema: str) -> dict[str, str]:
    """DATAMIG_CERT_* for the cert target, from a PostgreSQL URL (or key=value conninfo)."""
    info = psycopg.conninfo.conninfo_to_dict(url)
    return {
        "DATAMIG_CERT_HOST": str(info.get("host") or "127.0.0.1"),
        "DATAMIG_CERT_PORT": str(info.get("port") or "5432"),
        "DATAMIG_CERT_USER": str(info.get("user") or os.environ.get("PGUSER", "")),
        "DATAMIG_CERT_PASSWORD": str(info.get("password") or os.environ.get("PGPASSWORD", "")),
        "DATAMIG_CERT_DBNAME": str(info.get("dbname") or ""),
        "DATAMIG_CERT_SCHEMA": schema,
        "DATAMIG_CERT_SSLMODE": str(info.get("sslmode") or "prefer"),
        "PGOPTIONS": " ".join(filter(None, [os.environ.get("PGOPTIONS", ""), SESSION_OPTIONS])),
    }


def _common(root: Path, out: Path, dbt_vars: dict) -> list[str]:
    return ["--project-dir", str(root), "--profiles-dir", str(root), "--target", "cert",
            "--vars", json.dumps(dbt_vars),
            "--target-path", str(out / "target"), "--log-path", str(out / "logs")]


def dbt_test_args(root: Path, out: Path, store: str, run_id: str, district: int) -> list[str]:
    return [*SILENT, "test", "--no-write-json", *_common(root, out, {"district": district, "run_id": run_id}),
            "--select", f"tag:{store}", "--indirect-selection", "cautious", "--exclude", "tag:leak"]


@dataclass
class Parsed:
    manifest: Any  # dbt's Manifest, handed to every store's dbtRunner
    nodes: dict    # unique_id -> node as manifest.json has it, for the models and tests


# The cert target's connection while parsing. Parsing connects nowhere, but dbt keeps a hash of
# these settings with its partial parse and parses in full when they change: a CERT server
# restarted on another port, or another store's URL, would cost a full parse (~10 s at
# `reference`). Nodes take the real database per store (_retarget), the rest at run time.
PARSE_URL = "postgresql://datamig@datamig-parse-only:5432/cert"


def parse(root: Path, run_dir: Path, district: int, schema: str) -> Parsed:
    """The project parsed under the cert target, partially when the cache holds a parse of it
    (see the module's docstring). schema: the CERT schema the tests' models name."""
    root = root.resolve()
    out = run_dir.resolve() / DBT_DIR
    # DATAMIG_RUN_DIR: the staging models then render the same text in every run (as in the
    # transform), else they name the runs folder and dbt re-parses them; no test reads them.
    settings = {**profile_env(PARSE_URL, schema), RUN_DIR_ENV: "."}
    with partial_parse_cache(root, district, "cert", out / "target"), environ(settings):
        result = silent_runner().invoke([*SILENT, "parse", "--no-write-json",
                                     *_common(root, out, {"district": district})])
    reraise_interrupt(result)
    if result.exception is not None or result.result is None:
        raise DatamigError(f"dbt parse for the cert target did not run: {why_not_run(result.exception)}")
    manifest = result.result
    nodes = {uid: node.to_dict() for uid, node in manifest.nodes.items()
             if node.resource_type in ("model", "test")}
    return Parsed(manifest, nodes)


def run_store_tests(root: Path, run_dir: Path, run_id: str, district: int, store_name: str, schema: str,
                    url: str, parsed: Parsed, shapes: Mapping[str, str] | None = None,
                    progress: Callable[[str], None] | None = None) -> dict:
    """dbt test of one store against its CERT database; per test: name, model, rule, severity,
    status, failures. add_samples() then gives a failing test up to 5 keys of the rows it flags."""
    root = root.resolve()
    out = run_dir.resolve() / DBT_DIR
    args = dbt_test_args(root, out, store_name, run_id, district)
    log.info("dbt %s", " ".join(args))
    scrub = Scrubber(shapes)
    started = time.monotonic()
    settings = profile_env(url, schema)
    _retarget(parsed.manifest, settings["DATAMIG_CERT_DBNAME"])
    with working_dir(root), environ(settings):
        result = silent_runner(manifest=parsed.manifest).invoke(args)
    seconds = round(time.monotonic() - started, 3)
    reraise_interrupt(result)
    if result.exception is not None or result.result is None:
        raise DatamigError(f"dbt test against CERT {store_name} did not run: "
                           f"{scrub(why_not_run(result.exception))}")
    results_path = out / f"{store_name}.run_results.json"
    result.result.write(str(results_path))
    tests = _tests(json.loads(results_path.read_text()), parsed.nodes, scrub)
    if progress:
        failing = sum(1 for t in tests if t["status"] in ("fail", "warn"))
        progress(f"{store_name}: {len(tests)} dbt tests against CERT, {failing} failing")
    return {"store": store_name, "seconds": seconds, "run_results": f"{DBT_DIR}/{store_name}.run_results.json",
            "tests": tests, "not_run_cross_store": _cross_store(parsed.nodes, store_name)}


def add_samples(tested: dict, schema: str, url: str, run_id: str, parsed: Parsed,
                shapes: Mapping[str, str] | None = None) -> dict:
    """run_store_tests()'s result, each failing test given the keys of up to 5 rows it flags."""
    failing = [t for t in tested["tests"] if t["status"] in ("fail", "warn")]
    if failing:
        _add_samples(url, schema, run_id, tested["store"], failing, Scrubber(shapes), parsed.nodes)
    for t in tested["tests"]:
        t.pop("_sql", None)
    return tested


def _cross_store(nodes: Mapping, store: str) -> list[dict]:
    """Tests on this store's finals that also read another store's (a link, a count ratio):
    one PostgreSQL database cannot run them (links and rule tests are checked in Python instead,
    cert_scope.check_link and cross_store.py)."""
    out = []
    for node in nodes.values():
        if node.get("resource_type") != "test" or "leak" in (node.get("tags") or []):
            continue
        stores = sorted({nodes.get(uid, {}).get("name", "").split("__")[0] for uid in node["depends_on"]["nodes"]
                         if uid.startswith("model.")})
        if store in stores and len(stores) > 1:
            out.append({"test": node["name"], "stores": stores})
    return sorted(out, key=lambda t: t["test"])


def _retarget(manifest, database: str) -> None:
    """The parsed nodes carry the database of the profile they were parsed with; dbt-postgres
    refuses a manifest naming another database than the connection's. Under the cert target
    nothing the tests read is materialized by dbt (finals are ephemeral, the rest unselected),
    so pointing every node at this store's database changes no SQL of a test."""
    for node in list(manifest.nodes.values()) + list(manifest.sources.values()):
        if getattr(node, "database", None):
            node.database = database


def _tests(run_results: Mapping, nodes: Mapping, scrub: Scrubber) -> list[dict]:
    out = []
    for r in run_results.get("results", []):
        uid = r["unique_id"]
        if not uid.startswith("test."):
            continue
        node = nodes.get(uid, {})
        model_uid = node.get("attached_node") or next(iter((node.get("depends_on") or {}).get("nodes", [])), None)
        model = nodes.get(model_uid, {})
        entry = {"test": node.get("name", uid), "model": model.get("name"), "column": failing_keys.tested_column(node),
                 "type": (node.get("test_metadata") or {}).get("name"), "rule": test_rule(node),
                 "severity": str((node.get("config") or {}).get("severity", "error")).lower(),
                 "status": r["status"], "failures": r.get("failures")}
        if r["status"] in ("error", "fail", "warn"):
            entry["message"] = scrub(r.get("message"))
        entry["_sql"] = (r.get("compiled_code"), model, model_uid, node)
        out.append(entry)
    out.sort(key=lambda t: (t["model"] or "", t["test"]))
    return out


def _add_samples(url: str, schema: str, run_id: str, store: str, failing: list[dict], scrub: Scrubber,
                 nodes: Mapping) -> None:
    # Only failing tests need their model's sibling tests (to find its key columns).
    tests_of: dict[str, list] = {}
    for n in nodes.values():
        if n.get("resource_type") == "test" and n.get("attached_node"):
            tests_of.setdefault(n["attached_node"], []).append(n)
    # the sample keys are read as values: printed in the styles psycopg parses (OUTPUT_SETTINGS)
    with psycopg.connect(url, autocommit=True, options=output_options(url)) as conn:
        conn.execute("SET default_transaction_read_only = on")
        conn.execute("SET enable_nestloop = off")  # the failing tests' SQL again: see SESSION_OPTIONS
        conn.execute("SET jit = off")
        keys_of = cert_scope.run_tables(conn, run_id)
        for entry in failing:
            compiled, model, model_uid, node = entry["_sql"]
            tests = tests_of.get(model_uid, [])
            table = (model.get("name") or "").removeprefix(f"{store}__")
            key = keys_of.get(f"{schema}.{table}")
            entry["sample_key_columns"] = keys = failing_keys.model_key_columns(model, tests)
            if not key or not compiled:
                entry["sample_keys"] = []
                continue
            relation = cert_scope.scoped(schema, table, key, cert_scope.column_types(conn, schema, table),
                                         run_id).as_string(conn)
            meta = node.get("test_metadata") or {}
            try:
                entry["sample_keys"] = failing_keys.sample_keys(
                    conn, compiled, relation, keys, list(model.get("columns") or {}), meta.get("name", ""),
                    meta.get("kwargs") or {}, entry["column"])
            except psycopg.Error as exc:
                entry["sample_keys"] = []
                entry["sample_error"] = scrub(str(exc).splitlines()[0] if str(exc) else type(exc).__name__, 200)
