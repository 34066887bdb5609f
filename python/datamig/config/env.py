"""Reading a store's connection settings from the environment."""
from __future__ import annotations

from collections.abc import Mapping

from ..errors import ConfigError
from ..pg_address import refuse_unreadable
from .model import StoreConfig


def store_setting(env: Mapping[str, str], name: str | None, store: str) -> str:
    """The value of `name`, or a one-line ConfigError naming the store and the variable."""
    value = env.get(name) if name else None
    if not value:
        raise ConfigError(f"store {store}: environment variable {name} is not set (run `datamig services up`?)")
    return value


def postgres_setting(env: Mapping[str, str], name: str | None, store: str) -> str:
    """A PostgreSQL store's URL (store_setting), refused in one line if libpq could not read it."""
    return refuse_unreadable(store, store_setting(env, name, store))


def graph_login(env: Mapping[str, str], store: StoreConfig, target: str = "prod") -> tuple[str, str, str]:
    """(url, user, password) of a Neo4j store: URL and password required, the user `neo4j`
    unless set."""
    url_var, user_var, password_var = store.env_names(target)
    return (store_setting(env, url_var, store.name), env.get(user_var) or "neo4j",
            store_setting(env, password_var, store.name))
