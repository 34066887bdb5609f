"""The anonymization engine: rules (what is PII), keyed pseudonyms (how it is replaced).

- rules.py       load/validate config/anonymization-rules.yaml; classify(); plan_table()
- keyed.py       the keyed-hash primitives shared by SQL and Python (the byte layout is specified there)
- dictionaries.py Faker-built fake-value lists (fixed seed, cached per process)
- fpe.py         keyed format-preserving digit (and letter) permutation (phones, SSNs, natural ids): unique
- fakes.py       the Python twin of the SQL macros (same output for the same salt/domain/value)
- jsondoc.py, jsonpath.py  JSON documents (configured paths + keys classified by the rules)
- pii_scan.py    flag unruled columns whose values look like PII
- udfs.py, engine.py  what the dbt plugin (datamig.dbt_plugin) puts on a DuckDB connection
- sql_library.py, .sql  the DuckDB macros (dm_lib.*) the dbt anonymize macros compile to
- names.py       free text's name removal in Python
- udf_workers.py runs names.py and jsondoc.py in worker processes, off the dbt process's GIL
- sqlrender.py   render the dbt macros (macros/anonymize*.sql) outside dbt

The SQL side lives in macros/anonymize.sql: {{ anonymize(column, strategy, provider, domain, ...) }}.
"""
from .rules import Planned, Rule, RuleSet, classify, load_rules, plan_table, tokens, type_family

__all__ = ["Planned", "Rule", "RuleSet", "classify", "load_rules", "plan_table", "tokens", "type_family"]
