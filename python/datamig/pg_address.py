"""Where a PostgreSQL URL points, and the one-line error when it cannot be reached: every
phase names a store's server the same way and never shows its password (libpq's messages
can echo the DSN)."""
from __future__ import annotations

import re

import psycopg
from psycopg.conninfo import conninfo_to_dict

from .errors import ConnectionFailed


def conninfo(url: str) -> dict:
    """The URL's settings; {} when it cannot be parsed (the connection attempt says why)."""
    try:
        return conninfo_to_dict(url)
    except psycopg.Error:
        return {}


def host_port(url: str) -> str:
    info = conninfo(url)
    if not info and url.strip():  # libpq could not read it: no host to name (and the text may hold a password)
        return "(an unreadable connection setting)"
    return f"{info.get('host') or 'localhost'}:{info.get('port') or 5432}"


def cannot_connect(store: str, url: str, exc: Exception) -> ConnectionFailed:
    """`store <name>: cannot connect to PostgreSQL at host:port: <libpq's reason>`."""
    return ConnectionFailed(f"store {store}: cannot connect to PostgreSQL at {host_port(url)}: {reason(exc, url)}")


def reason(exc: Exception, url: str) -> str:
    """The last clause of libpq's first line (e.g. 'Connection refused'), secrets removed."""
    if not conninfo(url) and url.strip():
        # libpq's parse error quotes the setting ('missing "=" after "secretword"'): its password,
        # which no parse can point out
        return "libpq cannot read the connection setting"
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    reason = lines[0].rsplit(" failed: ", 1)[-1] if lines else type(exc).__name__
    reason = re.sub(r"^(FATAL|ERROR):\s+", "", reason)
    for secret in (url, conninfo(url).get("password")):
        if secret:
            reason = reason.replace(str(secret), "***")
    return reason
