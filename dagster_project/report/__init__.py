"""The HTML report: one self-contained file ($MIRROR_HOME/report/index.html), opens offline."""
