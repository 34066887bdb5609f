"""DuckDB UDFs of the plugin.

- dm_domain_key(domain): K_d (keyed.py). A plain scalar UDF without side effects: DuckDB calls it
  at plan time for the constant domain of a query and folds the result; no per-row Python.

Arrow UDFs, for the strategies SQL alone cannot do fast or at all:
- dm_mask_format(value, domain, keep_country_code): keyed digit permutation (numpy, vectorized).
- dm_jsonb(value, spec_json): JSON documents (per document Python: JSON columns are not hot).

Arrow UDFs get a chunk of 2048 values per call (no per-row call from DuckDB). Their constant
arguments arrive as arrays; chunks are split by their distinct values (almost always one).
The key lives inside the closures' objects; no UDF ever formats it into an error.
"""
from __future__ import annotations

from typing import Callable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc


def _groups(*args: pa.Array):
    """Yield (constant args, row indices or None for all rows) for each distinct combination."""
    if all(a.null_count == 0 and pc.count_distinct(a).as_py() <= 1 for a in args):
        yield tuple(a[0].as_py() for a in args), None
        return
    keys = list(zip(*(a.to_pylist() for a in args)))
    for combo in dict.fromkeys(keys):
        yield combo, np.array([i for i, k in enumerate(keys) if k == combo])


def _by_groups(values: pa.Array, args: tuple[pa.Array, ...], fn: Callable) -> pa.Array:
    pieces, order = [], []
    for combo, idx in _groups(*args):
        if idx is None:
            return fn(values, *combo)
        pieces.append(fn(values.take(pa.array(idx)), *combo))
        order.append(idx)
    inverse = np.argsort(np.concatenate(order), kind="stable")
    return pa.concat_arrays([p.cast(pa.string()) for p in pieces]).take(pa.array(inverse))


def _per_value(fn: Callable) -> Callable:
    def run(values: pa.Array, *combo):
        return pa.array([fn(v, *combo) for v in values.to_pylist()], pa.string())
    return run


def _replace(conn, name: str) -> None:
    try:
        conn.remove_function(name)
    except Exception:  # not registered yet on this connection
        pass


def register(conn, engine) -> None:
    def mask_format(values, domains, keeps):
        def one(vals, domain, keep):
            if domain is None:
                return pa.nulls(len(vals), pa.string())
            return engine.permuter.transform(vals, domain, bool(keep))
        return _by_groups(values, (domains, keeps), one)

    def jsonb(values, specs):
        return _by_groups(values, (specs,), _per_value(lambda v, spec: engine.docs.anonymize_text(v, spec)))

    _replace(conn, "dm_domain_key")
    conn.create_function("dm_domain_key", engine.keys.domain_key, ["VARCHAR"], "VARCHAR", side_effects=False)
    udfs = [
        ("dm_mask_format", mask_format, ["VARCHAR", "VARCHAR", "BOOLEAN"]),
        ("dm_jsonb", jsonb, ["VARCHAR", "VARCHAR"]),
    ]
    for name, fn, params in udfs:
        _replace(conn, name)
        conn.create_function(name, fn, params, "VARCHAR", type="arrow",
                             null_handling="special", side_effects=False)
