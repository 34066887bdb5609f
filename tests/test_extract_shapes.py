"""`datamig extract` of schema shapes and column types the shipped estate lacks, each in a
database of its own on a throwaway PostgreSQL 15 cluster (no Neo4j: the config has no graph).
Every test states the rows or values PROD holds and checks the Parquet holds exactly them."""
from __future__ import annotations

import itertools
import os
import subprocess
from pathlib import Path

import duckdb
import psycopg
import pytest

import _pg_cluster
from datamig.config import load_config
from datamig.errors import ConfigError, ConnectionFailed, MigrationFailed
from datamig.extract.run import extract

_names = itertools.count()
DATAMIG = Path(__file__).resolve().parents[1] / ".venv" / "bin" / "datamig"


@pytest.fixture(scope="module")
def pg():
    cluster = _pg_cluster.start()
    try:
        yield cluster
    finally:
        _pg_cluster.stop(cluster)


def _extract(pg, tmp_path: Path, ddl: str, district: int = 1, config: str = "", query: str = "") -> tuple[dict, Path]:
    """A new database holding `ddl` (a `districts` root keyed by id), extracted for `district`
    with `config` added to the config file (and `query` to PROD's URL)."""
    dbname = f"shapes{next(_names)}"
    with psycopg.connect(pg.url(), autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {dbname}")
    with psycopg.connect(pg.url(dbname), autocommit=True) as conn:
        conn.execute(ddl)
    tmp_path.mkdir(parents=True, exist_ok=True)
    path = tmp_path / "datamig.yaml"
    path.write_text("version: 1\nstores:\n  ids: {kind: postgres, prod_env: PROD_IDS_URL, cert_env: CERT_IDS_URL}\n"
                    f"district: {{store: ids, table: districts, key: id}}\nextract: {{out_dir: {tmp_path / 'runs'}}}\n"
                    + config)
    run_id = f"mig-20260101-000000-d{district}"
    manifest = extract(load_config(path), {"PROD_IDS_URL": pg.url(dbname) + query}, district, run_id=run_id)
    return manifest, tmp_path / "runs" / run_id / "extract"


def _rows(base: Path, table: str, columns: str = "*") -> list[tuple]:
    return duckdb.sql(f"SELECT {columns} FROM '{base / 'ids' / table}.parquet' ORDER BY ALL").fetchall()


def test_a_table_others_inherit_from_lands_only_its_own_rows(pg, tmp_path):
    """A child's rows were read through its INHERITS parent too: they landed in both Parquet
    files, so a load would have written each into the parent as a row of its own."""
    manifest, base = _extract(pg, tmp_path, """
        CREATE TABLE districts (id int PRIMARY KEY);
        CREATE TABLE events (id int PRIMARY KEY, district_id int NOT NULL REFERENCES districts (id), note text);
        CREATE TABLE special_events (extra text) INHERITS (events);
        ALTER TABLE special_events ADD PRIMARY KEY (id);
        ALTER TABLE special_events ADD FOREIGN KEY (district_id) REFERENCES districts (id);
        INSERT INTO districts VALUES (1), (2);
        INSERT INTO events VALUES (1, 1, 'plain'), (3, 2, 'other district');
        INSERT INTO special_events VALUES (2, 1, 'special', 'x');""")
    assert _rows(base, "events") == [(1, 1, "plain")]
    assert _rows(base, "special_events") == [(2, 1, "special", "x")]
    assert manifest["tables"]["ids.events"]["rows"] == 1


def test_a_partitioned_table_lands_the_rows_of_its_partitions(pg, tmp_path):
    """Read ONLY, a partitioned table has no rows: it must still be read through."""
    _, base = _extract(pg, tmp_path, """
        CREATE TABLE districts (id int PRIMARY KEY);
        CREATE TABLE attendance (district_id int NOT NULL REFERENCES districts (id), day date NOT NULL,
                                 PRIMARY KEY (district_id, day)) PARTITION BY RANGE (day);
        CREATE TABLE attendance_2024 PARTITION OF attendance FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
        INSERT INTO districts VALUES (1), (2);
        INSERT INTO attendance VALUES (1, '2024-02-01'), (2, '2024-02-01');""")
    assert _rows(base, "attendance", "district_id, CAST(day AS VARCHAR)") == [(1, "2024-02-01")]


def test_an_interval_column_lands_as_the_text_postgresql_reads_back(pg, tmp_path):
    """Any interval stopped the extract: its ISO 8601 text was cast to a DuckDB INTERVAL, which
    DuckDB does not parse ('P1Y2M3DT4H5M6.789S'), and Parquet holds no negative interval."""
    manifest, base = _extract(pg, tmp_path, """
        CREATE TABLE districts (id int PRIMARY KEY);
        CREATE TABLE periods (id int PRIMARY KEY, district_id int NOT NULL REFERENCES districts (id), span interval);
        INSERT INTO districts VALUES (1);
        INSERT INTO periods VALUES (1, 1, '1 year 2 mons 3 days 04:05:06.789'), (2, 1, '-1 days +04:00:00'),
                                   (3, 1, NULL);""")
    spans = [span for _, _, span in _rows(base, "periods")]
    assert spans == ["P1Y2M3DT4H5M6.789S", "P-1DT4H", None]
    with psycopg.connect(pg.url()) as conn:  # the text is the same interval to PostgreSQL
        assert conn.execute("SELECT %s::interval = '1 year 2 mons 3 days 04:05:06.789', "
                            "%s::interval = '-1 days +04:00:00'", spans[:2]).fetchone() == (True, True)
    assert manifest["tables"]["ids.periods"]["columns"][2]["type"] == "VARCHAR"


def test_a_numeric_column_without_precision_lands_every_value_exactly(pg, tmp_path):
    """It landed as DECIMAL(38,9): digits past the ninth decimal were rounded away in silence,
    and a NaN, an Infinity or a number of more than 29 integer digits stopped the extract."""
    values = ["0.1234567890123456789", "123456789012345678901234567890.5", "NaN", "-Infinity", "1.10"]
    manifest, base = _extract(pg, tmp_path, f"""
        CREATE TABLE districts (id int PRIMARY KEY);
        CREATE TABLE amounts (id int PRIMARY KEY, district_id int NOT NULL REFERENCES districts (id), v numeric);
        INSERT INTO districts VALUES (1);
        INSERT INTO amounts SELECT i, 1, v::numeric FROM unnest(ARRAY{values}) WITH ORDINALITY u(v, i);""")
    assert [v for _, _, v in _rows(base, "amounts")] == values
    assert manifest["tables"]["ids.amounts"]["columns"][2]["type"] == "VARCHAR"


def test_a_numeric_with_precision_lands_exactly_and_its_nan_is_named(pg, tmp_path):
    """The PostgreSQL scanner decoded a numeric(p,s) NaN as 0: it landed as 0.000 in silence."""
    ddl = """
        CREATE TABLE districts (id int PRIMARY KEY);
        CREATE TABLE grades (id int PRIMARY KEY, district_id int NOT NULL REFERENCES districts (id), gpa numeric(12,3));
        INSERT INTO districts VALUES (1);
        INSERT INTO grades VALUES (1, 1, 123456789.125), (2, 1, -0.5), (3, 1, NULL);"""
    manifest, base = _extract(pg, tmp_path / "exact", ddl)
    assert [str(v) for _, _, v in _rows(base, "grades")] == ["123456789.125", "-0.500", "None"]
    assert manifest["tables"]["ids.grades"]["columns"][2]["type"] == "DECIMAL(12,3)"
    with pytest.raises(MigrationFailed) as err:
        _extract(pg, tmp_path / "nan", ddl + "INSERT INTO grades VALUES (4, 1, 'NaN');")
    assert str(err.value) == ("table ids.grades: column gpa (numeric(12,3)) holds NaN, "
                              "which its Parquet type DECIMAL(12,3) cannot hold")
    assert not (tmp_path / "nan" / "runs" / "mig-20260101-000000-d1").exists()


def test_columns_named_like_the_workspace_bookkeeping_are_extracted(pg, tmp_path):
    """The workspace added _down and _batch columns to each table: a PROD table with a column of
    either name stopped the extract (DuckDB: 'Column with name _down already exists')."""
    _, base = _extract(pg, tmp_path, """
        CREATE TABLE districts (id int PRIMARY KEY);
        CREATE TABLE loads (id int PRIMARY KEY, district_id int NOT NULL REFERENCES districts (id),
                            _batch int, _down text);
        INSERT INTO districts VALUES (1), (2);
        INSERT INTO loads VALUES (1, 1, 7, 'x'), (2, 2, 8, 'y');""")
    assert _rows(base, "loads") == [(1, 1, 7, "x")]


@pytest.mark.parametrize("table, column", [
    ("CREATE TABLE loads (district_id int NOT NULL REFERENCES districts (id), _datamig_ctid text)", "_datamig_ctid"),
    ("CREATE TABLE loads (district_id int NOT NULL REFERENCES districts (id), \"_Datamig_TableOid\" text) "
     "PARTITION BY LIST (district_id); CREATE TABLE loads_1 PARTITION OF loads FOR VALUES IN (1)",
     "_Datamig_TableOid"),
    ("CREATE TABLE loads (id int PRIMARY KEY, district_id int NOT NULL REFERENCES districts (id), "
     "_datamig_down bool)", "_datamig_down"),
], ids=["without-primary-key", "partitioned", "any-table"])
def test_a_column_named_as_the_extracts_own_is_one_line_naming_it(pg, tmp_path, table, column):
    """The workspace adds _datamig_ctid (a table without primary key), _datamig_tableoid (a
    partitioned table), _datamig_down and _datamig_batch to each table's columns: a PROD column
    of one of those names (in any case: DuckDB's names ignore it) stopped the extract in a
    traceback ('Column with name _datamig_ctid already exists'), leaving a run folder."""
    with pytest.raises(ConfigError) as err:
        _extract(pg, tmp_path, f"CREATE TABLE districts (id int PRIMARY KEY); INSERT INTO districts VALUES (1);{table}")
    assert str(err.value) == (f"table ids.loads: column {column!r} has the name of a column the extract adds to "
                              "each row of it; rename it in PROD, or list ids.loads in exclude_tables")
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def test_a_column_named_as_duckdb_s_row_position_is_one_line_naming_it(pg, tmp_path):
    """The load reads each final row's position as DuckDB's file_row_number, which DuckDB will not
    give for a file with a column of that name: such a PROD column went through extract and
    transform, and stopped the load ("Using file_row_number option on file with column named
    file_row_number is not supported")."""
    with pytest.raises(ConfigError) as err:
        _extract(pg, tmp_path, "CREATE TABLE districts (id int PRIMARY KEY); INSERT INTO districts VALUES (1);"
                 "CREATE TABLE loads (id int PRIMARY KEY, district_id int NOT NULL REFERENCES districts (id), "
                 "\"File_Row_Number\" int)")
    assert str(err.value) == ("table ids.loads: column 'File_Row_Number' has the name DuckDB gives the row positions "
                              "the load reads, and it will not give them for a file with such a column; rename it in "
                              "PROD, or list ids.loads in exclude_tables")
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def test_a_column_named_as_a_bookkeeping_column_the_table_does_without_is_extracted(pg, tmp_path):
    """A table with a primary key has no _datamig_ctid column in the workspace: no clash."""
    _, base = _extract(pg, tmp_path, """
        CREATE TABLE districts (id int PRIMARY KEY);
        CREATE TABLE loads (id int PRIMARY KEY, district_id int NOT NULL REFERENCES districts (id),
                            _datamig_ctid text);
        INSERT INTO districts VALUES (1), (2);
        INSERT INTO loads VALUES (1, 1, 'x'), (2, 2, 'y');""")
    assert _rows(base, "loads") == [(1, 1, "x")]


@pytest.mark.parametrize("column, value, holds", [
    ("text[]", "'{{a,b},{c,d}}'", '[["a","b"],["c","d"]]'),
    ("integer[]", "'{{1,2},{3,4}}'", "[[1,2],[3,4]]"),
])
def test_an_array_of_two_dimensions_is_one_line_naming_it(pg, tmp_path, column, value, holds):
    """A text[] of two dimensions landed as a list of its rows' JSON text in silence; an
    integer[] one stopped the extract in DuckDB's traceback ('Failed to cast value')."""
    ddl = f"""
        CREATE TABLE districts (id int PRIMARY KEY);
        CREATE TABLE grids (id int PRIMARY KEY, district_id int NOT NULL REFERENCES districts (id), g {column});
        INSERT INTO districts VALUES (1);
        INSERT INTO grids VALUES (1, 1, '{{}}'), (2, 1, NULL);"""
    _, base = _extract(pg, tmp_path / "flat", ddl)
    assert [g for _, _, g in _rows(base, "grids")] == [[], None]
    with pytest.raises(MigrationFailed) as err:
        _extract(pg, tmp_path / "grid", ddl + f"INSERT INTO grids VALUES (3, 1, {value});")
    parquet_type = "VARCHAR[]" if column == "text[]" else "INTEGER[]"
    assert str(err.value) == f"table ids.grids: column g ({column}) holds {holds}, which its Parquet type " \
                             f"{parquet_type} cannot hold"


def test_a_link_from_text_to_an_integer_key_skips_values_that_are_no_integer(pg, tmp_path):
    """A legacy text column linked to an integer key held 'N/A': PostgreSQL's cast of the values
    sent stopped the extract (invalid input syntax for type integer). Values PostgreSQL reads as
    the key (' 20', '+040') still find their row; '30.5', '1e3', out of range or 'N/A' find none."""
    manifest, base = _extract(pg, tmp_path, """
        CREATE TABLE districts (id int PRIMARY KEY);
        CREATE TABLE students (id int PRIMARY KEY, district_id int NOT NULL REFERENCES districts (id));
        CREATE TABLE legacy (id int PRIMARY KEY, district_id int NOT NULL REFERENCES districts (id), ext_ref text);
        INSERT INTO districts VALUES (1), (2);
        INSERT INTO students VALUES (10, 1), (20, 2), (30, 2), (40, 2), (1000, 2);
        INSERT INTO legacy VALUES (1, 1, ' 20'), (2, 1, 'N/A'), (3, 1, '30.5'), (4, 1, '99999999999'),
                                  (5, 1, '1e3'), (6, 1, '+040');""",
        config='links: ["ids.legacy.ext_ref -> ids.students.id"]\n')
    assert _rows(base, "students") == [(10, 1), (20, 2), (40, 2)]
    assert manifest["tables"]["ids.legacy"]["rows"] == 6



@pytest.mark.parametrize("key_type, landed", [("numeric", ["1.5", "20.25", "30"]),
                                              ("numeric(6,2)", ["1.50", "20.25", "30.00"])])
def test_a_link_from_text_to_a_numeric_key_skips_values_that_are_no_number(pg, tmp_path, key_type, landed):
    """A numeric travels as its text (6f32732, cd9434f), so the link's check of the values
    PostgreSQL reads as the key took text to text and sent 'N/A': 'invalid input syntax for type
    numeric' stopped the whole extract, in DuckDB's traceback."""
    manifest, base = _extract(pg, tmp_path, f"""
        CREATE TABLE districts (id int PRIMARY KEY);
        CREATE TABLE codes (code {key_type} PRIMARY KEY, district_id int NOT NULL REFERENCES districts (id));
        CREATE TABLE legacy (id int PRIMARY KEY, district_id int NOT NULL REFERENCES districts (id), ext_ref text);
        INSERT INTO districts VALUES (1), (2);
        INSERT INTO codes VALUES (1.5, 1), (20.25, 2), (30, 2), (1000, 2);
        INSERT INTO legacy VALUES (1, 1, ' 20.25'), (2, 1, 'N/A'), (3, 1, '3e1'), (4, 1, '0x10');""",
        config='links: ["ids.legacy.ext_ref -> ids.codes.code"]\n')
    assert _rows(base, "codes", "CAST(code AS VARCHAR), district_id") == list(zip(landed, [1, 2, 2]))
    assert manifest["tables"]["ids.legacy"]["rows"] == 4


def _extract_as_reader(pg, tmp_path: Path, ddl: str, grant: str, config: str = "",
                       command: tuple[str, ...] = ("extract", "--district", "1")
                       ) -> tuple[subprocess.CompletedProcess, str]:
    """`datamig extract --district 1` of a new database holding `ddl`, as a role given `grant`
    ({reader} names it) and a password, with `config` added to the config file; (the result, the role)."""
    dbname = f"shapes{next(_names)}"
    password = "Reader-Pw-do-not-print"
    reader = f"{dbname}_reader"
    with psycopg.connect(pg.url(), autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {dbname}")
        conn.execute(f"CREATE ROLE {reader} LOGIN PASSWORD '{password}'")
    with psycopg.connect(pg.url(dbname), autocommit=True) as conn:
        conn.execute(ddl + ";" + grant.format(reader=reader))
    path = tmp_path / "datamig.yaml"
    path.write_text("version: 1\nstores:\n  ids: {kind: postgres, prod_env: PROD_IDS_URL, cert_env: CERT_IDS_URL}\n"
                    f"district: {{store: ids, table: districts, key: id}}\nextract: {{out_dir: {tmp_path / 'runs'}}}\n"
                    + config)
    url = f"postgresql://{reader}:{password}@127.0.0.1:{pg.port}/{dbname}"
    env = {**os.environ, "PROD_IDS_URL": url, "DATAMIG_CONFIG": str(path)}
    result = subprocess.run([str(DATAMIG), *command], env=env, capture_output=True, text=True, cwd=tmp_path)
    assert password not in result.stderr + result.stdout
    return result, reader


def test_a_table_the_role_may_not_read_is_one_line_naming_it(pg, tmp_path):
    """A PROD table without a SELECT grant for the extract's role (new, say) stopped the extract
    in a traceback ('permission denied for table secret'), exit 1, leaving a run folder. An
    excluded one is never read, so it needs no grant."""
    result, reader = _extract_as_reader(pg, tmp_path, """
        CREATE TABLE districts (id int PRIMARY KEY); INSERT INTO districts VALUES (1);
        CREATE TABLE secret (id int PRIMARY KEY, district_id int NOT NULL REFERENCES districts (id));
        CREATE TABLE audit (id int PRIMARY KEY, district_id int NOT NULL REFERENCES districts (id))""",
        "GRANT SELECT ON districts TO {reader}", config="exclude_tables: [ids.audit]\n")
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip() == (f"error: store ids: role {reader} may not read table public.secret "
                                     "(no SELECT privilege); grant it, or list ids.secret in exclude_tables")
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def test_a_table_granted_column_by_column_is_read_and_one_missing_a_column_is_not(pg, tmp_path):
    """The grant check asked for a table-level SELECT only: a role granted every column
    (GRANT SELECT (id, ...) ON ...) was refused though the extract can read it all."""
    schema = """
        CREATE TABLE districts (id int PRIMARY KEY); INSERT INTO districts VALUES (1);
        CREATE TABLE notes (id int PRIMARY KEY, district_id int NOT NULL REFERENCES districts (id), body text);
        INSERT INTO notes VALUES (1, 1, 'kept')"""
    grant = "GRANT SELECT ON districts TO {reader}; GRANT SELECT (%s) ON notes TO {reader}"
    (tmp_path / "all").mkdir()
    (tmp_path / "some").mkdir()
    result, _ = _extract_as_reader(pg, tmp_path / "all", schema, grant % "id, district_id, body")
    assert result.returncode == 0, result.stderr
    result, reader = _extract_as_reader(pg, tmp_path / "some", schema, grant % "id, district_id")
    assert result.returncode == 2, result.stderr
    assert f"role {reader} may not read table public.notes (no SELECT privilege)" in result.stderr


@pytest.mark.parametrize("grant, named", [
    ("GRANT SELECT ON districts TO {reader}", "may not read table public.notes (no SELECT privilege)"),
    ("GRANT SELECT ON districts, notes TO {reader}; ALTER TABLE notes ENABLE ROW LEVEL SECURITY",
     "may not read every row of table public.notes (row-level security is on for it)"),
], ids=["no-grant", "row-level-security"])
def test_select_districts_names_a_table_it_may_not_read(pg, tmp_path, grant, named):
    """select-districts measures every district through the same walk: it stopped in psycopg's
    traceback where extract said one line."""
    result, reader = _extract_as_reader(pg, tmp_path, """
        CREATE TABLE districts (id int PRIMARY KEY, name text); INSERT INTO districts VALUES (1, 'One');
        CREATE TABLE notes (id int PRIMARY KEY, district_id int NOT NULL REFERENCES districts (id))""",
        grant, command=("select-districts",))
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: store ids: role {reader} {named}; "), lines


def test_a_table_whose_row_level_security_hides_rows_is_one_line_naming_it(pg, tmp_path):
    """A policy hid a district's private note from the extract's role: the slice landed without
    it, exit 0, saying nothing."""
    result, reader = _extract_as_reader(pg, tmp_path, """
        CREATE TABLE districts (id int PRIMARY KEY); INSERT INTO districts VALUES (1);
        CREATE TABLE notes (id int PRIMARY KEY, district_id int NOT NULL REFERENCES districts (id), private bool);
        INSERT INTO notes VALUES (1, 1, false), (2, 1, true);
        ALTER TABLE notes ENABLE ROW LEVEL SECURITY;
        CREATE POLICY public_only ON notes FOR SELECT USING (NOT private)""",
        "GRANT SELECT ON districts, notes TO {reader}")
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip() == (
        f"error: store ids: role {reader} may not read every row of table public.notes (row-level security is on "
        "for it); extract as a role with BYPASSRLS, or list ids.notes in exclude_tables")
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def test_an_fk_to_a_parent_not_extracted_is_said(pg, tmp_path):
    """A grade pointing at a code of another schema (or at an excluded table) landed pointing at
    a row the slice lacks, exit 0, and only analyze's report said so."""
    manifest, base = _extract(pg, tmp_path, """
        CREATE TABLE districts (id int PRIMARY KEY);
        CREATE SCHEMA lookup;
        CREATE TABLE lookup.codes (code text PRIMARY KEY);
        CREATE TABLE grades (id int PRIMARY KEY, district_id int NOT NULL REFERENCES districts (id),
                             code text CONSTRAINT grades_code_fk REFERENCES lookup.codes (code));
        INSERT INTO districts VALUES (1);
        INSERT INTO lookup.codes VALUES ('A');
        INSERT INTO grades VALUES (1, 1, 'A');""")
    assert _rows(base, "grades") == [(1, 1, "A")]
    assert manifest["dangling_foreign_keys"] == [
        "ids.grades (grades_code_fk) points at ids.lookup.codes, which is not in the store's schema: "
        "its rows there are not extracted"]
    log = (base.parent / "run.log").read_text()
    assert "ids.grades (grades_code_fk) points at ids.lookup.codes" in log


def test_tables_whose_names_differ_only_in_case_keep_their_own_rows(pg, tmp_path):
    """DuckDB's names ignore case: "Students" shared the workspace table of students, so each
    Parquet file held the rows of both (or, columns differing, the extract stopped)."""
    _, base = _extract(pg, tmp_path, """
        CREATE TABLE districts (id int PRIMARY KEY);
        CREATE TABLE students (id int PRIMARY KEY, district_id int NOT NULL REFERENCES districts (id));
        CREATE TABLE "Students" (id int PRIMARY KEY, district_id int NOT NULL REFERENCES districts (id));
        INSERT INTO districts VALUES (1);
        INSERT INTO students VALUES (1, 1);
        INSERT INTO "Students" VALUES (2, 1);""")
    assert _rows(base, "students") == [(1, 1)]
    assert _rows(base, "Students") == [(2, 1)]


def test_a_column_with_two_foreign_keys_pulls_the_parents_of_both(pg, tmp_path):
    """enrollments.student_id references students and people: both FKs bear one label, and the
    walk kept its progress per label, so the second was taken as done and people's row was never
    fetched (the slice dangled)."""
    _, base = _extract(pg, tmp_path, """
        CREATE TABLE districts (id int PRIMARY KEY);
        CREATE TABLE people (id int PRIMARY KEY, name text);
        CREATE TABLE students (id int PRIMARY KEY, district_id int NOT NULL REFERENCES districts (id));
        CREATE TABLE enrollments (id int PRIMARY KEY,
                                  student_id int NOT NULL REFERENCES students (id) REFERENCES people (id));
        INSERT INTO districts VALUES (1);
        INSERT INTO people VALUES (10, 'p10'), (11, 'p11');
        INSERT INTO students VALUES (10, 1);
        INSERT INTO enrollments VALUES (100, 10);""")
    assert _rows(base, "enrollments") == [(100, 10)]
    assert _rows(base, "people") == [(10, "p10")]


def test_columns_whose_names_differ_only_in_case_are_one_line_naming_them(pg, tmp_path):
    """DuckDB's names ignore case: a table with "Name" beside name stopped the extract in a
    traceback ('Column with name name already exists'), leaving a run folder."""
    with pytest.raises(ConfigError) as err:
        _extract(pg, tmp_path, """
            CREATE TABLE districts (id int PRIMARY KEY);
            CREATE TABLE people (id int PRIMARY KEY, district_id int NOT NULL REFERENCES districts (id),
                                 "Name" text, name text);
            INSERT INTO districts VALUES (1);""")
    assert str(err.value) == ("table ids.people: columns 'Name' and 'name' differ only in case, which DuckDB does "
                              "not tell apart; rename one in PROD, or list ids.people in exclude_tables")
    assert not (tmp_path / "runs").exists()


def test_a_json_array_whose_elements_are_arrays_is_extracted(pg, tmp_path):
    """The check for arrays of two dimensions (their JSON text starts '[[') took a json[] whose
    first element is a JSON array for one, and refused it."""
    _, base = _extract(pg, tmp_path, """
        CREATE TABLE districts (id int PRIMARY KEY);
        CREATE TABLE docs (id int PRIMARY KEY, district_id int NOT NULL REFERENCES districts (id), d jsonb[]);
        INSERT INTO districts VALUES (1);
        INSERT INTO docs VALUES (1, 1, ARRAY['[1, 2]'::jsonb, '{"a": 1}'::jsonb]);""")
    assert _rows(base, "docs") == [(1, 1, ["[1,2]", '{"a":1}'])]


def test_a_connect_timeout_beyond_libpqs_int_is_one_line_naming_it(pg, tmp_path):
    """psycopg took connect_timeout=99999999999 (a Python int) and opened the snapshot; the
    scanner's libpq then refused it, and the line said only that PROD could not be reached."""
    with pytest.raises(ConnectionFailed) as err:
        _extract(pg, tmp_path, "CREATE TABLE districts (id int PRIMARY KEY); INSERT INTO districts VALUES (1);",
                 query="?connect_timeout=99999999999")
    assert str(err.value).startswith("store ids: cannot connect to PostgreSQL at 127.0.0.1:")
    assert str(err.value).endswith(": its connect_timeout is out of the range libpq reads "
                                   "(-2147483648 to 2147483647 seconds)")
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def test_a_table_name_with_a_slash_is_one_line_and_writes_nothing(pg, tmp_path):
    """"a/../../../escaped" made a Parquet path out of the run folder: PostgreSQL takes any
    character in a quoted name, and the extract wrote the file where the name pointed."""
    with pytest.raises(ConfigError) as caught:
        _extract(pg, tmp_path, """
            CREATE TABLE districts (id int PRIMARY KEY); INSERT INTO districts VALUES (1);
            CREATE TABLE "a/../../../escaped" (id int PRIMARY KEY, district_id int REFERENCES districts (id));
            INSERT INTO "a/../../../escaped" VALUES (1, 1)""")
    assert str(caught.value) == ("store ids: table 'a/../../../escaped' has a slash in its name, which no Parquet "
                                 "file name of the extract can hold; rename it in PROD, or leave it out "
                                 "(exclude_tables, the graph walk)")
    assert not list(tmp_path.rglob("*.parquet"))
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def test_an_fk_declared_only_on_a_partition_is_walked_down_and_up(pg, tmp_path):
    """attendance_2024 alone references districts and codes: the FKs were read from the tables
    that are not partitions only, so the district's attendance was never reached (and, reached,
    the codes it points at were not fetched)."""
    _, base = _extract(pg, tmp_path, """
        CREATE TABLE districts (id int PRIMARY KEY);
        CREATE TABLE codes (code text PRIMARY KEY, label text);
        CREATE TABLE attendance (district_id int NOT NULL, day date NOT NULL, code text,
                                 PRIMARY KEY (district_id, day)) PARTITION BY RANGE (day);
        CREATE TABLE attendance_2024 PARTITION OF attendance FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
        ALTER TABLE attendance_2024 ADD FOREIGN KEY (district_id) REFERENCES districts (id),
                                    ADD FOREIGN KEY (code) REFERENCES codes (code);
        INSERT INTO districts VALUES (1), (2);
        INSERT INTO codes VALUES ('P', 'present'), ('A', 'absent');
        INSERT INTO attendance VALUES (1, '2024-02-01', 'P'), (2, '2024-02-01', 'A');""")
    assert _rows(base, "attendance", "district_id, CAST(day AS VARCHAR), code") == [(1, "2024-02-01", "P")]
    assert _rows(base, "codes") == [("P", "present")]


def test_an_fk_declared_only_on_a_partition_selects_that_partitions_rows(pg, tmp_path):
    """The FK holds for attendance_2024's rows only: a row of another partition whose column
    happens to carry the district's key is not reached through it."""
    _, base = _extract(pg, tmp_path, """
        CREATE TABLE districts (id int PRIMARY KEY);
        CREATE TABLE attendance (ref int NOT NULL, day date NOT NULL,
                                 PRIMARY KEY (ref, day)) PARTITION BY RANGE (day);
        CREATE TABLE attendance_2023 PARTITION OF attendance FOR VALUES FROM ('2023-01-01') TO ('2024-01-01');
        CREATE TABLE attendance_2024 PARTITION OF attendance FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
        ALTER TABLE attendance_2024 ADD FOREIGN KEY (ref) REFERENCES districts (id);
        INSERT INTO districts VALUES (1), (2);
        INSERT INTO attendance VALUES (1, '2023-02-01'), (1, '2024-02-01'), (2, '2024-02-01');""")
    assert _rows(base, "attendance", "ref, CAST(day AS VARCHAR)") == [(1, "2024-02-01")]


@pytest.mark.parametrize("column, value, landed", [
    ("numeric[]", "'{1.50,NULL,1e-20,-0.000,NaN}'", ["1.50", None, "0.00000000000000000001", "0.000", "NaN"]),
    ("numeric(6,2)[]", "'{1.5,100}'", ["1.50", "100.00"]),
    ("real[]", "'{1.5,1e+30}'", ["1.5", "1e+30"]),
    ("numeric[]", "NULL", None),         # landed as [], an empty array where PROD holds none
    ("timestamp[]", "NULL", None),
    ("numeric[]", "'{}'", []),
])
def test_an_array_of_numbers_lands_each_element_as_postgresql_prints_it(pg, tmp_path, column, value, landed):
    """A numeric[] travelled as JSON numbers, which DuckDB read back as doubles: 1.50 landed as
    1.5 (and a numeric(6,2)[] lost its scale), so CERT held other values than PROD."""
    _, base = _extract(pg, tmp_path, f"""
        CREATE TABLE districts (id int PRIMARY KEY);
        CREATE TABLE scores (id int PRIMARY KEY, district_id int NOT NULL REFERENCES districts (id), v {column});
        INSERT INTO districts VALUES (1);
        INSERT INTO scores VALUES (1, 1, {value});""")
    assert _rows(base, "scores", "v") == [(landed,)]


def test_an_array_whose_lower_bound_is_not_one_is_one_line_naming_it(pg, tmp_path):
    """'[0:2]={1,2,3}' travelled through array_to_json, which drops the bounds: CERT got
    {1,2,3}, indexed from 1, in silence. A Parquet list has no bounds to keep it in."""
    ddl = """
        CREATE TABLE districts (id int PRIMARY KEY);
        CREATE TABLE slots (id int PRIMARY KEY, district_id int NOT NULL REFERENCES districts (id), v int[]);
        INSERT INTO districts VALUES (1);
        INSERT INTO slots VALUES (1, 1, '{1,2}'), (2, 1, '[1:1]={5}'), (3, 1, '{}'), (4, 1, NULL);"""
    _, base = _extract(pg, tmp_path / "from_one", ddl)
    assert _rows(base, "slots", "id, v") == [(1, [1, 2]), (2, [5]), (3, []), (4, None)]
    with pytest.raises(MigrationFailed) as err:
        _extract(pg, tmp_path / "from_zero", ddl + "INSERT INTO slots VALUES (5, 1, '[0:2]={1,2,3}');")
    assert str(err.value) == "table ids.slots: column v (integer[]) holds [0:2]={1,2,3}, which its Parquet type " \
                             "INTEGER[] cannot hold (a list is indexed from 1)"


def test_foreign_keys_over_bytea_columns_are_walked_down_and_up(pg, tmp_path):
    """A bytea key travels as base64 text; the closure sent that text back cast to bytea (its
    escape format), matched no row, and the slice lacked the district's readings in silence."""
    _, base = _extract(pg, tmp_path, """
        CREATE TABLE districts (id int PRIMARY KEY);
        CREATE TABLE devices (token bytea PRIMARY KEY, district_id int NOT NULL REFERENCES districts (id));
        CREATE TABLE readings (id int PRIMARY KEY, token bytea NOT NULL REFERENCES devices (token));
        CREATE TABLE windows (token bytea, n int, PRIMARY KEY (token, n));
        CREATE TABLE samples (id int PRIMARY KEY, reading_id int NOT NULL REFERENCES readings (id),
                              token bytea, n int, FOREIGN KEY (token, n) REFERENCES windows (token, n));
        INSERT INTO districts VALUES (1), (2);
        INSERT INTO devices VALUES ('\\x00ff', 1), (decode(repeat('ab', 100), 'hex'), 1), ('\\x01', 2);
        INSERT INTO readings VALUES (10, '\\x00ff'), (11, decode(repeat('ab', 100), 'hex')), (12, '\\x01');
        INSERT INTO windows VALUES ('\\x00', 1), ('\\x00', 2);
        INSERT INTO samples VALUES (100, 10, '\\x00', 2), (101, 12, '\\x00', 1);""")
    assert _rows(base, "readings", "id") == [(10,), (11,)]
    assert _rows(base, "windows", "hex(token), n") == [("00", 2)]


def test_a_partitioned_table_without_primary_key_lands_the_rows_of_every_partition(pg, tmp_path):
    """Rows of a table without primary key were told apart by their ctid, which is a place in one
    partition: the first row of each partition is (0,1), so a row of the second partition reached
    in a later fetch (through its school) was taken as fetched already and left out of the slice."""
    _, base = _extract(pg, tmp_path, """
        CREATE TABLE districts (id int PRIMARY KEY);
        CREATE TABLE schools (id int PRIMARY KEY, district_id int NOT NULL REFERENCES districts (id));
        CREATE TABLE visits (district_id int NOT NULL REFERENCES districts (id),
                             school_id int NOT NULL REFERENCES schools (id), day date NOT NULL)
            PARTITION BY RANGE (day);
        CREATE TABLE visits_2023 PARTITION OF visits FOR VALUES FROM ('2023-01-01') TO ('2024-01-01');
        CREATE TABLE visits_2024 PARTITION OF visits FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
        INSERT INTO districts VALUES (1), (2);
        INSERT INTO schools VALUES (10, 1), (20, 2);
        INSERT INTO visits VALUES (1, 20, '2023-05-01'), (2, 10, '2024-05-01');""")
    assert _rows(base, "visits", "district_id, school_id, CAST(day AS VARCHAR)") == [
        (1, 20, "2023-05-01"), (2, 10, "2024-05-01")]


@pytest.mark.parametrize("link", ["ids.notes.device_ref -> ids.devices.token",
                                  "ids.devices.token -> ids.notes.device_ref"])
def test_a_link_between_a_bytea_and_a_text_column_is_one_line_naming_it(pg, tmp_path, link):
    """A bytea value is walked as base64 and a text one as itself: linked, one side's values were
    decoded as base64 ('invalid symbol' stopped the extract in DuckDB's traceback) or matched none."""
    with pytest.raises(ConfigError) as err:
        _extract(pg, tmp_path, """
            CREATE TABLE districts (id int PRIMARY KEY);
            CREATE TABLE devices (token bytea PRIMARY KEY, district_id int NOT NULL REFERENCES districts (id));
            CREATE TABLE notes (id int PRIMARY KEY, district_id int NOT NULL REFERENCES districts (id),
                                device_ref text UNIQUE);
            INSERT INTO districts VALUES (1);
            INSERT INTO devices VALUES ('\\x00ff', 1);
            INSERT INTO notes VALUES (1, 1, 'a?b');""", config=f'links: ["{link}"]\n')
    assert str(err.value) == f"link {link!r}: ids.devices.token is bytea and ids.notes.device_ref is text; " \
                             "a link joins two bytea columns or none"
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def test_an_fk_declared_only_on_a_partition_is_walked_up_from_that_partitions_rows(pg, tmp_path):
    """events_s alone references students, events_t alone staff: walked up from every events row,
    staff 2's event fetched student 2 of district 2 as a parent, which no row of the slice is
    a child of (likewise staff 1 for student 1's event)."""
    manifest, base = _extract(pg, tmp_path, """
        CREATE TABLE districts (id int PRIMARY KEY);
        CREATE TABLE students (id int PRIMARY KEY, district_id int NOT NULL REFERENCES districts (id));
        CREATE TABLE staff (id int PRIMARY KEY, district_id int NOT NULL REFERENCES districts (id));
        CREATE TABLE events (subject_id int NOT NULL, kind text NOT NULL, note text,
                             PRIMARY KEY (subject_id, kind)) PARTITION BY LIST (kind);
        CREATE TABLE events_s PARTITION OF events FOR VALUES IN ('s');
        CREATE TABLE events_t PARTITION OF events FOR VALUES IN ('t');
        ALTER TABLE events_s ADD FOREIGN KEY (subject_id) REFERENCES students (id);
        ALTER TABLE events_t ADD FOREIGN KEY (subject_id) REFERENCES staff (id);
        INSERT INTO districts VALUES (1), (2);
        INSERT INTO students VALUES (1, 1), (2, 2);
        INSERT INTO staff VALUES (2, 1), (1, 2);
        INSERT INTO events VALUES (1, 's', 'student 1'), (2, 't', 'staff 2');""")
    assert _rows(base, "events", "subject_id, kind") == [(1, "s"), (2, "t")]
    assert _rows(base, "students") == [(1, 1)]
    assert _rows(base, "staff") == [(2, 1)]


def test_an_fk_to_one_partition_is_walked_down_from_that_partitions_rows(pg, tmp_path):
    """notes reference people_s alone: walked down from every people row, district 1's person 5
    of people_t pulled down the note of district 2's person 5 of people_s."""
    _, base = _extract(pg, tmp_path, """
        CREATE TABLE districts (id int PRIMARY KEY);
        CREATE TABLE people (id int NOT NULL, kind text NOT NULL, district_id int NOT NULL REFERENCES districts (id),
                             PRIMARY KEY (id, kind)) PARTITION BY LIST (kind);
        CREATE TABLE people_s PARTITION OF people FOR VALUES IN ('s');
        CREATE TABLE people_t PARTITION OF people FOR VALUES IN ('t');
        CREATE UNIQUE INDEX ON people_s (id);
        CREATE TABLE notes (id int PRIMARY KEY, person_id int NOT NULL REFERENCES people_s (id));
        INSERT INTO districts VALUES (1), (2);
        INSERT INTO people VALUES (4, 's', 1), (5, 't', 1), (5, 's', 2);
        INSERT INTO notes VALUES (1, 4), (2, 5);""")
    assert _rows(base, "notes") == [(1, 4)]
    assert _rows(base, "people", "id, kind") == [(4, "s"), (5, "t")]
