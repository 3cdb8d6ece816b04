"""The charting library the console, the share page and the explorer draw with: Apache ECharts,
vendored (no CDN) under static/vendor/echarts/<version>/ and pinned here, in one place.

Upgrading: docs/console.md, "## Dashboards". tests/core/test_charting.py checks the file
against ECHARTS_SHA256, so a changed file without a changed pin fails."""

from __future__ import annotations

ECHARTS_VERSION = "5.6.0"
# sha256 of dist/echarts.min.js of the npm tarball echarts-5.6.0.tgz (whose sha512 matched the
# registry's `dist.integrity`).
ECHARTS_SHA256 = "bf4a223524e40b77c304bec67e1222cf551f14880cf42c69dc046558e11c07b1"
ECHARTS_STATIC = f"vendor/echarts/{ECHARTS_VERSION}/echarts.min.js"
CHARTS_STATIC = "core/charts.js"
