"""Graph property values read as columns: Cypher hands over one list of values per property
(and per label or relationship type, per chunk), and Arrow builds each column from its list.

Why: the driver's cost is per Python object it makes. Temporal values are the dear ones: a
DateTime is hydrated into the driver's own type in pure Python (tens of microseconds each),
then `to_native()` makes a `datetime`, then Arrow reads it back. So Cypher tells, per column,
what it holds (a type predicate on every value) and sends temporal columns as plain integers that
Arrow turns into the same type with one cast:

- `plain`: only strings, integers, floats, booleans (and nulls): the values as they are;
- `date`: only dates: days since 1970-01-01 -> `date32`;
- `zoned`: only zoned datetimes, all in one fixed offset ('Z', '+01:00'): microseconds since
  the epoch (`epochMillis` and the rest of `nanosecond`, cut as `DateTime.to_native` cuts
  it; not `epochSeconds`, which rounds towards zero before 1970) -> `timestamp[us, tz]`, the
  zone's Arrow name taken from one value converted the old way;
- `raw`: anything else (lists, durations, named zones, mixes): the values as the driver gives
  them, each converted with `to_native()` as before.

In every case the column is what `pa.Table.from_pylist` made of the native values of the same
rows: same type, same values (the graph tests compare against an oracle of their own)."""
from __future__ import annotations

from itertools import compress

import pyarrow as pa
from neo4j.spatial import Point
from neo4j.time import Duration, Time

from ..errors import MigrationFailed

_OFFSET = r"Z|[+-][0-9]{2}:[0-9]{2}(:[0-9]{2})?"


def column(values: str) -> str:
    """Cypher expression: the list expression `values` as [tag, values converted(, sample)].
    Type predicates (`IS ::`, true for null too), not `valueType()`: no string per value."""
    zones = "reduce(zs = [], v IN vs | CASE WHEN v IS NULL OR v.timezone IN zs THEN zs ELSE zs + v.timezone END)"
    return (f"head([vs IN [{values}] | CASE "
            "WHEN all(v IN vs WHERE v IS :: STRING | INTEGER | FLOAT | BOOLEAN) THEN ['plain', vs] "
            "WHEN all(v IN vs WHERE v IS :: DATE) "
            "THEN ['date', [v IN vs | duration.inDays(date('1970-01-01'), v).days]] "
            # nested, not AND: Cypher does not promise to skip `.timezone` of a string
            "WHEN all(v IN vs WHERE v IS :: ZONED DATETIME) THEN CASE "
            f"WHEN all(zs IN [{zones}] WHERE size(zs) = 1 AND zs[0] =~ '{_OFFSET}') "
            "THEN ['zoned', [v IN vs | v.epochMillis * 1000 + v.nanosecond % 1000000 / 1000], "
            "head([v IN vs WHERE v IS NOT NULL])] "
            "ELSE ['raw', vs] END "
            "ELSE ['raw', vs] END])")


def columns(items: str) -> str:
    """Cypher expression: one [key, tag, values(, sample)] per property key of the list of nodes
    or relationships `items`, keys in order of first appearance."""
    keys = f"reduce(ks = [], x IN {items} | ks + [k IN keys(x) WHERE NOT k IN ks])"
    return f"[k IN {keys} | [k] + {column(f'[x IN {items} | x[k]]')}]"


PARAMS: dict = {}


def native(value):
    to_native = getattr(value, "to_native", None)
    if to_native is not None:
        return to_native()
    if isinstance(value, list):
        return [native(v) for v in value]
    return value


def arrow(col: list, keep: list[bool] | None = None) -> pa.Array:
    """The Arrow column of [tag, values(, sample)] (from `column`), only rows where `keep`."""
    tag, values = col[0], col[1]
    if keep is not None:
        values = list(compress(values, keep))
    if tag == "plain" or values.count(None) == len(values):
        return pa.array(values)
    if tag == "date":
        return pa.array(values, pa.int32()).cast(pa.date32())
    if tag == "zoned":
        return pa.array(values, pa.int64()).cast(pa.array([native(col[2])]).type)
    kind = next((k for v in values if type(v) not in _PLAIN and (k := _uncarried(v))), None)
    if kind:
        raise Uncarried(kind)
    return pa.array([native(v) for v in values])


class Uncarried(Exception):
    """Values no Parquet column carries into CERT as the graph holds them; args[0] says which."""


# what the driver hands over as it is; the raw path's lists are mostly of these (a type lookup
# per element, not four isinstance calls)
_PLAIN = frozenset((str, int, float, bool, type(None)))


def _uncarried(value) -> str | None:
    """What `value` is when Arrow would change its type: a point became a list of numbers, a
    duration a list of integers, a time with an offset a time without it."""
    kind = type(value)
    if kind in _PLAIN:
        return None
    if kind is list:
        return next((k for v in value if type(v) not in _PLAIN and (k := _uncarried(v))), None)
    if isinstance(value, Point):
        return "point"
    if isinstance(value, Duration):
        return "duration"
    if isinstance(value, Time) and value.tzinfo is not None:
        return "time-with-offset"
    return None


def mixed_types(store: str, owner: str, prop: str, kinds: list[str]) -> MigrationFailed:
    return MigrationFailed(f"graph store {store}: {owner}: property {prop!r} holds values of different types "
                           f"({', '.join(kinds)}), which one Parquet column cannot hold; give them one type in PROD")
