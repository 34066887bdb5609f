"""The deterministic synthetic PROD estate (and CERT's own test data) every test and
benchmark runs against.

Modules, one job each:
  spec        scales, district rosters, reference data, the fixed "as of" date
  pools       small Faker-made dictionaries (names, streets...) picked from by index
  vec         vectorized column builders and seeded random streams
  gen_ids / gen_health / gen_adb / gen_graph   rows per store, derived from one shared World
  generate    generate(scale, seed) -> Estate (pure, deterministic)
  pg_writer   DDL, truncate, COPY; per-table checksums
  graph_writer  Neo4j constraints, wipe, batched UNWIND writes
  seed        apply_schemas / seed_prod / table_checksums (the CLI's entry points)
  cert_seed   seed_cert: CERT-only districts and deliberate key collisions with PROD
"""
from __future__ import annotations

__all__ = ["apply_schemas", "seed_prod", "seed_cert", "table_checksums", "generate"]


def __getattr__(name):
    # Lazy: importing datamig.estate must not pull in psycopg / neo4j / Faker.
    if name in ("apply_schemas", "seed_prod", "table_checksums"):
        from . import seed
        return getattr(seed, name)
    if name == "seed_cert":
        from .cert_seed import seed_cert
        return seed_cert
    if name == "generate":
        from .generate import generate
        return generate
    raise AttributeError(name)
