#!/usr/bin/env python3
"""run.py -- load-test memoscope in every cache scope and write a report.

    python3 loadtest/run.py [options]       (loadtest/run.sh installs, builds, then runs this)

For each scope in --scopes it starts a fresh server on 127.0.0.1 with
--port 0 (reading the port from the startup line), samples /stats a few
times while idle, runs wrk (loadtest/calculate.lua) for --duration seconds
while sampling /stats every --sample-ms into stats-LABEL.csv, waits for the
requests in flight to finish, stops the server with SIGTERM and checks that
it exits 0. Then it writes run.json and, through report.py, report.md and
the PNG plots into --out.

Only 127.0.0.1 is ever targeted. Servers and wrk run in their own sessions
(Ctrl-C reaches only this runner, which then stops them in order) and are
killed by the kernel if the runner dies without cleaning up.
"""

import argparse
import datetime
import http.client
import json
import os
import platform
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time

# No __pycache__ in the source tree.
sys.dont_write_bytecode = True
import procs  # noqa: E402
import report  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
HOST = "127.0.0.1"  # the only address this kit sends traffic to

# Seconds per scope are chosen so that every claim of the report can be shown
# within about two minutes on two cores: local and off must serve 200,000
# requests after warm-up at about connections / delay = 160 / 20 ms = 8,000
# req/s (7,200 measured with other work on the machine), while shared, whose
# hits do not wait, serves several times that; shared, global:128 and
# global:none show their point in a few seconds.
DEFAULT_SCOPES = (
    "global:128@6,global:none@12,local@44,shared@6,off@44,"
    "global-ttl@12,global-maxbytes@6,global-128-64KiB@6,weak@44,"
    + ",".join(["global-none-growth@60,shared-128-growth@60"] * 3)
)
SCOPES = ("global", "local", "shared", "off", "weak")

# Named scopes with settings of their own (anything not given here comes from
# the run's options). global-ttl: a TTL bounds the leak by time, at about
# request rate x ttl instances. global-maxbytes and global-128-64KiB: the same
# 64 KiB instances under a byte bound and under an entry bound; 4 MiB is half
# of what 128 such instances take, so the two bounds differ (with 8 MiB, 128
# of them would sit right on the byte bound and show nothing). The -growth
# pair: distinct keys with no delay and no payload, so that the unbounded
# global cache grows by millions of entries in a minute while the bounded
# shared one stays small; their p99.9 tell whether growing stalls requests.
# The pair runs three times, one after the other (G S G S G S), each a 60 s
# run from an empty cache: the claim takes the median of the three ratios, so
# that a neighbour's burst on the shared machine during one 60 s window does
# not decide it (one pair failed 2 runs of 6 on a loaded machine, with equal
# slowest answers: no pause, only noise). A preset given again gets the
# label <name>-2, <name>-3 ...
TTL_S = 2
MAXBYTES = 4 * 1024 * 1024
BIG_INSTANCE_BYTES = 64 * 1024
PRESETS = {
    "global-ttl": {"scope": "global", "maxsize": None, "ttl_s": TTL_S},
    "global-maxbytes": {
        "scope": "global", "maxsize": None, "maxbytes": MAXBYTES,
        "instance_bytes": BIG_INSTANCE_BYTES,
    },
    "global-128-64KiB": {"scope": "global", "maxsize": 128, "instance_bytes": BIG_INSTANCE_BYTES},
    "global-none-growth": {
        "scope": "global", "maxsize": None, "instance_bytes": 0, "delay_ms": 0, "distinct": True,
    },
    "shared-128-growth": {
        "scope": "shared", "maxsize": 128, "instance_bytes": 0, "delay_ms": 0, "distinct": True,
    },
}  # fmt: skip
AFTER_GRACE_S = 1.0  # with a TTL: watch the idle server this long past the TTL after the load
DEFAULT_WARMUP_S = 3.0  # left out of the fits (or a quarter of a shorter run)
LONG_SCALE = 5  # MEMOSCOPE_LONG=1 multiplies every scope's seconds by this
STARTUP_TIMEOUT_S = 10  # for the startup line and the first /healthz
DRAIN_TIMEOUT_S = 15  # for requests in flight to finish after wrk stops
STOP_TIMEOUT_S = 15  # for the server to exit after SIGTERM (it allows 10 s)
WRK_GRACE_S = 30  # wrk is killed if it runs this long past --duration
IDLE_SAMPLES = 3  # /stats samples before the load, for "RSS at start"
STATS_TIMEOUT_S = 2.0  # one /stats request under load


class Interrupted(Exception):
    """Raised from the SIGTERM/SIGHUP handler, like KeyboardInterrupt for SIGINT."""


def say(msg):
    print(f"loadtest: {msg}", file=sys.stderr, flush=True)


# --------------------------------------------------------------- children
# Servers and wrk: procs.spawn() starts each in its own session, to die with
# the runner; procs.stop() stops one by its PID, procs.stop_all() the rest.


def _on_signal(signum, frame):
    raise Interrupted(signal.Signals(signum).name)


# ------------------------------------------------------------------ stats


class StatsClient:
    """GET /stats over one keep-alive connection, reconnecting on error."""

    def __init__(self, port):
        self.port = port
        self.conn = None
        self.failures = 0

    def get(self, path="/stats"):
        """Returns (status, parsed JSON or None)."""
        for attempt in (1, 2):
            try:
                if self.conn is None:
                    self.conn = http.client.HTTPConnection(HOST, self.port, timeout=STATS_TIMEOUT_S)
                self.conn.request("GET", path)
                r = self.conn.getresponse()
                body = r.read()
                return r.status, json.loads(body) if body else None
            except (OSError, http.client.HTTPException, ValueError):
                self.close()
                if attempt == 2:
                    raise

    def sample(self):
        """One /stats object, or None (counted in failures) if it failed."""
        try:
            status, stats = self.get()
            if status == 200:
                return stats
        except (OSError, http.client.HTTPException, ValueError):
            pass
        self.failures += 1
        return None

    def close(self):
        if self.conn is not None:
            self.conn.close()
            self.conn = None


def cpu_seconds(pid):
    """utime + stime of a process, in seconds, from /proc."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# ------------------------------------------------------------------- runs


def parse_scopes(text, default_maxsize, default_seconds):
    """"global:128@8,global:none,local,global-ttl" -> [{"scope", "maxsize",
    "label", "duration_s", ...}]. maxsize None means unbounded; an entry
    without @seconds gets default_seconds. A name from PRESETS brings its own
    settings (ttl_s, maxbytes, instance_bytes, delay_ms, distinct) and takes
    no :maxsize. Raises ValueError on a bad entry."""
    out = []
    for item in text.split(","):
        spec, _, secs = item.strip().partition("@")
        name, _, size = spec.partition(":")
        preset = PRESETS.get(name)
        if preset is None and name not in SCOPES:
            raise ValueError(
                f"unknown scope {name!r} in --scopes (want one of {', '.join(SCOPES)}, "
                f"or {', '.join(PRESETS)})"
            )
        if preset is not None and size:
            raise ValueError(f"{name} has its own maxsize; give it without :{size}")
        if preset is not None:
            maxsize, label = preset["maxsize"], name
            k = sum(1 for o in out if o.get("preset") == name) + 1
            if k > 1 and preset.get("distinct"):
                label = f"{name}-{k}"  # a repeat of the growth pair
        elif size == "":
            maxsize, label = default_maxsize, name
        elif size == "none":
            maxsize, label = None, f"{name}-none"
        elif size.isdigit():
            maxsize, label = int(size), f"{name}-{int(size)}"
        else:
            raise ValueError(f"bad maxsize {size!r} in --scopes (want a number or none)")
        try:
            seconds = float(secs) if secs else default_seconds
        except ValueError:
            seconds = 0
        if not seconds or seconds <= 0:
            raise ValueError(f"bad seconds {secs!r} in --scopes (want a positive number)")
        if any(o["label"] == label for o in out):
            raise ValueError(f"scope {label} given twice in --scopes")
        entry = {"scope": name, "maxsize": maxsize, "label": label, "duration_s": seconds}
        if preset is not None:
            entry.update(preset, preset=name)
        out.append(entry)
    return out


def wait_for_port(server, log_path, deadline):
    """Reads the startup line from the server's log. Returns (port, line)."""
    while time.monotonic() < deadline:
        with open(log_path, errors="replace") as f:
            for line in f:
                m = re.search(r"\bport=(\d+)", line)
                if m:
                    return int(m.group(1)), line.strip()
        if server.poll() is not None:
            break
        time.sleep(0.05)
    with open(log_path, errors="replace") as f:
        tail = f.read()[-2000:]
    raise RuntimeError(f"server gave no port= line (exit {server.poll()}):\n{tail}")


def wait_healthy(client, server, deadline):
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"server exited with {server.returncode} at startup")
        try:
            if client.get("/healthz")[0] == 200:
                return
        except (OSError, http.client.HTTPException, ValueError):
            pass
        time.sleep(0.05)
    raise RuntimeError("server did not answer /healthz in time")


def run_scope(a, sc, out_dir):
    """Runs one scope. Returns its run.json entry; writes stats-LABEL.csv,
    server-LABEL.log and wrk-LABEL.txt into out_dir."""
    label = sc["label"]
    entry = dict(sc, csv=f"stats-{label}.csv")
    entry.setdefault("delay_ms", a.delay_ms)
    entry.setdefault("instance_bytes", a.instance_bytes)
    cmd = [
        a.server, "--port", "0", "--bind", HOST,
        "--cache-scope", sc["scope"],
        "--maxsize", "none" if sc["maxsize"] is None else str(sc["maxsize"]),
        "--delay-ms", str(entry["delay_ms"]), "--instance-bytes", str(entry["instance_bytes"]),
    ]  # fmt: skip
    if entry.get("ttl_s") is not None:
        cmd += ["--ttl-s", f"{entry['ttl_s']:g}"]
    if entry.get("maxbytes") is not None:
        cmd += ["--maxbytes", str(entry["maxbytes"])]
    if a.threads:
        cmd += ["--threads", str(a.threads)]
    # The flags say everything: no MEMOSCOPE_* setting of the caller leaks in.
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEMOSCOPE_")}
    log_path = os.path.join(out_dir, f"server-{label}.log")
    entry["server_cmd"] = shlex.join(cmd)
    say(f"{label}: {entry['server_cmd']}")

    rows = []
    with open(log_path, "w") as log:
        server = procs.spawn(cmd, log, env)
    port, entry["startup_line"] = wait_for_port(
        server, log_path, time.monotonic() + STARTUP_TIMEOUT_S
    )
    client = StatsClient(port)
    wait_healthy(client, server, time.monotonic() + STARTUP_TIMEOUT_S)

    def take(t, phase):
        stats = client.sample()
        if stats is not None:
            rows.append(report.stats_row(t, phase, stats))
        return stats

    for i in range(IDLE_SAMPLES):
        take(-(IDLE_SAMPLES - i) * a.sample_ms / 1000, "idle")
        time.sleep(a.sample_ms / 1000)

    max_delay_s = max(entry["delay_ms"], a.body_delay_ms or 0) / 1000
    wrk_timeout = max(5, int(max_delay_s * 3 + 5))
    wrk_cmd = [
        a.wrk, f"-t{a.wrk_threads}", f"-c{a.connections}", f"-d{sc['duration_s']:g}s",
        f"--timeout={wrk_timeout}s", "-s", os.path.join(HERE, "calculate.lua"),
        f"http://{HOST}:{port}", "--",
        f"keys={a.keys}", f"batch={a.batch}", f"seed={a.seed}",
    ]  # fmt: skip
    if entry.get("distinct"):
        wrk_cmd.append("distinct=1")
    if a.body_delay_ms is not None:
        wrk_cmd.append(f"delay_ms={a.body_delay_ms}")
    entry["wrk_cmd"] = shlex.join(wrk_cmd)
    wrk_path = os.path.join(out_dir, f"wrk-{label}.txt")

    cpu0 = cpu_seconds(server.pid)
    with open(wrk_path, "w") as wout:
        wrk = procs.spawn(wrk_cmd, wout)
    t0 = time.monotonic()
    tick = a.sample_ms / 1000
    next_t = t0
    stopped_early = False
    while wrk.poll() is None:
        now = time.monotonic()
        if now - t0 > sc["duration_s"] + WRK_GRACE_S:
            procs.stop(wrk, signal.SIGKILL, 5)
            raise RuntimeError("wrk ran far past its duration and was killed")
        stats = take(now - t0, "load")
        if server.poll() is not None:
            break
        if (
            stats is not None
            and not stopped_early
            and stats["memory"]["rss_bytes"] > a.rss_cap_mib * report.MiB
        ):
            # wrk prints its figures when interrupted.
            say(f"{label}: RSS above --rss-cap-mib {a.rss_cap_mib}: stopping wrk early")
            wrk.send_signal(signal.SIGINT)
            stopped_early = True
        next_t += tick
        time.sleep(max(0.0, next_t - time.monotonic()))
    procs.stop(wrk, signal.SIGTERM, 5)
    if server.poll() is not None:
        raise RuntimeError(f"server died under load with status {server.returncode}; see {log_path}")

    # Drain: requests in flight when wrk closed its connections still finish.
    deadline = time.monotonic() + DRAIN_TIMEOUT_S
    while True:
        stats = take(time.monotonic() - t0, "drain")
        if stats is not None and stats["requests"]["in_flight"] == 0:
            break
        if time.monotonic() > deadline:
            say(f"{label}: requests still in flight after {DRAIN_TIMEOUT_S} s")
            break
        time.sleep(tick)
    # With a TTL, expired entries leave without traffic: watch the idle server
    # until no instance is alive, or the TTL and a grace have passed.
    if entry.get("ttl_s"):
        deadline = time.monotonic() + entry["ttl_s"] + AFTER_GRACE_S
        while stats is None or stats["instances"]["live"] > 0:
            if time.monotonic() > deadline:
                break
            time.sleep(tick)
            stats = take(time.monotonic() - t0, "after")
    entry["cpu_s"] = round(cpu_seconds(server.pid) - cpu0, 3)
    client.close()

    status, killed = procs.stop(server, signal.SIGTERM, STOP_TIMEOUT_S)
    entry["exit_status"] = "killed after timeout" if killed else status
    entry["stopped_early"] = stopped_early
    entry["failed_samples"] = client.failures
    entry["wrk"] = parse_wrk(wrk_path)

    with open(os.path.join(out_dir, entry["csv"]), "w", newline="") as f:
        f.write(",".join(report.CSV_COLUMNS) + "\n")
        for r in rows:
            f.write(",".join(str(r[c]) for c in report.CSV_COLUMNS) + "\n")
    w = entry["wrk"] or {}
    say(
        f"{label}: {w.get('requests', '?')} requests, server exit {entry['exit_status']}, "
        f"{len(rows)} samples"
    )
    return entry


def parse_wrk(path):
    """The JSON of calculate.lua's done() line in wrk's output, or None."""
    with open(path, errors="replace") as f:
        for line in f:
            if line.startswith("LOADTEST_JSON "):
                return json.loads(line[len("LOADTEST_JSON ") :])
    return None


def describe_machine():
    model = "?"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return f"{os.cpu_count()} CPUs ({model}), Linux {platform.release()}"


def git_commit():
    try:
        return subprocess.run(
            ["git", "-C", REPO, "describe", "--always", "--dirty"],
            capture_output=True, text=True, check=True,
        ).stdout.strip()  # fmt: skip
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


# ------------------------------------------------------------------- main


def parse_args(argv):
    long_run = os.environ.get("MEMOSCOPE_LONG") == "1"
    ap = argparse.ArgumentParser(
        prog="loadtest/run.sh",
        description="Load-test memoscope in each cache scope and write a report "
        "(report.md, PNG plots, CSVs). Only 127.0.0.1 is targeted.",
    )
    ap.add_argument("--server", default=os.path.join(REPO, "build/server/memoscope"),
                    help="the memoscope binary (default: build/server/memoscope)")
    ap.add_argument("--out", help="report folder (default: loadtest/reports/<time>)")
    ap.add_argument("--scopes", default=DEFAULT_SCOPES,
                    help="comma list of scope[:maxsize|:none][@seconds], scope one of "
                    f"{', '.join(SCOPES)}, or one of the named scopes {', '.join(PRESETS)} "
                    "(default: %(default)s)")
    ap.add_argument("--duration", type=float, default=None,
                    help="seconds of load for every scope (default: each scope's @seconds); "
                    "wrk takes whole seconds: a fraction (here, from --scale or @seconds) "
                    "is rounded, and said")
    ap.add_argument("--scale", type=float, default=LONG_SCALE if long_run else 1,
                    help="multiply every scope's seconds (default 1; "
                    f"{LONG_SCALE} with MEMOSCOPE_LONG=1)")
    ap.add_argument("--connections", type=int, default=160, help="wrk connections (default 160)")
    ap.add_argument("--delay-ms", type=int, default=20, help="server --delay-ms (default 20)")
    ap.add_argument("--instance-bytes", type=int, default=4096,
                    help="server --instance-bytes (default 4096)")
    ap.add_argument("--maxsize", type=int, default=128,
                    help="maxsize for a scope given without one (default 128)")
    ap.add_argument("--threads", type=int, default=0,
                    help="server --threads (default: the server's own default)")
    ap.add_argument("--keys", type=int, default=10,
                    help="a and b drawn from 0..keys-1 (default 10: 100 pairs)")
    ap.add_argument("--batch", type=int, default=1, help="calls per request, 1..64 (default 1)")
    ap.add_argument("--body-delay-ms", type=int, default=None,
                    help='send "delay_ms" in each body (default: not sent)')
    ap.add_argument("--wrk-threads", type=int, default=1, help="wrk threads (default 1)")
    ap.add_argument("--seed", type=int, default=1, help="wrk script random seed (default 1)")
    ap.add_argument("--sample-ms", type=int, default=200, help="/stats period (default 200)")
    ap.add_argument("--warmup", type=float, default=DEFAULT_WARMUP_S,
                    help="seconds of load left out of the fits (default %(default)g, "
                    "or a quarter of a shorter run)")
    ap.add_argument("--rss-cap-mib", type=int, default=4096,
                    help="stop a scope's load early when the server's RSS passes this "
                    "(default 4096: the unbounded global cache grows without end)")
    ap.add_argument("--wrk", default=shutil.which("wrk") or "wrk", help="the wrk binary")
    ap.add_argument("--no-plots", action="store_true", help="skip gnuplot")
    ap.add_argument("--check", action="store_true",
                    help="exit 3 when a claim of the report fails")
    a = ap.parse_args(argv)
    if not 1 <= a.batch <= 64:
        ap.error("--batch must be 1..64")
    for name in ("connections", "keys", "wrk_threads", "sample_ms", "scale"):
        if getattr(a, name) <= 0:
            ap.error(f"--{name.replace('_', '-')} must be positive")
    if a.delay_ms < 0 or a.instance_bytes < 0 or a.warmup < 0:
        ap.error("--delay-ms, --instance-bytes and --warmup must not be negative")
    if a.connections < a.wrk_threads:
        ap.error("--connections must be at least --wrk-threads")
    if a.duration is not None and a.duration <= 0:
        ap.error("--duration must be positive")
    try:
        a.scope_list = parse_scopes(a.scopes, a.maxsize, a.duration or 20)
    except ValueError as e:
        ap.error(str(e))
    for sc in a.scope_list:
        if a.duration is not None:
            sc["duration_s"] = a.duration
        # wrk takes whole seconds (-d1.5s is refused with its usage text):
        # a fraction from --duration, --scale or @seconds is rounded, and said.
        asked = sc["duration_s"] * a.scale
        sc["duration_s"] = max(1, int(asked + 0.5))
        if abs(asked - sc["duration_s"]) > 1e-9:
            print(f"loadtest: {sc['label']}: {asked:g} s of load rounded to {sc['duration_s']} s "
                  "(wrk takes whole seconds)", file=sys.stderr)
        sc["warmup_s"] = round(min(a.warmup, sc["duration_s"] / 4), 3)
    if not (os.path.isfile(a.server) and os.access(a.server, os.X_OK)):
        ap.error(f"no server binary at {a.server} (build it, or pass --server)")
    if shutil.which(a.wrk) is None:
        ap.error(f"wrk not found ({a.wrk}); apt-get install wrk")
    return a


def main(argv):
    a = parse_args(argv)
    started = datetime.datetime.now(datetime.timezone.utc)
    out_dir = a.out or os.path.join(REPO, "loadtest/reports", started.strftime("%Y%m%d-%H%M%S"))
    os.makedirs(out_dir, exist_ok=True)
    command = os.environ.get("LOADTEST_COMMAND") or shlex.join(["python3", "loadtest/run.py"] + argv)
    run = {
        "command": command,
        "started": started.strftime("%Y-%m-%d %H:%M UTC"),
        "machine": describe_machine(),
        "commit": git_commit(),
        "params": {
            "connections": a.connections, "delay_ms": a.delay_ms,
            "instance_bytes": a.instance_bytes, "threads": a.threads or "default",
            "keys": a.keys, "batch": a.batch, "body_delay_ms": a.body_delay_ms,
            "wrk_threads": a.wrk_threads, "sample_ms": a.sample_ms, "warmup_s": a.warmup,
            "scale": a.scale,
            "rss_cap_mib": a.rss_cap_mib,
        },  # fmt: skip
        "scopes": [],
    }
    # SIGINT too: a shell that starts the runner in the background makes it
    # ignore SIGINT, and Ctrl-C (or kill -INT) must still stop it cleanly.
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _on_signal)
    try:
        for sc in a.scope_list:
            run["scopes"].append(run_scope(a, sc, out_dir))
    except (KeyboardInterrupt, Interrupted) as e:
        say(f"interrupted ({e or 'SIGINT'}): stopping servers and wrk")
        procs.stop_all(STOP_TIMEOUT_S)
        return 130
    except RuntimeError as e:
        say(f"error: {e}")
        procs.stop_all(STOP_TIMEOUT_S)
        return 1
    finally:
        procs.stop_all(STOP_TIMEOUT_S)
    with open(os.path.join(out_dir, "run.json"), "w") as f:
        json.dump(run, f, indent=1)
        f.write("\n")
    figs, claims = report.make_report(out_dir, plots=not a.no_plots)
    for c in claims:
        print(f"{'PASS' if c['pass'] else 'FAIL'}  {c['claim']}: {c['measured']}")
    print(f"report: {os.path.join(out_dir, 'report.md')}")
    bad_exit = [s["label"] for s in run["scopes"] if s["exit_status"] != 0]
    if bad_exit:
        say(f"server did not exit 0 on SIGTERM: {', '.join(bad_exit)}")
        return 1
    if a.check and not all(c["pass"] for c in claims):
        return 3
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
