// The success-measures dashboard: reads the filters, calls
// Measure/$evaluate-measure on this gateway and shows the MeasureReport:
// the measures with trend lines, the time from contact to allocation,
// allocations by category over time, the measures by group of patients,
// demand by route and the weekday-hour heatmap. Charts are plain SVG
// drawn here, each with a title and a table of its figures.
"use strict";

(function () {
  var DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"];
  var SVGNS = "http://www.w3.org/2000/svg";
  // Groups shown in their own sections, not as rows of the measures table.
  var DEMAND = "navigation-demand", ALLOCATIONS = "navigation-allocations", TIME = "navigation-time-to-allocation";
  // Navigation categories in a fixed order, with colours of at least 3:1
  // contrast on white (graphical objects); others are added after.
  var CATEGORIES = ["clinician", "practice-team", "external-referral", "signpost", "self-care", "administrative", "emergency"];
  var COLOURS = {
    "clinician": "#1d4ed8", "practice-team": "#00703c", "external-referral": "#7b2c9e", "signpost": "#a14a00",
    "self-care": "#0e6b73", "administrative": "#505a5f", "emergency": "#b10e1e"
  };
  var SPARE = ["#5b3f00", "#003078", "#6f1d46", "#2b5b1e"];
  var SHORT = {
    "navigation-requests-navigated": "Navigated",
    "navigation-pharmacy-first": "Pharmacy First",
    "navigation-pharmacy-first-declined": "Pharmacy First declined",
    "navigation-social-prescribing": "Social prescribing",
    "navigation-wider-team": "Wider team",
    "navigation-reattendance": "Reattended",
    "navigation-urgent-same-day": "Urgent same day",
    "navigation-continuity-missed": "Continuity missed"
  };
  // What people read for the codes: navigation categories (the displays
  // of the navigation-category code system) and contact routes.
  var CATEGORY_NAMES = {
    "clinician": "Practice clinician", "practice-team": "Practice team", "external-referral": "External referral",
    "signpost": "Signpost", "self-care": "Self-care", "administrative": "Administrative", "emergency": "Emergency"
  };
  var ROUTE_NAMES = { "phone": "Phone", "online": "Online", "walk-in": "Walk-in", "unknown": "Not known" };
  function categoryName(c) { return CATEGORY_NAMES[c] || c; }
  function routeName(r) { return ROUTE_NAMES[r] || r; }
  var STRAT_NAMES = { "contact-route": "contact route", "age-band": "age band", "sex": "sex", "need-group": "need group" };
  var AGE_ORDER = ["0-4", "5-15", "16-24", "25-44", "45-64", "65-74", "75-84", "85+"];

  var form = document.getElementById("filters");
  var status = document.getElementById("status");
  var stratSelect = document.getElementById("stratifier");
  var last = null; // { report, periods, gran }
  var seq = 0;

  function isoDate(d) {
    return d.getFullYear() + "-" + String(d.getMonth() + 1).padStart(2, "0") + "-" + String(d.getDate()).padStart(2, "0");
  }

  // Defaults: the eight whole weeks (Monday to Sunday) before this one,
  // so that no weekly figure is of a part of a week.
  var today = new Date();
  var thisMonday = new Date(today.getFullYear(), today.getMonth(), today.getDate() - (today.getDay() + 6) % 7);
  var from = new Date(thisMonday.getFullYear(), thisMonday.getMonth(), thisMonday.getDate() - 56);
  var lastSunday = new Date(thisMonday.getFullYear(), thisMonday.getMonth(), thisMonday.getDate() - 1);
  document.getElementById("periodStart").value = isoDate(from);
  document.getElementById("periodEnd").value = isoDate(lastSunday);
  var figures = document.getElementById("figures");

  function code(cc) {
    var c = cc && cc.coding && cc.coding[0];
    return c ? c.code : "";
  }

  function pops(list) {
    var out = {};
    (list || []).forEach(function (p) { out[code(p.code)] = p.count; });
    return out;
  }

  function score(x) {
    return x && x.measureScore && typeof x.measureScore.value === "number" ? x.measureScore.value : null;
  }

  function cell(row, text, header) {
    var el = document.createElement(header ? "th" : "td");
    if (header) { el.scope = "row"; }
    el.textContent = text;
    row.appendChild(el);
    return el;
  }

  function colHead(row, text, title) {
    var th = document.createElement("th");
    th.scope = "col";
    th.textContent = text;
    if (title) { th.title = title; }
    row.appendChild(th);
    return th;
  }

  function clear(el) { while (el.firstChild) { el.removeChild(el.firstChild); } }

  function svg(name, attrs, parent) {
    var el = document.createElementNS(SVGNS, name);
    Object.keys(attrs || {}).forEach(function (k) { el.setAttribute(k, String(attrs[k])); });
    if (parent) { parent.appendChild(el); }
    return el;
  }

  function svgTitle(parent, text) {
    var t = svg("title", {}, parent);
    t.textContent = text;
    return t;
  }

  // stratifierOf is a stratifier's strata by value text.
  function stratifierOf(group, name) {
    var out = {};
    (group && group.stratifier || []).forEach(function (s) {
      var n = s.code && s.code[0] && s.code[0].text;
      if (n !== name) { return; }
      (s.stratum || []).forEach(function (st) { out[st.value.text] = st; });
    });
    return out;
  }

  function count(st, pop) {
    return st ? (pops(st.population)[pop || "initial-population"] || 0) : 0;
  }

  function pct(v) { return v === null ? "no data" : (v * 100).toFixed(1) + "%"; }
  function minutes(v) { return v === null ? "no data" : (Math.round(v * 10) / 10).toString(); }

  // Periods: every week (Monday, "2025-01-06") or month ("2025-01") the
  // period touches, in order.
  function dateParts(s) {
    var p = s.split("-").map(Number);
    return new Date(Date.UTC(p[0], p[1] - 1, p[2]));
  }
  function utcIso(d) { return d.toISOString().slice(0, 10); }
  function periodsOf(start, end, gran) {
    var out = [];
    var a = dateParts(start), b = dateParts(end);
    if (gran === "month") {
      var y = a.getUTCFullYear(), m = a.getUTCMonth();
      while (y < b.getUTCFullYear() || (y === b.getUTCFullYear() && m <= b.getUTCMonth())) {
        out.push(y + "-" + String(m + 1).padStart(2, "0"));
        m++;
        if (m === 12) { m = 0; y++; }
      }
      return out;
    }
    var d = new Date(a.getTime() - ((a.getUTCDay() + 6) % 7) * 86400000);
    for (; d <= b; d = new Date(d.getTime() + 7 * 86400000)) { out.push(utcIso(d)); }
    return out;
  }
  function granularityOf(start, end) {
    var days = (dateParts(end) - dateParts(start)) / 86400000 + 1;
    return days > 16 * 7 ? "month" : "week";
  }
  var MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
  function periodLabel(p, gran) {
    var x = p.split("-").map(Number);
    return gran === "month" ? MONTHS[x[1] - 1] + " " + x[0] : x[2] + " " + MONTHS[x[1] - 1];
  }
  function periodLong(p, gran) {
    return gran === "month" ? periodLabel(p, gran) : "week of " + periodLabel(p, gran) + " " + p.slice(0, 4);
  }

  // series is a group's value per period: the score (proportions), the
  // count (cohorts) or the median (time to allocation).
  function series(group, periods, gran, kind) {
    var strata = stratifierOf(group, gran);
    return periods.map(function (p) {
      var st = strata[p];
      if (kind === "count") { return count(st); }
      return score(st);
    });
  }

  // sparkline draws values (null: no data) as a line; fmt formats one.
  function sparkline(values, periods, gran, label, fmt, opts) {
    opts = opts || {};
    var w = opts.width || 160, h = opts.height || 36, pad = opts.pad || 4;
    var el = svg("svg", { width: w, height: h, viewBox: "0 0 " + w + " " + h, role: "img", "class": "spark" });
    var known = values.filter(function (v) { return v !== null; });
    var first = null, lastV = null;
    values.forEach(function (v, i) {
      if (v === null) { return; }
      if (first === null) { first = i; }
      lastV = i;
    });
    var summary = first === null ? label + ": no data in the period" :
      label + " by " + gran + ": " + fmt(values[first]) + " (" + periodLong(periods[first], gran) + ") to " + fmt(values[lastV]) + " (" + periodLong(periods[lastV], gran) + ")";
    el.setAttribute("aria-label", summary);
    svgTitle(el, summary + ". " + periods.map(function (p, i) { return periodLabel(p, gran) + " " + fmt(values[i]); }).join("; "));
    var lo = opts.zero ? 0 : Math.min.apply(null, known.concat([Infinity]));
    var hi = Math.max.apply(null, known.concat([-Infinity]));
    if (opts.zero) { lo = 0; }
    if (!(hi > lo)) { hi = lo + 1; }
    // With axes: the scale on the left, the first and last period below.
    var left = opts.axes ? 64 : pad, bottom = opts.axes ? 20 : pad;
    var x = function (i) { return values.length < 2 ? (left + w - pad) / 2 : left + i * (w - left - pad) / (values.length - 1); };
    var y = function (v) { return h - bottom - (v - lo) * (h - bottom - pad) / (hi - lo); };
    svg("line", { x1: left, x2: w - pad, y1: h - bottom, y2: h - bottom, "class": "axis" }, el);
    if (opts.axes) {
      [lo, hi].forEach(function (v) {
        var t = svg("text", { x: left - 6, y: y(v) + 4, "text-anchor": "end", "class": "tick" }, el);
        t.textContent = fmt(v);
      });
      svg("line", { x1: left, x2: w - pad, y1: y(hi), y2: y(hi), "class": "grid" }, el);
      [0, values.length - 1].forEach(function (i, k) {
        if (k === 1 && i === 0) { return; }
        var t = svg("text", { x: x(i), y: h - 4, "text-anchor": k === 0 ? "start" : "end", "class": "tick" }, el);
        t.textContent = periodLabel(periods[i], gran);
      });
    }
    var seg = [];
    var flush = function () {
      if (seg.length > 1) { svg("polyline", { points: seg.join(" "), "class": "trend" }, el); }
      seg = [];
    };
    values.forEach(function (v, i) {
      if (v === null) { flush(); return; }
      seg.push(x(i).toFixed(1) + "," + y(v).toFixed(1));
    });
    flush();
    values.forEach(function (v, i) {
      if (v === null) { return; }
      var c = svg("circle", { cx: x(i).toFixed(1), cy: y(v).toFixed(1), r: i === lastV ? 3 : 1.8, "class": i === lastV ? "last" : "dot" }, el);
      c.setAttribute("data-period", periods[i]);
      c.setAttribute("data-value", String(v));
      svgTitle(c, periodLong(periods[i], gran) + ": " + fmt(v));
    });
    return el;
  }

  function setGranularity(gran) {
    document.querySelectorAll(".granularity").forEach(function (el) { el.textContent = gran; });
  }

  function show(report, periods, gran) {
    setGranularity(gran);
    var groups = {};
    var order = [];
    (report.group || []).forEach(function (g) {
      var id = code(g.code);
      groups[id] = g;
      order.push(id);
    });
    var proportions = order.filter(function (id) { return id !== DEMAND && id !== ALLOCATIONS && id !== TIME; });

    // The measures table, with a trend line per measure.
    var body = document.querySelector("#measures tbody");
    clear(body);
    proportions.forEach(function (id) {
      var g = groups[id];
      var p = pops(g.population);
      var tr = document.createElement("tr");
      tr.dataset.measure = id;
      var name = (g.code && g.code.text) || id;
      cell(tr, name, true);
      cell(tr, String(p.numerator || 0));
      cell(tr, String(p.denominator || 0));
      cell(tr, pct(score(g)));
      var td = cell(tr, "");
      td.className = "trendcell";
      td.appendChild(sparkline(series(g, periods, gran, "score"), periods, gran, name, pct, { zero: true }));
      body.appendChild(tr);
    });

    // The trend table: every measure by period.
    var trends = document.getElementById("trends");
    clear(trends.tHead);
    clear(trends.tBodies[0]);
    var head = document.createElement("tr");
    colHead(head, "Measure");
    periods.forEach(function (p) { colHead(head, periodLabel(p, gran), periodLong(p, gran)); });
    trends.tHead.appendChild(head);
    var trendRow = function (id, label, values, fmt) {
      var tr = document.createElement("tr");
      tr.dataset.measure = id;
      cell(tr, label, true);
      values.forEach(function (v, i) {
        var td = cell(tr, fmt(v));
        td.dataset.period = periods[i];
      });
      trends.tBodies[0].appendChild(tr);
    };
    proportions.forEach(function (id) {
      var g = groups[id];
      trendRow(id, (g.code && g.code.text) || id, series(g, periods, gran, "score"), pct);
    });
    if (groups[DEMAND]) { trendRow(DEMAND, "Requests", series(groups[DEMAND], periods, gran, "count"), String); }
    if (groups[ALLOCATIONS]) { trendRow(ALLOCATIONS, "Allocations", series(groups[ALLOCATIONS], periods, gran, "count"), String); }
    if (groups[TIME]) { trendRow(TIME, "Median minutes to allocation", series(groups[TIME], periods, gran, "score"), minutes); }

    showTime(groups[TIME], periods, gran);
    showCategories(groups[ALLOCATIONS], periods, gran);
    showStrata();
    showDemand(groups[DEMAND]);
  }

  function showTime(g, periods, gran) {
    var rb = document.querySelector("#tta-routes tbody");
    clear(rb);
    var chart = document.getElementById("tta-svg");
    clear(chart);
    var p = g ? pops(g.population) : {};
    document.getElementById("tta-median").textContent = g ? minutes(score(g)) : "no data";
    document.getElementById("tta-allocated").textContent = String(p["measure-population"] || 0);
    document.getElementById("tta-requests").textContent = String(p["initial-population"] || 0);
    if (!g) { return; }
    chart.appendChild(sparkline(series(g, periods, gran, "score"), periods, gran, "Median minutes from contact to allocation", function (v) {
      return minutes(v) + (v === null ? "" : " min");
    }, { width: 480, height: 140, pad: 10, zero: true, axes: true }));
    var routes = stratifierOf(g, "contact-route");
    Object.keys(routes).sort().forEach(function (r) {
      var st = routes[r];
      var tr = document.createElement("tr");
      tr.dataset.route = r;
      cell(tr, routeName(r), true);
      cell(tr, String(count(st)));
      cell(tr, String(count(st, "measure-population")));
      cell(tr, minutes(score(st)));
      rb.appendChild(tr);
    });
  }

  function categoryOrder(seen) {
    var out = CATEGORIES.filter(function (c) { return seen[c]; });
    Object.keys(seen).sort().forEach(function (c) { if (out.indexOf(c) < 0) { out.push(c); } });
    return out;
  }

  function showCategories(g, periods, gran) {
    var box = document.getElementById("categories-svg");
    var legend = document.getElementById("categories-legend");
    var table = document.getElementById("categories");
    clear(box);
    clear(legend);
    clear(table.tHead);
    clear(table.tBodies[0]);
    if (!g) { return; }
    // figures[category][period] from category-week / category-month.
    var strata = stratifierOf(g, "category-" + gran);
    var figures = {}, seen = {};
    Object.keys(strata).forEach(function (k) {
      var i = k.indexOf(" ");
      var p = k.slice(0, i), c = k.slice(i + 1);
      figures[c] = figures[c] || {};
      figures[c][p] = count(strata[k]);
      seen[c] = true;
    });
    Object.keys(stratifierOf(g, "category")).forEach(function (c) { seen[c] = true; figures[c] = figures[c] || {}; });
    var cats = categoryOrder(seen);
    var spare = 0;
    var colour = {};
    cats.forEach(function (c) { colour[c] = COLOURS[c] || SPARE[spare++ % SPARE.length]; });
    var totals = periods.map(function (p) {
      return cats.reduce(function (s, c) { return s + (figures[c][p] || 0); }, 0);
    });
    var max = Math.max.apply(null, totals.concat([1]));

    // The chart: one stacked bar per period.
    var left = 40, bottom = 44, top = 10, bw = 34, gap = 14;
    var w = Math.max(480, left + periods.length * (bw + gap) + gap), h = 260;
    var chart = svg("svg", { width: w, height: h, viewBox: "0 0 " + w + " " + h, role: "img", "class": "bars" });
    var summary = "Allocations by category by " + gran + ", " + periods.length + " bars, " + cats.length + " categories: " +
      cats.map(function (c) {
        return categoryName(c) + " " + periods.reduce(function (s, p) { return s + (figures[c][p] || 0); }, 0);
      }).join(", ");
    chart.setAttribute("aria-label", summary);
    svgTitle(chart, summary);
    var y = function (v) { return h - bottom - v * (h - bottom - top) / max; };
    [0, Math.round(max / 2), max].forEach(function (t) {
      svg("line", { x1: left - 4, x2: w, y1: y(t), y2: y(t), "class": t === 0 ? "axis" : "grid" }, chart);
      var lbl = svg("text", { x: left - 8, y: y(t) + 4, "text-anchor": "end", "class": "tick" }, chart);
      lbl.textContent = String(t);
    });
    periods.forEach(function (p, i) {
      var x = left + gap + i * (bw + gap);
      var base = 0;
      var bar = svg("g", { "data-period": p }, chart);
      svgTitle(bar, periodLong(p, gran) + ": " + totals[i] + " allocations");
      cats.forEach(function (c) {
        var n = figures[c][p] || 0;
        if (n === 0) { return; }
        var r = svg("rect", { x: x, y: y(base + n), width: bw, height: Math.max(0, y(base) - y(base + n)), fill: colour[c], "class": "seg" }, bar);
        r.setAttribute("data-category", c);
        r.setAttribute("data-period", p);
        r.setAttribute("data-value", String(n));
        svgTitle(r, periodLong(p, gran) + ", " + categoryName(c) + ": " + n);
        base += n;
      });
      // Months are labelled by their short name, the year under the
      // first bar and each January: a label never runs into the next.
      var lbl = svg("text", { x: x + bw / 2, y: h - bottom + 16, "text-anchor": "middle", "class": "tick" }, chart);
      if (gran === "month") {
        var ym = p.split("-").map(Number);
        lbl.textContent = MONTHS[ym[1] - 1];
        if (i === 0 || ym[1] === 1) {
          var yr = svg("text", { x: x + bw / 2, y: h - bottom + 30, "text-anchor": "middle", "class": "tick" }, chart);
          yr.textContent = String(ym[0]);
        }
      } else {
        lbl.textContent = periodLabel(p, gran);
      }
      var tot = svg("text", { x: x + bw / 2, y: y(totals[i]) - 3, "text-anchor": "middle", "class": "total" }, chart);
      tot.textContent = String(totals[i]);
    });
    box.appendChild(chart);
    cats.forEach(function (c) {
      var li = document.createElement("li");
      var sw = svg("svg", { width: 14, height: 14, viewBox: "0 0 14 14", "aria-hidden": "true" }, li);
      svg("rect", { width: 14, height: 14, fill: colour[c] }, sw);
      li.dataset.category = c;
      li.appendChild(document.createTextNode(" " + categoryName(c)));
      legend.appendChild(li);
    });

    // The table of the same figures.
    var head = document.createElement("tr");
    colHead(head, "Category");
    periods.forEach(function (p) { colHead(head, periodLabel(p, gran), periodLong(p, gran)); });
    colHead(head, "Total");
    table.tHead.appendChild(head);
    cats.forEach(function (c) {
      var tr = document.createElement("tr");
      tr.dataset.category = c;
      cell(tr, categoryName(c), true);
      var sum = 0;
      periods.forEach(function (p) {
        var n = figures[c][p] || 0;
        sum += n;
        var td = cell(tr, String(n));
        td.dataset.period = p;
      });
      cell(tr, String(sum)).dataset.period = "total";
      table.tBodies[0].appendChild(tr);
    });
    var tr = document.createElement("tr");
    tr.dataset.category = "all";
    cell(tr, "All categories", true);
    totals.forEach(function (n, i) { cell(tr, String(n)).dataset.period = periods[i]; });
    cell(tr, String(totals.reduce(function (a, b) { return a + b; }, 0))).dataset.period = "total";
    table.tBodies[0].appendChild(tr);
  }

  function strataOrder(name, values) {
    var rank = function (v) {
      if (v === "unknown") { return [2, 0, v]; }
      if (name === "age-band") { return [0, AGE_ORDER.indexOf(v), v]; }
      if (name === "need-group" && /^[0-9]+$/.test(v)) { return [0, Number(v), v]; }
      return [1, 0, v];
    };
    return values.sort(function (a, b) {
      var x = rank(a), y = rank(b);
      return x[0] - y[0] || x[1] - y[1] || (x[2] < y[2] ? -1 : x[2] > y[2] ? 1 : 0);
    });
  }

  // showStrata fills the table of the measures by the chosen stratifier.
  function showStrata() {
    var table = document.getElementById("strata");
    clear(table.tHead);
    clear(table.tBodies[0]);
    var name = stratSelect.value;
    document.getElementById("strata-name").textContent = STRAT_NAMES[name] || name;
    table.dataset.stratifier = name;
    if (!last) { return; }
    var groups = last.report.group || [];
    var byId = {};
    groups.forEach(function (g) { byId[code(g.code)] = g; });
    var proportions = groups.filter(function (g) {
      var id = code(g.code);
      return id !== DEMAND && id !== ALLOCATIONS && id !== TIME;
    });
    var values = {};
    groups.forEach(function (g) { Object.keys(stratifierOf(g, name)).forEach(function (v) { values[v] = true; }); });
    var head = document.createElement("tr");
    colHead(head, STRAT_NAMES[name] ? STRAT_NAMES[name].charAt(0).toUpperCase() + STRAT_NAMES[name].slice(1) : name);
    colHead(head, "Requests");
    proportions.forEach(function (g) {
      var id = code(g.code);
      colHead(head, SHORT[id] || (g.code && g.code.text) || id, (g.code && g.code.text) || id);
    });
    if (byId[ALLOCATIONS]) { colHead(head, "Allocations"); }
    if (byId[TIME]) { colHead(head, "Median minutes to allocation"); }
    table.tHead.appendChild(head);
    var reqGroup = byId[DEMAND] || proportions[0];
    strataOrder(name, Object.keys(values)).forEach(function (v) {
      var tr = document.createElement("tr");
      tr.dataset.stratum = v;
      cell(tr, name === "contact-route" ? routeName(v) : v, true);
      var td = cell(tr, String(count(stratifierOf(reqGroup, name)[v])));
      td.dataset.measure = "requests";
      proportions.forEach(function (g) {
        var st = stratifierOf(g, name)[v];
        var p = st ? pops(st.population) : {};
        var c = cell(tr, "");
        c.dataset.measure = code(g.code);
        var a = document.createElement("span");
        a.className = "pct";
        a.textContent = pct(score(st));
        var b = document.createElement("span");
        b.className = "nd";
        b.textContent = (p.numerator || 0) + "/" + (p.denominator || 0);
        c.appendChild(a);
        c.appendChild(document.createElement("br"));
        c.appendChild(b);
      });
      if (byId[ALLOCATIONS]) {
        cell(tr, String(count(stratifierOf(byId[ALLOCATIONS], name)[v]))).dataset.measure = ALLOCATIONS;
      }
      if (byId[TIME]) {
        cell(tr, minutes(score(stratifierOf(byId[TIME], name)[v]))).dataset.measure = TIME;
      }
      table.tBodies[0].appendChild(tr);
    });
  }

  function showDemand(demand) {
    var rb = document.querySelector("#routes tbody");
    clear(rb);
    var hm = document.getElementById("heatmap");
    clear(hm.tHead);
    clear(hm.tBodies[0]);
    if (!demand) { return; }
    var total = pops(demand.population)["initial-population"] || 0;
    var routes = stratifierOf(demand, "contact-route");
    Object.keys(routes).sort().forEach(function (r) {
      var tr = document.createElement("tr");
      tr.dataset.route = r;
      cell(tr, routeName(r), true);
      cell(tr, String(count(routes[r])));
      rb.appendChild(tr);
    });
    var tr = document.createElement("tr");
    cell(tr, "All routes", true);
    cell(tr, String(total));
    rb.appendChild(tr);

    var strata = stratifierOf(demand, "weekday-hour");
    var dh = {};
    Object.keys(strata).forEach(function (k) { dh[k] = count(strata[k]); });
    var max = 0;
    Object.keys(dh).forEach(function (k) { max = Math.max(max, dh[k]); });
    var head = document.createElement("tr");
    colHead(head, "Weekday");
    for (var h = 0; h < 24; h++) { colHead(head, String(h).padStart(2, "0")); }
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

  stratSelect.addEventListener("change", function () {
    showStrata();
    if (last) { status.textContent = "Measures by " + (STRAT_NAMES[stratSelect.value] || stratSelect.value) + " shown below."; }
  });

  // resolveSubject turns what was typed into the subject of the report:
  // a reference (Organization/..., Group/...) as it is; an ODS code or a
  // practice's name through an Organization search. It answers
  // { ref, label } or throws an Error that says what to type.
  function resolveSubject(text, headers) {
    if (/^(Organization|Group)\/[A-Za-z0-9\-.]{1,64}$/.test(text)) {
      return Promise.resolve({ ref: text, label: text });
    }
    var ods = /^[A-Za-z0-9]{3,10}$/.test(text) && /[0-9]/.test(text);
    var q = ods ? "identifier=" + encodeURIComponent("https://fhir.nhs.uk/Id/ods-organization-code|" + text.toUpperCase())
      : "name=" + encodeURIComponent(text);
    return fetch("/fhir/Organization?" + q + "&_count=20", { headers: headers })
      .then(function (resp) {
        return resp.json().then(function (body) { return { ok: resp.ok, status: resp.status, body: body }; });
      })
      .then(function (r) {
        if (!r.ok) {
          var issue = r.body && r.body.issue && r.body.issue[0];
          throw new Error("Looking up the practice, the server answered " + r.status + (issue && issue.diagnostics ? ": " + issue.diagnostics : ""));
        }
        var orgs = (r.body.entry || []).map(function (e) { return e.resource; }).filter(function (o) { return o && o.resourceType === "Organization"; });
        var odsOf = function (o) {
          var id = (o.identifier || []).filter(function (i) { return i.system === "https://fhir.nhs.uk/Id/ods-organization-code"; })[0];
          return id ? id.value : "";
        };
        var labelOf = function (o) { return (o.name || "Organization/" + o.id) + (odsOf(o) ? " (" + odsOf(o) + ")" : ""); };
        if (orgs.length > 1) {
          var exact = orgs.filter(function (o) { return (o.name || "").toLowerCase() === text.toLowerCase(); });
          if (exact.length === 1) { orgs = exact; }
        }
        if (orgs.length === 0) {
          throw new Error(ods ? "No practice has the ODS code " + text.toUpperCase() + "." : "No practice is named “" + text + "”. Type its name or its ODS code.");
        }
        if (orgs.length > 1) {
          throw new Error(orgs.length + " practices match “" + text + "”: " + orgs.slice(0, 5).map(labelOf).join(", ") + ". Type the ODS code of the one you mean.");
        }
        return { ref: "Organization/" + orgs[0].id, label: labelOf(orgs[0]) };
      });
  }

  // showError puts the error in place of the figures: the figures of an
  // earlier answer never stay on screen under it.
  function showError(message) {
    last = null;
    figures.hidden = true;
    status.className = "error";
    status.textContent = message;
  }

  form.addEventListener("submit", function (ev) {
    ev.preventDefault();
    if (!form.reportValidity()) { return; }
    var start = form.periodStart.value, end = form.periodEnd.value;
    var typed = form.subject.value.trim();
    var headers = { "Accept": "application/fhir+json" };
    var token = form.token.value.trim();
    if (token) { headers.Authorization = "Bearer " + token; }
    var mine = ++seq;
    status.className = "";
    status.textContent = "Loading the figures…";
    if (end < start) {
      showError("The period ends (" + end + ") before it starts (" + start + ").");
      return;
    }
    var subject = null;
    resolveSubject(typed, headers)
      .then(function (s) {
        if (mine !== seq) { return null; }
        subject = s;
        var q = new URLSearchParams({ measure: "navigation-success-measures", periodStart: start, periodEnd: end, subject: s.ref });
        return fetch("/fhir/Measure/$evaluate-measure?" + q.toString(), { headers: headers });
      })
      .then(function (resp) {
        if (!resp) { return null; }
        return resp.json().then(function (body) { return { ok: resp.ok, status: resp.status, body: body }; });
      })
      .then(function (r) {
        if (!r || mine !== seq) { return; } // a later request superseded this one
        if (!r.ok) {
          var issue = r.body && r.body.issue && r.body.issue[0];
          throw new Error("The server answered " + r.status + (issue && issue.diagnostics ? ": " + issue.diagnostics : ""));
        }
        var gran = granularityOf(start, end);
        var periods = periodsOf(start, end, gran);
        last = { report: r.body, periods: periods, gran: gran };
        figures.hidden = false;
        show(r.body, periods, gran);
        status.textContent = "Figures for " + subject.label + ", " + start + " to " + end + ", by " + gran + ".";
        figures.focus();
      })
      .catch(function (err) {
        if (mine !== seq) { return; }
        showError(err.message);
      });
  });
})();
