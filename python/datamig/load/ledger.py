"""The ledger each CERT PostgreSQL database keeps of the runs loaded into it (schema `datamig`).

Written in the same transaction as the data, so a run's rows and the record of how to undo
them commit (or vanish) together:

  datamig.runs    one row per run: run_id, seq (load order in this database), district,
                  status ('loaded' | 'rolled_back'), strategy, loaded_at, rolled_back_at,
                  tables (per-table counts of the load, jsonb), load_xid (the load's
                  transaction), rollback_xids (its rollbacks' transactions). A row's xmin names
                  the transaction that wrote its current version: a row the run wrote whose
                  xmin is neither the run's load nor the rollback of a run loaded after it
                  was written by CERT since, and the rollback refuses to destroy that change.
  datamig.ledger  what a run did, per table ("schema.table"):
                  op 'insert': key = {"<pk col>": "<PostgreSQL array literal>", ...}: up to 10,000
                               inserted keys per entry, one array per key column (e.g.
                               {"id": "{10,11}"}), aligned by position for a composite key; an
                               array key column's as a text[] of the arrays' texts ("{\"{1,2}\"}");
                  op 'update': key = {"<pk col>": v, ...} (an array as its text), before = the whole CERT row as it was
                               before the run (to_jsonb; json columns as their exact text).
  datamig.run_keys every key the run loaded per table (inserted, updated or left unchanged by
                  a merge), chunked like the insert entries: key = {"<pk col>": "<array
                  literal>"}. The scope of the post-load dbt tests (`validate-migration`);
                  removed with the ledger entries on rollback.
  datamig.sequences the serial and identity sequences the run moved up past the ids it wrote:
                  their state before (last_value, is_called) and the value the run set, so a
                  rollback can move them back while CERT has drawn nothing from them since.
"""
from __future__ import annotations

import json

import psycopg
from psycopg import sql

DDL = """
CREATE SCHEMA IF NOT EXISTS datamig;
CREATE SEQUENCE IF NOT EXISTS datamig.run_seq;
CREATE TABLE IF NOT EXISTS datamig.runs (
    run_id          text PRIMARY KEY,
    seq             bigint NOT NULL,
    district        bigint,
    status          text NOT NULL CHECK (status IN ('loaded', 'rolled_back')),
    strategy        text,
    loaded_at       timestamptz NOT NULL,
    rolled_back_at  timestamptz,
    tables          jsonb NOT NULL DEFAULT '{}'
);
CREATE TABLE IF NOT EXISTS datamig.ledger (
    run_id      text NOT NULL,
    table_name  text NOT NULL,
    op          text NOT NULL CHECK (op IN ('insert', 'update')),
    key         jsonb NOT NULL,
    before      jsonb
);
CREATE INDEX IF NOT EXISTS ledger_run_table ON datamig.ledger (run_id, table_name);
CREATE TABLE IF NOT EXISTS datamig.run_keys (
    run_id      text NOT NULL,
    table_name  text NOT NULL,
    key         jsonb NOT NULL
);
CREATE INDEX IF NOT EXISTS run_keys_run_table ON datamig.run_keys (run_id, table_name);
CREATE TABLE IF NOT EXISTS datamig.sequences (
    run_id        text NOT NULL,
    table_name    text NOT NULL,
    column_name   text NOT NULL,
    seq           text NOT NULL,
    before_value  bigint NOT NULL,
    before_called boolean NOT NULL,
    after_value   bigint NOT NULL
);
"""
# Added after the first ledgers were written (a run loaded before rolls back unchecked); only
# when missing: ALTER TABLE locks datamig.runs until the load commits, even for nothing to add.
XID_COLUMNS = "ALTER TABLE datamig.runs ADD COLUMN load_xid bigint, ADD COLUMN rollback_xids bigint[]"


def ensure(conn: psycopg.Connection) -> None:
    """Inside the load's transaction: a load that never commits leaves no schema behind."""
    conn.execute(DDL)
    if not records_writers(conn):
        conn.execute(XID_COLUMNS)


def exists(conn: psycopg.Connection, table: str = "runs") -> bool:
    """Whether the ledger (or one of its tables, which a ledger written by an older datamig may
    lack) is in this database."""
    return conn.execute("SELECT to_regclass(%s) IS NOT NULL", (f"datamig.{table}",)).fetchone()[0]


def loaded_runs(conn: psycopg.Connection) -> list[str]:
    """The runs this database holds as loaded (not rolled back), in load order."""
    if not exists(conn):
        return []
    return [r[0] for r in conn.execute("SELECT run_id FROM datamig.runs WHERE status = 'loaded' ORDER BY seq")]


def status(conn: psycopg.Connection, run_id: str) -> dict | None:
    """The committed state of `run_id` in this database, or None if it never loaded here."""
    if not exists(conn):
        return None
    row = conn.execute("SELECT status, seq, loaded_at, rolled_back_at, tables, strategy FROM datamig.runs "
                       "WHERE run_id = %s", (run_id,)).fetchone()
    if row is None:
        return None
    return {"status": row[0], "seq": row[1], "loaded_at": row[2].isoformat() if row[2] else None,
            "rolled_back_at": row[3].isoformat() if row[3] else None, "tables": row[4], "strategy": row[5]}


def record_load(conn: psycopg.Connection, run_id: str, district: int | None, strategy: str, tables: dict) -> None:
    """A reload after a rollback reuses the row: new seq, status back to loaded."""
    conn.execute(
        "INSERT INTO datamig.runs (run_id, seq, district, status, strategy, loaded_at, tables, load_xid) "
        "VALUES (%(run)s, nextval('datamig.run_seq'), %(district)s, 'loaded', %(strategy)s, clock_timestamp(), "
        "%(tables)s, pg_current_xact_id()::text::bigint) ON CONFLICT (run_id) DO UPDATE SET seq = EXCLUDED.seq, "
        "district = EXCLUDED.district, status = 'loaded', strategy = EXCLUDED.strategy, "
        "loaded_at = EXCLUDED.loaded_at, rolled_back_at = NULL, tables = EXCLUDED.tables, "
        "load_xid = EXCLUDED.load_xid",
        {"run": run_id, "district": district, "strategy": strategy, "tables": json.dumps(tables)})


def record_rollback(conn: psycopg.Connection, run_id: str) -> None:
    """The run row stays as history; its ledger entries and key record go (nothing is left to
    undo or to verify)."""
    conn.execute("DELETE FROM datamig.ledger WHERE run_id = %s", (run_id,))
    if exists(conn, "run_keys"):
        conn.execute("DELETE FROM datamig.run_keys WHERE run_id = %s", (run_id,))
    if exists(conn, "sequences"):
        conn.execute("DELETE FROM datamig.sequences WHERE run_id = %s", (run_id,))
    xids = ", rollback_xids = array_append(rollback_xids, pg_current_xact_id()::text::bigint)" \
        if records_writers(conn) else ""
    conn.execute(f"UPDATE datamig.runs SET status = 'rolled_back', rolled_back_at = clock_timestamp(){xids} "
                 "WHERE run_id = %s", (run_id,))


def tables_of(conn: psycopg.Connection, run_id: str) -> list[str]:
    rows = conn.execute("SELECT DISTINCT table_name FROM datamig.ledger WHERE run_id = %s ORDER BY 1",
                        (run_id,)).fetchall()
    return [r[0] for r in rows]


def key_columns(conn: psycopg.Connection, run_id: str) -> dict[str, list[str]]:
    """table -> the columns the run's ledger names its rows by: CERT's key of the table at the load."""
    rows = conn.execute("SELECT table_name, array_agg(DISTINCT k) FROM datamig.ledger l "
                        "CROSS JOIN LATERAL jsonb_object_keys(l.key) AS k WHERE l.run_id = %s GROUP BY 1",
                        (run_id,)).fetchall()
    return {table: list(columns) for table, columns in rows}


def count_entries(conn: psycopg.Connection, run_id: str) -> dict[str, dict[str, int]]:
    """table -> {"inserted": n, "updated": n}, counting the keys inside insert chunks."""
    out: dict[str, dict[str, int]] = {}
    query = sql.SQL(
        "SELECT table_name, op, sum(CASE WHEN op = 'insert' THEN "
        "cardinality((SELECT v FROM jsonb_each_text(key) AS e(k, v) LIMIT 1)::text[]) ELSE 1 END) "
        "FROM datamig.ledger WHERE run_id = %s GROUP BY 1, 2")
    for table, op, n in conn.execute(query, (run_id,)):
        out.setdefault(table, {"inserted": 0, "updated": 0})["inserted" if op == "insert" else "updated"] = int(n)
    return out


def moved_sequences(conn: psycopg.Connection, run_id: str) -> list[tuple]:
    """(table, column, sequence, before_value, before_called, after_value) the run moved up; read
    before the rollback commits (which removes them), set back after it (restore_sequence)."""
    if not exists(conn, "sequences"):
        return []  # a ledger older than the sequences record
    return conn.execute("SELECT table_name, column_name, seq, before_value, before_called, after_value "
                        "FROM datamig.sequences WHERE run_id = %s", (run_id,)).fetchall()


def records_writers(conn: psycopg.Connection) -> bool:
    """Whether datamig.runs has the columns of a run's writing transactions (XID_COLUMNS)."""
    return conn.execute("SELECT count(*) = 2 FROM information_schema.columns WHERE table_schema = 'datamig' "
                        "AND table_name = 'runs' AND column_name IN ('load_xid', 'rollback_xids')").fetchone()[0]


def writers(conn: psycopg.Connection, run_id: str) -> list[int] | None:
    """The transactions (as a row's 32-bit xmin) whose writes leave the run's rows as it left
    them: its load, and the rollbacks of runs loaded after it (each put back the run's rows
    as they were before that run). None for a run loaded before datamig recorded them: its
    rollback cannot tell CERT's later writes, as before."""
    if not records_writers(conn):
        return None
    row = conn.execute("SELECT load_xid, seq FROM datamig.runs WHERE run_id = %s", (run_id,)).fetchone()
    if row is None or row[0] is None:
        return None
    later = conn.execute("SELECT unnest(rollback_xids) FROM datamig.runs WHERE seq > %s", (row[1],)).fetchall()
    return sorted({xid % 2**32 for xid in [row[0], *(x for (x,) in later)]})
