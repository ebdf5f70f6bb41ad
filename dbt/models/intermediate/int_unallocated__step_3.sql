-- Step 3 of the allocation of trade declared to no country (int_unallocated__allocation):
-- Comext confidential pools (CN8 `99CC....`: the product hidden, the partner known) × what
-- step 2 left of the claims of the same partner and of the HS chapter the code names.
-- The SQL of every step: macro unallocated_step.
-- Built by trailing periods (macro trailing_model_config), as the claims and pools.
{{ config(**trailing_model_config()) }}
{{ unallocated_step(3) }}
