"""Report formats png, svg and pdf: the charts as images (SVG carrying nothing but drawing), the whole
report as a PDF, tenant labels drawn literally, attached to the email and downloadable, per tenant."""

from __future__ import annotations

import io
import re
import xml.etree.ElementTree as ET
import zipfile

import matplotlib.image
import pytest
from django.core import mail
from matplotlib.backends.backend_pdf import RendererPdf
from matplotlib.backends.backend_svg import RendererSVG

from apps.reports import rendering
from apps.reports.rendering import chart_png, chart_svg, charts_zip, pdf_of
from tests.dashboards.test_dashboards_api import api, shop  # noqa: F401 - the fixture
from tests.helpers import assert_error
from tests.reports.test_reports_api import create
from tests.reports.test_rendering import BAR, ERROR, FUNNEL, ITEMS, LINE, NASTY, RETENTION, drawn_literally

SVG = "{http://www.w3.org/2000/svg}"
HOSTILE = ["<script>alert(1)</script>", "--><script>x()</script><!--", "javascript:alert(1)",
           "http://evil.example/x.js", "url(http://evil.example/a)", "]]>&amp;", "\x01\x07bell", *NASTY[:4]]


def _hostile_view(kind: str) -> dict:
    if kind in ("line", "bar"):
        return {"title": HOSTILE[0], "type": kind, "labels": HOSTILE,
                "series": [{"name": label, "values": [1] * len(HOSTILE)} for label in HOSTILE[:6]]}
    if kind == "funnel":
        return {"title": "t", "type": kind,
                "steps": [{"name": label, "count": 3, "conversion": 1.0} for label in HOSTILE]}
    return {"title": "t", "type": kind, "periods": 0, "rows": [{"label": label, "size": 1, "cells": [1]}
                                                              for label in HOSTILE[:10]]}


def _assert_only_drawing(svg: bytes) -> ET.Element:
    assert svg.startswith(b"<?xml") and b"<!--" not in svg and b"<!DOCTYPE" not in svg
    root = ET.fromstring(svg)
    assert root.tag == f"{SVG}svg"
    for element in root.iter():
        assert element.tag.rsplit("}", 1)[-1] not in {"script", "foreignObject", "a", "iframe", "animate", "set"}
        for name, value in element.attrib.items():
            assert not name.rsplit("}", 1)[-1].lower().startswith("on")
            if name.endswith("href"):
                assert value.startswith(("#", "data:image/png;base64,")), value
            assert "url(" not in value.replace("url(#", "")
    return root


@pytest.fixture
def drawn_texts(monkeypatch):  # noqa: ANN001, ANN201
    """Every (text, is_math) the SVG and PDF renderers are asked to draw."""
    texts = []
    for renderer in (RendererSVG, RendererPdf):
        original = renderer.draw_text

        def recording(self, gc, x, y, s, prop, angle, ismath=False, mtext=None,  # noqa: ANN001, ANN202
                      _original=original):
            texts.append((s, ismath))
            return _original(self, gc, x, y, s, prop, angle, ismath=ismath, mtext=mtext)

        monkeypatch.setattr(renderer, "draw_text", recording)
    return texts


@pytest.mark.parametrize("kind", ["line", "bar", "funnel", "retention"])
def test_svg_charts_draw_tenant_labels_literally_and_carry_nothing_but_drawing(kind, drawn_texts):
    view = _hostile_view(kind)
    svg = chart_svg(view)
    root = _assert_only_drawing(svg)
    assert root.get("width") == "432pt" and root.get("height") == "187.2pt"  # 6 x 2.6 inches
    for needle in (b"script", b"evil", b"javascript", b"alert", b"]]>"):
        assert needle not in svg
    assert [text for text, is_math in drawn_texts if is_math] == []
    shown = HOSTILE[:6] if kind in ("line", "bar") else HOSTILE[:10]
    assert {drawn_literally(label) for label in shown} <= {text for text, _ in drawn_texts}


def test_svg_chart_draws_the_data(drawn_texts):
    root = _assert_only_drawing(chart_svg(BAR))
    # A rectangle per bucket and series (a missing value's is empty), and one per legend entry, each
    # series in its own colour.
    bars = [g for g in root.iter(f"{SVG}g") if (g.get("id") or "").startswith("patch_")]
    for colour, series in zip(rendering.PALETTE, BAR["series"]):
        filled = [g for g in bars if colour in ET.tostring(g).decode()]
        assert len(filled) == len(series["values"]) + 1
    assert {t for t, _ in drawn_texts} >= {"revenue: pro", "revenue: free", "2025-03-01", "1,400"}
    assert chart_svg(ERROR) is None and chart_svg({**LINE, "labels": [], "series": []}) is None


def _pages(pdf: bytes) -> int:
    assert pdf.startswith(b"%PDF-") and pdf.rstrip().endswith(b"%%EOF")
    counts = re.findall(rb"/Type /Pages\b.*?/Count (\d+)|/Count (\d+)", pdf, re.S)
    pages = len(re.findall(rb"/Type /Page\b(?!s)", pdf))
    assert {int(a or b) for a, b in counts} == {pages}
    return pages


def test_pdf_has_a_page_per_item_and_draws_tenant_text_literally(drawn_texts):
    hostile_table = {"title": "$\\frac{", "type": "table", "columns": ["<a>", "$x^$"],
                     "rows": [[label, i] for i, label in enumerate(HOSTILE)]}
    items = [*ITEMS, ("nasty", _hostile_view("bar")), ("hostile table", hostile_table)]
    pdf = pdf_of(title="Weekly $\\x$ <b>", subtitle="1 Mar to 7 Mar", items=items)
    assert _pages(pdf) == len(items)
    assert [text for text, is_math in drawn_texts if is_math] == []
    drawn = {text for text, _ in drawn_texts}
    assert {drawn_literally(label) for label in HOSTILE} <= drawn  # table cells and tick labels
    assert {"Weekly $\\x$ <b>: 1 Mar to 7 Mar", "12,345 users", "range 0 – 100", "Unknown event 'sign_up'.",
            "Checkout", "view_cart", "1,200.5"} <= drawn
    assert b"<script>" not in pdf


def test_pdf_gives_an_item_that_cannot_be_drawn_its_page(monkeypatch, caplog):
    draw = rendering._draw

    def funnel_fails(ax, view):  # noqa: ANN001, ANN202
        if view.get("type") == "funnel":
            raise RuntimeError("the funnel broke")
        return draw(ax, view)

    monkeypatch.setattr(rendering, "_draw", funnel_fails)
    assert _pages(pdf_of(title="T", subtitle="", items=ITEMS)) == len(ITEMS)
    assert "'checkout' could not be rendered" in caplog.text
    assert _pages(pdf_of(title="T", subtitle="", items=[])) == 1


def test_charts_zip_holds_each_chart_in_report_order():
    items = [*ITEMS, ("../../etc/passwd", FUNNEL)]
    with zipfile.ZipFile(io.BytesIO(charts_zip(items, "png"))) as archive:
        names = archive.namelist()
        assert names == ["01-signups.png", "02-revenue.png", "05-checkout.png", "06-retention.png",
                         "09-etc-passwd.png"]
        assert archive.read("06-retention.png") == chart_png(RETENTION)
        assert archive.read("01-signups.png") == chart_png(LINE)
    with zipfile.ZipFile(io.BytesIO(charts_zip(items, "svg"))) as archive:
        assert archive.namelist() == [name.replace(".png", ".svg") for name in names]
        for name in archive.namelist():
            _assert_only_drawing(archive.read(name))


def test_report_formats_are_attached_and_downloadable(client, shop, django_capture_on_commit_callbacks):  # noqa: F811
    key = shop.secret_key
    report = create(client, key, formats=["png", "svg", "pdf"], time_range="7d")
    assert report["formats"] == ["png", "svg", "pdf"]
    api(client, key, "post", f"reports/{report['id']}/subscriptions", {"email": "ann@example.com"})
    with django_capture_on_commit_callbacks(execute=True):
        run = api(client, key, "post", f"reports/{report['id']}/run", {"send": True}).json()
    run = api(client, key, "get", f"reports/runs/{run['id']}").json()
    assert (run["status"], run["formats"]) == ("succeeded", ["png", "svg", "pdf"])

    [message] = mail.outbox
    attachments = {name: (content, mimetype) for name, content, mimetype in
                   ((part.get_filename(), part.get_payload(decode=True), part.get_content_type())
                    for part in message.message().walk() if part.get_filename())}
    day = run["period_end"][:10]
    assert sorted(attachments) == sorted([f"weekly-{day}.pdf", f"weekly-{day}-01-buys.png",
                                          f"weekly-{day}-01-buys.svg"])
    assert attachments[f"weekly-{day}.pdf"][1] == "application/pdf"
    assert attachments[f"weekly-{day}-01-buys.svg"][1] == "image/svg+xml"
    png, _ = attachments[f"weekly-{day}-01-buys.png"]
    assert matplotlib.image.imread(io.BytesIO(png), format="png").shape[:2] == (260, 600)
    _assert_only_drawing(attachments[f"weekly-{day}-01-buys.svg"][0])

    base = f"reports/runs/{run['id']}/download"
    pdf = api(client, key, "get", f"{base}?format=pdf")
    assert pdf["Content-Type"] == "application/pdf" and pdf.content == attachments[f"weekly-{day}.pdf"][0]
    assert pdf["Content-Disposition"] == f'attachment; filename="weekly-{run["id"]}.pdf"'
    assert _pages(pdf.content) == 1  # one item
    for kind in ("png", "svg"):
        response = api(client, key, "get", f"{base}?format={kind}")
        assert response["Content-Type"] == "application/zip"
        assert response["Content-Disposition"] == f'attachment; filename="weekly-{run["id"]}.charts-{kind}.zip"'
        with zipfile.ZipFile(io.BytesIO(response.content)) as archive:
            assert archive.namelist() == [f"01-buys.{kind}"]
            assert archive.read(f"01-buys.{kind}") == attachments[f"weekly-{day}-01-buys.{kind}"][0]
    assert_error(api(client, key, "get", f"{base}?format=html"), 404, "not_generated")
    assert_error(api(client, key, "get", f"{base}?format=gif"), 400, "invalid")


@pytest.mark.parametrize("formats", [["gif"], ["pdf", "pdf"], ["PDF"], ["png", "jpeg"]])
def test_unknown_formats_are_refused(client, shop, formats):  # noqa: F811
    response = api(client, shop.secret_key, "post", "reports",
                   {"name": "bad", "report_type": "queries", "formats": formats,
                    "query_config": {"queries": [{"name": "b", "query": {"kind": "trends",
                                                                         "series": [{"event": "Buy"}]}}]}})
    assert_error(response, 400, "invalid")
    assert response.json()["error"]["details"]["formats"] == formats


def test_another_tenant_cannot_download_the_pdf_or_charts(client, shop, globex,  # noqa: F811
                                                          django_capture_on_commit_callbacks):
    report = create(client, shop.secret_key, formats=["pdf", "png", "svg"])
    with django_capture_on_commit_callbacks(execute=True):
        run = api(client, shop.secret_key, "post", f"reports/{report['id']}/run", {}).json()
    for kind in ("pdf", "png", "svg"):
        path = f"reports/runs/{run['id']}/download?format={kind}"
        assert_error(api(client, globex.secret_key, "get", path), 404, "not_found")
        assert api(client, shop.secret_key, "get", path).status_code == 200
