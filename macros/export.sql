{#- The final models leave the warehouse as Parquet under the run's final/ folder (the
    loader's input), in the same layout as extract/. Only on DuckDB: on CERT the final
    models are the CERT tables themselves. -#}

{% macro datamig_run_dir() -%}
{{ env_var('DATAMIG_RUN_DIR', '') or (env_var('DATAMIG_RUNS_DIR', 'data/runs') ~ '/' ~ (var('run_id', '') or ('latest-d' ~ var('district', 42)))) }}
{%- endmacro %}

{% macro datamig_export(relative_path) -%}
{%- if target.type == 'duckdb' and target.name != 'lint' -%}
copy (select * from {{ this }}) to '{{ datamig_run_dir() }}/final/{{ relative_path }}' (format parquet, compression zstd)
{%- else -%}
select 1
{%- endif -%}
{%- endmacro %}
