// history.test.mjs -- the live page opens with the past drawn (GET /history) and
// shows the oldest live instances with what holds them (GET /instances?oldest=5).
//
//   node --test history.test.mjs       (run by stage 40 with live-page.test.mjs)
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { launchBrowser, pageState, request, startServer, waitFor } from "./lib.mjs";

let server, browser;

before(async () => {
  server = await startServer(["--cache-scope", "global", "--maxsize", "none", "--delay-ms", "0"]);
  for (let i = 0; i < 3; i++) await request(server.port, "POST", "/calculate", { a: i, b: 1 });
  // the server samples once a second: wait until it holds three samples
  await waitFor("three history samples", async () =>
    (await request(server.port, "GET", "/history")).json.samples.length >= 3, 10_000, 200);
  browser = await launchBrowser();
});

after(async () => {
  if (browser) await browser.close();
  if (server) await server.stop();
});

test("a page opened late starts with the server's past drawn", async () => {
  const page = browser.page;
  await page.goto(`http://127.0.0.1:${server.port}/`);
  const s = await waitFor("a first poll", async () => {
    const st = await pageState(page);
    return st.polls >= 1 && st;
  });
  assert.ok(s.historyLoaded >= 3, `history samples loaded: ${s.historyLoaded}`);
  // more points than polls: the past came from /history, not from this page's polls
  assert.ok(s.points.memory > s.polls, `memory chart: ${s.points.memory} points after ${s.polls} polls`);
});

test("the oldest instances are listed with what holds them", async () => {
  const page = browser.page;
  await waitFor("the oldest list", async () => (await page.$$("#oldest li")).length === 3);
  const first = await page.textContent("#oldest li:first-child");
  assert.match(first, /^#1 · /);
  assert.match(first, /held by 1 cache entry$/);
  assert.equal(await page.getAttribute("#kpi-oldest", "data-value") !== "", true);
  assert.match(await page.textContent("#kpi-oldest"), /^\d/);
  // after a clear nothing is alive: the list empties and the tile says so
  await request(server.port, "DELETE", "/cache");
  await waitFor("an empty list", async () => (await page.$$("#oldest li")).length === 0);
  await waitFor("the tile says none", async () => (await page.textContent("#kpi-oldest")) === "none");
});
