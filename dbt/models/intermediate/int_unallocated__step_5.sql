-- Step 5 of the allocation of trade declared to no country (int_unallocated__allocation):
-- Comtrade chapter-99 pools ("commodities not specified according to kind", where reporters
-- put confidential trade; the partner known) × what step 4 left of the claims of the same
-- partner, any product. The SQL of every step: macro unallocated_step.
-- Built by trailing periods (macro trailing_model_config), as the claims and pools.
{{ config(**trailing_model_config()) }}
{{ unallocated_step(5) }}
