"""`datamig extract` against the tiny estate, checked against an independent oracle.

The oracle (tests/extract_oracle.py) is hand-written recursive SQL over PROD that knows this
estate's foreign keys; it never calls the extractor. Every table of several districts must
hold exactly the oracle's primary keys, nothing in the slice may dangle, the manifest must
describe the files, values must survive byte for byte, and the extraction must be a
consistent, read-only snapshot that creates nothing in PROD.
"""
from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
import socket
import subprocess
import threading
import time
from pathlib import Path

import duckdb
import neo4j
import psycopg
import pytest
import yaml
from psycopg.conninfo import conninfo_to_dict, make_conninfo

import extract_oracle as oracle
from datamig.errors import MigrationFailed

ROOT = Path(__file__).resolve().parents[1]
DATAMIG = ROOT / ".venv" / "bin" / "datamig"
STORES = oracle.STORES
# 42: the big one (every hard case); 55: a small one whose partner wraps around to 3;
# 19: points at 42 (students who came from 42, staff who also work there).
DISTRICTS = (42, 55, 19)


# ----------------------------------------------------------------------------- fixtures

@pytest.fixture(scope="module")
def env(tiny_estate):
    return tiny_estate["env"]


@pytest.fixture(scope="module")
def xcfg(cfg, tmp_path_factory):
    """The shipped config, writing runs under a private folder."""
    return dataclasses.replace(cfg, out_dir=tmp_path_factory.mktemp("runs"))


@pytest.fixture(scope="module")
def prod_urls(env, xcfg):
    return {s.name: env[s.prod_env] for s in xcfg.postgres_stores()}


def admin_url(env, dbname: str) -> str:
    params = conninfo_to_dict(env["DATAMIG_PG_ADMIN_URL"])
    params["dbname"] = dbname
    return make_conninfo(**params)


def oracle_for(xcfg, urls, district) -> oracle.Oracle:
    whole = {t for t, policy in xcfg.reference_tables.items() if policy == "whole"}
    return oracle.compute(urls, district, [lk.text for lk in xcfg.links], whole, xcfg.exclude_tables,
                          xcfg.down_exclude)


@pytest.fixture(scope="module")
def oracles(xcfg, prod_urls):
    cache = {}

    def get(district):
        if district not in cache:
            cache[district] = oracle_for(xcfg, prod_urls, district)
        return cache[district]
    return get


@pytest.fixture(scope="module")
def slices(xcfg, env):
    """district -> (manifest, extract folder); each district extracted once per module."""
    from datamig.extract.run import extract

    cache = {}

    def get(district):
        if district not in cache:
            run_id = f"mig-20260101-000000-d{district}"
            manifest = extract(xcfg, env, district, run_id=run_id)
            cache[district] = (manifest, xcfg.out_dir / run_id / "extract")
        return cache[district]
    return get


def parquet(path: Path) -> str:
    return "read_parquet('" + str(path).replace("'", "''") + "')"


def table_path(base: Path, table_id: str) -> Path:
    store, table = table_id.split(".")
    return base / store / f"{table}.parquet"


def parquet_keys(base: Path, table_id: str) -> list[tuple]:
    store, table = table_id.split(".")
    cols = ", ".join(f'"{c}"' for c in oracle.PK[store][table])
    rows = duckdb.sql(f"SELECT {cols} FROM {parquet(table_path(base, table_id))}").fetchall()
    return [tuple(oracle.norm(v) for v in r) for r in rows]


# ----------------------------------------------------------------------------- the oracle is about this estate

def test_oracle_knows_every_fk_table_and_link(xcfg, prod_urls):
    """The oracle SQL encodes the catalog by hand: it must be the catalog of today."""
    for store, url in prod_urls.items():
        assert oracle.catalog_fks(url) == oracle.EXPECTED_FKS[store], f"{store}: FKs changed, update the oracle"
        assert oracle.catalog_pks(url) == oracle.PK[store], f"{store}: tables or PKs changed, update the oracle"
    oracle.parse_links([lk.text for lk in xcfg.links])          # every link is one the SQL can express
    assert xcfg.exclude_tables <= oracle.EXCLUDABLE
    assert not xcfg.down_include, "oracle: down_include not encoded"
    assert xcfg.down_exclude <= oracle.DOWN_LABELS | {lk.text.split("->")[0].strip() for lk in xcfg.links}
    assert xcfg.links, "config declares no links: the cross-database slice would be empty"


# ----------------------------------------------------------------------------- slice == oracle

@pytest.mark.parametrize("district", DISTRICTS)
def test_slice_equals_oracle_table_by_table(district, slices, oracles):
    manifest, base = slices(district)
    expected = oracles(district)
    assert set(manifest["tables"]) == set(expected.tables)
    problems = []
    for table_id, keys in sorted(expected.tables.items()):
        got = parquet_keys(base, table_id)
        entry = manifest["tables"][table_id]
        if len(got) != len(set(got)):
            problems.append(f"{table_id}: duplicate keys")
        got = set(got)
        if got != keys.all:
            problems.append(f"{table_id}: missing {sorted(keys.all - got)[:3]} extra {sorted(got - keys.all)[:3]}")
        if (entry["rows"], entry["rows_in_district"], entry["rows_pulled_as_parents"]) != (
                len(keys.all), len(keys.down), keys.up_only):
            problems.append(f"{table_id}: manifest rows/in district/parents "
                            f"{entry['rows']}/{entry['rows_in_district']}/{entry['rows_pulled_as_parents']} != "
                            f"{len(keys.all)}/{len(keys.down)}/{keys.up_only}")
    assert not problems, "\n".join(problems)
    assert manifest["totals"]["rows"] == sum(len(k.all) for k in expected.tables.values())


def test_slices_are_not_trivial(oracles):
    """The districts chosen exercise what the semantics are about."""
    big, small = oracles(42), oracles(55)
    assert sum(len(k.all) for k in small.tables.values()) < sum(len(k.all) for k in big.tables.values())
    for o in (big, small):
        # parents from elsewhere: other districts' rows reached upwards, and reference rows
        assert o.tables["ids.districts"].up_only >= 1
        assert o.tables["ids.schools"].up_only >= 1
        assert o.tables["ids.staff"].up_only >= 1
        assert o.tables["ids.guardians"].down == set() and o.tables["ids.guardians"].all
        assert o.tables["ids.states"].up_only >= 1
        # composite keys and the cross-database links all carry rows
        for table_id in ("ids.sections", "ids.section_teachers", "ids.attendance", "hcp1.patients",
                         "hcp2.members", "hcp2.visit_diagnoses", "adb.dim_school"):
            assert o.tables[table_id].down, table_id
    # links fed rows back into IDS (clinics of other districts, members' students...)
    assert big.seeds


@pytest.mark.parametrize("district", DISTRICTS)
def test_no_fk_or_link_dangles(district, slices, prod_urls, xcfg):
    """Every non-null FK (composite included) and link value of a child file exists among the
    parent file's referenced columns."""
    manifest, base = slices(district)
    edges = [(store, child, cols, store, parent, refs)
             for store, url in prod_urls.items()
             for child, cols, parent, refs, _ in oracle.catalog_fks(url)]
    edges += [(lk.store, lk.table, lk.columns, lk.ref_store, lk.ref_table, lk.ref_columns) for lk in xcfg.links]
    assert any(len(cols) > 1 for _, _, cols, _, _, _ in edges)
    con = duckdb.connect()
    dangling = []
    for store, child, cols, rstore, parent, refs in edges:
        if f"{store}.{child}" not in manifest["tables"] or f"{rstore}.{parent}" not in manifest["tables"]:
            continue
        match = " AND ".join(f'p."{r}" = c."{c}"' for c, r in zip(cols, refs))
        notnull = " AND ".join(f'c."{c}" IS NOT NULL' for c in cols)
        n = con.sql(f"SELECT count(*) FROM {parquet(base / store / (child + '.parquet'))} c WHERE {notnull} "
                    f"AND NOT EXISTS (SELECT 1 FROM {parquet(base / rstore / (parent + '.parquet'))} p "
                    f"WHERE {match})").fetchone()[0]
        if n:
            dangling.append(f"{store}.{child}({','.join(cols)}) -> {rstore}.{parent}: {n} rows")
    assert not dangling, "\n".join(dangling)


# ----------------------------------------------------------------------------- manifest

@pytest.mark.parametrize("district", DISTRICTS)
def test_manifest_describes_the_files(district, slices):
    manifest, base = slices(district)
    entries = list(manifest["tables"].values())
    for kind in ("nodes", "relationships"):
        entries += list((manifest.get("graph") or {}).get(kind, {}).values())
    listed = set()
    for entry in entries:
        path = base / entry["path"]
        data = path.read_bytes()
        assert entry["bytes"] == len(data), entry["path"]
        assert entry["sha256"] == hashlib.sha256(data).hexdigest(), entry["path"]
        listed.add(entry["path"])
    on_disk = {str(p.relative_to(base)) for p in base.rglob("*") if p.is_file()}
    assert on_disk == listed | {"extraction-manifest.json"}     # no scratch left, nothing unlisted
    assert json.loads((base / "extraction-manifest.json").read_text())["tables"] == json.loads(
        json.dumps(manifest["tables"]))
    assert manifest["district"] == district


_ALIASES = {"TIMESTAMPTZ": "TIMESTAMP WITH TIME ZONE", "FLOAT4": "FLOAT", "REAL": "FLOAT",
            "FLOAT8": "DOUBLE", "INT8": "BIGINT", "INT4": "INTEGER", "INT2": "SMALLINT", "TEXT": "VARCHAR"}


def _canon(duck_type: str) -> str:
    t = duck_type.upper().strip()
    if t.endswith("[]"):
        return _canon(t[:-2]) + "[]"
    return _ALIASES.get(t, t)


def test_parquet_column_types_match_manifest(slices, prod_urls):
    manifest, base = slices(42)
    for table_id, entry in manifest["tables"].items():
        described = duckdb.sql(f"DESCRIBE SELECT * FROM {parquet(table_path(base, table_id))}").fetchall()
        got = [(name, _canon(t)) for name, t, *_ in described]
        assert got == [(c["name"], _canon(c["type"])) for c in entry["columns"]], table_id
    # ... and the manifest's PostgreSQL types are PROD's, column for column
    for store, url in prod_urls.items():
        with psycopg.connect(url) as conn:
            rows = conn.execute("SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod) "
                                "FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid "
                                "JOIN pg_namespace n ON n.oid = c.relnamespace "
                                "WHERE n.nspname = 'public' AND c.relkind = 'r' AND a.attnum > 0 "
                                "AND NOT a.attisdropped ORDER BY c.relname, a.attnum").fetchall()
        for table, col, pg_type in rows:
            entry = manifest["tables"].get(f"{store}.{table}")
            if entry:
                assert {c["name"]: c["pg_type"] for c in entry["columns"]}[col] == pg_type


# ----------------------------------------------------------------------------- values survive byte for byte

def _pg_rows(url: str, table: str, pk: list[str]) -> tuple[list[str], dict]:
    """Every row of a PROD table keyed by PK; jsonb as its canonical text, arrays as lists."""
    with psycopg.connect(url) as conn:
        types = dict(conn.execute("SELECT a.attname, format_type(a.atttypid, a.atttypmod) FROM pg_attribute a "
                                  "WHERE a.attrelid = %s::regclass AND a.attnum > 0 AND NOT a.attisdropped",
                                  (table,)).fetchall())
        cur = conn.execute(f'SELECT * FROM "{table}"')
        names = [d.name for d in cur.description]
        cols = ", ".join(f'"{n}"::text' if types[n] in ("jsonb", "json") else f'"{n}"' for n in names)
        cur = conn.execute(f'SELECT {cols} FROM "{table}"')
        rows = {}
        for r in cur.fetchall():
            rec = dict(zip(names, r))
            rows[tuple(oracle.norm(rec[k]) for k in pk)] = rec
    return names, rows


def _same(a, b) -> bool:
    if isinstance(a, float) or isinstance(b, float):
        return a == b or (a is not None and b is not None and float(a) == float(b))
    if isinstance(a, str) or isinstance(b, str):
        return type(a) is type(b) and a.encode("utf-8") == b.encode("utf-8")
    return a == b


def test_every_value_of_district_42_survives_exactly(slices, prod_urls):
    """All rows of all tables, compared with PROD column by column: text byte for byte (NULL is
    not ''), jsonb as PROD prints it, arrays element by element, numerics exact."""
    manifest, base = slices(42)
    bad = []
    for table_id in sorted(manifest["tables"]):
        store, table = table_id.split(".")
        pk = oracle.PK[store][table]
        names, prod = _pg_rows(prod_urls[store], table, pk)
        rel = duckdb.sql(f"SELECT * FROM {parquet(table_path(base, table_id))}")
        assert rel.columns == names, table_id
        for row in rel.fetchall():
            rec = dict(zip(names, (oracle.norm(v) for v in row)))
            want = prod[tuple(rec[k] for k in pk)]
            for col in names:
                if not _same(rec[col], oracle.norm(want[col])):
                    bad.append(f"{table_id}.{col} {tuple(rec[k] for k in pk)}: {rec[col]!r} != {want[col]!r}")
    assert not bad, "\n".join(bad[:20])


def test_hard_values_are_present_in_the_slice(slices, prod_urls):
    """The rows the comparison above must have seen: names with apostrophes and non-ASCII, ''
    next to NULL, empty and non-empty text[], jsonb with non-ASCII text."""
    _, base = slices(42)
    students = duckdb.sql(f"SELECT first_name, last_name, middle_name, preferred_name, notes, alternate_emails, "
                          f"emergency_contacts FROM {parquet(base / 'ids/students.parquet')}").fetchall()
    names = {(f, l) for f, l, *_ in students}
    assert {("José", "O'Brien"), ("Zoë", "Müller"), ("芳", "王"), ("Łukasz", "Nguyễn")} <= names
    assert any(m == "" for _, _, m, *_ in students) and any(m is None for _, _, m, *_ in students)
    assert any(p == "" for *_, p, _, _, _ in students) and any(p is None for *_, p, _, _, _ in students)
    assert any(n and "O'Brien" in n for *_, n, _, _ in students)
    assert any(n and len(n) > 5000 for *_, n, _, _ in students)
    arrays = [a for *_, a, _ in students]
    assert [] in arrays and None in arrays and any(a for a in arrays)
    with psycopg.connect(prod_urls["ids"]) as conn:
        jose = conn.execute("SELECT emergency_contacts::text, alternate_emails, notes FROM students "
                            "WHERE first_name = 'José' AND last_name = 'O''Brien'").fetchone()
    got = duckdb.sql(f"SELECT emergency_contacts, alternate_emails, notes FROM {parquet(base / 'ids/students.parquet')} "
                     f"WHERE first_name = 'José' AND last_name = 'O''Brien'").fetchone()
    assert got[0].encode() == jose[0].encode() and got[1] == jose[1] and got[2].encode() == jose[2].encode()
    members = duckdb.sql(f"SELECT alternate_emails, guardian_contacts FROM {parquet(base / 'hcp2/members.parquet')}"
                         ).fetchall()
    assert any(a == [] for a, _ in members) and any(g and "O'Brien" in g for _, g in members)


# ----------------------------------------------------------------------------- Neo4j

def _graph_env(env, xcfg):
    store = xcfg.stores[xcfg.graph.store]
    url_var, user_var, pw_var = store.env_names("prod")
    return env[url_var], env.get(user_var, "neo4j"), env[pw_var]


def _node_identity(url, user, password, ids, node_keys) -> dict[str, tuple]:
    with neo4j.GraphDatabase.driver(url, auth=(user, password)) as driver:
        records, _, _ = driver.execute_query("MATCH (n) WHERE elementId(n) IN $ids RETURN elementId(n) AS id, "
                                             "labels(n) AS labels, properties(n) AS props", ids=sorted(ids),
                                             routing_=neo4j.RoutingControl.READ)
    out = {}
    for r in records:
        label = next(lb for lb in sorted(r["labels"]) if lb in node_keys)
        out[r["id"]] = (label, r["props"][node_keys[label]], r["props"])
    return out


def _native(value):
    if hasattr(value, "to_native"):
        return value.to_native()
    if isinstance(value, list):
        return [_native(v) for v in value]
    return value


def test_graph_slice_is_the_reachable_subgraph(slices, env, xcfg):
    g = xcfg.graph
    if g is None or not g.follow:
        pytest.skip("config has no graph follow rules")
    manifest, base = slices(42)
    url, user, password = _graph_env(env, xcfg)
    follow = [{"type": r.type, "direction": r.direction, "from": r.from_label, "to": r.to_label} for r in g.follow]
    args = (url, user, password, g.root_label, g.root_key, 42, follow, g.max_depth)
    reach = oracle.graph_oracle(*args)
    assert reach == oracle.graph_bfs(*args)                     # two oracles agree
    ident = _node_identity(url, user, password, reach, g.node_keys)
    expected_nodes = {(label, key) for label, key, _ in ident.values()}

    got_nodes, props = set(), {}
    for label, entry in manifest["graph"]["nodes"].items():
        assert entry["key"] == g.node_keys[label]
        rel = duckdb.sql(f"SELECT * FROM {parquet(base / entry['path'])}")
        for row in rel.fetchall():
            rec = dict(zip(rel.columns, row))
            node = (label, rec[entry["key"]])
            assert node not in got_nodes, f"duplicate node {node}"
            got_nodes.add(node)
            props[node] = {k: v for k, v in rec.items() if v is not None}
    assert got_nodes == expected_nodes
    for label, key, p in ident.values():
        assert props[(label, key)] == {k: _native(v) for k, v in p.items() if v is not None}, (label, key)
    assert 1 <= manifest["graph"]["depth_reached"] <= g.max_depth

    # relationships: exactly the followed-type ones between two selected nodes, keyed by business keys
    with neo4j.GraphDatabase.driver(url, auth=(user, password)) as driver:
        records, _, _ = driver.execute_query(
            "MATCH (a)-[r]->(b) WHERE elementId(a) IN $ids AND elementId(b) IN $ids AND type(r) IN $types "
            "RETURN elementId(a) AS a, type(r) AS t, elementId(b) AS b, properties(r) AS p",
            ids=sorted(reach), types=sorted({r["type"] for r in follow}), routing_=neo4j.RoutingControl.READ)
    expected_rels = {}
    for r in records:
        a, b = ident[r["a"]], ident[r["b"]]
        expected_rels.setdefault((r["t"], a[0], a[1], b[0], b[1]), []).append(
            {k: _native(v) for k, v in r["p"].items() if v is not None})
    got_rels = {}
    with_props = without_props = 0
    for rel_type, entry in manifest["graph"]["relationships"].items():
        rel = duckdb.sql(f"SELECT * FROM {parquet(base / entry['path'])}")
        cols = rel.columns
        ends_cols = ["start_label", "start_key", "end_label", "end_key"]
        assert set(ends_cols) <= set(cols), rel_type
        if len(cols) > 4:
            with_props += 1
        else:
            without_props += 1
        for row in rel.fetchall():
            rec = dict(zip(cols, row))
            ends = ((rec["start_label"], rec["start_key"]), (rec["end_label"], rec["end_key"]))
            assert ends[0] in got_nodes and ends[1] in got_nodes, f"{rel_type} end missing from the node files"
            got_rels.setdefault((rel_type, *ends[0], *ends[1]), []).append(
                {k: v for k, v in rec.items() if k not in ends_cols and v is not None})
    assert {k: sorted(map(repr, v)) for k, v in got_rels.items()} == \
           {k: sorted(map(repr, v)) for k, v in expected_rels.items()}
    assert with_props and without_props, "want relationship types both with and without properties"


def test_graph_follow_rules_honour_from_and_to_labels(env, xcfg):
    """A rule's optional `from` / `to` labels (accepted by the config schema) restrict the walk."""
    from datamig.config.model import FollowRule
    from datamig.extract.graph_slice import extract_subgraph

    if xcfg.graph is None:
        pytest.skip("config has no graph")
    rules = (FollowRule("BELONGS_TO", "in", "District", "School"),
             FollowRule("ENROLLED_IN", "in", "Course", None),          # never leaves a Course: walks nothing
             FollowRule("WORKS_FOR", "in", None, "Staff"),
             FollowRule("SUPERVISES", "out", "Staff", None))
    keys = {"District": "district_id", "School": "school_id", "Student": "student_id", "Staff": "staff_id"}
    gcfg = dataclasses.replace(xcfg.graph, follow=rules, max_depth=3, node_keys={**xcfg.graph.node_keys, **keys})
    url, user, password = _graph_env(env, xcfg)
    sub = extract_subgraph(url, user, password, gcfg, 42)
    follow = [{"type": r.type, "direction": r.direction, "from": r.from_label, "to": r.to_label} for r in rules]
    reach = oracle.graph_oracle(url, user, password, gcfg.root_label, gcfg.root_key, 42, follow, 3)
    expected = {(label, key) for label, key, _ in _node_identity(url, user, password, reach, gcfg.node_keys).values()}
    got = {(label, row[gcfg.node_keys[label]]) for label, rows in sub.nodes.items() for row in rows}
    assert got == expected
    assert "Student" not in sub.nodes and {"District", "School", "Staff"} <= set(sub.nodes)


def test_graph_files_do_not_depend_on_key_guesses_or_memory_budget(env, xcfg, tmp_path, monkeypatch):
    """The extractor guesses each label's and type's property keys from a sample and reads a
    chunk again when it meets others; its writer keeps chunks in memory under a budget and
    spills past it. Guessing nothing (every first chunk read twice) and a budget of 0 (every
    chunk spilled to a Parquet part) must give the same files, byte for byte."""
    from datamig.extract import graph_parquet, graph_slice

    if xcfg.graph is None:
        pytest.skip("config has no graph")
    url, user, password = _graph_env(env, xcfg)

    def files(folder, budget):
        writer = graph_parquet.GraphWriter(folder / "work", budget=budget)
        try:
            graph_slice.extract_subgraph(url, user, password, xcfg.graph, 42, sink=writer.add)
            out = {}
            for kind in ("nodes", "relationships"):
                for name in writer.names(kind):
                    keys = [xcfg.graph.node_keys[name]] if kind == "nodes" else \
                        ["start_label", "start_key", "end_label", "end_key"]
                    path = folder / kind / f"{name}.parquet"
                    writer.finish(kind, name, keys, path)
                    out[(kind, name)] = path.read_bytes()
            return out
        finally:
            writer.close()

    usual = files(tmp_path / "usual", 64 << 20)
    monkeypatch.setattr(graph_slice, "_seen_keys", lambda *args, **kwargs: {})
    other = files(tmp_path / "other", 0)
    assert usual.keys() == other.keys() and len(usual) > 10
    assert [k for k in usual if usual[k] != other[k]] == []


# Property values as Cypher literals: each list is one column (nulls are missing properties).
_COLUMNS = {
    "ints": "[1, null, -7, 9223372036854775807]",
    "strings": "['a', null, 'ünï', '']",
    "int_and_float": "[1, 2.5, null]",
    "bools": "[true, false, null]",
    "all_null": "[null, null]",
    "dates": "[date('2013-03-16'), null, date('1901-12-31'), date('1970-01-01')]",
    "utc": "[datetime('2026-09-13T15:08:08Z'), null, datetime({epochMillis: 1}), "
           "datetime('1960-01-01T00:00:00.123456789Z')]",
    "offset": "[datetime('1960-01-01T00:00:00.999999999+01:00'), datetime('2026-01-01T23:59:59.000001+01:00')]",
    "negative_offset": "[datetime('2026-01-01T23:59:59.000001-05:30'), null, datetime('1969-12-31T23:59:59.9995-05:30')]",
    "named_zone": "[datetime('2026-07-01T12:00:00[Europe/Berlin]'), datetime('2026-01-01T12:00:00[Europe/Berlin]')]",
    "two_offsets": "[datetime('2026-01-01T00:00:00+01:00'), datetime('2026-01-01T00:00:00+02:00')]",
    "local_datetime": "[localdatetime('2026-01-01T10:00:00.5'), null]",
    "lists": "[['x', 'y'], null, []]",
    "list_of_dates": "[[date('2026-01-01')], null]",
}


@pytest.mark.parametrize("name", sorted(_COLUMNS))
def test_graph_columns_match_the_values_the_driver_gives(env, xcfg, name):
    """graph_columns sends temporal columns as numbers: each column must come out as the Arrow
    array `pa.Table.from_pylist` made of the driver's own values converted with to_native()
    (the extractor's former path): same type, same values, also when rows are left out."""
    import pyarrow as pa

    from datamig.extract import graph_columns as gc

    if xcfg.graph is None:
        pytest.skip("config has no graph")
    url, user, password = _graph_env(env, xcfg)
    with neo4j.GraphDatabase.driver(url, auth=(user, password)) as driver:
        records, _, _ = driver.execute_query(
            f"WITH {_COLUMNS[name]} AS raw RETURN raw, {gc.column('raw')} AS col", gc.PARAMS,
            routing_=neo4j.RoutingControl.READ)
    raw, col = records[0]["raw"], records[0]["col"]
    expected = pa.Table.from_pylist([{"c": _native(v)} for v in raw]).column("c").combine_chunks()
    got = gc.arrow(col)
    assert got.type == expected.type and got.equals(expected), (col[0], got, expected)
    keep = [i % 2 == 0 for i in range(len(raw))]                 # every other row, as for relationships
    kept = [v for v, k in zip(raw, keep) if k]
    expected = pa.Table.from_pylist([{"c": _native(v)} for v in kept]).column("c").combine_chunks()
    got = gc.arrow(col, keep)
    assert got.type == expected.type and got.equals(expected), (col[0], got, expected)
    if name in ("dates", "utc", "offset", "negative_offset"):
        assert col[0] != "raw", "a column the fast path should take"


# ----------------------------------------------------------------------------- consistency

def _one(conn, query, params=()):
    return conn.execute(query, params).fetchone()


def test_snapshot_ignores_writes_committed_mid_extraction(xcfg, env, prod_urls, oracles, tmp_path):
    """At the extractor's first progress call, a superuser inserts, updates and deletes rows of
    district 42 in every PostgreSQL store and commits. The slice must be the state at start."""
    from datamig.extract.run import extract

    cfg = dataclasses.replace(xcfg, out_dir=tmp_path / "runs", graph=None)
    before = oracle_for(cfg, prod_urls, 42)
    conns = {s: psycopg.connect(admin_url(env, conninfo_to_dict(u)["dbname"]), autocommit=True)
             for s, u in prod_urls.items()}
    ids, hcp1, hcp2, adb = (conns[s] for s in ("ids", "hcp1", "hcp2", "adb"))
    # choose the rows: all of district 42, none of the forced hard cases
    school = _one(ids, "SELECT id FROM schools WHERE district_id = 42 ORDER BY id LIMIT 1")[0]
    other_school, other_district = _one(ids, "SELECT id, district_id FROM schools WHERE district_id <> 42 "
                                             "ORDER BY id LIMIT 1")
    s_upd, s_move, s_tpl = [r[0] for r in ids.execute(
        "SELECT id FROM students WHERE district_id = 42 ORDER BY id DESC LIMIT 3").fetchall()]
    name_before = _one(ids, "SELECT first_name FROM students WHERE id = %s", (s_upd,))[0]
    move_before = _one(ids, "SELECT district_id, school_id FROM students WHERE id = %s", (s_move,))
    section = _one(ids, "SELECT school_id, section_code FROM sections WHERE school_id = %s ORDER BY 2 LIMIT 1",
                   (school,))
    attendance = ids.execute("SELECT * FROM attendance WHERE enrollment_id = (SELECT min(enrollment_id) FROM "
                             "attendance WHERE enrollment_id IN (SELECT id FROM enrollments WHERE student_id IN "
                             "(SELECT id FROM students WHERE district_id = 42)))").fetchall()
    session_row = _one(ids, "SELECT * FROM sessions WHERE user_id IN (SELECT id FROM users WHERE district_id = 42) "
                            "ORDER BY id LIMIT 1")
    in_district = [int(k[0]) for k in before.tables["ids.students"].down]
    patient = _one(hcp1, "SELECT id FROM patients WHERE ids_student_id = ANY(%s) ORDER BY id LIMIT 1", (in_district,))
    screening = _one(hcp1, "SELECT * FROM screenings WHERE patient_id IN (SELECT id FROM patients "
                           "WHERE ids_student_id = ANY(%s)) ORDER BY id LIMIT 1",
                     (in_district,))
    member = _one(hcp2, "SELECT id, given_name FROM members WHERE state_student_id IN "
                        "(SELECT unnest(%s::text[])) ORDER BY id LIMIT 1",
                  (_ssids(ids, [k[0] for k in before.tables["ids.students"].down]),))
    fact = _one(adb, "SELECT * FROM fact_assessment WHERE district_id = 42 ORDER BY id LIMIT 1")
    new_student = _one(ids, "SELECT max(id) + 1000 FROM students")[0]
    new_enrollment = _one(ids, "SELECT max(id) + 1000 FROM enrollments")[0]
    new_contact = _one(hcp1, "SELECT max(id) + 1000 FROM emergency_contacts")[0]
    written, seen_snapshots = [], []

    def write_mid_extraction(message: str) -> None:
        if written:
            return
        written.append(message)
        # every extractor session holds a snapshot and has written nothing (no xid)
        seen_snapshots.extend(ids.execute(
            "SELECT datname, backend_xid IS NULL, backend_xmin IS NOT NULL FROM pg_stat_activity "
            "WHERE application_name = 'datamig-extract'").fetchall())
        ids.execute("INSERT INTO students SELECT (jsonb_populate_record(NULL::students, to_jsonb(s) || "
                    "jsonb_build_object('id', %s::bigint, 'state_student_id', 'MID-' || %s::text))).* "
                    "FROM students s WHERE id = %s", (new_student, new_student, s_tpl))
        ids.execute("INSERT INTO enrollments (id, student_id, school_id, section_code, enrolled_on, status) "
                    "VALUES (%s, %s, %s, %s, '2026-11-13', 'active')", (new_enrollment, new_student, *section))
        ids.execute("UPDATE students SET first_name = 'CHANGED MID-EXTRACTION' WHERE id = %s", (s_upd,))
        ids.execute("UPDATE students SET district_id = %s, school_id = %s WHERE id = %s",
                    (other_district, other_school, s_move))
        ids.execute("DELETE FROM attendance WHERE enrollment_id = %s", (attendance[0][0],))
        ids.execute("DELETE FROM sessions WHERE id = %s", (session_row[0],))
        hcp1.execute("INSERT INTO emergency_contacts (id, patient_id, contact_name) VALUES (%s, %s, 'Mid Write')",
                     (new_contact, patient[0]))
        hcp1.execute("DELETE FROM screenings WHERE id = %s", (screening[0],))
        hcp2.execute("UPDATE members SET given_name = 'CHANGED' WHERE id = %s", (member[0],))
        adb.execute("DELETE FROM fact_assessment WHERE id = %s", (fact[0],))

    try:
        manifest = extract(cfg, env, 42, run_id="mig-20260101-000001-d42", progress=write_mid_extraction)
        assert written, "the extractor never reported progress"
        after = oracle_for(cfg, prod_urls, 42)
        assert after.tables != before.tables, "the writes did not change the district"
        base = cfg.out_dir / "mig-20260101-000001-d42" / "extract"
        for table_id, keys in before.tables.items():
            assert set(parquet_keys(base, table_id)) == keys.all, table_id
            assert manifest["tables"][table_id]["rows_in_district"] == len(keys.down), table_id
        students = dict(duckdb.sql(f"SELECT id, first_name FROM {parquet(base / 'ids/students.parquet')}").fetchall())
        assert students[s_upd] == name_before and new_student not in students
        given = dict(duckdb.sql(f"SELECT id::VARCHAR, given_name FROM {parquet(base / 'hcp2/members.parquet')}"
                                ).fetchall())
        assert given[str(member[0])] == member[1]
        assert seen_snapshots and len({d for d, *_ in seen_snapshots}) == len(prod_urls)
        assert all(no_xid and holds for _, no_xid, holds in seen_snapshots), seen_snapshots
    finally:
        ids.execute("DELETE FROM enrollments WHERE id = %s", (new_enrollment,))
        ids.execute("DELETE FROM students WHERE id = %s", (new_student,))
        ids.execute("UPDATE students SET first_name = %s WHERE id = %s", (name_before, s_upd))
        ids.execute("UPDATE students SET district_id = %s, school_id = %s WHERE id = %s", (*move_before, s_move))
        _reinsert(ids, "attendance", attendance)
        _reinsert(ids, "sessions", [session_row])
        hcp1.execute("DELETE FROM emergency_contacts WHERE id = %s", (new_contact,))
        _reinsert(hcp1, "screenings", [screening])
        hcp2.execute("UPDATE members SET given_name = %s WHERE id = %s", (member[1], member[0]))
        _reinsert(adb, "fact_assessment", [fact])
        for conn in conns.values():
            conn.close()
    assert oracle_for(cfg, prod_urls, 42).tables == before.tables, "PROD not restored"


def _ssids(conn, ids) -> list[str]:
    return [r[0] for r in conn.execute("SELECT state_student_id FROM students WHERE id = ANY(%s)",
                                       (list(ids),)).fetchall()]


def _reinsert(conn, table: str, rows) -> None:
    cur = conn.execute(f'SELECT * FROM "{table}" LIMIT 0')
    cols = ", ".join(f'"{d.name}"' for d in cur.description)
    marks = ", ".join(["%s"] * len(cur.description))
    for row in rows:
        conn.execute(f'INSERT INTO "{table}" ({cols}) VALUES ({marks}) ON CONFLICT DO NOTHING', row)


# ----------------------------------------------------------------------------- safety

@pytest.mark.parametrize("statement", [
    "INSERT INTO states (code, name, fips_code) VALUES ('ZZ', 'Nowhere', '99')",
    "UPDATE districts SET name = name",
    "DELETE FROM sessions",
    "CREATE TEMP TABLE scratch (i int)",
    "CREATE TABLE scratch (i int)",
])
def test_prod_role_cannot_write(env, statement):
    with psycopg.connect(env["PROD_IDS_URL"]) as conn:
        with pytest.raises((psycopg.errors.ReadOnlySqlTransaction, psycopg.errors.InsufficientPrivilege)):
            conn.execute(statement)


@pytest.mark.parametrize("statement", [
    "INSERT INTO states (code, name, fips_code) VALUES ('ZZ', 'Nowhere', '99')",
    "CREATE TABLE scratch (i int)",
    "CREATE TEMP TABLE scratch (i int)",
])
def test_prod_role_cannot_write_even_after_lifting_read_only(env, statement):
    """default_transaction_read_only is only a default the session may change: the grants
    themselves must refuse the write."""
    with psycopg.connect(env["PROD_IDS_URL"]) as conn:
        conn.execute("SET default_transaction_read_only = off")
        conn.commit()
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute(statement)


_OBJECTS = """
SELECT n.nspname, c.relname, c.relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
UNION ALL SELECT nspname, '', 'namespace' FROM pg_namespace
UNION ALL SELECT 'pg_largeobject', oid::text, 'lo' FROM pg_largeobject_metadata
UNION ALL SELECT 'pg_prepared_xacts', gid, 'px' FROM pg_prepared_xacts
UNION ALL SELECT 'pg_replication_slots', slot_name, 'slot' FROM pg_replication_slots
"""
_COUNTERS = """
SELECT (SELECT tup_inserted + tup_updated + tup_deleted FROM pg_stat_database WHERE datname = current_database()),
       (SELECT coalesce(sum(n_tup_ins + n_tup_upd + n_tup_del), 0) FROM pg_stat_user_tables),
       (SELECT xact_rollback FROM pg_stat_database WHERE datname = current_database())
"""


def _census(env, prod_urls) -> dict:
    out = {}
    for store, url in prod_urls.items():
        with psycopg.connect(admin_url(env, conninfo_to_dict(url)["dbname"]), autocommit=True) as conn:
            conn.execute("SELECT pg_stat_clear_snapshot()")
            out[store] = (set(conn.execute(_OBJECTS).fetchall()), conn.execute(_COUNTERS).fetchone())
    return out


def _settle_stats(env, prod_urls) -> None:
    """Run what autovacuum would (so it has nothing to do while we measure) and wait for every
    backend's pending statistics to reach shared memory."""
    for url in prod_urls.values():
        with psycopg.connect(admin_url(env, conninfo_to_dict(url)["dbname"]), autocommit=True) as conn:
            conn.execute("VACUUM ANALYZE")
    time.sleep(1.5)


def test_extraction_creates_nothing_in_prod(xcfg, env, prod_urls, tmp_path):
    from datamig.extract.run import extract

    cfg = dataclasses.replace(xcfg, out_dir=tmp_path / "runs")
    _settle_stats(env, prod_urls)
    before = _census(env, prod_urls)
    extract(cfg, env, 55, run_id="mig-20260101-000002-d55")
    time.sleep(1.5)                                   # the extractor's sessions flush their stats on exit
    after = _census(env, prod_urls)
    for store in prod_urls:
        objs_before, (db_before, user_before, rb_before) = before[store]
        objs_after, (db_after, user_after, rb_after) = after[store]
        assert objs_after == objs_before, f"{store}: objects appeared/vanished {objs_after ^ objs_before}"
        assert user_after == user_before, f"{store}: rows of user tables were written"
        assert db_after == db_before, f"{store}: tuples written in the database (catalogs included)"
        assert rb_after >= rb_before + 1, f"{store}: the snapshot transaction should end in a rollback"
    with psycopg.connect(env["DATAMIG_PG_ADMIN_URL"]) as conn:
        left = conn.execute("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'datamig-extract'"
                            ).fetchone()[0]
    assert left == 0, "extractor connections left open"


# ----------------------------------------------------------------------------- CLI errors

def _cli_env(env, **overrides) -> dict:
    out = dict(os.environ)
    out.update(env)
    out["DATAMIG_STATE_DIR"] = os.environ["DATAMIG_STATE_DIR"]
    out.pop("DATAMIG_CONFIG", None)
    out.update(overrides)
    return out


def _config_copy(tmp_path: Path, out_dir: Path, edit=lambda raw: None) -> Path:
    """The shipped config with runs under `out_dir`, after `edit(raw)` changed its YAML tree."""
    raw = yaml.safe_load((ROOT / "config" / "datamig.yaml").read_text())
    raw.setdefault("extract", {})["out_dir"] = str(out_dir)
    edit(raw)
    path = tmp_path / "datamig.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def _run_cli(tmp_path, cfg_path, env, *args) -> subprocess.CompletedProcess:
    return subprocess.run([str(DATAMIG), "--config", str(cfg_path), "extract", *args], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)


def _assert_nothing_written(out_dir: Path) -> None:
    """A user's mistake changes nothing: not even the runs folder (the config's, new here) is left."""
    assert not out_dir.exists(), f"left behind: {sorted(str(p) for p in out_dir.rglob('*'))}"


def _one_line(stderr: str) -> str:
    text = stderr.strip()
    assert text and "\n" not in text, f"not one line: {stderr!r}"
    return text


def test_cli_unknown_district_exits_2_naming_the_root_table(tiny_estate, tmp_path):
    out_dir = tmp_path / "runs"
    result = _run_cli(tmp_path, _config_copy(tmp_path, out_dir), _cli_env(tiny_estate["env"]),
                      "--district", "999999")
    assert result.returncode == 2, result.stderr
    line = _one_line(result.stderr)
    assert "ids.districts" in line and "999999" in line
    _assert_nothing_written(out_dir)


def _migrate(tmp_path, cfg_path, env, *args) -> subprocess.CompletedProcess:
    return subprocess.run([str(DATAMIG), "--config", str(cfg_path), "migrate", "--yes", *args], cwd=ROOT,
                          env={**env, "DATAMIG_SALT": "unknown-district-salt-0123456789"},
                          capture_output=True, text=True, timeout=300)


def test_migrate_of_an_unknown_district_is_refused_in_preflight_leaving_no_run(tiny_estate, tmp_path):
    """The extract found it out after the run folder was made: `datamig runs` listed a failed run."""
    out_dir = tmp_path / "runs"
    cfg_path = _config_copy(tmp_path, out_dir)
    result = _migrate(tmp_path, cfg_path, _cli_env(tiny_estate["env"]), "--district", "999999")
    assert result.returncode == 2, result.stderr
    assert "district 999999 not found in ids.districts (id = 999999)" in _one_line(result.stderr)
    _assert_nothing_written(out_dir)


@pytest.mark.parametrize("command", ["extract", "migrate"])
def test_a_district_beyond_bigint_is_a_usage_error(tiny_estate, tmp_path, command):
    """9999999999999999999999 reached the extract's SQL: a traceback quoting it, and run folders."""
    out_dir = tmp_path / "runs"
    cfg_path = _config_copy(tmp_path, out_dir)
    run = _migrate if command == "migrate" else _run_cli
    result = run(tmp_path, cfg_path, _cli_env(tiny_estate["env"]), "--district", "9999999999999999999999")
    assert result.returncode == 2 and "Traceback" not in result.stderr and "COPY" not in result.stderr
    assert "--district" in result.stderr
    _assert_nothing_written(out_dir)


def _select(tmp_path, cfg_path, env, *args) -> subprocess.CompletedProcess:
    return subprocess.run([str(DATAMIG), "--config", str(cfg_path), "select-districts", "--out-dir",
                           str(tmp_path / "runs" / "manifests")], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=300)


@pytest.mark.parametrize("command", [_run_cli, _migrate, _select], ids=["extract", "migrate", "select"])
@pytest.mark.parametrize("edit, named", [
    (lambda raw: raw["district"].update(key="idd"), "district.key: ids.districts has no column 'idd'"),
    (lambda raw: raw["district"].update(table="distrcts"), "district.table: no table 'ids.distrcts' in PROD"),
    (lambda raw: raw["exclude_tables"].append("ids.districts"), "district.table: ids.districts is in exclude_tables"),
], ids=["key", "table", "excluded"])
def test_a_district_root_prod_lacks_is_one_line_naming_the_setting(tiny_estate, tmp_path, command, edit, named):
    """A district key the root table lacks was a KeyError traceback in extract (exit 1, a failed
    run left behind) and psycopg's in select-districts; a misspelt root table was psycopg's there
    too. Every command now names the setting and its line, before anything is written."""
    out_dir = tmp_path / "runs"
    cfg_path = _config_copy(tmp_path, out_dir, edit)
    result = command(tmp_path, cfg_path, _cli_env(tiny_estate["env"]), "--district", "42")
    assert result.returncode == 2, result.stderr
    line = _one_line(result.stderr)
    assert line.startswith(f"error: {cfg_path}:") and named in line and "Traceback" not in line, line
    _assert_nothing_written(out_dir)


@pytest.mark.parametrize("command", ["extract", "migrate"])
@pytest.mark.parametrize("edit, named", [
    (lambda raw: raw["traversal"]["down_exclude"].__setitem__(0, "hcp2.visits.nosuch_id"),
     ("traversal.down_exclude.0", "'hcp2.visits.nosuch_id' names no foreign key or link", "clinic_id")),
    (lambda raw: raw.setdefault("exclude_tables", []).append("ids.nosuch"), ("exclude_tables.", "no table 'ids.nosuch'")),
    (lambda raw: raw["reference_tables"]["tables"].update({"ids.nosuch": "whole"}),
     ("reference_tables.tables.ids.nosuch", "no table 'ids.nosuch'")),
    # every table looked missing, and the first link took the blame
    (lambda raw: raw["stores"]["hcp1"].update(schema="nosuch"),
     ("stores.hcp1.schema: database ", " (PROD) has no schema 'nosuch'")),
])
def test_a_table_or_foreign_key_the_config_misspells_is_named_before_anything_is_written(
        tiny_estate, tmp_path, command, edit, named):
    """A review misspelt hcp2.visits.clinic_id in down_exclude: exit 0, and the slice took in
    other districts' students, the very thing the exclusion is there to stop."""
    out_dir = tmp_path / "runs"
    cfg_path = _config_copy(tmp_path, out_dir, edit)
    run = _migrate if command == "migrate" else _run_cli
    result = run(tmp_path, cfg_path, _cli_env(tiny_estate["env"]), "--district", "42")
    assert result.returncode == 2, result.stderr
    line = _one_line(result.stderr)
    assert str(cfg_path) + ":" in line and all(n in line for n in named), line
    _assert_nothing_written(out_dir)


@pytest.mark.parametrize("command", ["extract", "migrate"])
@pytest.mark.parametrize("edit, named", [
    (lambda raw: raw["graph"]["node_keys"].update(School="nosuch_prop"),
     "graph.node_keys.School: no School node has the property 'nosuch_prop' in store sp (PROD)"),
    (lambda raw: raw["graph"]["node_keys"].update(Scool="school_id"),
     "graph.node_keys.Scool: no node has the label 'Scool' in store sp (PROD) (it has: "),
    (lambda raw: raw["graph"]["follow"][2].update(type="ENROLED_IN"),
     "graph.follow.2.type: no relationship has the type 'ENROLED_IN' in store sp (PROD)"),
    (lambda raw: raw["graph"]["follow"][0].update({"from": "Distict"}),
     "graph.follow.0.from: no node has the label 'Distict'"),
    (lambda raw: raw["graph"]["root"].update(key="districtid"),
     "graph.root.key: no District node has the property 'districtid'"),
])
def test_a_graph_name_prod_lacks_is_one_line_naming_the_setting(tiny_estate, tmp_path, command, edit, named):
    """A misspelt node key was a pyarrow traceback when the relationships, their School ends
    keyless, were written (after migrate had made its run); a misspelt relationship type or label
    walked nothing, exit 0, the district's slice short of a whole part of the graph."""
    out_dir = tmp_path / "runs"
    cfg_path = _config_copy(tmp_path, out_dir, edit)
    run = _migrate if command == "migrate" else _run_cli
    result = run(tmp_path, cfg_path, _cli_env(tiny_estate["env"]), "--district", "42")
    assert result.returncode == 2, result.stderr
    line = _one_line(result.stderr)
    assert str(cfg_path) + ":" in line and named in line, line
    _assert_nothing_written(out_dir)


def test_a_wrong_neo4j_password_is_a_refused_login_not_a_server_down(tiny_estate, tmp_path):
    """It read `store sp (CERT) unreachable at ...: no Bolt answer`: the server had answered."""
    out_dir = tmp_path / "runs"
    env = _cli_env(tiny_estate["env"], CERT_SP_PASSWORD="wrong-Planted-pw-77")
    result = _migrate(tmp_path, _config_copy(tmp_path, out_dir), env, "--district", "42")
    assert result.returncode == 2, result.stderr
    line = _one_line(result.stderr)
    assert "store sp (CERT) at 127.0.0.1:" in line and "refused the login of CERT_SP_USER / CERT_SP_PASSWORD" in line
    assert "unreachable" not in line and "wrong-Planted-pw-77" not in result.stdout + result.stderr
    _assert_nothing_written(out_dir)


def test_extract_with_a_wrong_neo4j_password_says_the_login_was_refused(tiny_estate, tmp_path):
    """It passed on the server's record: `{neo4j_code: Neo.ClientError.Security.Unauthorized}
    {message: ...} {gql_status: 50N42} {gql_status_description: error: general processing exception
    - unexpected error. Unexpected error has occurred. See debug log for details.}`."""
    out_dir = tmp_path / "runs"
    env = _cli_env(tiny_estate["env"], PROD_SP_PASSWORD="wrong-Planted-pw-78")
    result = _run_cli(tmp_path, _config_copy(tmp_path, out_dir), env, "--district", "42")
    assert result.returncode == 2, result.stderr
    line = _one_line(result.stderr)
    assert line.startswith("error: store sp: cannot connect to Neo4j at 127.0.0.1:"), line
    assert line.endswith(": the server refused the login of user 'neo4j' (wrong user or password)"), line
    assert "wrong-Planted-pw-78" not in result.stdout + result.stderr
    _assert_nothing_written(out_dir)


def _lock_out_neo4j_login(url: str) -> None:
    """Wrong passwords until the server refuses every login of `neo4j` for a while (its lock)."""
    for _ in range(10):
        try:
            with neo4j.GraphDatabase.driver(url, auth=("neo4j", "wrong-Planted-pw-79")) as driver:
                driver.verify_connectivity()
        except neo4j.exceptions.AuthError:
            continue
        except neo4j.exceptions.ClientError as exc:
            assert exc.code == "Neo.ClientError.Security.AuthenticationRateLimit", exc.code
            return
    raise AssertionError("the server never locked the login out")


@contextlib.contextmanager
def _neo4j_login_kept_locked(url: str):
    """The lock lasts seconds (5 by default): a CLI slow to start under load logged in after it and
    the test saw exit 0. A wrong password every 20 ms locks it again the moment it passes."""
    _lock_out_neo4j_login(url)
    done = threading.Event()

    def renew():
        with neo4j.GraphDatabase.driver(url, auth=("neo4j", "wrong-Planted-pw-79")) as driver:
            while not done.wait(0.02):
                try:
                    driver.verify_connectivity()
                except (neo4j.exceptions.Neo4jError, neo4j.exceptions.DriverError):
                    pass  # refused: that is the point

    thread = threading.Thread(target=renew, daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()


def _wait_for_neo4j_login(url: str, password: str) -> None:
    """The lock has passed (the session's other tests log in with the right password)."""
    deadline = time.monotonic() + 60
    while True:
        try:
            with neo4j.GraphDatabase.driver(url, auth=("neo4j", password)) as driver:
                driver.verify_connectivity()
            return
        except neo4j.exceptions.ClientError:
            assert time.monotonic() < deadline, "the login lock never passed"
            time.sleep(0.5)


@pytest.mark.parametrize("command", ["extract", "migrate"])
def test_a_neo4j_login_locked_out_after_wrong_passwords_is_one_line(tiny_estate, tmp_path, command):
    """After a few wrong passwords Neo4j refuses every login for some seconds, the right one too:
    extract (and analyze-datastores) was the driver's ClientError traceback, exit 1, leaving a run
    folder; migrate's preflight called the server that had answered `unreachable: no Bolt answer`."""
    env = tiny_estate["env"]
    out_dir = tmp_path / "runs"
    run = _migrate if command == "migrate" else _run_cli
    try:
        with _neo4j_login_kept_locked(env["PROD_SP_URL"]):
            result = run(tmp_path, _config_copy(tmp_path, out_dir), _cli_env(env), "--district", "42")
    finally:
        _wait_for_neo4j_login(env["PROD_SP_URL"], env["PROD_SP_PASSWORD"])
    assert result.returncode == 2, result.stderr
    line = _one_line(result.stderr)
    assert "store sp" in line and "127.0.0.1:" in line and "too many wrong passwords in a row" in line, line
    assert "unreachable" not in line and env["PROD_SP_PASSWORD"] not in result.stdout + result.stderr
    _assert_nothing_written(out_dir)


def test_cli_unknown_district_leaves_no_folder_of_a_nested_runs_path(tiny_estate, tmp_path):
    out_dir = tmp_path / "new" / "nested" / "runs"
    result = _run_cli(tmp_path, _config_copy(tmp_path, out_dir), _cli_env(tiny_estate["env"]),
                      "--district", "999999")
    assert result.returncode == 2, result.stderr
    assert not (tmp_path / "new").exists()


def test_a_failed_extract_keeps_what_another_run_put_in_the_folders_it_created(tmp_path):
    """Two extracts start while the runs folder is missing: the one that fails on a user's mistake
    removes its own run folder only, not the runs folder the other is writing in."""
    from datamig.extract.run import _remove_run_folder
    from datamig.folders import first_missing
    mine, theirs = tmp_path / "runs" / "mig-20260101-000000-d999", tmp_path / "runs" / "mig-20260101-000000-d42"
    created = first_missing(mine)
    assert created == tmp_path / "runs"
    (theirs / "extract.partial").mkdir(parents=True)
    mine.mkdir()
    (mine / "run.log").write_text("x")
    _remove_run_folder(mine, created)
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == [theirs.name]
    _remove_run_folder(theirs, created)   # once empty, the folders it created go too
    assert not (tmp_path / "runs").exists()


def test_cli_unknown_district_leaves_an_existing_runs_folder_as_it_was(tiny_estate, tmp_path):
    out_dir = tmp_path / "runs"
    (out_dir / "mig-20260101-000000-d42").mkdir(parents=True)
    (out_dir / "mig-20260101-000000-d42" / "run.log").write_text("an earlier run\n")
    before = sorted(p.relative_to(out_dir) for p in out_dir.rglob("*"))
    result = _run_cli(tmp_path, _config_copy(tmp_path, out_dir), _cli_env(tiny_estate["env"]),
                      "--district", "999999")
    assert result.returncode == 2, result.stderr
    assert sorted(p.relative_to(out_dir) for p in out_dir.rglob("*")) == before


def test_cli_unreachable_store_names_store_and_host_not_password(tiny_estate, tmp_path):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]                      # bound, never listening: refused
        secret = "Sup3r-Secret-pw-hcp1"
        url = f"postgresql://datamig_prod_reader:{secret}@127.0.0.1:{port}/hcp1"
        out_dir = tmp_path / "runs"
        result = _run_cli(tmp_path, _config_copy(tmp_path, out_dir), _cli_env(tiny_estate["env"], PROD_HCP1_URL=url),
                          "--district", "42")
    assert result.returncode == 2, result.stderr
    line = _one_line(result.stderr)
    assert "hcp1" in line and f"127.0.0.1:{port}" in line
    assert secret not in result.stderr + result.stdout
    _assert_nothing_written(out_dir)


def test_cli_unreachable_graph_store_fails_the_whole_extract(tiny_estate, tmp_path):
    """The graph is sliced in a thread beside PostgreSQL: its failure still ends the extract
    with one line naming the store and leaves no extract behind."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]                      # bound, never listening: refused
        out_dir = tmp_path / "runs"
        result = _run_cli(tmp_path, _config_copy(tmp_path, out_dir),
                          _cli_env(tiny_estate["env"], PROD_SP_URL=f"bolt://127.0.0.1:{port}"), "--district", "42")
    assert result.returncode == 2, result.stderr
    line = _one_line(result.stderr)
    assert "sp" in line and f"127.0.0.1:{port}" in line, line
    _assert_nothing_written(out_dir)


def test_cli_excluded_table_drops_the_links_that_name_it(tiny_estate, tmp_path):
    """Every phase sees the estate through one introspection (analyze/estate.py): a link is
    checked against every table, then an excluded table takes its links with it (it used to
    be "table not found" here, and a dangling-FK warning in analyze)."""
    out_dir = tmp_path / "runs"
    excluded = "adb.student_risk_scores"    # the child of a link to ids.students
    path = _config_copy(tmp_path, out_dir, lambda raw: raw["exclude_tables"].append(excluded))
    result = _run_cli(tmp_path, path, _cli_env(tiny_estate["env"]), "--district", "42")
    assert result.returncode == 0, result.stderr
    manifest = json.loads(next(out_dir.glob("*/extract/extraction-manifest.json")).read_text())
    assert excluded not in manifest["tables"] and "ids.students" in manifest["tables"]


@pytest.mark.parametrize("edit, key", [
    (lambda raw: raw["district"].update(store="idz"), "district.store"),
    (lambda raw: raw["district"].update(keyz="id"), "district"),
    (lambda raw: raw.__setitem__("links", (raw.get("links") or []) + [
        "hcp1.patients.no_such_column -> ids.students.id"]), "no_such_column"),
])
def test_cli_config_mistake_names_the_key(tiny_estate, tmp_path, edit, key):
    out_dir = tmp_path / "runs"
    path = _config_copy(tmp_path, out_dir, edit)
    result = _run_cli(tmp_path, path, _cli_env(tiny_estate["env"]), "--district", "42")
    assert result.returncode == 2, result.stderr
    line = _one_line(result.stderr)
    assert key in line, line
    _assert_nothing_written(out_dir)


# --- the graph read is one state of the graph -------------------------------------------------

PLANTED_GUARDIAN = 99990001


def _plant_guardian(url, user, password) -> None:
    """A Guardian of one of district 42's students: in the slice only through its GUARDIAN_OF."""
    with neo4j.GraphDatabase.driver(url, auth=(user, password)) as driver:
        driver.execute_query(
            "MATCH (:District {district_id: 42})<-[:BELONGS_TO]-(:School)<-[:ENROLLED_IN]-(s:Student) "
            "WITH s LIMIT 1 CREATE (:Guardian {guardian_id: $g})-[:GUARDIAN_OF]->(s)", g=PLANTED_GUARDIAN)


def _cut_guardian(url, user, password) -> None:
    with neo4j.GraphDatabase.driver(url, auth=(user, password)) as driver:
        driver.execute_query("MATCH (:Guardian {guardian_id: $g})-[r:GUARDIAN_OF]->() DELETE r", g=PLANTED_GUARDIAN)


def _remove_guardian(url, user, password) -> None:
    with neo4j.GraphDatabase.driver(url, auth=(user, password)) as driver:
        driver.execute_query("MATCH (g:Guardian {guardian_id: $g}) DETACH DELETE g", g=PLANTED_GUARDIAN)


def test_a_graph_that_changes_between_the_walk_and_the_reads_is_seen(env, xcfg):
    """Neo4j reads committed data query by query: a review's extract held a Guardian walked over
    a GUARDIAN_OF that was gone when the relationships were read (no state of the graph has it)."""
    from datamig.extract import graph_slice as gs

    url, user, password = _graph_env(env, xcfg)
    _plant_guardian(url, user, password)
    try:
        assert gs.extract_subgraph(url, user, password, xcfg.graph, 42).orphans == 0  # a still graph
        with neo4j.GraphDatabase.driver(url, auth=(user, password)) as driver, \
                driver.session(default_access_mode=neo4j.READ_ACCESS) as session, session.begin_transaction() as tx:
            codes, _, ids, root, _ = gs._walk(tx, xcfg.graph, 42)
            _cut_guardian(url, user, password)  # committed by another session, mid-read
            reach = gs._Reach(xcfg.graph, codes)
            gs._node_rows(tx, codes, ids, xcfg.graph, lambda *a: None, reach, gs._labels_in_use(tx))
            gs._rel_rows(tx, codes, ids, xcfg.graph, lambda *a: None, reach)
            assert reach.orphans(root) == 1
    finally:
        _remove_guardian(url, user, password)


def test_the_extract_reads_a_changed_graph_again_until_it_is_one_state(env, xcfg, tmp_path, monkeypatch):
    from datamig.extract import graph_parquet
    from datamig.extract import run as extract_run

    url, user, password = _graph_env(env, xcfg)
    real_add, real_subgraph = graph_parquet.GraphWriter.add, extract_run.extract_subgraph
    cut = []

    def add_then_cut(self, kind, name, table):  # the first rows of a read: the walk is done
        if len(cut) < len(reads):
            cut.append(True)
            _cut_guardian(url, user, password)
        return real_add(self, kind, name, table)

    def planted_then_read(*args, **kwargs):  # the edge is back before every walk: never one state
        reads.append(True)
        _remove_guardian(url, user, password)
        _plant_guardian(url, user, password)
        return real_subgraph(*args, **kwargs)

    monkeypatch.setattr(graph_parquet.GraphWriter, "add", add_then_cut)
    reads: list = [True]
    _plant_guardian(url, user, password)
    try:
        # changed during the first read only: the second reads a still graph, without the guardian
        graph = extract_run._slice_graph(xcfg, env, 42, tmp_path / "once")
        assert len(cut) == 1 and graph["nodes"]["Guardian"]["rows"] > 0
        guardians = duckdb.sql(f"SELECT guardian_id FROM '{tmp_path / 'once' / 'sp' / 'nodes' / 'Guardian.parquet'}'")
        assert PLANTED_GUARDIAN not in {r[0] for r in guardians.fetchall()}
        monkeypatch.setattr(extract_run, "extract_subgraph", planted_then_read)
        reads.clear(), cut.clear()
        with pytest.raises(MigrationFailed, match="the graph changed while each of 3 reads of district 42"):
            extract_run._slice_graph(xcfg, env, 42, tmp_path / "always")
        assert len(reads) == 3
    finally:
        _remove_guardian(url, user, password)



def _counted_property_reads(monkeypatch) -> list:
    """The real reader of the graph's property types, each call counted into the list returned."""
    from datamig.analyze import neo4j_introspect

    real, reads = neo4j_introspect._read_properties, []

    def counted(tx):
        reads.append(True)
        return real(tx)

    monkeypatch.setattr(neo4j_introspect, "_read_properties", counted)
    return reads


def test_the_graph_s_property_types_are_read_once_for_the_models_and_the_slice(env, xcfg, tmp_path, monkeypatch):
    """With models to match, the extract read the whole graph's property types (the schema
    procedures, which may scan a large graph) for the models' check, then again for the slice's
    files. Both now take the one read, each from the real server, counted where it is made."""
    from datamig.analyze import neo4j_introspect
    from datamig.extract.run import extract

    reads = _counted_property_reads(monkeypatch)
    cfg = dataclasses.replace(xcfg, out_dir=tmp_path / "runs")
    manifest = extract(cfg, env, 55, run_id="mig-20260101-000004-d55", models=ROOT)
    assert len(reads) == 1
    # the slice's files hold the whole graph's properties: the read reached the slice too
    nodes, _ = neo4j_introspect.graph_property_types(cfg.stores["sp"], *_graph_env(env, xcfg), cfg.graph.node_keys)
    for label, entry in manifest["graph"]["nodes"].items():
        assert {c["name"] for c in entry["columns"]} == {*nodes[label], "_labels"}, label


def test_migrate_reads_the_graph_s_property_types_once_for_its_preflight_and_its_extract(
        env, xcfg, salt, tmp_path, monkeypatch):
    """migrate's preflight read the types to check the models, then its extract read them again
    for the slice's files: two passes of the schema procedures, which may scan a large graph."""
    from datamig.analyze import neo4j_introspect
    from datamig.runner.migrate import Migration
    from datamig.runner.state import RunState

    reads = _counted_property_reads(monkeypatch)
    cfg = dataclasses.replace(xcfg, out_dir=tmp_path / "runs")
    run = "mig-20260101-000005-d42"
    migration = Migration(cfg, env, ROOT, RunState(run_id=run, district=42, options={"dry_run": True}))
    migration.preflight()
    assert migration._extract()["rows"] > 0
    assert len(reads) == 1
    manifest = json.loads((cfg.out_dir / run / "extract" / "extraction-manifest.json").read_text())
    assert manifest["graph"]["nodes"]  # the slice took the preflight's read


def test_rows_equal_in_every_column_of_a_table_without_a_key_are_all_extracted(xcfg, env, prod_urls, tmp_path):
    """A review's PROD log table had no primary key: its two equal rows of district 42 (and two
    equal rows with a NULL) landed as one each, since a row's identity was all its columns."""
    from datamig.extract.run import extract

    reader = conninfo_to_dict(prod_urls["ids"])["user"]
    with psycopg.connect(admin_url(env, conninfo_to_dict(prod_urls["ids"])["dbname"]), autocommit=True) as conn:
        conn.execute("CREATE TABLE keyless_log (district_id bigint NOT NULL REFERENCES districts (id), msg text); "
                     "INSERT INTO keyless_log VALUES (42, 'dup'), (42, 'dup'), (42, NULL), (42, NULL), (7, 'other'); "
                     f"GRANT SELECT ON keyless_log TO {reader}")
        try:
            cfg = dataclasses.replace(xcfg, out_dir=tmp_path / "runs")
            manifest = extract(cfg, env, 42, run_id="mig-20260101-000003-d42")
            assert manifest["tables"]["ids.keyless_log"]["rows"] == 4
            path = cfg.out_dir / "mig-20260101-000003-d42" / "extract" / "ids" / "keyless_log.parquet"
            rows = duckdb.sql(f"SELECT * FROM '{path}'")
            assert rows.columns == ["district_id", "msg"]  # the ctid told rows apart; it lands nowhere
            assert sorted(rows.fetchall(), key=repr) == sorted([(42, "dup")] * 2 + [(42, None)] * 2, key=repr)
        finally:
            conn.execute("DROP TABLE keyless_log")


def test_a_walk_cut_short_by_max_depth_says_so(env, xcfg):
    """It stopped in silence: only depth_reached told, and only to whoever compared it with
    graph.max_depth."""
    from datamig.extract import graph_slice as gs

    url, user, password = _graph_env(env, xcfg)
    assert gs.extract_subgraph(url, user, password, xcfg.graph, 42).beyond_max_depth is False
    short = dataclasses.replace(xcfg.graph, max_depth=1)
    sub = gs.extract_subgraph(url, user, password, short, 42)
    assert (sub.depth_reached, sub.beyond_max_depth, sub.orphans) == (1, True, 0)


def test_migrate_with_a_cert_table_without_a_key_stops_in_preflight(tiny_estate, prod_urls, tmp_path):
    """The load refuses a table it cannot match, update or undo rows of, but a migrate found out
    only after extracting and transforming the district."""
    env = tiny_estate["env"]
    cert_db = conninfo_to_dict(env["CERT_IDS_URL"])["dbname"]
    prod_db = conninfo_to_dict(prod_urls["ids"])["dbname"]
    reader = conninfo_to_dict(prod_urls["ids"])["user"]
    ddl = "CREATE TABLE keyless_notes (district_id bigint, note text)"
    with psycopg.connect(admin_url(env, prod_db), autocommit=True) as prod, \
            psycopg.connect(admin_url(env, cert_db), autocommit=True) as cert:
        prod.execute(f"{ddl}; GRANT SELECT ON keyless_notes TO {reader}")
        cert.execute(ddl)
        try:
            out_dir = tmp_path / "runs"
            result = _migrate(tmp_path, _config_copy(tmp_path, out_dir), _cli_env(env), "--district", "42")
            assert result.returncode == 2, result.stderr
            line = _one_line(result.stderr)
            assert "CERT table ids.keyless_notes has no primary or unique key" in line, line
            _assert_nothing_written(out_dir)
        finally:
            prod.execute("DROP TABLE keyless_notes")
            cert.execute("DROP TABLE keyless_notes")
