/* The insight explorer (/admin/explore/): a form that builds the JSON spec of POST /api/v1/query,
   runs it through the console's explore/run view and draws the server's answer: the chart with
   window.AnalyticsCharts.draw (apps/core/static/core/charts.js) and the table from the
   rows the server formatted. Nothing is computed here but the spec. Tenant data (event names,
   property keys and values) is only ever written with textContent / value. */
(function () {
  "use strict";

  var initial = JSON.parse(document.getElementById("explorer-initial").textContent);
  var MATHS = ["total", "unique_persons", "sum", "avg", "min", "max", "p50", "p90", "p95", "p99"];
  var PROPERTY_MATHS = ["sum", "avg", "min", "max", "p50", "p90", "p95", "p99"];
  var OPERATORS = ["eq", "neq", "gt", "gte", "lt", "lte", "contains", "not_contains", "in", "not_in", "is_set",
                   "is_not_set"];
  var MEASURES = ["sessions", "median_duration", "mean_duration", "bounce_rate", "events_per_session",
                  "pages_per_session"];
  var AGGREGATIONS = ["sum", "count", "avg", "min", "max", "last", "p50", "p90", "p95", "p99", "rate"];
  var PRESETS = ["-24h", "-7d", "-30d", "-90d", "-12M"];
  var ZONES = ["UTC", "Europe/London", "Europe/Berlin", "Europe/Paris", "America/New_York", "America/Chicago",
               "America/Los_Angeles", "Asia/Tokyo", "Asia/Kolkata", "Australia/Sydney"];

  // --- state: the spec's parts, per kind (switching tabs keeps each kind's own fields) -------------
  var state = {
    kind: "trends",
    common: {date_from: "-7d", date_to: null, timezone: initial.timezone, interval: "day"},
    filters: [],
    segment: "",
    chart: {trends: "line", sessions: "line", metric: "line", funnel: "funnel", retention: "retention"},
    kinds: {
      trends: {series: [newItem({math: "total", property: ""})], breakdown: {property: "", type: "event", limit: 10}},
      funnel: {steps: [newItem({}), newItem({})], window: "14d"},
      retention: {start_event: "", return_event: "", period: "week", periods: 8},
      sessions: {measures: ["sessions", "median_duration", "bounce_rate"], breakdown: {property: "", type: "event", limit: 10}},
      metric: {metric: initial.metrics.length ? initial.metrics[0].name : "", aggregation: "sum", group_by: [],
               dimensions: []}
    }
  };
  var hasResult = false, running = 0;

  // A series or a funnel step: an event name, or an event type (`event_type`), and its own filters.
  function newItem(extra) {
    var item = {event: "", event_type: "", filters: []};
    Object.keys(extra).forEach(function (key) { item[key] = extra[key]; });
    return item;
  }

  function $(id) { return document.getElementById(id); }

  // Typing fires "input"; a field cleared by a script or the browser may fire only "change".
  function edit(input, handler) {
    input.addEventListener("input", handler);
    input.addEventListener("change", handler);
  }

  function node(tag, attrs, text) {
    var el = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (key) {
      if (key === "className") el.className = attrs[key];
      else if (key === "checked" || key === "value") el[key] = attrs[key];
      else el.setAttribute(key, attrs[key]);
    });
    if (text !== undefined) el.textContent = text;
    return el;
  }

  function select(options, value, attrs) {
    var el = node("select", attrs);
    options.forEach(function (option) {
      var pair = Array.isArray(option) ? option : [option, option.replace(/_/g, " ")];
      el.appendChild(node("option", {value: pair[0]}, pair[1]));
    });
    el.value = value;
    return el;
  }

  function label(text, field, className) {
    var el = node("label", className ? {className: className} : {});
    el.appendChild(document.createTextNode(text + " "));
    el.appendChild(field);
    return el;
  }

  // --- pickers: datalists filled from the definitions views (when the console serves them) ---------
  var lists = 0;

  function datalist(input, kindOf, params) {
    var id = "ex-list-" + (++lists), list = node("datalist", {id: id});
    input.setAttribute("list", id);
    input.parentNode.appendChild(list);
    var url = initial.definitions[kindOf];
    if (!url) return;
    var fill = function () {
      var query = params();
      if (query === null) return;
      query.search = input.value;
      query.limit = 50;
      var search = Object.keys(query).filter(function (k) { return query[k] !== "" && query[k] !== undefined; })
        .map(function (k) { return encodeURIComponent(k) + "=" + encodeURIComponent(query[k]); }).join("&");
      fetch(url + "?" + search, {credentials: "same-origin", headers: {Accept: "application/json"}})
        .then(function (r) { return r.ok ? r.json() : {results: []}; })
        .then(function (body) {
          while (list.firstChild) list.removeChild(list.firstChild);
          (body.results || []).forEach(function (row) {
            var value = row.name !== undefined ? row.name : row.key !== undefined ? row.key : row.value;
            if (value === null || value === undefined) return;
            var text = typeof value === "string" ? value : JSON.stringify(value);
            var count = row.volume !== undefined ? row.volume : row.count;
            list.appendChild(node("option", {value: text}, count !== undefined ? String(count) : ""));
          });
        })
        .catch(function () { /* a picker without suggestions still takes free text */ });
    };
    var timer = null;
    input.addEventListener("focus", fill);
    input.addEventListener("input", function () { clearTimeout(timer); timer = setTimeout(fill, 250); });
  }

  function eventInput(value, path, onChange) {
    var input = node("input", {type: "text", name: "event", "data-path": path, placeholder: "event name",
                               size: 24, value: value || ""});
    edit(input, function () { onChange(input.value); changed(); });
    return input;
  }

  // The event picker of a series or a step: "an event named" (the text input, with the names the
  // tenant sent) or one of the event types the spec takes instead (every page view, ...).
  function eventPicker(item, path) {
    var types = [["", "event named…"]].concat(initial.event_types.map(function (t) { return [t.value, t.label]; }));
    if (item.event_type && !initial.event_types.some(function (t) { return t.value === item.event_type; })) {
      types.push([item.event_type, item.event_type]);  // an alias (page_view) as the widget names it
    }
    var type = select(types, item.event_type || "", {name: "event_type", "data-path": path + ".event_type"});
    var input = eventInput(item.event, path + ".event", function (v) { item.event = v; });
    var holder = node("label", {className: "ex-event"});
    holder.appendChild(document.createTextNode("Event "));
    holder.appendChild(type);
    holder.appendChild(input);
    input.hidden = !!item.event_type;
    type.addEventListener("change", function () {
      item.event_type = type.value;
      input.hidden = !!item.event_type;
      changed();
    });
    return {label: holder, input: input};
  }

  // The event whose keys the property pickers of an item offer: its name, or the fixed name of its
  // type's events ($pageview); "" (every event's keys) for a type without one.
  function eventOf(item) {
    if (!item) return "";
    if (item.event_type) {
      var canonical = {page_view: "page", pageview: "page", screen_view: "screen"}[item.event_type] || item.event_type;
      var found = initial.event_types.filter(function (t) { return t.value === canonical; })[0];
      return found ? found.event : "";
    }
    return item.event;
  }

  // The property pickers offer the keys of the event a row is about (or of every event).
  function propertyPicker(input, kindFn, eventFn) {
    datalist(input, "properties", function () {
      var kind = kindFn();
      if (kind === "session") return null;
      return {kind: kind === "person" ? "person" : "event", event: kind === "person" ? "" : (eventFn() || "")};
    });
  }

  function firstEvent() {
    var k = state.kinds[state.kind];
    if (state.kind === "trends") return eventOf(k.series[0]);
    if (state.kind === "funnel") return eventOf(k.steps[0]);
    if (state.kind === "retention") return k.start_event;
    return "";
  }

  // --- the kind's own fields ----------------------------------------------------------------------
  function renderKind() {
    var box = $("ex-kind-fields");
    while (box.firstChild) box.removeChild(box.firstChild);
    var k = state.kinds[state.kind];
    if (state.kind === "trends") renderTrends(box, k);
    if (state.kind === "funnel") renderFunnel(box, k);
    if (state.kind === "retention") renderRetention(box, k);
    if (state.kind === "sessions") renderSessions(box, k);
    if (state.kind === "metric") renderMetric(box, k);
    document.querySelectorAll(".ex-tab").forEach(function (tab) {
      var on = tab.getAttribute("data-kind") === state.kind;
      tab.classList.toggle("selected", on);
      tab.setAttribute("aria-selected", on ? "true" : "false");
    });
    $("ex-filters-box").hidden = state.kind === "metric";  // metrics take dimensions, no filters or segment
    $("ex-interval-label").hidden = state.kind === "funnel" || state.kind === "retention";
    var chart = $("ex-chart");
    while (chart.firstChild) chart.removeChild(chart.firstChild);
    initial.widget_types[state.kind].forEach(function (type) { chart.appendChild(node("option", {value: type}, type)); });
    chart.value = state.chart[state.kind];
    renderFilters();
  }

  function fieldset(box, legendText) {
    var set = node("fieldset");
    set.appendChild(node("legend", {}, legendText));
    box.appendChild(set);
    return set;
  }

  function removeButton(onClick, disabled) {
    var button = node("button", {type: "button", className: "ex-remove", title: "Remove", "aria-label": "Remove"}, "×");
    button.disabled = !!disabled;
    button.addEventListener("click", function () { onClick(); renderKind(); changed(); });
    return button;
  }

  function renderTrends(box, k) {
    var set = fieldset(box, "Series");
    k.series.forEach(function (series, i) {
      var item = node("div", {className: "ex-item"});
      var row = node("div", {className: "ex-row ex-series"});
      var picker = eventPicker(series, "series[" + i + "]");
      row.appendChild(picker.label);
      datalist(picker.input, "events", function () { return {}; });
      var math = select(MATHS, series.math, {name: "math", "data-path": "series[" + i + "].math"});
      row.appendChild(label("Math", math));
      var property = node("input", {type: "text", name: "property", "data-path": "series[" + i + "].property",
                                    placeholder: "numeric property", size: 18, value: series.property || ""});
      var propertyLabel = label("of", property, "ex-math-property");
      propertyLabel.hidden = PROPERTY_MATHS.indexOf(series.math) < 0;
      row.appendChild(propertyLabel);
      propertyPicker(property, function () { return "event"; }, function () { return eventOf(series); });
      math.addEventListener("change", function () {
        series.math = math.value;
        propertyLabel.hidden = PROPERTY_MATHS.indexOf(series.math) < 0;
        changed();
      });
      edit(property, function () { series.property = property.value; changed(); });
      row.appendChild(itemFilterButton(series));
      row.appendChild(removeButton(function () { k.series.splice(i, 1); }, k.series.length < 2));
      item.appendChild(row);
      item.appendChild(itemFilters(series, "series[" + i + "]"));
      set.appendChild(item);
    });
    var add = node("button", {type: "button", className: "button ex-add", id: "ex-add-series"}, "+ Series");
    add.disabled = k.series.length >= 10;
    add.addEventListener("click", function () { k.series.push(newItem({math: "total", property: ""})); renderKind(); changed(); });
    set.appendChild(add);
    renderBreakdown(box, k, ["event", "person"]);
  }

  function renderBreakdown(box, k, types) {
    var set = fieldset(box, "Breakdown");
    var row = node("div", {className: "ex-row"});
    var type = select(types, k.breakdown.type, {id: "ex-breakdown-type", "data-path": "breakdown.type"});
    var property = node("input", {type: "text", id: "ex-breakdown-property", "data-path": "breakdown.property",
                                  placeholder: "none", size: 20, value: k.breakdown.property || ""});
    row.appendChild(label("By", type));
    row.appendChild(label("property", property));
    var limit = node("input", {type: "number", id: "ex-breakdown-limit", "data-path": "breakdown.limit", min: 1,
                               max: 100, value: String(k.breakdown.limit), title: "the values with the most, the rest as $other"});
    row.appendChild(label("top", limit));
    propertyPicker(property, function () { return k.breakdown.type; }, firstEvent);
    type.addEventListener("change", function () { k.breakdown.type = type.value; changed(); });
    edit(property, function () { k.breakdown.property = property.value; changed(); });
    edit(limit, function () { k.breakdown.limit = limit.value === "" ? "" : Number(limit.value); changed(); });
    set.appendChild(row);
  }

  // The filters of one series or step: a "+ Filter" button in its row, its rows below it.
  function itemFilterButton(item) {
    var add = node("button", {type: "button", className: "button ex-add-item-filter", title: "Filter this event"},
                   "+ Filter");
    add.addEventListener("click", function () {
      item.filters.push({property: "", operator: "eq", value: "", type: "event"});
      renderKind();
      changed();
    });
    return add;
  }

  function itemFilters(item, path) {
    var box = node("div", {className: "ex-item-filters"});
    filterRows(box, item.filters, path + ".filters", function () { return eventOf(item); }, "ex-item-filter");
    return box;
  }

  function renderFunnel(box, k) {
    var set = fieldset(box, "Steps");
    k.steps.forEach(function (step, i) {
      var item = node("div", {className: "ex-item"});
      var row = node("div", {className: "ex-row ex-step"});
      row.appendChild(node("span", {className: "ex-step-number"}, (i + 1) + "."));
      var picker = eventPicker(step, "steps[" + i + "]");
      row.appendChild(picker.label);
      datalist(picker.input, "events", function () { return {}; });
      row.appendChild(itemFilterButton(step));
      row.appendChild(removeButton(function () { k.steps.splice(i, 1); }, k.steps.length <= 2));
      item.appendChild(row);
      item.appendChild(itemFilters(step, "steps[" + i + "]"));
      set.appendChild(item);
    });
    var add = node("button", {type: "button", className: "button ex-add", id: "ex-add-step"}, "+ Step");
    add.disabled = k.steps.length >= 10;
    add.addEventListener("click", function () { k.steps.push(newItem({})); renderKind(); changed(); });
    set.appendChild(add);
    var windowRow = node("div", {className: "ex-row"});
    var match = /^(\d+)([smhdw])$/.exec(k.window) || [null, "14", "d"];
    var amount = node("input", {type: "number", id: "ex-window-n", min: 1, max: 99999, value: match[1],
                                "data-path": "window", size: 5});
    var unit = select([["m", "minutes"], ["h", "hours"], ["d", "days"], ["w", "weeks"], ["s", "seconds"]], match[2],
                      {id: "ex-window-unit"});
    var update = function () { k.window = String(amount.value || "").trim() + unit.value; changed(); };
    edit(amount, update);
    unit.addEventListener("change", update);
    windowRow.appendChild(label("Conversion window", amount));
    windowRow.appendChild(unit);
    fieldset(box, "Window").appendChild(windowRow);
  }

  function renderRetention(box, k) {
    var set = fieldset(box, "Retention");
    var row = node("div", {className: "ex-row"});
    var start = node("input", {type: "text", id: "ex-start-event", "data-path": "start_event", size: 22,
                               placeholder: "event name", value: k.start_event});
    var back = node("input", {type: "text", id: "ex-return-event", "data-path": "return_event", size: 22,
                              placeholder: "event name", value: k.return_event});
    row.appendChild(label("Start event", start));
    row.appendChild(label("Return event", back));
    set.appendChild(row);
    datalist(start, "events", function () { return {}; });
    datalist(back, "events", function () { return {}; });
    edit(start, function () { k.start_event = start.value; changed(); });
    edit(back, function () { k.return_event = back.value; changed(); });
    var row2 = node("div", {className: "ex-row"});
    var period = select(["day", "week", "month"], k.period, {id: "ex-period", "data-path": "period"});
    var periods = node("input", {type: "number", id: "ex-periods", min: 1, max: 104, value: String(k.periods),
                                 "data-path": "periods"});
    period.addEventListener("change", function () { k.period = period.value; changed(); });
    edit(periods, function () { k.periods = periods.value === "" ? "" : Number(periods.value); changed(); });
    row2.appendChild(label("Period", period));
    row2.appendChild(label("Periods", periods));
    set.appendChild(row2);
  }

  function renderSessions(box, k) {
    var set = fieldset(box, "Measures");
    var row = node("div", {className: "ex-row ex-measures", "data-path": "measures"});
    MEASURES.forEach(function (measure) {
      var box2 = node("input", {type: "checkbox", name: "measure", value: measure,
                                checked: k.measures.indexOf(measure) >= 0});
      box2.addEventListener("change", function () {
        k.measures = MEASURES.filter(function (m) {
          return m === measure ? box2.checked : k.measures.indexOf(m) >= 0;
        });
        changed();
      });
      var l = node("label", {className: "ex-check"});
      l.appendChild(box2);
      l.appendChild(document.createTextNode(" " + measure.replace(/_/g, " ")));
      row.appendChild(l);
    });
    set.appendChild(row);
    renderBreakdown(box, k, ["event", "person", "session"]);
    var hint = node("p", {className: "help"}, "Session breakdowns: $entry_page or $exit_page.");
    box.lastChild.appendChild(hint);
  }

  function renderMetric(box, k) {
    var set = fieldset(box, "Metric");
    var row = node("div", {className: "ex-row"});
    var names = initial.metrics.map(function (m) { return [m.name, m.label === m.name ? m.name : m.label + " (" + m.name + ")"]; });
    if (k.metric && !initial.metrics.some(function (m) { return m.name === k.metric; })) names.push([k.metric, k.metric]);
    if (!names.length) names.push(["", "no metric recorded yet"]);
    var metric = select(names, k.metric, {id: "ex-metric", "data-path": "metric"});
    var aggregation = select(AGGREGATIONS, k.aggregation, {id: "ex-aggregation", "data-path": "aggregation"});
    row.appendChild(label("Metric", metric));
    row.appendChild(label("Aggregation", aggregation));
    set.appendChild(row);
    var groups = node("div", {className: "ex-row", id: "ex-group-by", "data-path": "group_by"});
    groups.appendChild(node("span", {}, "Group by "));
    var info = initial.metrics.filter(function (m) { return m.name === k.metric; })[0];
    var dims = (info ? info.dimensions : []).slice();
    k.group_by.forEach(function (d) { if (dims.indexOf(d) < 0) dims.push(d); });
    if (!dims.length) groups.appendChild(node("span", {className: "help"}, "(this metric declares no dimensions)"));
    dims.forEach(function (dim) {
      var check = node("input", {type: "checkbox", name: "group_by", value: dim, checked: k.group_by.indexOf(dim) >= 0});
      check.addEventListener("change", function () {
        k.group_by = dims.filter(function (d) { return d === dim ? check.checked : k.group_by.indexOf(d) >= 0; });
        changed();
      });
      var l = node("label", {className: "ex-check"});
      l.appendChild(check);
      l.appendChild(document.createTextNode(" " + dim));
      groups.appendChild(l);
    });
    set.appendChild(groups);
    // Dimension filters (`dimensions`): a declared dimension and its value, or values "a, b" (any of).
    var where = node("div", {className: "ex-dimensions", id: "ex-dimensions", "data-path": "dimensions"});
    k.dimensions.forEach(function (d, i) {
      var row = node("div", {className: "ex-row ex-dimension"});
      var names = dims.slice();
      if (d.name && names.indexOf(d.name) < 0) names.push(d.name);
      var name = select(names.map(function (n) { return [n, n]; }), d.name, {name: "dimension",
                                                                           "data-path": "dimensions." + d.name});
      var value = node("input", {type: "text", name: "dimension_value", size: 18, value: d.value,
                                 placeholder: "value (a, b for any of)"});
      name.addEventListener("change", function () { d.name = name.value; changed(); });
      edit(value, function () { d.value = value.value; changed(); });
      row.appendChild(label("Where", name));
      row.appendChild(label("is", value));
      row.appendChild(removeButton(function () { k.dimensions.splice(i, 1); }));
      where.appendChild(row);
    });
    var addDim = node("button", {type: "button", className: "button ex-add", id: "ex-add-dimension"}, "+ Dimension filter");
    addDim.disabled = !dims.length;
    addDim.addEventListener("click", function () { k.dimensions.push({name: dims[0], value: ""}); renderKind(); changed(); });
    where.appendChild(addDim);
    set.appendChild(where);
    metric.addEventListener("change", function () {
      k.metric = metric.value;
      k.group_by = [];
      k.dimensions = [];
      renderKind();
      changed();
    });
    aggregation.addEventListener("change", function () { k.aggregation = aggregation.value; changed(); });
  }

  // --- filters (every kind but metric) -----------------------------------------------------------
  function renderFilters() {
    var box = $("ex-filters");
    while (box.firstChild) box.removeChild(box.firstChild);
    filterRows(box, state.filters, "filters", firstEvent, "ex-filter");
    renderSegment();
  }

  // Property filter rows (the query's, a series' or a step's): type, key, operator, value; the
  // pickers offer the keys and values of `eventFn()`'s event (or of every event).
  function filterRows(box, list, path, eventFn, className) {
    list.forEach(function (f, i) {
      var at = path + "[" + i + "]";
      var row = node("div", {className: "ex-row " + className, "data-path": at});
      var type = select(["event", "person", "session"], f.type, {name: "type", "data-path": at + ".type"});
      var property = node("input", {type: "text", name: "property", size: 16, placeholder: "property",
                                    "data-path": at + ".property", value: f.property});
      var operator = select(OPERATORS, f.operator, {name: "operator", "data-path": at + ".operator"});
      var value = node("input", {type: "text", name: "value", size: 16, placeholder: "value (a, b for in)",
                                 "data-path": at + ".value", value: f.value});
      row.appendChild(type);
      row.appendChild(property);
      row.appendChild(operator);
      row.appendChild(value);
      propertyPicker(property, function () { return f.type; }, eventFn);
      datalist(value, "values", function () {
        if (!f.property || f.type === "session") return null;
        return {kind: f.type, key: f.property, event: f.type === "event" ? (eventFn() || "") : ""};
      });
      value.hidden = f.operator === "is_set" || f.operator === "is_not_set";
      type.addEventListener("change", function () { f.type = type.value; changed(); });
      edit(property, function () { f.property = property.value; changed(); });
      operator.addEventListener("change", function () {
        f.operator = operator.value;
        value.hidden = f.operator === "is_set" || f.operator === "is_not_set";
        changed();
      });
      edit(value, function () { f.value = value.value; changed(); });
      row.appendChild(removeButton(function () { list.splice(i, 1); }));
      box.appendChild(row);
    });
  }

  // The segment: the tenant's segments, none for all persons (a widget's unknown key kept as given).
  function renderSegment() {
    var field = $("ex-segment");
    while (field.firstChild) field.removeChild(field.firstChild);
    var options = [["", "all persons"]].concat(initial.segments.map(function (s) {
      return [s.name, s.label === s.name ? s.name : s.label + " (" + s.name + ")"];
    }));
    if (state.segment && !initial.segments.some(function (s) { return s.name === state.segment; })) {
      options.push([state.segment, state.segment]);
    }
    options.forEach(function (pair) { field.appendChild(node("option", {value: pair[0]}, pair[1])); });
    field.value = state.segment;
  }

  // A filter value as typed: JSON numbers, true / false / null and "quoted" strings keep their type,
  // anything else is text; `in` and `not_in` take a comma-separated list.
  function typed(text) {
    text = String(text).trim();
    if (/^(-?\d+(\.\d+)?([eE][-+]?\d+)?|true|false|null|".*")$/.test(text)) {
      try { return JSON.parse(text); } catch (e) { return text; }
    }
    return text;
  }

  function filterValue(f) {
    if (f.operator === "is_set" || f.operator === "is_not_set") return undefined;
    if (f.operator === "in" || f.operator === "not_in") {
      return String(f.value).split(",").map(function (v) { return v.trim(); }).filter(Boolean).map(typed);
    }
    var value = typed(f.value);
    return ["contains", "not_contains"].indexOf(f.operator) >= 0 ? String(f.value) : value;
  }

  function valueText(value) {
    if (value === undefined) return "";
    if (Array.isArray(value)) return value.map(valueText).join(", ");
    if (typeof value === "string") return /^(-?\d+(\.\d+)?([eE][-+]?\d+)?|true|false|null)$/.test(value) ? JSON.stringify(value) : value;
    return JSON.stringify(value);
  }

  // --- the spec ---------------------------------------------------------------------------------
  function buildSpec() {
    var k = state.kinds[state.kind], c = state.common, spec = {kind: state.kind};
    if (state.kind === "trends") {
      spec.series = k.series.map(function (s) {
        var out = itemSpec(s);
        if (s.math !== "total") out.math = s.math;
        if (PROPERTY_MATHS.indexOf(s.math) >= 0) out.property = (s.property || "").trim();
        if (s.filters.length) out.filters = s.filters.map(filterSpec);
        return out;
      });
      spec.interval = c.interval;
      if (k.breakdown.property.trim()) spec.breakdown = breakdown(k.breakdown);
    } else if (state.kind === "funnel") {
      spec.steps = k.steps.map(function (s) {
        var out = itemSpec(s);
        if (s.filters.length) out.filters = s.filters.map(filterSpec);
        return out;
      });
      spec.window = k.window;
    } else if (state.kind === "retention") {
      spec.start_event = k.start_event.trim();
      spec.return_event = k.return_event.trim();
      spec.period = k.period;
      spec.periods = k.periods;
    } else if (state.kind === "sessions") {
      spec.measures = k.measures.slice();
      spec.interval = c.interval;
      if (k.breakdown.property.trim()) spec.breakdown = breakdown(k.breakdown);
    } else {
      spec.metric = k.metric;
      spec.aggregation = k.aggregation;
      spec.granularity = c.interval;
      if (k.group_by.length) spec.group_by = k.group_by.slice();
      if (k.dimensions.length) spec.dimensions = dimensionsSpec(k.dimensions);
    }
    if (state.kind !== "metric" && state.filters.length) spec.filters = state.filters.map(filterSpec);
    if (state.kind !== "metric" && state.segment) spec.segment = state.segment;
    spec.date_from = c.date_from;
    if (c.date_to) spec.date_to = c.date_to;
    spec.timezone = c.timezone;
    return spec;
  }

  function breakdown(b) {
    var out = {property: b.property.trim()};
    if (b.type !== "event") out.type = b.type;
    if (b.limit !== 10) out.limit = b.limit;  // 10, the engine's default, is left out
    return out;
  }

  function itemSpec(item) {
    return item.event_type ? {event_type: item.event_type} : {event: item.event.trim()};
  }

  function filterSpec(f) {
    var out = {property: f.property.trim(), operator: f.operator};
    var value = filterValue(f);
    if (value !== undefined) out.value = value;
    if (f.type !== "event") out.type = f.type;
    return out;
  }

  // Rows into the spec's object: a value, or a list for "a, b"; a dimension given twice takes both.
  function dimensionsSpec(rows) {
    var out = {};
    rows.forEach(function (d) {
      var values = String(d.value).split(",").map(function (v) { return v.trim(); });
      values = values.length > 1 ? values.filter(Boolean) : values;
      if (out[d.name] !== undefined) values = [].concat(out[d.name], values);
      out[d.name] = values.length === 1 ? values[0] : values;
    });
    return out;
  }

  function loadItem(s, extra) {
    var item = newItem(extra);
    item.event = s.event_type ? "" : String(s.event || "");
    item.event_type = s.event_type ? String(s.event_type) : "";
    item.filters = (Array.isArray(s.filters) ? s.filters : []).map(loadFilter);
    return item;
  }

  function loadFilter(f) {
    return {property: String(f.property || ""), operator: f.operator || "eq", value: valueText(f.value),
            type: f.type || "event"};
  }

  // The other way: a spec (from ?q= or a saved widget) into the form; unknown parts are dropped.
  function loadSpec(spec, chart) {
    if (!spec || initial.kinds.indexOf(spec.kind) < 0) return false;
    state.kind = spec.kind;
    var k = state.kinds[spec.kind], c = state.common;
    if (spec.kind === "trends" && Array.isArray(spec.series) && spec.series.length) {
      k.series = spec.series.map(function (s) {
        return loadItem(s, {math: s.math || "total", property: s.property || ""});
      });
    }
    if ((spec.kind === "trends" || spec.kind === "sessions") && spec.breakdown) {
      k.breakdown = {property: String(spec.breakdown.property || ""), type: spec.breakdown.type || "event",
                     limit: spec.breakdown.limit !== undefined ? spec.breakdown.limit : 10};
    }
    if (spec.kind === "funnel" && Array.isArray(spec.steps)) {
      k.steps = spec.steps.map(function (s) { return loadItem(s, {}); });
      if (spec.window) k.window = String(spec.window);
    }
    if (spec.kind === "retention") {
      ["start_event", "return_event", "period", "periods"].forEach(function (key) {
        if (spec[key] !== undefined) k[key] = spec[key];
      });
    }
    if (spec.kind === "sessions" && Array.isArray(spec.measures)) k.measures = spec.measures.slice();
    if (spec.kind === "metric") {
      if (spec.metric) k.metric = spec.metric;
      if (spec.aggregation) k.aggregation = spec.aggregation;
      k.group_by = Array.isArray(spec.group_by) ? spec.group_by.slice() : [];
      k.dimensions = [];
      Object.keys(spec.dimensions && typeof spec.dimensions === "object" ? spec.dimensions : {}).forEach(function (name) {
        var value = spec.dimensions[name];
        k.dimensions.push({name: name, value: Array.isArray(value) ? value.join(", ") : String(value)});
      });
      if (spec.granularity) c.interval = spec.granularity;
    }
    if (spec.interval) c.interval = spec.interval;
    state.filters = (Array.isArray(spec.filters) ? spec.filters : []).map(loadFilter);
    state.segment = typeof spec.segment === "string" ? spec.segment : "";
    c.date_from = spec.date_from || "-7d";
    c.date_to = spec.date_to && spec.date_to !== "now" ? spec.date_to : null;
    c.timezone = spec.timezone || initial.timezone;
    if (chart && initial.widget_types[spec.kind].indexOf(chart) >= 0) state.chart[spec.kind] = chart;
    return true;
  }

  // --- range, interval, zone and chart type ------------------------------------------------------
  function addDays(day, n) {
    var d = new Date(day + "T00:00:00Z");
    d.setUTCDate(d.getUTCDate() + n);
    return d.toISOString().slice(0, 10);
  }

  function renderCommon() {
    var c = state.common, range = $("ex-range"), custom = !PRESETS.includes(c.date_from) || !!c.date_to;
    Array.prototype.slice.call(range.querySelectorAll("option[data-given]")).forEach(function (o) { o.remove(); });
    var isDay = function (v) { return /^\d{4}-\d{2}-\d{2}$/.test(v || ""); };
    if (custom && !(isDay(c.date_from) && (!c.date_to || isDay(c.date_to)))) {
      // A range the pickers cannot show (a relative start with an end, or instants): kept as given.
      var given = node("option", {value: "given", "data-given": "1"}, (c.date_from || "") + " → " + (c.date_to || "now"));
      range.insertBefore(given, range.lastElementChild);
      range.value = "given";
      custom = false;
    } else {
      range.value = custom ? "custom" : c.date_from;
    }
    document.querySelectorAll(".ex-custom").forEach(function (el) { el.hidden = !custom; });
    if (custom) {
      $("ex-from").value = c.date_from;
      $("ex-to").value = c.date_to ? addDays(c.date_to, -1) : "";
    }
    $("ex-interval").value = c.interval;
    $("ex-timezone").value = c.timezone;
  }

  function readCustom() {
    var from = $("ex-from").value, to = $("ex-to").value;
    if (from) state.common.date_from = from;
    state.common.date_to = to ? addDays(to, 1) : null;  // the "to" day is included: the range ends after it
  }

  // --- errors next to their fields ----------------------------------------------------------------
  function clearErrors(scope) {
    (scope || document).querySelectorAll(".ex-field-error").forEach(function (el) { el.remove(); });
    (scope || document).querySelectorAll(".ex-invalid").forEach(function (el) { el.classList.remove("ex-invalid"); });
  }

  function candidates(key) {
    var path = String(key).replace(/^\$\.?/, "").replace(/^query_config\.?/, ""), out = [];
    while (path) {
      out.push(path);
      var cut = path.search(/(\.[^.[\]]+|\[\d+\])$/);
      if (cut <= 0) break;
      path = path.slice(0, cut);
    }
    return out;
  }

  function flatten(details, prefix, out) {
    Object.keys(details).forEach(function (key) {
      var value = details[key], path = prefix ? prefix + "." + key : key;
      if (value && typeof value === "object" && !Array.isArray(value) && key === "query_config") flatten(value, "", out);
      else out.push(path);
    });
    return out;
  }

  // Shows `error` ({code, message, details}) next to the field it names, else in `fallback`.
  function showError(error, fallback, scope) {
    var keys = error.details && typeof error.details === "object" && !Array.isArray(error.details)
      ? flatten(error.details, "", []) : [];
    if (error.code === "metric_not_found") keys.push("metric");
    var placed = false;
    keys.some(function (key) {
      return candidates(key).some(function (path) {
        var field = (scope || document).querySelector('[data-path="' + path.replace(/"/g, "") + '"]');
        if (!field || field.offsetParent === null) return false;
        field.classList.add("ex-invalid");
        var note = node("span", {className: "ex-field-error errorlist", role: "alert"}, error.message);
        var holder = field.closest("label") || field;
        holder.parentNode.insertBefore(note, holder.nextSibling);
        placed = true;
        return true;
      });
    });
    fallback.textContent = error.message;
    fallback.hidden = placed;
  }

  // --- running ------------------------------------------------------------------------------------
  function csrf() { return document.querySelector("input[name=csrfmiddlewaretoken]").value; }

  function post(url, body) {
    return fetch(url, {method: "POST", credentials: "same-origin", body: JSON.stringify(body),
                       headers: {"Content-Type": "application/json", "X-CSRFToken": csrf(), Accept: "application/json"}})
      .then(function (response) {
        return response.json().catch(function () { return {error: {code: "error", message: "The server answered " + response.status + ".", details: null}}; })
          .then(function (body) { return {status: response.status, body: body}; });
      });
  }

  function changed() {
    var spec = buildSpec();
    $("ex-spec").textContent = JSON.stringify(spec, null, 2);
    return spec;
  }

  function run() {
    var spec = changed(), chart = state.chart[state.kind], mine = ++running;
    var url = initial.urls.page + "?q=" + encodeURIComponent(JSON.stringify(spec)) + (chart !== initial.widget_types[state.kind][0] ? "&chart=" + chart : "") + keptParams();
    history.replaceState(null, "", url);
    clearErrors($("ex-form"));
    $("ex-error").hidden = true;
    $("ex-status").textContent = "Running…";
    document.body.setAttribute("data-explorer", "running");
    return post(initial.urls.run, {spec: spec, widget_type: chart}).then(function (answer) {
      if (mine !== running) return;
      if (answer.status !== 200) {
        showError(answer.body.error || {message: "Failed.", details: null}, $("ex-error"), $("ex-form"));
        $("ex-status").textContent = "";
        document.body.setAttribute("data-explorer", "error");
        return;
      }
      draw(answer.body);
      hasResult = true;
      var result = answer.body.answer;
      $("ex-status").textContent = (result.cached ? "From cache, computed " : "Computed ") + result.computed_at.slice(0, 19).replace("T", " ") + " UTC";
      document.body.setAttribute("data-explorer", "done");
      document.body.setAttribute("data-explorer-run", String(mine));
    }).catch(function () {
      if (mine !== running) return;
      $("ex-error").textContent = "The query could not be run (network).";
      $("ex-error").hidden = false;
      $("ex-status").textContent = "";
      document.body.setAttribute("data-explorer", "error");
    });
  }

  function keptParams() {
    var params = new URLSearchParams(location.search), kept = "";
    ["widget", "dashboard"].forEach(function (key) {
      if (params.get(key)) kept += "&" + key + "=" + encodeURIComponent(params.get(key));
    });
    return kept;
  }

  function draw(body) {
    var box = $("ex-chart-box");
    while (box.firstChild) box.removeChild(box.firstChild);
    $("ex-title").textContent = body.view.title;
    window.AnalyticsCharts.draw(box, body.view, {timezone: body.answer.timezone || state.common.timezone});
    var table = $("ex-table"), head = table.tHead, tbody = table.tBodies[0];
    while (head.firstChild) head.removeChild(head.firstChild);
    while (tbody.firstChild) tbody.removeChild(tbody.firstChild);
    var tr = head.insertRow();
    body.table.columns.forEach(function (name) { tr.appendChild(node("th", {scope: "col"}, String(name))); });
    body.table.rows.forEach(function (row) {
      var r = tbody.insertRow();
      row.forEach(function (cell, i) {
        var c = i === 0 ? node("th", {scope: "row"}, cell) : node("td", {}, cell);
        r.appendChild(c);
      });
    });
  }

  // --- saving -------------------------------------------------------------------------------------
  function slug(text) {
    return String(text).toLowerCase().normalize("NFKD").replace(/[\u0300-\u036f]/g, "")
      .replace(/[^a-z0-9_.\s-]/g, "").trim().replace(/[\s-]+/g, "-").slice(0, 100);
  }

  function setUpSave() {
    var form = $("ex-save-form");
    if (!form) return;
    var dashboards = $("ex-save-dashboard"), mode = $("ex-save-mode"), title = $("ex-save-title");
    dashboards.appendChild(node("option", {value: ""}, "A new dashboard…"));
    initial.dashboards.forEach(function (d) { dashboards.appendChild(node("option", {value: String(d.id)}, d.label)); });
    if (initial.dashboard !== null) dashboards.value = String(initial.dashboard);
    else if (initial.dashboards.length) dashboards.value = String(initial.dashboards[0].id);
    if (initial.widget) {
      title.value = initial.widget.title;
      $("ex-save-name").value = initial.widget.name;
    }
    var sync = function () {
      var updating = mode && mode.value === "update";
      form.querySelector(".ex-save-target").hidden = updating;
      form.querySelector(".ex-save-new").hidden = dashboards.value !== "";
    };
    dashboards.addEventListener("change", sync);
    if (mode) mode.addEventListener("change", sync);
    sync();
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var updating = mode && mode.value === "update", result = $("ex-save-result");
      var body = {spec: buildSpec(), widget_type: state.chart[state.kind], title: title.value.trim(),
                  name: $("ex-save-name").value.trim() || slug(title.value)};
      if (updating) body.widget = initial.widget.id;
      else if (dashboards.value) body.dashboard = Number(dashboards.value);
      else body.new_dashboard = $("ex-save-new").value.trim();
      clearErrors(form);
      $("ex-save-error").hidden = true;
      result.hidden = true;
      post(initial.urls.save, body).then(function (answer) {
        if (answer.status !== 200 && answer.status !== 201) {
          showError(answer.body.error || {message: "Failed.", details: null}, $("ex-save-error"), form);
          return;
        }
        while (result.firstChild) result.removeChild(result.firstChild);
        result.appendChild(document.createTextNode((answer.body.updated ? "Updated " : "Saved ") + "widget “" + answer.body.name + "”. "));
        result.appendChild(node("a", {href: answer.body.dashboard_url, id: "ex-dashboard-link"}, "Open the dashboard"));
        result.hidden = false;
        if (!updating && !dashboards.value) {  // the new dashboard is offered from now on
          dashboards.appendChild(node("option", {value: String(answer.body.dashboard)}, body.new_dashboard));
          dashboards.value = String(answer.body.dashboard);
          sync();
        }
      }).catch(function () {
        $("ex-save-error").textContent = "The widget could not be saved (network).";
        $("ex-save-error").hidden = false;
      });
    });
  }

  // --- wiring -------------------------------------------------------------------------------------
  document.querySelectorAll(".ex-tab").forEach(function (tab) {
    tab.addEventListener("click", function () {
      state.kind = tab.getAttribute("data-kind");
      renderKind();
      changed();
      clearErrors($("ex-form"));
      $("ex-error").hidden = true;
    });
  });
  $("ex-segment").addEventListener("change", function () { state.segment = $("ex-segment").value; changed(); });
  $("ex-add-filter").addEventListener("click", function () {
    state.filters.push({property: "", operator: "eq", value: "", type: "event"});
    renderFilters();
    changed();
  });
  // Range, interval, zone and chart re-run at once when a result is shown.
  function rerun() { changed(); if (hasResult) run(); }
  $("ex-range").addEventListener("change", function () {
    var value = $("ex-range").value;
    if (value === "custom") {
      var today = new Date().toISOString().slice(0, 10);
      if (!/^\d{4}-\d{2}-\d{2}$/.test(state.common.date_from)) state.common.date_from = addDays(today, -6);
      if (!state.common.date_to) state.common.date_to = addDays(today, 1);
    } else if (value !== "given") {
      state.common.date_from = value;
      state.common.date_to = null;
    }
    renderCommon();
    rerun();
  });
  ["ex-from", "ex-to"].forEach(function (id) { $(id).addEventListener("change", function () { readCustom(); rerun(); }); });
  $("ex-interval").addEventListener("change", function () { state.common.interval = $("ex-interval").value; rerun(); });
  $("ex-timezone").addEventListener("change", function () { state.common.timezone = $("ex-timezone").value.trim(); rerun(); });
  $("ex-chart").addEventListener("change", function () { state.chart[state.kind] = $("ex-chart").value; rerun(); });
  ZONES.concat([initial.timezone]).forEach(function (zone) { $("ex-zones").appendChild(node("option", {value: zone})); });
  $("ex-form").addEventListener("submit", function (event) { event.preventDefault(); run(); });
  $("ex-copy").addEventListener("click", function () {
    var text = $("ex-spec").textContent;
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(function () { $("ex-copy").textContent = "Copied"; },
                                                function () { $("ex-copy").textContent = "Select and copy"; });
    } else {
      var range = document.createRange();
      range.selectNodeContents($("ex-spec"));
      window.getSelection().removeAllRanges();
      window.getSelection().addRange(range);
      $("ex-copy").textContent = "Selected: copy it";
    }
  });

  var params = new URLSearchParams(location.search), loaded = false;
  if (params.get("q")) {
    try { loaded = loadSpec(JSON.parse(params.get("q")), params.get("chart")); } catch (e) { loaded = false; }
    if (!loaded) { $("ex-error").textContent = "The query in the link could not be read."; $("ex-error").hidden = false; }
  } else if (initial.widget) {
    loaded = loadSpec(initial.widget.spec, initial.widget.widget_type);
    if (!loaded) {
      $("ex-error").textContent = "This widget's query is of a kind the explorer does not build (" +
        String(initial.widget.spec && initial.widget.spec.kind) + "); edit it on its dashboard.";
      $("ex-error").hidden = false;
    }
  }
  renderKind();
  renderCommon();
  setUpSave();
  changed();
  document.body.setAttribute("data-explorer", "ready");
  if (loaded) run();
})();
