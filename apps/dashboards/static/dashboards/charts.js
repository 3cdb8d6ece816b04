/* Draws the widgets of a dashboard share page as SVG (tables as HTML), from the JSON the server
   embedded in #dashboard-views (apps/dashboards/services.widget_view). No library, no network. */
(function () {
  "use strict";
  var SVG = "http://www.w3.org/2000/svg";
  var COLORS = ["#2563eb", "#16a34a", "#ea580c", "#9333ea", "#0891b2", "#dc2626", "#ca8a04", "#4b5563"];
  var W = 480, H = 240, PAD = {left: 48, right: 12, top: 12, bottom: 28};

  function el(name, attrs, parent, text) {
    var node = document.createElementNS(SVG, name);
    Object.keys(attrs || {}).forEach(function (key) { node.setAttribute(key, attrs[key]); });
    if (text !== undefined) node.textContent = text;
    if (parent) parent.appendChild(node);
    return node;
  }

  function svg(height) {
    return el("svg", {viewBox: "0 0 " + W + " " + (height || H), role: "img", preserveAspectRatio: "xMidYMid meet"});
  }

  function format(value) {
    if (value === null || value === undefined) return "–";
    if (typeof value !== "number") return String(value);
    var abs = Math.abs(value);
    if (abs >= 1e9) return (value / 1e9).toFixed(1) + "B";
    if (abs >= 1e6) return (value / 1e6).toFixed(1) + "M";
    if (abs >= 1e4) return (value / 1e3).toFixed(1) + "k";
    return Number.isInteger(value) ? String(value) : value.toFixed(abs < 1 ? 3 : 1);
  }

  function shortLabel(label) {
    return typeof label === "string" ? label.slice(0, 16).replace("T", " ") : String(label);
  }

  function legend(parent, names) {
    if (names.length < 2) return;
    var box = document.createElement("div");
    box.className = "legend";
    names.forEach(function (name, i) {
      var item = document.createElement("span");
      item.textContent = name;
      item.style.setProperty("--c", COLORS[i % COLORS.length]);
      box.appendChild(item);
    });
    parent.appendChild(box);
  }

  function axes(root, max, labels) {
    var plotH = H - PAD.top - PAD.bottom;
    for (var i = 0; i <= 4; i++) {
      var y = PAD.top + plotH - (plotH * i) / 4;
      el("line", {x1: PAD.left, x2: W - PAD.right, y1: y, y2: y, stroke: "#e4e7eb"}, root);
      el("text", {x: PAD.left - 6, y: y + 4, "text-anchor": "end", "font-size": 11, fill: "#52606d"},
         root, format((max * i) / 4));
    }
    var count = labels.length, step = Math.max(1, Math.ceil(count / 4));
    for (var j = 0; j < count; j += step) {
      var x = PAD.left + ((W - PAD.left - PAD.right) * (j + 0.5)) / count;
      el("text", {x: x, y: H - 8, "text-anchor": "middle", "font-size": 10, fill: "#52606d"}, root,
         shortLabel(labels[j]).slice(0, 10));
    }
  }

  function seriesChart(target, view, bars) {
    var labels = view.labels || [], series = view.series || [];
    var max = 0;
    series.forEach(function (s) { s.values.forEach(function (v) { if (v !== null && v > max) max = v; }); });
    max = max > 0 ? max * 1.1 : 1;
    var root = svg(), plotW = W - PAD.left - PAD.right, plotH = H - PAD.top - PAD.bottom;
    axes(root, max, labels);
    var slot = plotW / Math.max(labels.length, 1);
    series.forEach(function (s, k) {
      var color = COLORS[k % COLORS.length];
      if (bars) {
        var width = Math.max(1, (slot * 0.8) / series.length);
        s.values.forEach(function (v, i) {
          if (v === null) return;
          var h = (plotH * v) / max;
          el("rect", {x: PAD.left + slot * i + slot * 0.1 + width * k, y: PAD.top + plotH - h, width: width,
                      height: Math.max(h, 0.5), fill: color}, root);
        });
      } else {
        var points = [];
        s.values.forEach(function (v, i) {
          if (v === null) return;
          points.push((PAD.left + slot * (i + 0.5)).toFixed(1) + "," + (PAD.top + plotH - (plotH * v) / max).toFixed(1));
        });
        el("polyline", {points: points.join(" "), fill: "none", stroke: color, "stroke-width": 2}, root);
      }
    });
    target.appendChild(root);
    legend(target, series.map(function (s) { return s.name; }));
  }

  function number(target, view) {
    var root = svg(120);
    el("text", {x: W / 2, y: 78, "text-anchor": "middle", "font-size": 56, "font-weight": 600, fill: "#1f2933"},
       root, format(view.value) + (view.unit ? " " + view.unit : ""));
    target.appendChild(root);
  }

  function gauge(target, view) {
    var root = svg(200), cx = W / 2, cy = 170, r = 130;
    var share = view.value === null ? 0 : Math.min(1, Math.max(0, (view.value - view.min) / (view.max - view.min)));
    function arc(from, to, color) {
      var a0 = Math.PI * (1 - from), a1 = Math.PI * (1 - to);
      var d = "M " + (cx + r * Math.cos(a0)) + " " + (cy - r * Math.sin(a0)) + " A " + r + " " + r + " 0 0 1 " +
              (cx + r * Math.cos(a1)) + " " + (cy - r * Math.sin(a1));
      el("path", {d: d, fill: "none", stroke: color, "stroke-width": 26}, root);
    }
    arc(0, 1, "#e4e7eb");
    if (share > 0) arc(0, share, COLORS[0]);
    el("text", {x: cx, y: cy - 10, "text-anchor": "middle", "font-size": 40, "font-weight": 600, fill: "#1f2933"},
       root, format(view.value));
    el("text", {x: cx - r, y: cy + 24, "text-anchor": "middle", "font-size": 12, fill: "#52606d"}, root, format(view.min));
    el("text", {x: cx + r, y: cy + 24, "text-anchor": "middle", "font-size": 12, fill: "#52606d"}, root, format(view.max));
    target.appendChild(root);
  }

  function funnel(target, view) {
    var steps = view.steps || [], rowH = 44, height = Math.max(rowH * steps.length + 8, 60);
    var root = svg(height), first = steps.length ? Math.max(steps[0].count, 1) : 1;
    steps.forEach(function (step, i) {
      var y = 4 + i * rowH, width = Math.max(2, ((W - 170) * step.count) / first);
      el("rect", {x: 160, y: y, width: width, height: rowH - 12, fill: COLORS[0], rx: 3}, root);
      el("text", {x: 0, y: y + 20, "font-size": 12, fill: "#1f2933"}, root, (i + 1) + ". " + step.name.slice(0, 22));
      el("text", {x: 166 + width > W - 60 ? 166 : 166 + width, y: y + 20, "font-size": 12,
                  fill: 166 + width > W - 60 ? "#fff" : "#1f2933"}, root,
         format(step.count) + " (" + (step.conversion * 100).toFixed(1) + "%)");
    });
    target.appendChild(root);
  }

  function grid(target, view) {
    var rows = view.rows || [], periods = view.periods || 0, cols = periods + 1;
    var cell = Math.min(40, (W - 130) / Math.max(cols, 1)), rowH = 22, height = Math.max(rows.length * rowH + 24, 50);
    var root = svg(height);
    for (var k = 0; k < cols; k++) {
      el("text", {x: 130 + cell * k + cell / 2, y: 14, "text-anchor": "middle", "font-size": 10, fill: "#52606d"},
         root, k === 0 ? "size" : "+" + k);
    }
    rows.forEach(function (row, i) {
      var y = 20 + i * rowH;
      el("text", {x: 0, y: y + 15, "font-size": 11, fill: "#1f2933"}, root, row.label);
      el("text", {x: 100, y: y + 15, "font-size": 11, "text-anchor": "end", fill: "#52606d"}, root, format(row.size));
      row.cells.forEach(function (count, k) {
        var share = row.size ? count / row.size : 0;
        el("rect", {x: 130 + cell * k, y: y, width: cell - 2, height: rowH - 2,
                    fill: COLORS[0], "fill-opacity": (0.08 + 0.92 * share).toFixed(3)}, root);
        el("text", {x: 130 + cell * k + cell / 2, y: y + 14, "text-anchor": "middle", "font-size": 9,
                    fill: share > 0.5 ? "#fff" : "#1f2933"}, root, k === 0 ? "" : Math.round(share * 100) + "%");
      });
    });
    target.appendChild(root);
  }

  function table(target, view) {
    var wrap = document.createElement("div"), tbl = document.createElement("table");
    wrap.className = "table-wrap";
    var head = tbl.createTHead().insertRow();
    (view.columns || []).forEach(function (name) {
      var th = document.createElement("th");
      th.textContent = name;
      head.appendChild(th);
    });
    var body = tbl.createTBody();
    (view.rows || []).forEach(function (row) {
      var tr = body.insertRow();
      row.forEach(function (value, i) { tr.insertCell().textContent = i === 0 ? shortLabel(value) : format(value); });
    });
    wrap.appendChild(tbl);
    target.appendChild(wrap);
  }

  var DRAW = {
    line: function (t, v) { seriesChart(t, v, false); }, bar: function (t, v) { seriesChart(t, v, true); },
    number: number, gauge: gauge, funnel: funnel, retention: grid, table: table
  };

  // The console's one chart entry point (the explorer calls it; options: {timezone}).
  window.AnalyticsCharts = {draw: function (target, view, options) {
    if (view.error) { var p = document.createElement("p"); p.className = "error"; p.textContent = view.error;
      target.appendChild(p); return; }
    DRAW[view.type](target, view, options || {});
    target.setAttribute("data-drawn", "true");
  }};
  if (!document.getElementById("dashboard-views")) return;
  var views = JSON.parse(document.getElementById("dashboard-views").textContent);
  document.querySelectorAll(".widget").forEach(function (section) {
    var view = views[Number(section.getAttribute("data-index"))], target = section.querySelector(".chart");
    if (view.error) {
      var p = document.createElement("p");
      p.className = "error";
      p.textContent = view.error;
      target.appendChild(p);
      return;
    }
    DRAW[view.type](target, view);
    target.setAttribute("data-drawn", "true");
  });
})();
