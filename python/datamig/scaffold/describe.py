"""What `dbt docs` says of a dataset and its columns: PROD's own comments (COMMENT ON), and in
the anonymized and final layers what datamig does to each column, so a reviewer reading the
column list sees which columns reach CERT as PROD holds them."""
from __future__ import annotations

import re

from ..anonymize.rules import Planned
from ..quoting import holds_jinja

# dbt renders descriptions as Jinja: a comment holding `{{`, `{%` or `{#` broke every parse
# a raw block ends at `{% endraw`, `{%- endraw` and `{%+ endraw` alike (Jinja's lstrip modifier):
# `{%+ endraw %}{{ env_var(...) }}{% raw %}` in a comment ran its Jinja at dbt's parse
_ENDRAW = re.compile(r"\{%([-+]?\s*endraw)")


def jinja_safe(text: str) -> str:
    if not holds_jinja(text):
        return text
    return "{% raw %}" + _ENDRAW.sub(r"{ %\1", text) + "{% endraw %}"


def joined(*parts: str) -> str:
    """Parts as sentences of one description (empty ones left out; a lone part as written)."""
    kept = [p.strip() for p in parts if p and p.strip()]
    return " ".join([p if p.endswith((".", "!", "?")) else p + "." for p in kept[:-1]] + kept[-1:])


def treatment(planned: Planned) -> str:
    if planned.rule is None:
        return "Not PII: copied as PROD holds it."
    if planned.strategy == "preserve":
        return f"Kept as PROD holds it (rule `{planned.rule.name}`: preserve)."
    return f"PII: replaced by `{planned.strategy}` (rule `{planned.rule.name}`)."


def column(comment: str, planned: Planned | None = None) -> str:
    """A column's description: PROD's comment, then (in the layers that change values) what is done."""
    return joined(jinja_safe(comment), treatment(planned) if planned is not None else "")
