"""The transform's rule tests whose models live in two CERT PostgreSQL databases, run in Python.

No dbt test can join two databases, so `dbt test` against CERT skips them (dbt_cert.py); FK
links between stores are checked by cert_scope.check_link. The other two kinds of the rules
file are checked here, with the test's own arguments from the parsed manifest and on the same
rows dbt's tests read: each final model is its CERT table restricted to the run's keys
(datamig.run_keys). Same verdicts as the macros of macros/tests/rules.sql:
- datamig_count_ratio: the two models' row counts differ by more than `tolerance` of the larger;
- datamig_only_needed_foreign_rows: rows of another district that no row of `referenced_by`
  points at (a row failing; its keys are the sample).
"""
from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence

import jinja2
import psycopg
from psycopg import sql

from ..pg_address import output_options
from . import cert_scope

_REF = re.compile(r"ref\(\s*['\"]([^'\"]+)['\"]\s*\)")


class NotInCert(Exception):
    """A model the check needs has no rows of the run in a CERT PostgreSQL store."""


class Stores:
    """Read-only connections to the CERT stores, one each, opened when first needed, with the
    tables and key columns the run recorded there (read once per store)."""

    def __init__(self, urls: Mapping[str, tuple[str, str]], run_id: str):
        self.urls, self.run_id = urls, run_id       # store -> (url, schema)
        self._open: dict[str, tuple[psycopg.Connection, dict[str, list[str]]]] = {}

    def rows(self, model: str) -> tuple[psycopg.Connection, sql.Composable]:
        """The model's CERT table restricted to the run's keys, and the connection to read it on."""
        store, _, table = model.partition("__")
        if store not in self.urls:
            raise NotInCert(f"{model}: not a table of a CERT PostgreSQL store")
        conn, run_tables = self._store(store)
        schema = self.urls[store][1]
        key = run_tables.get(f"{schema}.{table}")
        if not key:
            raise NotInCert(f"{model}: the run recorded no keys of {schema}.{table}")
        return conn, cert_scope.scoped(schema, table, key, cert_scope.column_types(conn, schema, table), self.run_id)

    def _store(self, store: str) -> tuple[psycopg.Connection, dict[str, list[str]]]:
        if store not in self._open:
            # keys are compared as text across databases: every store prints them alike
            url = self.urls[store][0]
            conn = psycopg.connect(url, autocommit=True, options=output_options(url))
            conn.execute("SET default_transaction_read_only = on")
            self._open[store] = conn, cert_scope.run_tables(conn, self.run_id)
        return self._open[store]

    def close(self) -> None:
        for conn, _ in self._open.values():
            conn.close()


def cross_store_tests(nodes: Mapping[str, dict], urls: Mapping[str, tuple[str, str]], run_id: str,
                      district: int, scrub: Callable[[str], str] = lambda text: text) -> list[dict]:
    """One entry per cross-store rule test: test, models, type, severity, status (pass, warn,
    fail; skipped or error with a message, which `scrub` masks as dbt's are), failures, sample
    (keys or counts, never values)."""
    render = _renderer(district)
    stores = Stores(urls, run_id)
    try:
        return [_run(node, nodes, stores, render, district, scrub) for node in _tests(nodes)]
    finally:
        stores.close()


def _tests(nodes: Mapping[str, dict]) -> list[dict]:
    found = []
    for node in nodes.values():
        kind = (node.get("test_metadata") or {}).get("name")
        if node.get("resource_type") != "test" or kind not in CHECKS:
            continue
        models = [nodes.get(uid, {}).get("name", "") for uid in node["depends_on"]["nodes"] if uid.startswith("model.")]
        if len({m.split("__")[0] for m in models}) > 1:
            found.append(node)
    return sorted(found, key=lambda n: n["name"])


def _run(node: dict, nodes: Mapping, stores: Stores, render: Callable[[str], str], district: int,
         scrub: Callable[[str], str]) -> dict:
    meta = node["test_metadata"]
    severity = str(node["config"].get("severity", "error")).lower()
    models = sorted(nodes[uid]["name"] for uid in node["depends_on"]["nodes"] if uid in nodes)
    entry = {"test": node["name"], "models": models, "type": meta["name"], "severity": severity}
    try:
        failures, sample = CHECKS[meta["name"]](meta["kwargs"], stores, render, district)
    except NotInCert as exc:
        return {**entry, "status": "skipped", "failures": None, "message": str(exc)}
    except (psycopg.Error, jinja2.TemplateError) as exc:  # a rule's SQL fragment that does not render or
        lines = str(exc).strip().splitlines()                # that PostgreSQL rejects; a store gone away
        return {**entry, "status": "error", "failures": None, "message": scrub(lines[0] if lines else type(exc).__name__)}
    status = "pass" if failures == 0 else ("fail" if severity == "error" else "warn")
    return {**entry, "status": status, "failures": failures, "sample": sample}


def _renderer(district: int) -> Callable[[str], str]:
    """A rule's SQL fragment as dbt renders it: `{{ var('district') }}` is the only variable."""
    env = jinja2.Environment(undefined=jinja2.StrictUndefined)
    values = {"district": district}
    return lambda text: env.from_string(text).render(var=lambda name, default=None: values.get(name, default))


def _model(arg: str) -> str:
    found = _REF.search(arg or "")
    if not found:
        raise NotInCert(f"{arg!r}: no ref() to a model")
    return found.group(1)


def _count(stores: Stores, model: str, where: str | None, render) -> int:
    conn, rows = stores.rows(model)
    condition = sql.SQL(render(where)) if where else sql.SQL("true")
    return conn.execute(sql.SQL("SELECT count(*) FROM {} AS t WHERE {}").format(rows, condition)).fetchone()[0]


def _count_ratio(kwargs: Mapping, stores: Stores, render, district: int) -> tuple[int, list[dict]]:
    ours = _count(stores, _model(kwargs["model"]), kwargs.get("row_filter"), render)
    theirs = _count(stores, _model(kwargs["other"]), kwargs.get("other_filter"), render)
    if abs(ours - theirs) > float(kwargs["tolerance"]) * max(ours, theirs):
        return 1, [{"model_rows": ours, "other_rows": theirs}]
    return 0, []


def _foreign_rows(kwargs: Mapping, stores: Stores, render, district: int) -> tuple[int, list[dict]]:
    keys: Sequence[str] = kwargs["key_columns"]
    conn, rows = stores.rows(_model(kwargs["model"]))
    foreign = conn.execute(sql.SQL("SELECT {} FROM {} AS t WHERE t.{} <> {}").format(
        _as_text(keys), rows, sql.Identifier(kwargs["district_column"]), sql.Literal(district)))
    left = {tuple(r) for r in foreign.fetchall()}
    for spec in kwargs.get("referenced_by") or []:
        if not left:
            break
        ref_conn, ref_rows = stores.rows(_model(spec["model"]))
        columns = spec["columns"]
        not_null = sql.SQL(" AND ").join(sql.SQL("{} IS NOT NULL").format(sql.Identifier(c)) for c in columns)
        pointed = ref_conn.execute(sql.SQL("SELECT DISTINCT {} FROM {} AS t WHERE {}").format(
            _as_text(columns), ref_rows, not_null))
        left -= {tuple(r) for r in pointed.fetchall()}
    sample = [dict(zip(keys, row)) for row in sorted(left)[:cert_scope.SAMPLE]]
    return len(left), sample


def _as_text(columns: Sequence[str]) -> sql.Composable:
    return sql.SQL(", ").join(sql.SQL("t.{}::text").format(sql.Identifier(c)) for c in columns)


CHECKS: dict[str, Callable[[Mapping, Stores, Callable, int], tuple[int, list[dict]]]] = {
    "datamig_count_ratio": _count_ratio,
    "datamig_only_needed_foreign_rows": _foreign_rows,
}
