{#- PII-leak tests: the anonymized output compared with the original values of the slice
    (the staging models). They run on DuckDB, where both sides are at hand. -#}

{% test datamig_no_row_leak(model, column_name, source, key_columns) %}
{#- Joined on the row's key, no anonymized value equals that row's original value. -#}
select {% for k in key_columns %}o.{{ k }}{% if not loop.last %}, {% endif %}{% endfor %}
from {{ model }} as o
join {{ source }} as s
  on {% for k in key_columns %}o.{{ k }} = s.{{ k }}{% if not loop.last %} and {% endif %}{% endfor %}
where s.{{ column_name }} is not null
  and cast(s.{{ column_name }} as varchar) not in ('', '[]', '{}')
  and o.{{ column_name }} = s.{{ column_name }}
{% endtest %}


{% test datamig_no_value_leak(model, column_name, source, source_column, is_array=false) %}
{#- No output value equals any input value of the column anywhere in the slice. -#}
with output_values as (
    select distinct {{ datamig_values(column_name, is_array) }} as v from {{ model }}
),
input_values as (
    select distinct {{ datamig_values(source_column, is_array) }} as v from {{ source }}
)
select o.v from output_values as o
join input_values as i on o.v = i.v
where o.v is not null and o.v <> ''
{% endtest %}


{% test datamig_no_text_leak(model, column_name, shapes) %}
{#- No output text contains an input email, phone or SSN of the slice (phones compared by
    their last 10 digits before any extension, whatever the format, as anonymize/taken.py
    PHONE_EXTENSION_SQL strips it; int_pii_values holds them as keyed hashes). -#}
with texts as (
    select cast({{ column_name }} as varchar) as t from {{ model }} where {{ column_name }} is not null
),
found as (
    select 'email' as kind, lower(unnest(regexp_extract_all(t, '{{ shapes.email }}'))) as v from texts
    union all
    select 'phone', right(regexp_replace(regexp_replace(unnest(regexp_extract_all(t, '{{ shapes.phone }}')),
        '(?i) ?(x|ext\.?|extension) ?[0-9]{1,6}[ \t]*$', ''), '[^0-9]', '', 'g'), 10) from texts
    union all
    select 'ssn', regexp_replace(unnest(regexp_extract_all(t, '{{ shapes.ssn }}')), '[^0-9]', '', 'g') from texts
)
select distinct f.v from found as f
join {{ ref('int_pii_values') }} as p
  on p.kind = f.kind and p.h = {{ anonymize_hash('f.v', 'pii.values') }}
{% endtest %}


{% macro datamig_values(column, is_array) -%}
{#- text[] columns are compared element by element -#}
{%- if is_array -%}unnest({{ column }}){%- else -%}cast({{ column }} as varchar){%- endif -%}
{%- endmacro %}
