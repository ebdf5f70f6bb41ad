{#- Fails (one row) when the column's total differs from the number of rows of `to` (those
    matching `to_where`): an aggregate that counts every row of its input once and only once.
    An empty input is a total of 0, not null. -#}
{% test sums_to_row_count(model, column_name, to, to_where=none) %}
select aggregate.total, counted.row_count
from (select coalesce(sum({{ column_name }}), 0) as total from {{ model }}) as aggregate
cross join (
    select count(*) as row_count
    from {{ to }}
    {%- if to_where %}
    where {{ to_where }}
    {%- endif %}
) as counted
where aggregate.total <> counted.row_count
{% endtest %}
