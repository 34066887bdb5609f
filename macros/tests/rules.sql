{#- Business, completeness and cross-store rules of config/validation-rules.yaml, rendered
    into the marts' YAML by `datamig scaffold`. Each returns the failing rows. -#}

{% test datamig_expression(model, expression, row_filter=none, column_name=none) %}
select * from {{ model }}
where not ({{ expression }}){% if row_filter %} and ({{ row_filter }}){% endif %}
{% endtest %}


{#- Age today, or with as_of (MM-DD) on the latest such day: a school counts a student's age on
    its cut-off, and the anonymized birth dates keep that age (they stay in their school year). -#}
{% test datamig_age_between(model, column_name, min_years, max_years, as_of=none) %}
{%- set on = datamig_latest_month_day(as_of) if as_of else 'current_date' -%}
select {{ column_name }} from {{ model }}
where {{ column_name }} is not null
  and ({{ datamig_age_years(column_name, on) }} < {{ min_years }} or {{ datamig_age_years(column_name, on) }} > {{ max_years }})
{% endtest %}


{% test datamig_regex(model, column_name, pattern) %}
select {{ column_name }} from {{ model }}
where {{ column_name }} is not null and {{ column_name }} <> ''
  and not {{ datamig_regex_matches(column_name, pattern) }}
{% endtest %}


{% test datamig_has_children(model, column_name, child, child_column, row_filter=none) %}
select {{ column_name }} from {{ model }} as p
where {% if row_filter %}({{ row_filter }}) and {% endif %}not exists (
    select 1 from {{ child }} as c where c.{{ child_column }} = p.{{ column_name }})
{% endtest %}


{% test datamig_min_children(model, column_name, child, child_column, min_count, row_filter=none) %}
select p.{{ column_name }}, count(c.{{ child_column }}) as n_children
from {{ model }} as p
left join {{ child }} as c on c.{{ child_column }} = p.{{ column_name }}
{% if row_filter %}where {{ row_filter }}{% endif %}
group by p.{{ column_name }}
having count(c.{{ child_column }}) < {{ min_count }}
{% endtest %}


{% test datamig_same_parent_value(model, column_name, parent, parent_key, child_value, parent_value, key_columns) %}
{#- e.g. a student's school is in the student's district. The child's key, not the parent's:
    the failing rows' sample is matched on what they return, and every child of the parent
    shares column_name. -#}
select {% for k in key_columns %}c.{{ k }}{% if not loop.last %}, {% endif %}{% endfor %}
from {{ model }} as c
join {{ parent }} as p on p.{{ parent_key }} = c.{{ column_name }}
where c.{{ child_value }} is distinct from p.{{ parent_value }}
{% endtest %}


{% test datamig_within_range_of(model, column_name, range_model, start_column, end_column) %}
{#- The ranges come from the data (e.g. the terms of the slice), not a hard-coded year. Each
    value lies within one of them: between the first start and the last end, as this test
    first read, a date in a summer between two school years passed. -#}
select v.{{ column_name }} from {{ model }} as v
where v.{{ column_name }} is not null
  and not exists (select 1 from {{ range_model }} as r
                  where v.{{ column_name }} between r.{{ start_column }} and r.{{ end_column }})
{% endtest %}


{#- A string value is data, compared as an SQL string (a rules file's "active" was read as a
    column name, "it's" broke the SQL); the shipped "{{ var('district') }}" arrives rendered, a
    string the database casts to the column's type as it would a number. -#}
{% test datamig_value_present(model, column_name, value) %}
select 'missing' as problem
where not exists (select 1 from {{ model }} where {{ column_name }} = {{ datamig_sql_value(value) }})
{% endtest %}


{% macro datamig_sql_value(value) -%}
{%- if value is string -%}
'{{ value | replace("'", "''") }}'
{%- else -%}
{{ value }}
{%- endif -%}
{%- endmacro %}


{% test datamig_count_ratio(model, other, tolerance, row_filter=none, other_filter=none) %}
{#- Row counts of two models (e.g. IDS students and HCP1 patients) within a tolerance. -#}
with a as (select count(*) as n from {{ model }}{% if row_filter %} where {{ row_filter }}{% endif %}),
     b as (select count(*) as n from {{ other }}{% if other_filter %} where {{ other_filter }}{% endif %})
select a.n as model_rows, b.n as other_rows from a, b
where abs(a.n - b.n) > {{ tolerance }} * greatest(a.n, b.n)
{% endtest %}


{% test datamig_only_needed_foreign_rows(model, district_column, key_columns, referenced_by) %}
{#- Rows of another district are allowed only as parents that some row of the slice points
    at; anything else came along by mistake. referenced_by: [{model, columns}] aligned with
    key_columns. -#}
select {{ key_columns | join(', ') }} from {{ model }} as t
where t.{{ district_column }} <> {{ var('district') }}
{% for ref_spec in referenced_by %}
  and not exists (select 1 from {{ ref_spec.model }} as r
                  where {% for c in ref_spec.columns %}r.{{ c }} = t.{{ key_columns[loop.index0] }}{% if not loop.last %} and {% endif %}{% endfor %})
{% endfor %}
{% endtest %}
