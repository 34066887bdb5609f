"""Per-district metrics measured on each district's own slice (the downward closure of the
extractor, so a district's size counts attendance and health records reached only through
FK chains and links), read in one snapshot per store."""
from __future__ import annotations

import tempfile
from collections.abc import Callable, Mapping
from contextlib import ExitStack
from pathlib import Path

import psycopg
from psycopg import sql

from ..analyze.model import Table
from ..config import Config
from ..extract.closure import Closure
from ..extract.pg_snapshot import snapshot
from ..config.env import postgres_setting
from ..analyze.estate import check_district_root, introspect_estate
from ..extract.workspace import Workspace, q, rel
from ..pg_address import cannot_connect
from .scoring import DistrictMetrics


def list_districts(cfg: Config, env: Mapping[str, str]) -> list[tuple[int, str, float]]:
    """(id, name, business priority) of every district in the root table."""
    root = cfg.district
    sel = cfg.selection
    name_col, prio_col = sel.get("name_column", "name"), sel.get("business_priority_column")
    url = postgres_setting(env, cfg.stores[root.store].prod_env, root.store)
    schema = cfg.stores[root.store].schema
    try:
        conn = psycopg.connect(url, connect_timeout=10)
    except psycopg.Error as exc:  # the server went away after introspection read it
        raise cannot_connect(root.store, url, exc) from None
    with conn:
        cols = {r[0] for r in conn.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = %s AND table_name = %s",
            (schema, root.table))}
        prio = sql.Identifier(prio_col) if prio_col in cols else sql.SQL("50")
        name = sql.Identifier(name_col) if name_col in cols else sql.SQL("''")
        query = sql.SQL("SELECT {}, {}, {} FROM {}.{} ORDER BY 1").format(
            sql.Identifier(root.key), name, prio, sql.Identifier(schema), sql.Identifier(root.table))
        return [(int(r[0]), str(r[1]), float(r[2])) for r in conn.execute(query)]


def _as_of(cfg: Config, snaps, tables: dict[str, Table], columns: list[str]) -> str:
    """The end of the 30-day activity window: now, a date, or the newest update in PROD."""
    as_of = cfg.selection.get("as_of", "now")
    if as_of != "latest":
        return "now()" if as_of == "now" else f"TIMESTAMPTZ '{as_of}'"
    newest = None
    for table in tables.values():
        for col in (c for c in table.columns if c.name in columns):
            query = sql.SQL("SELECT max({})::text FROM {}.{}").format(
                sql.Identifier(col.name), sql.Identifier(table.schema), sql.Identifier(table.name))
            value = snaps[table.store].conn.execute(query).fetchone()[0]
            newest = max(newest or value, value) if value else newest
    return f"TIMESTAMPTZ '{newest}'" if newest else "now()"


def _updates_30d(ws: Workspace, table: Table, columns: list[str], as_of: str) -> int:
    present = [c for c in columns if c in {col.name for col in table.columns}]
    if not present:
        return 0
    recent = " OR ".join(f"TRY_CAST({q(c)} AS TIMESTAMPTZ) > {as_of} - INTERVAL 30 DAY" for c in present)
    return ws.db.execute(f"SELECT count(*) FROM {rel(table)} WHERE _datamig_down AND ({recent})").fetchone()[0]


def _completeness(ws: Workspace, tables: dict[str, Table], required: dict[str, list[str]]) -> float:
    filled = total = 0
    for table_id, cols in required.items():
        table = tables.get(table_id)
        if table is None:
            continue
        checks = " + ".join(f"(CASE WHEN {q(c)} IS NOT NULL AND CAST({q(c)} AS VARCHAR) <> '' THEN 1 ELSE 0 END)" for c in cols)
        rows, ok = ws.db.execute(f"SELECT count(*), coalesce(sum({checks}), 0) FROM {rel(table)} "
                                 "WHERE _datamig_down").fetchone()
        filled, total = filled + ok, total + rows * len(cols)
    return round(100.0 * filled / total, 2) if total else 100.0


def check_selection_names(cfg: Config, tables: dict[str, Table]) -> None:
    """The tables and columns `selection:` names are PROD's: a misspelt one was skipped in silence
    (its count 0, its column not scored), or, in required_fields, DuckDB's Binder Error traceback."""
    check_district_root(cfg, tables)
    sel = cfg.selection

    def columns(table_id: str) -> set[str]:
        return {c.name for c in tables[table_id].columns}

    for what, table_id in (sel.get("counts") or {}).items():
        if table_id not in tables:
            raise cfg.error_at(["selection", "counts", what], f"no table {table_id!r} in PROD")
    for table_id, cols in (sel.get("required_fields") or {}).items():
        if table_id not in tables:
            raise cfg.error_at(["selection", "required_fields", table_id], f"no table {table_id!r} in PROD")
        for i, col in enumerate(cols):
            if col not in columns(table_id):
                raise cfg.error_at(["selection", "required_fields", table_id, i], f"{table_id} has no column {col!r}")
    root = cfg.district.table_id
    for key in ("name_column", "business_priority_column"):
        if key in sel and root in tables and sel[key] not in columns(root):
            raise cfg.error_at(["selection", key], f"{root} has no column {sel[key]!r}")
    everywhere = set().union(*(columns(t) for t in tables))
    for i, col in enumerate(sel.get("updated_at_columns") or []):
        if col not in everywhere:
            raise cfg.error_at(["selection", "updated_at_columns", i], f"no table of PROD has a column {col!r}")


def measure(cfg: Config, env: Mapping[str, str], progress: Callable[[str], None] | None = None) -> list[DistrictMetrics]:
    tables, fks, _ = introspect_estate(cfg, env)
    check_selection_names(cfg, tables)
    sel = cfg.selection
    counts = sel.get("counts", {})
    updated_cols = sel.get("updated_at_columns", ["updated_at"])
    out = []
    with ExitStack() as stack, tempfile.TemporaryDirectory(prefix="datamig-select-") as tmp:
        snaps = {s.name: stack.enter_context(snapshot(s.name, postgres_setting(env, s.prod_env, s.name)))
                 for s in cfg.postgres_stores()}
        for name, snap in snaps.items():  # as extract does: one line, not a traceback half way
            snap.check_readable([t for t in tables.values() if t.store == name])
        as_of = _as_of(cfg, snaps, tables, updated_cols)
        for district, name, priority in list_districts(cfg, env):
            if progress:
                progress(f"measuring district {district}")
            ws = Workspace(Path(tmp) / f"d{district}" / "slice.duckdb")
            try:
                for table in tables.values():
                    ws.create(table)
                closure = Closure(tables, fks, ws, snaps, cfg.down_include, cfg.down_exclude)
                closure.seed_root(tables[cfg.district.table_id], cfg.district.key, str(district))
                closure.run_down()
                per_table = {tid: ws.count(t, down_only=True) for tid, t in tables.items()}
                by_store: dict[str, int] = {}
                for tid, n in per_table.items():
                    by_store[tables[tid].store] = by_store.get(tables[tid].store, 0) + n
                out.append(DistrictMetrics(
                    district=district, name=name,
                    students=per_table.get(counts.get("students", ""), 0),
                    schools=per_table.get(counts.get("schools", ""), 0),
                    staff=per_table.get(counts.get("staff", ""), 0),
                    total_records=sum(per_table.values()),
                    updates_30d=sum(_updates_30d(ws, t, updated_cols, as_of) for t in tables.values()),
                    completeness=_completeness(ws, tables, sel.get("required_fields", {})),
                    business_priority=priority, records_by_store=by_store))
            finally:
                ws.close()
    return out
