{#- Post-load verification (`datamig validate-migration`, target cert): a final model is the
    CERT table restricted to the rows the run loaded (datamig.run_keys, written by the loader
    in the same transaction as the data), so the same tests judge exactly the run's rows.

    table        CERT table name (schema: the target's, one CERT store per dbt invocation)
    key_columns  the key the loader matched rows on, in order
    key_types    their PostgreSQL types (the run_keys arrays are cast to them)
    nullable     the key columns that may be NULL (a unique key's, never a primary key's): each is
                 compared wrapped in a one-element array, as arrays are equal when their NULL
                 elements are, where `(a, b) in (...)` is NULL, not true, for a row whose b is NULL
                 and left it out. The comparison stays an equality, so it is still hash-joined;
                 the columns that cannot be NULL are compared as they are (an index may serve). -#}

{% macro datamig_cert_rows(table, key_columns, key_types, nullable=[]) -%}
{%- if execute and not var('run_id', '') -%}
{{ exceptions.raise_compiler_error("the cert target needs --vars '{run_id: ...}': the run whose rows are tested") }}
{%- endif -%}
{%- set quoted = [] -%}
{%- set arrays = [] -%}
{%- set mine = [] -%}
{%- set theirs = [] -%}
{%- for c in key_columns -%}
{%- do quoted.append(datamig_quote(c)) -%}
{%- set wrap = '{}' if c not in nullable else 'array[{}]' -%}
{%- do mine.append(wrap.format('t.' ~ datamig_quote(c))) -%}
{%- do theirs.append(wrap.format('x.' ~ datamig_quote(c))) -%}
{%- do arrays.append("(k.key ->> '" ~ (c | replace("'", "''")) ~ "')::" ~ key_types[loop.index0] ~ "[]") -%}
{%- endfor -%}
{%- set run_id = var('run_id', '') | string | replace("'", "''") -%}
{%- set qualified = (target.schema ~ '.' ~ table) | replace("'", "''") -%}
select t.*
from {{ datamig_quote(target.schema) }}.{{ datamig_quote(table) }} as t
where ({{ mine | join(', ') }}) in (
    select {{ theirs | join(', ') }}
    from datamig.run_keys as k
    cross join lateral unnest({{ arrays | join(', ') }}) as x ({{ quoted | join(', ') }})
    where k.run_id = '{{ run_id }}' and k.table_name = '{{ qualified }}'
)
{%- endmacro %}


{% macro datamig_quote(name) -%}
{#- "name", its double quotes doubled: adapter.quote leaves them as they are, and a key column
    named say "hi" ended its identifier early -#}
"{{ name | replace('"', '""') }}"
{%- endmacro %}
