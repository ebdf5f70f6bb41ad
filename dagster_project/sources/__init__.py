"""One module per source: how its files look and how they become raw rows.

``LANDING_SOURCES`` lists every landing source the warehouse ingests (and the Dagster asset
keys each ingest depends on, e.g. reference tables used to validate codes).
"""

import dagster as dg

from dagster_project.ingest.spec import SourceSpec
from dagster_project.sources import coir, comext, comtrade, eurostat_energy

LANDING_SOURCES: tuple[tuple[SourceSpec, tuple[dg.AssetKey, ...]], ...] = (
    (comtrade.SPEC, (dg.AssetKey(["raw", "ref_comtrade_country_codes"]),)),
    (comext.SPEC, ()),
    (eurostat_energy.SPEC, ()),
    (coir.SPEC, ()),
)
