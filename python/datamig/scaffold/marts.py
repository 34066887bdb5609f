"""The final layer: one table per dataset (what the loader pushes into CERT), exported as
Parquet under the run's final/ folder, with key integrity and PII-leak tests."""
from __future__ import annotations

from ..anonymize.rules import Planned
from ..quoting import jinja_literal
from . import describe, naming
from .layout import Dataset
from .staging import HEADER

# Strategies whose output must differ from the input on every row (free text may legitimately
# come through unchanged when it holds no PII, so scrub_text/jsonb get the text test instead).
ROW_LEAK = {"faker", "hash", "tokenize", "mask_format", "shift_date"}
# High-entropy PII: no output value may equal any input value of the column anywhere.
VALUE_LEAK_PROVIDERS = {"email", "phone", "ssn", "street", "user_name"}
VALUE_LEAK_STRATEGIES = {"hash", "tokenize", "mask_format"}
TEXT_STRATEGIES = {"scrub_text", "jsonb"}


def final_sql(ds: Dataset) -> str:
    """On DuckDB (the transform): a table of the anonymized model, exported as Parquet. On
    PostgreSQL (target cert, `validate-migration`): the CERT table restricted to the run's
    keys (macros/cert.sql), so the same tests judge what was loaded; graph datasets have no
    PostgreSQL table and are disabled there."""
    order = ", ".join(naming.quote(k) for k in ds.key)
    duckdb = (f"{{{{ config(materialized='table', post_hook=\"{{{{ datamig_export('{ds.parquet}') }}}}\") }}}}\n\n"
              f"select * from {{{{ ref('{naming.anonymized(ds.store, ds.name)}') }}}}\norder by {order}\n")
    if ds.kind == "table":
        # the key comes from what the run recorded (macros/cert.sql); a Jinja string: a quote in
        # the table's name ended the literal
        alias = naming.cert_alias(ds.final_model)
        alias = f", alias='{alias}'" if alias else ""
        cert = (f"{{{{ config(materialized='ephemeral'{alias}) }}}}\n\n"
                f"{{{{ datamig_cert_rows({jinja_literal(ds.name)}) }}}}\n")
    else:
        cert = "{{ config(enabled=false) }}\n\nselect 1 as not_in_postgres\n"
    return f"{HEADER}{{% if target.type == 'postgres' %}}\n{cert}{{% else %}}\n{duckdb}{{% endif %}}\n"


def on_model(column: str, tests: list) -> list:
    """A column's tests as tests of its model naming the column quoted. For a name SQL must
    quote ("parent's name"): dbt splices a column test's name into the SQL as written (or, with
    `quote: true`, between double quotes it does not escape), so `where parent's name is null`
    failed every such test."""
    out = []
    for test in tests:
        name, spec = (test, {}) if isinstance(test, str) else next(iter(test.items()))
        out.append({name: {"column_name": naming.quote(column), **spec}})
    return out


def _ref(model: str) -> str:
    return f"ref('{model}')"


def key_tests(ds: Dataset) -> tuple[dict[str, list], list]:
    """(column tests, model tests) for the identifying key, then the table's other unique keys:
    anonymizing a unique column must keep its values unique, or CERT refuses the load. Those are
    judged as PostgreSQL judges them, a row with a NULL in the key clashing with none."""
    columns: dict[str, list] = {}
    model: list = []
    if len(ds.key) == 1:
        columns[ds.key[0]] = ["unique", "not_null"]
    else:
        model.append({"datamig_unique_key": {"arguments": {"columns": [naming.quote(k) for k in ds.key]}}})
    nulls_clash = {frozenset(k) for k in ds.nulls_not_distinct}
    for key in _other_unique_keys(ds):
        quoted = [naming.quote(k) for k in key]
        if frozenset(key) in nulls_clash:  # NULLS NOT DISTINCT: dbt's unique test passes over NULLs
            model.append({"datamig_unique_key": {"arguments": {"columns": quoted, "nulls_not_distinct": True},
                                                 **_unique_integrity()}})
        elif len(key) == 1:  # dbt's unique test passes over NULLs
            columns.setdefault(key[0], []).append({"unique": _unique_integrity()})
        else:
            model.append({"datamig_unique_key": {"arguments": {"columns": quoted, "nulls_distinct": True},
                                                 **_unique_integrity()}})
    return columns, model


def _unique_integrity() -> dict:
    """A test's config naming it apart from the identifying key's (pk_integrity) in the
    validation report; a new dict each time, or the YAML dump wrote anchors (&id001) into the
    generated models."""
    return {"config": {"meta": {"rule": "unique_integrity"}}}


def _other_unique_keys(ds: Dataset) -> list[tuple[str, ...]]:
    """The unique keys besides the identifying one, each once."""
    return ds.distinct_keys()[1:]


def fk_tests(ds: Dataset, by_id: dict[str, Dataset]) -> list:
    tests = []
    seen = set()
    edges = {(fk.columns, fk.parent, fk.ref_columns) for fk in ds.foreign_keys if fk.parent in by_id}
    for fk in ds.foreign_keys:
        parent = by_id.get(fk.parent)
        # An FK declared on each of several partitions is one edge of the partitioned table: one
        # test of it, as two tests of one name stop dbt's parse
        edge = (fk.columns, fk.parent, fk.ref_columns)
        if parent is None or edge in seen:
            continue
        seen.add(edge)
        rows = _partition_rows([f for f in ds.foreign_keys if (f.columns, f.parent, f.ref_columns) == edge])
        if rows is None:
            continue
        name = f"fk_{ds.store}__{ds.name}__{_columns_part(fk.columns)}"
        if sum(e[0] == fk.columns for e in edges) > 1:  # the same columns point at two parents: name each
            name += f"__to_{parent.store}__{parent.name}__{_columns_part(fk.ref_columns)}"
        arguments = {"columns": [naming.quote(c) for c in fk.columns], "to": _ref(parent.final_model),
                     "to_columns": [naming.quote(c) for c in fk.ref_columns]}
        if rows:
            arguments["row_filter"] = describe.jinja_safe(rows)
        tests.append({"datamig_relationship": {
            "name": naming.test_name(name), "arguments": arguments,
            "config": {"severity": "error", "meta": {"rule": "fk_integrity", "declared": fk.declared}}}})
    return tests


def _columns_part(columns: tuple[str, ...]) -> str:
    # "the district" in an FK test's name stopped dbt's parse ("Resource names cannot contain spaces")
    return "_".join(naming.column_in_test_name(c) for c in columns)


def _partition_rows(fks: list) -> str | None:
    """The rows an edge's FKs hold for, as SQL DuckDB and PostgreSQL both read: "" for every row
    (one is declared on the table itself), the partitions' constraints (declared on partitions
    only: another partition's values in those columns are no keys of that parent, and tested,
    failed), or None when a constraint has no such SQL (a hash partition's, or none read)."""
    if any(not fk.partition for fk in fks):
        return ""
    filters = [fk.partition_filter for fk in fks]
    if not all(filters) or any("satisfies_hash_partition" in f for f in filters):
        return None  # untested here; CERT's own FK on the partition holds for it
    return " or ".join(f"({f})" for f in dict.fromkeys(filters))


def graph_end_tests(ds: Dataset, nodes_by_label: dict[str, Dataset], ends: list[tuple[str, str]]) -> list:
    """Every relationship end is a node of the slice (matched by label and business key)."""
    tests = []
    for side, label in ends:
        node = nodes_by_label.get(label)
        if node is None:
            continue
        tests.append({"datamig_relationship": {
            "name": f"rel_{ds.graph_name.lower()}__{side}_{label.lower()}",
            "arguments": {"columns": [f"{side}_key"], "to": _ref(node.final_model), "to_columns": [node.key[0]],
                          "row_filter": f"{side}_label = '{label}'"},
            "config": {"severity": "error", "meta": {"rule": "graph_integrity"}}}})
    return tests


def leak_tests(ds: Dataset, planned: dict[str, Planned], shapes: dict[str, str]) -> dict[str, list]:
    """Column tests proving the output holds none of the input's PII (DuckDB only: they read
    the staging models, i.e. the original values)."""
    staging = _ref(naming.staging(ds.store, ds.name))
    out: dict[str, list] = {}
    for column, p in planned.items():
        if p.rule is None:
            continue
        tests = []
        quoted = naming.quote(column)
        cfg = {"severity": "error", "tags": ["leak"], "meta": {"rule": "pii_leak", "pii_rule": p.rule.name}}
        # The value test is the stronger one: a row that kept its own value is an output value
        # found among the column's inputs, and its failure sample names that row. A column with
        # it needs no row test (49 fewer dbt nodes in this project, each ~20 ms of dbt's time).
        value_test = p.strategy in VALUE_LEAK_STRATEGIES or p.provider in VALUE_LEAK_PROVIDERS
        if p.strategy in ROW_LEAK and len(ds.key) and column not in ds.key and not value_test:
            tests.append({"datamig_no_row_leak": {"arguments": {
                "source": staging, "key_columns": [naming.quote(k) for k in ds.key]}, "config": cfg}})
        if value_test:
            args = {"source": staging, "source_column": quoted}
            if ds.columns[column].endswith("[]"):
                args["is_array"] = True
            tests.append({"datamig_no_value_leak": {"arguments": args, "config": cfg}})
        if p.strategy in TEXT_STRATEGIES:
            # the shapes int_pii_values keeps the slice's real values of (pii_values.py)
            leak_shapes = {kind: shape for kind, shape in shapes.items() if kind in ("email", "phone", "ssn")}
            tests.append({"datamig_no_text_leak": {"arguments": {"shapes": leak_shapes}, "config": cfg}})
        if tests:
            out[column] = tests
    return out
