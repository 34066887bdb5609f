"""Whether a regex repeats, without a small bound, something that itself repeats without one:
`(?:[A-Za-z]+ ?)+`. Python's backtracking engine (the pii scan, free text scrubbed in the UDF
workers) can take time exponential in the text's length on such a pattern where it fails to
match, and a note of a few hundred characters then never finishes; DuckDB's RE2 does not
backtrack, so only the Python side hangs. A shape of the rules file is refused for it."""
from __future__ import annotations

try:  # Python 3.11+
    import re._constants as _c
    import re._parser as _p
except ImportError:  # pragma: no cover - older Pythons
    import sre_constants as _c  # type: ignore[no-redef]
    import sre_parse as _p  # type: ignore[no-redef]

SMALL = 10  # a repetition bounded by this many is cheap to backtrack into


def nested_repetition(pattern: str) -> bool:
    return _nested(_p.parse(pattern), inside=False)


def _nested(items, inside: bool) -> bool:
    for op, arg in items:
        if op in (_c.MAX_REPEAT, _c.MIN_REPEAT, getattr(_c, "POSSESSIVE_REPEAT", None)):
            _, most, body = arg
            big = most == _c.MAXREPEAT or most > SMALL
            if (inside and big) or _nested(body, inside or big):
                return True
        elif op == _c.SUBPATTERN and _nested(arg[-1], inside):
            return True
        elif op == _c.BRANCH and any(_nested(branch, inside) for branch in arg[1]):
            return True
        elif op in (_c.ASSERT, _c.ASSERT_NOT) and _nested(arg[1], inside):
            return True
    return False
