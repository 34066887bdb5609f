{#-
  anonymize(column_expr, strategy, provider, domain, ...) -> a SQL expression (DuckDB) replacing
  the PII in `column_expr`. Output = f(salt, domain, value): the same value in the same domain gets
  the same fake in every column, table, store and run. NULL stays NULL; '' (and all-space) stays.

  column_expr        SQL of the input (a column name or any expression)
  strategy           faker | hash | tokenize | mask_format | shift_date | scrub_text | jsonb |
                     constant | nullify | preserve
  provider           faker only: first_name last_name name email user_name street city zip ipv4
                     url phone ssn, or any dictionary under settings.dictionaries
  domain             pseudonym domain (required by keyed strategies), e.g. 'person.first_name'
  unique             documents intent; fails compilation if the strategy cannot be unique
  elementwise        apply to each element of a list (text[] columns)
  kind               shift_date: 'date' | 'timestamp' | 'integer' (yyyymmdd) | 'number' (yyyymmdd in a
                     DOUBLE or DECIMAL; with cast_to) | 'text' (ISO yyyy-mm-dd)
  key                shift_date: SQL of the value that keys the offset (default: the date itself)
  value              constant: the replacement
  names              scrub_text, jsonb: SQL of sibling columns whose values (names) are removed from the
                     text (jsonb: from the document's free text, with the document's own names)
  paths, by_key      jsonb: [{path, strategy, provider, domain, ...}], classify object keys by the rules
  keep_country_code  mask_format: keep a leading "+1 " (1-3 digits after '+')
  letters            mask_format: permute the ASCII letters too (case and positions kept)
  cast_to            cast the result (e.g. 'BIGINT' for an integer phone column)
  in_list            internal: set by `elementwise` for the expression inside its lambda

  Needs the datamig.dbt_plugin on the connection (it fails loudly, not silently NULL, without it).
-#}
{% macro anonymize(column_expr, strategy, provider=none, domain=none, unique=false, elementwise=false,
                   kind='date', key=none, value=none, names=[], paths=[], by_key=true,
                   keep_country_code=false, cast_to=none, letters=false, in_list=false) -%}
  {%- if unique and not (strategy in ['hash', 'tokenize', 'mask_format'] or provider in ['email', 'user_name', 'phone', 'ssn']) -%}
    {{ exceptions.raise_compiler_error("anonymize: " ~ strategy ~ "/" ~ provider ~ " cannot be unique") }}
  {%- endif -%}
  {%- if elementwise -%}
    {%- set inner = anonymize('__dm_e', strategy, provider, domain, false, false, kind, key, value, names, paths, by_key, keep_country_code, none, letters, true) -%}
    {%- set expr = 'list_transform(' ~ column_expr ~ ', lambda __dm_e: ' ~ inner ~ ')' -%}
  {%- else -%}
    {%- set e = '(' ~ column_expr ~ ')' -%}
    {%- if strategy == 'faker' -%}{%- set expr = anonymize_faker(e, provider, domain, in_list) -%}
    {%- elif strategy == 'hash' -%}{%- set expr = anonymize_hash(e, domain) -%}
    {%- elif strategy == 'tokenize' -%}{%- set expr = anonymize_tokenize(e, domain) -%}
    {%- elif strategy == 'mask_format' -%}{%- set expr = anonymize_mask_format(e, domain, keep_country_code, letters) -%}
    {%- elif strategy == 'shift_date' -%}{%- set expr = anonymize_shift_date(e, domain, kind, key) -%}
    {%- elif strategy == 'scrub_text' -%}{%- set expr = anonymize_scrub_text(e, names) -%}
    {%- elif strategy == 'jsonb' -%}{%- set expr = anonymize_jsonb(e, paths, by_key, names) -%}
    {%- elif strategy == 'constant' -%}{%- set expr = anonymize_constant(e, value) -%}
    {%- elif strategy == 'nullify' -%}{%- set expr = anonymize_nullify(e) -%}
    {%- elif strategy == 'preserve' -%}{%- set expr = anonymize_preserve(e) -%}
    {%- else -%}{{ exceptions.raise_compiler_error("anonymize: unknown strategy '" ~ strategy ~ "'") }}
    {%- endif -%}
  {%- endif -%}
  {%- if cast_to -%}CAST({{ expr }} AS {{ cast_to }}){%- else -%}{{ expr }}{%- endif -%}
{%- endmacro %}
