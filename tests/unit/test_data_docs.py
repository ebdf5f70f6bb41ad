"""GX Data Docs open offline: every CDN resource of GX's page templates is bundled."""

from __future__ import annotations

import re
from pathlib import Path

import great_expectations

from dagster_project.quality.data_docs import (
    ASSETS,
    BUNDLED,
    VENDOR,
    bundle_static_assets,
    remote_resources,
)

TEMPLATES = Path(great_expectations.__file__).parent / "render" / "view" / "templates"
_TAG_URL = re.compile(r"<(?:script|link|img)\b[^>]*?\b(?:src|href)=\"(https?://[^\"]+)\"")


def test_every_cdn_resource_of_gx_templates_is_bundled_or_dropped() -> None:
    """A GX upgrade that links a new CDN file fails here, not silently offline."""
    urls = {u for t in TEMPLATES.rglob("*.j2") for u in _TAG_URL.findall(t.read_text("utf-8"))}
    assert urls, "GX page templates not found"
    resources = {u for u in urls if "greatexpectations.io" not in u}  # links, not resources
    vega = {u for u in resources if "/npm/vega" in u}
    assert resources - vega <= set(BUNDLED), sorted(resources - vega - set(BUNDLED))
    for local in BUNDLED.values():
        assert (ASSETS / local).is_file(), local


def test_a_built_page_loads_nothing_from_the_network(tmp_path: Path) -> None:
    scripts = "".join(
        f'<script src="{u}"></script>' if u.endswith(".js") else f'<link href="{u}">'
        for u in BUNDLED
    )
    page = (
        "<html><head>" + scripts + '<script src="https://cdn.jsdelivr.net/npm/vega@5"></script>'
        '</head><body><img src="https://great-expectations-web-assets.s3.us-east-2.amazonaws.com/'
        'logo-long.png?d=20261203T135431Z"><a href="https://greatexpectations.io">GX</a>'
        "</body></html>"
    )
    deep = tmp_path / "validations" / "suite" / "run" / "time" / "page.html"
    deep.parent.mkdir(parents=True)
    deep.write_text(page, encoding="utf-8")
    (tmp_path / "index.html").write_text(page, encoding="utf-8")
    bundle_static_assets(tmp_path)
    bundle_static_assets(tmp_path)  # idempotent
    for html in (deep, tmp_path / "index.html"):
        text = html.read_text(encoding="utf-8")
        assert remote_resources(text) == []
        assert "https://greatexpectations.io" in text  # a link stays a link
        for ref in re.findall(r'(?:src|href)="([^"]+)"', text):
            if not ref.startswith("http"):
                assert (html.parent / ref.split("?")[0]).resolve().is_relative_to(tmp_path)
                if VENDOR in ref:
                    assert (html.parent / ref).is_file(), ref
    assert "../../../../static/images/logo-long.png" in deep.read_text(encoding="utf-8")
