#!/usr/bin/env python3
"""leakcheck.py -- does a service keep memory per request? A black-box
answer under load, from the outside (loadtest/leakcheck.sh runs it):

    leakcheck.sh --url URL (--pid PID | --cgroup DIR) [--method POST]
                 [--body JSON] [--duration S] [--connections N] [--out DIR]

wrk drives the URL (loopback only) through loadtest/leakcheck.lua, which
publishes how many responses each wrk thread has received; every SAMPLE_S
seconds the target's memory is read together with that count. The fit
(fit() below; docs/leakcheck.md explains the choices) finds where warm-up
ends from the data, fits bytes per request on what follows with a 95 %
interval that allows for autocorrelated noise, and decides "grows" or
"flat". Writes DIR/leakcheck.json, DIR/leakcheck.md, DIR/leakcheck.svg and
DIR/samples.csv; prints the verdict as its last line; exits 1 when memory
grows per request, 0 when flat, 2 on a usage error or a target that cannot
be measured.
"""

import argparse
import csv
import datetime
import http.client
import ipaddress
import json
import math
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
LUA = os.path.join(HERE, "leakcheck.lua")
GNUPLOT = os.path.join(HERE, "leakcheck.gp")

SAMPLE_S = 0.1  # memory and request count are read together this often
DEFAULT_BODY = '{"a": 1, "b": 2}'
# The decision rule (docs/leakcheck.md, "The verdict"): "grows" needs both.
MIN_BYTES_PER_REQUEST = 32.0  # the one-sided 95 % lower bound must pass this...
MIN_GROWTH_OVER_SWING = 1.0  # ...and the fitted rise must pass the swing around the line
MIN_RISING_QUARTERS = 3  # ...and memory must rise by MIN_BYTES_PER_REQUEST in 3 of the fit's 4 quarters
MIN_TAIL_SAMPLES = 10
MIN_SAMPLES = 12
RANDOM_WALK_OLS_FACTOR = 1.2  # see slope_se()
BLOCKS = 10  # the fit's stretch is cut into this many for its interval

EXIT_FLAT, EXIT_GROWS, EXIT_UNUSABLE = 0, 1, 2


class Unmeasurable(Exception):
    """The target or the URL cannot be measured: exit 2 with the message."""


# ---------------------------------------------------------------- the URL


def loopback_url(url):
    """Returns (scheme, host, port, path) of an http(s) URL whose host is a
    loopback address (127.0.0.0/8, ::1, or the name localhost resolving only
    to those). Raises ValueError with the reason otherwise."""
    u = urllib.parse.urlsplit(url)
    if u.scheme not in ("http", "https"):
        raise ValueError(f"--url must be http:// or https://, not {url!r}")
    host = u.hostname
    if not host:
        raise ValueError(f"--url has no host: {url!r}")
    try:
        port = u.port or (443 if u.scheme == "https" else 80)
    except ValueError:
        raise ValueError(f"--url has a bad port: {url!r}") from None
    if host == "localhost":
        try:
            addrs = {ai[4][0] for ai in socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)}
        except OSError as e:
            raise ValueError(f"localhost does not resolve: {e}") from None
    else:
        addrs = {host}
    for a in addrs:
        try:
            ip = ipaddress.ip_address(a.split("%")[0])
        except ValueError:
            raise ValueError(f"--url must name a loopback address (127.0.0.0/8, [::1], localhost), not {host!r}") from None
        if not ip.is_loopback:
            raise ValueError(f"--url must be on loopback (127.0.0.0/8, [::1], localhost): {host} is not")
    path = u.path or "/"
    if u.query:
        path += "?" + u.query
    return u.scheme, host, port, path


def probe(url, method, body):
    """One request to the URL before the load: any HTTP answer will do.
    Raises Unmeasurable when nothing answers."""
    scheme, host, port, path = loopback_url(url)
    cls = http.client.HTTPSConnection if scheme == "https" else http.client.HTTPConnection
    kw = {}
    if scheme == "https":
        import ssl

        kw["context"] = ssl._create_unverified_context()  # loopback, any certificate
    conn = cls(host, port, timeout=5, **kw)
    try:
        headers = {"Content-Type": "application/json"} if body is not None else {}
        conn.request(method, path, body=body, headers=headers)
        r = conn.getresponse()
        r.read()
        return r.status
    except (OSError, http.client.HTTPException) as e:
        raise Unmeasurable(f"{url} does not answer: {e}") from None
    finally:
        conn.close()


# ---------------------------------------------------------------- the target's memory


class PidTarget:
    """A process's resident memory: /proc/PID/smaps_rollup (exact; Rss and
    Anonymous) where the kernel has it, else /proc/PID/status (VmRSS and
    RssAnon, which the kernel keeps approximately)."""

    def __init__(self, pid):
        self.pid = pid
        self.path = f"/proc/{pid}/smaps_rollup"
        if not self._readable(self.path):
            self.path = f"/proc/{pid}/status"
        self.keys = ("Rss:", "Anonymous:") if self.path.endswith("rollup") else ("VmRSS:", "RssAnon:")
        first = self.read()  # raises Unmeasurable
        self.series = "anon" if first["anon"] is not None else "total"
        self.source = self.path
        self.names = ("RSS", "anonymous RSS")

    @staticmethod
    def _readable(path):
        try:
            with open(path) as f:
                f.read()
            return True
        except OSError:
            return False

    def read(self):
        try:
            with open(self.path) as f:
                text = f.read()
        except OSError as e:
            raise Unmeasurable(f"process {self.pid} cannot be read: {e.strerror}") from None
        vals = {}
        for line in text.splitlines():
            parts = line.split()
            if parts and parts[0] in self.keys and len(parts) >= 2:
                vals[parts[0]] = int(parts[1]) * 1024
        if self.keys[0] not in vals:
            raise Unmeasurable(f"process {self.pid} has no resident memory figure (a zombie or a kernel thread?)")
        return {"total": vals[self.keys[0]], "anon": vals.get(self.keys[1])}


def listening_inodes(port):
    """Socket inodes listening on TCP `port` (IPv4 and IPv6), from /proc/net."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as f:
                next(f)
                for line in f:
                    parts = line.split()
                    if parts[3] == "0A" and int(parts[1].rsplit(":", 1)[1], 16) == port:  # 0A: LISTEN
                        inodes.add(parts[9])
        except (OSError, IndexError, ValueError, StopIteration):
            pass
    return inodes


def serves_port(pid, port):
    """True when the process or one of its descendants holds the socket
    listening on `port`; None when that cannot be told (no permission)."""
    want = listening_inodes(port)
    if not want:
        return None
    todo, seen = [pid], set()
    while todo:
        p = todo.pop()
        if p in seen:
            continue
        seen.add(p)
        try:
            for fd in os.listdir(f"/proc/{p}/fd"):
                link = os.readlink(f"/proc/{p}/fd/{fd}")
                if link.startswith("socket:[") and link[8:-1] in want:
                    return True
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as f:
                    todo.extend(int(c) for c in f.read().split())
        except OSError:
            if p == pid:
                return None
    return False


class CgroupTarget:
    """A cgroup's memory: v2 memory.current and memory.stat's anon; v1
    memory.usage_in_bytes and memory.stat's total_rss (or rss)."""

    def __init__(self, path):
        self.dir = path
        if os.path.isfile(os.path.join(path, "memory.current")):
            self.total_file, self.anon_keys = "memory.current", ("anon",)
        elif os.path.isfile(os.path.join(path, "memory.usage_in_bytes")):
            self.total_file, self.anon_keys = "memory.usage_in_bytes", ("total_rss", "rss")
        else:
            raise Unmeasurable(f"{path} is not a cgroup with a memory controller (no memory.current or memory.usage_in_bytes)")
        first = self.read()
        self.series = "anon" if first["anon"] is not None else "total"
        self.source = os.path.join(path, self.total_file)
        self.names = (self.total_file, "anon" if self.anon_keys[0] == "anon" else "rss")

    def read(self):
        try:
            with open(os.path.join(self.dir, self.total_file)) as f:
                total = int(f.read().split()[0])
            stat = {}
            with open(os.path.join(self.dir, "memory.stat")) as f:
                for line in f:
                    k, _, v = line.partition(" ")
                    stat[k] = v
        except (OSError, ValueError, IndexError) as e:
            raise Unmeasurable(f"cgroup {self.dir} cannot be read: {e}") from None
        anon = next((int(stat[k]) for k in self.anon_keys if k in stat), None)
        return {"total": total, "anon": anon}


# ---------------------------------------------------------------- the fit


def ols(xs, ys):
    """Least squares line: (intercept, slope, residuals)."""
    n = len(xs)
    mx, my = sum(xs) / n, sum(ys) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    if sxx == 0:
        return my, 0.0, [y - my for y in ys]
    b = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sxx
    a = my - b * mx
    return a, b, [y - a - b * x for x, y in zip(xs, ys)]


def warmup_end(xs, ys):
    """Index of the first sample after warm-up, by the marginal standard
    error rule (MSER; White 1997) applied to a straight line: the cut d
    minimises SSE(d) / (n - d)^2, where SSE(d) is the residual sum of squares
    of the least-squares line through samples d..n-1. Cutting a curved or
    stepped start lowers SSE more than it costs in samples; cutting a
    straight line does not, so a run without warm-up keeps every sample.
    At most half the samples are cut, and at least MIN_TAIL_SAMPLES kept."""
    n = len(xs)
    # Centred, so that the running sums keep their precision.
    mx, my = sum(xs) / n, sum(ys) / n
    x = [v - mx for v in xs]
    y = [v - my for v in ys]
    # Suffix sums: S[d] = sum over i >= d.
    sx = sy = sxx = sxy = syy = 0.0
    suffix = [None] * n
    for i in range(n - 1, -1, -1):
        sx += x[i]
        sy += y[i]
        sxx += x[i] * x[i]
        sxy += x[i] * y[i]
        syy += y[i] * y[i]
        suffix[i] = (sx, sy, sxx, sxy, syy)
    best, best_d = None, 0
    for d in range(0, min(n // 2, n - MIN_TAIL_SAMPLES) + 1):
        m = n - d
        sx, sy, sxx, sxy, syy = suffix[d]
        cxx = sxx - sx * sx / m
        cxy = sxy - sx * sy / m
        cyy = syy - sy * sy / m
        sse = max(cyy - (cxy * cxy / cxx if cxx > 0 else 0.0), 0.0)
        score = sse / (m * m)
        if best is None or score < best:
            best, best_d = score, d
    return best_d


# Student's t quantiles for 1..20 degrees of freedom: 97.5 % (a two-sided
# 95 % interval) and 95 % (a one-sided 95 % bound).
T975 = [12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
        2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086]
T95 = [6.314, 2.920, 2.353, 2.132, 2.015, 1.943, 1.895, 1.860, 1.833, 1.812,
       1.796, 1.782, 1.771, 1.761, 1.753, 1.746, 1.740, 1.734, 1.729, 1.725]


def t_quantile(df, one_sided=False):
    """Student's t quantile with df degrees of freedom: 97.5 %, or 95 %
    when one_sided."""
    table = T95 if one_sided else T975
    if df <= len(table):
        return table[max(1, int(df)) - 1]
    z = 1.644854 if one_sided else 1.959964  # Cornish-Fisher: within 1e-3 of the tables from df = 20
    return z + (z ** 3 + z) / (4 * df) + (5 * z ** 5 + 16 * z ** 3 + 3 * z) / (96 * df ** 2)


def slope_se(xs, ys, b):
    """Standard error of the slope b fitted to (xs, ys).
    Memory read ten times a second is the reading before plus what changed
    since: the noise is in the increments (a page touched, a table resized,
    a collection), and it accumulates, so consecutive residuals from a line
    are far from independent and least squares' own interval is much too
    narrow. The increments are: each is b * (requests since the last
    sample) plus its own noise, with a variance that grows with the
    requests it spans. The slope's variance is then the increments' noise
    variance per request over the requests fitted, times 1.2 (least squares
    on a random walk has 6/5 the variance of the walk's own drift estimate);
    Student's t has one degree of freedom per block, less one.
    Returns (standard_error, degrees_of_freedom)."""
    # Increments over BLOCKS equal stretches, not sample to sample: a swing
    # that comes back (a collection, a heap that grows and shrinks) then
    # counts once per block instead of once per sample, while a random walk's
    # noise adds up the same either way.
    m = min(BLOCKS, len(xs) - 1)
    ends = [round(i * (len(xs) - 1) / m) for i in range(m + 1)]
    dx = [xs[j] - xs[i] for i, j in zip(ends, ends[1:])]
    dy = [ys[j] - ys[i] for i, j in zip(ends, ends[1:])]
    pairs = [(u, v) for u, v in zip(dx, dy) if u > 0]
    m = len(pairs)
    total = sum(u for u, _ in pairs)
    if m < 3 or total == 0:
        return 0.0, max(m - 1, 1)
    var = sum((v - b * u) ** 2 / u for u, v in pairs) / (m - 1)
    return math.sqrt(RANDOM_WALK_OLS_FACTOR * var / total), m - 1


def fit(xs, ys):
    """Bytes per request after warm-up, from samples (requests, bytes).
    Returns a dict: verdict, bytes_per_request, ci95, warmup_index,
    warmup_requests, intercept, growth_bytes, swing_bytes, lower_bound (one-sided 95 %), df and the
    reasons of the verdict. See docs/leakcheck.md for the design."""
    if len(xs) < MIN_SAMPLES or xs[-1] - xs[0] <= 0:
        raise Unmeasurable(f"too few samples with requests served ({len(xs)}): is the URL answering?")
    k = warmup_end(xs, ys)
    tx, ty = xs[k:], ys[k:]
    a, b, resid = ols(tx, ty)
    se, df = slope_se(tx, ty, b)
    half = t_quantile(df) * se
    lo, hi = b - half, b + half
    # "grows" is a one-sided claim: the slope is above the threshold, with 5 %
    # risk, is judged on the one-sided 95 % lower bound.
    lower = b - t_quantile(df, one_sided=True) * se
    growth = b * (tx[-1] - tx[0])
    swing = max(resid) - min(resid)
    per_request_ok = lower > MIN_BYTES_PER_REQUEST
    growth_ok = growth > MIN_GROWTH_OVER_SWING * swing
    # Steady: a leak rises in (nearly) every quarter of the fit; a heap or a
    # collector that grows in a few steps and then stops does not.
    n = len(tx)
    quarters = [ols(tx[i * n // 4:(i + 1) * n // 4], ty[i * n // 4:(i + 1) * n // 4])[1] for i in range(4)]
    rising = sum(q > MIN_BYTES_PER_REQUEST for q in quarters)
    steady_ok = rising >= MIN_RISING_QUARTERS
    return {
        "verdict": "grows" if per_request_ok and growth_ok and steady_ok else "flat",
        "bytes_per_request": b,
        "ci95": [lo, hi],
        "warmup_index": k,
        "warmup_requests": xs[k],
        "tail_requests": tx[-1] - tx[0],
        "intercept": a,
        "growth_bytes": growth,
        "swing_bytes": swing,
        "lower_bound": lower,
        "df": df,
        "lower_bound_above_threshold": per_request_ok,
        "growth_above_swing": growth_ok,
        "quarters_bytes_per_request": quarters,
        "rising_quarters": rising,
        "steady": steady_ok,
    }


# ---------------------------------------------------------------- the run


def parse_args(argv):
    ap = argparse.ArgumentParser(
        prog="leakcheck.sh",
        description="Does a service keep memory per request? Drives wrk at a loopback URL, samples "
        "the target's memory, fits bytes per request after warm-up. Exit 1 grows, 0 flat, 2 usage "
        "error or target not measurable.",
    )
    ap.add_argument("--url", required=True, help="the URL to load (127.0.0.0/8, [::1] or localhost only)")
    g = ap.add_mutually_exclusive_group(required=True)
    g.add_argument("--pid", type=int, help="the process serving the URL")
    g.add_argument("--cgroup", help="the cgroup (v2 or v1 memory controller directory) serving the URL")
    ap.add_argument("--method", default="POST", help="HTTP method (default POST)")
    ap.add_argument("--body", default=None, help=f"request body (default {DEFAULT_BODY}; none for GET/HEAD)")
    ap.add_argument("--duration", type=float, default=10.0, help="seconds of load (default 10, at least 2)")
    ap.add_argument("--connections", type=int, default=16, help="open connections (default 16)")
    ap.add_argument("--out", help="folder for the results (default leakcheck-<time> in the current folder)")
    a = ap.parse_args(argv)
    if a.duration < 2 or a.duration > 3600:
        ap.error("--duration must be 2 to 3600 seconds")
    if a.connections < 1 or a.connections > 10000:
        ap.error("--connections must be 1 to 10000")
    if not a.method.isalpha() or not a.method.isupper():
        ap.error("--method must be an HTTP method in capitals (GET, POST, ...)")
    if a.body is None and a.method not in ("GET", "HEAD", "DELETE", "OPTIONS"):
        a.body = DEFAULT_BODY
    if a.pid is not None and a.pid <= 0:
        ap.error("--pid must be a process id > 0")
    try:
        loopback_url(a.url)
    except ValueError as e:
        ap.error(str(e))
    return a


def read_counts(count_dir):
    served = bad = 0
    for name in os.listdir(count_dir):
        if name.startswith("count-") and not name.endswith(".tmp"):
            try:
                with open(os.path.join(count_dir, name)) as f:
                    s, b = f.read().split()
                served, bad = served + int(s), bad + int(b)
            except (OSError, ValueError):
                pass  # replaced between listdir and open: next sample
    return served, bad


def run_load(a, target, count_dir):
    """Runs wrk and samples until it ends. Returns (samples, wrk_summary)."""
    threads = 1 if a.connections < 64 else 2
    cmd = ["wrk", f"-t{threads}", f"-c{a.connections}", f"-d{int(math.ceil(a.duration))}s",
           "--timeout", "10s", "-s", LUA, a.url, "--", count_dir, a.method]
    if a.body is not None:
        cmd.append(a.body)
    samples = []
    t0 = time.monotonic()
    m = target.read()
    samples.append((0.0, 0, 0, m["total"], m["anon"]))
    out = tempfile.TemporaryFile(mode="w+")
    wrk = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)
    try:
        next_t = time.monotonic() + SAMPLE_S
        while wrk.poll() is None:
            time.sleep(max(0.0, next_t - time.monotonic()))
            next_t += SAMPLE_S
            served, bad = read_counts(count_dir)
            m = target.read()  # Unmeasurable if the target went away
            if wrk.poll() is None:  # a sample after wrk ended sees connections closing
                samples.append((time.monotonic() - t0, served, bad, m["total"], m["anon"]))
    finally:
        if wrk.poll() is None:
            wrk.terminate()
            wrk.wait()
    out.seek(0)
    text = out.read()
    summary = None
    for line in text.splitlines():
        if line.startswith("LEAKCHECK_JSON "):
            summary = json.loads(line[len("LEAKCHECK_JSON "):])
    if wrk.returncode != 0 or summary is None:
        raise Unmeasurable(f"wrk failed (exit {wrk.returncode}):\n{text.strip()}")
    return samples, summary


def fmt_bytes(n):
    for unit, f in (("GiB", 2 ** 30), ("MiB", 2 ** 20), ("KiB", 2 ** 10)):
        if abs(n) >= f:
            return f"{n / f:.1f} {unit}"
    return f"{n:.0f} B"


def write_outputs(a, target, samples, summary, r, out_dir, started, argv):
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "samples.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["t_s", "requests", "bad_responses", "total_bytes", "anon_bytes"])
        for t, s, b, tot, anon in samples:
            w.writerow([f"{t:.3f}", s, b, tot, "" if anon is None else anon])
    bad = samples[-1][2]
    doc = {
        "verdict": r["verdict"],
        "bytes_per_request": round(r["bytes_per_request"], 1),
        "ci95": [round(v, 1) for v in r["ci95"]],
        "requests": summary["requests"],
        "warmup_requests": r["warmup_requests"],
        "fit_requests": r["tail_requests"],
        "series": f"{target.names[1] if target.series == 'anon' else target.names[0]}",
        "source": target.source,
        "growth_bytes": round(r["growth_bytes"]),
        "swing_bytes": round(r["swing_bytes"]),
        "rule": {
            "min_bytes_per_request": MIN_BYTES_PER_REQUEST,
            "min_growth_over_swing": MIN_GROWTH_OVER_SWING,
            "lower_bound_above_threshold": r["lower_bound_above_threshold"],
            "growth_above_swing": r["growth_above_swing"],
            "min_rising_quarters": MIN_RISING_QUARTERS,
            "quarters_bytes_per_request": [round(q, 1) for q in r["quarters_bytes_per_request"]],
            "steady": r["steady"],
        },
        "one_sided_lower_bound": round(r["lower_bound"], 1),
        "degrees_of_freedom": r["df"],
        "samples": len(samples),
        "sample_interval_s": SAMPLE_S,
        "url": a.url,
        "method": a.method,
        "body": a.body,
        "duration_s": a.duration,
        "connections": a.connections,
        "bad_responses": bad,
        "wrk": summary,
        "started": started.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "command": "./loadtest/leakcheck.sh " + " ".join(_quote(s) for s in argv),
    }
    with open(os.path.join(out_dir, "leakcheck.json"), "w") as f:
        json.dump(doc, f, indent=2)
        f.write("\n")
    lo, hi = r["ci95"]
    series = doc["series"]
    lines = [
        f"# Leak check: {r['verdict']}",
        "",
        f"`{doc['command']}` on {doc['started']}",
        "",
        f"- **{r['bytes_per_request']:.0f} B per request** (95 % interval {lo:.0f} to {hi:.0f}) of {series} "
        f"(`{target.source}`), fitted on {r['tail_requests']:,} requests after a warm-up of "
        f"{r['warmup_requests']:,} ({summary['requests']:,} requests in all, {len(samples)} samples).",
        f"- Over the fit the line rises {fmt_bytes(r['growth_bytes'])}; memory swings "
        f"{fmt_bytes(r['swing_bytes'])} around it.",
        f"- Verdict **{r['verdict']}**: memory grows per request when the slope's one-sided 95 % lower bound "
        f"({r['lower_bound']:.0f}) is above {MIN_BYTES_PER_REQUEST:.0f} B per request "
        f"({'yes' if r['lower_bound_above_threshold'] else 'no'}), "
        f"the rise is larger than the swing ({'yes' if r['growth_above_swing'] else 'no'}) and memory rises "
        f"by more than that in {MIN_RISING_QUARTERS} of the fit's 4 quarters ({r['rising_quarters']}: "
        f"{'yes' if r['steady'] else 'no'}).",
    ]
    if r["verdict"] == "flat" and hi > MIN_BYTES_PER_REQUEST:
        lines.append(f"- Flat means not shown to grow: this run cannot rule out up to {hi:.0f} B per request; "
                     "a longer --duration narrows the interval.")
    if bad:
        lines.append(f"- {bad:,} responses were 4xx/5xx: the check measured those answers, check --method and --body.")
    if any(summary["errors"].values()):
        lines.append(f"- wrk's socket errors: {summary['errors']}.")
    lines += ["", "![memory over requests served](leakcheck.svg)", ""]
    with open(os.path.join(out_dir, "leakcheck.md"), "w") as f:
        f.write("\n".join(lines))
    plot(target, samples, r, out_dir, doc)


def _quote(s):
    import shlex

    return shlex.quote(s)


def plot(target, samples, r, out_dir, doc):
    if shutil.which("gnuplot") is None:
        print("leakcheck: gnuplot not found, no plot drawn", file=sys.stderr)
        return
    lo, hi = r["ci95"]
    title = (f"{r['verdict']}: {r['bytes_per_request']:.0f} B/request "
             f"(95% interval {lo:.0f} to {hi:.0f}), {doc['requests']:,} requests")
    args = {
        "dir": out_dir,
        "title": title,
        "series": doc["series"],
        "total_name": target.names[0],
        "anon": "1" if target.series == "anon" else "0",
        "a": repr(r["intercept"]),
        "b": repr(r["bytes_per_request"]),
        "warm": str(samples[r["warmup_index"]][1]),
    }
    e = "; ".join(f"{k}='{v}'" for k, v in args.items())
    p = subprocess.run(["gnuplot", "-e", e, GNUPLOT], capture_output=True, text=True)
    if p.returncode != 0:
        print(f"leakcheck: gnuplot failed: {p.stderr.strip()}", file=sys.stderr)


def main(argv):
    a = parse_args(argv)
    started = datetime.datetime.now(datetime.timezone.utc)
    try:
        target = PidTarget(a.pid) if a.pid is not None else CgroupTarget(a.cgroup)
        status = probe(a.url, a.method, a.body)
        if a.pid is not None and serves_port(a.pid, loopback_url(a.url)[2]) is False:
            print(f"leakcheck: warning: process {a.pid} (and its children) does not hold the socket listening "
                  f"on port {loopback_url(a.url)[2]}: is it the process that serves {a.url}?", file=sys.stderr)
        if shutil.which("wrk") is None:
            raise Unmeasurable("wrk is not installed (Debian: apt-get install wrk)")
        if status >= 400:
            print(f"leakcheck: {a.url} answers {status} to {a.method}: measuring those answers", file=sys.stderr)
        count_dir = tempfile.mkdtemp(prefix="leakcheck-")
        try:
            samples, summary = run_load(a, target, count_dir)
        finally:
            shutil.rmtree(count_dir, ignore_errors=True)
        col = 4 if target.series == "anon" else 3
        # The fit starts at the first response: before it no load had arrived.
        first = next((i for i, s in enumerate(samples) if s[1] > 0), len(samples))
        r = fit([s[1] for s in samples[first:]], [s[col] for s in samples[first:]])
        r["warmup_index"] += first
    except Unmeasurable as e:
        print(f"leakcheck: {e}", file=sys.stderr)
        return EXIT_UNUSABLE
    out_dir = a.out or os.path.join(os.getcwd(), "leakcheck-" + started.strftime("%Y%m%d-%H%M%S"))
    write_outputs(a, target, samples, summary, r, out_dir, started, argv)
    lo, hi = r["ci95"]
    print(f"leakcheck: {r['bytes_per_request']:.0f} B per request (95 % interval {lo:.0f} to {hi:.0f}) "
          f"after a warm-up of {r['warmup_requests']:,} requests, {summary['requests']:,} in all; "
          f"results in {out_dir}")
    print(r["verdict"])
    return EXIT_GROWS if r["verdict"] == "grows" else EXIT_FLAT


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
