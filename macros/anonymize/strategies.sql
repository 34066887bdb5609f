{#- The simple strategies. Collision bounds (N distinct inputs): hash 64 hex = 256 bits, ~N^2/2^257;
    tokenize 63 bits, ~N^2/2^64 (1e-7 at N = 1M); mask_format is a bijection: never. -#}

{# Keyed SHA-256, 64 hex chars. #}
{% macro anonymize_hash(e, domain) -%}
  {%- set t = anon_text(e) -%}
  {{ anon_blank_safe(t, "sha256(" ~ anon_domain_key(domain) ~ " || chr(31) || " ~ t ~ ")") }}
{%- endmacro %}

{# TOKEN_ + 19 zero-padded digits of 63 keyed bits. #}
{% macro anonymize_tokenize(e, domain) -%}
  {%- set t = anon_text(e) -%}
  {{ anon_blank_safe(t, "'TOKEN_' || lpad(CAST(" ~ anon_bits(anon_h128(t, domain), 0, 63) ~ " AS VARCHAR), 19, '0')") }}
{%- endmacro %}

{# Keyed permutation of the digits, and with `letters` of the ASCII letters too (fpe.py): format
   and case kept, unique, never a real phone or SSN of the slice. Arrow UDF, numpy inside. #}
{% macro anonymize_mask_format(e, domain, keep_country_code=false, letters=false) -%}
dm_mask_format({{ anon_text(e) }}, '{{ anon_check_domain(domain) }}', {{ 'true' if keep_country_code else 'false' }}, {{ 'true' if letters else 'false' }}, {{ anon_taken() }})
{%- endmacro %}

{# int_pii_values' `d`: a real phone's or SSN's digits encrypted with mask_format's permutation
   (anonymize/taken.py decrypts them once per build and checks whole chunks of fakes against
   them), without the check against the slice's real values, which `d` is part of. #}
{% macro anonymize_taken_digits(e, domain) -%}
dm_mask_format({{ anon_text(e) }}, '{{ anon_check_domain(domain) }}', false, false, null)
{%- endmacro %}

{% macro anonymize_constant(e, value) -%}
  {%- if value is none -%}NULL{%- else -%}{{ anon_blank_safe(anon_text(e), anon_literal(value)) }}{%- endif -%}
{%- endmacro %}

{# A NULL of the input's own type. #}
{% macro anonymize_nullify(e) -%}
(CASE WHEN FALSE THEN {{ e }} END)
{%- endmacro %}

{% macro anonymize_preserve(e) -%}
{{ e }}
{%- endmacro %}
