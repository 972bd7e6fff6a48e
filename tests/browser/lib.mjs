// lib.mjs -- what the browser test and the screenshot script share:
// functions for the browser test and the screenshot script:
// start the real memoscope binary, put a bounded load on it (loopback only),
// poll for conditions with a deadline, and launch Debian's Chromium.
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, existsSync } from "node:fs";
import http from "node:http";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
export const SERVER_BIN = process.env.MEMOSCOPE_BIN || path.join(REPO, "build/server/memoscope");
export const CHROMIUM = process.env.MEMOSCOPE_CHROMIUM || "/usr/bin/chromium";
const HOST = "127.0.0.1"; // every request of these scripts goes to loopback

const STARTUP_TIMEOUT_MS = 10_000;
const STOP_TIMEOUT_MS = 15_000;

/** Poll `probe` (sync or async) until it returns a truthy value; return it.
 *  Throws naming `what` once `timeoutMs` has passed. */
export async function waitFor(what, probe, timeoutMs = 10_000, everyMs = 100) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    try {
      last = await probe();
      if (last) return last;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what} (last: ${last instanceof Error ? last.message : JSON.stringify(last)})`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** Start the server with `args` (port 0 unless given) on loopback. Resolves
 *  to {proc, port, stderr(), stop()} once the startup line names the port. */
export function startServer(args) {
  if (!existsSync(SERVER_BIN)) throw new Error(`no server binary at ${SERVER_BIN} (build it first: ./dev.sh test builds build/)`);
  const full = ["--bind", HOST, ...args];
  if (!args.includes("--port")) full.push("--port", "0");
  const proc = spawn(SERVER_BIN, full, { stdio: ["ignore", "ignore", "pipe"] });
  let err = "";
  const exited = new Promise((resolve) => proc.on("exit", (code, sig) => resolve({ code, sig })));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      proc.kill("SIGKILL");
      reject(new Error(`server gave no port=N line within ${STARTUP_TIMEOUT_MS} ms:\n${err}`));
    }, STARTUP_TIMEOUT_MS);
    proc.stderr.setEncoding("utf8");
    proc.stderr.on("data", (d) => {
      err += d;
      const m = /\bport=(\d+)/.exec(err);
      if (!m) return;
      clearTimeout(timer);
      resolve({
        proc,
        port: Number(m[1]),
        stderr: () => err,
        exited,
        async stop() {
          if (proc.exitCode === null && proc.signalCode === null) proc.kill("SIGTERM");
          const t = setTimeout(() => proc.kill("SIGKILL"), STOP_TIMEOUT_MS);
          const r = await exited;
          clearTimeout(t);
          return r;
        },
      });
    });
    exited.then(({ code, sig }) => {
      clearTimeout(timer);
      reject(new Error(`server exited (code ${code}, signal ${sig}) before listening:\n${err}`));
    });
  });
}

/** One HTTP request to the server; resolves to {status, json}. */
export function request(port, method, pathName, body, agent) {
  return new Promise((resolve, reject) => {
    const data = body == null ? null : Buffer.from(JSON.stringify(body));
    const req = http.request(
      { host: HOST, port, method, path: pathName, agent, timeout: 10_000,
        headers: data ? { "content-type": "application/json", "content-length": data.length } : {} },
      (res) => {
        let text = "";
        res.setEncoding("utf8");
        res.on("data", (c) => (text += c));
        res.on("end", () => {
          try {
            resolve({ status: res.statusCode, json: JSON.parse(text) });
          } catch (e) {
            reject(new Error(`${method} ${pathName}: ${res.statusCode} not JSON: ${text.slice(0, 200)}`));
          }
        });
      });
    req.on("timeout", () => req.destroy(new Error(`${method} ${pathName} timed out`)));
    req.on("error", reject);
    if (data) req.write(data);
    req.end();
  });
}

export const stats = async (port) => (await request(port, "GET", "/stats")).json;

/** A closed-loop load of POST /calculate from `concurrency` keep-alive
 *  connections, bounded by `maxRequests` and `maxMs`, stopped early by
 *  calling stop(). Each request is a batch of the same call twice on one
 *  SlowAdder: one miss, then one hit. Resolves `done` to {ok, failed}. */
export function startLoad(port, { concurrency = 8, maxRequests = 2000, maxMs = 15_000, ratePerS = 0 } = {}) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
  const deadline = Date.now() + maxMs;
  const t0 = Date.now();
  let sent = 0, ok = 0, failed = 0, stopped = false;
  async function worker() {
    while (!stopped && sent < maxRequests && Date.now() < deadline) {
      const i = sent++;
      if (ratePerS > 0) {
        const due = t0 + (i * 1000) / ratePerS; // pace the load to draw a slope, not a step
        if (due > Date.now()) await new Promise((r) => setTimeout(r, due - Date.now()));
      }
      try {
        const call = { a: i, b: 1 };
        const r = await request(port, "POST", "/calculate", { calls: [call, call] }, agent);
        if (r.status === 200) ok++;
        else failed++;
      } catch {
        failed++;
      }
    }
  }
  const done = Promise.all(Array.from({ length: concurrency }, worker)).then(() => {
    agent.destroy();
    return { ok, failed };
  });
  return { done, stop: () => { stopped = true; return done; }, count: () => ({ sent, ok, failed }) };
}

/** Launch Debian's Chromium headless with a fresh profile. Resolves to
 *  {context, page, close()}; never downloads a browser. */
export async function launchBrowser(viewport = { width: 1280, height: 900 }) {
  if (!existsSync(CHROMIUM)) throw new Error(`no browser at ${CHROMIUM} (apt-get install chromium)`);
  const profile = mkdtempSync(path.join(tmpdir(), "memoscope-chromium-"));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    viewport,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
  const page = context.pages()[0] || (await context.newPage());
  return {
    context,
    page,
    async close() {
      await context.close().catch(() => {});
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

/** Open the page in a new tab of `context` with its GET /stats answered by
 *  the test: the server's real /stats, read once, is copied for each poll,
 *  its uptime moved on by a second a poll (so that no poll looks like a
 *  restart), and handed with the poll's number (0, 1, ...) to `edit`, which
 *  changes it in place. Script errors of the tab go to `errors` if given.
 *  Resolves to the tab (the caller closes it). */
export async function openWithStats(context, port, edit, errors) {
  const real = await stats(port);
  let polls = 0;
  const page = await context.newPage();
  if (errors) page.on("pageerror", (e) => errors.push(e.message));
  await page.route("**/stats", (route) => {
    const s = structuredClone(real);
    s.uptime_s = real.uptime_s + polls;
    edit(s, polls++);
    return route.fulfill({ status: 200, contentType: "application/json", body: JSON.stringify(s) + "\n" });
  });
  await page.goto(`http://${HOST}:${port}/`);
  return page;
}

/** The page's read-only state object (window.memoscope). */
export const pageState = (page) => page.evaluate(() => window.memoscope);
