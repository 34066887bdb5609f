{#- Key integrity, composite keys included: the built-in unique/relationships tests take one
    column only. Portable across DuckDB (the transform) and PostgreSQL (CERT). -#}

{#- nulls_distinct: a unique key that is not the identifying one, where (as in PostgreSQL) rows
    with a NULL in the key clash with no row; the identifying key may hold no NULL at all.
    nulls_not_distinct: one declared NULLS NOT DISTINCT, where NULLs are equal (as GROUP BY
    takes them), so rows repeating a key with a NULL in it clash, and a NULL alone is no failure. -#}
{% test datamig_unique_key(model, columns, nulls_distinct=false, nulls_not_distinct=false) %}
select {{ columns | join(', ') }}, count(*) as n_rows
from {{ model }}
{%- if nulls_distinct %}
where {% for c in columns %}{{ c }} is not null{% if not loop.last %} and {% endif %}{% endfor %}
{%- endif %}
group by {{ columns | join(', ') }}
having count(*) > 1
{%- if not nulls_distinct and not nulls_not_distinct %}
   or {% for c in columns %}{{ c }} is null{% if not loop.last %} or {% endif %}{% endfor %}
{%- endif %}
{% endtest %}


{% test datamig_relationship(model, columns, to, to_columns, row_filter=none) %}
{#- Every child row whose FK columns are all non-null finds its parent. -#}
select {% for c in columns %}child.{{ c }}{% if not loop.last %}, {% endif %}{% endfor %}
from {{ model }} as child
where {% for c in columns %}child.{{ c }} is not null{% if not loop.last %} and {% endif %}{% endfor %}
{%- if row_filter %} and ({{ row_filter }}){% endif %}
  and not exists (
    select 1 from {{ to }} as parent
    where {% for c in columns %}parent.{{ to_columns[loop.index0] }} = child.{{ c }}{% if not loop.last %} and {% endif %}{% endfor %}
  )
{% endtest %}
