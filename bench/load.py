"""Load throughput: `load_run` into empty CERT tables against a raw COPY FROM of the same rows.

    .venv/bin/python bench/load.py [--rows N] [--repeat R] [--url POSTGRES_URL] [--keep]

Generates N rows (default 1,000,000) of Parquet for three wide tables (15, 10 and 8 columns:
bigint, text, date, timestamptz, numeric, boolean, text[], jsonb, uuid; one composite key),
then, in the same run and on the same server:
  raw     COPY FROM STDIN of the same rows (CSV made beforehand, not timed) into empty tables
          with the same DDL: the floor any loader stands on;
  insert  load_run(strategy="insert") into empty tables: drift gate, staging COPY, classify,
          ledger, set-based INSERT, PREPARE/COMMIT PREPARED;
  upsert  load_run(strategy="upsert") of the same rows into CERT already holding them
          (every row rewritten, every before-image kept);
  merge   load_run(strategy="merge") with 10% of the rows changed (only those rewritten).
Best of --repeat runs for raw and insert (fresh databases each time). Wall time and CPU
seconds (this process + every process of the PostgreSQL cluster, reaped backends included)
are both printed: on a shared machine other processes steal wall time, not CPU.
Target: insert / raw <= 2.0. A benchmark, not a test: nothing is asserted.

Starts its own PostgreSQL 15 (tests/_pg_cluster.py) unless --url names a superuser URL.

    .venv/bin/python bench/load.py --graph [--rows N]

The Neo4j part instead, on a private Neo4j 5.26 (services/neo4j_server.py): N rows (suggested
300,000) of Parquet nodes and relationships shaped like the reference graph (text, int,
double, date and UTC timestamp properties; relationships with and without properties), then
  raw     one UNWIND CREATE per batch of the same rows: no classify, ledger or checks;
  graph   classify + apply (strategy insert), as load_run drives them (graph_load.py).
Rows/s, wall and CPU seconds (this process, the Neo4j JVM) and the graph / raw ratios.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

import duckdb
import psycopg

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from datamig.config import load_config  # noqa: E402
from datamig.load import load_run  # noqa: E402
from datamig.load.parquet_source import pg_text, quote  # noqa: E402
from datamig.load import graph_load  # noqa: E402

DDL = """
CREATE TABLE people (
    id bigint PRIMARY KEY, district_id bigint NOT NULL, school_id bigint NOT NULL, first_name text, last_name text,
    email text, birth_date date, created_at timestamptz, updated_at timestamptz, score numeric(10,2),
    active boolean, tags text[], profile jsonb, ext_id uuid, note text);
CREATE TABLE events (
    id bigint PRIMARY KEY, person_id bigint NOT NULL, kind text, happened_at timestamptz, amount numeric(12,2),
    payload jsonb, flags text[], ok boolean, source text, seq integer);
CREATE TABLE scores (
    person_id bigint NOT NULL, term integer NOT NULL, subject text NOT NULL, grade numeric(5,2), graded_at timestamptz,
    teacher text, passed boolean, comment text, PRIMARY KEY (person_id, term, subject));
"""

GEN = {
    "people": """SELECT i::BIGINT AS id, 42::BIGINT AS district_id, (i % 40)::BIGINT AS school_id,
        'First' || (i % 997) AS first_name, 'Last' || (i % 1009) AS last_name, 'p' || i || '@example.test' AS email,
        DATE '2008-01-01' + (i % 3000)::INTEGER AS birth_date,
        TIMESTAMPTZ '2020-01-01 00:00:00+00' + to_microseconds(i * 1000003) AS created_at,
        TIMESTAMPTZ '2024-01-01 00:00:00+00' + to_seconds(i) AS updated_at,
        ((i % 100000) / 100)::DECIMAL(10,2) AS score, i % 3 <> 0 AS active,
        ['t' || (i % 5), 'g' || (i % 13)]::VARCHAR[] AS tags,
        json_object('grade', i % 13, 'notes', ['a', 'b']) AS profile, md5(i::VARCHAR)::UUID AS ext_id,
        CASE WHEN i % 7 = 0 THEN NULL ELSE 'note ' || i END AS note
        FROM range({n}) r(i)""",
    "events": """SELECT i::BIGINT AS id, (i % 500000)::BIGINT AS person_id, ['login', 'grade', 'absence'][1 + i % 3] AS kind,
        TIMESTAMPTZ '2024-09-01 00:00:00+00' + to_seconds(i) AS happened_at, ((i % 99999) / 10)::DECIMAL(12,2) AS amount,
        json_object('k', i % 17) AS payload, ['x', 'y']::VARCHAR[] AS flags, i % 2 = 0 AS ok, 'app' AS source,
        (i % 1000)::INTEGER AS seq FROM range({n}) r(i)""",
    "scores": """SELECT (i // 6)::BIGINT AS person_id, (2020 + (i % 6) // 3)::INTEGER AS term,
        ['math', 'reading', 'science'][1 + i % 3] AS subject, ((i % 400) / 100)::DECIMAL(5,2) AS grade,
        TIMESTAMPTZ '2024-06-01 00:00:00+00' + to_seconds(i) AS graded_at, 'T' || (i % 300) AS teacher,
        i % 5 <> 0 AS passed, CASE WHEN i % 4 = 0 THEN NULL ELSE 'ok' END AS comment FROM range({n}) r(i)""",
}
SHARE = {"people": 0.5, "events": 0.25, "scores": 0.25}
CONFIG = """
version: 1
stores:
  bench: {kind: postgres, prod_env: PROD_BENCH_URL, cert_env: CERT_BENCH_URL}
district: {store: bench, table: people, key: id}
extract: {out_dir: %s}
"""


def cluster_cpu(data_dir: Path) -> float:
    """CPU seconds of every process of the cluster so far: the postmaster, its live children, and
    (through the postmaster's cutime/cstime) every backend that already exited."""
    tick = os.sysconf("SC_CLK_TCK")
    pid = int((data_dir / "postmaster.pid").read_text().split()[0])
    total = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(entry.name) == pid:
            total += sum(int(f) for f in fields[11:15])  # utime, stime, cutime, cstime
        elif int(fields[1]) == pid:
            total += int(fields[11]) + int(fields[12])
    return total / tick


def self_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class Meter:
    def __init__(self, data_dir: Path | None):
        self.data_dir = data_dir

    def __enter__(self):
        self.wall, self.cpu = time.monotonic(), self._cpu()
        return self

    def __exit__(self, *exc):
        self.wall_s = time.monotonic() - self.wall
        time.sleep(0.5)  # closed connections' backends exit and are reaped: their CPU counts
        self.cpu_s = self._cpu() - self.cpu

    def _cpu(self) -> float:
        return self_cpu() + (cluster_cpu(self.data_dir) if self.data_dir else 0.0)


def generate(run_dir: Path, rows: int, changed: bool = False) -> dict[str, int]:
    final = run_dir / "final" / "bench"
    final.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    counts = {}
    for table, query in GEN.items():
        n = max(1, int(rows * SHARE[table]))
        select = query.format(n=n)
        if changed:  # 10% of the rows differ from the first run, in one column
            col, key = {"people": ("note", "id"), "events": ("source", "id"), "scores": ("teacher", "person_id")}[table]
            select = (f"SELECT * REPLACE (CASE WHEN {key} % 10 = 0 THEN 'changed' ELSE {col} END AS {col}) "
                      f"FROM ({select})")
        con.execute(f"COPY ({select}) TO '{final / (table + '.parquet')}' (FORMAT parquet, ROW_GROUP_SIZE 100000)")
        counts[table] = n
    con.close()
    (run_dir / "validation-report.json").write_text(json.dumps({"status": "PASSED", "district": 42}))
    return counts


def csv_for_copy(run_dir: Path, out: Path) -> dict[str, Path]:
    """The same rows as PostgreSQL CSV (arrays as array literals), made before the clock starts."""
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    files = {}
    for table in GEN:
        src = run_dir / "final" / "bench" / f"{table}.parquet"
        cols = con.execute(f"DESCRIBE SELECT * FROM read_parquet('{src}')").fetchall()
        exprs = ", ".join(f"{pg_text(c[0], c[1])} AS {quote(c[0])}" for c in cols)
        files[table] = out / f"{table}.csv"
        con.execute(f"COPY (SELECT {exprs} FROM read_parquet('{src}')) TO '{files[table]}' (FORMAT csv, HEADER false)")
    con.close()
    return files


def raw_copy(url: str, files: dict[str, Path]) -> None:
    with psycopg.connect(url) as conn:
        for table, path in files.items():
            with conn.cursor() as cur, cur.copy(f"COPY {table} FROM STDIN (FORMAT csv)") as copy, open(path, "rb") as fh:
                while block := fh.read(1 << 20):
                    copy.write(block)
        conn.commit()


def fresh_db(admin: str, name: str) -> str:
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {name}")
    url = admin.rsplit("/", 1)[0] + "/" + name
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(DDL)
    return url


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--url", help="superuser URL of a PostgreSQL 15 with max_prepared_transactions > 0")
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    parser.add_argument("--graph", action="store_true", help="the Neo4j part of the load instead")
    args = parser.parse_args()
    if args.graph:
        return graph_main(args)

    work = Path(tempfile.mkdtemp(prefix="datamig-bench-load-"))
    cluster = None
    try:
        if args.url:
            admin, data_dir = args.url, None
        else:
            from test_load_support import start_cluster

            cluster = start_cluster()
            admin, data_dir = cluster.url(), cluster.data_dir
        out = work / "runs"
        cfg_path = work / "datamig.yaml"
        cfg_path.write_text(CONFIG % out)
        cfg = load_config(cfg_path)

        started = time.monotonic()
        counts = generate(out / "mig-20250101-000000-d42", args.rows)
        generate(out / "mig-20250101-000002-d42", args.rows, changed=True)
        shutil.copytree(out / "mig-20250101-000000-d42", out / "mig-20250101-000001-d42")
        files = csv_for_copy(out / "mig-20250101-000000-d42", work)
        total = sum(counts.values())
        print(f"{total:,} rows ({', '.join(f'{t} {n:,}' for t, n in counts.items())}); "
              f"Parquet + CSV made in {time.monotonic() - started:.1f}s")

        raw, insert = [], []
        for rep in range(args.repeat):
            url = fresh_db(admin, "raw")
            with Meter(data_dir) as m:
                raw_copy(url, files)
            raw.append(m)
            url = fresh_db(admin, "cert")
            for stale in out.glob("*/load-*.json"):
                stale.unlink()
            with Meter(data_dir) as m:
                report = load_run(cfg, {"CERT_BENCH_URL": url}, out / "mig-20250101-000000-d42", strategy="insert")
            insert.append(m)
            assert report["status"] == "LOADED"
            print(f"  run {rep + 1}: raw COPY {raw[-1].wall_s:.2f}s ({raw[-1].cpu_s:.2f} CPU s), "
                  f"load_run insert {insert[-1].wall_s:.2f}s ({insert[-1].cpu_s:.2f} CPU s)")
        best_raw = min(raw, key=lambda m: m.wall_s)
        best_ins = min(insert, key=lambda m: m.wall_s)
        timings = report["stores"]["bench"]["timings"]
        with Meter(data_dir) as up:
            upsert = load_run(cfg, {"CERT_BENCH_URL": url}, out / "mig-20250101-000001-d42", strategy="upsert")
        with Meter(data_dir) as mg:
            merge = load_run(cfg, {"CERT_BENCH_URL": url}, out / "mig-20250101-000002-d42", strategy="merge")

        def line(name, m, extra=""):
            print(f"{name:<28}{m.wall_s:>8.2f}s {total / m.wall_s:>12,.0f} rows/s {m.cpu_s:>8.2f} CPU s{extra}")

        print()
        line("raw COPY FROM (best)", best_raw)
        line("load_run insert (best)", best_ins,
             f"   stage {timings.get('stage_s', 0):.2f}s, classify {timings.get('classify_s', 0):.2f}s, "
             f"write {timings.get('write_s', 0):.2f}s")
        line("load_run upsert (all rows)", up, f"   updated {upsert['totals']['updated']:,}")
        line("load_run merge (10% diff)", mg,
             f"   updated {merge['totals']['updated']:,}, unchanged {merge['totals']['unchanged']:,}")
        print(f"\ninsert / raw COPY: wall {best_ins.wall_s / best_raw.wall_s:.2f}, "
              f"CPU {best_ins.cpu_s / best_raw.cpu_s:.2f}" if data_dir else
              f"\ninsert / raw COPY: wall {best_ins.wall_s / best_raw.wall_s:.2f}")
        print("target: <= 2.0")
    finally:
        if cluster is not None:
            import _pg_cluster

            _pg_cluster.stop(cluster)
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


# --- --graph --------------------------------------------------------------------------------

GRAPH_NODES = {
    "Person": ("person_id", 0.3, """SELECT i::BIGINT AS person_id, 'First' || (i % 997) || ' Last' || (i % 1009) AS name,
        'p' || i || '@example.test' AS email, DATE '2008-01-01' + (i % 3000)::INTEGER AS born,
        TIMESTAMPTZ '2020-01-01 00:00:00+00' + to_seconds(i) AS created_at, (i % 1000) / 10.0 AS score
        FROM range({n}) r(i)"""),
    "Message": ("message_id", 0.2, """SELECT i::BIGINT AS message_id, 'Subject ' || (i % 50) AS subject,
        'Great progress this week! ' || i AS body, TIMESTAMPTZ '2024-09-01 00:00:00+00' + to_seconds(i) AS sent_at
        FROM range({n}) r(i)"""),
}
GRAPH_RELS = {  # {p}: Person count, {m}: Message count
    "SENT": (0.2, """SELECT 'Person' AS start_label, (i % {p})::BIGINT AS start_key, 'Message' AS end_label,
        i::BIGINT AS end_key FROM range({n}) r(i)"""),
    "KNOWS": (0.3, """SELECT 'Person' AS start_label, (i % {p})::BIGINT AS start_key, 'Person' AS end_label,
        ((i * 7919 + i // {p} + 1) % {p})::BIGINT AS end_key, DATE '2015-01-01' + (i % 3000)::INTEGER AS since
        FROM range({n}) r(i)"""),
}


def graph_final(out: Path, rows: int) -> tuple[dict, dict, dict, int]:
    """Node and relationship Parquet; relationship row counts are capped so that no (start, end)
    pair repeats."""
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    counts = {label: max(2, int(rows * share)) for label, (_, share, _) in GRAPH_NODES.items()}
    nodes, rels = {}, {}
    for label, (_, _, query) in GRAPH_NODES.items():
        nodes[label] = out / "nodes" / f"{label}.parquet"
        nodes[label].parent.mkdir(parents=True, exist_ok=True)
        con.execute(f"COPY ({query.format(n=counts[label])}) TO '{nodes[label]}' (FORMAT parquet)")
    total = sum(counts.values())
    for rtype, (share, query) in GRAPH_RELS.items():
        n = min(int(rows * share), counts["Message"] if rtype == "SENT" else counts["Person"])
        rels[rtype] = out / "relationships" / f"{rtype}.parquet"
        rels[rtype].parent.mkdir(parents=True, exist_ok=True)
        select = query.format(n=n, p=counts["Person"], m=counts["Message"])
        con.execute(f"COPY (SELECT DISTINCT ON (start_key, end_key) * FROM ({select})) TO '{rels[rtype]}' "
                    f"(FORMAT parquet)")
        total += con.execute(f"SELECT count(*) FROM '{rels[rtype]}'").fetchone()[0]
    con.close()
    return nodes, rels, {label: key for label, (key, _, _) in GRAPH_NODES.items()}, total


def jvm_cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def raw_create(graph, sets: list) -> None:
    for s in sets:
        if s.kind == "node":
            query = f"UNWIND $rows AS row CREATE (x:`{s.name}`) SET x = row.p"
        else:
            query = (f"UNWIND $rows AS row MATCH (a:`{s.start_label}` {{`{s.start_prop}`: row.s}}) "
                     f"MATCH (b:`{s.end_label}` {{`{s.end_prop}`: row.e}}) CREATE (a)-[x:`{s.name}`]->(b) SET x = row.p")
        for rows in graph_load.batches(s):
            graph.write(lambda tx, rows=rows: tx.run(query, rows=rows).consume(), doing="raw")


def graph_main(args) -> None:
    import secrets

    import _pg_cluster

    from datamig.config.model import StoreConfig
    from datamig.load.graph import GraphStore
    from datamig.services import neo4j_server

    work = Path(tempfile.mkdtemp(prefix="datamig-bench-graph-"))
    password = secrets.token_hex(12)
    port = _pg_cluster.free_port()
    pid = neo4j_server.start(ROOT, work / "neo4j", port, password, work / "neo4j.log")
    graph = GraphStore(StoreConfig("bench", "neo4j", "PROD_URL", "CERT_URL"), f"bolt://127.0.0.1:{port}", "neo4j",
                       password, {})
    try:
        nodes, rels, keys, total = graph_final(work / "final", args.rows)
        print(f"{total:,} rows ({', '.join(nodes)} nodes, {', '.join(rels)} relationships)")
        graph.ensure_constraints(keys)

        def measured(name, fn):
            graph.run("MATCH (n) CALL { WITH n DETACH DELETE n } IN TRANSACTIONS OF 10000 ROWS", "emptying")
            sets = graph_load.plan_sets("bench", nodes, rels, keys)
            wall, cpu, jvm = time.monotonic(), self_cpu(), jvm_cpu(pid)
            fn(sets)
            m = {"wall": time.monotonic() - wall, "cpu": self_cpu() - cpu, "jvm": jvm_cpu(pid) - jvm}
            print(f"{name:<34}{m['wall']:>8.2f}s {total / m['wall']:>10,.0f} rows/s   CPU s: python {m['cpu']:.2f}, "
                  f"Neo4j {m['jvm']:.2f}")
            return m

        def load(sets):
            graph_load.classify(graph, sets)
            for s in sets:
                s.strategy = "insert"
            graph_load.apply(graph, sets, "mig-20250101-000000-d42", 42, lambda _: None)

        measured("warm-up (raw, not counted)", lambda sets: raw_create(graph, sets))
        raw = measured("raw UNWIND CREATE", lambda sets: raw_create(graph, sets))
        ours = measured("graph classify + apply (insert)", load)
        print(f"\ngraph / raw: wall {ours['wall'] / raw['wall']:.2f}, "
              f"CPU {(ours['cpu'] + ours['jvm']) / (raw['cpu'] + raw['jvm']):.2f}")
    finally:
        graph.close()
        neo4j_server.stop(pid)
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
