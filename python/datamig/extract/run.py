"""`datamig extract --district N`: the district's slice of every store, landed as Parquet with
a manifest, or nothing at all. A user's mistake (unknown district, unreachable store, bad
config) leaves no trace on disk; any other failure of a new run leaves only its run.log."""
from __future__ import annotations

import hashlib
import json
import logging
import shutil
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path

from ..analyze.estate import check_config_names, introspect_estate
from ..analyze.graph_names import check_graph_names
from ..analyze.model import ForeignKey, Table
from ..analyze.neo4j_introspect import graph_property_types
from ..config import Config
from ..config.env import graph_login, postgres_setting
from ..errors import ConfigError, DatamigError, MigrationFailed, NotFound
from ..folders import first_missing, remove_empty
from ..runner.preflight import check_graph_models_match_prod, check_models_match_prod
from . import graph_parquet, pg_types
from .closure import Closure
from .graph_slice import extract_subgraph
from .pg_snapshot import snapshot
from .runs import attach_run_log, checked_run_id, detach_run_log, district_of, new_run_id
from .workspace import Workspace

log = logging.getLogger("datamig.extract")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _file_entry(path: Path, base: Path) -> dict:
    return {"path": str(path.relative_to(base)), "bytes": path.stat().st_size, "sha256": _sha256(path)}


def _file_name(what: str, name: str) -> str:
    """`name`.parquet, where a slash would make a folder of the name, or a path out of the run
    folder ("../../x"): PostgreSQL and Neo4j take any character in a quoted name."""
    if "/" in name or "\\" in name:
        raise ConfigError(f"{what} {name!r} has a slash in its name, which no Parquet file name of the extract "
                          "can hold; rename it in PROD, or leave it out (exclude_tables, the graph walk)")
    return f"{name}.parquet"


def _whole_tables(cfg: Config, tables: dict[str, Table], fks: list[ForeignKey]) -> set[str]:
    """Lookup tables copied whole: those listed as `whole`, and with `default_policy: whole`
    every table that no FK makes belong to anything (no parent, so no district)."""
    listed = {t for t, policy in cfg.reference_tables.items() if policy == "whole" and t in tables}
    if cfg.reference_default != "whole":
        return listed
    children = {fk.child for fk in fks}
    unlisted = {t for t in tables if t not in cfg.reference_tables and t not in children
                and t != cfg.district.table_id}
    return listed | unlisted


def _slice_postgres(cfg: Config, env, tables, fks, district: int, out: Path, progress) -> dict:
    root_id = cfg.district.table_id
    if root_id not in tables:
        raise ConfigError(f"district root table {root_id} not found in store {cfg.district.store}")
    timings = {}
    with ExitStack() as stack:
        snaps = {s.name: stack.enter_context(snapshot(s.name, postgres_setting(env, s.prod_env, s.name)))
                 for s in cfg.postgres_stores()}
        for name, snap in snaps.items():
            snap.check_readable([t for t in tables.values() if t.store == name])
        ws = Workspace(out / "_work" / "slice.duckdb")
        stack.callback(ws.close)
        for table in tables.values():
            ws.create(table)
        closure = Closure(tables, fks, ws, snaps, cfg.down_include, cfg.down_exclude, progress)
        started = time.monotonic()
        if closure.seed_root(tables[root_id], cfg.district.key, str(district)) == 0:
            raise NotFound(f"district {district} not found in {root_id} ({cfg.district.key} = {district})")
        closure.run_down()
        for table_id in sorted(_whole_tables(cfg, tables, fks)):
            closure.add_whole(tables[table_id])
        closure.run_up()
        timings["closure_s"] = round(time.monotonic() - started, 3)
        entries = _write_tables(tables, ws, out, closure)
        timings["write_s"] = round(time.monotonic() - started - timings["closure_s"], 3)
        stores = {name: {"kind": "postgres", "snapshot": s.id} for name, s in snaps.items()}
    for name in stores:
        stores[name]["timings"] = timings
    return {"tables": entries, "stores": stores, "rounds": closure.stats.rounds, "fetches": closure.stats.fetches}


def _write_tables(tables: dict[str, Table], ws: Workspace, out: Path, closure: Closure) -> dict:
    entries = {}
    for table_id, table in sorted(tables.items()):
        path = out / table.store / _file_name(f"store {table.store}: table", table.name)
        path.parent.mkdir(parents=True, exist_ok=True)
        ws.write_parquet(table, path)
        rows, down, text_bytes = ws.sizes(table)
        entries[table_id] = {
            "store": table.store, "table": table.name, "rows": rows,
            "rows_in_district": down, "rows_pulled_as_parents": rows - down,
            "primary_key": list(table.primary_key),
            "columns": [{"name": c.name, "pg_type": c.data_type, "type": pg_types.duckdb_type(c.data_type),
                         "nullable": c.nullable} for c in table.columns],
            "bytes_read": text_bytes,
            **_file_entry(path, out),
        }
    return entries


# Neo4j reads no snapshot: a read that saw the graph change is read again, this many times at most
GRAPH_READS = 3


def _graph_types(cfg: Config, env) -> tuple[dict, dict]:
    """The whole graph's property types per key label and relationship type, which the models
    select (a district may hold no value of some): read once per extract, as the schema
    procedures behind them may scan the whole graph."""
    store = cfg.stores[cfg.graph.store]
    return graph_property_types(store, *graph_login(env, store), cfg.graph.node_keys)


def _slice_graph(cfg: Config, env, district: int, out: Path, types: tuple[dict, dict] | None = None) -> dict:
    """`types`: _graph_types' answer when the caller read it already (None: read here)."""
    if cfg.graph is None:
        return {}
    store = cfg.stores[cfg.graph.store]
    started = time.monotonic()
    login = graph_login(env, store)
    node_types, rel_types = types if types is not None else _graph_types(cfg, env)
    for attempt in range(1, GRAPH_READS + 1):
        writer = graph_parquet.GraphWriter(out / "_work" / f"graph-{attempt}", store=store.name)
        try:
            sub = extract_subgraph(*login, cfg.graph, district, sink=writer.add)
        except BaseException:
            writer.close()
            raise
        if not sub.orphans and not sub.labels_changed:
            break
        writer.close()
        log.warning("graph store %s changed while read (%d nodes of the walk not connected by what was read%s): "
                    "reading again", store.name, sub.orphans, ", a label came into use" if sub.labels_changed else "")
    else:
        raise MigrationFailed(f"store {store.name}: the graph changed while each of {GRAPH_READS} reads of district "
                              f"{district}'s subgraph ran; extract again when PROD's graph writes settle")
    try:
        nodes, rels = {}, {}
        for label in writer.names("nodes"):
            key = cfg.graph.node_keys.get(label)
            path = out / store.name / "nodes" / _file_name(f"store {store.name}: label", label)
            _check_node_key(store.name, district, label, key, writer)
            nodes[label] = {**writer.finish("nodes", label, [key], path, node_types.get(label)), "key": key,
                            **_file_entry(path, out)}
        for rel_type in writer.names("relationships"):
            path = out / store.name / "relationships" / _file_name(f"store {store.name}: relationship type", rel_type)
            sort = ["start_label", "start_key", "end_label", "end_key"]
            rels[rel_type] = {**writer.finish("relationships", rel_type, sort, path, rel_types.get(rel_type)),
                              **_file_entry(path, out)}
    finally:
        writer.close()
    if sub.beyond_max_depth:
        log.warning("graph walk of district %s stopped at graph.max_depth %d with nodes one step further left out",
                    district, cfg.graph.max_depth)
    return {"store": store.name, "nodes": nodes, "relationships": rels, "depth_reached": sub.depth_reached,
            "beyond_max_depth": sub.beyond_max_depth, "timings": {"subgraph_s": round(time.monotonic() - started, 3)}}


def _check_node_key(store: str, district: int, label: str, key: str, writer: graph_parquet.GraphWriter) -> None:
    """Every node of the slice holds its key (graph.node_keys), before its file is written. The
    load matches nodes and relationship ends by it and refuses a node without one, but only
    after the extract and the transform; and when no node of the district held it (only other
    districts' did: check_graph_names refuses a key no node holds), the column had no type:
    pyarrow's traceback ('Unsupported cast from int32 to null')."""
    keyless, rows = writer.without("nodes", label, key)
    if keyless:
        lack = "lacks its" if keyless == 1 else "lack their"
        raise MigrationFailed(f"graph store {store}: label {label}: {keyless} of district {district}'s {rows} nodes "
                              f"{lack} key property {key!r} (graph.node_keys), by which the load matches nodes; "
                              f"give them one in PROD")


def _dangling(warnings: Mapping) -> list[str]:
    """FKs of extracted tables whose parent is not extracted (excluded, or in a schema the store's
    config does not name): the slice's rows point at rows it lacks. Said in the run's log, the
    manifest and the summary; they were left to analyze's report alone."""
    lines = []
    for fk in warnings.get("dangling_foreign_keys", []):
        why = "is excluded" if fk["reason"] == "parent excluded" else "is not in the store's schema"
        lines.append(f"{fk['child']} ({fk['fk']}) points at {fk['parent']}, which {why}: its rows there are "
                     f"not extracted")
        log.warning("%s", lines[-1])
    return lines


def _point_latest(out_dir: Path, district: int, run_id: str) -> None:
    """`latest-d<district>` names the newest extract, so `dbt build --vars '{district: 42}'`
    finds it without a run id."""
    link = out_dir / f"latest-d{district}"
    tmp = out_dir / f".latest-d{district}.tmp"
    tmp.unlink(missing_ok=True)
    tmp.symlink_to(run_id)
    tmp.replace(link)


def extract(cfg: Config, env: Mapping[str, str], district: int, run_id: str | None = None,
            progress: Callable[[str], None] | None = None, models: Path | None = None,
            graph_types: tuple[dict, dict] | None = None) -> dict:
    """`models`: the project root whose dbt models PROD must match, as migrate's preflight checks
    before it extracts (None: checked already); a drifted PROD's rows would reach the run folder
    only for the transform's drift gate to refuse them. `graph_types`: the graph's property
    types when the caller read them already (migrate's preflight); None: read here."""
    run_id = checked_run_id(run_id) if run_id is not None else new_run_id(district)  # "" is no run id
    if district_of(run_id) != district:  # every later step (latest-dN, hints, resume) reads the id's district
        raise DatamigError(f"--run-id {run_id} names district {district_of(run_id)}, not {district} (--district): "
                           f"a run id ends in -d<district>")
    run_dir = cfg.out_dir / run_id
    final, partial = run_dir / "extract", run_dir / "extract.partial"
    if final.exists():
        raise DatamigError(f"run {run_id} already has an extract at {final}")
    created = first_missing(run_dir)  # what attach_run_log is about to create
    handler = attach_run_log(run_dir)
    started = time.monotonic()
    user_error = False
    try:
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir(parents=True)
        log.info("extract run=%s district=%s", run_id, district)
        # The graph's slice needs nothing of PostgreSQL's, and each waits mostly on its own server.
        # On a PostgreSQL error the graph's thread is waited for and its outcome dropped.
        check_graph_names(cfg, env)
        # without models, read in the graph's thread (if not given), beside PostgreSQL's work
        if models is not None and cfg.graph is not None:
            graph_types = check_graph_models_match_prod(models, cfg, env, graph_types or _graph_types(cfg, env))
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="datamig-graph-extract") as pool:
            graph = pool.submit(_slice_graph, cfg, env, district, partial, graph_types)
            tables, fks, warnings = introspect_estate(cfg, env)
            check_config_names(cfg, tables, fks, warnings)
            if models is not None:
                check_models_match_prod(models, cfg, tables)
            manifest = {"run_id": run_id, "district": district, "config": str(cfg.path),
                        **_slice_postgres(cfg, env, tables, fks, district, partial, progress or log.info),
                        "dangling_foreign_keys": _dangling(warnings)}
            manifest["graph"] = graph.result()
        manifest["elapsed_s"] = round(time.monotonic() - started, 3)
        manifest["totals"] = {"tables": len(manifest["tables"]),
                              "rows": sum(t["rows"] for t in manifest["tables"].values())}
        shutil.rmtree(partial / "_work")
        (partial / "extraction-manifest.json").write_text(json.dumps(manifest, indent=2, default=str))
        partial.rename(final)
        _point_latest(cfg.out_dir, district, run_id)
        log.info("extract done: %s rows in %ss", manifest["totals"]["rows"], manifest["elapsed_s"])
        return manifest
    except BaseException as exc:
        shutil.rmtree(partial, ignore_errors=True)
        user_error = isinstance(exc, DatamigError)
        log.error("extract failed: %s", exc if user_error else type(exc).__name__)
        raise
    finally:
        detach_run_log(handler)
        if user_error and created is not None:
            _remove_run_folder(run_dir, created)


def _remove_run_folder(run_dir: Path, created: Path) -> None:
    """A user's mistake changes nothing on disk (the CLI prints it in one line): this run's folder
    goes, then each folder above it that this extract created, if another run has not put
    something in it meanwhile."""
    shutil.rmtree(run_dir, ignore_errors=True)
    if run_dir != created:
        remove_empty(run_dir.parent, created)
