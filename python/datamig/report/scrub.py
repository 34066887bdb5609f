"""Secrets never reach a report: every string is passed through `envfile.redact` (the values
of variables named *PASSWORD*, *SALT*, *SECRET*, *TOKEN*) and loses any password written
into a connection setting (`scheme://user:password@host`, `password=...`)."""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..services.envfile import redact


def text(value: str, env: Mapping[str, str]) -> str:
    return redact(value, env)


def deep(value: Any, env: Mapping[str, str]) -> Any:
    """The same structure with every string (keys included) scrubbed."""
    if isinstance(value, str):
        return text(value, env)
    if isinstance(value, Mapping):
        return {deep(k, env) if isinstance(k, str) else k: deep(v, env) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [deep(v, env) for v in value]
    return value
