// The console's home: the live view (active persons, events per minute) redrawn every few seconds
// from /admin/realtime/data with the session. The chart is the console's one chart module
// (window.AnalyticsCharts.draw, apps/core/static/core/charts.js); data goes in as text only.
(function () {
  "use strict";
  var root = document.getElementById("home-live");
  if (!root) { return; }
  var source = root.getAttribute("data-source");
  var zone = root.getAttribute("data-timezone");
  var every = Math.max(1, parseInt(root.getAttribute("data-refresh-seconds"), 10) || 5) * 1000;
  var status = document.getElementById("home-live-status");
  var chart = document.getElementById("home-live-chart");
  var draws = 0;

  function text(id, value) { document.getElementById(id).textContent = String(value); }

  // The server's realtime figures as a chart view: a reshape, nothing computed.
  function viewOf(figures) {
    var rows = figures.events_per_minute || [];
    return {title: "Events per minute", type: "bar", interval: "minute",
            labels: rows.map(function (row) { return row.minute; }),
            series: [{name: "events", values: rows.map(function (row) { return row.events; })}]};
  }

  function drawChart(view) {
    chart.hidden = false;
    chart.textContent = "";
    if (!window.AnalyticsCharts || typeof window.AnalyticsCharts.draw !== "function") {
      chart.textContent = "The chart module did not load.";
      return;
    }
    window.AnalyticsCharts.draw(chart, view, {timezone: zone});
    draws += 1;
    var values = view.series.length ? view.series[0].values : [];
    chart.setAttribute("data-draws", String(draws));
    chart.setAttribute("data-values", values.join(","));
  }

  function draw(figures) {
    text("home-live-5", figures.active_persons.last_5_minutes);
    text("home-live-30", figures.active_persons.last_30_minutes);
    text("home-live-events", figures.events);
    drawChart(viewOf(figures));
    status.textContent = "Updated " + window.AnalyticsCharts.clock(figures.at, zone);
  }

  function unavailable(message) {
    status.textContent = message;
    chart.hidden = true;
    ["home-live-5", "home-live-30", "home-live-events"].forEach(function (id) { text(id, "–"); });
  }

  function refresh() {
    fetch(source, {credentials: "same-origin", headers: {"Accept": "application/json"}})
      .then(function (response) {
        return response.json().then(function (body) {
          if (!response.ok) {
            var error = new Error(body.error ? body.error.message : "HTTP " + response.status);
            error.code = body.error ? body.error.code : "";
            throw error;
          }
          return body;
        });
      })
      .then(draw)
      .then(function () { window.setTimeout(refresh, every); }, function (error) {
        unavailable(error.message);
        // Switched off on the server: asking again would only be refused again.
        if (error.code !== "realtime_disabled") { window.setTimeout(refresh, every); }
      });
  }

  if (!chart.hidden) {
    drawChart(JSON.parse(document.getElementById("home-live-view").textContent));
  }
  if (root.getAttribute("data-disabled") !== "true") { window.setTimeout(refresh, every); }
}());
