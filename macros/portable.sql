{#- Small SQL differences between DuckDB (transform) and PostgreSQL (CERT), dispatched. -#}

{% macro datamig_age_years(column, on='current_date') %}{{ return(adapter.dispatch('datamig_age_years')(column, on)) }}{% endmacro %}
{% macro default__datamig_age_years(column, on) %}date_part('year', age({{ on }}, {{ column }})){% endmacro %}
{% macro duckdb__datamig_age_years(column, on) %}date_diff('year', {{ column }}, {{ on }}) - case when strftime({{ column }}, '%m%d') > strftime({{ on }}, '%m%d') then 1 else 0 end{% endmacro %}

{#- The latest day on or before today that is month_day (MM-DD, checked when the rules load). -#}
{% macro datamig_latest_month_day(month_day) %}{{ return(adapter.dispatch('datamig_latest_month_day')(month_day)) }}{% endmacro %}
{% macro default__datamig_latest_month_day(month_day) -%}
make_date(cast(extract(year from current_date) as integer) - case when to_char(current_date, 'MM-DD') < '{{ month_day }}' then 1 else 0 end, {{ month_day[:2] | int }}, {{ month_day[3:] | int }})
{%- endmacro %}
{% macro duckdb__datamig_latest_month_day(month_day) -%}
make_date(cast(year(current_date) as integer) - case when strftime(current_date, '%m-%d') < '{{ month_day }}' then 1 else 0 end, {{ month_day[:2] | int }}, {{ month_day[3:] | int }})
{%- endmacro %}

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
