/* The one chart module of the console, the share page and the explorer, on the vendored Apache
   ECharts (apps/core/charting.py pins it; load it first).

     var handle = window.AnalyticsCharts.draw(target, view, {timezone: "Europe/Berlin"});
     handle.dispose();

   `view` is what apps.dashboards.services.widget_view(entry) answers: {title, type, ...} with type
   line, bar, number, gauge, funnel, retention or table, or {title, type, error}. Nothing is computed
   here but layout: the numbers are the server's. Under every chart a "Data" table (closed by
   default) holds the exact figures, each cell with its raw value in data-value.

   Attacker data (event names, breakdown values, titles) only ever reaches the page as textContent
   or as canvas text: never innerHTML. The tooltips are DOM nodes built with textContent, and
   confined (no arrow), so ECharts writes no HTML string of its own either: the pages keep a CSP
   without 'unsafe-inline'. */
(function (root) {
  "use strict";

  var LIGHT = ["#2563eb", "#16a34a", "#ea580c", "#9333ea", "#0891b2", "#dc2626", "#ca8a04", "#4b5563"];
  var DARK = ["#60a5fa", "#4ade80", "#fb923c", "#c084fc", "#22d3ee", "#f87171", "#facc15", "#9ca3af"];
  // A canvas font, not "inherit" (which canvas text does not understand).
  var FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif";
  var live = [];

  // --- theme: the admin's own colours (its CSS variables), light or dark --------------------------

  function isDark() {
    var theme = document.documentElement.getAttribute("data-theme");
    if (theme === "dark") return true;
    if (theme === "light") return false;
    return !!(root.matchMedia && root.matchMedia("(prefers-color-scheme: dark)").matches);
  }

  function cssVar(name, fallback) {
    var value = root.getComputedStyle(document.documentElement).getPropertyValue(name);
    return value && value.trim() ? value.trim() : fallback;
  }

  function colors() {
    var dark = isDark();
    return {
      dark: dark, palette: dark ? DARK : LIGHT,
      fg: cssVar("--body-fg", dark ? "#eeeeee" : "#333333"),
      quiet: cssVar("--body-quiet-color", dark ? "#a0a0a0" : "#666666"),
      line: cssVar("--hairline-color", dark ? "#3a3a3a" : "#e4e7eb"),
      bg: cssVar("--body-bg", dark ? "#121212" : "#ffffff")
    };
  }

  // --- numbers and dates ---------------------------------------------------------------------------

  var exactFormat = new Intl.NumberFormat("en-US", {maximumFractionDigits: 4});
  var shownFormat = new Intl.NumberFormat("en-US", {maximumFractionDigits: 2});
  var compactFormat;
  try {
    compactFormat = new Intl.NumberFormat("en-US", {notation: "compact", maximumFractionDigits: 1});
  } catch (e) {
    compactFormat = exactFormat;
  }

  function exact(value) {
    if (value === null || value === undefined) return "–";
    if (typeof value !== "number") return String(value);
    return exactFormat.format(value);
  }

  /* Axis ticks and figures drawn in a chart: short; the tooltips and the table keep exact(). */
  function compact(value) {
    if (typeof value !== "number") return exact(value);
    return Math.abs(value) >= 10000 ? compactFormat.format(value) : shownFormat.format(value);
  }

  function percent(share) {
    return typeof share === "number" ? (share * 100).toFixed(1) + "%" : "–";
  }

  var ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}/;
  var dateFormats = {};

  function dateFormat(interval, zone) {
    var key = interval + "|" + zone;
    if (!dateFormats[key]) {
      var parts;
      if (interval === "minute" || interval === "hour") {
        parts = {month: "short", day: "numeric", hour: "2-digit", minute: "2-digit", hourCycle: "h23"};
      } else if (interval === "month") {
        parts = {year: "numeric", month: "short"};
      } else {
        parts = {year: "numeric", month: "short", day: "numeric"};
      }
      try {
        dateFormats[key] = new Intl.DateTimeFormat("en-GB", Object.assign({timeZone: zone || undefined}, parts));
      } catch (e) {  // an unknown zone: the browser's own
        dateFormats[key] = new Intl.DateTimeFormat("en-GB", parts);
      }
    }
    return dateFormats[key];
  }

  /* A bucket (an ISO string with its offset) in the tenant's zone: days as dates, hours and
     minutes with their time. Anything else is shown as it is. */
  function bucketLabel(label, interval, zone) {
    if (typeof label !== "string" || !ISO.test(label)) return label === null || label === undefined ? "" : String(label);
    var date = new Date(label);
    if (isNaN(date.getTime())) return label;
    return dateFormat(interval || "day", zone).format(date);
  }

  // --- DOM helpers (textContent only) --------------------------------------------------------------

  function node(tag, className, text, parent) {
    var el = document.createElement(tag);
    if (className) el.className = className;
    if (text !== undefined && text !== null) el.textContent = text;
    if (parent) parent.appendChild(el);
    return el;
  }

  function dataTable(columns, rows, labelOf) {
    var wrap = node("div", "ac-table-wrap"), table = node("table", "ac-table", null, wrap);
    var head = node("tr", null, null, node("thead", null, null, table));
    columns.forEach(function (name) { node("th", null, name, head); });
    var body = node("tbody", null, null, table);
    rows.forEach(function (row) {
      var tr = node("tr", null, null, body);
      row.forEach(function (value, i) {
        var cell = node(i === 0 ? "th" : "td", null, i === 0 && labelOf ? labelOf(value) : exact(value), tr);
        if (i === 0) cell.setAttribute("scope", "row");
        cell.setAttribute("data-value", JSON.stringify(value === undefined ? null : value));
      });
    });
    return wrap;
  }

  function tooltipBox(title, lines) {
    var box = node("div", "ac-tooltip");
    if (title) node("div", "ac-tooltip-title", title, box);
    lines.forEach(function (line) {
      var row = node("div", "ac-tooltip-row", null, box);
      var swatch = node("span", "ac-swatch", null, row);
      if (line.color) swatch.style.backgroundColor = line.color;  // CSSOM, allowed by style-src 'self'
      node("span", "ac-tooltip-name", line.name, row);
      node("span", "ac-tooltip-value", line.value, row);
    });
    return box;
  }

  // --- the ECharts options of each type --------------------------------------------------------------

  function base(c) {
    return {
      animation: false,
      color: c.palette,
      backgroundColor: "transparent",
      textStyle: {color: c.fg, fontFamily: FONT},
      tooltip: {
        confine: true, appendToBody: false, renderMode: "html", className: "ac-tooltip-host",
        backgroundColor: c.bg, borderColor: c.line, textStyle: {color: c.fg}
      }
    };
  }

  function axisStyle(c) {
    return {
      axisLine: {lineStyle: {color: c.line}}, axisTick: {lineStyle: {color: c.line}},
      axisLabel: {color: c.quiet, hideOverlap: true}, splitLine: {lineStyle: {color: c.line}}
    };
  }

  function seriesOption(view, c, zone, bars) {
    var labels = (view.labels || []).map(function (l) { return bucketLabel(l, view.interval, zone); });
    var series = view.series || [];
    var many = series.length > 1;
    var option = base(c);
    option.grid = {left: 8, right: 16, top: many ? 36 : 16, bottom: 8, containLabel: true};
    if (many) {
      option.legend = {type: "scroll", top: 0, textStyle: {color: c.fg}, pageTextStyle: {color: c.quiet},
                       data: series.map(function (s) { return s.name; })};
    }
    option.tooltip.trigger = "axis";
    option.tooltip.axisPointer = {type: bars ? "shadow" : "line"};
    var shares = series.length > 0 && series.every(function (s) { return s.percent; });
    option.tooltip.formatter = function (params) {
      params = Array.isArray(params) ? params : [params];
      return tooltipBox(params.length ? labels[params[0].dataIndex] : "", params.map(function (p) {
        var s = series[p.seriesIndex] || {};
        return {color: p.color, name: p.seriesName, value: s.percent ? percent(p.value) : exact(p.value)};
      }));
    };
    var xAxis = axisStyle(c);
    xAxis.type = "category";
    xAxis.data = labels;
    xAxis.boundaryGap = true;  // the first and last labels stay inside the chart
    xAxis.splitLine = {show: false};
    var yAxis = axisStyle(c);
    yAxis.type = "value";
    // ECharts picks round ("nice") intervals; shares (0..1) are labelled as percentages.
    yAxis.axisLabel.formatter = shares ? function (v) { return Math.round(v * 1000) / 10 + "%"; } : compact;
    option.xAxis = xAxis;
    option.yAxis = yAxis;
    option.series = series.map(function (s) {
      return {name: s.name, type: bars ? "bar" : "line", data: s.values, showSymbol: labels.length <= 48,
              connectNulls: false, barMaxWidth: 32, emphasis: {focus: "series"}};
    });
    return option;
  }

  function numberOption(view, c) {
    var option = base(c);
    option.tooltip = {show: false};
    option.graphic = [{
      type: "text", left: "center", top: "middle",
      style: {text: view.percent ? percent(view.value) : compact(view.value) + (view.unit ? " " + view.unit : ""),
              fill: c.fg, fontSize: 44,
              fontWeight: 600, fontFamily: FONT}
    }];
    return option;
  }

  function gaugeOption(view, c) {
    var option = base(c);
    option.tooltip.trigger = "item";
    option.tooltip.formatter = function () {
      return tooltipBox(view.title, [{color: c.palette[0], name: "value", value: exact(view.value)},
                                     {name: "range", value: exact(view.min) + " – " + exact(view.max)}]);
    };
    option.series = [{
      type: "gauge", min: view.min, max: view.max, startAngle: 200, endAngle: -20, radius: "95%",
      center: ["50%", "60%"], splitNumber: 5, progress: {show: true, width: 14},
      axisLine: {lineStyle: {width: 14, color: [[1, c.line]]}}, pointer: {show: false},
      axisTick: {show: false}, splitLine: {length: 8, lineStyle: {color: c.quiet, width: 1}},
      axisLabel: {color: c.quiet, distance: 18, formatter: compact},
      anchor: {show: false}, title: {show: false},
      detail: {valueAnimation: false, offsetCenter: [0, "10%"], fontSize: 30, fontWeight: 600, color: c.fg,
               formatter: function () { return compact(view.value); }},
      data: [{value: view.value === null ? 0 : view.value, name: view.title}]
    }];
    return option;
  }

  function funnelOption(view, c) {
    var steps = view.steps || [];
    var option = base(c);
    option.tooltip.trigger = "item";
    option.tooltip.formatter = function (p) {
      var step = steps[p.dataIndex] || {};
      return tooltipBox((p.dataIndex + 1) + ". " + step.name, [
        {color: p.color, name: "count", value: exact(step.count)},
        {name: "conversion from the first step", value: percent(step.conversion)}]);
    };
    option.series = [{
      type: "funnel", sort: "none", left: 8, right: 8, top: 8, bottom: 8, minSize: "4%", gap: 2,
      label: {show: true, position: "inside", color: "#ffffff", overflow: "truncate",
              formatter: function (p) {
                var step = steps[p.dataIndex] || {};
                return step.name + ": " + exact(step.count) + " (" + percent(step.conversion) + ")";
              }},
      labelLine: {show: false},
      data: steps.map(function (step, i) { return {name: (i + 1) + ". " + step.name, value: step.count}; })
    }];
    return option;
  }

  function retentionOption(view, c) {
    var rows = view.rows || [], periods = view.periods || 0, cells = [];
    var columns = [];
    for (var k = 0; k <= periods; k++) columns.push(k === 0 ? "start" : "+" + k);
    rows.forEach(function (row, y) {
      (row.cells || []).forEach(function (count, x) {
        cells.push([x, y, row.size ? Math.round((1000 * count) / row.size) / 10 : 0, count]);
      });
    });
    var option = base(c);
    option.tooltip.trigger = "item";
    option.tooltip.formatter = function (p) {
      var row = rows[p.data[1]] || {};
      return tooltipBox(row.label + " (" + exact(row.size) + ")", [
        {color: p.color, name: columns[p.data[0]], value: exact(p.data[3]) + " · " + p.data[2] + "%"}]);
    };
    option.grid = {left: 8, right: 8, top: 8, bottom: 8, containLabel: true};
    var xAxis = axisStyle(c), yAxis = axisStyle(c);
    xAxis.type = yAxis.type = "category";
    xAxis.data = columns;
    xAxis.position = "top";
    yAxis.data = rows.map(function (r) { return r.label; });
    yAxis.inverse = true;
    xAxis.splitArea = yAxis.splitArea = {show: false};
    option.xAxis = xAxis;
    option.yAxis = yAxis;
    option.visualMap = {show: false, min: 0, max: 100, dimension: 2,
                        inRange: {color: [c.dark ? "#1e293b" : "#eff6ff", c.palette[0]]}};
    option.series = [{type: "heatmap", data: cells,
                      label: {show: true, fontSize: 10, color: c.fg,
                              formatter: function (p) { return p.data[2] + "%"; }},
                      itemStyle: {borderColor: c.bg, borderWidth: 1}}];
    return option;
  }

  // --- the table under each chart: the exact figures ---------------------------------------------------

  function tableOf(view, zone) {
    var label = function (value) { return bucketLabel(value, view.interval, zone); };
    switch (view.type) {
      case "line":
      case "bar":
        return dataTable(["bucket"].concat((view.series || []).map(function (s) { return s.name; })),
                         (view.labels || []).map(function (l, i) {
                           return [l].concat((view.series || []).map(function (s) { return s.values[i]; }));
                         }), label);
      case "number":
        return dataTable(["", "value"], [[view.unit || "value", view.value]]);
      case "gauge":
        return dataTable(["", "value", "min", "max"], [[view.title, view.value, view.min, view.max]]);
      case "funnel":
        return dataTable(["step", "count", "conversion"], (view.steps || []).map(function (s) {
          return [s.name, s.count, s.conversion];
        }));
      case "retention":
        var columns = ["cohort", "size"];
        for (var k = 1; k <= (view.periods || 0); k++) columns.push("+" + k);
        return dataTable(columns, (view.rows || []).map(function (r) {
          return [r.label, r.size].concat((r.cells || []).slice(1));
        }));
      default:
        return dataTable(view.columns || [], view.rows || [], label);
    }
  }

  var OPTIONS = {
    line: function (v, c, z) { return seriesOption(v, c, z, false); },
    bar: function (v, c, z) { return seriesOption(v, c, z, true); },
    number: numberOption, gauge: gaugeOption, funnel: funnelOption, retention: retentionOption
  };
  var HEIGHTS = {number: 120, gauge: 220, funnel: 260, line: 260, bar: 260};

  /* Draw `view` into `target` (emptied first). Returns {chart, dispose(), redraw()}. */
  function draw(target, view, options) {
    options = options || {};
    var zone = options.timezone || view.timezone || undefined;
    while (target.firstChild) target.removeChild(target.firstChild);
    target.classList.add("ac-widget");
    target.setAttribute("data-type", view.type || "");
    var handle = {chart: null, target: target, view: view, redraw: function () {}, dispose: function () {
      var i = live.indexOf(handle);
      if (i >= 0) live.splice(i, 1);
      if (handle._observer) handle._observer.disconnect();
      if (handle.chart) handle.chart.dispose();
      handle.chart = null;
      while (target.firstChild) target.removeChild(target.firstChild);
      target.removeAttribute("data-drawn");
    }};

    if (view.error) {
      node("p", "ac-error errornote", view.error, target);
      target.setAttribute("data-drawn", "error");
      return handle;
    }
    var make = OPTIONS[view.type];
    if (!make) {  // table (and any type this module does not draw): the table is the view
      target.appendChild(tableOf(view, zone));
      target.setAttribute("data-drawn", "true");
      return handle;
    }
    var box = node("div", "ac-chart", null, target);
    box.setAttribute("role", "img");
    box.setAttribute("aria-label", (view.title || view.type) + " (" + view.type + " chart; its figures are in the table below)");
    box.style.height = (options.height || view.height || HEIGHTS[view.type] || 260) + "px";
    if (view.type === "retention") box.style.height = Math.max(120, 28 * ((view.rows || []).length + 1) + 24) + "px";
    var details = node("details", "ac-data", null, target);
    node("summary", null, "Data", details);
    details.appendChild(tableOf(view, zone));

    var chart = root.echarts.init(box, null, {renderer: "canvas"});
    handle.chart = chart;
    handle.redraw = function () { chart.setOption(make(view, colors(), zone), true); };
    handle.redraw();
    if (root.ResizeObserver) {
      handle._observer = new root.ResizeObserver(function () { if (handle.chart) chart.resize(); });
      handle._observer.observe(box);
    }
    live.push(handle);
    target.setAttribute("data-drawn", "true");
    return handle;
  }

  function redrawAll() {
    live.slice().forEach(function (handle) {
      if (!document.body.contains(handle.target)) { handle.dispose(); return; }
      handle.redraw();
    });
  }

  // Dark mode follows the admin's theme switch (html[data-theme]) and the system's preference.
  if (root.MutationObserver) {
    new root.MutationObserver(redrawAll).observe(document.documentElement,
                                                  {attributes: true, attributeFilter: ["data-theme"]});
  }
  if (root.matchMedia) {
    var query = root.matchMedia("(prefers-color-scheme: dark)");
    if (query.addEventListener) query.addEventListener("change", redrawAll);
  }

  /* "14:05:09 (Europe/Berlin)": an instant's time of day in `zone` (the pages' "Updated" lines); the raw
     string if the browser cannot format it. */
  function clock(at, zone) {
    try {
      return new Intl.DateTimeFormat(undefined, {timeZone: zone, hour: "2-digit", minute: "2-digit", second: "2-digit",
                                                 hour12: false}).format(new Date(at)) + " (" + zone + ")";
    } catch (e) { return at; }
  }

  root.AnalyticsCharts = {draw: draw, bucketLabel: bucketLabel, format: exact, isDark: isDark, clock: clock};
})(window);
