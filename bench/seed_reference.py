"""Benchmark: generate (and, with servers, write) the `reference` estate; print time and
rows/s per store. Not a test.

    python bench/seed_reference.py                 # generation only
    python bench/seed_reference.py --write         # also seed PROD (overwrites it!) using
                                                   # DATAMIG_PG_ADMIN_URL / PROD_SP_* from the
                                                   # environment or .datamig/services.env
Budget: generate + write in under 3 minutes on 2 cores.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "python"))

from datamig.estate import spec  # noqa: E402
from datamig.estate.generate import generate  # noqa: E402


def _rate(rows: int, seconds: float) -> str:
    return f"{rows:>10,} rows {seconds:7.2f} s {rows / seconds if seconds else 0:>12,.0f} rows/s"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", default="reference", choices=sorted(spec.SCALES))
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--write", action="store_true", help="seed PROD too (overwrites PROD)")
    args = parser.parse_args()

    start = time.perf_counter()
    estate = generate(args.scale, args.seed)
    gen_seconds = time.perf_counter() - start
    print(f"generate {args.scale} seed={args.seed}: {_rate(estate.total_rows() + estate.graph.node_count() + estate.graph.rel_count(), gen_seconds)}"
          " (all stores, graph items included)")
    for store, tables in estate.pg.items():
        print(f"  {store:5} {sum(t.num_rows for t in tables.values()):>10,} rows in {len(tables)} tables")
    print(f"  sp    {estate.graph.node_count():>10,} nodes, {estate.graph.rel_count():,} relationships")

    # District 42 alone (the generator builds each district independently of the others).
    size = dict(spec.SCALES[args.scale].districts)[spec.ROOT_DISTRICT]
    alone = generate(spec.Scale("root-only", ((spec.ROOT_DISTRICT, size),), spec.SCALES[args.scale].fact_days,
                                spec.SCALES[args.scale].messages_per_student), args.seed)
    print(f"district {spec.ROOT_DISTRICT} alone ({size} students):",
          ", ".join(f"{s.upper()} {sum(t.num_rows for t in ts.values()):,}" for s, ts in alone.pg.items()),
          f", SP {alone.graph.node_count():,} nodes / {alone.graph.rel_count():,} rels")

    if not args.write:
        return 0
    from datamig.estate.seed import seed_prod
    from datamig.services.envfile import load_env

    env = load_env(ROOT)
    if "DATAMIG_PG_ADMIN_URL" not in env:
        print("no DATAMIG_PG_ADMIN_URL (run `datamig services up` first)", file=sys.stderr)
        return 2
    start = time.perf_counter()
    summary = seed_prod(env, args.scale, args.seed,
                        progress=lambda m: print(f"  {time.perf_counter() - start:6.1f} s  {m}", flush=True))
    total = time.perf_counter() - start
    seconds = summary["meta"]["seconds"]
    print(f"seed_prod {args.scale}: {total:.1f} s total (generate {seconds['generate']:.1f} s; "
          "PostgreSQL and Neo4j written concurrently)")
    for store in spec.PG_STORES:
        print(f"  {store:5} {_rate(sum(summary[store].values()), seconds[store])}")
    if not summary["sp"]["skipped"]:
        items = summary["sp"]["nodes"] + summary["sp"]["relationships"]
        print(f"  sp    {_rate(items, seconds['sp'])} (nodes + relationships)")
    print("within the 3-minute budget" if total < 180 else "OVER the 3-minute budget")
    return 0


if __name__ == "__main__":
    sys.exit(main())
