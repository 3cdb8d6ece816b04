// The console's real-time page: fetch the figures (with the session) every few seconds and redraw.
(function () {
  "use strict";
  var root = document.querySelector(".realtime");
  if (!root) { return; }
  var source = root.getAttribute("data-source");
  var every = Math.max(1, parseInt(root.getAttribute("data-refresh-seconds"), 10) || 5) * 1000;
  var status = document.getElementById("realtime-status");

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

  function bars(minutes) {
    var box = document.getElementById("rt-minutes");
    var top = Math.max.apply(null, minutes.map(function (m) { return m.events; }).concat([1]));
    box.textContent = "";
    minutes.forEach(function (m) {
      var bar = document.createElement("div");
      bar.className = "rt-bar";
      bar.setAttribute("data-events", String(m.events));
      bar.title = m.minute + ": " + m.events;
      bar.style.height = (100 * m.events / top) + "%";
      box.appendChild(bar);
    });
  }

  function draw(figures) {
    text("rt-persons-5", figures.active_persons.last_5_minutes);
    text("rt-persons-30", figures.active_persons.last_30_minutes);
    text("rt-events", figures.events);
    bars(figures.events_per_minute);
    rows("rt-top-events", figures.top_events, "event");
    rows("rt-top-pages", figures.top_pages, "page");
    status.textContent = "Updated " + figures.at;
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

  // Bars drawn by the server get their heights here too.
  var first = Array.prototype.map.call(document.querySelectorAll("#rt-minutes .rt-bar"), function (bar) {
    return {minute: bar.title.split(": ")[0], events: parseInt(bar.getAttribute("data-events"), 10)};
  });
  if (first.length) { bars(first); }
  window.setTimeout(refresh, every);
}());
