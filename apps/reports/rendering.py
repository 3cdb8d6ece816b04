"""Report rendering: each item's widget view (`apps.dashboards.services.widget_view`) as a table, a PNG
or SVG chart, the CSV, XLSX and PDF attachments, and the HTML and plain-text parts of the digest email.

Charts are drawn on a bare `matplotlib.figure.Figure` with the Agg canvas, never through pyplot, so
rendering is thread-safe, touches no global figure registry and each figure is freed with its last
reference. Every text drawn that comes from tenant data (bucket and cohort labels, series and step
names) goes through `_literal`: matplotlib reads text between two `$` as math (mathtext), which
fails on much of what a public write key can send (`$\\foo$`), so every `$` is escaped.

SVG charts draw text as glyph paths (matplotlib's default) and are then re-serialised keeping only
drawing: comments (matplotlib writes each text there), scripts, foreign objects, event handlers and
any reference that is not local (`#id`) are dropped, so no tenant text or link reaches the file.

One item that cannot be rendered (for any reason) never fails the others: `_each` logs the error
and puts a "could not be drawn" note in its place, in the email and in the attachments."""

from __future__ import annotations

import csv
import html
import io
import logging
import math
import re
import xml.etree.ElementTree as ET
import zipfile
from typing import Any, Callable, Collection, Iterator, TypeVar

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.backends.backend_pdf import PdfPages
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter
from openpyxl import Workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter

from apps.core.text import spreadsheet_cell

View = dict[str, Any]
Item = tuple[str, View]
T = TypeVar("T")

logger = logging.getLogger(__name__)
CANNOT_DRAW = "This item could not be drawn."
CHART_CANNOT_DRAW = "The chart could not be drawn."
MAX_LABEL = 40  # characters of a label drawn on a chart; the tables hold it whole

MAX_ROWS = 50  # rows of each table shown in the email; the attachments hold them all
PALETTE = ["#4c78a8", "#f58518", "#54a24b", "#e45756", "#72b7b2", "#b279a2", "#eeca3b", "#9d755d"]
FONT = "-apple-system,BlinkMacSystemFont,'Segoe UI',Roboto,Helvetica,Arial,sans-serif"
MUTED = "color:#6b7280;font-size:12px;"
SHEET_FORBIDDEN = re.compile(r"[\[\]:*?/\\]")
ISO_TIME = re.compile(r"^(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2})")


def _each(items: list[Item], render: Callable[[str, View], T], fallback: Callable[[str, View], T]) -> Iterator[T]:
    """`render` of each item; `fallback` (and the error logged) for one that raises."""
    for name, view in items:
        try:
            yield render(name, view)
        except Exception:  # noqa: BLE001 - one bad item must not fail the whole report
            logger.exception("report item %r could not be rendered", name)
            yield fallback(name, view)


def _literal(label: Any) -> str:
    """Tenant text as matplotlib draws it literally: on one line, at most MAX_LABEL characters, and
    every `$` escaped so that it is never read as mathtext (matplotlib draws `\\$` as `$`)."""
    text = " ".join(str(label).splitlines())
    if len(text) > MAX_LABEL:
        text = text[:MAX_LABEL - 1] + "…"
    return text.replace("$", r"\$")


# --- tables -------------------------------------------------------------------------------------------


def table_of(view: View) -> tuple[list[str], list[list[Any]]]:
    """Any view as columns and rows, the raw values kept (what the attachments and email tables hold)."""
    if "error" in view:
        return ["error"], [[view["error"]]]
    if "labels" in view:
        series = view["series"]
        return (["bucket", *[s["name"] for s in series]],
                [[label, *[s["values"][i] for s in series]] for i, label in enumerate(view["labels"])])
    if "value" in view:
        return ["value"], [[view["value"]]]
    if "steps" in view:
        steps = view["steps"]
        return ["step", "count", "conversion"], [[s["name"], s["count"], s["conversion"]] for s in steps]
    if "periods" in view:
        return (["cohort", "size", *[f"+{k}" for k in range(view["periods"] + 1)]],
                [[r["label"], r["size"], *r["cells"]] for r in view["rows"]])
    return list(view["columns"]), [list(row) for row in view["rows"]]


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _fmt(value: Any) -> str:
    """A value for people: thousands separators, floats to at most 4 decimals (tiny ones to 4
    significant digits), None as empty, line breaks flattened."""
    if value is None:
        return ""
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    if isinstance(value, float):
        if value and abs(value) < 0.001:
            return f"{value:.4g}"
        return f"{value:,.4f}".rstrip("0").rstrip(".")
    return " ".join(str(value).splitlines())


def _shown(view: View) -> tuple[list[str], list[list[str]], list[bool], int]:
    """The email's table of a view: columns, formatted rows (at most MAX_ROWS), which columns are
    numeric (right-aligned) and how many rows were left out."""
    columns, rows = table_of(view)
    numeric = [any(_is_number(row[i]) for row in rows) for i in range(len(columns))]
    percent = view.get("type") == "funnel"
    shown = [[f"{value:.1%}" if percent and column == "conversion" and _is_number(value) else _fmt(value)
              for column, value in zip(columns, row)] for row in rows[:MAX_ROWS]]
    return columns, shown, numeric, max(len(rows) - MAX_ROWS, 0)


def _figure(view: View) -> tuple[str, str]:
    """A number or gauge view's big figure (with its unit) and a note (a gauge's range)."""
    value = "—" if view["value"] is None else _fmt(view["value"])
    figure = f"{value} {view['unit']}" if view.get("unit") else value
    note = f"range {_fmt(view['min'])} – {_fmt(view['max'])}" if "min" in view else ""
    return figure, note


# --- charts -------------------------------------------------------------------------------------------


def _chart(view: View) -> Figure | None:
    """A ~600x260 figure of a line, bar, funnel or retention view; None for views shown as HTML only
    (number, gauge, table, error) or with nothing to draw."""
    figure = Figure(figsize=(6, 2.6), dpi=100, layout="constrained")
    FigureCanvasAgg(figure)
    return figure if _draw(figure.add_subplot(), view) else None


def _draw(ax: Any, view: View) -> bool:
    """The view's chart on `ax`; False when the view has none."""
    if "error" in view:
        return False
    kind = view.get("type")
    _style(ax)
    if kind in ("line", "bar") and view["labels"] and view["series"]:
        _series_chart(ax, view)
    elif kind == "funnel" and view["steps"]:
        _funnel_chart(ax, view["steps"])
    elif kind == "retention" and view["rows"]:
        _retention_chart(ax, view)
    else:
        return False
    return True


def _style(ax: Any) -> None:
    ax.tick_params(labelsize=8, colors="#374151", length=0)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    for side in ("left", "bottom"):
        ax.spines[side].set_color("#d1d5db")
    ax.set_axisbelow(True)


def chart_png(view: View) -> bytes | None:
    """The view's chart (`_chart`) as a 600x260 PNG, or None."""
    figure = _chart(view)
    if figure is None:
        return None
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100, facecolor="white")
    return buffer.getvalue()


SVG_NS = "http://www.w3.org/2000/svg"
XLINK_NS = "http://www.w3.org/1999/xlink"
ET.register_namespace("", SVG_NS)
ET.register_namespace("xlink", XLINK_NS)
_SVG_DROPPED = {f"{{{SVG_NS}}}{tag}" for tag in ("script", "foreignObject", "a", "metadata", "iframe", "audio",
                                                   "video", "feImage", "animate", "set")}
_SVG_COMMENT = re.compile(rb"<!--.*?-->", re.S)
_SVG_LOCAL = ("#", "data:image/png;base64,")  # the only references kept: ids, and a heat map's own pixels


def _svg_clean(svg: bytes) -> bytes:
    """Only drawing kept (see the module's docstring); comments go with parsing."""
    # matplotlib writes each text drawn in a comment (with "--" split, so the first "-->" ends it), and
    # a comment may hold characters XML forbids: they go before parsing; the parser drops the DOCTYPE.
    root = ET.fromstring(_SVG_COMMENT.sub(b"", svg))
    for parent in root.iter():
        for child in list(parent):
            if child.tag in _SVG_DROPPED or not isinstance(child.tag, str):
                parent.remove(child)
        for name, value in list(parent.attrib.items()):
            local = name.rsplit("}", 1)[-1].lower()
            if local.startswith("on") or (local == "href" and not value.startswith(_SVG_LOCAL)) \
                    or "url(" in value.replace("url(#", ""):
                del parent.attrib[name]
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)


def chart_svg(view: View) -> bytes | None:
    """The view's chart (`_chart`) as SVG (text as paths, nothing but drawing: `_svg_clean`), or None."""
    figure = _chart(view)
    if figure is None:
        return None
    buffer = io.BytesIO()
    figure.savefig(buffer, format="svg", facecolor="white", metadata={"Date": None})
    return _svg_clean(buffer.getvalue())


def charts_of(items: list[Item], draw: Callable[[View], bytes | None] | None = None,
              ) -> tuple[dict[str, bytes], set[str]]:
    """Each item's chart (`draw`: chart_png or chart_svg) by name, items without one left out, and the
    names of the items whose chart could not be drawn (the error logged)."""
    draw = draw or chart_png  # looked up at call time
    failed: set[str] = set()

    def cannot(name: str, view: View) -> tuple[str, None]:
        failed.add(name)
        return name, None

    charts = dict(_each(items, lambda name, view: (name, draw(view)), cannot))
    return {name: png for name, png in charts.items() if png is not None}, failed


def _file_stem(position: int, name: str) -> str:
    """A chart's file name in the ZIP and the email: its position, then its name made safe."""
    return f"{position:02d}-" + (re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-.")[:60] or "chart")


def charts_zip(items: list[Item], kind: str) -> bytes:
    """Every item's chart as `kind` ("png" or "svg"), one file each ("<position>-<name>.<kind>",
    in the report's order) in a ZIP; items without a chart, or whose chart could not be drawn, left out."""
    charts, _ = charts_of(items, chart_png if kind == "png" else chart_svg)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for position, (name, _view) in enumerate(items, 1):
            if name in charts:
                archive.writestr(f"{_file_stem(position, name)}.{kind}", charts[name])
    return buffer.getvalue()


def charts_unzip(archive: bytes) -> list[tuple[str, bytes]]:
    """The (file name, content) pairs of a `charts_zip`."""
    with zipfile.ZipFile(io.BytesIO(archive)) as opened:
        return [(info.filename, opened.read(info)) for info in opened.infolist()]


def _thin(count: int, most: int) -> list[int]:
    """Indexes of at most `most` evenly spaced tick labels out of `count`."""
    return list(range(0, count, -(-count // most)))


def _short(label: str) -> str:
    """An ISO bucket start as its date, or as month-day and time when not midnight."""
    match = ISO_TIME.match(label)
    if not match:
        return label
    return match[1] if match[2] == "00:00" else f"{match[1][5:]} {match[2]}"


def _series_chart(ax: Any, view: View) -> None:
    labels, series = view["labels"], view["series"]
    xs = range(len(labels))
    ax.set_prop_cycle(color=PALETTE)
    ax.grid(axis="y", color="#e5e7eb", linewidth=0.8)
    handles = []
    for k, s in enumerate(series):
        values = [math.nan if v is None else v for v in s["values"]]
        if view["type"] == "line":
            handles += ax.plot(xs, values, linewidth=1.8, marker="o" if len(labels) <= 24 else None, markersize=3)
        else:
            width = 0.8 / len(series)
            handles.append(ax.bar([x + (k - (len(series) - 1) / 2) * width for x in xs], values, width))
    short = [_literal(_short(str(label))) for label in labels]
    ticks = _thin(len(labels), max(2, min(10, 90 // (max(map(len, short)) + 3))))  # ~6 px a character
    ax.set_xticks(ticks, [short[i] for i in ticks])
    if all(v is None or v >= 0 for s in series for v in s["values"]):
        ax.set_ylim(bottom=0)
    ax.yaxis.set_major_formatter(FuncFormatter(lambda value, _: _fmt(value)))
    if len(series) > 1:
        # Labels given, not taken from the artists: matplotlib leaves out of the legend any artist
        # whose label starts with "_", and a breakdown value may.
        ax.legend(handles, [_literal(s["name"]) for s in series], frameon=False, fontsize=8, loc="lower left", bbox_to_anchor=(0, 1), borderaxespad=0,
                  ncols=min(len(series), 4))


def _funnel_chart(ax: Any, steps: list[dict[str, Any]]) -> None:
    counts = [s["count"] or 0 for s in steps]
    bars = ax.barh(range(len(steps)), counts, color=PALETTE[0], height=0.6)
    ax.set_yticks(range(len(steps)), [_literal(s["name"]) for s in steps])
    ax.invert_yaxis()
    ax.grid(axis="x", color="#e5e7eb", linewidth=0.8)
    ax.set_xlim(0, max(counts) * 1.3 or 1)
    ax.xaxis.set_major_formatter(FuncFormatter(lambda value, _: _fmt(value)))
    ax.bar_label(bars, fontsize=8, padding=3, color="#374151",
                 labels=[f"{_fmt(s['count'])} ({s['conversion'] or 0:.1%})" for s in steps])


def _retention_chart(ax: Any, view: View) -> None:
    """A heat map of each cohort's retained share (percent of its size) per period."""
    rows, periods = view["rows"], view["periods"] + 1
    grid = [[100 * c / r["size"] if r["size"] else math.nan for c in r["cells"]] for r in rows]
    ax.imshow(grid, cmap="Blues", vmin=0, vmax=100, aspect="auto")
    ax.set_xticks(range(periods), [f"+{k}" for k in range(periods)])
    ticks = _thin(len(rows), 10)
    ax.set_yticks(ticks, [_literal(rows[i]["label"]) for i in ticks])
    for spine in ax.spines.values():
        spine.set_visible(False)
    if len(rows) * periods <= 160:
        for i, line in enumerate(grid):
            for j, share in enumerate(line):
                if not math.isnan(share):
                    ax.text(j, i, f"{share:.0f}%", ha="center", va="center", fontsize=7,
                            color="white" if share > 55 else "#1f2937")


# --- attachments --------------------------------------------------------------------------------------


def _csv_value(value: Any) -> str:
    """Numbers as numbers (floats as `repr`), text neutralised: a CSV cell has no type of its own."""
    if value is None:
        return ""
    if isinstance(value, (int, float)):
        return repr(value) if isinstance(value, float) else str(value)
    return spreadsheet_cell(str(value))


def csv_of(items: list[Item]) -> bytes:
    """All items in long format (item, row, column, value), UTF-8; floats as `repr` so they round-trip."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["item", "row", "column", "value"])

    def lines(name: str, view: View) -> list[list[Any]]:
        columns, rows = table_of(view)
        return [[_csv_value(name), index, _csv_value(column), _csv_value(value)]
                for index, row in enumerate(rows) for column, value in zip(columns, row)]

    for item_lines in _each(items, lines, lambda name, _: [[_csv_value(name), 0, "error", CANNOT_DRAW]]):
        writer.writerows(item_lines)
    return buffer.getvalue().encode("utf-8")


def _sheet_title(name: str, used: set[str]) -> str:
    """A valid sheet title (at most 31 characters, none of []:*?/\\) unique, case-insensitively, in `used`."""
    base = SHEET_FORBIDDEN.sub(" ", name).strip().strip("'").strip() or "Sheet"
    title, n = base[:31], 1
    while title.lower() in used:
        n += 1
        suffix = f" ({n})"
        title = base[:31 - len(suffix)].rstrip() + suffix
    used.add(title.lower())
    return title


def _xlsx_value(value: Any) -> Any:
    """Numbers (and booleans) as they are, anything else as text without the characters XML forbids,
    neutralised as in the CSV (openpyxl would store text starting with "=" as a formula)."""
    if value is None or isinstance(value, (int, float)):
        return value
    return spreadsheet_cell(ILLEGAL_CHARACTERS_RE.sub("", str(value)))


def xlsx_of(items: list[Item]) -> bytes:
    """A workbook with one sheet per item: a bold frozen header, then its table with numbers as numbers."""
    workbook, used = Workbook(), set[str]()
    bold = Font(bold=True)

    def cells(name: str, view: View) -> tuple[str, list[Any], list[list[Any]]]:
        columns, rows = table_of(view)
        return name, columns, [[_xlsx_value(value) for value in row] for row in [columns, *rows]]

    tables = _each(items, cells, lambda name, _: (name, ["error"], [["error"], [CANNOT_DRAW]]))
    for index, (name, columns, lines) in enumerate(tables):
        sheet = workbook.active if index == 0 else workbook.create_sheet()
        sheet.title = _sheet_title(name, used)
        for line in lines:
            sheet.append(line)
        rows = lines[1:]
        for cell in sheet[1]:
            cell.font = bold
        for i, column in enumerate(columns):
            width = max([len(str(column))] + [len(_fmt(row[i])) for row in rows[:500]])
            sheet.column_dimensions[get_column_letter(i + 1)].width = min(max(width + 2, 8), 60)
        sheet.freeze_panes = "A2"
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def _pdf_page(figure: Figure, name: str, view: View) -> None:
    """One item on a page: its chart above its table, else its figure, table or error, every tenant
    text literal."""
    figure.text(0.04, 0.95, _literal(view.get("title") or name), fontsize=14, fontweight="bold", va="top",
                color="#111827")
    ax = figure.add_axes((0.08, 0.45, 0.86, 0.42))
    if _draw(ax, view):
        table_top, row_limit = 0.38, 12
    else:
        figure.delaxes(ax)
        if "error" in view:
            figure.text(0.04, 0.85, _literal(view["error"]), fontsize=11, color="#9b3b3b", va="top")
            return
        if "value" in view:
            big, note = _figure(view)
            figure.text(0.04, 0.82, _literal(big), fontsize=36, fontweight="bold", va="top", color="#111827")
            figure.text(0.04, 0.68, _literal(note), fontsize=10, va="top", color="#6b7280")
            return
        table_top, row_limit = 0.88, 30
    columns, rows, _, more = _shown(view)
    more += max(len(rows) - row_limit, 0)
    rows = rows[:row_limit]
    if not columns:
        return
    height = 0.025 * (len(rows) + 1)
    ax = figure.add_axes((0.04, table_top - height, 0.92, height))
    ax.axis("off")
    if rows:
        table = ax.table(cellText=[[_literal(cell) for cell in row] for row in rows],
                         colLabels=[_literal(column) for column in columns], loc="upper left", cellLoc="left")
        table.auto_set_font_size(False)
        table.set_fontsize(7)
    else:
        figure.text(0.04, table_top, "No data", fontsize=9, color="#6b7280", va="top")
    if more:
        figure.text(0.04, table_top - height - 0.02, f"… {more:,} more rows not shown",
                    fontsize=8, color="#6b7280", va="top")


def pdf_of(*, title: str, subtitle: str, items: list[Item]) -> bytes:
    """The whole report as a PDF: A4 landscape, one page per item (an item that cannot be drawn gets a
    page saying so), the report's title and period at the foot of each page."""
    buffer = io.BytesIO()
    with PdfPages(buffer, metadata={"Title": title, "Subject": subtitle, "Creator": None,
                                    "Producer": None, "CreationDate": None}) as pdf:
        def page(name: str, view: View, *, draw: bool = True) -> None:
            figure = Figure(figsize=(11.69, 8.27), dpi=100)
            FigureCanvasAgg(figure)
            if draw:
                _pdf_page(figure, name, view)
            else:
                figure.text(0.04, 0.95, _literal(name), fontsize=14, fontweight="bold", va="top")
                figure.text(0.04, 0.85, CANNOT_DRAW, fontsize=11, color="#9b3b3b", va="top")
            figure.text(0.04, 0.03, _literal(f"{title}: {subtitle}"), fontsize=8, color="#6b7280")
            pdf.savefig(figure, facecolor="white")

        def fallback(name: str, view: View) -> None:
            page(name, view, draw=False)

        for _ in _each(items, page, fallback):
            pass
        if not items:
            page(title, {"error": "No items."})
    return buffer.getvalue()


# --- email --------------------------------------------------------------------------------------------


def _html_table(view: View) -> str:
    columns, rows, numeric, more = _shown(view)
    cell = "padding:6px 8px;border-bottom:1px solid #eef0f3;text-align:{};"

    def tr(cells: list[str], tag: str, style: str) -> str:
        return "<tr>" + "".join(
            f'<{tag} style="{style}{cell.format("right" if right else "left")}">{html.escape(text)}</{tag}>'
            for text, right in zip(cells, numeric)) + "</tr>"

    head = tr(columns, "th", "font-weight:600;color:#374151;background:#f9fafb;white-space:nowrap;")
    body = "".join(tr(row, "td", "color:#111827;") for row in rows)
    table = (f'<div style="overflow-x:auto;"><table cellpadding="0" cellspacing="0" border="0" width="100%" '
             f'style="border-collapse:collapse;font-size:13px;font-family:{FONT};">{head}{body}</table></div>')
    if not rows:
        table += f'<p style="margin:6px 0 0;{MUTED}">No data</p>'
    if more:
        table += f'<p style="margin:6px 0 0;{MUTED}">… {more:,} more rows in the attachments</p>'
    return table


def _html_note(text: str) -> str:
    return ('<div style="padding:10px 12px;background:#fdf2f2;border:1px solid #f3d0d0;'
            f'border-radius:4px;color:#9b3b3b;font-size:13px;">{html.escape(text)}</div>')


def _html_item(name: str, view: View, images: dict[str, str], undrawn: Collection[str]) -> str:
    title = html.escape(view.get("title") or name)
    parts = [f'<h2 style="margin:0 0 12px;font-size:16px;font-weight:600;color:#111827;">{title}</h2>']
    if "error" in view:
        parts.append(_html_note(str(view["error"])))
    elif "value" in view:
        figure, note = _figure(view)
        parts.append('<div style="font-size:36px;font-weight:700;line-height:1.2;color:#111827;">'
                     f"{html.escape(figure)}</div>")
        if note:
            parts.append(f'<div style="{MUTED}">{html.escape(note)}</div>')
    else:
        if name in undrawn:
            parts.append(f'<div style="margin:0 0 12px;">{_html_note(CHART_CANNOT_DRAW)}</div>')
        elif name in images:
            parts.append(f'<img src="{html.escape(images[name])}" width="600" alt="{title}" '
                         'style="display:block;width:100%;max-width:600px;height:auto;border:0;'
                         'margin:0 0 12px;">')
        parts.append(_html_table(view))
    return _html_row(parts)


def _html_row(parts: list[str]) -> str:
    return f'<tr><td style="padding:16px 20px;border-top:1px solid #eef0f3;">{"".join(parts)}</td></tr>'


def _html_undrawable(name: str, view: View) -> str:
    return _html_row([f'<h2 style="margin:0 0 12px;font-size:16px;font-weight:600;color:#111827;">'
                      f'{html.escape(str(name))}</h2>', _html_note(CANNOT_DRAW)])


def html_of(*, title: str, subtitle: str, items: list[Item], images: dict[str, str], footer_html: str,
            undrawn: Collection[str] = ()) -> str:
    """The digest's HTML part: a table layout at most 640px wide with inline styles only. `images` maps
    an item's name to its chart's URI (cid: or data:); the items named in `undrawn` get a note in
    place of their chart; `footer_html` is inserted as is."""
    body = "".join(_each(items, lambda name, view: _html_item(name, view, images, undrawn), _html_undrawable))
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{html.escape(title)}</title></head>"
        '<body style="margin:0;padding:0;background:#f3f4f6;">'
        '<table role="presentation" width="100%" cellpadding="0" cellspacing="0" border="0" '
        'style="background:#f3f4f6;"><tr><td align="center" style="padding:24px 12px;">'
        '<table role="presentation" width="640" cellpadding="0" cellspacing="0" border="0" '
        f'style="width:100%;max-width:640px;background:#ffffff;border-radius:6px;font-family:{FONT};">'
        '<tr><td style="padding:24px 20px 16px;">'
        f'<h1 style="margin:0;font-size:20px;font-weight:700;color:#111827;">{html.escape(title)}</h1>'
        f'<p style="margin:4px 0 0;font-size:13px;color:#6b7280;">{html.escape(subtitle)}</p></td></tr>'
        f"{body}"
        f'<tr><td style="padding:16px 20px 24px;border-top:1px solid #eef0f3;{MUTED}">{footer_html}</td></tr>'
        "</table></td></tr></table></body></html>"
    )


def _text_table(view: View) -> list[str]:
    columns, rows, numeric, more = _shown(view)
    widths = [max([len(column)] + [len(row[i]) for row in rows]) for i, column in enumerate(columns)]

    def line(cells: list[str]) -> str:
        return "  ".join(text.rjust(width) if right else text.ljust(width)
                         for text, width, right in zip(cells, widths, numeric)).rstrip()

    lines = [line(columns), "  ".join("-" * width for width in widths), *[line(row) for row in rows]]
    if not rows:
        lines.append("No data")
    if more:
        lines.append(f"… {more:,} more rows in the attachments")
    return lines


def text_of(*, title: str, subtitle: str, items: list[Item], footer_text: str) -> str:
    """The digest's plain-text part: the same figures and tables (at most MAX_ROWS rows each)."""
    def item(name: str, view: View) -> list[str]:
        heading = view.get("title") or name
        lines = [heading, "-" * len(heading)]
        if "error" in view:
            lines.append(f"Error: {view['error']}")
        elif "value" in view:
            lines += [text for text in _figure(view) if text]
        else:
            lines += _text_table(view)
        return [*lines, ""]

    def undrawable(name: str, view: View) -> list[str]:
        return [str(name), "-" * len(str(name)), CANNOT_DRAW, ""]

    lines = [title, "=" * len(title), subtitle, ""]
    for item_lines in _each(items, item, undrawable):
        lines += item_lines
    return "\n".join([*lines, "-- ", footer_text, ""])
