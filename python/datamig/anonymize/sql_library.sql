-- The SQL functions the dbt anonymize macros (macros/anonymize/*.sql) compile to: DuckDB macros
-- that engine.configure() creates in `dm_lib`, an in-memory catalog attached to the DuckDB
-- instance, so every cursor sees them and the warehouse file holds none of them.
--
-- Why macros: DuckDB expands a macro where it is called, before it optimizes, so a query runs
-- exactly as if the body were written out (common subexpressions and constant folding included),
-- while the SQL dbt compiles, logs and parses (sqlparse, to inject the ephemeral CTEs) is a
-- fraction of the size: dbt's own per-model Python was the larger part of `dbt run`.
-- The byte layout of the keyed hash is specified in keyed.py. Statements end with ";" on a line.

-- '' or spaces only; trim() runs only on texts starting with a space (half the cost of trim())
CREATE OR REPLACE MACRO dm_lib.main.is_blank(t) AS
    t = '' OR (starts_with(t, ' ') AND trim(t) = '');

-- NULL stays NULL, blank stays as it was, anything else becomes `fake`. `h` is what is tested for
-- NULL: the keyed hash when `fake` uses it several times (testing it first makes DuckDB compute it
-- once per row: common subexpressions are shared only with what every row evaluates), else `t`.
CREATE OR REPLACE MACRO dm_lib.main.blank_safe(t, fake, h) AS
    CASE WHEN h IS NULL THEN NULL WHEN dm_lib.main.is_blank(t) THEN t ELSE fake END;

-- h128 = md5_number(K_d || chr(31) || value); K_d comes from the plugin's dm_domain_key UDF,
-- which DuckDB folds to a constant once per query
CREATE OR REPLACE MACRO dm_lib.main.h128(domain, t) AS
    md5_number(dm_domain_key(domain) || chr(31) || t);

-- emails and user names: one identity whatever their case or padding, spaces, tabs, line ends or
-- no-break spaces (keyed.IDENTITY_PADDING). trim() only where there is padding (3x cheaper), seen
-- by the code points at either end (ord of the reversed text: 1.5x cheaper than left()/right()).
-- list_contains, not `IN (32, 9, ...)`: DuckDB 1.5 plans an IN list of 5+ constants as a
-- mark join against a five-row scan, one join per call, and a full name calls this dozens of
-- times (every fake_part's is_word_of): ~46 joins in one projection cost a model 1-2 s of CPU,
-- even on 3 rows (full_name on 20k rows: 2.0 s -> 0.4 s of CPU). Same truth value, NULL alike.
CREATE OR REPLACE MACRO dm_lib.main.identity(t) AS
    lower(CASE WHEN list_contains([32, 9, 10, 13, 160], ord(t))
                    OR list_contains([32, 9, 10, 13, 160], ord(reverse(t)))
               THEN trim(t, ' ' || chr(9) || chr(10) || chr(13) || chr(160)) ELSE t END);

-- bits [lo, lo + n) of a 128-bit keyed hash, UBIGINT
CREATE OR REPLACE MACRO dm_lib.main.bits(h, lo, n) AS
    CAST((h >> lo) & ((CAST(1 AS UHUGEINT) << n) - 1) AS UBIGINT);

-- the same bits as zero-padded lower-case hex, (n + 3) // 4 digits
CREATE OR REPLACE MACRO dm_lib.main.hex(h, lo, n) AS
    printf('%0' || CAST((n + 3) // 4 AS VARCHAR) || 'x', dm_lib.main.bits(h, lo, n));

-- a dictionary pick: 32 bits of the hash mod the dictionary's size. The dictionary is a scalar
-- subquery on dm_lib.main.dictionaries (udfs.py), which DuckDB runs once per query and joins as a
-- one-row side; a folded UDF returning the list was converted to a 10k-value constant per pick and query
-- (~11 ms each: a model with nine picks spent 0.1 s planning, all models together ~1 s).
-- dm_dict_size is folded; UBIGINT because a signed size would make the modulo a HUGEINT one (10x).
CREATE OR REPLACE MACRO dm_lib.main.pick_at(dict, b) AS
    (SELECT entries FROM dm_lib.main.dictionaries WHERE name = dict)[1 + CAST(b % dm_dict_size(dict) AS BIGINT)];

CREATE OR REPLACE MACRO dm_lib.main.pick(dict, h, lo) AS
    dm_lib.main.pick_at(dict, dm_lib.main.bits(h, lo, 32));

-- the dictionaries are built from Faker's lists, which hold real names, cities and zips: a pick can
-- be the value itself ('Luis' -> 'Luis') or one of its words ('Edwin Cardona' -> 'Roberta Cardona').
-- Such a pick takes the next entry instead (a dictionary has no repeats: never the same one), as
-- keyed.pick_other does. strpos() first: the word split runs only for the rare pick found in the text,
-- on lower(t), not identity(t) (the same answer: a pick holds no padding), 1.2x the rows/s of the pick.
CREATE OR REPLACE MACRO dm_lib.main.is_word_of(fake, t) AS
    strpos(lower(t), lower(fake)) > 0
    AND list_contains(regexp_split_to_array(dm_lib.main.identity(t), '[ ,]+'), lower(fake));

CREATE OR REPLACE MACRO dm_lib.main.pick_other(dict, h, lo, t) AS
    CASE WHEN dm_lib.main.is_word_of(dm_lib.main.pick(dict, h, lo), t)
         THEN dm_lib.main.pick_at(dict, dm_lib.main.bits(h, lo, 32) + 1) ELSE dm_lib.main.pick(dict, h, lo) END;

-- the same pick inside a lambda (text[] columns), where a subquery cannot go (and a list-returning
-- UDF is not folded: DuckDB built the whole list once per element): dm_pick takes the picks in
-- one vectorized call
CREATE OR REPLACE MACRO dm_lib.main.pick_listed_at(dict, b) AS
    dm_pick(dict, 1 + CAST(b % dm_dict_size(dict) AS BIGINT));

CREATE OR REPLACE MACRO dm_lib.main.pick_listed(dict, h, lo) AS
    dm_lib.main.pick_listed_at(dict, dm_lib.main.bits(h, lo, 32));

CREATE OR REPLACE MACRO dm_lib.main.pick_other_listed(dict, h, lo, t) AS
    CASE WHEN dm_lib.main.is_word_of(dm_lib.main.pick_listed(dict, h, lo), t)
         THEN dm_lib.main.pick_listed_at(dict, dm_lib.main.bits(h, lo, 32) + 1) ELSE dm_lib.main.pick_listed(dict, h, lo) END;

-- names: begin (sql_library.py adds a copy for lists: each dm_lib.main.<macro>( becomes <macro>_listed()
-- A full name is faked part by part, each part as a first_name or last_name column fakes it, so one
-- person has one fake name whether a table holds first and last names or "José García" (keyed.py's
-- Fakes.full_name is the Python twin). "Last, First ..." keeps its order; the given names after the
-- first are faked as one middle part; a name of one word is a first name.
CREATE OR REPLACE MACRO dm_lib.main.fake_part(dict, domain, p) AS
    dm_lib.main.pick_other(dict, dm_lib.main.h128(domain, p), 0, p);

CREATE OR REPLACE MACRO dm_lib.main.given_names(g, fd) AS
    CASE WHEN NOT contains(g, ' ') THEN dm_lib.main.fake_part('first_name', fd, g)
         ELSE dm_lib.main.fake_part('first_name', fd, split_part(g, ' ', 1)) || ' '
              || dm_lib.main.fake_part('first_name', fd, ltrim(substr(g, strpos(g, ' ') + 1))) END;

-- A name of three words or more may be one the slice's name columns split elsewhere ("María José"
-- + "de la Cruz"): dm_full_name_known fakes it as they are (udfs.py), NULL for the others. Its
-- strings are copied (|| ''): DuckDB 1.5 corrupts rows when coalesce() takes an Arrow UDF's result
-- as is (garbage or "Invalid unicode" past 12 bytes; text.sql's anonymize_scrub_text met it too).
CREATE OR REPLACE MACRO dm_lib.main.full_name_untitled(t, fd, ld, tok) AS
    coalesce(CASE WHEN t LIKE '% % %' THEN dm_full_name_known(t, fd, ld, tok) || '' END,
    CASE WHEN contains(t, ',')
              THEN dm_lib.main.fake_part('last_name', ld, trim(split_part(t, ',', 1))) || ', '
                   || dm_lib.main.given_names(trim(substr(t, strpos(t, ',') + 1)), fd)
         WHEN NOT contains(trim(t), ' ') THEN dm_lib.main.fake_part('first_name', fd, trim(t))
         ELSE dm_lib.main.given_names(rtrim(regexp_extract(trim(t), '(?s)^(.*) ', 1)), fd) || ' '
              || dm_lib.main.fake_part('last_name', ld, regexp_extract(trim(t), '[^ ]+$')) END);

-- A title is kept as written ("Ms. Zavala" was "Arcelia Zavala'", a first name no column of the
-- person had); after it one word is the surname, more words a full name (names.TITLE). The name
-- after a title and a name without one share one full_name_untitled (its input picked by a
-- CASE): the macro expands to a tree of ~50 dictionary picks, and two copies of it cost a model
-- ~0.1 s of planning more (8 models). NULL text has no title and reaches the untitled branch,
-- as it did through coalesce().
CREATE OR REPLACE MACRO dm_lib.main.full_name_titled(title, rest, t, fd, ld, tok) AS
    CASE WHEN title <> '' AND NOT contains(rest, ' ') THEN title || dm_lib.main.fake_part('last_name', ld, rest)
         ELSE CASE WHEN title <> '' THEN title ELSE '' END
              || dm_lib.main.full_name_untitled(CASE WHEN title <> '' THEN rest ELSE t END, fd, ld, tok) END;

CREATE OR REPLACE MACRO dm_lib.main.full_name(t, fd, ld, tok) AS
    dm_lib.main.full_name_titled(regexp_extract(trim(t), '__TITLE__', 1),
                                 trim(substr(trim(t), length(regexp_extract(trim(t), '__TITLE__', 1)) + 1)),
                                 t, fd, ld, tok);
-- names: end

-- each of the rules' pii_shapes (emails, SSNs, phones, ...), in the file's order, replaced by its
-- placeholder: __SHAPES__ nests one regexp_replace per shape (sql_library.py)
CREATE OR REPLACE MACRO dm_lib.main.scrub_shapes(t) AS __SHAPES__;

-- One part of a name in its pattern (names.char_pattern does the same in Python): escaped; an
-- apostrophe matches either apostrophe; a letter matches with or without its accents (a note typed
-- "Jose" loses the name José, and "José" the name Jose). __LETTER_CLASSES__ is filled in from
-- names.ACCENT_CLASSES: one regexp_replace a base letter, putting the class of its accented
-- forms where the pattern has the letter in any form (25 constant patterns: translate() or a
-- lookup inside a lambda cost 30-60 us a part, this ~20). Each replaces one letter by a string,
-- so they give the same result on a whole pattern as on each of its |-separated parts.
CREATE OR REPLACE MACRO dm_lib.main.escaped_end(part) AS
    regexp_replace(regexp_escape(part), '\\?[''’]', '[''’]', 'g');

-- Inside a part (not its first or last character) an apostrophe may also be missing or a space:
-- systems that strip apostrophes write O'Brien as OBrien or O Brien (names.part_pattern).
CREATE OR REPLACE MACRO dm_lib.main.escaped_part(part) AS
    CASE WHEN length(part) <= 2 THEN dm_lib.main.escaped_end(part)
         ELSE dm_lib.main.escaped_end(left(part, 1))
              || regexp_replace(regexp_escape(substr(part, 2, length(part) - 2)), '\\?[''’]', '[''’ ]?', 'g')
              || dm_lib.main.escaped_end(right(part, 1)) END;

CREATE OR REPLACE MACRO dm_lib.main.letter_classes(p) AS __LETTER_CLASSES__;

-- ß or ss as either (names.part_pattern)
CREATE OR REPLACE MACRO dm_lib.main.part_pattern_unlettered(part) AS
    regexp_replace(dm_lib.main.escaped_part(part), '(?i)ss|ß', '(?:ss|ß)', 'g');

CREATE OR REPLACE MACRO dm_lib.main.part_pattern(part) AS
    dm_lib.main.letter_classes(dm_lib.main.part_pattern_unlettered(part));

-- The pattern of one name value: its parts (NUL dropped, names.name_parts, then split on spaces, no-break spaces, commas,
-- parentheses, double quotes, slashes and hyphens: 'Robert (Bobby)' is Robert and Bobby,
-- so a note's "Ms. García" loses the names García-López and "García, Ana"; parts of 2+ characters, and of one
-- character outside Latin script, names.name_part_kept), case-insensitive, between edges. The
-- edge class is [^A-Za-z\x{00C0}-\x{024F}] as RE2 folds it under (?i) (digits and _ are edges: a
-- user name ann_lee2 loses Ann and Lee), spelled out so that
-- only the names need (?i:...), which RE2 compiles 2x faster (tests check it over all of
-- Unicode). An apostrophe in a name matches either apostrophe, ' or ’ (U+2019, what word
-- processors and phones type: "O’Brien called" loses the name O'Brien). A name with no part kept
-- gets \b\B, which matches nowhere.
-- The letter classes go on the joined parts, outside the lambda: DuckDB sets a lambda's
-- expressions up again for every chunk it runs on, compiling each constant regex in it, so 25
-- of them a part cost ~4 ms per chunk holding a row that takes this path (a free-text model
-- spreads a few such rows over all its chunks). list_aggr, not array_to_string: that macro
-- repeats its list argument, and each copy is a lambda of its own.
CREATE OR REPLACE MACRO dm_lib.main.name_pattern(name) AS
    '(^|[^A-Za-z\x{00C0}-\x{024F}\x{0253}-\x{0254}\x{0256}-\x{0257}\x{0259}\x{025B}\x{0260}\x{0263}\x{0268}-\x{0269}\x{026F}\x{0272}\x{0275}\x{0280}\x{0283}\x{0288}-\x{028C}\x{0292}\x{1E9E}\x{212A}-\x{212B}\x{2C65}-\x{2C66}\x{2C7E}-\x{2C7F}])(?i:'
    || coalesce(nullif(dm_lib.main.letter_classes(list_aggr(list_transform(
           list_filter(string_split_regex(trim(replace(name, chr(0), '')), '[\s,\x{00A0}()"\x{201C}\x{201D}/-]+'), lambda __dm_p: length(__dm_p) >= 2 or unicode(__dm_p) > 591),
           lambda __dm_p: dm_lib.main.part_pattern_unlettered(__dm_p)), 'string_agg', '|')), ''), '\b\B')
    || ')($|[^A-Za-z\x{00C0}-\x{024F}\x{0253}-\x{0254}\x{0256}-\x{0257}\x{0259}\x{025B}\x{0260}\x{0263}\x{0268}-\x{0269}\x{026F}\x{0272}\x{0275}\x{0280}\x{0283}\x{0288}-\x{028C}\x{0292}\x{1E9E}\x{212A}-\x{212B}\x{2C65}-\x{2C66}\x{2C7E}-\x{2C7F}])';

-- One name value out of text s, in SQL (the reference semantics; dm_scrub_names does the same by
-- hand where it can prove it). Two passes: a match consumes the edge after it, so the second
-- catches a name standing right after another ("Ann Lee").
CREATE OR REPLACE MACRO dm_lib.main.drop_name(s, name) AS
    regexp_replace(regexp_replace(s, dm_lib.main.name_pattern(name), '\1' || dm_setting('ph_name') || '\2', 'g'),
        dm_lib.main.name_pattern(name), '\1' || dm_setting('ph_name') || '\2', 'g');
