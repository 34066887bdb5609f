{#- Run before every dbt command (on-run-start): on DuckDB, the datamig plugin must be loaded.
    Without it every anonymized model would fail on its own with "dm_lib.blank_safe does not
    exist", which names neither the plugin nor the profile. CERT (PostgreSQL) needs no plugin. -#}
{% macro datamig_require_plugin() %}
{%- if execute and target.type == 'duckdb' -%}
{%- set found = run_query("select count(*) from duckdb_functions() where function_name = 'dm_domain_key'") -%}
{%- if found.columns[0].values()[0] == 0 -%}
{{ exceptions.raise_compiler_error("the datamig dbt-duckdb plugin is not loaded on target '" ~ target.name
   ~ "': add `plugins: [{module: datamig.dbt_plugin}]` to that output of your profile (see profiles.yml)") }}
{%- endif -%}
{%- endif %}
select 1
{% endmacro %}
