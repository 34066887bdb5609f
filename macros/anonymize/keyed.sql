{#- Keyed-hash building blocks. The byte layout is specified in python/datamig/anonymize/keyed.py:
    K_d = dm_domain_key('domain'), h128 = md5_number(K_d || chr(31) || value).
    dm_domain_key is a Python UDF of the plugin: DuckDB folds it to a constant once per query, the
    salt and master key stay in Python, and a connection without the plugin fails at bind time
    ("dm_domain_key does not exist") instead of producing NULLs. The SQL text dbt writes to
    target/ holds only the domain name. Dictionaries and settings come the same way, from the
    folded UDFs dm_dict('name'), dm_dict_size('name') and dm_setting('name'). -#}

{% macro anon_literal(s) -%}
'{{ s | string | replace("'", "''") }}'
{%- endmacro %}

{% macro anon_check_domain(domain) -%}
  {%- if domain is none or not modules.re.match('^[a-z][a-z0-9_]*(\\.[a-z0-9_]+)*$', domain) -%}
    {{ exceptions.raise_compiler_error("anonymize: bad or missing pseudonym domain '" ~ domain ~ "'") }}
  {%- endif -%}
  {{ domain }}
{%- endmacro %}

{% macro anon_text(e) -%}
CAST({{ e }} AS VARCHAR)
{%- endmacro %}

{# The slice's real phones and SSNs (int_pii_values, hashed), which a permuted fake must not be:
   a token the mask_format and jsonb UDFs take (anonymize/taken.py). #}
{% macro anon_taken() -%}
dm_taken({{ anon_literal(ref('int_pii_values')) }})
{%- endmacro %}

{% macro anon_domain_key(domain) -%}
dm_domain_key('{{ anon_check_domain(domain) }}')
{%- endmacro %}

{% macro anon_h128(text_sql, domain) -%}
md5_number({{ anon_domain_key(domain) }} || chr(31) || {{ text_sql }})
{%- endmacro %}

{# Bits [lo, lo+n) of a 128-bit keyed hash as UBIGINT. #}
{% macro anon_bits(h, lo, n) -%}
CAST((({{ h }}) >> {{ lo }}) & CAST({{ 2 ** n - 1 }} AS UHUGEINT) AS UBIGINT)
{%- endmacro %}

{% macro anon_hex(h, lo, n) -%}
printf('%0{{ (n + 3) // 4 }}x', {{ anon_bits(h, lo, n) }})
{%- endmacro %}

{% macro anon_dict(name) -%}
  {%- if not modules.re.match('^[a-z][a-z0-9_]*$', name) -%}
    {{ exceptions.raise_compiler_error("anonymize: bad dictionary name '" ~ name ~ "'") }}
  {%- endif -%}
dm_dict('{{ name }}')
{%- endmacro %}

{# Dictionary pick: 32 bits of the hash mod the dictionary size (bias < 5e-6). dm_dict('x') and
   dm_dict_size('x') are plugin UDFs that DuckDB folds to constants once per query (like
   dm_domain_key), so every connection and cursor has them without per-cursor set-up. The size is
   its own UDF, UBIGINT like the hash bits: len() of a list constant is not folded (4x the whole
   pick) and a signed size would turn the modulo into a HUGEINT one (10x).
   Inside a lambda (in_list: text[] elementwise) DuckDB does not fold dm_dict('x'): it calls it
   with one name per list element, building the whole dictionary once per element, so there
   dm_pick('x', i) takes the picks from it in one vectorized call instead. #}
{% macro anon_pick(name, h, lo, in_list=false) -%}
  {%- set d = anon_dict(name) -%}
  {%- set i = "1 + CAST(" ~ anon_bits(h, lo, 32) ~ " % dm_dict_size('" ~ name ~ "') AS BIGINT)" -%}
  {%- if in_list -%}
dm_pick('{{ name }}', {{ i }})
  {%- else -%}
{{ d }}[{{ i }}]
  {%- endif -%}
{%- endmacro %}

{# NULL stays NULL, blank ('' or spaces) stays as it was, anything else gets `inner`.
   When `inner` uses the keyed hash `h` several times, pass it: testing `h IS NULL` first makes
   DuckDB compute h once per row (common subexpressions are not shared inside CASE branches,
   only with what every row evaluates). That halves the cost of email and user names.
   The blank test runs trim() only on values starting with a space: half the cost of trim(). #}
{% macro anon_blank_safe(text_sql, inner, h=none) -%}
CASE WHEN {{ h if h else text_sql }} IS NULL THEN NULL
     WHEN {{ anon_is_blank(text_sql) }} THEN {{ text_sql }}
     ELSE {{ inner }} END
{%- endmacro %}

{% macro anon_is_blank(text_sql) -%}
{{ text_sql }} = '' OR (starts_with({{ text_sql }}, ' ') AND trim({{ text_sql }}) = '')
{%- endmacro %}
