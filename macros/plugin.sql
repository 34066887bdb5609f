{#- Run before every dbt command (on-run-start): on DuckDB, the datamig plugin must be loaded.
    Without it every anonymized model would fail on its own with "dm_lib.blank_safe does not
    exist", which names neither the plugin nor the profile. CERT (PostgreSQL) needs no plugin,
    but a run_id: without one every test failed or errored (~140 of them), naming no cause; and
    one whose rows CERT holds (datamig_run_loaded_here). And
    --vars district must be a district id on every target: the tests compare `district_id = <it>`
    (on DuckDB the plugin, which starts first, refuses it in the same words). -#}
{#- Whether CERT holds keys the run loaded. Without any, every CERT test looks at no row and
    passes: a mistyped or rolled-back run id made `dbt test --target cert` green. -#}
{% macro datamig_run_loaded_here(run_id) %}
{%- set table = run_query("select to_regclass('datamig.run_keys') is not null") -%}
{%- if not table.columns[0].values()[0] -%}
{{ return(false) }}
{%- endif -%}
{%- set found = run_query("select exists (select 1 from datamig.run_keys where run_id = '"
                          ~ (run_id | replace("'", "''")) ~ "')") -%}
{{ return(found.columns[0].values()[0]) }}
{% endmacro %}

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
{%- elif execute and target.type == 'postgres' and not datamig_run_loaded_here(var('run_id') | string) -%}
{{ exceptions.raise_compiler_error("run " ~ var('run_id') ~ " loaded no rows into CERT database "
   ~ target.dbname ~ " (datamig.run_keys has none of it: a run id never loaded, or rolled back): its tests "
   ~ "would pass over no rows") }}
{%- endif %}
select 1
{% endmacro %}
