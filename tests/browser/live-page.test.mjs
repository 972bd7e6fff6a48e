// live-page.test.mjs -- the live page (GET /) in a real browser.
//
// Starts the real server in global scope with no maxsize (the leak), opens
// the page in Debian's headless Chromium, puts a short bounded load on the
// server from here (loopback only), and checks what a person would see:
// the four charts get points, the clear button frees the instances, the page
// rides out a server restart, and it fits a phone's width.
//
//   node --test live-page.test.mjs       (or: npm test)
//   MEMOSCOPE_BIN=path/to/memoscope      server binary (default build/server/memoscope)
//   MEMOSCOPE_SCREENSHOT=out.png         where to save the screenshot
//                                        (default /tmp/memoscope-live-page.png;
//                                        the phone one gets a -phone suffix)
import assert from "node:assert/strict";
import { statSync } from "node:fs";
import { after, before, test } from "node:test";
import { launchBrowser, openWithStats, pageState, request, startLoad, startServer, stats, waitFor } from "./lib.mjs";

const SHOT = process.env.MEMOSCOPE_SCREENSHOT || "/tmp/memoscope-live-page.png";
const PHONE_SHOT = SHOT.replace(/(\.png)?$/, "-phone.png");
const SERVER_ARGS = ["--cache-scope", "global", "--maxsize", "none", "--delay-ms", "0",
  "--instance-bytes", "16384", "--threads", "2"];
const INSTANCE_BYTES = 16384;

let server, browser, page, port;
const pageErrors = [];

before(async () => {
  server = await startServer(SERVER_ARGS);
  port = server.port;
  browser = await launchBrowser();
  page = browser.page;
  page.on("pageerror", (e) => pageErrors.push(e.message));
  await page.goto(`http://127.0.0.1:${port}/`);
});

after(async () => {
  if (browser) await browser.close();
  if (server) await server.stop();
});

test("the page names the scope and shows the settings from /stats", async () => {
  await waitFor("a first poll", async () => (await pageState(page)).polls >= 1);
  assert.equal(await page.getAttribute("#conn", "data-state"), "live");
  assert.equal(await page.getAttribute("#headline", "data-scope"), "global");
  assert.match(await page.textContent("#headline"), /global scope: every request’s SlowAdder stays alive/);
  const settings = await page.textContent("#settings");
  assert.match(settings, /maxsize none/);
  assert.match(settings, /delay 0 ms/);
  assert.match(settings, /instance 16\.0 KiB/);
});

let loaded; // requests the load completed, all of which stay alive (global, no maxsize)

test("under load the four charts receive points", async () => {
  const before0 = await pageState(page);
  const load = startLoad(port, { concurrency: 8, maxRequests: 6000, maxMs: 15_000, ratePerS: 400 });
  // Keep the load on until the page has drawn at least three polls taken under it.
  const seen = await waitFor("three polls under load with a request rate and a hit ratio", async () => {
    const s = await pageState(page);
    return s.polls >= before0.polls + 3 && s.last.rps > 0 && s.last.hit_ratio != null && s;
  }, 15_000);
  const { ok, failed } = await load.stop();
  assert.equal(failed, 0, "every POST /calculate succeeded");
  assert.ok(ok > 0);
  loaded = ok;

  // Each request was one miss and one hit on its own SlowAdder: about half.
  assert.ok(seen.last.hit_ratio > 0.3 && seen.last.hit_ratio < 0.7, `hit ratio ${seen.last.hit_ratio}`);

  // The page catches up with the server once the load has stopped.
  const s = await waitFor("the page to show the live count /stats gives", async () => {
    const st = await pageState(page);
    return st.last.live === ok && st;
  });
  for (const chart of ["memory", "instances", "hitRatio", "rps"]) {
    assert.ok(s.points[chart] >= 3, `${chart} chart has ${s.points[chart]} points`);
    assert.ok(s.drawn[chart] >= 3, `${chart} chart drew ${s.drawn[chart]} points`);
  }
  assert.ok(s.drawn.memory >= 2 * s.points.memory - 2, "both memory lines are drawn");
  assert.ok(s.last.live_bytes >= ok * INSTANCE_BYTES, "live bytes count every payload");
  assert.ok(s.last.rss_bytes >= s.last.live_bytes, "payloads are resident");

  // What a person reads in the tiles.
  assert.equal(await page.getAttribute("#kpi-live", "data-value"), String(ok));
  assert.equal(await page.textContent("#kpi-live"), new Intl.NumberFormat("en-US").format(ok));
  assert.match(await page.textContent("#kpi-rss"), /^\d+(\.\d)? (KiB|MiB|GiB)$/);
});

test("the clear button frees the instances (global scope)", async () => {
  const st0 = await stats(port);
  assert.equal(st0.instances.live, loaded, "global scope with no maxsize kept every instance");
  assert.equal(st0.requests.in_flight, 0);

  await page.click("#clear");
  await waitFor("the clear result", async () => (await page.getAttribute("#clear-out", "data-state")) === "done");
  const freed = Number(await page.getAttribute("#clear-out", "data-instances"));
  assert.equal(freed, loaded, "DELETE /cache freed every instance the cache held");
  assert.match(await page.textContent("#clear-out"), new RegExp(`Freed [\\d,]+ cache entries and ${new Intl.NumberFormat("en-US").format(loaded)} SlowAdders`));

  const st1 = await stats(port);
  assert.equal(st1.instances.live, 0, "/stats: nothing is live once the cache is cleared");
  assert.equal(st1.cache.currsize, 0);
  assert.equal(st1.requests.errors, 0, "the page's own requests (polls, clear, icon) raised no error");

  const s = await waitFor("the page to show the fall", async () => {
    const st = await pageState(page);
    return st.last.live === 0 && st;
  });
  assert.equal(await page.getAttribute("#kpi-live", "data-value"), "0");
  assert.ok(s.events.some((e) => e.kind === "cleared"), "the clear is marked on the charts");
  assert.ok(s.lastClear.instances_freed === loaded);
});

test("a screenshot is saved", async () => {
  // A short second burst, so the picture shows the climb after the clear.
  const { ok, failed } = await startLoad(port, { concurrency: 4, maxRequests: 400, maxMs: 5_000, ratePerS: 400 }).done;
  assert.equal(failed, 0);
  await waitFor("the page to show the new instances", async () => (await pageState(page)).last.live === ok);
  await page.screenshot({ path: SHOT, fullPage: true });
  assert.ok(statSync(SHOT).size > 10_000, `${SHOT} is a real picture`);
  console.log(`# screenshot: ${SHOT}`);
});

test("the page rides out a server restart", async () => {
  const polls0 = (await pageState(page)).polls;
  const { code } = await server.stop();
  assert.equal(code, 0, "SIGTERM: the server exits 0");
  await waitFor("the page to say disconnected", async () => (await page.getAttribute("#conn", "data-state")) === "disconnected");
  assert.match(await page.textContent("#conn"), /disconnected/);

  // Same port, so the page (same origin) finds the new process.
  server = await waitFor("the server back on the same port", () =>
    startServer([...SERVER_ARGS, "--port", String(port)]).catch(() => null), 15_000, 250);
  const s = await waitFor("the page to reconnect and mark the restart", async () => {
    const st = await pageState(page);
    return st.connected && st.restarts >= 1 && st.polls > polls0 && st;
  }, 10_000);
  assert.equal(await page.getAttribute("#conn", "data-state"), "live");
  const kinds = s.events.map((e) => e.kind);
  for (const k of ["disconnected", "reconnected", "restarted"]) assert.ok(kinds.includes(k), `event ${k} in ${kinds}`);
  assert.equal(s.last.live, 0, "a new process starts with no instance");
  assert.ok((await page.textContent("#events")).includes("restarted"));
});

test("on a phone's width the page does not scroll sideways and still draws", async () => {
  await page.setViewportSize({ width: 390, height: 844 });
  const polls0 = (await pageState(page)).polls;
  await waitFor("a poll at the new size", async () => (await pageState(page)).polls > polls0);
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 0, `page is ${overflow}px wider than the screen`);
  const widths = await page.$$eval("canvas", (cs) => cs.map((c) => c.getBoundingClientRect().width));
  for (const w of widths) assert.ok(w > 250 && w <= 390, `chart width ${w}`);
  const s = await pageState(page);
  for (const chart of ["memory", "instances"]) assert.ok(s.drawn[chart] > 0, `${chart} drawn at 390 px`);
  await page.screenshot({ path: PHONE_SHOT, fullPage: true });
  console.log(`# phone screenshot: ${PHONE_SHOT}`);
});

test("the hit ratio counts a coalesced wait once (64 requests for one key: 63 ÷ 64)", async () => {
  // /stats is answered here, from a real one whose cache figures grow each
  // poll as 64 concurrent requests for one key make them grow in shared
  // scope: misses +1, hits +63, of which coalesced +63 (hits include them).
  const probe = await openWithStats(browser.context, port, (s, polls) => {
    s.cache = { ...s.cache, hits: 63 * polls, misses: polls, coalesced: 63 * polls };
  });
  try {
    const st = await waitFor("a hit ratio from two polls", async () => {
      const x = await pageState(probe);
      return x.last && x.last.hit_ratio != null && x;
    });
    assert.equal(st.last.hit_ratio, 63 / 64);
    assert.equal(await probe.textContent("#kpi-hit"), "98.4 %");
  } finally {
    await probe.close();
  }
});

test("the headline explains weak scope, and global scope with a TTL or a byte bound", async () => {
  // /stats is answered here with the real figures and another configuration.
  const cases = [
    [{ cache_scope: "weak", maxsize: 128 }, "weak", /weak scope: one cache for every request whose entries leave with their SlowAdder/, []],
    [{ cache_scope: "global", maxsize: null, ttl_s: 2 }, "global", /global scope, ttl 2 s: each request’s SlowAdder stays alive until its entry expires 2 s after it was stored/, [/ttl 2 s/]],
    [{ cache_scope: "global", maxsize: null, maxbytes: 8 * 1024 * 1024 }, "global", /global scope, maxbytes 8\.0 MiB: the cache evicts until the SlowAdders its entries hold fit in 8\.0 MiB/, [/maxbytes 8\.0 MiB/]],
  ];
  for (const [config, scope, headline, chips] of cases) {
    const errors = [];
    const probe = await openWithStats(browser.context, port,
      (s) => Object.assign(s, { maxbytes: null, ttl_s: null }, config), errors);
    try {
      await waitFor(`the ${scope} headline`, async () => (await probe.getAttribute("#headline", "data-scope")) === scope);
      assert.match(await probe.textContent("#headline"), headline);
      assert.ok((await probe.textContent("#lede")).length > 40, "a lede under the headline");
      const settings = await probe.textContent("#settings");
      for (const chip of chips) assert.match(settings, chip);
      assert.deepEqual(errors, []);
    } finally {
      await probe.close();
    }
  }
});

test("no script error on the page", () => {
  assert.deepEqual(pageErrors, []);
});
