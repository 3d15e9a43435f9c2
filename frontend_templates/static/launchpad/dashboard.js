// Dashboard behaviour: enable "Run selected" only when something is ticked, and poll run statuses.
(function () {
  "use strict";
  var POLL_MS = 2000;
  var FINISHED = { SUCCESS: 1, FAILURE: 1, CANCELED: 1 };

  function text(el, value) { if (el) { el.textContent = value === null || value === undefined ? "" : String(value); } }

  function statusBadge(run) {
    var span = document.createElement("span");
    span.className = "status status-" + run.status.toLowerCase();
    if (!run.finished) {
      var spin = document.createElement("span");
      spin.className = "spinner";
      spin.setAttribute("aria-hidden", "true");
      span.appendChild(spin);
    }
    span.appendChild(document.createTextNode(run.status_label));
    return span;
  }

  function updateCells(container, run) {
    var cell = container.querySelector(".c-status");
    if (cell) { cell.replaceChildren(statusBadge(run)); }
    text(container.querySelector(".c-duration"), run.duration_seconds === null ? "" : run.duration_seconds.toFixed(1) + " s");
    text(container.querySelector(".c-rows"), run.rows_loaded);
    var err = container.querySelector(".c-error");
    if (err) { text(err, run.error); }
    text(container.querySelector(".c-started"), run.started_at ? new Date(run.started_at).toLocaleTimeString() : "");
    container.setAttribute("data-status", run.status);
  }

  function newRow(run) {
    var tr = document.createElement("tr");
    tr.setAttribute("data-run-id", run.id);
    var cells = ["c-import", "c-status", "c-started", "c-duration", "c-rows", "c-error", "c-link"];
    cells.forEach(function (cls) { var td = document.createElement("td"); td.className = cls; tr.appendChild(td); });
    text(tr.querySelector(".c-import"), run.imports.join(", "));
    var who = document.createElement("div"); who.className = "muted"; who.textContent = run.trigger + (run.user ? " · " + run.user : "");
    tr.querySelector(".c-import").appendChild(who);
    var a = document.createElement("a"); a.href = run.detail_url; a.textContent = "(details)";
    tr.querySelector(".c-link").appendChild(a);
    return tr;
  }

  function poll(table) {
    var url = table.getAttribute("data-url");
    fetch(url, { headers: { "Accept": "application/json" }, credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.json() : { runs: [] }; })
      .then(function (data) {
        var banner = document.getElementById("orchestrator-banner");
        if (banner && data.orchestrator) {
          var down = !data.orchestrator.available || !data.orchestrator.queue;
          banner.hidden = !down;
          if (down) {
            banner.textContent = !data.orchestrator.queue
              ? "The task queue is not answering: new runs are saved and start when it is back."
              : (data.orchestrator.message || "The orchestrator is unavailable right now.") + " Queued runs start as soon as it is back.";
          }
        }
        var body = table.tBodies[0];
        var empty = body.querySelector("tr.empty");
        data.runs.forEach(function (run) {
          var row = body.querySelector('tr[data-run-id="' + run.id + '"]');
          if (!row) { row = newRow(run); body.insertBefore(row, body.firstChild); if (empty) { empty.remove(); empty = null; } }
          updateCells(row, run);
        });
        var newest = {};
        data.runs.forEach(function (run) {
          run.imports.forEach(function (name) {
            if (!newest[name] || newest[name].id < run.id) { newest[name] = run; }
          });
        });
        Object.keys(newest).forEach(function (name) {
          var cell = document.querySelector('[data-last-for="' + name + '"]');
          if (!cell) { return; }
          var link = document.createElement("a");
          link.href = newest[name].detail_url;
          link.appendChild(statusBadge(newest[name]));
          cell.replaceChildren(link);
        });
      })
      .catch(function () { /* the next poll tries again */ })
      .finally(function () { setTimeout(function () { poll(table); }, POLL_MS); });
  }

  function pollOne(facts) {
    var id = facts.getAttribute("data-run-id");
    if (FINISHED[facts.getAttribute("data-status")]) { return; }
    fetch(facts.getAttribute("data-url") + "?ids=" + id, { credentials: "same-origin" })
      .then(function (r) { return r.json(); })
      .then(function (data) {
        if (!data.runs.length) { return; }
        var run = data.runs[0];
        var was = facts.getAttribute("data-status");
        updateCells(facts, run);
        if (run.finished && !FINISHED[was]) { window.location.reload(); }
      })
      .catch(function () {})
      .finally(function () { setTimeout(function () { pollOne(facts); }, POLL_MS); });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var button = document.getElementById("run-selected");
    var hint = document.getElementById("selection-hint");
    var boxes = Array.prototype.slice.call(document.querySelectorAll(".import-box"));
    function refresh() {
      var n = boxes.filter(function (b) { return b.checked; }).length;
      if (button) { button.disabled = n === 0; }
      text(hint, n === 0 ? "Tick one or more imports to run them." : n + " selected.");
    }
    boxes.forEach(function (b) { b.addEventListener("change", refresh); });
    refresh();
    var table = document.getElementById("run-status");
    if (table) { poll(table); }
    var facts = document.getElementById("run-facts");
    if (facts) { pollOne(facts); }
  });
})();
