{#- Keyed-hash building blocks. The byte layout is specified in python/datamig/anonymize/keyed.py:
    K_d = dm_domain_key('domain'), h128 = md5_number(K_d || chr(31) || value).
    dm_domain_key is a Python UDF of the plugin: DuckDB folds it to a constant once per query, the
    salt and master key stay in Python, and a connection without the plugin fails at bind time
    (e.g. "blank_safe does not exist") instead of producing NULLs. The SQL text dbt writes to
    target/ holds only the domain name. Settings and dictionary sizes come the same way, from the
    folded UDFs dm_setting('name') and dm_dict_size('name'); the dictionaries from a table the
    plugin fills, dm_lib.main.dictionaries.
    These macros check their arguments and compile to calls of dm_lib.*, the DuckDB macros the
    plugin creates (python/datamig/anonymize/sql_library.sql, where each is explained): DuckDB
    expands them as if written out, and the SQL dbt compiles, logs and parses stays small. -#}

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

{# The slice's real phones and SSNs (int_pii_values, encrypted), which a permuted fake must not be:
   a token the mask_format and jsonb UDFs take (anonymize/taken.py). A model built without it
   (`dbt build -s ids__students` on a new run: a table parent not selected) failed in the UDF,
   in a Python traceback per model; checked here, when the model compiles, in one line. #}
{% macro anon_taken() -%}
{%- set taken = ref('int_pii_values') -%}
{%- if execute and flags.WHICH in ('build', 'run', 'retry', 'show')
      and adapter.get_relation(taken.database, taken.schema, taken.identifier) is none -%}
{{ exceptions.raise_compiler_error("int_pii_values is not built in this run's warehouse: select it with the model "
   ~ "(dbt build -s +MODEL) or build it first (dbt run -s int_pii_values)") }}
{%- endif -%}
dm_taken({{ anon_literal(taken) }})
{%- endmacro %}

{% macro anon_domain_key(domain) -%}
dm_domain_key('{{ anon_check_domain(domain) }}')
{%- endmacro %}

{% macro anon_h128(text_sql, domain) -%}
dm_lib.h128('{{ anon_check_domain(domain) }}', {{ text_sql }})
{%- endmacro %}

{# Bits [lo, lo+n) of a 128-bit keyed hash as UBIGINT, and as (n + 3) // 4 hex digits. #}
{% macro anon_bits(h, lo, n) -%}
dm_lib.bits({{ h }}, {{ lo }}, {{ n }})
{%- endmacro %}

{% macro anon_hex(h, lo, n) -%}
dm_lib.hex({{ h }}, {{ lo }}, {{ n }})
{%- endmacro %}

{# Dictionary pick (dm_lib.pick): 32 bits of the hash mod the dictionary size (bias < 5e-6).
   Inside a lambda (in_list: text[] elementwise) the dictionary cannot be read by a subquery, so
   there dm_lib.pick_listed takes the picks through one vectorized UDF call instead. #}
{% macro anon_pick(name, h, lo, in_list=false, other_than=none) -%}
  {%- if not modules.re.match('^[a-z][a-z0-9_]*$', name) -%}
    {{ exceptions.raise_compiler_error("anonymize: bad dictionary name '" ~ name ~ "'") }}
  {%- endif -%}
  {%- if other_than is none -%}
dm_lib.{{ 'pick_listed' if in_list else 'pick' }}('{{ name }}', {{ h }}, {{ lo }})
  {%- else -%}
dm_lib.{{ 'pick_other_listed' if in_list else 'pick_other' }}('{{ name }}', {{ h }}, {{ lo }}, {{ other_than }})
  {%- endif -%}
{%- endmacro %}

{# NULL stays NULL, blank ('' or spaces) stays as it was, anything else gets `inner`.
   When `inner` uses the keyed hash `h` several times, pass it: testing `h IS NULL` first makes
   DuckDB compute h once per row (dm_lib.blank_safe). #}
{% macro anon_blank_safe(text_sql, inner, h=none) -%}
dm_lib.blank_safe({{ text_sql }}, {{ inner }}, {{ h if h else text_sql }})
{%- endmacro %}

{% macro anon_is_blank(text_sql) -%}
dm_lib.is_blank({{ text_sql }})
{%- endmacro %}
