"""One module per source, named after the source's id: how its files look (see
``docs/adding-a-source.md``).

``LANDING_SOURCES`` registers every landing source the warehouse ingests: one line each.
"""

from dagster_project.ingest.spec import SourceSpec
from dagster_project.sources import coir, comext, comtrade, eurostat

LANDING_SOURCES: tuple[SourceSpec, ...] = (
    comtrade.SPEC,
    comext.SPEC,
    eurostat.SPEC,
    coir.SPEC,
)
