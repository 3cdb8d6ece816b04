/* The share page: draws each widget view the server embedded in #dashboard-views with the one
   chart module (charts.js), in the tenant's time zone (main[data-timezone]). */
(function () {
  "use strict";
  var views = JSON.parse(document.getElementById("dashboard-views").textContent);
  var zone = document.querySelector("main").getAttribute("data-timezone") || undefined;
  Array.prototype.forEach.call(document.querySelectorAll(".widget"), function (section) {
    var view = views[Number(section.getAttribute("data-index"))];
    window.AnalyticsCharts.draw(section.querySelector(".chart"), view, {timezone: zone});
  });
})();
