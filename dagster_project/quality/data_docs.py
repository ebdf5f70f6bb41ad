"""GX Data Docs that open offline: the CDN links of every page point at bundled copies.

GX 1.24 writes pages whose CSS/JS (Bootstrap, jQuery, bootstrap-table, Font Awesome, …) and
logo come from CDNs. Without internet access they render unstyled and the index table (filled
by bootstrap-table) stays empty. After each ``build_data_docs()`` this copies the files of
``data_docs_assets/`` (see its PROVENANCE.md) to ``<docs>/static/vendor/`` and rewrites each
page's links to relative paths; the logo points at the copy GX itself writes to
``<docs>/static/images/``. :func:`remote_resources` lists what a page would still fetch.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

ASSETS = Path(__file__).resolve().parent / "data_docs_assets"
VENDOR = "static/vendor"

# CDN URL in GX's page templates -> bundled file (relative to data_docs_assets/)
BUNDLED = {
    "https://code.jquery.com/jquery-3.7.1.min.js": "jquery-3.7.1/jquery.min.js",
    "https://cdnjs.cloudflare.com/ajax/libs/popper.js/1.12.9/umd/popper.min.js": (
        "popper.js-1.12.9/popper.min.js"
    ),
    "https://maxcdn.bootstrapcdn.com/bootstrap/4.3.1/css/bootstrap.min.css": (
        "bootstrap-4.3.1/bootstrap.min.css"
    ),
    "https://stackpath.bootstrapcdn.com/bootstrap/4.3.1/js/bootstrap.min.js": (
        "bootstrap-4.3.1/bootstrap.min.js"
    ),
    "https://unpkg.com/bootstrap-table@1.19.1/dist/bootstrap-table.min.css": (
        "bootstrap-table-1.19.1/bootstrap-table.min.css"
    ),
    "https://unpkg.com/bootstrap-table@1.19.1/dist/bootstrap-table.min.js": (
        "bootstrap-table-1.19.1/bootstrap-table.min.js"
    ),
    "https://unpkg.com/bootstrap-table@1.19.1/dist/extensions/filter-control/"
    "bootstrap-table-filter-control.min.js": (
        "bootstrap-table-1.19.1/bootstrap-table-filter-control.min.js"
    ),
    # the pages also link the 1.19.0 stylesheet of the extension (unminified and minified)
    "https://unpkg.com/bootstrap-table@1.19.0/dist/extensions/filter-control/"
    "bootstrap-table-filter-control.css": (
        "bootstrap-table-1.19.1/bootstrap-table-filter-control.min.css"
    ),
    "https://unpkg.com/bootstrap-table@1.19.0/dist/extensions/filter-control/"
    "bootstrap-table-filter-control.min.css": (
        "bootstrap-table-1.19.1/bootstrap-table-filter-control.min.css"
    ),
    "https://cdnjs.cloudflare.com/ajax/libs/bootstrap-datepicker/1.9.0/css/"
    "bootstrap-datepicker.min.css": ("bootstrap-datepicker-1.9.0/bootstrap-datepicker.min.css"),
    "https://cdnjs.cloudflare.com/ajax/libs/bootstrap-datepicker/1.9.0/js/"
    "bootstrap-datepicker.min.js": ("bootstrap-datepicker-1.9.0/bootstrap-datepicker.min.js"),
    "https://cdnjs.cloudflare.com/ajax/libs/font-awesome/6.6.0/css/all.min.css": (
        "fontawesome-free-6.6.0/css/all.min.css"
    ),
    "https://cdn.jsdelivr.net/npm/@forevolve/bootstrap-dark@1.1.0/dist/css/"
    "bootstrap-prefers-dark.css": ("bootstrap-dark-1.1.0/bootstrap-prefers-dark.min.css"),
}
_LOGO = re.compile(r"https://great-expectations-web-assets\.[^\"']*/(logo-long\.png)[^\"']*")
_VEGA = re.compile(
    r"<script[^>]*\bsrc=[\"']https://cdn\.jsdelivr\.net/npm/vega[^\"']*[\"'][^>]*>\s*</script>\s*"
)
# what a browser fetches by itself: scripts, stylesheets, images (not <a href> links)
_RESOURCE = re.compile(
    r"<(?:script|img|link)\b[^>]*?\b(?:src|href)=[\"'](https?://[^\"']+)[\"']", re.IGNORECASE
)


def _rewrite(page: str, prefix: str) -> str:
    for url, local in BUNDLED.items():
        page = page.replace(f'"{url}"', f'"{prefix}{VENDOR}/{local}"')
    page = _LOGO.sub(lambda m: f"{prefix}static/images/{m.group(1)}", page)
    if "vegaEmbed" not in page:  # no chart on this page: it does not need vega at all
        page = _VEGA.sub("", page)
    return page


def bundle_static_assets(docs_dir: Path) -> None:
    """Copy the bundled CSS/JS into ``docs_dir`` and point every page at them (idempotent)."""
    target = docs_dir / VENDOR
    shutil.copytree(ASSETS, target, dirs_exist_ok=True, ignore=shutil.ignore_patterns("*.md"))
    for page in docs_dir.rglob("*.html"):
        depth = len(page.relative_to(docs_dir).parts) - 1
        text = page.read_text(encoding="utf-8")
        rewritten = _rewrite(text, "../" * depth)
        if rewritten != text:
            page.write_text(rewritten, encoding="utf-8")


def remote_resources(page: str) -> list[str]:
    """The URLs a browser would fetch from the network to render ``page``."""
    return sorted(set(_RESOURCE.findall(page)))
