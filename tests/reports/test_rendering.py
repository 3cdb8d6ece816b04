"""Report rendering: tables, charts, CSV / XLSX attachments and the email parts, from widget views."""

from __future__ import annotations

import csv
import io

import matplotlib.image
import openpyxl
import pytest
from matplotlib.backends.backend_agg import RendererAgg

from apps.reports import rendering
from apps.reports.rendering import MAX_LABEL, chart_png, csv_of, html_of, table_of, text_of, xlsx_of

DAYS = [f"2025-03-0{d}T00:00:00+00:00" for d in range(1, 6)]
LINE = {"title": "Daily signups", "type": "line", "labels": DAYS,
        "series": [{"name": "signup", "values": [12, 30, None, 41, 38]}]}
BAR = {"title": "Revenue by plan", "type": "bar", "labels": DAYS,
       "series": [{"name": "revenue: pro", "values": [1200.5, 0.1 + 0.2, 980.25, 1500.0, 1333.3333333333333]},
                  {"name": "revenue: free", "values": [0, 3, 5, None, 2]}]}
NUMBER = {"title": "Active users", "type": "number", "value": 12345, "unit": "users"}
GAUGE = {"title": "NPS", "type": "gauge", "value": 42.5, "min": 0, "max": 100}
FUNNEL = {"title": "Checkout", "type": "funnel", "steps": [
    {"name": "view_cart", "count": 1000, "conversion": 1.0},
    {"name": "checkout", "count": 420, "conversion": 0.42},
    {"name": "purchase", "count": 137, "conversion": 0.137}]}
RETENTION = {"title": "Weekly retention", "type": "retention", "periods": 3, "rows": [
    {"label": "2025-03-03", "size": 200, "cells": [200, 90, 61, 40]},
    {"label": "2025-03-10", "size": 150, "cells": [150, 70, 33, 0]},
    {"label": "2025-03-17", "size": 0, "cells": [0, 0, 0, 0]}]}
TABLE = {"title": "Recent events", "type": "table", "columns": ["timestamp", "event", "distinct_id"],
         "rows": [["2025-03-05T10:00:00+00:00", "<script>alert(1)</script>", "u1"],
                  ["2025-03-05T10:01:00+00:00", "=HYPERLINK(\"x\")", "u2"]]}
ERROR = {"title": "Broken", "type": "line", "error": "Unknown event 'sign_up'."}
ITEMS = [("signups", LINE), ("revenue", BAR), ("active", NUMBER), ("nps", GAUGE), ("checkout", FUNNEL),
         ("retention", RETENTION), ("events", TABLE), ("broken", ERROR)]


def test_table_of_every_shape():
    assert table_of(BAR)[0] == ["bucket", "revenue: pro", "revenue: free"]
    assert table_of(BAR)[1][3] == [DAYS[3], 1500.0, None]
    assert table_of(NUMBER) == (["value"], [[12345]])
    assert table_of(GAUGE) == (["value"], [[42.5]])
    assert table_of(FUNNEL)[1][1] == ["checkout", 420, 0.42]
    assert table_of(RETENTION)[0] == ["cohort", "size", "+0", "+1", "+2", "+3"]
    assert table_of(RETENTION)[1][0] == ["2025-03-03", 200, 200, 90, 61, 40]
    assert table_of(TABLE) == (TABLE["columns"], TABLE["rows"])
    assert table_of(ERROR) == (["error"], [["Unknown event 'sign_up'."]])


MANY = {**LINE, "labels": [f"2025-03-01T{h:02d}:00:00+00:00" for h in range(24)] * 3,
        "series": [{"name": "pageview", "values": list(range(72))}]}


@pytest.mark.parametrize("view", [LINE, BAR, FUNNEL, RETENTION, MANY], ids=lambda v: v["title"])
def test_chart_png_draws_a_600px_image(view):
    png = chart_png(view)
    assert png is not None and png.startswith(b"\x89PNG")
    pixels = matplotlib.image.imread(io.BytesIO(png), format="png")
    assert pixels.shape[:2] == (260, 600)


@pytest.mark.parametrize("view", [NUMBER, GAUGE, TABLE, ERROR, {**LINE, "labels": [], "series": []}])
def test_chart_png_none_for_views_shown_as_html(view):
    assert chart_png(view) is None


# What a public write key can put in a property value, hence in a breakdown label or a series name.
NASTY = ["$\\foo$", "$x^$", "\\frac{", "_{", "$", "a$b$c", "\\$ok$", "^", "$\\sqrt{$", "L" * 500,
         "two\nlines $\\mathrm{x}$"]


def drawn_literally(label: str) -> str:
    text = " ".join(label.splitlines())
    return text if len(text) <= MAX_LABEL else text[:MAX_LABEL - 1] + "…"


@pytest.fixture
def drawn_texts(monkeypatch):  # noqa: ANN001, ANN201
    """Every (text, is_math) the Agg renderer is asked to draw."""
    texts = []
    draw_text = RendererAgg.draw_text

    def recording(self, gc, x, y, s, prop, angle, ismath=False, mtext=None):  # noqa: ANN001, ANN202
        texts.append((s, ismath))
        return draw_text(self, gc, x, y, s, prop, angle, ismath=ismath, mtext=mtext)

    monkeypatch.setattr(RendererAgg, "draw_text", recording)
    return texts


@pytest.mark.parametrize("kind", ["line", "bar", "funnel", "retention"])
def test_chart_labels_from_tenant_data_are_drawn_literally(kind, drawn_texts):
    if kind in ("line", "bar"):
        view = {"title": "t", "type": kind, "labels": NASTY,
                "series": [{"name": label, "values": [1] * len(NASTY)} for label in NASTY[:6]]}
    elif kind == "funnel":
        view = {"title": "t", "type": kind, "steps": [{"name": label, "count": 3, "conversion": 1.0} for label in NASTY]}
    else:
        view = {"title": "t", "type": kind, "periods": 0,
                "rows": [{"label": label, "size": 1, "cells": [1]} for label in NASTY[:10]]}
    png = chart_png(view)
    assert png is not None and matplotlib.image.imread(io.BytesIO(png), format="png").shape[:2] == (260, 600)
    assert [text for text, is_math in drawn_texts if is_math] == []
    drawn = {text for text, _ in drawn_texts}
    shown = NASTY[:6] if kind in ("line", "bar") else NASTY[:10]  # series names, or every (thinned) tick
    assert {drawn_literally(label) for label in shown} <= drawn


def test_one_item_that_cannot_be_rendered_leaves_the_others(monkeypatch, caplog):
    shape = rendering.table_of

    def table_of_fails_on_checkout(view):  # noqa: ANN001, ANN202
        if view.get("title") == "Checkout":
            raise RuntimeError("boom")
        return shape(view)

    monkeypatch.setattr(rendering, "table_of", table_of_fails_on_checkout)
    page = html_of(title="T", subtitle="", items=ITEMS, images={}, footer_html="", undrawn={"signups"})
    assert "Daily signups" in page and "Recent events" in page and rendering.CANNOT_DRAW in page
    assert rendering.CHART_CANNOT_DRAW in page
    text = text_of(title="T", subtitle="", items=ITEMS, footer_text="")
    assert "checkout\n--------\n" + rendering.CANNOT_DRAW in text and "12,345 users" in text
    rows = list(csv.DictReader(io.StringIO(csv_of(ITEMS).decode("utf-8"))))
    assert [r["value"] for r in rows if r["item"] == "checkout"] == [rendering.CANNOT_DRAW]
    assert {r["item"] for r in rows} == {name for name, _ in ITEMS}
    book = openpyxl.load_workbook(io.BytesIO(xlsx_of(ITEMS)))
    assert book.sheetnames == [name for name, _ in ITEMS] and book["checkout"]["A2"].value == rendering.CANNOT_DRAW
    assert sum("'checkout' could not be rendered" in r.getMessage() for r in caplog.records) == 4


def test_charts_of_notes_the_chart_that_cannot_be_drawn(monkeypatch, caplog):
    draw = rendering.chart_png
    monkeypatch.setattr(rendering, "chart_png",
                        lambda view: (_ for _ in ()).throw(ValueError("no")) if view is BAR else draw(view))
    charts, undrawn = rendering.charts_of(ITEMS)
    assert set(charts) == {"signups", "checkout", "retention"} and undrawn == {"revenue"}
    assert "'revenue' could not be rendered" in caplog.text


def test_csv_round_trips_every_number():
    rows = list(csv.DictReader(io.StringIO(csv_of(ITEMS).decode("utf-8"))))
    assert set(rows[0]) == {"item", "row", "column", "value"}
    expected = [(name, str(i), column, value) for name, view in ITEMS
                for i, row in enumerate(table_of(view)[1]) for column, value in zip(table_of(view)[0], row)]
    assert len(rows) == len(expected)
    for got, (name, index, column, value) in zip(rows, expected):
        assert (got["item"], got["row"], got["column"]) == (name, index, column)
        if value is None:
            assert got["value"] == ""
        elif isinstance(value, float):
            assert float(got["value"]) == value
        elif isinstance(value, int):
            assert int(got["value"]) == value and "." not in got["value"]
        elif value == '=HYPERLINK("x")':
            assert got["value"] == "'=HYPERLINK(\"x\")"  # a spreadsheet shows it, never runs it
        else:
            assert got["value"] == value


FORMULAS = ["=HYPERLINK(\"http://evil\",\"x\")", "+1+cmd|' /C calc'!A0", "-2+3", "@SUM(A1)", "\t=1+1",
            "\r=1+1"]
INJECTION = {"title": "Injected", "type": "table", "columns": ["text", "number"],
             "rows": [*([text, -3.5] for text in FORMULAS), ["-3.5", -2], ["plain", 0]]}


def test_csv_neutralises_formula_cells_and_keeps_numbers():
    items = [("=cmd|item", INJECTION),
             ("plain", {"title": "t", "type": "table", "columns": ["@col"], "rows": [[1]]})]
    rows = list(csv.reader(io.StringIO(csv_of(items).decode("utf-8"), newline="")))[1:]
    texts = [row[3] for row in rows if row[2] == "text"]
    assert texts == ["'" + text for text in FORMULAS] + ["-3.5", "plain"]  # a signed number cannot run
    assert [row[3] for row in rows if row[2] == "number"] == ["-3.5"] * len(FORMULAS) + ["-2", "0"]
    assert {row[0] for row in rows} == {"'=cmd|item", "plain"} and rows[-1][2] == "'@col"


def test_xlsx_neutralises_formula_cells_and_keeps_numbers():
    sheet = openpyxl.load_workbook(io.BytesIO(xlsx_of([("injected", INJECTION)])))["injected"]
    cells = list(sheet.iter_rows(min_row=2))
    # XML reads a stored carriage return back as a line feed.
    assert [row[0].value for row in cells] == [("'" + text).replace("\r", "\n") for text in FORMULAS] + [
        "-3.5", "plain"]
    assert {row[0].data_type for row in cells} == {"s"}
    assert [row[1].value for row in cells] == [-3.5] * len(FORMULAS) + [-2, 0]
    assert {row[1].data_type for row in cells} == {"n"}


def test_xlsx_sheets_and_numeric_cells():
    long = "A very long report item name that exceeds the limit"
    items = [*ITEMS, ("rev/2025: [Q1]*?", BAR), (long, LINE), (long, FUNNEL)]
    book = openpyxl.load_workbook(io.BytesIO(xlsx_of(items)))
    names = book.sheetnames
    assert names[:len(ITEMS)] == [name for name, _ in ITEMS]
    assert names[len(ITEMS)] == "rev 2025   Q1"
    assert names[-2] == long[:31] and names[-1] == long[:27] + " (2)"
    assert all(len(n) <= 31 and not set(n) & set("[]:*?/\\") for n in names)
    revenue = book["revenue"]
    assert [c.value for c in revenue[1]] == ["bucket", "revenue: pro", "revenue: free"]
    assert revenue["A1"].font.bold and revenue.freeze_panes == "A2"
    assert [c.value for c in revenue[2]] == [DAYS[0], 1200.5, 0]
    assert revenue["B3"].value == pytest.approx(0.1 + 0.2)  # openpyxl writes 16 significant digits
    assert revenue["B3"].data_type == "n" and revenue["C5"].value is None
    assert book["active"]["A2"].value == 12345 and book["active"]["A2"].data_type == "n"
    assert book["events"]["B3"].value == "'=HYPERLINK(\"x\")" and book["events"]["B3"].data_type == "s"


def test_html_escapes_user_data_and_embeds_images():
    items = [*ITEMS, ("xss", {**LINE, "title": "<script>bad()</script>"})]
    images = {"signups": "cid:chart-signups", "checkout": "data:image/png;base64,iVBORw0KGgo="}
    footer = '<a href="https://example.com/unsubscribe?t=abc">Unsubscribe</a>'
    page = html_of(title="Weekly <digest>", subtitle="Mar 1 – Mar 7", items=items, images=images,
                   footer_html=footer)
    assert "<script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "&lt;script&gt;bad()&lt;/script&gt;" in page
    assert "Weekly &lt;digest&gt;" in page
    assert '<img src="cid:chart-signups" width="600"' in page
    assert 'src="data:image/png;base64,iVBORw0KGgo="' in page
    assert footer in page and "max-width:640px" in page
    assert "12,345 users" in page and "42.5" in page and "42.0%" in page
    assert "Unknown event &#x27;sign_up&#x27;." in page


def test_html_caps_long_tables():
    view = {"title": "Events", "type": "table", "columns": ["n"], "rows": [[i] for i in range(120)]}
    page = html_of(title="T", subtitle="", items=[("events", view)], images={}, footer_html="")
    assert "… 70 more rows in the attachments" in page and ">49<" in page and ">50<" not in page


def test_text_has_figures_and_tables():
    text = text_of(title="Weekly digest", subtitle="Mar 1 – Mar 7", items=ITEMS, footer_text="Unsubscribe: x")
    assert "12,345 users" in text and "42.5" in text and "range 0 – 100" in text
    rows = [line.split() for line in text.splitlines()]
    assert ["checkout", "420", "42.0%"] in rows and ["view_cart", "1,000", "100.0%"] in rows
    assert ["2025-03-03", "200", "200", "90", "61", "40"] in rows
    assert [DAYS[4], "1,333.3333", "2"] in rows
    assert "Error: Unknown event 'sign_up'." in text
    assert text.rstrip().endswith("Unsubscribe: x")
