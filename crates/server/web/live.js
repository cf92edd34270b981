// Live updates of a running session's page: its status, per-day progress and fills, from the
// session's Server-Sent Events. The page reloads once the session has ended, to show the
// final record.
(function () {
  "use strict";
  var root = document.getElementById("live");
  if (!root || !window.EventSource) { return; }
  var id = root.getAttribute("data-session");
  var status = document.getElementById("status");
  var progress = document.getElementById("progress");
  var fills = document.getElementById("live-fills");
  var ended = { completed: true, stopped: true, failed: true };
  var days = 0;
  var source = new EventSource("/api/v1/sessions/" + encodeURIComponent(id) + "/events");
  function text(el, value) { if (el) { el.textContent = value; } }
  source.addEventListener("status", function (e) {
    var row = JSON.parse(e.data);
    text(status, row.status);
    if (status) { status.className = "badge " + row.status; }
    if (ended[row.status]) { source.close(); window.location.reload(); }
  });
  source.addEventListener("phase", function (e) {
    var p = JSON.parse(e.data);
    text(progress, days + " trading days done; " + p.date + ": " + p.phase.replace(/_/g, " "));
  });
  source.addEventListener("day", function (e) {
    var d = JSON.parse(e.data);
    days += 1;
    text(progress, days + " trading days done; last " + d.date + (d.equity ? ", equity " + d.equity : ""));
  });
  source.addEventListener("fill", function (e) {
    if (!fills) { return; }
    var f = JSON.parse(e.data);
    var tr = document.createElement("tr");
    [f.ts, f.symbol, f.side, f.quantity, f.price, f.commission].forEach(function (v) {
      var td = document.createElement("td");
      td.textContent = v;
      tr.appendChild(td);
    });
    fills.insertBefore(tr, fills.firstChild);
    while (fills.children.length > 50) { fills.removeChild(fills.lastChild); }
  });
}());
