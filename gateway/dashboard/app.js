// The success-measures dashboard: reads the filters, calls
// Measure/$evaluate-measure on this gateway and shows the MeasureReport.
"use strict";

(function () {
  var DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"];
  var form = document.getElementById("filters");
  var status = document.getElementById("status");

  function isoDate(d) {
    return d.getFullYear() + "-" + String(d.getMonth() + 1).padStart(2, "0") + "-" + String(d.getDate()).padStart(2, "0");
  }

  // Defaults: the last 28 days.
  var today = new Date();
  var from = new Date(today.getTime() - 27 * 24 * 3600 * 1000);
  document.getElementById("periodStart").value = isoDate(from);
  document.getElementById("periodEnd").value = isoDate(today);

  function code(cc) {
    var c = cc && cc.coding && cc.coding[0];
    return c ? c.code : "";
  }

  function pops(list) {
    var out = {};
    (list || []).forEach(function (p) { out[code(p.code)] = p.count; });
    return out;
  }

  function cell(row, text, header) {
    var el = document.createElement(header ? "th" : "td");
    if (header) { el.scope = "row"; }
    el.textContent = text;
    row.appendChild(el);
    return el;
  }

  function clear(el) { while (el.firstChild) { el.removeChild(el.firstChild); } }

  function stratifier(group, name) {
    var out = {};
    (group.stratifier || []).forEach(function (s) {
      var n = s.code && s.code[0] && s.code[0].text;
      if (n !== name) { return; }
      (s.stratum || []).forEach(function (st) { out[st.value.text] = pops(st.population)["initial-population"] || 0; });
    });
    return out;
  }

  function show(report) {
    var body = document.querySelector("#measures tbody");
    clear(body);
    var demand = null;
    (report.group || []).forEach(function (g) {
      var id = code(g.code);
      if (id === "navigation-demand") { demand = g; return; }
      var p = pops(g.population);
      var tr = document.createElement("tr");
      tr.dataset.measure = id;
      cell(tr, (g.code && g.code.text) || id, true);
      cell(tr, String(p.numerator || 0));
      cell(tr, String(p.denominator || 0));
      cell(tr, g.measureScore ? (g.measureScore.value * 100).toFixed(1) + "%" : "no data");
      body.appendChild(tr);
    });
    var rb = document.querySelector("#routes tbody");
    clear(rb);
    var hm = document.getElementById("heatmap");
    clear(hm.tHead);
    clear(hm.tBodies[0]);
    if (!demand) { return; }
    var total = pops(demand.population)["initial-population"] || 0;
    var routes = stratifier(demand, "contact-route");
    Object.keys(routes).sort().forEach(function (r) {
      var tr = document.createElement("tr");
      tr.dataset.route = r;
      cell(tr, r, true);
      cell(tr, String(routes[r]));
      rb.appendChild(tr);
    });
    var tr = document.createElement("tr");
    cell(tr, "All routes", true);
    cell(tr, String(total));
    rb.appendChild(tr);

    var dh = stratifier(demand, "weekday-hour");
    var max = 0;
    Object.keys(dh).forEach(function (k) { max = Math.max(max, dh[k]); });
    var head = document.createElement("tr");
    var corner = document.createElement("th");
    corner.scope = "col";
    corner.textContent = "Weekday";
    head.appendChild(corner);
    for (var h = 0; h < 24; h++) {
      var th = document.createElement("th");
      th.scope = "col";
      th.textContent = String(h).padStart(2, "0");
      head.appendChild(th);
    }
    hm.tHead.appendChild(head);
    DAYS.forEach(function (d) {
      var row = document.createElement("tr");
      cell(row, d, true);
      for (var h = 0; h < 24; h++) {
        var key = d + " " + String(h).padStart(2, "0");
        var n = dh[key] || 0;
        var td = cell(row, String(n));
        td.dataset.cell = key;
        td.className = "h" + (n === 0 ? 0 : Math.max(1, Math.ceil(5 * n / max)));
      }
      hm.tBodies[0].appendChild(row);
    });
  }

  form.addEventListener("submit", function (ev) {
    ev.preventDefault();
    if (!form.reportValidity()) { return; }
    var q = new URLSearchParams({
      measure: "navigation-success-measures",
      periodStart: form.periodStart.value,
      periodEnd: form.periodEnd.value,
      subject: form.subject.value.trim()
    });
    var headers = { "Accept": "application/fhir+json" };
    var token = form.token.value.trim();
    if (token) { headers.Authorization = "Bearer " + token; }
    status.className = "";
    status.textContent = "Loading the figures…";
    fetch("/fhir/Measure/$evaluate-measure?" + q.toString(), { headers: headers })
      .then(function (resp) {
        return resp.json().then(function (body) { return { ok: resp.ok, status: resp.status, body: body }; });
      })
      .then(function (r) {
        if (!r.ok) {
          var issue = r.body && r.body.issue && r.body.issue[0];
          throw new Error("The server answered " + r.status + (issue && issue.diagnostics ? ": " + issue.diagnostics : ""));
        }
        show(r.body);
        status.textContent = "Figures for " + form.subject.value + ", " + form.periodStart.value + " to " + form.periodEnd.value + ".";
        document.getElementById("figures").focus();
      })
      .catch(function (err) {
        status.className = "error";
        status.textContent = err.message;
      });
  });
})();
