// The success-measures dashboard in a real browser: headless Chromium
// (Debian's chromium package) driven with playwright-core. cmd/signpost's
// TestDashboardInBrowser starts a gateway with seeded navigations, runs
// this script against it, and compares the figures it reports with the
// MeasureReport of Measure/$evaluate-measure for the same filters.
//
// The script sets the filters with the keyboard only, waits for the
// figures, reads what the page shows (the measures table and its trend
// lines, the trend table, the time from contact to allocation, the
// allocations by category chart and table, the measures by each
// stratifier, the routes and the heatmap), checks basic accessibility
// (labels, visible focus, keyboard reach, charts with a title and an
// aria-label, chart colours of at least 3:1 contrast, no console errors),
// saves a screenshot, and writes what it read as JSON.
//
// Then it checks what a practice manager meets (each a defect that fails
// the script): the default period is whole weeks, Monday to Sunday,
// ending before today; the header speaks of the practice, not of the
// API; categories and routes show as names, not codes; the layout fits
// at 360, 768, 1280, 1400 and 1920 px (the document is never wider than
// the window, and from 1280 px no table hides a column; a screenshot at
// each width is saved beside the first); the practice can be chosen by
// name and by ODS code, with the same figures; month labels of a long
// period do not overlap; and after an error no earlier figure stays on
// screen.
//
// Environment:
//   SIGNPOST_ROOT        the gateway's root URL (http://127.0.0.1:port)
//   DASHBOARD_SUBJECT    Organization/... or Group/...
//   DASHBOARD_FROM       periodStart, YYYY-MM-DD
//   DASHBOARD_TO         periodEnd, YYYY-MM-DD
//   DASHBOARD_SCREENSHOT where to save the PNG screenshot
//   DASHBOARD_OUT        where to write the JSON of what the page showed
//   CHROMIUM             the browser (default /usr/bin/chromium)
import { writeFileSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, dirname } from "node:path";
import { chromium } from "playwright-core";

const env = (k, d) => {
  const v = process.env[k] ?? d;
  if (v === undefined || v === "") {
    throw new Error(`${k} is not set`);
  }
  return v;
};
const root = env("SIGNPOST_ROOT");
const subject = env("DASHBOARD_SUBJECT");
const from = env("DASHBOARD_FROM");
const to = env("DASHBOARD_TO");
const screenshot = env("DASHBOARD_SCREENSHOT");
const outPath = env("DASHBOARD_OUT");
const executablePath = env("CHROMIUM", "/usr/bin/chromium");
// Every wait has this deadline; nothing asserts on how long a step took.
const deadline = 30_000;

const problems = [];
const consoleErrors = [];
// While the script asks for what must fail, the failed requests (and the
// browser's console lines about them) are expected, not errors.
let expectingErrors = false;
const userDataDir = mkdtempSync(join(tmpdir(), "signpost-chromium-"));
const context = await chromium.launchPersistentContext(userDataDir, {
  executablePath,
  headless: true,
  locale: "en-GB",
  timezoneId: "Europe/London",
  viewport: { width: 1400, height: 1000 },
  args: [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    // Date fields take day, month, year in the UI language's order.
    "--lang=en-GB",
  ],
});
try {
  const page = context.pages()[0] ?? (await context.newPage());
  page.setDefaultTimeout(deadline);
  page.on("console", (m) => {
    if (m.type() === "error" && !expectingErrors) {
      consoleErrors.push(m.text());
    }
  });
  page.on("pageerror", (e) => consoleErrors.push(String(e)));
  page.on("response", (r) => {
    if (r.status() >= 400 && !expectingErrors) {
      consoleErrors.push(`${r.request().method()} ${r.url()} answered ${r.status()}`);
    }
  });
  const resp = await page.goto(root + "/dashboard", { waitUntil: "load" });
  if (!resp || resp.status() !== 200) {
    throw new Error(`GET /dashboard answered ${resp && resp.status()}`);
  }

  // The page as it opens: its default period and its header.
  const opened = await page.evaluate(() => ({
    start: document.getElementById("periodStart").value,
    end: document.getElementById("periodEnd").value,
    header: document.querySelector("header").textContent,
    figuresHidden: document.getElementById("figures").hidden,
  }));

  // Every form control has a label: a <label for>, a wrapping label,
  // aria-label or aria-labelledby.
  const unlabelled = await page.evaluate(() =>
    [...document.querySelectorAll("input, select, textarea")]
      .filter((el) => el.type !== "hidden")
      .filter((el) => !(el.labels && el.labels.length) && !el.getAttribute("aria-label") && !el.getAttribute("aria-labelledby"))
      .map((el) => el.id || el.name || el.outerHTML));
  for (const u of unlabelled) {
    problems.push(`form control without a label: ${u}`);
  }

  // Keyboard only: Tab to each control, checking the focus is visible on
  // the way.
  const focusInfo = () => page.evaluate(() => {
    const el = document.activeElement;
    const s = getComputedStyle(el);
    const visible = (s.outlineStyle !== "none" && parseFloat(s.outlineWidth) > 0) || (s.boxShadow && s.boxShadow !== "none");
    return { id: el.id, tag: el.tagName.toLowerCase(), text: (el.textContent || "").trim(), visible,
      style: `outline ${s.outlineStyle} ${s.outlineWidth}; box-shadow ${s.boxShadow}; focus ${el.matches(":focus")}` };
  });
  const tabTo = async (want, label) => {
    for (let i = 0; i < 15; i++) {
      await page.keyboard.press("Tab");
      const f = await focusInfo();
      if (!f.visible) {
        problems.push(`no visible focus indicator on ${f.tag}#${f.id || f.text} (${f.style})`);
      }
      if (want(f)) {
        return;
      }
    }
    throw new Error(`Tab never reached ${label}`);
  };
  const typeDate = async (id, iso) => {
    // Chromium's date field takes its parts in the order of the browser's
    // locale; try the orders in turn, from the first part each time.
    const [y, m, d] = iso.split("-");
    const seen = [];
    for (const order of [d + m + y, m + d + y, y + m + d]) {
      for (let i = 0; i < 3; i++) {
        await page.keyboard.press("ArrowLeft");
      }
      await page.keyboard.type(order);
      const got = await page.inputValue("#" + id);
      if (got === iso) {
        return;
      }
      seen.push(got);
    }
    throw new Error(`typing ${iso} into #${id} with the keyboard gave ${JSON.stringify(seen)}`);
  };
  await tabTo((f) => f.id === "subject", "the practice field");
  await page.keyboard.press("Control+A");
  await page.keyboard.type(subject);
  await tabTo((f) => f.id === "periodStart", "the From field");
  await typeDate("periodStart", from);
  await tabTo((f) => f.id === "periodEnd", "the To field");
  await typeDate("periodEnd", to);
  await tabTo((f) => f.tag === "button", "the submit button");
  await page.keyboard.press("Enter");

  // Wait for the answer: the status line says which figures are shown,
  // or the error.
  await page.waitForFunction(() => {
    const s = document.getElementById("status");
    return s && (s.classList.contains("error") || s.textContent.startsWith("Figures for"));
  }, null, { timeout: deadline });
  const status = await page.textContent("#status");
  if (!status.startsWith("Figures for")) {
    throw new Error(`the page shows an error: ${status}`);
  }
  await page.waitForSelector("#heatmap tbody td[data-cell]", { timeout: deadline });
  const focusAfter = await focusInfo();

  // Every chart is an image with a name and a title.
  const charts = await page.evaluate(() =>
    [...document.querySelectorAll("#figures svg[role=img]")].map((el) => ({
      label: el.getAttribute("aria-label") || "",
      title: (el.querySelector(":scope > title") || {}).textContent || "",
    })));
  if (charts.length === 0) {
    problems.push("the page draws no chart");
  }
  for (const c of charts) {
    if (!c.label.trim() || !c.title.trim()) {
      problems.push(`a chart without an aria-label or a <title>: ${JSON.stringify(c)}`);
    }
  }
  // Chart colours against the white page: at least 3:1 (WCAG 1.4.11).
  const lowContrast = await page.evaluate(() => {
    const lum = (rgb) => {
      const [r, g, b] = rgb.match(/\d+/g).slice(0, 3).map((x) => {
        const c = Number(x) / 255;
        return c <= 0.03928 ? c / 12.92 : Math.pow((c + 0.055) / 1.055, 2.4);
      });
      return 0.2126 * r + 0.7152 * g + 0.0722 * b;
    };
    const out = [];
    for (const el of document.querySelectorAll("#figures svg rect.seg, #figures svg .trend, #figures svg .dot")) {
      const s = getComputedStyle(el);
      const colour = el.classList.contains("trend") ? s.stroke : s.fill;
      const ratio = 1.05 / (lum(colour) + 0.05);
      if (ratio < 3) {
        out.push(`${el.tagName} ${el.getAttribute("data-category") || el.getAttribute("class")}: ${colour} is ${ratio.toFixed(2)}:1 on white`);
      }
    }
    return [...new Set(out)];
  });
  problems.push(...lowContrast);
  // Keyboard: from the figures, Tab reaches the stratifier choice.
  await tabTo((f) => f.id === "stratifier", "the stratifier choice");

  // The measures by each stratifier, chosen in turn.
  const strata = {};
  const choices = await page.evaluate(() => [...document.querySelectorAll("#stratifier option")].map((o) => o.value));
  for (const v of choices) {
    await page.selectOption("#stratifier", v);
    await page.waitForFunction((v) => document.getElementById("strata").dataset.stratifier === v, v, { timeout: deadline });
    strata[v] = await page.evaluate(() => {
      const rows = {};
      for (const tr of document.querySelectorAll("#strata tbody tr")) {
        const row = {};
        for (const td of tr.querySelectorAll("td[data-measure]")) {
          const pct = td.querySelector(".pct");
          row[td.dataset.measure] = pct
            ? { share: pct.textContent, nd: td.querySelector(".nd").textContent }
            : { text: td.textContent };
        }
        rows[tr.dataset.stratum] = row;
      }
      return rows;
    });
  }

  const shown = await page.evaluate(() => {
    const measures = {};
    for (const tr of document.querySelectorAll("#measures tbody tr")) {
      const c = tr.querySelectorAll("td");
      measures[tr.dataset.measure] = {
        name: tr.querySelector("th").textContent,
        numerator: c[0].textContent, denominator: c[1].textContent, share: c[2].textContent,
      };
    }
    const routes = {};
    let allRoutes = null;
    for (const tr of document.querySelectorAll("#routes tbody tr")) {
      const v = tr.querySelector("td").textContent;
      if (tr.dataset.route) {
        routes[tr.dataset.route] = v;
      } else {
        allRoutes = v;
      }
    }
    const heatmap = {};
    for (const td of document.querySelectorAll("#heatmap td[data-cell]")) {
      heatmap[td.dataset.cell] = td.textContent;
    }
    // Trend lines: the points each sparkline draws.
    const points = (svg) => {
      const out = {};
      for (const c of (svg ? svg.querySelectorAll("circle[data-period]") : [])) {
        out[c.dataset.period] = Number(c.getAttribute("data-value"));
      }
      return out;
    };
    const sparklines = {};
    for (const tr of document.querySelectorAll("#measures tbody tr")) {
      sparklines[tr.dataset.measure] = points(tr.querySelector("svg"));
    }
    const trends = {};
    for (const tr of document.querySelectorAll("#trends tbody tr")) {
      const row = {};
      for (const td of tr.querySelectorAll("td[data-period]")) {
        row[td.dataset.period] = td.textContent;
      }
      trends[tr.dataset.measure] = row;
    }
    const ttaRoutes = {};
    for (const tr of document.querySelectorAll("#tta-routes tbody tr")) {
      const c = tr.querySelectorAll("td");
      ttaRoutes[tr.dataset.route] = { requests: c[0].textContent, allocated: c[1].textContent, median: c[2].textContent };
    }
    const timeToAllocation = {
      median: document.getElementById("tta-median").textContent,
      allocated: document.getElementById("tta-allocated").textContent,
      requests: document.getElementById("tta-requests").textContent,
      chart: points(document.querySelector("#tta-svg svg")),
      routes: ttaRoutes,
    };
    const categoryTable = {};
    for (const tr of document.querySelectorAll("#categories tbody tr")) {
      const row = {};
      for (const td of tr.querySelectorAll("td[data-period]")) {
        row[td.dataset.period] = td.textContent;
      }
      categoryTable[tr.dataset.category] = row;
    }
    const categoryBars = {};
    for (const r of document.querySelectorAll("#categories-svg rect[data-category]")) {
      categoryBars[r.dataset.period + " " + r.dataset.category] = Number(r.getAttribute("data-value"));
    }
    const granularity = document.querySelector(".granularity").textContent;
    return { measures, routes, allRoutes, heatmap, sparklines, trends, timeToAllocation, categoryTable, categoryBars, granularity };
  });
  await page.screenshot({ path: screenshot, fullPage: true });

  const defects = [];
  // Whole weeks by default: Monday to Sunday, all before today.
  {
    const day = (iso) => new Date(iso + "T12:00:00Z");
    const s = day(opened.start), e = day(opened.end);
    const todayIso = new Intl.DateTimeFormat("en-CA", { timeZone: "Europe/London" }).format(new Date());
    if (s.getUTCDay() !== 1) defects.push(`the default period starts on ${opened.start}, not a Monday`);
    if (e.getUTCDay() !== 0) defects.push(`the default period ends on ${opened.end}, not a Sunday`);
    if (!(opened.end < todayIso)) defects.push(`the default period ends on ${opened.end}, not before today (${todayIso}): its last week is not whole`);
    if (Math.round((e - s) / 86400000 + 1) % 7 !== 0) defects.push(`the default period ${opened.start} to ${opened.end} is not whole weeks`);
  }
  if (/evaluate-measure|MeasureReport/.test(opened.header)) {
    defects.push(`the header speaks of the API: ${opened.header.trim()}`);
  }
  if (!opened.figuresHidden) {
    defects.push("empty figures are shown before any are asked for");
  }
  // Names, not codes.
  const names = await page.evaluate(() => ({
    legend: [...document.querySelectorAll("#categories-legend li")].map((li) => ({ code: li.dataset.category, text: li.textContent.trim() })),
    rows: [...document.querySelectorAll("#categories tbody tr[data-category]")].map((tr) => ({ code: tr.dataset.category, text: tr.querySelector("th").textContent })),
    routes: [...document.querySelectorAll("#routes tbody tr[data-route]")].map((tr) => ({ code: tr.dataset.route, text: tr.querySelector("th").textContent })),
  }));
  if (names.legend.length === 0) defects.push("the category chart has no legend");
  for (const n of [...names.legend, ...names.rows.filter((r) => r.code !== "all"), ...names.routes]) {
    if (n.text === n.code || /^[a-z]+(-[a-z]+)+$/.test(n.text)) defects.push(`a code shown for a name: ${JSON.stringify(n)}`);
  }

  // Layouts that fit at common widths, each kept as a screenshot.
  const layouts = {};
  for (const width of [360, 768, 1280, 1400, 1920]) {
    await page.setViewportSize({ width, height: 900 });
    const m = await page.evaluate(() => new Promise((done) => requestAnimationFrame(() => requestAnimationFrame(() => done({
      scrollWidth: document.documentElement.scrollWidth,
      viewport: window.innerWidth,
      // What sticks out: the outermost elements past the window's edge.
      wide: [...document.querySelectorAll("body *")]
        .filter((el) => el.getBoundingClientRect().right > window.innerWidth + 0.5 && !el.closest(".scroll"))
        .filter((el) => !(el.parentElement && el.parentElement.getBoundingClientRect().right > window.innerWidth + 0.5))
        .slice(0, 5)
        .map((el) => el.tagName.toLowerCase() + (el.id ? "#" + el.id : "") + (el.className && typeof el.className === "string" ? "." + el.className : "") +
          " (" + Math.round(el.getBoundingClientRect().right) + " px)"),
      // Scroll regions whose content is wider than they are: a column or
      // an hour out of sight.
      clipped: [...document.querySelectorAll("#figures .scroll")]
        .filter((el) => el.getClientRects().length > 0 && el.scrollWidth > el.clientWidth + 1)
        .map((el) => ((el.querySelector("table, svg") || el).id || el.getAttribute("aria-labelledby") || "a region") +
          ` (${el.scrollWidth} px in ${el.clientWidth} px)`),
    })))));
    layouts[width] = m;
    if (m.scrollWidth > m.viewport) {
      defects.push(`at ${width} px the page is ${m.scrollWidth} px wide: it scrolls sideways (${m.wide.join(", ")})`);
    }
    if (width >= 1280 && m.clipped.length > 0) {
      defects.push(`at ${width} px part of ${m.clipped.join(", ")} is out of sight`);
    }
    await page.screenshot({ path: join(dirname(screenshot), `dashboard-${width}px.png`), fullPage: true });
  }
  await page.setViewportSize({ width: 1400, height: 1000 });

  // The practice chosen by name and by ODS code: the same figures.
  const submitWith = async (fields) => {
    for (const [id, v] of Object.entries(fields)) {
      await page.fill("#" + id, v);
    }
    const refused = await page.evaluate(() => {
      const bad = [...document.querySelectorAll("#filters input")].filter((el) => !el.checkValidity());
      return bad.map((el) => `${el.id}: ${el.validationMessage}`).join("; ");
    });
    if (refused) {
      return { status: `the form refuses it (${refused})`, error: true, refused: true, figuresHidden: false, measures: {} };
    }
    await page.evaluate(() => { document.getElementById("status").textContent = ""; });
    await page.click("button[type=submit]");
    await page.waitForFunction(() => {
      const s = document.getElementById("status");
      return s && (s.classList.contains("error") || s.textContent.startsWith("Figures for"));
    }, null, { timeout: deadline });
    return page.evaluate(() => ({
      status: document.getElementById("status").textContent,
      error: document.getElementById("status").classList.contains("error"),
      figuresHidden: document.getElementById("figures").hidden,
      measures: Object.fromEntries([...document.querySelectorAll("#measures tbody tr")].map((tr) => {
        const c = tr.querySelectorAll("td");
        return [tr.dataset.measure, c[0].textContent + "/" + c[1].textContent];
      })),
    }));
  };
  const shownND = Object.fromEntries(Object.entries(shown.measures).map(([k, v]) => [k, v.numerator + "/" + v.denominator]));
  const chosen = {};
  for (const typed of ["Demo Surgery", "y99999"]) {
    const r = await submitWith({ subject: typed });
    chosen[typed] = r.status;
    if (r.error) {
      defects.push(`the practice typed as ${JSON.stringify(typed)} is refused: ${r.status}`);
    } else if (!r.status.includes("Demo Surgery (Y99999)")) {
      defects.push(`the practice typed as ${JSON.stringify(typed)} is not named in the status: ${r.status}`);
    } else if (JSON.stringify(r.measures) !== JSON.stringify(shownND)) {
      defects.push(`the practice typed as ${JSON.stringify(typed)} shows other figures than ${subject}: ${JSON.stringify(r.measures)} and ${JSON.stringify(shownND)}`);
    }
  }

  // A long period: by month, the bar chart's labels apart.
  {
    const long = new Date(Date.parse(from + "T12:00:00Z") - 280 * 86400000).toISOString().slice(0, 10);
    const r = await submitWith({ periodStart: long, periodEnd: to });
    if (r.error) {
      defects.push(`a long period is refused: ${r.status}`);
    } else {
      const overlaps = await page.evaluate(() => {
        const boxes = [...document.querySelectorAll("#categories-svg text.tick")]
          .map((t) => ({ text: t.textContent, b: t.getBBox() }))
          .filter((x) => x.b.y > 150); // the labels under the bars, not the scale
        const out = [];
        for (let i = 0; i < boxes.length; i++) {
          for (let j = i + 1; j < boxes.length; j++) {
            const a = boxes[i].b, b = boxes[j].b;
            if (a.x < b.x + b.width && b.x < a.x + a.width && a.y < b.y + b.height && b.y < a.y + a.height) {
              out.push(`${boxes[i].text} / ${boxes[j].text}`);
            }
          }
        }
        return { gran: document.querySelector(".granularity").textContent, labels: boxes.length, out };
      });
      if (overlaps.gran !== "month") defects.push(`a period of 48 weeks is shown by ${overlaps.gran}, not by month`);
      if (overlaps.labels === 0) defects.push("the long period's bar chart has no labels");
      for (const o of overlaps.out) defects.push(`month labels overlap: ${o}`);
      await page.screenshot({ path: join(dirname(screenshot), "dashboard-long-period.png"), fullPage: true });
    }
  }

  // After an error no figure of the earlier answer stays on screen: a
  // practice that does not exist, then one the server refuses.
  const errors = {};
  expectingErrors = true;
  for (const typed of ["No Such Practice", "Group/no-such-group"]) {
    const r = await submitWith({ subject: typed, periodStart: from, periodEnd: to });
    errors[typed] = r.status;
    if (r.refused) {
      continue; // the form itself says what is wrong; nothing was asked
    }
    if (!r.error) {
      defects.push(`asking for ${JSON.stringify(typed)} gives no error: ${r.status}`);
    } else if (!r.figuresHidden) {
      defects.push(`after the error for ${JSON.stringify(typed)} (${r.status}) the earlier figures stay on screen`);
    }
  }
  await page.screenshot({ path: join(dirname(screenshot), "dashboard-error.png"), fullPage: true });
  expectingErrors = false;

  writeFileSync(outPath, JSON.stringify({
    ...shown, strata, status, focusAfterLoad: focusAfter, problems, consoleErrors, opened, layouts, chosen, errors, defects,
  }, null, 1));
  if (defects.length > 0) {
    throw new Error("dashboard defects:\n- " + defects.join("\n- "));
  }
  console.log(`dashboard: ${Object.keys(shown.measures).length} measures, ${Object.keys(shown.heatmap).length} heatmap cells, ` +
    `${Object.keys(shown.categoryBars).length} category bars, ${Object.keys(strata).length} stratifiers read; screenshot ${screenshot}`);
} finally {
  await context.close();
  rmSync(userDataDir, { recursive: true, force: true });
}
