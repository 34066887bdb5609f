"""A Neo4j store's URL, checked before a driver is made of it: the driver takes http:// and
https:// too (its HTTP query API), and then fails on a missing module with a traceback."""
from __future__ import annotations

import logging
from collections.abc import Mapping
from urllib.parse import urlsplit

from ..errors import ConfigError
from .model import Config, StoreConfig

NEO4J_SCHEMES = ("bolt", "bolt+s", "bolt+ssc", "neo4j", "neo4j+s", "neo4j+ssc")

# The driver logs what it then raises (e.g. "Unable to retrieve routing information" before a
# neo4j:// URL's ServiceUnavailable); with no handler configured, Python's last-resort handler
# printed it as a second line beside datamig's own one-line error.
logging.getLogger("neo4j").addHandler(logging.NullHandler())


def check_neo4j_url(store: str, url: str, variable: str | None = None) -> str:
    """`url`, or a one-line ConfigError naming the store (and the variable) and what is wrong."""
    where = f"store {store}" + (f": {variable}" if variable else "")
    try:
        parts = urlsplit(url.strip())
    except ValueError:  # an unclosed IPv6 bracket; some of urlsplit's messages quote the user:password
        raise ConfigError(f"{where} is not a URL: its host part cannot be read") from None
    scheme = parts.scheme.lower()
    if scheme not in NEO4J_SCHEMES:
        what = f"has the scheme {scheme + '://'!r}" if scheme else "has no scheme"
        raise ConfigError(f"{where} {what}; a Neo4j URL starts with "
                          f"{', '.join(s + '://' for s in NEO4J_SCHEMES)}")
    if _port_unreadable(url):  # the driver took :99999 as port 34463 and named that one
        port = urlsplit(url.strip()).netloc.rpartition("@")[2].rpartition(":")[2]  # never the user:password
        raise ConfigError(f"{where} has the port {port!r}: a port is a number from 1 to 65535")
    # neo4j:pw@host:port (no //) has no host: the driver tried localhost:7687, and its path read as
    # a database showed the password; the driver refuses a user or password in the URL itself
    if "@" in parts.netloc:
        raise ConfigError(f"{where} holds a user name or password, which the driver refuses: give them in "
                          f"{_login_variables(variable)}")
    if not parts.netloc:
        raise ConfigError(f"{where} has no host: a Neo4j URL reads {scheme}://host:port")
    return url


def _login_variables(variable: str | None) -> str:
    """The variables holding the user and password beside `variable` (the store's <env>_URL)."""
    if variable and variable.endswith("_URL"):
        return f"{variable[:-4]}_USER and {variable[:-4]}_PASSWORD"
    return "the store's _USER and _PASSWORD variables"


def _port_unreadable(url: str) -> bool:
    try:
        port = urlsplit(url.strip()).port
    except ValueError:
        return True
    return port == 0


# After a few wrong passwords in a row (dbms.security.auth_max_failed_attempts) Neo4j refuses
# every login of that user, the right password too, for a few seconds (auth_lock_time). The
# driver raises this as a plain ClientError, not the AuthError of a wrong password.
LOGIN_LOCKED_CODE = "Neo.ClientError.Security.AuthenticationRateLimit"
LOGIN_LOCKED = "the server refused the login: too many wrong passwords in a row, so it refuses every login " \
               "of the user for a few seconds (try again then)"


def login_locked(exc: BaseException) -> bool:
    """Whether `exc` is the server refusing logins after too many wrong passwords."""
    return getattr(exc, "code", None) == LOGIN_LOCKED_CODE


def neo4j_address(url: str) -> str:
    """host:port of a Neo4j URL, for messages: never the URL, which may carry a user and password."""
    try:
        parts = urlsplit(url)
        return f"{parts.hostname or 'localhost'}:{parts.port or 7687}"
    except ValueError:
        return "(unparsable URL)"


def check_neo4j_urls(cfg: Config, env: Mapping[str, str], targets: tuple[str, ...] = ("prod", "cert")) -> None:
    """Every Neo4j store's URL that is set, in PROD and CERT (an unset one is reported where it is needed)."""
    for store in cfg.neo4j_stores():
        for target in targets:
            check_store_url(store, env, target)


def check_store_url(store: StoreConfig, env: Mapping[str, str], target: str) -> None:
    variable = store.env_names(target)[0]
    if env.get(variable):
        check_neo4j_url(f"{store.name} ({target.upper()})", env[variable], variable)
