{#-
  dbt-duckdb's table materialization for this project, with one statement where it runs three
  or four. The adapter builds `<name>__dbt_tmp`, renames the old table to a backup, renames the
  new one into place and drops the backup, checking foreign keys, indexes and partitioning on
  the way: ~10 ms of statements and Jinja per model, ~0.7 s of a `reference` run's 76 tables.
  DuckDB's CREATE OR REPLACE in the model's transaction is just as atomic: a model that fails
  leaves its previous table, and the export post-hook reads the new one before COMMIT: in the
  same statement, as every post-hook inside the transaction (hooks outside it run after COMMIT).
  What it does not do (none of it is used here; a model that asks is stopped, not half served):
  contracts, partitioned_by / sorted_by, Python models.
-#}
{% materialization table, adapter="duckdb" %}
  {%- if model['language'] != 'sql' or config.get('contract').enforced
        or config.get('partitioned_by') or config.get('partition_by') or config.get('sorted_by') -%}
    {{ exceptions.raise_compiler_error(
        "datamig's table materialization (macros/materializations/table.sql) builds plain SQL models; "
        ~ model['name'] ~ " asks for a contract, partitioning or sorting, or is not SQL") }}
  {%- endif -%}
  {%- set existing_relation = load_cached_relation(this) -%}
  {%- set target_relation = this.incorporate(type='table') -%}

  {{ run_hooks(pre_hooks, inside_transaction=False) }}
  {{ run_hooks(pre_hooks, inside_transaction=True) }}
  {%- if existing_relation is not none and not existing_relation.is_table -%}
    {{ adapter.drop_relation(existing_relation) }}
  {%- endif %}
  {#- the in-transaction post-hooks (the marts' Parquet export) go in the same statement: one
      round trip of dbt's per-query Python (events, logging, cursor) less per table -#}
  {%- set in_transaction = [] -%}
  {%- for hook in post_hooks if hook.get('transaction') -%}
    {%- set rendered = render(hook.get('sql')) | trim -%}
    {%- if rendered -%}{%- do in_transaction.append(rendered) -%}{%- endif -%}
  {%- endfor %}
  {% call statement('main') -%}
    {{ config.get('sql_header') or '' }}
    create or replace table {{ target_relation }} as (
      {{ compiled_code }}
    )
    {%- for hook_sql in in_transaction %};
    {{ hook_sql }}
    {%- endfor %}
  {%- endcall %}
  {% do apply_grants(target_relation, config.get('grants'), should_revoke=should_revoke(existing_relation, full_refresh_mode=True)) %}
  {% do persist_docs(target_relation, model) %}
  {{ adapter.commit() }}
  {{ run_hooks(post_hooks, inside_transaction=False) }}
  {{ return({'relations': [target_relation]}) }}
{% endmaterialization %}
