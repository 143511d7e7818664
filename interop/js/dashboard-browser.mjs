// The success-measures dashboard in a real browser: headless Chromium
// (Debian's chromium package) driven with playwright-core. cmd/signpost's
// TestDashboardInBrowser starts a gateway with seeded navigations, runs
// this script against it, and compares the figures it reports with the
// MeasureReport of Measure/$evaluate-measure for the same filters.
//
// The script sets the filters with the keyboard only, waits for the
// figures, reads what the page shows (the measures table, the routes and
// the heatmap), checks basic accessibility (labels, visible focus, no
// console errors), saves a screenshot, and writes what it read as JSON.
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
    return { measures, routes, allRoutes, heatmap };
  });
  await page.screenshot({ path: screenshot, fullPage: true });
  writeFileSync(outPath, JSON.stringify({
    ...shown, status, focusAfterLoad: focusAfter, problems, consoleErrors,
  }, null, 1));
  console.log(`dashboard: ${Object.keys(shown.measures).length} measures, ${Object.keys(shown.heatmap).length} heatmap cells read; screenshot ${screenshot}`);
} finally {
  await context.close();
  rmSync(userDataDir, { recursive: true, force: true });
}
