-- Step 2 of the allocation of trade declared to no country (int_unallocated__allocation):
-- what step 1 left of the nes pools × what it left of the claims, of the same HS4 heading.
-- The SQL of every step: macro unallocated_step.
-- Built by trailing periods (macro trailing_model_config), as the claims and pools.
{{ config(**trailing_model_config()) }}
{{ unallocated_step(2) }}
