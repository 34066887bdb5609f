"""Which rows failed a test, told by their KEYS only.

A failing test's compiled SQL returns its failing rows, but what it returns varies (`select *`,
the tested value itself, an aggregate). The sample is always taken from the tested model and
projects only its key columns (primary key, foreign keys, surrogate ids: never a column whose
meta says PII), matched to the failing rows on whatever the two have in common. A test whose
output names no row of the model (a row count, a missing value) gets no sample.
"""
from __future__ import annotations

import datetime
import decimal
from collections.abc import Mapping, Sequence

from ..quoting import sql_ident as q

LIMIT = 5


def bare(name: str) -> str:
    """A column as a test's arguments name it (naming.quote: quoted, its quotes doubled, or plain)
    as the model names it."""
    if len(name) > 1 and name[0] == name[-1] == '"':
        return name[1:-1].replace('""', '"')
    return name


def tested_column(test: Mapping) -> str | None:
    """The column a test node tests: dbt's column_name, or for a test of a column named so SQL
    must quote it, which the scaffold puts on the model (marts.on_model), the column it names."""
    if test.get("column_name"):
        return test["column_name"]
    named = ((test.get("test_metadata") or {}).get("kwargs") or {}).get("column_name")
    return bare(named) if named else None


def model_key_columns(model: Mapping, tests: Sequence[Mapping]) -> list[str]:
    """Primary key first, then FK and surrogate-id columns; never a PII column.
    `model`: the manifest node; `tests`: the manifest test nodes attached to it."""
    columns = model.get("columns") or {}

    def is_pii(col: str) -> bool:
        meta = ((columns.get(col) or {}).get("meta") or {}).get("datamig") or {}
        return meta.get("pii") is not False  # unknown columns count as PII

    pk, other = [], []
    for t in tests:
        meta = t.get("test_metadata") or {}
        kwargs = meta.get("kwargs") or {}
        if ((t.get("config") or {}).get("meta") or t.get("meta") or {}).get("rule") == "unique_integrity":
            continue  # another unique key's test (scaffold.marts.key_tests), not the primary key's
        if meta.get("name") == "unique" and tested_column(t):
            pk.append(tested_column(t))
        elif meta.get("name") == "datamig_unique_key":
            pk += [bare(c) for c in kwargs.get("columns", [])]
        elif meta.get("name") == "datamig_relationship":
            other += [bare(c) for c in kwargs.get("columns", [])]
    other += [c for c, spec in columns.items()
              if (((spec.get("meta") or {}).get("datamig") or {}).get("rule") == "surrogate_key")]
    out: list[str] = []
    for col in pk + other:
        if col in columns and col not in out and not is_pii(col):
            out.append(col)
    return out


def _match(test_name: str, kwargs: Mapping, column: str | None, out_cols: list[str],
           model_cols: list[str]) -> str | None:
    """SQL condition tying a model row `m` to a failing row `f`, or None."""
    if column and test_name == "unique" and "unique_field" in out_cols:
        return f"m.{q(column)} is not distinct from f.unique_field"
    if column and test_name == "datamig_no_value_leak" and "v" in out_cols:
        if kwargs.get("is_array"):
            return f"list_contains(cast(m.{q(column)} as varchar[]), f.v)"
        return f"cast(m.{q(column)} as varchar) = f.v"
    if column and test_name == "datamig_no_text_leak" and "v" in out_cols:
        text = f"cast(m.{q(column)} as varchar)"
        return (f"(contains(lower({text}), f.v) or "
                f"contains(regexp_replace({text}, '[^0-9]', '', 'g'), f.v))")
    common = [c for c in out_cols if c in model_cols]
    if not common:
        return None
    return " and ".join(f"m.{q(c)} is not distinct from f.{q(c)}" for c in common)


def sample_keys(conn, compiled_sql: str, relation: str, key_cols: list[str], model_cols: list[str],
                test_name: str, kwargs: Mapping, column: str | None, limit: int = LIMIT) -> list[dict]:
    """Up to `limit` key tuples (as dicts) of model rows the test flags."""
    if not key_cols or not compiled_sql:
        return []
    failing = compiled_sql.strip().rstrip(";")
    out_cols = [d[0] for d in conn.execute(f"select * from ({failing}) as f limit 0").description]
    keys = ", ".join(q(k) for k in key_cols)
    if set(key_cols) <= set(out_cols):
        sql = f"select distinct {keys} from ({failing}) as f order by {keys} limit {int(limit)}"
    else:
        cond = _match(test_name, kwargs, column, out_cols, model_cols)
        if cond is None:
            return []
        mkeys = ", ".join(f"m.{q(k)}" for k in key_cols)
        sql = (f"select distinct {mkeys} from {relation} as m "
               f"where exists (select 1 from ({failing}) as f where {cond}) order by {mkeys} limit {int(limit)}")
    return [{k: _plain(v) for k, v in zip(key_cols, row)} for row in conn.execute(sql).fetchall()]


def _plain(value):
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, decimal.Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, (datetime.date, datetime.datetime, datetime.time)):
        return value.isoformat()
    return str(value)
