// The console's real-time page: fetch the figures (with the session) every few seconds and redraw.
(function () {
  "use strict";
  var root = document.querySelector(".realtime");
  if (!root) { return; }
  var source = root.getAttribute("data-source");
  var every = Math.max(1, parseInt(root.getAttribute("data-refresh-seconds"), 10) || 5) * 1000;
  var status = document.getElementById("realtime-status");
  var zone = root.getAttribute("data-timezone") || "UTC";

  function text(id, value) { document.getElementById(id).textContent = String(value); }

  function rows(id, items, name) {
    var body = document.getElementById(id);
    body.textContent = "";
    items.forEach(function (item) {
      var tr = document.createElement("tr");
      [item[name], item.count].forEach(function (value) {
        var td = document.createElement("td");
        td.textContent = String(value);  // data: never HTML
        tr.appendChild(td);
      });
      body.appendChild(tr);
    });
  }

  // The events per minute as a bar chart, drawn by the console's one chart module
  // (window.AnalyticsCharts, apps/core/static/core/charts.js): a reshape of the server's figures.
  var chart = null;
  function bars(minutes) {
    var box = document.getElementById("rt-minutes");
    if (chart) { chart.dispose(); }
    box.textContent = "";
    chart = window.AnalyticsCharts.draw(box, {
      title: "Events per minute", type: "bar", interval: "minute",
      labels: minutes.map(function (m) { return m.minute; }),
      series: [{name: "events", values: minutes.map(function (m) { return m.events; })}]
    }, {timezone: zone, height: 180});
    box.setAttribute("data-events", minutes.map(function (m) { return m.events; }).join(","));
  }

  function draw(figures) {
    text("rt-persons-5", figures.active_persons.last_5_minutes);
    text("rt-persons-30", figures.active_persons.last_30_minutes);
    text("rt-events", figures.events);
    bars(figures.events_per_minute);
    rows("rt-top-events", figures.top_events, "event");
    rows("rt-top-pages", figures.top_pages, "page");
    status.textContent = "Updated " + window.AnalyticsCharts.clock(figures.at, zone);
  }

  function refresh() {
    fetch(source, {credentials: "same-origin", headers: {"Accept": "application/json"}})
      .then(function (response) {
        return response.json().then(function (body) {
          if (!response.ok) { throw new Error(body.error ? body.error.message : "HTTP " + response.status); }
          return body;
        });
      })
      .then(draw)
      .catch(function (error) { status.textContent = "Not updated: " + error.message; })
      .then(function () { window.setTimeout(refresh, every); });
  }

  // The figures the page was served with are drawn at once; then every few seconds.
  var first = JSON.parse(document.getElementById("rt-figures").textContent);
  if (first) { bars(first.events_per_minute); }
  window.setTimeout(refresh, every);
}());
