"""`datamig services up | down | status`: the local PROD and CERT estate on loopback.

One PostgreSQL cluster holds every PROD database and its CERT twin (`cert_<name>`); each
Neo4j store gets two servers (PROD and CERT). What `up` started is recorded in
`.datamig/state.json` so `down` stops exactly that, and `up` twice is harmless.
"""
from __future__ import annotations

import os
import secrets
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from .. import pg_address
from ..config import Config, check_neo4j_url
from ..errors import ConfigError
from ..runfiles import read_json_object, write_json
from . import envfile, postgres_cluster, roles, termination
from .neo4j_server import REFUSED as _REFUSED
from .ports import free_port


@dataclass
class StoreStatus:
    store: str
    target: str  # prod | cert
    kind: str
    address: str
    reachable: bool
    detail: str = ""


def _state_path(root: Path) -> Path:
    return envfile.state_dir(root) / "state.json"


def _read_state(root: Path) -> dict:
    try:
        return read_json_object(_state_path(root))
    except FileNotFoundError:
        return {}


def _write_state(root: Path, state: dict) -> None:
    write_json(_state_path(root), state)  # whole or not at all: it is how `services down` finds the servers


def _secrets(env: dict) -> dict:
    """Passwords are made once and kept in services.env, so a restart reuses them."""
    out = {}
    for key in ("DATAMIG_PG_SUPERUSER_PASSWORD", "DATAMIG_PG_READER_PASSWORD",
                "DATAMIG_PG_WRITER_PASSWORD", "DATAMIG_NEO4J_PROD_PASSWORD", "DATAMIG_NEO4J_CERT_PASSWORD"):
        out[key] = env.get(key) or secrets.token_urlsafe(18)
    return out


def cert_db_name(store: str) -> str:
    return f"cert_{store}"


def _pg_up(root: Path, cfg: Config, state: dict, pw: dict) -> postgres_cluster.Cluster:
    pg = state.get("postgres") or {}
    data_dir = Path(pg.get("data_dir") or postgres_cluster.choose_data_dir(envfile.state_dir(root)))
    cluster = postgres_cluster.Cluster(data_dir, pg.get("port") or free_port(),
                                       pw["DATAMIG_PG_SUPERUSER_PASSWORD"])
    if not postgres_cluster.is_initialized(data_dir):
        postgres_cluster.initdb(data_dir, cluster.password)
    # Recorded before the start, and the start held: a postmaster (in a session of its own)
    # started by a process killed or signalled while pg_ctl waits would run recorded nowhere,
    # so no stop would find it (`down` stops a recorded cluster only if it runs).
    with termination.held():
        running = postgres_cluster.is_running(cluster)
        if not running and not _port_free(cluster.port):
            cluster.port = free_port()
        state["postgres"] = {"data_dir": str(data_dir), "port": cluster.port}
        _write_state(root, state)
        if not running:
            postgres_cluster.start(cluster)
    admin = cluster.url()
    roles.ensure_roles(admin, pw["DATAMIG_PG_READER_PASSWORD"], pw["DATAMIG_PG_WRITER_PASSWORD"])
    for store in cfg.postgres_stores():
        roles.ensure_database(admin, store.name)
        roles.ensure_database(admin, cert_db_name(store.name), owner=roles.WRITER)
    return cluster


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0


def _neo4j_up(root: Path, state: dict, target: str, password: str) -> int:
    from . import neo4j_server

    entry = state.setdefault("neo4j", {}).get(target) or {}
    home = Path(entry.get("home") or envfile.state_dir(root) / "neo4j" / target)
    url = f"bolt://127.0.0.1:{entry['port']}" if entry.get("port") else None
    if url and entry.get("pid") and _pid_alive(entry["pid"]) and neo4j_server.is_reachable(url, "neo4j", password):
        return entry["port"]
    port = entry.get("port") if entry.get("port") and _port_free(entry["port"]) else free_port()

    def record(pid: int) -> None:
        # before the server is ready: `services up` killed while it starts (SIGTERM, SIGKILL)
        # left a server no state named, so `services down` never stopped it
        state["neo4j"][target] = {"home": str(home), "port": port, "pid": pid}
        _write_state(root, state)

    neo4j_server.start(root, home, port, password, home.parent / f"{target}.log", on_started=record)
    return port


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
        return True
    except OSError:
        return False


def _env_values(cfg: Config, cluster: postgres_cluster.Cluster, neo_ports: dict, pw: dict) -> dict:
    values = dict(pw)
    values["DATAMIG_PG_ADMIN_URL"] = cluster.url()
    for store in cfg.postgres_stores():
        values[store.prod_env] = cluster.url(store.name, roles.READER, pw["DATAMIG_PG_READER_PASSWORD"])
        values[store.cert_env] = cluster.url(cert_db_name(store.name), roles.WRITER,
                                             pw["DATAMIG_PG_WRITER_PASSWORD"])
    for store in cfg.neo4j_stores():
        for target in ("prod", "cert"):
            url_var, user_var, pw_var = store.env_names(target)
            values[url_var] = f"bolt://127.0.0.1:{neo_ports[target]}"
            values[user_var] = "neo4j"
            values[pw_var] = pw[f"DATAMIG_NEO4J_{target.upper()}_PASSWORD"]
    return values


def up(root: Path, cfg: Config, apply_schemas=None) -> dict:
    """Start (or find running) every local service and write services.env. Idempotent."""
    state = _read_state(root)
    pw = _secrets(envfile.read_env_file(envfile.env_path(root)))
    cluster = _pg_up(root, cfg, state, pw)
    neo_ports = {}
    if cfg.neo4j_stores():
        for target in ("prod", "cert"):
            neo_ports[target] = _neo4j_up(root, state, target, pw[f"DATAMIG_NEO4J_{target.upper()}_PASSWORD"])
    values = _env_values(cfg, cluster, neo_ports, pw)
    envfile.write_env_file(envfile.env_path(root), values)
    if apply_schemas is not None:
        apply_schemas(values)
    _grant_all(cfg, cluster, pw)
    return values


def _grant_all(cfg: Config, cluster: postgres_cluster.Cluster, pw: dict) -> None:
    for store in cfg.postgres_stores():
        roles.grant_prod_reader(cluster.url(store.name), store.schema)
        roles.grant_cert_writer(cluster.url(cert_db_name(store.name)), store.schema)


def down(root: Path) -> list[str]:
    """Stop exactly what `up` recorded; data stays for the next `up`."""
    from . import neo4j_server

    state = _read_state(root)
    stopped = []
    for target, entry in sorted((state.get("neo4j") or {}).items()):
        if entry.get("pid") and _pid_alive(entry["pid"]):
            neo4j_server.stop(entry["pid"])
            stopped.append(f"neo4j {target}")
    pg = state.get("postgres")
    if pg:
        cluster = postgres_cluster.Cluster(Path(pg["data_dir"]), pg["port"], "")
        if postgres_cluster.is_running(cluster):
            postgres_cluster.stop(cluster)
            stopped.append("postgresql")
    return stopped


def status(cfg: Config, env: dict) -> list[StoreStatus]:
    """Reachability of every configured store in PROD and CERT, never showing a password."""
    rows = []
    for store in cfg.stores.values():
        for target in ("prod", "cert"):
            url_var, user_var, pw_var = store.env_names(target)
            url = env.get(url_var)
            if not url:
                rows.append(StoreStatus(store.name, target, store.kind, "-", False, f"{url_var} not set"))
                continue
            address = _address(url, store.kind)
            if store.kind == "postgres":
                ok, detail = _pg_reachable(url)
            else:
                ok, detail = _neo4j_reachable(store.name, target, url, url_var, env.get(user_var, "neo4j"),
                                              env.get(pw_var, ""))
                if detail == _REFUSED:
                    detail = f"{detail} of {user_var} / {pw_var}"
            rows.append(StoreStatus(store.name, target, store.kind, address, ok, detail))
    return rows


def check_cert_apart(cfg: Config, env: Mapping[str, str]) -> None:
    """No store's CERT setting names its PROD server and database: every CERT write (load,
    rollback, recovery) would go to production. PROD's read-only role is no guard a real estate
    can count on. Read from the settings alone, before anything connects."""
    for store in cfg.stores.values():
        urls = [env.get(store.env_names(target)[0]) for target in ("prod", "cert")]
        if all(urls) and _same_place(*(_address(url, store.kind) for url in urls)):
            raise ConfigError(f"store {store.name}: CERT ({store.env_names('cert')[0]}) points at PROD "
                              f"({_address(urls[0], store.kind)}): refusing to write into production")


def _same_place(a: str, b: str) -> bool:
    """Two host:port/database addresses name one place (the loopback's names read alike)."""
    def norm(address: str) -> str:
        address = address.lower()
        for name in ("localhost:", "[::1]:", "::1:"):
            if address.startswith(name):
                return "127.0.0.1:" + address[len(name):]
        return address
    return norm(a) == norm(b) and "(unreadable address)" not in a


def _neo4j_reachable(store: str, target: str, url: str, url_var: str, user: str, password: str) -> tuple[bool, str]:
    """A URL without a Bolt scheme is a row's detail, not a driver's traceback (http:// needs
    aiohttp); `migrate`'s preflight makes it its one-line error for the targets it needs."""
    from . import neo4j_server

    try:
        check_neo4j_url(f"{store} ({target.upper()})", url, url_var)
    except ConfigError as exc:
        return False, str(exc)
    problem = neo4j_server.login_problem(url, user, password)
    return problem is None, problem or ""


def _address(url: str, kind: str) -> str:
    """host:port/database (Neo4j: host:port), never the rest: a PostgreSQL setting may be a URL or libpq's
    `host=... password=...` form, which urlsplit would return whole, password included."""
    if kind == "postgres":
        db = pg_address.conninfo(url).get("dbname")
        return pg_address.host_port(url) + (f"/{db}" if db else "")
    try:
        parts = urlsplit(url)
        host, port = parts.hostname, parts.port
    except ValueError:  # a port that is no number, a malformed IPv6 host
        return "(unreadable address)"
    # the driver's defaults, as neo4j_address names them: a URL without its port read 127.0.0.1:None.
    # No path: the driver ignores it, so bolt://prod:7687/cert is PROD's server (check_cert_apart).
    return f"{host or 'localhost'}:{port or 7687}"


def _pg_reachable(url: str) -> tuple[bool, str]:
    import psycopg

    try:
        with psycopg.connect(url, connect_timeout=5) as conn:
            conn.execute("SELECT 1")
        return True, ""
    except psycopg.Error as exc:
        return False, pg_address.reason(exc, url)  # "Connection refused", not just OperationalError
