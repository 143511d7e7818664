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
import { join } from "node:path";
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
    if (m.type() === "error") {
      consoleErrors.push(m.text());
    }
  });
  page.on("pageerror", (e) => consoleErrors.push(String(e)));
  page.on("response", (r) => {
    if (r.status() >= 400) {
      consoleErrors.push(`${r.request().method()} ${r.url()} answered ${r.status()}`);
    }
  });
  const resp = await page.goto(root + "/dashboard", { waitUntil: "load" });
  if (!resp || resp.status() !== 200) {
    throw new Error(`GET /dashboard answered ${resp && resp.status()}`);
  }

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
  writeFileSync(outPath, JSON.stringify({
    ...shown, strata, status, focusAfterLoad: focusAfter, problems, consoleErrors,
  }, null, 1));
  console.log(`dashboard: ${Object.keys(shown.measures).length} measures, ${Object.keys(shown.heatmap).length} heatmap cells, ` +
    `${Object.keys(shown.categoryBars).length} category bars, ${Object.keys(strata).length} stratifiers read; screenshot ${screenshot}`);
} finally {
  await context.close();
  rmSync(userDataDir, { recursive: true, force: true });
}
