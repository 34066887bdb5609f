"""Entry points used by the CLI and the test fixtures: create the schemas, seed PROD, checksum
tables. (CERT's own test data: cert_seed.seed_cert.)

`env` is a mapping holding DATAMIG_PG_ADMIN_URL (a superuser URL; the database name in it is
swapped for each store's) and, for the graph, <TARGET>_SP_URL / _USER / _PASSWORD.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor

from ..errors import ConfigError
from . import graph_writer, pg_writer, spec
from .generate import Estate, generate

Progress = Callable[[str], None] | None


def _admin_url(env: Mapping[str, str]) -> str:
    try:
        return env["DATAMIG_PG_ADMIN_URL"]
    except KeyError:
        raise ConfigError("DATAMIG_PG_ADMIN_URL is not set (superuser URL of the estate's cluster)") from None


def _databases(target: str) -> dict[str, str]:
    if target == "prod":
        return spec.PROD_DATABASES
    if target == "cert":
        return spec.CERT_DATABASES
    raise ValueError(f"target must be 'prod' or 'cert', not {target!r}")


def store_urls(env: Mapping[str, str], target: str) -> dict[str, str]:
    """store -> superuser URL of that store's database for the target."""
    admin = _admin_url(env)
    return {store: pg_writer.db_url(admin, db) for store, db in _databases(target).items()}


def graph_settings(env: Mapping[str, str], target: str) -> tuple[str, str, str] | None:
    prefix = f"{target.upper()}_SP"
    url = env.get(f"{prefix}_URL")
    if not url:
        return None
    return url, env.get(f"{prefix}_USER", "neo4j"), env.get(f"{prefix}_PASSWORD", "")


def apply_schemas(env: Mapping[str, str], target: str) -> None:
    """Create the tables of the target's four databases (skipped where they already exist)
    and the graph's uniqueness constraints (idempotent)."""
    for store, url in store_urls(env, target).items():
        pg_writer.apply_ddl(url, store)
    settings = graph_settings(env, target)
    if settings:
        with graph_writer.connect(*settings) as driver:
            graph_writer.apply_constraints(driver)


def write_estate(env: Mapping[str, str], target: str, estate: Estate, progress: Progress = None,
                 timings: dict | None = None) -> dict:
    """Replace everything in the target's stores with the estate; return the summary.

    PostgreSQL and Neo4j are written concurrently: each thread mostly waits on its server, so
    the two loads overlap instead of adding up.
    """
    say = progress or (lambda message: None)
    timings = dict(timings or {})
    apply_schemas(env, target)
    urls = store_urls(env, target)

    def load_pg() -> dict:
        sums = {}
        for store, tables in estate.pg.items():
            start = time.perf_counter()
            say(f"{target} {store}: loading {sum(t.num_rows for t in tables.values())} rows")
            # datamig's load ledger (schema datamig) describes rows the truncate removes: left
            # behind, it would call a wiped run loaded (a reload skipped, a rollback of nothing)
            sums[store] = pg_writer.load_tables(urls[store], tables, drop_schemas=("datamig",))
            timings[store] = round(time.perf_counter() - start, 3)
        return sums

    def load_graph() -> dict:
        settings = graph_settings(env, target)
        if settings is None:
            say(f"{target} sp: {target.upper()}_SP_URL not set, graph skipped")
            return {}
        start = time.perf_counter()
        with graph_writer.connect(*settings) as driver:
            graph_writer.apply_constraints(driver)
            say(f"{target} sp: wiping")
            graph_writer.wipe(driver)
            sums = graph_writer.write_graph(driver, estate.graph, progress=lambda m: say(f"{target} {m}"))
        timings["sp"] = round(time.perf_counter() - start, 3)
        return sums

    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="seed") as pool:
        pg_future, graph_future = pool.submit(load_pg), pool.submit(load_graph)
        pg_sums, graph_sums = pg_future.result(), graph_future.result()

    summary: dict = {store: {name: t.num_rows for name, t in tables.items()} for store, tables in estate.pg.items()}
    summary["sp"] = {
        "nodes": estate.graph.node_count() if graph_sums else 0,
        "relationships": estate.graph.rel_count() if graph_sums else 0,
        "labels": {label: t.num_rows for label, t in estate.graph.nodes.items()},
        "types": {rel.type: rel.table.num_rows for rel in estate.graph.rels},
        "skipped": not graph_sums,
    }
    summary["checksums"] = {**pg_sums, "sp": graph_sums}
    summary["meta"] = {"target": target, "scale": estate.scale, "seed": estate.seed,
                       "as_of": spec.AS_OF.isoformat(), "districts": [int(d) for d in estate.world.d_id],
                       "rows": estate.total_rows(), "seconds": timings}
    return summary


def seed_prod(env: Mapping[str, str], scale: str = "tiny", seed: int = 42, progress: Progress = None) -> dict:
    """Truncate PROD's tables and graph and write the estate of (scale, seed).

    Returns {store: {table: rows}} for ids/hcp1/hcp2/adb, "sp": {"nodes", "relationships",
    "labels", "types", "skipped"}, "checksums": {store: {table: sha256 of the rows written}},
    "sp": {"node:<Label>"|"rel:<TYPE>": sha256}} and "meta" (scale, seed, as_of, timings).
    """
    say = progress or (lambda message: None)
    start = time.perf_counter()
    say(f"generating scale={scale} seed={seed}")
    estate = generate(scale, seed)
    timings = {"generate": round(time.perf_counter() - start, 3)}
    summary = write_estate(env, "prod", estate, progress, timings)
    summary["meta"]["seconds"]["total"] = round(time.perf_counter() - start, 3)
    return summary


def table_checksums(pg_url: str) -> dict[str, str]:
    """md5 per table of its rows ordered by primary key (see pg_writer.table_checksums)."""
    return pg_writer.table_checksums(pg_url)


def seed_cert(env: Mapping[str, str], seed: int = 7, progress: Progress = None) -> dict:
    """CERT's own test data (districts 9001/9002 and deliberate key collisions with PROD
    district 42); see cert_seed. Re-exported here so every entry point lives in one module."""
    from .cert_seed import seed_cert as _seed_cert

    return _seed_cert(env, seed=seed, progress=progress)
