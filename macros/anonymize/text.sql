{#- Free text and documents. -#}

{# Emails, SSNs, phones (pii_shapes of the rules file), then the row's own names, replaced by
   placeholders. `names`: SQL of sibling columns; each value is split on spaces and its parts
   removed case-insensitively where they stand as words (edges are anything but a Latin letter,
   digit or "_", so "José's" and "王芳的" match and "Annual" does not match "Ann"). Parts of one
   character are kept out when Latin (code point <= U+024F: initials, "-") and removed otherwise:
   a one-character CJK given or family name ('芳 王') is a whole name (name_part_kept in names.py).
   The name pattern differs per row, and DuckDB compiles a non-constant regex for every row
   (~0.25 ms each, two passes per name column: ~7k rows/s). So dm_scrub_names (names.py, run in
   worker processes) does the rows whose text and names hold only characters where Python and
   RE2 fold case alike, by hand, and returns NULL for the others, which take the regex chain
   below: the same output for every row, whichever way it goes. #}
{% macro anonymize_scrub_text(e, names=[]) -%}
  {%- set t = anon_text(e) -%}
  {%- set ns = namespace(s=t) -%}
  {%- for shape in ['email', 'ssn', 'phone'] -%}
    {%- set ns.s = "regexp_replace(" ~ ns.s ~ ", dm_setting('re_" ~ shape ~ "'), dm_setting('ph_" ~ shape ~ "'), 'g')" -%}
  {%- endfor -%}
  {%- if names -%}
    {%- set nl = namespace(items=[]) -%}
    {%- for name in names -%}{%- set nl.items = nl.items + [anon_text('(' ~ name ~ ')')] -%}{%- endfor -%}
    {#- not coalesce(): DuckDB 1.5 corrupts the first row of each chunk when coalesce() takes an
        Arrow UDF's result. DuckDB computes f once per chunk only when f stands in the first WHEN
        of the outermost CASE (its common subexpressions are not looked for in later branches),
        so blank texts reach f as NULL and the blank handling moves into the SQL path. -#}
    {%- set kept = "CASE WHEN " ~ anon_is_blank(t) ~ " THEN NULL ELSE " ~ ns.s ~ " END" -%}
    {%- set f = "dm_scrub_names(" ~ kept ~ ", [" ~ nl.items | join(', ') ~ "])" -%}
    CASE WHEN {{ f }} IS NULL THEN {{ anon_blank_safe(t, anon_scrub_names_regex(ns.s, names)) }} ELSE {{ f }} END
  {%- else -%}
  {{ anon_blank_safe(t, ns.s) }}
  {%- endif -%}
{%- endmacro %}

{# The names of `names` out of the text `s`, all in SQL: the reference semantics. A name with no
   part kept (NULL, blank, initials only) gets the pattern \b\B, which matches nowhere, so the text
   appears once per name (a CASE on "no parts" repeated it, doubling the SQL with every name). #}
{% macro anon_scrub_names_regex(s, names) -%}
  {#- a namespace: a plain `set` inside a Jinja loop does not outlive the iteration -#}
  {%- set ns = namespace(s=s) -%}
  {%- for name in names -%}
    {%- set parts = "list_filter(string_split_regex(trim(" ~ anon_text('(' ~ name ~ ')') ~ "), '\\s+'), lambda __dm_p: length(__dm_p) >= 2 or unicode(__dm_p) > 591)" -%}
    {%- set alternatives = "coalesce(nullif(array_to_string(list_transform(" ~ parts ~ ", lambda __dm_p: regexp_escape(__dm_p)), '|'), ''), '\\b\\B')" -%}
    {%- set pattern = "'(^|" ~ anon_name_edge_folded() ~ ")(?i:' || " ~ alternatives ~ " || ')($|" ~ anon_name_edge_folded() ~ ")'" -%}
    {%- set ns.s = "regexp_replace(regexp_replace(" ~ ns.s ~ ", " ~ pattern ~ ", '\\1' || dm_setting('ph_name') || '\\2', 'g'), " ~ pattern ~ ", '\\1' || dm_setting('ph_name') || '\\2', 'g')" -%}
  {%- endfor -%}
  {{ ns.s }}
{%- endmacro %}

{% macro anon_name_edge() -%}
[^0-9A-Za-z_\x{00C0}-\x{024F}]
{%- endmacro %}

{# The same set of characters as anon_name_edge() under (?i), spelled out so that only the names
   need (?i:...): the pattern '(?i)(^|E)(?:names)($|E)' becomes '(^|E_folded)(?i:names)($|E_folded)',
   which RE2 compiles 2x faster and which matches exactly the same (the class was checked
   character by character over all of Unicode against DuckDB's RE2: tests/test_anonymize_engine.py). #}
{% macro anon_name_edge_folded() -%}
[^0-9A-Za-z_\x{00C0}-\x{024F}\x{0253}-\x{0254}\x{0256}-\x{0257}\x{0259}\x{025B}\x{0260}\x{0263}\x{0268}-\x{0269}\x{026F}\x{0272}\x{0275}\x{0280}\x{0283}\x{0288}-\x{028C}\x{0292}\x{1E9E}\x{212A}-\x{212B}\x{2C65}-\x{2C66}\x{2C7E}-\x{2C7F}]
{%- endmacro %}

{# JSON documents: configured paths, then every object key classified by the rules (by_key).
   Returns VARCHAR holding the JSON text. #}
{% macro anonymize_jsonb(e, paths=[], by_key=true) -%}
  {%- set spec = {'paths': paths, 'by_key': by_key} | tojson -%}
  {%- set t = anon_text(e) -%}
  {{ anon_blank_safe(t, "dm_jsonb(" ~ t ~ ", " ~ anon_literal(spec) ~ ", " ~ anon_taken() ~ ")") }}
{%- endmacro %}
