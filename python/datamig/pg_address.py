"""Where a PostgreSQL URL points, and the one-line error when it cannot be reached: every
phase names a store's server the same way and never shows its password (libpq's messages
can echo the DSN)."""
from __future__ import annotations

import re

import psycopg
from psycopg.conninfo import conninfo_to_dict

from .errors import ConnectionFailed


UNREADABLE = "libpq cannot read the connection setting"
BAD_TIMEOUT = "its connect_timeout is not a whole number of seconds"
# libpq reads the number into a C int
INT_RANGE = (-2**31, 2**31 - 1)
BIG_TIMEOUT = f"its connect_timeout is out of the range libpq reads ({INT_RANGE[0]} to {INT_RANGE[1]} seconds)"
UNESCAPED = "its user or password holds an unescaped '/' or '@' (write them as %2F and %40)"


def conninfo(url: str) -> dict:
    """The URL's settings; {} when it cannot be parsed or would be misread (why_unreadable)."""
    if _unescaped_userinfo(url):
        return {}
    try:
        return conninfo_to_dict(url)
    except psycopg.Error:
        return {}


def why_unreadable(url: str) -> str | None:
    """Why a (non-empty) setting names no server that may be shown, or libpq would refuse it; or None."""
    if _unescaped_userinfo(url):
        return UNESCAPED
    if not url.strip():
        return None
    info = conninfo(url)
    if not info:
        return UNREADABLE
    # psycopg reads connect_timeout itself (a traceback, not an OperationalError) unless a caller
    # passes its own, and libpq then refuses it in DuckDB's scanner: refused alike, up front
    timeout = info.get("connect_timeout", "0")
    if not re.fullmatch(r"\s*[+-]?[0-9]+\s*", timeout):
        return BAD_TIMEOUT
    if not INT_RANGE[0] <= int(timeout) <= INT_RANGE[1]:
        # psycopg takes it (a Python int); the extract's scanner (libpq) refused it, saying not why
        return BIG_TIMEOUT
    return None


# How datamig's sessions print values, whatever the database or role sets (ALTER DATABASE/ROLE
# ... SET): psycopg parses timestamps only in the ISO style and intervals only in the postgres
# style (a traceback otherwise), and text datamig keeps from a session (a partition's bounds) must
# read back the same in DuckDB and in any other session. DateStyle ISO leaves the input order.
OUTPUT_SETTINGS = {"DateStyle": "ISO", "IntervalStyle": "postgres", "TimeZone": "UTC"}


def output_options(url: str) -> str:
    """libpq `options` for a connection to `url`: its own, then OUTPUT_SETTINGS (a keyword
    argument to connect() replaces the URL's options rather than adding to them)."""
    pinned = " ".join(f"-c {name}={value}" for name, value in OUTPUT_SETTINGS.items())
    return f"{conninfo(url).get('options', '')} {pinned}".strip()


def refuse_unreadable(store: str, url: str) -> str:
    """The URL, or the same one line a failed connection gives when libpq could not read it."""
    if why_unreadable(url):
        raise cannot_connect(store, url, None)
    return url


def _unescaped_userinfo(url: str) -> bool:
    """libpq ends a URL's user:password at its first '/' and its host at its first '@':
    `u:pa/ss@h` reads as host u, port pa, database ss@h; `u:p@ss@h` as host ss@h. Each error
    naming that "address" showed part of the password."""
    _, sep, rest = url.strip().partition("://")
    authority = re.split(r"[?#]", rest, maxsplit=1)[0]
    if not sep or "@" not in authority:
        return False
    userinfo = authority[:authority.rindex("@")]
    return "/" in userinfo or "@" in userinfo


def host_port(url: str) -> str:
    info = conninfo(url)
    if not info and url.strip():  # libpq could not read it: no host to name (and the text may hold a password)
        return "(an unreadable connection setting)"
    return f"{info.get('host') or 'localhost'}:{info.get('port') or 5432}"


def cannot_connect(store: str, url: str, exc: Exception | None) -> ConnectionFailed:
    """`store <name>: cannot connect to PostgreSQL at host:port: <libpq's reason>`."""
    return ConnectionFailed(f"store {store}: cannot connect to PostgreSQL at {host_port(url)}: {reason(exc, url)}")


def reason(exc: Exception | None, url: str) -> str:
    """The last clause of libpq's first line (e.g. 'Connection refused'), secrets removed."""
    why = why_unreadable(url)
    if why:
        # libpq's parse error quotes the setting ('missing "=" after "secretword"'): its password,
        # which no parse can point out
        return why
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    reason = lines[0].rsplit(" failed: ", 1)[-1] if lines else type(exc).__name__
    reason = re.sub(r"^(FATAL|ERROR):\s+", "", reason)
    for secret in (url, conninfo(url).get("password")):
        if secret:
            reason = reason.replace(str(secret), "***")
    return reason
