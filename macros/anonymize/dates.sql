{#- shift_date: move a date by 1..W days (W = settings.date_shift_days) either way. The offset is
    keyed by the date itself (or `key`), so one birth date shifts the same way in every table, and
    an age moves by at most W days: a 10-year-old stays about 10. -#}
{% macro anon_shift_days(key_text, domain) -%}
  {%- set h = anon_h128(key_text, domain) -%}
(CAST(1 + {{ anon_bits(h, 0, 32) }} % CAST(dm_setting('date_shift_days') AS UBIGINT) AS INTEGER) * (1 - 2 * CAST({{ anon_bits(h, 32, 1) }} AS INTEGER)))
{%- endmacro %}

{% macro anonymize_shift_date(e, domain, kind='date', key=none) -%}
  {%- if kind == 'text' -%}
    {%- set d = 'TRY_CAST(' ~ e ~ ' AS DATE)' -%}
    {%- set k = anon_text('(' ~ key ~ ')') if key else anon_text(d) -%}
    {{ anon_blank_safe(anon_text(e), "strftime(CAST(" ~ d ~ " + to_days(" ~ anon_shift_days(k, domain) ~ ") AS DATE), '%Y-%m-%d')") }}
  {%- elif kind in ['date', 'timestamp'] -%}
    {%- set k = anon_text('(' ~ key ~ ')') if key else anon_text('CAST(' ~ e ~ ' AS DATE)') -%}
    {%- if kind == 'date' -%}CAST({{ e }} + to_days({{ anon_shift_days(k, domain) }}) AS DATE)
    {%- else -%}({{ e }} + to_days({{ anon_shift_days(k, domain) }}))
    {%- endif -%}
  {%- else -%}
    {{ exceptions.raise_compiler_error("anonymize: shift_date kind must be date, timestamp or text, not '" ~ kind ~ "'") }}
  {%- endif -%}
{%- endmacro %}
