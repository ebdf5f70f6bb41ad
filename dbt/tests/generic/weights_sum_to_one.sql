{#- Fails with one row per group whose weights do not add up to 1 (within 1e-9). -#}
{% test weights_sum_to_one(model, group_by, weight_column) %}
select {{ group_by | join(', ') }}, sum({{ weight_column }}) as total_weight
from {{ model }}
group by {{ group_by | join(', ') }}
having abs(sum({{ weight_column }}) - 1) > 1e-9
{% endtest %}
