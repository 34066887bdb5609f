"""Reading a store's connection settings from the environment."""
from __future__ import annotations

from collections.abc import Mapping

from ..errors import ConfigError


def store_setting(env: Mapping[str, str], name: str | None, store: str) -> str:
    """The value of `name`, or a one-line ConfigError naming the store and the variable."""
    value = env.get(name) if name else None
    if not value:
        raise ConfigError(f"store {store}: environment variable {name} is not set (run `datamig services up`?)")
    return value
