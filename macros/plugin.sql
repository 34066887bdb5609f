{#- Run before every dbt command (on-run-start): on DuckDB, the datamig plugin must be loaded.
    Without it every anonymized model would fail on its own with "dm_lib.blank_safe does not
    exist", which names neither the plugin nor the profile. CERT (PostgreSQL) needs no plugin,
    but a run_id: without one every test failed or errored (~140 of them), naming no cause. And
    --vars district must be a district id on every target: the tests compare `district_id = <it>`
    (on DuckDB the plugin, which starts first, refuses it in the same words). -#}
{% macro datamig_require_plugin() %}
{%- if execute and not modules.re.fullmatch('[1-9][0-9]*', var('district') | string) -%}
{{ exceptions.raise_compiler_error("--vars district: '" ~ var('district') ~ "' is not a district id (a positive whole number)") }}
{%- elif execute and target.type == 'duckdb' -%}
{%- set found = run_query("select count(*) from duckdb_functions() where function_name = 'dm_domain_key'") -%}
{%- if found.columns[0].values()[0] == 0 -%}
{{ exceptions.raise_compiler_error("the datamig dbt-duckdb plugin is not loaded on target '" ~ target.name
   ~ "': add `plugins: [{module: datamig.dbt_plugin}]` to that output of your profile (see profiles.yml)") }}
{%- endif -%}
{%- elif execute and target.type == 'postgres' and not var('run_id', '') -%}
{{ exceptions.raise_compiler_error("target '" ~ target.name ~ "' tests CERT, which needs --vars run_id: the "
   ~ "tests look only at the rows that run loaded (datamig.run_keys); e.g. --vars '{district: "
   ~ var('district') ~ ", run_id: mig-...}'") }}
{%- endif %}
select 1
{% endmacro %}
