// screenshot.mjs -- makes docs/live-page.png: the live page after a minute
// and a half of global scope with no maxsize under a steady load (loopback
// only), with a memory guard at 0.8 of a 320 MiB limit and a clear in the
// middle, so the picture shows the climb to the guard's line, the requests
// shed with 503 while memory stays above it (a band on the charts, the shed
// series), the fall at the clear and the climb again. Not a test; about 90 s.
//
//   node screenshot.mjs [out.png]        (default: ../../docs/live-page.png)
import path from "node:path";
import { launchBrowser, pageState, REPO, startLoad, startServer, waitFor } from "./lib.mjs";

const OUT = path.resolve(process.argv[2] || path.join(REPO, "docs/live-page.png"));
const RATE = 200;          // requests per second, paced: 6.25 MiB/s of 32 KiB instances
const BEFORE_CLEAR_S = 52; // climb to the guard (256 MiB, ~40 s), shed, then clear
const AFTER_CLEAR_S = 25;  // climb again

const server = await startServer(["--cache-scope", "global", "--maxsize", "none", "--delay-ms", "10",
  "--instance-bytes", "32768", "--threads", "2", "--memory-limit", "320MiB", "--memory-guard", "0.8"]);
const browser = await launchBrowser({ width: 1280, height: 900 });
try {
  const { page } = browser;
  await page.goto(`http://127.0.0.1:${server.port}/`);
  await waitFor("a first poll", async () => (await pageState(page)).polls >= 1);
  const load1 = startLoad(server.port, { concurrency: 8, maxRequests: RATE * BEFORE_CLEAR_S, maxMs: (BEFORE_CLEAR_S + 5) * 1000, ratePerS: RATE });
  console.log("load before the clear:", await load1.done);
  await page.click("#clear");
  await waitFor("the clear result", async () => (await page.getAttribute("#clear-out", "data-state")) === "done");
  console.log(await page.textContent("#clear-out"));
  // The picture is taken while the second load still runs, so the tiles show it.
  const polls = (await pageState(page)).polls;
  const load2 = startLoad(server.port, { concurrency: 8, maxRequests: RATE * (AFTER_CLEAR_S + 5), maxMs: (AFTER_CLEAR_S + 10) * 1000, ratePerS: RATE });
  await waitFor("the second climb", async () => (await pageState(page)).polls >= polls + AFTER_CLEAR_S, (AFTER_CLEAR_S + 10) * 1000, 200);
  await page.screenshot({ path: OUT, fullPage: true });
  console.log("load after the clear:", await load2.stop());
  console.log(`saved ${OUT}`);
} finally {
  await browser.close();
  await server.stop();
}
