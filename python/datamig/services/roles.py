"""Databases and roles of the local estate: PROD read through a read-only role, CERT written
through a writer role, the superuser kept for seeding only."""
from __future__ import annotations

import psycopg
from psycopg import sql

READER = "datamig_prod_reader"
WRITER = "datamig_cert_writer"


def _ensure_role(cur: psycopg.Cursor, role: str, password: str) -> None:
    cur.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,))
    verb = "ALTER" if cur.fetchone() else "CREATE"
    cur.execute(sql.SQL(verb + " ROLE {} LOGIN PASSWORD {}").format(sql.Identifier(role), sql.Literal(password)))


def ensure_roles(admin_url: str, reader_password: str, writer_password: str) -> None:
    with psycopg.connect(admin_url, autocommit=True) as conn, conn.cursor() as cur:
        _ensure_role(cur, READER, reader_password)
        _ensure_role(cur, WRITER, writer_password)
        # Belt and braces: even a mistaken write through the reader is refused by the server.
        cur.execute(sql.SQL("ALTER ROLE {} SET default_transaction_read_only = on").format(sql.Identifier(READER)))


def ensure_database(admin_url: str, name: str, owner: str = "postgres") -> None:
    with psycopg.connect(admin_url, autocommit=True) as conn, conn.cursor() as cur:
        cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
        if not cur.fetchone():
            cur.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(sql.Identifier(name), sql.Identifier(owner)))


def grant_prod_reader(db_url: str, schema: str = "public") -> None:
    """SELECT on everything now and on tables created later by the seeder."""
    stmts = [
        # PUBLIC may create temp tables by default: PROD must not accept even those
        "REVOKE TEMPORARY ON DATABASE {db} FROM PUBLIC",
        "GRANT CONNECT ON DATABASE {db} TO {role}",
        "GRANT USAGE ON SCHEMA {schema} TO {role}",
        "GRANT SELECT ON ALL TABLES IN SCHEMA {schema} TO {role}",
        "ALTER DEFAULT PRIVILEGES FOR ROLE postgres IN SCHEMA {schema} GRANT SELECT ON TABLES TO {role}",
    ]
    _run_grants(db_url, stmts, READER, schema)


def grant_cert_writer(db_url: str, schema: str = "public") -> None:
    """The writer owns nothing of CERT's schema but may change its rows and keep its ledger."""
    stmts = [
        "GRANT CONNECT, CREATE, TEMPORARY ON DATABASE {db} TO {role}",
        "GRANT USAGE ON SCHEMA {schema} TO {role}",
        "GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES ON ALL TABLES IN SCHEMA {schema} TO {role}",
        "GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA {schema} TO {role}",
        "ALTER DEFAULT PRIVILEGES FOR ROLE postgres IN SCHEMA {schema} "
        "GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES ON TABLES TO {role}",
    ]
    _run_grants(db_url, stmts, WRITER, schema)


def _run_grants(db_url: str, stmts: list[str], role: str, schema: str) -> None:
    with psycopg.connect(db_url, autocommit=True) as conn, conn.cursor() as cur:
        db = conn.info.dbname
        for stmt in stmts:
            cur.execute(sql.SQL(stmt).format(db=sql.Identifier(db), role=sql.Identifier(role),
                                             schema=sql.Identifier(schema)))
