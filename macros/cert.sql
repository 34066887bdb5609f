{#- Post-load verification (`datamig validate-migration`, target cert): a final model is the
    CERT table restricted to the rows the run loaded (datamig.run_keys, written by the loader
    in the same transaction as the data), so the same tests judge exactly the run's rows.

    table        CERT table name (schema: the target's, one CERT store per dbt invocation)
    key_columns  the key the loader matched rows on, in order
    key_types    their PostgreSQL types (the run_keys arrays are cast to them) -#}

{% macro datamig_cert_rows(table, key_columns, key_types) -%}
{%- if execute and not var('run_id', '') -%}
{{ exceptions.raise_compiler_error("the cert target needs --vars '{run_id: ...}': the run whose rows are tested") }}
{%- endif -%}
{%- set quoted = [] -%}
{%- set arrays = [] -%}
{%- for c in key_columns -%}
{%- do quoted.append(adapter.quote(c)) -%}
{%- do arrays.append("(k.key ->> '" ~ (c | replace("'", "''")) ~ "')::" ~ key_types[loop.index0] ~ "[]") -%}
{%- endfor -%}
{%- set run_id = var('run_id', '') | string | replace("'", "''") -%}
{%- set qualified = (target.schema ~ '.' ~ table) | replace("'", "''") -%}
select t.*
from {{ adapter.quote(target.schema) }}.{{ adapter.quote(table) }} as t
where ({{ 't.' ~ quoted | join(', t.') }}) in (
    select {{ 'x.' ~ quoted | join(', x.') }}
    from datamig.run_keys as k
    cross join lateral unnest({{ arrays | join(', ') }}) as x ({{ quoted | join(', ') }})
    where k.run_id = '{{ run_id }}' and k.table_name = '{{ qualified }}'
)
{%- endmacro %}
