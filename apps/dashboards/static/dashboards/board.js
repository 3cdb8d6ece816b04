/* A dashboard's console page: draws every widget with the one chart module (charts.js) from the
   console's JSON views (apps/dashboards/console.py), and, for editors, adds, arranges, renames and
   removes widgets and makes or revokes share links. The server refuses what the user may not do;
   the controls are only left out. Data reaches the page as textContent only. */
(function () {
  "use strict";
  var config = JSON.parse(document.getElementById("board-config").textContent);
  var grid = document.getElementById("board-grid");
  var statusEl = document.getElementById("board-status");
  var state = {date_from: "", date_to: "", widgets: [], handles: [], loads: 0};

  function node(tag, className, text, parent) {
    var el = document.createElement(tag);
    if (className) el.className = className;
    if (text !== undefined && text !== null) el.textContent = text;
    if (parent) parent.appendChild(el);
    return el;
  }

  function button(text, title, parent, onClick) {
    var el = node("button", "button", text, parent);
    el.type = "button";
    if (title) el.title = title;
    el.addEventListener("click", onClick);
    return el;
  }

  function csrfToken() {
    var match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
    if (match) return decodeURIComponent(match[1]);
    var input = document.querySelector("input[name=csrfmiddlewaretoken]");
    return input ? input.value : "";
  }

  /* The JSON of a console view under config.base; rejects with its {code, message, details}. */
  function call(method, path, body) {
    var init = {method: method, credentials: "same-origin",
                headers: {"Accept": "application/json", "X-CSRFToken": csrfToken()}};
    if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    return fetch(config.base + path, init).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (data) {
        if (!response.ok) {
          throw (data && data.error) || {code: "http_" + response.status, message: "The server answered " +
                                         response.status + "."};
        }
        return data;
      });
    });
  }

  function status(text, isError) {
    statusEl.textContent = text;
    statusEl.classList.toggle("board-error", !!isError);
  }

  function when(iso) {
    if (!iso) return "";
    try {
      return new Intl.DateTimeFormat("en-GB", {timeZone: config.timezone, dateStyle: "medium",
                                                timeStyle: "short"}).format(new Date(iso));
    } catch (e) {
      return iso;
    }
  }

  // --- the charts ------------------------------------------------------------------------------------

  function load(refresh) {
    var query = new URLSearchParams();
    if (state.date_from) query.set("date_from", state.date_from);
    if (state.date_to) query.set("date_to", state.date_to);
    if (refresh) query.set("refresh", "1");
    status(refresh ? "Recomputing…" : "Loading…");
    grid.setAttribute("aria-busy", "true");
    return call("GET", "data?" + query.toString()).then(function (data) {
      state.widgets = data.widgets;
      render();
      state.loads += 1;
      grid.setAttribute("data-loads", String(state.loads));
      grid.setAttribute("data-range", (state.date_from || "") + "|" + (state.date_to || ""));
      status("Updated " + when(new Date().toISOString()) + (refresh ? " (recomputed)" : ""));
    }).catch(function (error) {
      status(error.message || "The charts could not be loaded.", true);
    }).then(function () { grid.removeAttribute("aria-busy"); });
  }

  function render() {
    state.handles.forEach(function (handle) { handle.dispose(); });
    state.handles = [];
    while (grid.firstChild) grid.removeChild(grid.firstChild);
    if (!state.widgets.length) {
      node("p", "board-empty", config.can_change ? "No widgets yet: add one below." : "No widgets yet.", grid);
      return;
    }
    state.widgets.forEach(function (widget, index) {
      var card = node("article", "board-card" + (widget.options && widget.options.width === "full" ? " board-full" : ""),
                      null, grid);
      card.setAttribute("data-widget-id", String(widget.id));
      card.setAttribute("data-widget-name", widget.name);
      var head = node("header", "board-card-head", null, card);
      node("h3", "board-card-title", widget.view.title, head);
      if (config.can_change) tools(card, head, widget, index);
      var target = node("div", "board-chart", null, card);
      state.handles.push(window.AnalyticsCharts.draw(target, widget.view, {timezone: config.timezone}));
      if (widget.computed_at) {
        node("p", "board-card-foot", "Computed " + when(widget.computed_at) + (widget.cached ? " (cached)" : ""), card);
      }
    });
  }

  // --- arranging, renaming, removing (editors) ---------------------------------------------------------

  /* Drag a card by its header onto another card: it takes that card's place. */
  function draggable(card, head, index) {
    card.draggable = true;
    head.classList.add("board-grip");
    card.addEventListener("dragstart", function (event) {
      event.dataTransfer.effectAllowed = "move";
      event.dataTransfer.setData("text/plain", String(index));
      card.classList.add("board-dragging");
    });
    card.addEventListener("dragend", function () { card.classList.remove("board-dragging"); });
    card.addEventListener("dragover", function (event) {
      event.preventDefault();
      event.dataTransfer.dropEffect = "move";
      card.classList.add("board-drop");
    });
    card.addEventListener("dragleave", function () { card.classList.remove("board-drop"); });
    card.addEventListener("drop", function (event) {
      event.preventDefault();
      card.classList.remove("board-drop");
      var from = parseInt(event.dataTransfer.getData("text/plain"), 10);
      if (!isNaN(from)) moveTo(from, index);
    });
  }

  function tools(card, head, widget, index) {
    draggable(card, head, index);
    var box = node("div", "board-card-tools", null, head);
    var up = button("↑", "Move up", box, function () { move(index, -1); });
    up.setAttribute("data-action", "up");
    up.disabled = index === 0;
    var down = button("↓", "Move down", box, function () { move(index, 1); });
    down.setAttribute("data-action", "down");
    down.disabled = index === state.widgets.length - 1;
    var full = widget.options && widget.options.width === "full";
    button(full ? "Half width" : "Full width", "Change the widget's width", box, function () {
      change(widget, {width: full ? "half" : "full"});
    }).setAttribute("data-action", "width");
    button("Rename", "Change the widget's title", box, function () { rename(card, head, widget); })
      .setAttribute("data-action", "rename");
    var remove = button("Remove", "Remove the widget from the dashboard", box, function () {
      if (remove.getAttribute("data-confirm") !== "yes") {
        remove.setAttribute("data-confirm", "yes");
        remove.textContent = "Confirm remove";
        return;
      }
      call("POST", "widgets/" + widget.id, {remove: true}).then(function () { return load(false); })
        .catch(function (error) { status(error.message, true); });
    });
    remove.setAttribute("data-action", "remove");
  }

  function move(index, step) {
    moveTo(index, index + step);
  }

  function moveTo(index, other) {
    if (other < 0 || other >= state.widgets.length || other === index) return;
    var moved = state.widgets.splice(index, 1)[0];
    state.widgets.splice(other, 0, moved);
    render();
    call("POST", "arrange", {order: state.widgets.map(function (w) { return w.id; })}).then(function () {
      status("Order saved.");
    }).catch(function (error) {
      status(error.message, true);
      return load(false);
    });
  }

  function change(widget, changes) {
    return call("POST", "widgets/" + widget.id, changes).then(function (saved) {
      widget.options = saved.options;
      widget.title = saved.title;
      widget.view.title = saved.title || saved.name;
      render();
      status("Saved.");
    }).catch(function (error) { status(error.message, true); });
  }

  function rename(card, head, widget) {
    if (card.querySelector(".board-rename")) return;
    var form = node("form", "board-rename", null);
    head.parentNode.insertBefore(form, head.nextSibling);
    var input = node("input", null, null, form);
    input.value = widget.title || widget.view.title;
    input.maxLength = 200;
    input.setAttribute("aria-label", "Title");
    node("button", "button default", "Save", form).type = "submit";
    button("Cancel", null, form, function () { form.parentNode.removeChild(form); });
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      change(widget, {title: input.value});
    });
    input.focus();
  }

  // --- the date range --------------------------------------------------------------------------------

  var range = document.getElementById("board-range");
  var custom = document.getElementById("board-custom");

  function nextDay(date) {
    var next = new Date(date + "T00:00:00Z");
    next.setUTCDate(next.getUTCDate() + 1);
    return next.toISOString().slice(0, 10);
  }

  range.addEventListener("change", function () {
    custom.hidden = range.value !== "custom";
    if (range.value === "custom") return;
    state.date_from = range.value ? "-" + range.value + "d" : "";
    state.date_to = "";
    load(false);
  });
  document.getElementById("board-apply").addEventListener("click", function () {
    var from = document.getElementById("board-from").value, to = document.getElementById("board-to").value;
    if (!from) { status("Choose the first day.", true); return; }
    state.date_from = from;
    state.date_to = to ? nextDay(to) : "";  // the last day chosen is included
    load(false);
  });
  document.getElementById("board-refresh").addEventListener("click", function () { load(true); });

  // --- adding a widget ---------------------------------------------------------------------------------

  var addForm = document.getElementById("board-add-form");
  if (addForm) {
    addForm.addEventListener("submit", function (event) {
      event.preventDefault();
      var error = document.getElementById("board-add-error");
      error.hidden = true;
      var body = {name: addForm.elements.name.value.trim(), title: addForm.elements.title.value,
                  widget_type: addForm.elements.widget_type.value};
      try {
        body.query_config = JSON.parse(addForm.elements.query_config.value || "null");
        body.options = addForm.elements.options.value.trim() ? JSON.parse(addForm.elements.options.value) : {};
      } catch (e) {
        error.textContent = "The query spec and the options must be JSON.";
        error.hidden = false;
        return;
      }
      call("POST", "widgets", body).then(function () {
        addForm.reset();
        status("Widget added.");
        return load(false);
      }).catch(function (failure) {
        error.textContent = failure.message + (failure.details ? " " + JSON.stringify(failure.details) : "");
        error.hidden = false;
      });
    });
  }

  // --- share links -------------------------------------------------------------------------------------

  var sharesBody = document.querySelector("#board-shares tbody");

  function loadShares() {
    return call("GET", "shares").then(function (data) {
      while (sharesBody.firstChild) sharesBody.removeChild(sharesBody.firstChild);
      if (!data.results.length) {
        node("td", null, "None yet.", node("tr", null, null, sharesBody)).colSpan = 4;
      }
      data.results.forEach(function (link) {
        var row = node("tr", null, null, sharesBody);
        row.setAttribute("data-share-id", String(link.id));
        node("td", null, "/d/" + link.prefix + "…", row);
        node("td", null, when(link.created_at), row);
        node("td", "board-share-state", link.revoked_at ? "revoked " + when(link.revoked_at) : "live", row);
        var cell = node("td", null, null, row);
        if (config.can_change && !link.revoked_at) {
          button("Revoke", "The link's page answers 404 from now on", cell, function () {
            call("POST", "shares/" + link.id + "/revoke", {}).then(loadShares)
              .catch(function (error) { status(error.message, true); });
          }).setAttribute("data-action", "revoke");
        }
      });
      sharesBody.parentNode.setAttribute("data-loaded", "true");
    }).catch(function (error) { status(error.message, true); });
  }

  var create = document.getElementById("board-share-create");
  if (create) {
    create.addEventListener("click", function () {
      call("POST", "shares", {}).then(function (link) {
        document.getElementById("board-share-url").value = link.url;
        document.getElementById("board-share-new").hidden = false;
        return loadShares();
      }).catch(function (error) { status(error.message, true); });
    });
  }

  load(false);
  loadShares();
})();
