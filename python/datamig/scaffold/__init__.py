"""`datamig scaffold`: dbt sources, staging, anonymized and final models (and their YAML)
generated from introspection and the rules, the way dbt-codegen does."""
