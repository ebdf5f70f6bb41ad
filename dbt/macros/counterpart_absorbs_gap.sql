{#- Classification differences (int_mirror__classification): does flow `b` (another HS6 code
    of the same pair and period) absorb the gap of flow `a`? Both relations carry x (export
    FOB), m (import FOB), d = m − x (a missing side as zero), tolerance_pct and pair_sigma.
      * the gaps run opposite ways;
      * once the misdeclared amount moves back, a is within its tolerance: |d_a + d_b| at most
        a's tolerance of its larger side, plus, when b's own gap is of a's size (between half
        and twice it), the noise b's size allows (var classification_counterpart_noise_sigmas ×
        the pair's sigma × b's larger side): a large counterpart's declarations scatter by
        more than the amount moved, and a gap of the right sign and size inside that scatter
        is still evidence, where a gap much larger than a's is b's own;
      * the two codes together agree within a's tolerance of their larger total. -#}
{% macro counterpart_absorbs_gap(a, b) -%}
    sign({{ a }}.d) = -sign({{ b }}.d)
    and abs({{ a }}.d + {{ b }}.d)
    <= {{ a }}.tolerance_pct / 100 * greatest({{ a }}.x, {{ a }}.m)
    + case
        when abs({{ b }}.d) between 0.5 * abs({{ a }}.d) and 2 * abs({{ a }}.d)
            then {{ var('classification_counterpart_noise_sigmas') }} * {{ b }}.pair_sigma
                * greatest({{ b }}.x, {{ b }}.m)
        else 0
    end
    and abs({{ a }}.d + {{ b }}.d)
    <= {{ a }}.tolerance_pct / 100 * greatest({{ a }}.x + {{ b }}.x, {{ a }}.m + {{ b }}.m)
{%- endmacro %}
