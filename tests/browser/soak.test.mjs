// soak.test.mjs -- an hour of the live page, on a fake clock: the page's
// timers and Date are driven by playwright's clock, one poll per simulated
// second against the real server (under a light loopback load), and the
// page must stay bounded: history, DOM, JS heap, and time to draw.
//
//   MEMOSCOPE_SOAK_S=3600 node --test soak.test.mjs   (run by stage 40 when MEMOSCOPE_LONG=1)
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { launchBrowser, pageState, startLoad, startServer, waitFor } from "./lib.mjs";

const SOAK_S = Number(process.env.MEMOSCOPE_SOAK_S || 3600);
const HISTORY_S = 600;

let server, browser, page;

before(async () => {
  server = await startServer(["--cache-scope", "global", "--maxsize", "2000", "--delay-ms", "0", "--threads", "2"]);
  browser = await launchBrowser();
  page = browser.page;
  await page.clock.install();
  await page.goto(`http://127.0.0.1:${server.port}/`);
});

after(async () => {
  if (browser) await browser.close();
  if (server) await server.stop();
});

let cdp;
/** The browser's own counters for the page (Chrome DevTools protocol). */
async function probe() {
  if (!cdp) {
    cdp = await page.context().newCDPSession(page);
    await cdp.send("Performance.enable");
  }
  await cdp.send("HeapProfiler.collectGarbage");
  const { metrics } = await cdp.send("Performance.getMetrics");
  const m = Object.fromEntries(metrics.map((x) => [x.name, x.value]));
  return { heap: m.JSHeapUsedSize, nodes: m.Nodes, listeners: m.JSEventListeners, taskS: m.TaskDuration, state: await pageState(page) };
}

test(`${SOAK_S} simulated seconds of polling stay bounded`, async () => {
  const load = startLoad(server.port, { concurrency: 2, maxRequests: SOAK_S * 20, maxMs: SOAK_S * 100, ratePerS: 50 });
  let polls = (await pageState(page)).polls;
  let first = null;
  const t0 = Date.now();
  for (let s = 0; s < SOAK_S; s++) {
    await page.clock.runFor(1000);
    polls = await waitFor(`poll ${s}`, async () => {
      const p = (await pageState(page)).polls;
      return p > polls && p;
    }, 10_000, 2);
    if (s === HISTORY_S + 60) first = await probe(); // history full: the steady state starts
  }
  // Main-thread time per poll at full history, measured with a slow probe so
  // that the probing itself costs little.
  const m0 = await probe();
  const QUIET_POLLS = 20;
  for (let i = 0; i < QUIET_POLLS; i++) {
    await page.clock.runFor(1000);
    polls = await waitFor("a quiet poll", async () => {
      const p = await page.evaluate(() => window.memoscope.polls);
      return p > polls && p;
    }, 10_000, 50);
  }
  const m1 = await probe();
  const msPerPoll = ((m1.taskS - m0.taskS) * 1000) / (m1.state.polls - m0.state.polls);
  await load.stop();
  const last = await probe();
  console.log(`# ${SOAK_S} polls in ${((Date.now() - t0) / 1000).toFixed(0)} s real time; samples ${last.state.samples}; ` +
    `DOM nodes ${first && first.nodes} -> ${last.nodes}; listeners ${first && first.listeners} -> ${last.listeners}; JS heap ${first && (first.heap / 1048576).toFixed(1)} -> ${(last.heap / 1048576).toFixed(1)} MiB; ` +
    `points ${JSON.stringify(last.state.points)}; ` +
    `renderer main thread ${msPerPoll.toFixed(2)} ms per poll at full history`);
  assert.ok(last.state.samples <= HISTORY_S + 5, `history holds ${last.state.samples} samples`);
  assert.ok(last.state.points.memory >= HISTORY_S * 0.9, `a full window is kept (${last.state.points.memory} points)`);
  assert.equal(last.state.failures, 0);
  if (first) {
    assert.ok(last.listeners <= first.listeners, `event listeners grew from ${first.listeners} to ${last.listeners}`);
    assert.ok(last.nodes <= first.nodes + 20, `DOM grew from ${first.nodes} to ${last.nodes} nodes`);
    assert.ok(last.heap < first.heap * 1.5 + 4 * 1048576, `JS heap grew from ${first.heap} to ${last.heap}`);
  }
});
