"""One CERT PostgreSQL database as the loader drives it: a writer connection whose errors come
out as one line naming the store (never the password), and the two-phase-commit statements.

Transactions are explicit SQL on an autocommit connection (BEGIN ... PREPARE TRANSACTION),
so what reaches the server is exactly what the protocol in run.py describes.
"""
from __future__ import annotations

from collections.abc import Mapping

import psycopg
from psycopg import sql

from ..config import StoreConfig
from ..errors import ConnectionFailed, DatamigError, MigrationFailed
from ..pg_address import cannot_connect, conninfo, host_port, refuse_unreadable
from ..services.envfile import redact

GID_PREFIX = "datamig"
LOCK_TIMEOUT = "60s"


def gid(run_id: str, store: str, op: str = "load") -> str:
    """'datamig:<run_id>:<store>' for a load, '...:<store>:rollback' for a rollback."""
    base = f"{GID_PREFIX}:{run_id}:{store}"
    return base if op == "load" else f"{base}:{op}"


def parse_gid(text: str) -> tuple[str, str, str] | None:
    """(run_id, store, op) of a datamig gid, None for anyone else's prepared transaction."""
    parts = text.split(":")
    if len(parts) not in (3, 4) or parts[0] != GID_PREFIX:
        return None
    return parts[1], parts[2], parts[3] if len(parts) == 4 else "load"


def cert_url(store: StoreConfig, env: Mapping[str, str]) -> str:
    name = store.env_names("cert")[0]
    url = env.get(name)
    if not url:
        from ..errors import ConfigError

        raise ConfigError(f"store {store.name}: environment variable {name} is not set (the CERT database URL)")
    return refuse_unreadable(store.name, url)


class PgStore:
    def __init__(self, store: StoreConfig, url: str, env: Mapping[str, str], purpose: str):
        self.store = store
        self.name = store.name
        self.url = url
        self.env = env
        self.where = host_port(url)
        self._password = conninfo(url).get("password")
        try:
            self.conn = psycopg.connect(url, autocommit=True, connect_timeout=10,
                                        application_name=f"datamig-{purpose}")
        except psycopg.Error as exc:
            raise cannot_connect(store.name, url, exc) from None
        self.in_tx = False
        # psycopg reads dates and times in the ISO output style only: a CERT database set to
        # another (DateStyle 'SQL, DMY') made reading the ledger's loaded_at a traceback.
        # The input order (DMY...) is kept: only the output style changes.
        self.execute("SET DateStyle = ISO", doing="setting the date output style")

    # --- errors ----------------------------------------------------------------------------

    def error(self, exc: BaseException, doing: str) -> DatamigError:
        """One line naming the store and the step; the server's primary message, scrubbed."""
        if isinstance(exc, DatamigError):
            return exc
        if isinstance(exc, psycopg.OperationalError) and (self.conn.closed or _is_connection_loss(exc)):
            return ConnectionFailed(f"store {self.name}: lost the connection to PostgreSQL at {self.where} "
                                    f"while {doing}")
        diag = getattr(exc, "diag", None)
        message = (diag.message_primary if diag is not None and diag.message_primary else None) \
            or (str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
        detail = ""
        if diag is not None and diag.constraint_name:
            detail = f" (constraint {diag.constraint_name})"
        return MigrationFailed(self._scrub(f"store {self.name}: {doing}: {message}{detail}"))

    def _scrub(self, text: str) -> str:
        for secret in (self.url, self._password):
            if secret:
                text = text.replace(secret, "***")
        return redact(" ".join(text.split()), self.env)

    # --- statements ----------------------------------------------------------------------

    def execute(self, query, params=None, doing: str = "running a statement"):
        try:
            return self.conn.execute(query, params)
        except psycopg.Error as exc:
            raise self.error(exc, doing) from None

    def begin(self, read_only: bool = False) -> None:
        """REPEATABLE READ for writes too: the ledger is read from CERT before each write, and
        both must see one CERT. Under READ COMMITTED a row a CERT user committed in between
        (an open transaction the write waited on) was recorded as inserted, overwritten by
        ON CONFLICT without a before-image, and deleted by the rollback; now it is a
        serialization failure that stops the load with nothing written."""
        mode = "BEGIN ISOLATION LEVEL REPEATABLE READ" + (" READ ONLY" if read_only else "")
        self.execute(mode, doing="starting a transaction")
        self.in_tx = True
        # Deferrable FKs (cycle breaks) are checked once, just before PREPARE; a lock held
        # by someone else fails the load after a while instead of hanging it.
        self.execute("SET CONSTRAINTS ALL DEFERRED", doing="deferring constraints")
        self.execute(sql.SQL("SET LOCAL lock_timeout = {}").format(sql.Literal(LOCK_TIMEOUT)))
        self.execute("SET LOCAL extra_float_digits = 1")  # exact float text in before-images

    def check_constraints(self) -> None:
        """Fire deferred FK checks now, so a violation names its constraint before PREPARE."""
        self.execute("SET CONSTRAINTS ALL IMMEDIATE", doing="checking foreign keys")

    def prepare(self, gid_text: str) -> None:
        self.execute(sql.SQL("PREPARE TRANSACTION {}").format(sql.Literal(gid_text)),
                     doing="preparing the transaction")
        self.in_tx = False

    def commit_prepared(self, gid_text: str) -> None:
        self.execute(sql.SQL("COMMIT PREPARED {}").format(sql.Literal(gid_text)),
                     doing=f"committing prepared transaction {gid_text}")

    def rollback_prepared(self, gid_text: str) -> None:
        self.execute(sql.SQL("ROLLBACK PREPARED {}").format(sql.Literal(gid_text)),
                     doing=f"rolling back prepared transaction {gid_text}")

    def prepared(self) -> list[str]:
        """datamig gids prepared in this database (COMMIT PREPARED must run from it)."""
        rows = self.execute("SELECT gid FROM pg_prepared_xacts WHERE database = current_database() "
                            "AND gid LIKE 'datamig:%' ORDER BY prepared", doing="listing prepared transactions")
        return [r[0] for r in rows.fetchall()]

    def abort(self) -> None:
        """Roll back an open (unprepared) transaction; a dead connection has nothing to roll back."""
        if self.in_tx and not self.conn.closed:
            try:
                self.conn.execute("ROLLBACK")
            except psycopg.Error:
                pass
        self.in_tx = False

    def close(self) -> None:
        self.abort()
        try:
            self.conn.close()
        except psycopg.Error:
            pass


def _is_connection_loss(exc: psycopg.Error) -> bool:
    state = getattr(getattr(exc, "diag", None), "sqlstate", None) or ""
    # 08: connection exception; 57P01-03: admin/crash shutdown, cannot connect now.
    return state.startswith("08") or state in ("57P01", "57P02", "57P03") or not state
