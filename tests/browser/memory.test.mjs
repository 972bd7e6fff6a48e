// memory.test.mjs -- what the live page's memory side shows beyond the
// process: the memory limit as a labelled line on the memory chart, the
// cgroup's usage as a series where the server reads one (never setting the
// chart's scale when it is far above the process), the memory guard under
// load (its line, a banner and events while it sheds, shed requests apart
// from the answered ones, tiles whose figures are never cut), and, with
// --cache-backend redis, Redis's memory and key count.
//
// Every assertion is on the page's own data (window.memoscope) and DOM, each
// compared with the /stats the same server answers: never on pixels.
//
//   node --test memory.test.mjs       (run by stage 40 with live-page.test.mjs)
//   MEMOSCOPE_REDIS_SERVER=redis-server  the Redis binary (default: redis-server on PATH)
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { launchBrowser, openWithStats, pageState, request, startLoad, startServer, stats, waitFor } from "./lib.mjs";

const MIB = 1024 * 1024;
const LIMIT_BYTES = 64 * MIB; // --memory-limit 64MiB
const BASE_ARGS = ["--cache-scope", "global", "--maxsize", "none", "--delay-ms", "0", "--threads", "2"];
const REDIS_SERVER = process.env.MEMOSCOPE_REDIS_SERVER || "redis-server";
const REDIS_REQUESTS = 5; // global on redis: one key per request

let browser;
before(async () => {
  browser = await launchBrowser();
});
after(async () => {
  if (browser) await browser.close();
});

/** A fresh tab on the server at `port`, with its script errors collected. */
async function openPage(port) {
  const page = await browser.context.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(e.message));
  await page.goto(`http://127.0.0.1:${port}/`);
  return { page, errors };
}

/** The page's state once it has drawn the memory chart after `polls` polls. */
const drawnAfter = (page, polls) =>
  waitFor(`${polls} polls drawn`, async () => {
    const s = await pageState(page);
    return s.polls >= polls && s.yMax.memory > 0 && s;
  });

describe("with --memory-limit 64MiB", () => {
  let server, tab;
  before(async () => {
    server = await startServer([...BASE_ARGS, "--memory-limit", "64MiB"]);
    tab = await openPage(server.port);
  });
  after(async () => {
    if (tab) await tab.page.close();
    if (server) await server.stop();
  });

  test("the memory chart draws the limit as a labelled line, and its y axis reaches it", async () => {
    const st = await stats(server.port);
    assert.equal(st.memory.limit_bytes, LIMIT_BYTES, "/stats reports the limit given");
    const s = await drawnAfter(tab.page, 2);
    assert.deepEqual(s.levels.memory, [{ label: "limit", value: LIMIT_BYTES, text: "limit 64.0 MiB" }]);
    assert.equal(s.last.limit_bytes, LIMIT_BYTES);
    assert.ok(s.yMax.memory >= LIMIT_BYTES, `y axis tops at ${s.yMax.memory}, below the limit`);
    assert.ok(s.last.rss_bytes < LIMIT_BYTES, "the process is far below its limit here");
    // The legend names it with its value, and the other charts draw no level.
    assert.ok(s.legend.memory.includes("limit"), `memory legend: ${s.legend.memory}`);
    assert.equal(await tab.page.textContent('#chart-memory .legend span[data-level="limit"]'), "limit 64.0 MiB");
    for (const chart of ["instances", "hitRatio", "rps"]) assert.deepEqual(s.levels[chart], [], `${chart} has no level`);
    // No guard: no guard line (above), no shed tile, banner or shed series.
    assert.equal(st.memory.guard_bytes, null);
    assert.ok(await tab.page.isHidden("#tile-shed"));
    assert.ok(await tab.page.isHidden("#guard-banner"));
    assert.ok(!s.legend.rps.includes("shed"), `rps legend: ${s.legend.rps}`);
  });

  test("the cgroup's usage is a series exactly when /stats reports it", async () => {
    const st = await stats(server.port);
    const s = await drawnAfter(tab.page, 3);
    if (st.memory.cgroup_bytes == null) {
      assert.ok(!s.legend.memory.includes("cgroup"), "no cgroup: no legend entry");
      assert.equal(s.last.cgroup_bytes, null);
    } else {
      assert.ok(s.legend.memory.includes("cgroup"), `memory legend: ${s.legend.memory}`);
      assert.ok(s.last.cgroup_bytes > 0);
      const legend = await tab.page.textContent('#chart-memory .legend span[data-series="cgroup"]');
      if (s.offScale.memory.includes("cgroup")) {
        // A cgroup far above the process (a whole machine's): the scale
        // follows the process and its limit; the cgroup says where it is.
        assert.ok(s.last.cgroup_bytes > 2 * LIMIT_BYTES, `cgroup ${s.last.cgroup_bytes} called off the scale`);
        assert.ok(s.yMax.memory < s.last.cgroup_bytes, `y axis ${s.yMax.memory} stretched to the cgroup`);
        assert.equal(s.drawnBy.memory.cgroup, 0, "no point of it drawn, not even flattened at the top");
        assert.match(legend, /above the chart$/);
      } else {
        assert.ok(s.drawnBy.memory.cgroup >= 2, `cgroup points drawn: ${s.drawnBy.memory.cgroup}`);
        assert.doesNotMatch(legend, /above the chart/);
      }
    }
  });

  test("a cgroup far above the process does not set the memory chart's scale; one near it is drawn", async () => {
    // /stats answered here: the real one, its cgroup 1.1 GiB (a whole
    // machine's) on even polls, 80 MiB (a container's own) on odd ones.
    const probe = await openWithStats(browser.context, server.port, (s, polls) => {
      s.memory.cgroup_bytes = polls % 2 ? 80 * MIB : 1126 * MIB;
    });
    try {
      const far = await waitFor("a poll of the far cgroup drawn", async () => {
        const x = await pageState(probe);
        return x.last && x.last.cgroup_bytes === 1126 * MIB && x.yMax.memory > 0 && x;
      });
      assert.deepEqual(far.offScale.memory, ["cgroup"]);
      assert.ok(far.yMax.memory >= LIMIT_BYTES && far.yMax.memory <= 1.5 * LIMIT_BYTES,
        `y axis ${far.yMax.memory}: the limit's, not the cgroup's`);
      const near = await waitFor("then one near the process", async () => {
        const x = await pageState(probe);
        return x.polls > far.polls && x.last.cgroup_bytes === 80 * MIB && x;
      });
      // 1.1 GiB is still in the window: the scale stays the process's.
      assert.deepEqual(near.offScale.memory, ["cgroup"]);
      assert.ok(near.yMax.memory <= 1.5 * LIMIT_BYTES);
    } finally {
      await probe.close();
    }
    const close = await openWithStats(browser.context, server.port, (s) => {
      s.memory.cgroup_bytes = 80 * MIB;
    });
    try {
      const x = await waitFor("a cgroup near the process drawn", async () => {
        const y = await pageState(close);
        return y.drawnBy.memory && y.drawnBy.memory.cgroup >= 2 && y;
      });
      assert.deepEqual(x.offScale.memory, []);
      assert.ok(x.yMax.memory >= 80 * MIB, "the axis reaches it");
    } finally {
      await close.close();
    }
  });

  test("a series switched off in the legend is not drawn, and the limit stays in range", async () => {
    const s0 = await drawnAfter(tab.page, 3);
    // the cgroup where there is one (on a bare machine it may hold a whole
    // desktop, and this is how to keep RSS readable), else the live bytes
    const key = s0.legend.memory.includes("cgroup") ? "cgroup" : "liveBytes";
    const entry = `#chart-memory .legend span[data-series="${key}"]`;
    await tab.page.click(entry);
    const off = await waitFor(`${key} switched off`, async () => {
      const s = await pageState(tab.page);
      return s.off.memory.includes(key) && s.drawnBy.memory[key] === undefined && s;
    });
    assert.equal(await tab.page.getAttribute(entry, "aria-pressed"), "false");
    assert.ok(off.legend.memory.includes(key), "its legend entry stays, to switch it back on");
    assert.ok(off.drawnBy.memory.rss > 0, "the other series are still drawn");
    assert.ok(off.yMax.memory >= LIMIT_BYTES, "the y axis still reaches the limit");
    assert.deepEqual(off.levels.memory.map((l) => l.value), [LIMIT_BYTES]);
    await tab.page.press(entry, "Enter"); // and back on, from the keyboard
    await waitFor(`${key} drawn again`, async () => {
      const s = await pageState(tab.page);
      return s.off.memory.length === 0 && (s.drawnBy.memory[key] > 0 || s.offScale.memory.includes(key));
    });
    assert.equal(await tab.page.getAttribute(entry, "aria-pressed"), "true");
  });

  test("no script error on the page", () => assert.deepEqual(tab.errors, []));
});

/** Every tile figure (.v) and line under it (.s) that does not fit its box:
 *  [] when nothing is cut. */
const cutTiles = (page) => page.evaluate(() =>
  [...document.querySelectorAll(".tile:not([hidden]) .v, .tile:not([hidden]) .s")]
    .filter((e) => e.scrollWidth > e.clientWidth + 1 || e.scrollHeight > e.clientHeight + 1)
    .map((e) => `${e.id}: ${e.textContent}`));

describe("under the memory guard (global/none, --memory-limit 64MiB --memory-guard 0.5)", () => {
  const GUARD_BYTES = LIMIT_BYTES / 2;
  let server, tab, load;
  before(async () => {
    server = await startServer(["--cache-scope", "global", "--maxsize", "none", "--delay-ms", "0", "--threads", "2",
      "--instance-bytes", "16384", "--memory-limit", "64MiB", "--memory-guard", "0.5"]);
    tab = await openPage(server.port);
    await drawnAfter(tab.page, 2); // a poll before the load: the page sees the guard start
    // About 2,000 requests of 16 KiB reach the guard; the rest are shed.
    load = await startLoad(server.port, { concurrency: 8, maxRequests: 6000, maxMs: 20_000 }).done;
  });
  after(async () => {
    if (tab) await tab.page.close();
    if (server) await server.stop();
  });

  test("the server sheds: /stats counts the requests answered 503", async () => {
    const st = await stats(server.port);
    assert.equal(st.memory.guard_bytes, GUARD_BYTES);
    assert.equal(st.memory.guard_shedding, true, "global/none stays above the guard");
    assert.ok(st.memory.guard_shed > 0 && load.failed > 0, `shed ${st.memory.guard_shed}, load ${JSON.stringify(load)}`);
  });

  test("the memory chart draws the guard's line under the limit's, on a scale that follows the process", async () => {
    const s = await waitFor("the shedding drawn", async () => {
      const x = await pageState(tab.page);
      return x.shedding === true && x.yMax.memory > 0 && x;
    });
    assert.deepEqual(s.levels.memory.map((l) => [l.label, l.value]), [["limit", LIMIT_BYTES], ["guard", GUARD_BYTES]]);
    assert.equal(s.last.guard_bytes, GUARD_BYTES);
    assert.ok(s.legend.memory.includes("guard"), `memory legend: ${s.legend.memory}`);
    assert.ok(s.last.rss_bytes >= GUARD_BYTES, `RSS ${s.last.rss_bytes} reached the guard`);
    // The top of the axis: the limit's, whatever the cgroup holds.
    assert.ok(s.yMax.memory >= LIMIT_BYTES && s.yMax.memory <= 1.5 * LIMIT_BYTES, `y axis tops at ${s.yMax.memory}`);
  });

  test("a banner and an event say that it sheds", async () => {
    const s = await pageState(tab.page);
    assert.ok(await tab.page.isVisible("#guard-banner"));
    const text = await tab.page.textContent("#guard-banner");
    assert.match(text, /Shedding load: memory is above the guard, 32\.0 MiB \(50 % of the 64\.0 MiB limit\)/);
    assert.match(text, /answered 503/);
    assert.equal(s.events.filter((e) => e.kind === "shedding").length, 1, `events: ${JSON.stringify(s.events)}`);
    assert.ok(await tab.page.isHidden("#events-none"));
    assert.match(await tab.page.textContent('#events li[data-kind="shedding"]'), /memory above the guard, 32\.0 MiB/);
  });

  test("shed requests are drawn and counted apart from the answered ones", async () => {
    const s = await pageState(tab.page);
    assert.ok(s.legend.rps.includes("rps") && s.legend.rps.includes("shed"), `rps legend: ${s.legend.rps}`);
    assert.ok(s.drawnBy.rps.shed >= 2, `shed points drawn: ${s.drawnBy.rps.shed}`);
    // The tile counts every request shed so far, from the same /stats.
    const tile = await tab.page.evaluate(() => ({
      shed: document.getElementById("kpi-shed").dataset.value, page: window.memoscope.stats.memory.guard_shed,
      hidden: document.getElementById("tile-shed").hidden, rps: document.getElementById("kpi-rps-s").textContent,
    }));
    assert.equal(tile.hidden, false);
    assert.equal(tile.shed, String(tile.page));
    assert.ok(tile.page > 0);
    assert.match(tile.rps, /^answered · \d+ in flight · [\d,]+ other errors$/);
    // The answered rate excludes the shed ones (the load has stopped: both 0).
    assert.ok(s.last.rps >= 0 && s.last.shed_rps >= 0);
  });

  test("no tile figure is cut, on a desktop and on a phone, however large", async () => {
    assert.deepEqual(await cutTiles(tab.page), []);
    // 1.3 billion shed and as many requests (answered by the test).
    const big = await openWithStats(browser.context, server.port, (s, polls) => {
      s.memory.guard_shedding = true;
      s.memory.guard_shed = 1_295_690_123 + polls * 40_000;
      s.requests.total = 1_400_000_000 + polls * 40_000;
      s.requests.errors = s.memory.guard_shed + 12_345;
      s.requests.in_flight = 32;
    });
    try {
      await waitFor("two big polls", async () => (await pageState(big)).polls >= 2);
      for (const width of [1280, 820, 390]) {
        await big.setViewportSize({ width, height: 900 });
        await waitFor(`a poll at ${width} px`, async () => (await pageState(big)).polls >= 3);
        assert.deepEqual(await cutTiles(big), [], `at ${width} px`);
      }
      assert.match(await big.textContent("#kpi-shed"), /^1,29\d,\d{3},\d{3}$/);
    } finally {
      await big.close();
    }
  });

  test("a page opened later reads the shedding from /history", async () => {
    const late = await browser.context.newPage();
    try {
      await late.goto(`http://127.0.0.1:${server.port}/`);
      const s = await waitFor("the history loaded", async () => {
        const x = await pageState(late);
        return x.historyLoaded > 0 && x.polls >= 1 && x.drawnBy.rps.shed > x.polls && x; // more than the polls alone give: the history's
      });
      const shedding = s.events.filter((e) => e.kind === "shedding");
      assert.equal(shedding.length, 1, `events: ${JSON.stringify(s.events)}`);
      assert.ok(shedding[0].t < s.last.t - 1000, "dated when it began, not when the page opened");
    } finally {
      await late.close();
    }
  });

  test("Clear cache brings memory under the guard: the banner goes, and an event says so", async () => {
    await tab.page.click("#clear");
    const s = await waitFor("the recovery", async () => {
      const x = await pageState(tab.page);
      return x.shedding === false && x;
    }, 15_000);
    assert.ok(await tab.page.isHidden("#guard-banner"));
    assert.deepEqual(s.events.filter((e) => e.kind === "shedding" || e.kind === "recovered").map((e) => e.kind),
      ["shedding", "recovered"]);
    // The page saw the guard start (it polled before the load): every
    // request shed since was shed meanwhile.
    const st = await stats(server.port);
    assert.equal(st.memory.guard_shedding, false);
    assert.match(await tab.page.textContent('#events li[data-kind="recovered"]'),
      new RegExp(`below the guard again: requests answered again \\(${st.memory.guard_shed.toLocaleString("en-US")} shed meanwhile\\)`));
  });

  test("no script error on the page", () => assert.deepEqual(tab.errors, []));
});

describe("without a memory limit", () => {
  let server, tab;
  before(async () => {
    server = await startServer(BASE_ARGS);
    tab = await openPage(server.port);
  });
  after(async () => {
    if (tab) await tab.page.close();
    if (server) await server.stop();
  });

  test("the memory chart draws no limit line and has no limit in its legend", async () => {
    const st = await stats(server.port);
    const s = await drawnAfter(tab.page, 2);
    if (st.memory.limit_bytes != null) {
      // A machine whose cgroup has a limit: the page shows that one instead.
      assert.deepEqual(s.levels.memory.map((l) => l.value), [st.memory.limit_bytes]);
      return;
    }
    assert.deepEqual(s.levels.memory, []);
    assert.equal(s.last.limit_bytes, null);
    assert.ok(!s.legend.memory.includes("limit"), `memory legend: ${s.legend.memory}`);
    assert.ok(await tab.page.isHidden('#chart-memory .legend span[data-level="limit"]'));
  });

  test("a limit that appears later is drawn, and one that goes away is removed", async () => {
    // /stats is answered here: the real one, with a limit on every other poll.
    const probe = await openWithStats(browser.context, server.port, (s, polls) => {
      s.memory.limit_bytes = polls % 2 ? 2 * LIMIT_BYTES : null;
    });
    try {
      const withLimit = await waitFor("a poll with a limit drawn", async () => {
        const x = await pageState(probe);
        return x.levels.memory.length === 1 && x;
      });
      assert.equal(withLimit.levels.memory[0].value, 2 * LIMIT_BYTES);
      assert.equal(withLimit.levels.memory[0].text, "limit 128 MiB");
      await waitFor("the next poll, without a limit, drawn", async () => {
        const x = await pageState(probe);
        return x.polls > withLimit.polls && x.levels.memory.length === 0 && !x.legend.memory.includes("limit");
      });
    } finally {
      await probe.close();
    }
  });

  test("with the in-memory backend there are no Redis tiles", async () => {
    await drawnAfter(tab.page, 1);
    assert.ok(await tab.page.isHidden("#tile-redis-mem"));
    assert.ok(await tab.page.isHidden("#tile-redis-keys"));
  });

  test("no script error on the page", () => assert.deepEqual(tab.errors, []));
});

/** Start a private redis-server on a Unix socket in a fresh directory (no
 *  TCP port, no persistence). Resolves to {url, stop()} once it answers. */
async function startRedis() {
  const dir = mkdtempSync(path.join(tmpdir(), "memoscope-redis-"));
  const sock = path.join(dir, "redis.sock");
  const proc = spawn(REDIS_SERVER, ["--port", "0", "--unixsocket", sock, "--save", "", "--appendonly", "no",
    "--dir", dir], { stdio: ["ignore", "ignore", "pipe"] });
  let err = "";
  proc.stderr.on("data", (d) => (err += d));
  const exited = new Promise((resolve) => proc.on("exit", resolve));
  const stop = async () => {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill("SIGTERM");
    await exited;
    rmSync(dir, { recursive: true, force: true });
  };
  const ping = () => new Promise((resolve) => {
    const c = net.createConnection(sock);
    c.on("error", () => resolve(false));
    c.on("data", (d) => { c.destroy(); resolve(String(d).startsWith("+PONG")); });
    c.on("connect", () => c.write("PING\r\n"));
  });
  try {
    await waitFor(`${REDIS_SERVER} on ${sock}`, async () => {
      if (proc.exitCode !== null) throw new Error(`redis-server exited ${proc.exitCode}: ${err}`);
      return ping();
    }, 10_000, 100);
  } catch (e) {
    await stop();
    throw e;
  }
  return { url: "unix://" + sock, stop };
}

describe("with --cache-backend redis", () => {
  let redis, server, tab;
  before(async () => {
    redis = await startRedis();
    server = await startServer([...BASE_ARGS, "--cache-backend", "redis", "--redis-url", redis.url]);
    tab = await openPage(server.port);
  });
  after(async () => {
    if (tab) await tab.page.close();
    if (server) await server.stop();
    if (redis) await redis.stop();
  });

  test("the page shows Redis's memory and our key count from /stats", async () => {
    for (let i = 0; i < REDIS_REQUESTS; i++) {
      const r = await request(server.port, "POST", "/calculate", { a: i, b: 1 });
      assert.equal(r.status, 200);
    }
    // The server samples Redis at most once a second: wait for the keys.
    await waitFor(`/stats to count ${REDIS_REQUESTS} keys`, async () =>
      (await stats(server.port)).backend.keys === REDIS_REQUESTS, 10_000, 200);
    // One read of the page: the tiles and the /stats poll they were drawn from.
    const seen = await waitFor("the page to poll those keys", () => tab.page.evaluate((n) => {
      const be = window.memoscope.stats.backend, v = (id) => document.getElementById(id).dataset.value;
      return be.keys === n && {
        be, keys: v("kpi-redis-keys"), mem: v("kpi-redis-mem"),
        memText: document.getElementById("kpi-redis-mem").textContent,
        hidden: document.getElementById("tile-redis-mem").hidden || document.getElementById("tile-redis-keys").hidden,
      };
    }, REDIS_REQUESTS));
    assert.equal(seen.hidden, false, "both Redis tiles are shown");
    assert.equal(seen.be.kind, "redis");
    assert.equal(seen.keys, String(seen.be.keys));
    assert.equal(seen.mem, String(seen.be.used_memory_bytes));
    assert.ok(seen.be.used_memory_bytes > 0);
    assert.match(seen.memText, /^\d+(\.\d)? (KiB|MiB|GiB)$/);
    assert.match(await tab.page.textContent("#kpi-redis-keys-s"), /^under memoscope: · 0 errors$/);
    assert.match(await tab.page.textContent("#kpi-redis-mem-s"), /^connected$/);
    assert.match(await tab.page.textContent("#headline"), /global scope on Redis/);
  });

  test("no script error on the page", () => assert.deepEqual(tab.errors, []));
});
