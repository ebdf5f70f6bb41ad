"""The names of the code location's jobs, apart from the definitions that build them.

The CLI needs a job's name before it may load the definitions (loading them validates the
``MIRROR_*`` settings, and a bad setting must become an alert of a run that did not start), and
the Comtrade schedule targets a job without importing the definitions that import it.
"""

MIRROR_JOB_NAME = "mirror_build"
INGEST_JOB_NAME = "mirror_ingest"
