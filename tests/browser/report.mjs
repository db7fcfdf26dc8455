// Drives the `nestioc report` page in headless Chromium (playwright-core, Debian's
// /usr/bin/chromium) and prints what it found as JSON; the Rust test compares that with
// the topology. Run by tests/it/report.rs:
//
//   node report.mjs PAGE.html SCREENSHOT.png SERVICE_TO_CLICK
//
// NODE_PATH must reach playwright-core (the validators' node_modules).
import { createRequire } from "node:module";
import path from "node:path";
import { pathToFileURL } from "node:url";

const require = createRequire(path.join(process.env.NODE_PATH || process.cwd(), "noop.js"));
const { chromium } = require("playwright-core");

const [page_file, screenshot, service] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
  ],
});
const result = { console_errors: [], page_errors: [], requests: [] };
try {
  const context = await browser.newContext({ viewport: { width: 1400, height: 900 } });
  const page = await context.newPage();
  page.on("console", (m) => {
    if (m.type() === "error" || m.type() === "warning") result.console_errors.push(m.text());
  });
  page.on("pageerror", (e) => result.page_errors.push(String(e)));
  const url = pathToFileURL(path.resolve(page_file)).href;
  // Self-contained: the page itself is the only request.
  page.on("request", (r) => {
    if (r.url() !== url) result.requests.push(r.url());
  });
  await page.goto(url, { waitUntil: "load" });
  result.title = await page.title();
  result.nodes = await page.$$eval("svg#topology .node", (ns) => ns.map((n) => n.getAttribute("data-service")));
  result.edges = await page.$$eval("svg#topology .edge", (es) =>
    es.map((e) => ({ from: e.getAttribute("data-from"), to: e.getAttribute("data-to"), class: e.getAttribute("class") })),
  );
  result.node_classes = await page.$$eval("svg#topology .node", (ns) =>
    Object.fromEntries(ns.map((n) => [n.getAttribute("data-service"), n.getAttribute("class")])),
  );
  result.visible_cards_before = await page.$$eval(".card", (cs) => cs.filter((c) => !c.hidden).length);
  await page.click(`svg#topology .node[data-service="${service}"]`);
  result.visible_cards = await page.$$eval(".card", (cs) =>
    cs.filter((c) => !c.hidden && c.offsetParent !== null).map((c) => c.getAttribute("data-service")),
  );
  result.card_text = await page.$eval(`#card-${service}`, (c) => c.innerText);
  result.selected = await page.$$eval(".node.selected", (ns) => ns.map((n) => n.getAttribute("data-service")));
  result.related_edges = await page.$$eval(".edge.related", (es) => es.length);
  // A link in the card selects the service it names.
  const link = await page.$(`#card-${service} a[data-select]`);
  if (link) {
    result.link_target = await link.getAttribute("data-select");
    await link.click();
    result.after_link = await page.$$eval(".card", (cs) =>
      cs.filter((c) => !c.hidden).map((c) => c.getAttribute("data-service")),
    );
  }
  await page.click(`svg#topology .node[data-service="${service}"]`);
  await page.screenshot({ path: screenshot, fullPage: true });
} finally {
  await browser.close();
}
console.log(JSON.stringify(result));
