-- Step 1 of the allocation of trade declared to no country (int_unallocated__allocation):
-- nes pools (areas nes, special categories, bunkers, free zones, regional nes areas) × the
-- claims of the same HS6, from the whole claims and pools (int_unallocated__claims,
-- int_unallocated__pools). The SQL of every step: macro unallocated_step.
-- Built by trailing periods (macro trailing_model_config), as the claims and pools.
{{ config(**trailing_model_config()) }}
{{ unallocated_step(1) }}
