"""Checks before a migration touches anything: config valid (already loaded), the rules and
validation rules files valid, salt set, every store reachable, CERT's schema able to take
PROD's tables."""
from __future__ import annotations

from collections.abc import Mapping

import psycopg

from ..analyze import estate
from ..analyze.estate import introspect_estate
from ..analyze.graph_keys import LABELS
from ..analyze.graph_names import check_graph_names
from ..analyze.model import Table
from ..analyze.neo4j_introspect import graph_property_types
from ..analyze.pg_introspect import introspect_postgres
from ..anonymize.engine import read_salt
from ..anonymize.rules import load_rules
from ..config import Config, check_neo4j_urls
from ..config.env import graph_login, postgres_setting
from ..errors import ConfigError, ConnectionFailed, NotFound
from ..extract.pg_snapshot import snapshot
from ..quoting import sql_ident
from ..scaffold import naming
from ..scaffold.inputs import check_models_current
from ..scaffold.validation import load_validation_rules
from ..services import manager, neo4j_server
from ..transform.drift import find_drift, model_columns, refuse_drift


def check_salt(root) -> None:
    """The rules load (file, locales, regexes), their overrides name what the models have, and
    the salt is usable: else the transform would stop on them after the extract was written."""
    rules = load_rules(root / "config" / "anonymization-rules.yaml")
    rules.check_overrides(model_columns(root), "the dbt models (dbt_project/staging)")
    read_salt(rules.settings.salt_env)


def check_validation_rules(root) -> None:
    """config/validation-rules.yaml loads as the transform loads it (which reads it only after
    the extract was written)."""
    load_validation_rules(root / "config" / "validation-rules.yaml")
    check_models_current(root)  # both files valid: the models must have been made from them


def check_reachable(cfg: Config, env: Mapping[str, str], targets: tuple[str, ...] = ("prod", "cert")) -> list[dict]:
    """Every store of `targets` answers; its Neo4j URLs have a Bolt scheme (the driver would take
    http:// and fail with a traceback)."""
    check_neo4j_urls(cfg, env, targets)
    if "cert" in targets:
        manager.check_cert_apart(cfg, env)
    rows = [r for r in manager.status(cfg, dict(env)) if r.target in targets]
    down = [r for r in rows if not r.reachable]
    if down:
        r = down[0]
        if r.detail.startswith(neo4j_server.REFUSED):  # it answered: no server is down
            raise ConnectionFailed(f"store {r.store} ({r.target.upper()}) at {r.address}: {r.detail}")
        raise ConnectionFailed(f"store {r.store} ({r.target.upper()}) unreachable at {r.address}"
                               + (f": {r.detail}" if r.detail else ""))
    return [{"store": r.store, "target": r.target, "address": r.address} for r in rows]


def check_config_names(cfg: Config, env: Mapping[str, str]) -> dict[str, Table]:
    """The tables, foreign keys and graph names the config names exist in PROD (the extract checks
    it too, but by then migrate has made its run folder); returns PROD's kept tables by id."""
    tables, fks, warnings = introspect_estate(cfg, env)
    estate.check_config_names(cfg, tables, fks, warnings)
    estate.check_table_names(tables)
    check_graph_names(cfg, env)
    return tables


def check_models_match_prod(root, cfg: Config, prod: Mapping[str, Table]) -> None:
    """PROD's tables and columns (`prod`, by id) are those the models were generated from: the
    transform's drift gate finds it too, but only once the extract has written PROD's rows into
    a run folder. The graph's side is check_graph_models_match_prod."""
    extracted = {f"{t.store}.{t.name}": [c.name for c in t.columns] for t in prod.values()}
    stores = {store.name for store in cfg.postgres_stores()}
    models = {table: columns for table, columns in model_columns(root).items() if table.split(".")[0] in stores}
    refuse_drift(*find_drift(extracted, models, stores), "PROD")


def check_graph_models_match_prod(root, cfg: Config, env: Mapping[str, str],
                                  types: tuple[dict, dict] | None = None) -> tuple[dict, dict] | None:
    """PROD's graph holds the properties the models were generated from, as the scaffold reads
    them (the whole graph's, per label of graph.node_keys and followed relationship type): a
    property new in PROD passed through the extract and stopped the transform's drift gate.
    `types`: graph_property_types' answer when the caller read it already (the extract's slice
    needs it too, and the schema procedures behind it may scan the whole graph); None: read here.
    Returns the types checked against, for the extract that follows (None: no graph)."""
    if cfg.graph is None:
        return None
    store = cfg.stores[cfg.graph.store]
    if types is None:
        types = graph_property_types(store, *graph_login(env, store), cfg.graph.node_keys)
    nodes, rels = types
    ends = ["start_label", "start_key", "end_label", "end_key"]  # what the extract writes per relationship
    # and per node the column of its other labels
    prod = {f"{store.name}.{naming.graph_table('nodes', label)}": sorted([*nodes.get(label, ()), LABELS])
            for label in cfg.graph.node_keys}
    prod.update({f"{store.name}.{naming.graph_table('relationships', rule.type)}":
                 ends + sorted(rels.get(rule.type, ())) for rule in cfg.graph.follow})
    models = {table: columns for table, columns in model_columns(root).items() if table.split(".")[0] == store.name}
    refuse_drift(*find_drift(prod, models, {store.name}), "PROD")
    return types


def check_district(cfg: Config, env: Mapping[str, str], district: int) -> None:
    """The district is a row of the root table in PROD (one read-only query): an unknown one
    stopped the extract after the run folder was made, and `datamig runs` listed a failed run."""
    root, store = cfg.district, cfg.stores[cfg.district.store]
    table = f"{sql_ident(store.schema)}.{sql_ident(root.table)}"
    with snapshot(store.name, postgres_setting(env, store.prod_env, store.name)) as snap:
        try:
            found = snap.conn.execute(f"SELECT 1 FROM {table} WHERE {sql_ident(root.key)}::text = %s LIMIT 1",
                                      [str(district)]).fetchone()
        except (psycopg.errors.UndefinedTable, psycopg.errors.UndefinedColumn) as exc:
            raise ConfigError(f"{cfg.path}: district: {root.table_id}.{root.key}: "
                              f"{str(exc).splitlines()[0]}") from None
    if found is None:
        raise NotFound(f"district {district} not found in {root.table_id} ({root.key} = {district})")


def check_cert_schema(cfg: Config, env: Mapping[str, str], prod: Mapping[str, Table]) -> int:
    """Every kept PROD table (`prod`, by id) and column the slice may carry exists in CERT (types
    are checked by the loader against the final Parquet)."""
    checked = 0
    for store in cfg.postgres_stores():
        cert = {t.name: t for t in introspect_postgres(store, env[store.cert_env])[0]}
        for table in (t for t in prod.values() if t.store == store.name):
            if table.name not in cert:
                raise ConfigError(f"CERT schema drift: table {store.name}.{table.name} is missing in CERT")
            names = {c.name for c in cert[table.name].columns}
            missing = [c.name for c in table.columns if c.name not in names]
            if missing:
                raise ConfigError(f"CERT schema drift: {store.name}.{table.name}.{missing[0]} is missing in CERT")
            if not (cert[table.name].primary_key or cert[table.name].unique_keys):
                # the load would refuse it, but only after the extract and the transform
                raise ConfigError(f"CERT table {store.name}.{table.name} has no primary or unique key: the load "
                                  f"could not match, update or undo its rows (give it one in CERT, or list it "
                                  f"in exclude_tables)")
            checked += 1
    return checked
