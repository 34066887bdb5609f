"""DuckDB UDFs of the plugin.

- dm_domain_key(domain): K_d (keyed.py). A plain scalar UDF without side effects: DuckDB calls it
  at plan time for the constant domain of a query and folds the result; no per-row Python.
- dm_dict_size(name) UBIGINT, dm_setting(name) VARCHAR: a fake dictionary's size and the rules'
  settings, folded the same way. UDFs live on the connection and every cursor dbt-duckdb derives
  from it, unlike DuckDB variables (per cursor: re-setting 40k dictionary strings on each dbt
  node's cursor cost 0.1-0.5 s per node).
- The dictionaries themselves are a table, dm_lib.main.dictionaries(name, entries VARCHAR[]),
  which dm_lib.pick reads through a scalar subquery (sql_library.sql).
- dm_pick(name, i): the i-th entry (1-based) of a dictionary, an Arrow UDF for the picks inside
  a lambda (text[] elementwise), where a subquery cannot go.

Arrow UDFs, for the strategies SQL alone cannot do fast or at all:
- dm_taken(relation) VARCHAR: reads int_pii_values (the slice's real values, encrypted) once and
  returns a token for the two below (taken.py); folded once per query like the lookups.
- dm_mask_format(value, domain, keep_country_code, letters, taken): keyed digit (and letter;
  without `letters`, the letters of words but kept labels: mask_words.py) permutation (numpy,
  vectorized); a fake that is a real phone/SSN of the slice walks on.
- dm_jsonb(value, spec_json, taken, names[]): JSON documents (per document Python: JSON columns are
  not hot); the document's free text loses `names` (the row's) and every name in the document.
- dm_scrub_names(text, names[]): scrub_text's name removal for the rows it can prove it does exactly
  as the SQL regex chain would (names.NameScrubber); NULL for the others, which SQL then does.
These three run in worker processes (udf_workers.py), off the GIL dbt's threads share.
- dm_full_name_known(name, first_domain, last_domain, taken): a full name of 3+ words that the slice's
  first and last name columns split, faked as they are (Fakes.known_full_name); NULL for the others,
  which dm_lib.full_name then fakes itself. Few values reach it (SQL sends only 3+ words): it runs here.

Arrow UDFs get a chunk of 2048 values per call (no per-row call from DuckDB). Their constant
arguments arrive as arrays; chunks are split by their distinct values (almost always one).
The key lives inside the closures' objects; no UDF ever formats it into an error.
"""
from __future__ import annotations

from typing import Callable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .sql_library import LIBRARY, attach_library
from .udf_workers import shared_pool


def _groups(*args: pa.Array):
    """Yield (constant args, row indices or None for all rows) for each distinct combination."""
    # Each value equal to the next (NULL to NULL too: int_pii_values' own `d` passes a NULL
    # token): one Arrow comparison, ~1/10 of a count_distinct call, paid per arg and chunk.
    if all(len(a) <= 1 or a.slice(1).equals(a.slice(0, len(a) - 1)) for a in args):
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


def _array(values: pa.Array | pa.ChunkedArray) -> pa.Array:
    """DuckDB hands an Arrow UDF chunked arrays (one chunk, almost always)."""
    return values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values


def _replace(conn, name: str) -> None:
    try:
        conn.remove_function(name)
    except Exception:  # not registered yet on this connection
        pass


def _create_dictionaries(conn, dicts: dict[str, list[str]]) -> None:
    """dm_lib.main.dictionaries(name, entries VARCHAR[]): what dm_lib.pick reads (sql_library.sql)."""
    table = pa.table({"name": pa.array(list(dicts), pa.string()),
                      "entries": pa.array(list(dicts.values()), pa.list_(pa.string()))})
    attach_library(conn)
    conn.register("__dm_dictionaries", table)
    try:
        conn.execute(f"CREATE OR REPLACE TABLE {LIBRARY}.main.dictionaries AS SELECT * FROM __dm_dictionaries")
    finally:
        conn.unregister("__dm_dictionaries")


def register(conn, engine) -> None:
    _register_dictionaries(conn, engine)
    _register_constants(conn, engine)
    _register_worker_udfs(conn, engine, shared_pool())
    _register_known_names(conn, engine)


def _lookup(table: dict, what: str) -> Callable:
    def get(name: str):
        try:
            return table[name]
        except KeyError:
            raise ValueError(f"no {what} named {name!r}; known: {', '.join(sorted(table))}") from None
    return get


def _register_dictionaries(conn, engine) -> None:
    dicts = {name: list(values) for name, values in engine.dicts.items()}
    dict_array = _lookup({name: pa.array(values, pa.string()) for name, values in dicts.items()}, "fake dictionary")

    def pick(names, indexes):
        # 1-based like a list subscript; the index is already reduced mod the dictionary size
        return _by_groups(indexes, (names,), lambda idx, name: dict_array(name).take(pc.subtract(idx, 1)))

    _create_dictionaries(conn, dicts)
    _replace(conn, "dm_pick")
    conn.create_function("dm_pick", pick, ["VARCHAR", "BIGINT"], "VARCHAR", type="arrow", side_effects=False)


def _register_constants(conn, engine) -> None:
    """UDFs called with a constant argument: DuckDB calls them while planning, once per query."""
    def taken(relation):
        return engine.taken.load(conn, relation)

    sizes = {name: len(values) for name, values in engine.dicts.items()}
    folded = [
        ("dm_domain_key", engine.keys.domain_key, "VARCHAR"),
        ("dm_taken", taken, "VARCHAR"),
        ("dm_dict_size", _lookup(sizes, "fake dictionary"), "UBIGINT"),
        ("dm_setting", _lookup(engine.settings_for_sql(), "anonymization setting"), "VARCHAR"),
    ]
    for name, fn, returns in folded:
        _replace(conn, name)
        conn.create_function(name, fn, ["VARCHAR"], returns, side_effects=False)


def _register_known_names(conn, engine) -> None:
    def known(values, first_domains, last_domains, tokens):
        def one(names, fd, ld, token):
            taken = engine.taken.get(token)
            return pa.array([None if n is None else engine.fakes.known_full_name(n, fd, ld, taken)
                             for n in _array(names).to_pylist()], pa.string())
        return _by_groups(values, (first_domains, last_domains, tokens), one)

    _replace(conn, "dm_full_name_known")
    conn.create_function("dm_full_name_known", known, ["VARCHAR"] * 4, "VARCHAR", type="arrow",
                         null_handling="special", side_effects=False)


def _register_worker_udfs(conn, engine, workers) -> None:
    """The Arrow UDFs whose work runs in the UDF worker processes (names, masks, documents)."""
    def mask_format(values, domains, keeps, letters, tokens):
        def one(vals, domain, keep, letter, token):
            if domain is None:
                return pa.nulls(len(vals), pa.string())
            return workers.mask_format(engine, vals, domain, bool(keep), bool(letter), token)
        return _by_groups(values, (domains, keeps, letters, tokens), one)

    placeholder = engine.settings.scrub_placeholders["name"]

    def scrub_names(texts, names):
        return workers.scrub_names(placeholder, texts, names)

    def jsonb(values, specs, tokens, names):
        # the row's names travel with its document: a chunk split by spec takes them alike
        both = pa.StructArray.from_arrays([_array(values), _array(names)], ["doc", "names"])
        return _by_groups(both, (specs, tokens), lambda rows, spec, token: workers.anonymize_docs(
            engine, rows.field("doc"), rows.field("names"), spec, token))

    udfs = [
        ("dm_mask_format", mask_format, ["VARCHAR", "VARCHAR", "BOOLEAN", "BOOLEAN", "VARCHAR"]),
        ("dm_jsonb", jsonb, ["VARCHAR", "VARCHAR", "VARCHAR", "VARCHAR[]"]),
        ("dm_scrub_names", scrub_names, ["VARCHAR", "VARCHAR[]"]),
    ]
    for name, fn, params in udfs:
        _replace(conn, name)
        conn.create_function(name, fn, params, "VARCHAR", type="arrow",
                             null_handling="special", side_effects=False)
