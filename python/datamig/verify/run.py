"""`datamig validate-migration RUN_ID`: after a load,
- reconcile counts (extracted = final = present in CERT) per table, label and relationship type;
- run the transform's dbt tests again against each CERT PostgreSQL store (dbt-postgres, target
  cert), scoped to the rows the run loaded (dbt_cert.py);
- check the cross-database links of config/datamig.yaml over the run's rows (cert_scope.py), and
  run the rule tests whose models span two stores, which no dbt test can (cross_store.py);
write post-load-validation.json: VALID, or ISSUES_FOUND when a count differs, an error-severity
test fails or errors, or a link points at a parent CERT lacks. Warn-severity failures are
reported as warnings. Nothing in it is a data value: failing rows are told by their keys."""
from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import psycopg

from ..analyze.neo4j_introspect import open_driver
from ..anonymize.rules import load_rules
from ..config import Config
from ..errors import DatamigError, NotFound
from ..load.graph import cert_login
from ..load.pgstore import cert_url
from ..load.runfolder import check_final_parquet
from ..pg_address import cannot_connect
from ..report.artifacts import LOAD, REPLACED, ROLLBACK, gone_from_cert, read_cert_state
from ..extract.manifest import load_manifest
from ..runfiles import read_json_object, write_json
from ..services.envfile import find_project_root
from ..transform.validation_report import Scrubber
from . import cancel, cert_scope, cross_store, dbt_cert, reconcile


def _manifest(run_dir: Path) -> dict:
    if not run_dir.is_dir():  # as get_report and load say it
        raise NotFound(f"run {run_dir.name} not found under {run_dir.parent}")
    return load_manifest(run_dir / "extract")


def _check_loaded(run_dir: Path) -> None:
    """A run not in CERT (never loaded, only dry-run, its load failed, or rolled back since) has
    nothing there to validate: every count would differ and the verdict ISSUES_FOUND would
    blame CERT for a load that is not there."""
    state = read_cert_state(run_dir)
    name = run_dir.name
    for record in (LOAD, ROLLBACK, REPLACED):  # cut short, it read as "never loaded into CERT"
        if (run_dir / record).exists():
            read_json_object(run_dir / record)  # one line naming the file when it is no JSON object
    if state is None:
        raise DatamigError(f"run {name} was never loaded into CERT: load it first (`datamig load {name}`), "
                           f"then validate it")
    if gone := gone_from_cert(state):
        raise DatamigError(f"run {name} was {gone}: CERT holds none of its rows "
                           f"(`datamig load {name}` loads it again)")
    if state["status"] != "LOADED":
        raise DatamigError(f"run {name} is not loaded into CERT (its load: {state['status']}): load it first "
                           f"(`datamig load {name}`), then validate it")


def _check_cert(cfg: Config, env: Mapping[str, str], manifest: dict) -> None:
    """Every CERT store the validation reads answers, before anything is written (dbt's parse
    writes into the run folder and the parse cache): a store down is one line naming it and its
    host:port, and the run is left as it was."""
    for store in cfg.postgres_stores():
        url = cert_url(store, env)
        try:
            with psycopg.connect(url, connect_timeout=10) as conn:
                conn.execute("SELECT 1")
        except psycopg.Error as exc:
            raise cannot_connect(f"{store.name} (CERT)", url, exc) from None
    if (manifest.get("graph") or {}) and cfg.graph is not None:
        store = cfg.stores[cfg.graph.store]
        open_driver(store, *cert_login(store, env)).close()


def _final(run_dir: Path, entry: dict) -> Path:
    return run_dir / "final" / entry["store"] / f"{entry['table']}.parquet"


def _present(cfg: Config, env, run_dir: Path, entries: list[tuple[str, dict]], progress) -> dict[str, int]:
    """table id -> rows of CERT with a key of the table's final Parquet, one session per store."""
    out = {}
    for name in sorted({e["store"] for _, e in entries}):
        store = cfg.stores[name]
        mine = [(table_id, e) for table_id, e in entries if e["store"] == name and _final(run_dir, e).exists()]
        progress(f"reconciling {name}: {len(mine)} tables")
        keyed = [reconcile.Keyed(e["table"], _final(run_dir, e), e["primary_key"] or [c["name"] for c in e["columns"]],
                                 {c["name"]: c["pg_type"] for c in e["columns"]}) for _, e in mine]
        counts = reconcile.pg_present(env[store.cert_env], store.schema, keyed)
        out.update(zip([table_id for table_id, _ in mine], counts))
    return out


def _tables(cfg: Config, env, run_dir: Path, manifest: dict, progress) -> list[dict]:
    entries = sorted(manifest["tables"].items())
    present = _present(cfg, env, run_dir, entries, progress)
    rows = []
    for table_id, entry in entries:
        final = _final(run_dir, entry)
        final_rows = reconcile.parquet_rows(final) if final.exists() else None
        in_cert = present.get(table_id, 0)
        ok = entry["rows"] == final_rows == in_cert
        rows.append({"table": table_id, "extracted": entry["rows"], "final": final_rows, "in_cert": in_cert, "ok": ok})
    return rows


def graph_counts(cfg: Config, env, run_dir: Path, manifest: dict) -> list[dict]:
    """Per label and relationship type: extracted = final rows, and the final's `distinct` keys
    or (start, end) pairs = those in CERT, as the load writes one node or relationship for all
    the rows naming one (PROD's parallel relationships of a type, say)."""
    graph = manifest.get("graph") or {}
    if not graph or cfg.graph is None:
        return []
    store = cfg.stores[cfg.graph.store]
    url, user, pw = store.env_names("cert")
    present = reconcile.graph_present(env[url], env.get(user, "neo4j"), env[pw], run_dir / "final" / store.name,
                                      cfg.graph.node_keys)
    rows = []
    for kind in ("nodes", "relationships"):
        for name, entry in sorted(graph.get(kind, {}).items()):
            folder = run_dir / "final" / store.name / kind / f"{name}.parquet"
            final_rows = reconcile.parquet_rows(folder) if folder.exists() else None
            distinct, in_cert = present[kind].get(name, (None, 0))
            rows.append({"kind": kind[:-1], "name": name, "extracted": entry["rows"], "final": final_rows,
                         "distinct": distinct, "in_cert": in_cert,
                         "ok": entry["rows"] == final_rows and distinct == in_cert})
    return rows


def _loaded_stores(manifest: dict) -> set[str]:
    return {entry["store"] for entry in manifest["tables"].values() if entry["rows"]}


def _unscoped(cfg: Config, env, run_id: str, manifest: dict) -> list[str]:
    """Stores whose loaded tables have no key record (a load by an older datamig): their dbt
    tests would look at no row and pass, proving nothing."""
    loaded = _loaded_stores(manifest)
    out = []
    for store in cfg.postgres_stores():
        if store.name in loaded:
            url = cert_url(store, env)
            try:
                with psycopg.connect(url, connect_timeout=10) as conn:
                    if not cert_scope.run_tables(conn, run_id):
                        out.append(store.name)
            except psycopg.OperationalError as exc:
                raise cannot_connect(f"{store.name} (CERT)", url, exc) from None
    return out


def _parse(cfg: Config, root: Path, run_dir: Path, district: int, progress) -> dbt_cert.Parsed | None:
    stores = cfg.postgres_stores()
    if not stores:
        return None
    progress("parsing the dbt project for the cert target")
    return dbt_cert.parse(root, run_dir, district, stores[0].schema)


def _dbt_tests(cfg: Config, env, root: Path, run_dir: Path, run_id: str, district: int, progress,
               skip: list[str], parsed: dbt_cert.Parsed | None, shapes: Mapping[str, str],
               submit: Callable[..., Future]) -> list[dict]:
    stores = [s for s in cfg.postgres_stores() if s.name not in skip]
    if not stores or parsed is None:
        return []
    sampled = []
    # Sampling a failing test's rows runs its SQL again: beside the next store's dbt tests.
    for store in stores:
        progress(f"dbt tests against CERT {store.name}")
        url = cert_url(store, env)
        tested = dbt_cert.run_store_tests(root, run_dir, run_id, district, store.name, store.schema, url,
                                          parsed, shapes, progress)
        sampled.append(submit(dbt_cert.add_samples, tested, store.schema, url, run_id, parsed, shapes))
    return [s.result() for s in sampled]


def _links(cfg: Config, env, run_id: str, progress) -> list[dict]:
    """Links between two PostgreSQL stores (no dbt test can join two databases)."""
    rows = []
    for link in cfg.links:
        child, parent = cfg.stores[link.store], cfg.stores[link.ref_store]
        if child.name == parent.name or child.kind != "postgres" or parent.kind != "postgres":
            continue
        name = (f"{link.store}.{link.table}.{','.join(link.columns)} -> "
                f"{link.ref_store}.{link.ref_table}.{','.join(link.ref_columns)}")
        progress(f"checking link {name}")
        found = cert_scope.check_link(cert_url(child, env), child.schema, link.table, link.columns,
                                      cert_url(parent, env), parent.schema, link.ref_table, link.ref_columns, run_id)
        rows.append({"link": name, "severity": "error", "ok": found["missing"] == 0, **found})
    return rows


def _cross_store(cfg: Config, env, run_id: str, district: int, parsed: dbt_cert.Parsed | None,
                 shapes: Mapping[str, str], progress) -> list[dict]:
    if parsed is None:
        return []
    progress("checking the rule tests that span stores")
    urls = {s.name: (cert_url(s, env), s.schema) for s in cfg.postgres_stores()}
    return cross_store.cross_store_tests(parsed.nodes, urls, run_id, district, Scrubber(shapes))


def _judge(where: str, test: dict, issues: list[str], warnings: list[str]) -> None:
    """A test's verdict: an issue when it failed at error severity or could not run, a warning
    when it failed at warn severity or was not run for a reason it gives."""
    status = test["status"]
    if status == "error":
        issues.append(f"{where} could not run: {test.get('message')}")
    elif status == "fail":
        issues.append(f"{where} failed: {test['failures']} rows")
    elif status == "warn":
        warnings.append(f"{where} warned: {test['failures']} rows")
    elif status == "skipped" and test.get("message"):
        warnings.append(f"{where} not run: {test['message']}")


def _summary(stores: list[dict]) -> dict:
    tests = [t for s in stores for t in s["tests"]]
    count = lambda status: sum(1 for t in tests if t["status"] == status)  # noqa: E731
    return {"tests": len(tests), "passed": count("pass"), "failed": count("fail"), "warned": count("warn"),
            "errored": count("error"), "skipped": count("skipped"),
            "by_type": {k: sum(1 for t in tests if t["type"] == k) for k in sorted({t["type"] or "" for t in tests})}}


def _checks(cfg: Config, env, root: Path, run_dir: Path, run_id: str, manifest: dict, shapes: Mapping[str, str],
            progress) -> tuple:
    """(tables, links, cross-store tests, graph, unscoped stores, dbt tests per store).

    dbt's parse and tests are CPU in this process, the counts and links wait on PostgreSQL, the
    graph's on Neo4j: side by side they overlap. dbt runs one call at a time (its state is global
    to the process); while it runs, the working directory is the project and DATAMIG_CERT_* and
    PGOPTIONS are set, which the other checks do not depend on (run_dir is absolute; PGOPTIONS
    makes sessions read only, as theirs already are, and steers the planner off nested loops).
    On Ctrl-C or a failure the checks still running in CERT are cancelled (cancel.py)."""
    district = manifest["district"]
    urls = [cert_url(s, env) for s in cfg.postgres_stores()]
    submitted: list[Future] = []
    pool = ThreadPoolExecutor(max_workers=4)

    def submit(call, *args) -> Future:
        submitted.append(pool.submit(call, *args))
        return submitted[-1]

    with cancel.tagged_sessions():
        try:
            parsing = submit(_parse, cfg, root, run_dir, district, progress)
            graph_checks = submit(graph_counts, cfg, env, run_dir, manifest)
            pg_checks = submit(lambda: (_tables(cfg, env, run_dir, manifest, progress),
                                        _links(cfg, env, run_id, progress),
                                        _cross_store(cfg, env, run_id, district, parsing.result(), shapes, progress)))
            unscoped = _unscoped(cfg, env, run_id, manifest)
            # a store the run loaded no row into has nothing to test, and the cert target refuses
            # a run CERT holds no keys of (macros/plugin.sql)
            empty = [s.name for s in cfg.postgres_stores() if s.name not in _loaded_stores(manifest)]
            stores = _dbt_tests(cfg, env, root, run_dir, run_id, district, progress, unscoped + empty,
                                parsing.result(), shapes, submit)
            (tables, links, cross), graph = pg_checks.result(), graph_checks.result()
        except BaseException:
            pool.shutdown(wait=False, cancel_futures=True)
            cancel.cancel_until_done(urls, submitted)
            raise
        finally:
            pool.shutdown()
    return tables, links, cross, graph, unscoped, stores


def validate_migration(cfg: Config, env: Mapping[str, str], run_id: str,
                       progress: Callable[[str], None] | None = None, root: Path | None = None) -> dict:
    progress = progress or (lambda m: None)
    root = (root or find_project_root()).resolve()
    run_dir = (cfg.out_dir / run_id).resolve()  # absolute: dbt's calls change the working directory
    started = time.monotonic()
    manifest = _manifest(run_dir)
    district = manifest["district"]
    _check_loaded(run_dir)
    check_final_parquet(run_dir)
    _check_cert(cfg, env, manifest)
    shapes = load_rules(root / "config" / "anonymization-rules.yaml").pii_shapes  # masks messages
    tables, links, cross, graph, unscoped, stores = _checks(cfg, env, root, run_dir, run_id, manifest, shapes,
                                                           progress)
    issues = [f"{r['table']}: extracted {r['extracted']}, final {r['final']}, in CERT {r['in_cert']}"
              for r in tables if not r["ok"]]
    issues += [f"{name}: CERT holds no record of the run's keys (datamig.run_keys); its dbt tests were not run"
               for name in unscoped]
    issues += [f"{r['kind']} {r['name']}: extracted {r['extracted']}, final {r['final']} ({r['distinct']} distinct), "
               f"in CERT {r['in_cert']}" for r in graph if not r["ok"]]
    warnings: list[str] = []
    for s in stores:
        for t in s["tests"]:
            _judge(f"{s['store']}: dbt test {t['test']} ({t['rule']}, {t['severity']})", t, issues, warnings)
    issues += [f"link {r['link']}: {r['missing']} of {r['checked']} values have no parent in CERT"
               for r in links if not r["ok"]]
    for t in cross:
        _judge(f"cross-store test {t['test']} ({t['type']}, {t['severity']})", t, issues, warnings)
    result = {"run_id": run_id, "district": manifest["district"],
              "status": "VALID" if not issues else "ISSUES_FOUND", "issues": issues, "warnings": warnings,
              "tables": tables, "graph": graph,
              "dbt_tests": {"target": "cert", "scope": "rows of the run (datamig.run_keys)",
                            "summary": _summary(stores), "stores": stores},
              "links": links, "cross_store_tests": cross, "seconds": round(time.monotonic() - started, 3)}
    write_json(run_dir / "post-load-validation.json", result)
    return result
