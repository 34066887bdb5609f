{#- Free text and documents. -#}

{# Emails, SSNs, phones (pii_shapes of the rules file), then the row's own names, replaced by
   placeholders. `names`: SQL of sibling columns; each value is split on spaces and its parts of
   2+ characters removed case-insensitively where they stand as words (edges are anything but a
   Latin letter, digit or "_", so "José's" and "王芳的" match and "Annual" does not match "Ann"). #}
{% macro anonymize_scrub_text(e, names=[]) -%}
  {%- set t = anon_text(e) -%}
  {#- a namespace: a plain `set` inside a Jinja loop does not outlive the iteration -#}
  {%- set ns = namespace(s=t) -%}
  {%- for shape in ['email', 'ssn', 'phone'] -%}
    {%- set ns.s = "regexp_replace(" ~ ns.s ~ ", getvariable('dm_re_" ~ shape ~ "'), getvariable('dm_ph_" ~ shape ~ "'), 'g')" -%}
  {%- endfor -%}
  {%- for name in names -%}
    {%- set parts = "list_filter(string_split_regex(trim(" ~ anon_text('(' ~ name ~ ')') ~ "), '\\s+'), lambda __dm_p: length(__dm_p) >= 2)" -%}
    {%- set pattern = "'(?i)(^|" ~ anon_name_edge() ~ ")(?:' || array_to_string(list_transform(" ~ parts ~ ", lambda __dm_p: regexp_escape(__dm_p)), '|') || ')($|" ~ anon_name_edge() ~ ")'" -%}
    {%- set replaced = "regexp_replace(regexp_replace(" ~ ns.s ~ ", " ~ pattern ~ ", '\\1' || getvariable('dm_ph_name') || '\\2', 'g'), " ~ pattern ~ ", '\\1' || getvariable('dm_ph_name') || '\\2', 'g')" -%}
    {%- set ns.s = "CASE WHEN coalesce(len(" ~ parts ~ "), 0) = 0 THEN " ~ ns.s ~ " ELSE " ~ replaced ~ " END" -%}
  {%- endfor -%}
  {{ anon_blank_safe(t, ns.s) }}
{%- endmacro %}

{% macro anon_name_edge() -%}
[^0-9A-Za-z_\x{00C0}-\x{024F}]
{%- endmacro %}

{# JSON documents: configured paths, then every object key classified by the rules (by_key).
   Returns VARCHAR holding the JSON text. #}
{% macro anonymize_jsonb(e, paths=[], by_key=true) -%}
  {%- set spec = {'paths': paths, 'by_key': by_key} | tojson -%}
  {%- set t = anon_text(e) -%}
  {{ anon_blank_safe(t, "dm_jsonb(" ~ t ~ ", " ~ anon_literal(spec) ~ ")") }}
{%- endmacro %}
