{#- shift_date: move a date by 1..W days (W = settings.date_shift_days) either way. The offset is
    keyed by the date itself (or `key`), so one birth date shifts the same way in every table, and
    an age moves by at most W days: a 10-year-old stays about 10. The way is turned when the keyed
    one would leave the date's school year (settings.school_year_start_month, September: the usual
    kindergarten cut-off), so a student keeps the age the school counts on its cut-off day and
    stays in the grade cohort (a 5-year-old kindergartner was made 4). With W <= 182, half a
    school year, the other way always stays inside it. `d` is the date being moved, as a DATE;
    dates within W days of years 1 and 9999 move the keyed way (fakes.shift_date does the same). -#}
{% macro anon_shift_days(key_text, domain, d) -%}
  {%- set h = anon_h128(key_text, domain) -%}
  {%- set s = "(CAST(1 + " ~ anon_bits(h, 0, 32) ~ " % CAST(dm_setting('date_shift_days') AS UBIGINT) AS INTEGER)"
              ~ " * (1 - 2 * CAST(" ~ anon_bits(h, 32, 1) ~ " AS INTEGER)))" -%}
(CASE WHEN ({{ d }}) BETWEEN DATE '0011-01-01' AND DATE '9989-12-31'
           AND {{ anon_school_year("CAST((" ~ d ~ ") + to_days(" ~ s ~ ") AS DATE)") }} <> {{ anon_school_year(d) }}
      THEN -{{ s }} ELSE {{ s }} END)
{%- endmacro %}

{% macro anon_school_year(d) -%}
(year({{ d }}) - CASE WHEN month({{ d }}) < CAST(dm_setting('school_year_start_month') AS INTEGER) THEN 1 ELSE 0 END)
{%- endmacro %}

{% macro anonymize_shift_date(e, domain, kind='date', key=none) -%}
  {%- if kind == 'text' -%}
    {#- yyyy-mm-dd of years 1-9999, then perhaps a time (hh:mm...) after 'T' or a space
        (fakes.TEXT_DATE: JSON documents read text dates the same way); DuckDB's own cast would
        also take '2012/3/4', 'epoch' or '2012-03-04 BC'. Shifted out of years 1-9999: NULL -#}
    {%- set d = "TRY_CAST(nullif(regexp_extract(" ~ e ~ ", '(?s)^[\\t\\n\\f\\r ]*([0-9]{4}-[0-9]{2}-[0-9]{2})(?:[T ][0-9]{2}:[0-9]{2}.*)?[\\t\\n\\f\\r ]*$', 1), '') AS DATE)" -%}
    {%- set d = "(CASE WHEN " ~ d ~ " >= DATE '0001-01-01' THEN " ~ d ~ " END)" -%}
    {%- set k = anon_text('(' ~ key ~ ')') if key else anon_text(d) -%}
    {%- set moved = "CAST(" ~ d ~ " + to_days(" ~ anon_shift_days(k, domain, d) ~ ") AS DATE)" -%}
    {{ anon_blank_safe(anon_text(e), "CASE WHEN " ~ moved ~ " BETWEEN DATE '0001-01-01' AND DATE '9999-12-31' THEN strftime(" ~ moved ~ ", '%Y-%m-%d') END") }}
  {%- elif kind == 'integer' -%}
    {#- a date written as the number yyyymmdd (20120304), as exports and some systems keep birth
        dates: shifted as that date, the same way as in a date column, and still yyyymmdd (added
        as a difference, so the column keeps its integer type); not a real date, or shifted out
        of years 1000-9999 (no longer 8 digits) -> NULL, as unreadable text -#}
    {%- set d = "TRY_CAST(printf('%04d-%02d-%02d', (" ~ e ~ ") // 10000, ((" ~ e ~ ") // 100) % 100, (" ~ e ~ ") % 100) AS DATE)" -%}
    {%- set d = "CASE WHEN (" ~ e ~ ") BETWEEN 10000101 AND 99991231 THEN " ~ d ~ " END" -%}
    {%- set k = anon_text('(' ~ key ~ ')') if key else anon_text('(' ~ d ~ ')') -%}
    {%- set moved = "CAST((" ~ d ~ ") + to_days(" ~ anon_shift_days(k, domain, d) ~ ") AS DATE)" -%}
    (CASE WHEN {{ moved }} BETWEEN DATE '1000-01-01' AND DATE '9999-12-31'
        THEN {{ e }} + (CAST(strftime({{ moved }}, '%Y%m%d') AS INTEGER) - CAST(strftime({{ d }}, '%Y%m%d') AS INTEGER)) END)
  {%- elif kind == 'number' -%}
    {#- yyyymmdd in a DOUBLE or DECIMAL column (20120304.0, numeric(8)): a whole number shifts as
        kind 'integer' does, anything else -> NULL; `cast_to` puts it back in the column's type -#}
    {%- set n = "(CASE WHEN " ~ e ~ " BETWEEN 10000101 AND 99991231 AND " ~ e ~ " = trunc(" ~ e ~ ") THEN CAST(" ~ e ~ " AS BIGINT) END)" -%}
    {{ anonymize_shift_date(n, domain, 'integer', key) }}
  {%- elif kind in ['date', 'timestamp'] -%}
    {%- set k = anon_text('(' ~ key ~ ')') if key else anon_text('CAST(' ~ e ~ ' AS DATE)') -%}
    {%- set days = anon_shift_days(k, domain, 'CAST(' ~ e ~ ' AS DATE)') -%}
    {%- if kind == 'date' -%}CAST({{ e }} + to_days({{ days }}) AS DATE)
    {%- else -%}({{ e }} + to_days({{ days }}))
    {%- endif -%}
  {%- else -%}
    {{ exceptions.raise_compiler_error("anonymize: shift_date kind must be date, timestamp, integer, number or text, not '" ~ kind ~ "'") }}
  {%- endif -%}
{%- endmacro %}
