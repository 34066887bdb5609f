{#- Small SQL differences between DuckDB (transform) and PostgreSQL (CERT), dispatched. -#}

{% macro datamig_age_years(column) %}{{ return(adapter.dispatch('datamig_age_years')(column)) }}{% endmacro %}
{% macro default__datamig_age_years(column) %}date_part('year', age(current_date, {{ column }})){% endmacro %}
{% macro duckdb__datamig_age_years(column) %}date_diff('year', {{ column }}, current_date) - case when strftime({{ column }}, '%m%d') > strftime(current_date, '%m%d') then 1 else 0 end{% endmacro %}

{% macro datamig_regex_matches(column, pattern) %}{{ return(adapter.dispatch('datamig_regex_matches')(column, pattern)) }}{% endmacro %}
{#- PostgreSQL's ~ finds the pattern anywhere; DuckDB's regexp_full_match, what the transform
    tested, matches the whole value: anchored here, leading flags such as (?i) kept in front
    (PostgreSQL takes them only at the very start). -#}
{% macro default__datamig_regex_matches(column, pattern) %}
{%- set flags = modules.re.match('^[(][?][a-zA-Z]+[)]', pattern) -%}
{%- set lead = flags.group(0) if flags else '' -%}
({{ column }} ~ '{{ lead }}^(?:{{ pattern[lead | length:] }})$')
{%- endmacro %}
{% macro duckdb__datamig_regex_matches(column, pattern) %}regexp_full_match({{ column }}, '{{ pattern }}'){% endmacro %}
