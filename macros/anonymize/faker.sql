{#- strategy faker: fakes picked from Faker-built dictionaries by the keyed hash (set-based, no
    per-row Faker). Slices of h128: [0,32) first pick, [32,64) second pick, [64,...) unique suffix.
    A name, city, street or zip is never faked as itself nor as one of its words (pick_other).

    Uniqueness without a stored map: two distinct inputs get the same fake only if every slice
    coincides. For N distinct inputs, P(any collision) <= N^2 / (2 * n_first * n_last * 2^s):
      email      first.last.<40-bit hex>@domain, s = 40, n_first ~3.5k, n_last ~4.1k (ASCII lists):
                 ~2^64 per pair -> 3e-8 at N = 1M, 3e-6 at N = 10M
      user_name  <initial><last>_<48-bit hex>, counting only last and suffix (~2^60): 4e-7 at N = 1M
    phone and ssn go to mask_format (a bijection: no collisions at all). A dbt `unique` test on the
    output column turns the residual risk into a failed build, never a silent duplicate. -#}
{% macro anonymize_faker(e, provider, domain, in_list=false) -%}
  {%- set t = anon_text(e) -%}
  {%- if provider in ['phone', 'ssn'] -%}
    {{ anonymize_mask_format(e, domain, provider == 'phone') }}
  {%- elif provider in ['email', 'user_name'] -%}
    {#- one identity whatever its case or padding -#}
    {%- set norm = "dm_lib.identity(" ~ t ~ ")" -%}
    {%- set h = anon_h128(norm, domain) -%}
    {%- if provider == 'email' -%}
      {{ anon_blank_safe(t, anon_pick('first_name_ascii', h, 0, in_list) ~ " || '.' || " ~ anon_pick('last_name_ascii', h, 32, in_list)
         ~ " || '.' || " ~ anon_hex(h, 64, 40) ~ " || '@' || dm_setting('email_domain')", h) }}
    {%- else -%}
      {{ anon_blank_safe(t, "left(" ~ anon_pick('first_name_ascii', h, 0, in_list) ~ ", 1) || " ~ anon_pick('last_name_ascii', h, 32, in_list)
         ~ " || '_' || " ~ anon_hex(h, 64, 48), h) }}
    {%- endif -%}
  {%- else -%}
    {%- set h = anon_h128(t, domain) -%}
    {%- if provider == 'name' -%}
      {#- part by part, in the first and last name domains beside this one (person.full_name:
          person.first_name, person.last_name): one person, one fake name in every column; split
          where the slice's first and last name columns split it (int_pii_values' names) -#}
      {%- set prefix = domain.split('.')[:-1] | join('.') -%}
      {%- set fd = anon_check_domain((prefix ~ '.' if prefix else '') ~ 'first_name') -%}
      {%- set ld = anon_check_domain((prefix ~ '.' if prefix else '') ~ 'last_name') -%}
      {{ anon_blank_safe(t, "dm_lib.full_name" ~ ("_listed" if in_list else "") ~ "(" ~ t ~ ", '" ~ fd ~ "', '" ~ ld ~ "', " ~ anon_taken() ~ ")") }}
    {%- elif provider == 'ipv4' -%}
      {{ anon_blank_safe(t, "dm_setting('ipv4_prefix') || '.' || " ~ anon_bits(h, 0, 8) ~ " || '.' || "
         ~ anon_bits(h, 8, 8) ~ " || '.' || (1 + " ~ anon_bits(h, 16, 8) ~ " % 254)", h) }}
    {%- elif provider == 'url' -%}
      {{ anon_blank_safe(t, "'https://' || " ~ anon_pick('last_name_ascii', h, 0, in_list) ~ " || '.' || dm_setting('url_domain') || '/' || "
         ~ anon_hex(h, 32, 32), h) }}
    {%- elif provider -%}
      {{ anon_blank_safe(t, anon_pick(provider, h, 0, in_list, t), h) }}
    {%- else -%}
      {{ exceptions.raise_compiler_error("anonymize: strategy faker needs a provider") }}
    {%- endif -%}
  {%- endif -%}
{%- endmacro %}
