-- Step 4 of the allocation of trade declared to no country (int_unallocated__allocation):
-- what steps 1 and 2 left of the nes pools × what step 3 left of the claims, of the same HS2
-- chapter. The SQL of every step: macro unallocated_step.
-- Built by trailing periods (macro trailing_model_config), as the claims and pools.
{{ config(**trailing_model_config()) }}
{{ unallocated_step(4) }}
