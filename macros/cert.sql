{#- Post-load verification (`datamig validate-migration`, target cert): a final model is the
    CERT table restricted to the rows the run loaded (datamig.run_keys, written by the loader
    in the same transaction as the data), so the same tests judge exactly the run's rows.

    table    CERT table name (schema: the target's, one CERT store per dbt invocation)
    varargs  what older scaffolds passed besides (key columns, types, nullable ones): ignored.
             The key is read from what the run recorded (datamig_run_key), not from the model:
             a model keyed otherwise than the loader keyed the table (a model older than its
             scaffold's key choice, or CERT's key or nullability unlike PROD's) looked its rows
             up by columns the run's record lacks, and its tests passed over no row.

    A key column that may be NULL (a unique key's) is compared wrapped in a one-element array,
    as arrays are equal when their NULL elements are, where `(a, b) in (...)` is NULL, not true,
    for a row whose b is NULL and left it out. The comparison stays an equality, so it is still
    hash-joined; the columns that cannot be NULL are compared as they are (an index may serve).

    An array key column's keys are recorded as a text[] of the arrays' texts (load/pg_sql.py
    _key_arrays): read as its own type's array, unnest flattened them into elements. -#}

{% macro datamig_cert_rows(table) -%}
{%- if execute and not var('run_id', '') -%}
{{ exceptions.raise_compiler_error("the cert target needs --vars '{run_id: ...}': the run whose rows are tested") }}
{%- endif -%}
{%- set run_id = var('run_id', '') | string | replace("'", "''") -%}
{%- set qualified = (target.schema ~ '.' ~ table) | replace("'", "''") -%}
{#- referencing varargs is what lets Jinja accept an older scaffold's extra arguments -#}
{%- set _older_scaffold_args = varargs -%}
{%- set key = datamig_run_key(table, run_id, qualified) if execute else [] -%}
{%- set quoted = [] -%}
{%- set arrays = [] -%}
{%- set mine = [] -%}
{%- set theirs = [] -%}
{%- for column, type, nullable, is_array in key -%}
{%- do quoted.append(datamig_quote(column)) -%}
{%- set wrap = 'array[{}]' if nullable else '{}' -%}
{%- set recorded = 'x.' ~ datamig_quote(column) -%}
{%- if is_array and nullable -%}
{#- array[] of an array is the array, one dimension up, and array[NULL::int[]] is '{}' as
    array['{}'::int[]] is: whether it is NULL tells the two apart -#}
{%- do mine.append('(t.' ~ datamig_quote(column) ~ ' is null)') -%}
{%- do theirs.append('(' ~ recorded ~ ' is null)') -%}
{%- endif -%}
{%- do mine.append(wrap.format('t.' ~ datamig_quote(column))) -%}
{%- do theirs.append(wrap.format(recorded ~ '::' ~ type if is_array else recorded)) -%}
{%- set chunk_type = 'text' if is_array else type -%}
{%- do arrays.append("(k.key ->> '" ~ (column | replace("'", "''")) ~ "')::" ~ chunk_type ~ "[]") -%}
{%- endfor -%}
{#- no key recorded (where false): the run loaded none of the table's rows -#}
select t.*
from {{ datamig_quote(target.schema) }}.{{ datamig_quote(table) }} as t
{% if not key -%}
where false
{%- else -%}
where ({{ mine | join(', ') }}) in (
    select {{ theirs | join(', ') }}
    from datamig.run_keys as k
    cross join lateral unnest({{ arrays | join(', ') }}) as x ({{ quoted | join(', ') }})
    where k.run_id = '{{ run_id }}' and k.table_name = '{{ qualified }}'
)
{%- endif -%}
{%- endmacro %}


{#- [(column, CERT type, may be NULL, is an array)] of the key the run recorded the table's rows by (the
    loader's choice, made on CERT's constraints), in a fixed order. One catalog query a model,
    compiled once per dbt invocation. -#}
{% macro datamig_run_key(table, run_id, qualified) -%}
{%- set found = run_query(
    "select k.col, format_type(a.atttypid, a.atttypmod), not a.attnotnull,"
    ~ " (select ty.typcategory = 'A' from pg_type as ty where ty.oid = a.atttypid)"
    ~ " from (select distinct jsonb_object_keys(key) as col from datamig.run_keys"
    ~ " where run_id = '" ~ run_id ~ "' and table_name = '" ~ qualified ~ "') as k"
    ~ " left join pg_attribute as a on a.attrelid = to_regclass(format('%I.%I', '"
    ~ (target.schema | replace("'", "''")) ~ "', '" ~ (table | replace("'", "''")) ~ "'))"
    ~ " and a.attname = k.col and a.attnum > 0 and not a.attisdropped order by k.col") -%}
{%- set key = [] -%}
{%- for row in found.rows -%}
{%- if row[1] is none -%}
{{ exceptions.raise_compiler_error("CERT table " ~ target.schema ~ "." ~ table ~ " has no column " ~ row[0]
   ~ ", which run " ~ var('run_id') ~ " recorded its rows by: CERT's schema changed since the load") }}
{%- endif -%}
{%- do key.append((row[0], row[1], row[2], row[3])) -%}
{%- endfor -%}
{{ return(key) }}
{%- endmacro %}


{% macro datamig_quote(name) -%}
{#- "name", its double quotes doubled: adapter.quote leaves them as they are, and a key column
    named say "hi" ended its identifier early -#}
"{{ name | replace('"', '""') }}"
{%- endmacro %}
