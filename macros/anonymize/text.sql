{#- Free text and documents. -#}

{# Emails, SSNs, phones (pii_shapes of the rules file), then the row's own names, replaced by
   placeholders. `names`: SQL of sibling columns; each value is split on spaces, no-break
   spaces, commas, parentheses, double quotes, slashes and hyphens and its parts removed
   case-insensitively where they stand as words
   (edges are anything but a Latin letter, so "José's", "王芳的" and "ann_lee2" match and
   "Annual" does not match "Ann"; an apostrophe matches ' and ’, and inside a part may be missing
   or a space (OBrien, O Brien); ß and ss match each other, and
   ı, İ and i). Parts of one character are kept out when Latin (code point <= U+024F:
   initials) and removed otherwise: a one-character CJK given or family name ('芳 王') is a
   whole name (name_part_kept in names.py).
   The name pattern differs per row, and DuckDB compiles a non-constant regex for every row
   (~0.25 ms each, two passes per name column: ~7k rows/s). So dm_scrub_names (names.py, run in
   worker processes) does the rows whose text and names hold only characters where Python and
   RE2 fold case alike, by hand, and returns NULL for the others, which take the regex chain
   below: the same output for every row, whichever way it goes. #}
{% macro anonymize_scrub_text(e, names=[]) -%}
  {%- set t = anon_text(e) -%}
  {#- composed (NFC) first, text and names alike: a decomposed é (Mac input, PDF copy-paste) would
      otherwise keep José in the text, or leave its accent behind ("[NAME]́") -#}
  {%- set shapes = "dm_lib.scrub_shapes(nfc_normalize(" ~ t ~ "))" -%}
  {%- if names -%}
    {#- not coalesce(): DuckDB 1.5 corrupts the first row of each chunk when coalesce() takes an
        Arrow UDF's result. DuckDB computes f once per chunk only when f stands in the first WHEN
        of the outermost CASE (its common subexpressions are not looked for in later branches),
        so blank texts reach f as NULL and the blank handling moves into the SQL path. -#}
    {%- set kept = "CASE WHEN " ~ anon_is_blank(t) ~ " THEN NULL ELSE " ~ shapes ~ " END" -%}
    {%- set f = "dm_scrub_names(" ~ kept ~ ", " ~ anon_name_list(names) ~ ")" -%}
    CASE WHEN {{ f }} IS NULL THEN {{ anon_blank_safe(t, anon_scrub_names_regex(shapes, names)) }} ELSE {{ f }} END
  {%- else -%}
  {{ anon_blank_safe(t, shapes) }}
  {%- endif -%}
{%- endmacro %}

{# The names out of the text `s`, all in SQL (dm_lib.drop_name per name value): the reference
   semantics. `names`: SQL of the name columns. #}
{% macro anon_scrub_names_regex(s, names) -%}
  {#- a namespace: a plain `set` inside a Jinja loop does not outlive the iteration -#}
  {%- set ns = namespace(s=s) -%}
  {%- for name in names -%}
    {%- set ns.s = "dm_lib.drop_name(" ~ ns.s ~ ", nfc_normalize(" ~ anon_text('(' ~ name ~ ')') ~ "))" -%}
  {%- endfor -%}
  {{ ns.s }}
{%- endmacro %}

{# JSON documents: configured paths, then every object key classified by the rules (by_key).
   `names`: SQL of sibling columns whose values, with every name in the document, free text in
   the document loses (a nurse's note in a student's record names the student). Returns VARCHAR
   holding the JSON text. #}
{% macro anonymize_jsonb(e, paths=[], by_key=true, names=[]) -%}
  {%- set spec = {'paths': paths, 'by_key': by_key} | tojson -%}
  {%- set t = anon_text(e) -%}
  {%- set row_names = anon_name_list(names) if names else "CAST([] AS VARCHAR[])" -%}
  {{ anon_blank_safe(t, "dm_jsonb(" ~ t ~ ", " ~ anon_literal(spec) ~ ", " ~ anon_taken() ~ ", " ~ row_names ~ ")") }}
{%- endmacro %}

{# The name columns' SQL as a VARCHAR[] literal, for scrub_text and jsonb. #}
{% macro anon_name_list(names) -%}
[{% for name in names %}nfc_normalize({{ anon_text('(' ~ name ~ ')') }}){{ ', ' if not loop.last }}{% endfor %}]
{%- endmacro %}
