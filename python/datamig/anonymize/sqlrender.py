"""Render the dbt anonymize macros outside dbt (tests, benchmarks, ad-hoc DuckDB sessions).

The macros use only plain Jinja plus dbt's `exceptions.raise_compiler_error`, `modules.re`, `ref`
and `execute`, stubbed here, so the SQL rendered here is the SQL dbt compiles (`execute` false, as
when dbt parses: no database to ask whether int_pii_values is built). `ref(name)` renders the bare
name: mask_format and jsonb read the slice's real values from `int_pii_values` (kind, h, d), so a
session that runs their SQL creates that table (empty is fine: nothing to avoid).
"""
from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from types import SimpleNamespace

import jinja2

MACRO_DIR = Path(__file__).resolve().parents[3] / "macros"


class MacroError(ValueError):
    pass


def _raise(message: str):
    raise MacroError(message)


@lru_cache(maxsize=4)
def _module(macro_dir: str):
    files = [Path(macro_dir) / "anonymize.sql", *sorted((Path(macro_dir) / "anonymize").glob("*.sql"))]
    env = jinja2.Environment(undefined=jinja2.StrictUndefined)
    env.globals.update(exceptions=SimpleNamespace(raise_compiler_error=_raise), modules=SimpleNamespace(re=re),
                       ref=lambda name: name, execute=False)
    return env.from_string("\n".join(f.read_text() for f in files)).make_module()


def anonymize_sql(column_expr: str, strategy: str, macro_dir: Path = MACRO_DIR, **kwargs) -> str:
    """The SQL expression `{{ anonymize(column_expr, strategy, **kwargs) }}` compiles to."""
    return str(_module(str(macro_dir)).anonymize(column_expr, strategy, **kwargs)).strip()
