"""One module per source, named after the source's id: how its files look (see
``docs/adding-a-source.md``).

``LANDING_SOURCES`` registers every landing source the warehouse ingests, and
``REFERENCE_SOURCES`` every reference table versioned with the code: one line each, one
template (:class:`SourceSpec`) for both.
"""

from dagster_project.ingest.spec import SourceSpec
from dagster_project.sources import coir, comext, comtrade, ecb_rates, eurostat, reference

LANDING_SOURCES: tuple[SourceSpec, ...] = (
    comtrade.SPEC,
    comext.SPEC,
    eurostat.SPEC,
    coir.SPEC,
)

REFERENCE_SOURCES: tuple[SourceSpec, ...] = (
    reference.COUNTRY_CODES,
    reference.HS2022_PRODUCTS,
    reference.HS_CORRELATIONS,
    reference.CEPII_GEODIST,
    ecb_rates.SPEC,
)
