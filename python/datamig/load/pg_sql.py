"""The set-based SQL of one table's load and undo, built from its catalog facts.

One statement per step and table, never one per row: classify the staged rows against the
target (new / changed / unchanged), record the ledger, write, and undo. Identifiers always
go through psycopg.sql, values through parameters.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from psycopg import sql

from .parquet_source import ROW_COLUMN

LEDGER_SCHEMA = "datamig"
INSERT_CHUNK = 10_000  # inserted keys per ledger entry (one array literal per key column, see ledger.py)
# Types with no equality operator: compared through their text form.
_NO_EQUALITY = ("json", "xml", "point", "line", "lseg", "box", "path", "polygon", "circle")
# Types whose equality holds for values PostgreSQL prints otherwise: numeric 1.5 = 1.50, interval
# '1 day' = '24:00:00', float 0 = -0, citext 'A' = 'a'. A row differing from CERT's only so is
# a row to update, or merge left CERT's own value where PROD's belongs.
_COARSE_EQUALITY = ("numeric", "real", "double precision", "interval", "citext")


@dataclass
class TableLoad:
    """One final table bound to its CERT table."""

    store: str
    schema: str
    name: str
    parquet: Path | None
    columns: list[str]                 # final columns that are written (CERT names)
    source_types: dict[str, str]       # column -> DuckDB type in the Parquet
    pg_types: dict[str, str]           # every CERT column -> format_type()
    key: tuple[str, ...]
    staging: str = ""
    temp: bool = False                 # dry run: a TEMP staging table in a read-only transaction
    nullify: tuple[str, ...] = ()      # FK columns written NULL first, set by a second UPDATE
    identity_always: bool = False      # some written column is GENERATED ALWAYS AS IDENTITY
    restorable: tuple[str, ...] = ()   # CERT columns an undo may SET (not key, generated, identity)
    base_types: dict[str, str] = field(default_factory=dict)  # CERT columns of a domain -> its base type
    counts: dict = field(default_factory=dict)
    strategy: str = ""

    @property
    def table_name(self) -> str:
        return f"{self.schema}.{self.name}"

    @property
    def target(self) -> sql.Composable:
        return sql.Identifier(self.schema, self.name)

    @property
    def row_column(self) -> str:
        """The staging tables' column of a row's position in the file: ROW_COLUMN, numbered on
        while CERT's table has a column of that name (it sits beside the table's columns)."""
        name, n = ROW_COLUMN, 0
        while name in self.pg_types or name in self.columns:
            n += 1
            name = f"{ROW_COLUMN}_{n}"
        return name

    @property
    def row(self) -> sql.Composable:
        return sql.Identifier(self.row_column)

    @property
    def stg(self) -> sql.Composable:
        """Full rows: what upsert, merge and cycle-broken inserts write from."""
        return sql.Identifier("pg_temp" if self.temp else LEDGER_SCHEMA, self.staging)

    @property
    def kstg(self) -> sql.Composable:
        """Keys only: enough to check keys, count existing rows and record inserted keys."""
        return sql.Identifier("pg_temp" if self.temp else LEDGER_SCHEMA, "k" + self.staging)

    @property
    def direct(self) -> bool:
        """Every row is new and no column is written twice: COPY straight into the target,
        no full staging and no second write of each row."""
        return self.strategy == "insert" and not self.nullify

    def base(self, col: str) -> str:
        """The column's type, or the base type of its domain: what decides how it is carried."""
        return self.base_types.get(col) or self.pg_types[col]

    @property
    def values(self) -> list[str]:
        """Non-key final columns: what an update may change."""
        return [c for c in self.columns if c not in self.key]


def _ident(alias: str, col: str) -> sql.Composable:
    return sql.Identifier(alias, col)


def _cols(cols, alias: str | None = None) -> sql.Composable:
    return sql.SQL(", ").join(_ident(alias, c) if alias else sql.Identifier(c) for c in cols)


def _as_text(pg_type: str) -> bool:
    """Compared as their text: types without an equality operator, or with a coarse one. A
    numeric(p,s) (or its array) holds every value at scale s: equal values print alike there."""
    element = pg_type.removesuffix("[]").strip()
    return element in _NO_EQUALITY or element in _COARSE_EQUALITY


def _cmp(t: TableLoad, alias: str, col: str) -> sql.Composable:
    """By its base type: a domain over json has no equality operator either."""
    expr = _ident(alias, col)
    return sql.SQL("{}::text").format(expr) if _as_text(t.base(col)) else expr


def key_match(t: TableLoad, left: str = "t", right: str = "s") -> sql.Composable:
    return sql.SQL(" AND ").join(sql.SQL("{} = {}").format(_ident(left, k), _ident(right, k)) for k in t.key)


def differs(t: TableLoad, cols: list[str] | None = None, left: str = "t", right: str = "s") -> sql.Composable:
    """Row-wise IS DISTINCT FROM over `cols` (default: every non-key final column)."""
    cols = t.values if cols is None else cols
    if not cols:
        return sql.SQL("false")
    lhs = sql.SQL(", ").join(_cmp(t, left, c) for c in cols)
    rhs = sql.SQL(", ").join(_cmp(t, right, c) for c in cols)
    return sql.SQL("ROW({}) IS DISTINCT FROM ROW({})").format(lhs, rhs)


def _is_array(t: TableLoad, col: str) -> bool:
    """An array (or a domain over one) in the key: recorded as its text (see _key_arrays)."""
    return t.base(col).endswith("[]")


def _key_value(t: TableLoad, alias: str, col: str) -> sql.Composable:
    """A key column as the ledger records it: an array as its text, which its type reads back
    (to_jsonb made it a JSON array, '[1, 2]', which the cast back to int[] refused)."""
    expr = _ident(alias, col)
    return sql.SQL("{}::text").format(expr) if _is_array(t, col) else expr


def key_json(t: TableLoad, alias: str) -> sql.Composable:
    parts = sql.SQL(", ").join(sql.SQL("{}, {}").format(sql.Literal(k), _key_value(t, alias, k)) for k in t.key)
    return sql.SQL("jsonb_build_object({})").format(parts)


# --- staging ---------------------------------------------------------------------------------

def create_staging(t: TableLoad, keys_only: bool) -> sql.Composable:
    """Same column types as the target (CREATE TABLE AS ... WITH NO DATA copies them exactly),
    so COPY parses each value once, straight into its final type. UNLOGGED: staging is scratch
    and is dropped before PREPARE; TEMP cannot be used (PREPARE TRANSACTION refuses it), except
    by a dry run, whose transaction is read only and never prepared."""
    kind = sql.SQL("TEMP") if t.temp else sql.SQL("UNLOGGED")
    rel, cols = (t.kstg, t.key) if keys_only else (t.stg, t.columns)
    return sql.SQL("CREATE {} TABLE {} AS SELECT {}, NULL::bigint AS {} FROM {} WITH NO DATA").format(
        kind, rel, _cols(cols), t.row, t.target)


def copy_into_staging(t: TableLoad, keys_only: bool) -> sql.Composable:
    rel, cols = (t.kstg, t.key) if keys_only else (t.stg, t.columns)
    return sql.SQL("COPY {} ({}, {}) FROM STDIN (FORMAT csv)").format(rel, _cols(cols), t.row)


def copy_into_target(t: TableLoad) -> sql.Composable:
    return sql.SQL("COPY {} ({}) FROM STDIN (FORMAT csv)").format(t.target, _cols(t.columns))


def analyze(rel: sql.Composable) -> sql.Composable:
    return sql.SQL("ANALYZE {}").format(rel)


def count_keys(t: TableLoad) -> sql.Composable:
    """rows, and how many of their keys CERT already has."""
    return sql.SQL("SELECT count(*), count(t.{}) FROM {} s LEFT JOIN {} t ON {}").format(
        sql.Identifier(t.key[0]), t.kstg, t.target, key_match(t))


def classify(t: TableLoad) -> sql.Composable:
    """rows, new (key not in CERT), changed (key in CERT, some final column differs), unchanged."""
    k0 = _ident("t", t.key[0])
    return sql.SQL(
        "SELECT count(*), count(*) FILTER (WHERE {k0} IS NULL), "
        "count(*) FILTER (WHERE {k0} IS NOT NULL AND {d}), "
        "count(*) FILTER (WHERE {k0} IS NOT NULL AND NOT {d}) "
        "FROM {stg} s LEFT JOIN {target} t ON {on}").format(
        k0=k0, d=differs(t), stg=t.stg, target=t.target, on=key_match(t))


def existing_keys(t: TableLoad, limit: int) -> sql.Composable:
    return sql.SQL("SELECT {}::text FROM {} s JOIN {} t ON {} ORDER BY s.{} LIMIT {}").format(
        key_json(t, "s"), t.kstg, t.target, key_match(t), t.row, sql.Literal(limit))


def drop_staging(t: TableLoad) -> sql.Composable:
    return sql.SQL("DROP TABLE IF EXISTS {}, {}").format(t.kstg, t.stg)


# --- ledger (captured before the write: it needs CERT's rows as they were) --------------------

JSONB_TEXT = "datamig:jsonb_text"  # marks before-images whose jsonb columns travel as text


def _exact_text(pg_type: str) -> bool:
    """Types to_jsonb does not carry exactly: json and jsonb (see _before_image), any array
    (to_jsonb drops its bounds: '[0:2]={1,2,3}' came back as '{1,2,3}') and floats (read as a
    JSON number, -0 came back as 0). Their text form is exact; jsonb_populate_record reads a
    non-JSON column's string back through the type's own input, as the restore does."""
    return pg_type.endswith("[]") or pg_type in ("json", "jsonb", "double precision", "real")


def _before_image(t: TableLoad, alias: str) -> sql.Composable:
    """The whole CERT row as jsonb. json and jsonb columns (and their arrays) travel as their
    exact text: to_jsonb would normalize json's whitespace and key order, and would write a
    jsonb JSON null and an SQL NULL alike (a rollback made CERT's 'null'::jsonb an SQL NULL);
    so do the other columns to_jsonb would change (_exact_text). The row is `alias.*`: a bare
    alias means a column of that name when the table has one (to_jsonb(t) imaged column t)."""
    image = sql.SQL("to_jsonb({}.*)").format(sql.Identifier(alias))
    exact = [c for c in t.pg_types if _exact_text(t.base(c))]
    if exact:
        image = sql.SQL("{} || jsonb_build_object({}, true)").format(image, sql.Literal(JSONB_TEXT))
    # jsonb_build_object takes at most 100 arguments: 50 columns a call
    for i in range(0, len(exact), 50):
        parts = sql.SQL(", ").join(sql.SQL("{}, {}::text").format(sql.Literal(c), _ident(alias, c))
                                   for c in exact[i:i + 50])
        image = sql.SQL("{} || jsonb_build_object({})").format(image, parts)
    return image


def ledger_updates(t: TableLoad, only_changed: bool) -> sql.Composable:
    where = sql.SQL(" WHERE {}").format(differs(t)) if only_changed else sql.SQL("")
    return sql.SQL(
        "INSERT INTO datamig.ledger (run_id, table_name, op, key, before) "
        "SELECT %(run)s, %(table)s, 'update', {key}, {before} FROM {stg} s JOIN {target} t ON {on}{where}").format(
        key=key_json(t, "t"), before=_before_image(t, "t"), stg=t.stg, target=t.target, on=key_match(t),
        where=where)


def ledger_inserts(t: TableLoad, all_new: bool) -> sql.Composable:
    """Inserted keys in chunks of INSERT_CHUNK: {"col": "<PostgreSQL array literal>", ...}.
    Measured on 1M bigint keys: 0.5 s, against 1.1 s for jsonb arrays and ~5 s for one ledger
    row per key; the literal reads back exactly through a cast to the column's array type.
    All aggregates of a group advance together row by row, so the arrays of a composite key
    stay aligned by position. Read from the key staging table, before the write."""
    where = sql.SQL("") if all_new else sql.SQL(" WHERE NOT EXISTS (SELECT 1 FROM {} t WHERE {})").format(
        t.target, key_match(t))
    return sql.SQL(
        "INSERT INTO datamig.ledger (run_id, table_name, op, key) "
        "SELECT %(run)s, %(table)s, 'insert', jsonb_build_object({arrays}) FROM {src} s{where} "
        "GROUP BY s.{row} / {chunk}").format(
        arrays=_key_arrays(t), src=t.kstg, where=where, row=t.row, chunk=sql.Literal(INSERT_CHUNK))


def _key_arrays(t: TableLoad) -> sql.Composable:
    """One array literal per key column. An array column's keys are aggregated as their texts
    (a text[]): array_agg of arrays builds one more dimension, refuses arrays of unequal
    lengths, and unnest flattens it into elements, so the keys were never found again."""
    return sql.SQL(", ").join(sql.SQL("{}, array_agg({})::text").format(sql.Literal(k), _key_value(t, "s", k))
                              for k in t.key)


def record_run_keys(t: TableLoad) -> sql.Composable:
    """Every key of the final (new, changed or unchanged), chunked like the insert entries:
    the rows the post-load dbt tests look at."""
    return sql.SQL(
        "INSERT INTO datamig.run_keys (run_id, table_name, key) "
        "SELECT %(run)s, %(table)s, jsonb_build_object({arrays}) FROM {src} s GROUP BY s.{row} / {chunk}").format(
        arrays=_key_arrays(t), src=t.kstg, row=t.row, chunk=sql.Literal(INSERT_CHUNK))


# --- writes -----------------------------------------------------------------------------------

def _select_values(t: TableLoad, alias: str) -> sql.Composable:
    """Final columns as written by the first pass: nullified FK columns as NULL."""
    return sql.SQL(", ").join(
        sql.SQL("NULL::{}").format(sql.SQL(t.pg_types[c])) if c in t.nullify else _ident(alias, c)
        for c in t.columns)


def _overriding(t: TableLoad) -> sql.Composable:
    return sql.SQL(" OVERRIDING SYSTEM VALUE") if t.identity_always else sql.SQL("")


def updatable(t: TableLoad) -> list[str]:
    return [c for c in t.values if c not in t.nullify]


def write_insert(t: TableLoad) -> sql.Composable:
    return sql.SQL("INSERT INTO {} ({}){} SELECT {} FROM {} s").format(
        t.target, _cols(t.columns), _overriding(t), _select_values(t, "s"), t.stg)


def write_upsert(t: TableLoad) -> sql.Composable:
    cols = updatable(t)
    action = sql.SQL("DO UPDATE SET {}").format(sql.SQL(", ").join(
        sql.SQL("{} = EXCLUDED.{}").format(sql.Identifier(c), sql.Identifier(c)) for c in cols)) \
        if cols else sql.SQL("DO NOTHING")
    return sql.SQL("INSERT INTO {} AS t ({}){} SELECT {} FROM {} s ON CONFLICT ({}) {}").format(
        t.target, _cols(t.columns), _overriding(t), _select_values(t, "s"), t.stg, _cols(t.key), action)


def write_merge(t: TableLoad) -> sql.Composable:
    """Only rows whose final columns differ are updated, and only the final's columns: CERT-only
    columns and rows are never touched."""
    cols = updatable(t)
    matched = sql.SQL("")
    if cols:
        sets = sql.SQL(", ").join(sql.SQL("{} = s.{}").format(sql.Identifier(c), sql.Identifier(c)) for c in cols)
        matched = sql.SQL(" WHEN MATCHED AND {} THEN UPDATE SET {}").format(differs(t), sets)
    return sql.SQL("MERGE INTO {} t USING {} s ON {}{} WHEN NOT MATCHED THEN INSERT ({}){} VALUES ({})").format(
        t.target, t.stg, key_match(t), matched, _cols(t.columns), _overriding(t), _select_values(t, "s"))


def fix_nullified(t: TableLoad) -> sql.Composable:
    """Second pass of a cycle broken by a nullable FK: the parents exist now."""
    sets = sql.SQL(", ").join(sql.SQL("{} = s.{}").format(sql.Identifier(c), sql.Identifier(c)) for c in t.nullify)
    return sql.SQL("UPDATE {} t SET {} FROM {} s WHERE {} AND {}").format(
        t.target, sets, t.stg, key_match(t), differs(t, list(t.nullify)))


# --- sequences ------------------------------------------------------------------------------

def owned_sequences(t: TableLoad) -> sql.Composable:
    """(column, sequence as regclass text) of the table's serial and identity columns that
    count upwards and that this role may read and set."""
    return sql.SQL(
        "SELECT a.attname, s.seq::text FROM pg_attribute a "
        "CROSS JOIN LATERAL (SELECT pg_get_serial_sequence({rel}, a.attname)::regclass AS seq) s "
        "JOIN pg_sequence ps ON ps.seqrelid = s.seq "
        "WHERE a.attrelid = {rel}::regclass AND a.attnum > 0 AND NOT a.attisdropped AND ps.seqincrement > 0 "
        "AND has_sequence_privilege(s.seq, 'SELECT') AND has_sequence_privilege(s.seq, 'UPDATE')").format(
        rel=sql.Literal(sql.Identifier(t.schema, t.name).as_string(None)))


def advance_sequence(t: TableLoad, column: str, seq: str) -> sql.Composable:
    """setval to the column's max when the next value would be at or below it; never down.
    (A sequence change is not transactional: an aborted load leaves a gap, never a clash.)
    Returns the value set and the state before, for the ledger (datamig.sequences)."""
    return sql.SQL(
        "SELECT setval({lit}::regclass, x.m), s.last_value, s.is_called "
        "FROM (SELECT max({col})::bigint AS m FROM {target}) x, "
        "(SELECT last_value, is_called FROM {seq}) s "
        "WHERE x.m IS NOT NULL AND (x.m > s.last_value OR (x.m = s.last_value AND NOT s.is_called))").format(
        lit=sql.Literal(seq), col=sql.Identifier(column), target=t.target, seq=sql.SQL(seq))


def sequence_state(seq: str) -> sql.Composable:
    """(last_value, is_called) of a sequence (regclass text): read as it stands, not in a snapshot."""
    return sql.SQL("SELECT last_value, is_called FROM {}").format(sql.SQL(seq))


def record_sequence() -> sql.Composable:
    return sql.SQL(
        "INSERT INTO datamig.sequences (run_id, table_name, column_name, seq, before_value, before_called, "
        "after_value) VALUES (%(run)s, %(table)s, %(column)s, %(seq)s, %(before)s, %(called)s, %(after)s)")


def restore_sequence(schema: str, table: str, column: str, seq: str) -> sql.Composable:
    """After a rollback has committed: the sequence back to its state before the run, only if
    it still stands where the run set it (CERT drew nothing since) and no id left in the
    table lies above that state (the next insert would clash). Else it is CERT's: left alone."""
    return sql.SQL(
        "SELECT setval({lit}::regclass, %(before)s, %(called)s) FROM (SELECT last_value, is_called FROM {seq}) s "
        "WHERE s.last_value = %(after)s AND s.is_called "
        "AND NOT EXISTS (SELECT 1 FROM {target} WHERE {col} > %(before)s)").format(
        lit=sql.Literal(seq), seq=sql.SQL(seq), target=sql.Identifier(schema, table), col=sql.Identifier(column))


# --- undo (rollback and compensation read the ledger, never the run folder) -----------------

def _run_col(t: TableLoad) -> sql.Composable:
    """The name key rows give their run: run_id, unless a key column is named so (the two
    would be one ambiguous name, and the table could not be rolled back)."""
    return sql.Identifier(_unique_name("run_id", t.key))


def ledger_keys(t: TableLoad, op: str, run_filter: sql.Composable,
                table: sql.Composable = sql.SQL("%(table)s")) -> sql.Composable:
    """Typed key rows (run, key columns...; see _run_col) of the ledger entries of `op` for table
    %(table)s matching `run_filter` (a condition on alias l). Insert entries are columnar
    chunks, zipped back by position."""
    casts = [sql.SQL(t.pg_types[k]) for k in t.key]
    if op == "update":
        cols = sql.SQL(", ").join(sql.SQL("(l.key ->> {})::{} AS {}").format(sql.Literal(k), ty, sql.Identifier(k))
                                  for k, ty in zip(t.key, casts))
        return sql.SQL("SELECT l.run_id AS {}, {} FROM datamig.ledger l WHERE l.table_name = {} "
                       "AND l.op = 'update' AND {}").format(_run_col(t), cols, table, run_filter)
    return _chunked_keys(t, "datamig.ledger", sql.SQL("l.op = 'insert' AND {}").format(run_filter), table)


def _chunked_keys(t: TableLoad, relation: str, where: sql.Composable,
                  table: sql.Composable = sql.SQL("%(table)s")) -> sql.Composable:
    """Typed key rows (run, key columns...) of `relation`'s columnar key chunks for table
    %(table)s (ledger insert entries, run_keys): unnest(a, b, ...) zips each chunk's arrays
    back into key tuples, already typed (an array column's after the unnest: its chunk is a
    text[] of the arrays' texts, see _key_arrays)."""
    arrays = sql.SQL(", ").join(sql.SQL("(l.key ->> {})::{}[]").format(
        sql.Literal(k), sql.SQL("text" if _is_array(t, k) else t.pg_types[k])) for k in t.key)
    names = sql.SQL(", ").join(sql.Identifier(k) for k in t.key)
    cols = sql.SQL(", ").join(_unnested(t, k) for k in t.key)
    return sql.SQL("SELECT l.run_id AS {}, {} FROM {} l CROSS JOIN LATERAL unnest({}) AS x({}) "
                   "WHERE l.table_name = {} AND {}").format(
        _run_col(t), cols, sql.SQL(relation), arrays, names, table, where)


def _unnested(t: TableLoad, col: str) -> sql.Composable:
    expr = sql.SQL("x.{}").format(sql.Identifier(col))
    if not _is_array(t, col):
        return expr
    return sql.SQL("{}::{} AS {}").format(expr, sql.SQL(t.pg_types[col]), sql.Identifier(col))


def run_is(param: str = "run") -> sql.Composable:
    return sql.SQL("l.run_id = %({})s").format(sql.SQL(param))


def restore_updates(t: TableLoad) -> sql.Composable:
    """Every column the before-image holds goes back to it, CERT-only columns included; a
    column added to CERT after the load (absent from the image) is left alone."""
    if not t.restorable:
        return sql.SQL("SELECT 1")
    sets = []
    for c in t.restorable:
        value = _ident("r", c)
        if t.base(c) == "json":
            value = sql.SQL("(l.before ->> {})::{}").format(sql.Literal(c), sql.SQL(t.pg_types[c]))
        elif t.base(c).removesuffix("[]") == "jsonb" or (c in t.base_types and _exact_text(t.base(c))):
            # as text since JSONB_TEXT; as jsonb before. A domain carried as text is cast back
            # from it as well: jsonb_populate_record would read a domain over jsonb's text as a
            # JSON string
            value = sql.SQL("CASE WHEN l.before ? {} THEN (l.before ->> {})::{} ELSE {} END").format(
                sql.Literal(JSONB_TEXT), sql.Literal(c), sql.SQL(t.pg_types[c]), value)
        sets.append(sql.SQL("{c} = CASE WHEN l.before ? {lit} THEN {v} ELSE t.{c} END").format(
            c=sql.Identifier(c), lit=sql.Literal(c), v=value))
    on = sql.SQL(" AND ").join(sql.SQL("t.{} = (l.key ->> {})::{}").format(
        sql.Identifier(k), sql.Literal(k), sql.SQL(t.pg_types[k])) for k in t.key)
    # `o`, the same row read in the statement's snapshot, is the row as the run left it: one
    # RETURNING per image says whether restoring it changed any value (row text: exact for
    # json and -0 too), as an upsert images rows it rewrote with the values they held.
    # Whole rows as t.* and o.*: a bare t or o is ambiguous with a column of that name.
    same = sql.SQL(" AND ").join(sql.SQL("o.{k} = t.{k}").format(k=sql.Identifier(k)) for k in t.key)
    return sql.SQL(
        "UPDATE {target} t SET {sets} FROM datamig.ledger l "
        "CROSS JOIN LATERAL jsonb_populate_record(NULL::{target}, l.before) r, {target} o "
        "WHERE l.run_id = %(run)s AND l.table_name = %(table)s AND l.op = 'update' AND {on} AND {same} "
        "RETURNING (t.*)::text IS DISTINCT FROM (o.*)::text AS changed").format(
        target=t.target, sets=sql.SQL(", ").join(sets), on=on, same=same)


def null_out_inserted(t: TableLoad) -> sql.Composable:
    """Before deleting a cycle's inserted rows, cut their nullable FK so the delete order works."""
    sets = sql.SQL(", ").join(sql.SQL("{} = NULL").format(sql.Identifier(c)) for c in t.nullify)
    return sql.SQL("UPDATE {} t SET {} FROM ({}) d WHERE {}").format(
        t.target, sets, ledger_keys(t, "insert", run_is()), key_match(t, "t", "d"))


def delete_inserted(t: TableLoad) -> sql.Composable:
    return sql.SQL("DELETE FROM {} t USING ({}) d WHERE {}").format(
        t.target, ledger_keys(t, "insert", run_is()), key_match(t, "t", "d"))


_LATER_LOADED = ("l.run_id IN (SELECT r2.run_id FROM datamig.runs r2, datamig.runs r1 WHERE r1.run_id = %(run)s "
                 "AND r2.status = 'loaded' AND r2.seq > r1.seq)")


def later_rekeyed(t: TableLoad) -> sql.Composable:
    """A later, still loaded run that recorded table %(table)s by other key columns than
    t.key (limit 1): its keys and this run's cannot be matched, so later_overlap could not
    see it rewrite a row this run wrote."""
    mine = sql.SQL("ARRAY[{}]::text[]").format(sql.SQL(", ").join(sql.Literal(k) for k in sorted(t.key)))
    return sql.SQL(
        "SELECT l.run_id FROM (SELECT run_id, key FROM datamig.ledger WHERE table_name = %(table)s "
        "UNION ALL SELECT run_id, key FROM datamig.run_keys WHERE table_name = %(table)s) l "
        "WHERE " + _LATER_LOADED + " AND ARRAY(SELECT k FROM jsonb_object_keys(l.key) k "
        "ORDER BY k COLLATE \"C\") <> {} ORDER BY l.run_id LIMIT 1").format(mine)


def later_overlap(t: TableLoad) -> sql.Composable:
    """A later, still loaded run that loaded one of the keys this run inserted or updated
    (limit 1). Its run_keys count, not only its ledger: a merge that found a row unchanged
    records no ledger entry, and undoing this run would delete or rewrite that run's row."""
    mine = sql.SQL("{} UNION ALL {}").format(ledger_keys(t, "insert", run_is()), ledger_keys(t, "update", run_is()))
    later = sql.SQL(_LATER_LOADED)
    theirs = sql.SQL("{} UNION ALL {} UNION ALL {}").format(
        ledger_keys(t, "insert", later), ledger_keys(t, "update", later), _chunked_keys(t, "datamig.run_keys", later))
    on = key_match(t, "m", "o")
    return sql.SQL("SELECT o.{}, {}::text FROM ({}) m JOIN ({}) o ON {} LIMIT 1").format(
        _run_col(t), key_json(t, "m"), mine, theirs, on)


def changed_since(t: TableLoad) -> sql.Composable:
    """The key (as JSON text) and the op of a row of run %(run)s that the rollback would delete
    or restore and whose current version was written by none of the transactions %(xids)s
    (ledger.writers; a row's xmin is the transaction that wrote it): CERT wrote it since, limit
    1. Every write counts, a value put back as it was too. A row CERT deleted is not one: it
    stays deleted (already_gone)."""
    op = sql.Identifier(_unique_name("op", (*t.key, _unique_name("run_id", t.key))))
    mine = sql.SQL("SELECT 'inserted' AS {op}, * FROM ({}) i UNION ALL SELECT 'updated', * FROM ({}) u").format(
        ledger_keys(t, "insert", run_is()), ledger_keys(t, "update", run_is()), op=op)
    return sql.SQL(
        "SELECT {key}::text, m.{op} FROM ({mine}) m JOIN {target} t ON {on} "
        "WHERE NOT t.xmin::text::bigint = ANY(%(xids)s) LIMIT 1").format(
        key=key_json(t, "t"), op=op, mine=mine, target=t.target, on=key_match(t, "t", "m"))


def _unique_name(name: str, taken) -> str:
    while name in taken:
        name = "_" + name
    return name


def cascading_fks(t: TableLoad) -> sql.Composable:
    """(name, ON DELETE action, child schema, child table, child columns, referenced columns) of
    the foreign keys onto t whose delete does not refuse but cascades or sets: a rollback's
    delete of a row the run inserted would change the rows referencing it, unasked."""
    return sql.SQL(
        "SELECT con.conname, CASE con.confdeltype WHEN 'c' THEN 'CASCADE' WHEN 'n' THEN 'SET NULL' "
        "ELSE 'SET DEFAULT' END, n.nspname, c.relname, "
        "ARRAY(SELECT a.attname::text FROM unnest(con.conkey) WITH ORDINALITY k(n, i) JOIN pg_attribute a "
        "ON a.attrelid = con.conrelid AND a.attnum = k.n ORDER BY k.i), "
        "ARRAY(SELECT a.attname::text FROM unnest(con.confkey) WITH ORDINALITY k(n, i) JOIN pg_attribute a "
        "ON a.attrelid = con.confrelid AND a.attnum = k.n ORDER BY k.i) "
        "FROM pg_constraint con JOIN pg_class c ON c.oid = con.conrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE con.contype = 'f' AND con.conparentid = 0 AND con.confrelid = {}::regclass "
        "AND con.confdeltype IN ('c', 'n', 'd') ORDER BY con.conname").format(
        sql.Literal(t.target.as_string(None)))


def cascaded_row(t: TableLoad, child: sql.Composable, columns: list[str], referenced: list[str],
                 child_load: TableLoad | None) -> sql.Composable:
    """The key (JSON text) of a row of t the run %(run)s inserted that a row of `child` the run
    did not insert references (limit 1): deleting it would cascade into that row."""
    on = sql.SQL(" AND ").join(sql.SQL("c.{} = p.{}").format(sql.Identifier(a), sql.Identifier(b))
                               for a, b in zip(columns, referenced))
    mine = sql.SQL("")
    if child_load is not None:  # the run's own rows of the child go too: no loss
        mine = sql.SQL(" AND NOT EXISTS (SELECT 1 FROM ({}) k WHERE {})").format(
            ledger_keys(child_load, "insert", run_is(), sql.Literal(child_load.table_name)),
            key_match(child_load, "c", "k"))
    return sql.SQL(
        "SELECT {key}::text FROM {child} c JOIN {target} p ON {on} JOIN ({inserted}) d ON {pd}{mine} LIMIT 1").format(
        key=key_json(t, "p"), child=child, target=t.target, on=on, inserted=ledger_keys(t, "insert", run_is()),
        pd=key_match(t, "p", "d"), mine=mine)
