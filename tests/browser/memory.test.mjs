// memory.test.mjs -- what the live page's memory side shows beyond the
// process: the memory limit as a labelled line on the memory chart (issue 14
// point 1), the cgroup's usage as a series where the server reads one, and,
// with --cache-backend redis, Redis's memory and key count (issue 12 point 5).
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
import { launchBrowser, openWithStats, pageState, request, startServer, stats, waitFor } from "./lib.mjs";

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
      assert.ok(s.drawnBy.memory.cgroup >= 2, `cgroup points drawn: ${s.drawnBy.memory.cgroup}`);
    }
  });

  test("a series switched off in the legend is not drawn, and the limit stays in range", async () => {
    const s0 = await drawnAfter(tab.page, 3);
    // the cgroup where there is one (on a bare machine it may hold a whole
    // session, and this is how to keep RSS readable), else the live bytes
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
      return s.off.memory.length === 0 && s.drawnBy.memory[key] > 0;
    });
    assert.equal(await tab.page.getAttribute(entry, "aria-pressed"), "true");
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
