"""Secrets never reach a report: every string is passed through `envfile.redact` (the values
of variables named *PASSWORD*, *SALT*, *SECRET*, *TOKEN*) and loses any password written
into a URL (`scheme://user:password@host`)."""
from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from ..services.envfile import redact

URL_PASSWORD = re.compile(r"(?P<head>[a-zA-Z][a-zA-Z0-9+.-]*://[^:/@\s]+:)[^@\s/]+@")


def text(value: str, env: Mapping[str, str]) -> str:
    return URL_PASSWORD.sub(r"\g<head>***@", redact(value, env))


def deep(value: Any, env: Mapping[str, str]) -> Any:
    """The same structure with every string (keys included) scrubbed."""
    if isinstance(value, str):
        return text(value, env)
    if isinstance(value, Mapping):
        return {deep(k, env) if isinstance(k, str) else k: deep(v, env) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [deep(v, env) for v in value]
    return value
