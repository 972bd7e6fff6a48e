#!/usr/bin/env python3
"""report.py -- turn a load-test run folder into report.md and PNG plots.

    python3 loadtest/report.py REPORT_DIR [--no-plots]

REPORT_DIR is what loadtest/run.py writes: run.json (the parameters, and for
each scope wrk's figures and the server's exit status) and one
stats-LABEL.csv per scope (the /stats samples). This module reads them, fits
the retained-bytes-per-request slopes, checks the report's claims and
writes REPORT_DIR/report.md; the plots are drawn by loadtest/plots.gp.

Only the Python standard library is used (python3 from Debian 12 is enough).
"""

import argparse
import csv
import json
import os
import statistics
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))

# ------------------------------------------------------------- thresholds
# The claims, as numbers. A claim is checked only when the
# run includes the scope it is about.

SLOPE_TOLERANCE = 0.10  # global unbounded: RSS slope within 10% of instance_bytes
FLAT_DRIFT_BYTES = 2 * 1024 * 1024  # local, off: RSS drift after warm-up below 2 MiB...
FLAT_MIN_REQUESTS = 200_000  # ...over at least this many requests after warm-up
NEAR_ONE_HIT_RATIO = 0.99  # shared: hit ratio "near 1"
MANY_TIMES = 3.0  # shared: req/s at least this many times every other scope's
TTL_PLATEAU_TOLERANCE = 0.25  # global with a TTL: live within 25% of req/s x ttl
TTL_FREE_GRACE_S = 1.0  # ...and every instance freed within ttl + this after the load
P999_TIMES = 2.0  # growth: global/none's p99.9 within 2x of shared/128's

# The columns of a stats-LABEL.csv, in order. t_s is seconds since wrk
# started (negative before); phase is idle (before load), load or drain
# (after wrk stopped, while requests in flight finish).
CSV_COLUMNS = [
    "t_s", "phase", "uptime_s", "requests", "in_flight", "errors",
    "created", "freed", "live", "live_bytes",
    "hits", "misses", "coalesced", "currsize", "evictions",
    "rss_bytes", "heap_bytes", "currbytes", "expirations", "left_with_instance",
    "oldest_age_s",
]  # fmt: skip
# Columns added with the TTL, byte bound and weak scope: a CSV written before
# them reads them as 0.
OPTIONAL_COLUMNS = ("currbytes", "expirations", "left_with_instance", "oldest_age_s")
# oldest_age_s: the oldest live instance's age, 0 when none is
# alive. A CSV without it (or a row without a value) reads it as None, and
# the age claims are left out.

MiB = 1024 * 1024
AGE_FOLLOWS = 0.9  # global/none's oldest instance >= 0.9 x the load's duration


# ------------------------------------------------------------------ input


def read_samples(path):
    """Reads a stats CSV. Returns a list of dicts, numbers as int or float.
    Raises ValueError when a column is missing or a value is not a number."""
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        have = reader.fieldnames or []
        missing = [c for c in CSV_COLUMNS if c not in have and c not in OPTIONAL_COLUMNS]
        if missing:
            raise ValueError(f"{path}: missing columns {missing}")
        rows = []
        for n, raw in enumerate(reader, start=2):
            row = {}
            for col in CSV_COLUMNS:
                text = raw[col] if col in have else "0"
                if col == "phase":
                    row[col] = text
                elif col == "oldest_age_s":
                    row[col] = float(raw[col]) if col in have and raw[col] != "" else None
                elif col in ("t_s", "uptime_s"):
                    row[col] = float(text)
                else:
                    try:
                        row[col] = int(text)
                    except ValueError:
                        raise ValueError(f"{path}:{n}: {col}={text!r} is not an integer")
            rows.append(row)
    return rows


def stats_row(t_s, phase, stats):
    """Flattens one /stats JSON object into a CSV row (a dict of CSV_COLUMNS)."""
    r, i, c, m = stats["requests"], stats["instances"], stats["cache"], stats["memory"]
    return {
        "t_s": round(t_s, 3), "phase": phase, "uptime_s": stats["uptime_s"],
        "requests": r["total"], "in_flight": r["in_flight"], "errors": r["errors"],
        "created": i["created"], "freed": i["freed"], "live": i["live"],
        "live_bytes": i["live_bytes"],
        "hits": c["hits"], "misses": c["misses"], "coalesced": c.get("coalesced", 0),
        "currsize": c["currsize"], "evictions": c["evictions"],
        "rss_bytes": m["rss_bytes"], "heap_bytes": m["heap_bytes"],
        "currbytes": c.get("currbytes", 0), "expirations": c.get("expirations", 0),
        "left_with_instance": c.get("left_with_instance", 0),
        "oldest_age_s": i.get("oldest_age_s") or 0,
    }  # fmt: skip


def load_run(folder):
    """Reads run.json and every scope's CSV. Returns (run, {label: samples})."""
    with open(os.path.join(folder, "run.json")) as f:
        run = json.load(f)
    samples = {}
    for scope in run["scopes"]:
        samples[scope["label"]] = read_samples(os.path.join(folder, scope["csv"]))
    return run, samples


# ---------------------------------------------------------------- figures


def fit_line(xs, ys):
    """Least-squares line through (xs, ys). Returns (slope, intercept), or
    None when there are fewer than two points or every x is the same."""
    n = len(xs)
    if n < 2 or n != len(ys):
        return None
    mx = sum(xs) / n
    my = sum(ys) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    if sxx == 0:
        return None
    sxy = sum((x - mx) * (y - my) for x, y in zip(xs, ys))
    slope = sxy / sxx
    return slope, my - slope * mx


def hit_ratio(hits, misses):
    return hits / (hits + misses) if hits + misses > 0 else 0.0


def analyse(scope, samples):
    """Figures for one scope: scope is its entry in run.json, samples its CSV
    rows. The fits use the load-phase samples taken scope["warmup_s"] seconds
    or more after the load started. Returns a dict; a figure that cannot be
    computed is None."""
    warmup_s = scope["warmup_s"]
    if not samples:
        raise ValueError(f"{scope['label']}: no samples")
    idle = [s for s in samples if s["phase"] == "idle"]
    load = [s for s in samples if s["phase"] == "load"]
    steady = [s for s in load if s["t_s"] >= warmup_s]
    first, last = (idle or samples)[-1], samples[-1]
    wrk = scope.get("wrk") or {}
    wrk_requests = wrk.get("requests")
    duration_s = wrk["duration_us"] / 1e6 if wrk.get("duration_us") else None
    lat = wrk.get("latency_us") or {}
    f = {
        "label": scope["label"],
        "scope": scope["scope"],
        "maxsize": scope["maxsize"],
        "duration_s": scope["duration_s"],
        "warmup_s": warmup_s,
        "requests": last["requests"],
        "wrk_requests": wrk_requests,
        "req_per_s": wrk_requests / duration_s if wrk_requests is not None and duration_s else None,
        "p50_ms": lat["p50"] / 1000 if "p50" in lat else None,
        "p99_ms": lat["p99"] / 1000 if "p99" in lat else None,
        "p999_ms": lat["p999"] / 1000 if "p999" in lat else None,
        "max_ms": lat["max"] / 1000 if "max" in lat else None,
        "instance_bytes": scope.get("instance_bytes"),
        "delay_ms": scope.get("delay_ms"),
        "ttl_s": scope.get("ttl_s"),
        "maxbytes": scope.get("maxbytes"),
        "distinct": bool(scope.get("distinct")),
        "live_bytes_end": last["live_bytes"],
        "peak_currbytes": max((s["currbytes"] for s in samples), default=None),
        "evictions_end": last["evictions"],
        "expirations_end": last["expirations"],
        "left_end": last["left_with_instance"],
        "wrk_errors": sum((wrk.get("errors") or {}).values()) if wrk else None,
        "server_errors": last["errors"],
        "hit_ratio": hit_ratio(last["hits"], last["misses"]),
        "hits": last["hits"],
        "misses": last["misses"],
        "live_end": last["live"],
        "currsize_end": last["currsize"],
        "in_flight_end": last["in_flight"],
        "rss_start": first["rss_bytes"],
        "rss_end": last["rss_bytes"],
        "heap_start": first["heap_bytes"],
        "heap_end": last["heap_bytes"],
        "steady_samples": len(steady),
        "steady_requests": steady[-1]["requests"] - steady[0]["requests"] if steady else 0,
        "max_live_steady": max((s["live"] for s in steady), default=None),
        # Under load every instance is alive in an unbounded global cache;
        # the counters are read one by one, so a sample may be off by a few.
        "max_gap_load": max((abs(s["requests"] - s["live"]) for s in load), default=None),
        "exit_status": scope.get("exit_status"),
        "stopped_early": scope.get("stopped_early"),
        "cpu_s": scope.get("cpu_s"),
        # The oldest live instance: at the end of the load, and the most it
        # reached under load (None when the CSV has no ages).
        "oldest_end": load[-1]["oldest_age_s"] if load else None,
        "load_end_s": load[-1]["t_s"] if load else None,
        "max_oldest_load": max(
            (s["oldest_age_s"] for s in load if s["oldest_age_s"] is not None), default=None
        ),
    }
    f["cpu_us_per_req"] = (
        f["cpu_s"] * 1e6 / f["requests"] if f["cpu_s"] is not None and f["requests"] else None
    )
    if f["ttl_s"]:
        f.update(ttl_figures(f["ttl_s"], warmup_s, load, samples))
    xs = [s["requests"] for s in steady]
    for key in ("rss", "heap"):
        fit = fit_line(xs, [s[key + "_bytes"] for s in steady])
        f[key + "_slope"] = fit[0] if fit else None
        # Growth along the fitted line over the steady window, and as measured.
        f[key + "_drift_fit"] = fit[0] * f["steady_requests"] if fit else None
        f[key + "_drift_raw"] = (
            steady[-1][key + "_bytes"] - steady[0][key + "_bytes"] if steady else None
        )
    return f


def ttl_figures(ttl_s, warmup_s, load, samples):
    """With a TTL, live instances plateau at about request rate x ttl once
    the first entries have had time to expire: the plateau is the median of
    live over the load samples from warmup + ttl on, the rate is requests
    over time across the same samples. free_s: seconds from the end of the
    load (the last load sample) to the first sample with no live instance,
    or None if none came."""
    window = [s for s in load if s["t_s"] >= warmup_s + ttl_s]
    out = {"plateau_samples": len(window), "plateau_live": None, "plateau_rate": None}
    if len(window) >= 2 and window[-1]["t_s"] > window[0]["t_s"]:
        lives = sorted(s["live"] for s in window)
        mid = len(lives) // 2
        out["plateau_live"] = lives[mid] if len(lives) % 2 else (lives[mid - 1] + lives[mid]) / 2
        out["plateau_rate"] = (window[-1]["requests"] - window[0]["requests"]) / (
            window[-1]["t_s"] - window[0]["t_s"]
        )
    end = load[-1]["t_s"] if load else None
    freed = [s for s in samples if s["phase"] in ("drain", "after") and s["live"] == 0]
    out["free_s"] = freed[0]["t_s"] - end if freed and end is not None else None
    return out


# ----------------------------------------------------------------- claims


def _claim(text, measured, ok, plot=None):
    """One claim; plot names the picture that shows it (None: none does)."""
    return {"claim": text, "measured": measured, "pass": bool(ok), "plot": plot}


def check_claims(run, figs):
    """The claims, checked against the figures of every scope of
    the run (figs: a list of analyse() results, in run order). Returns a list
    of {"claim", "measured", "pass", "plot"}; a claim about a scope that did not run
    is left out."""
    p = run["params"]

    def ib_of(f):
        return p["instance_bytes"] if f.get("instance_bytes") is None else f["instance_bytes"]

    def delay_of(f):
        return p["delay_ms"] if f.get("delay_ms") is None else f["delay_ms"]

    claims = []
    for f in figs:
        label = f["label"]
        ib = ib_of(f)
        if f.get("ttl_s"):
            claims.extend(ttl_claims(f))
        elif f.get("maxbytes") is not None:
            claims.append(maxbytes_claim(f, figs, ib_of))
        elif f.get("distinct"):
            pass  # the growth pair: its claim compares the two, below
        elif f["scope"] == "global" and f["maxsize"] is None:
            s = f["rss_slope"]
            ok = s is not None and abs(s - ib) <= SLOPE_TOLERANCE * ib
            got = "no fit (too few samples)" if s is None else f"{s:,.0f} B/request ({s / ib:.1%} of {ib:,})"
            claims.append(
                _claim(
                    f"`{label}` retains about instance_bytes per request "
                    f"(RSS slope within {SLOPE_TOLERANCE:.0%} of {ib:,} B)",
                    got,
                    ok,
                    "rss.png",
                )
            )
            # Requests that wrk cut off when it stopped count too: the server
            # finishes their calculation and caches it, client or not.
            claims.append(
                _claim(
                    f"`{label}` live instances equal requests served (after the drain)",
                    f"live {f['live_end']:,}, requests {f['requests']:,}; under load they "
                    f"differed by at most {f['max_gap_load']} (counters read one by one)",
                    f["requests"] > 0 and f["live_end"] == f["requests"],
                    "live.png",
                )
            )
        elif f["scope"] == "global":
            m = f["maxsize"]
            conns = p["connections"]
            peak = f["max_live_steady"]
            # In flight, up to one instance per connection is alive on top of
            # the cache's maxsize; after the drain exactly maxsize remain.
            ok = f["live_end"] == m and peak is not None and m <= peak <= m + conns
            claims.append(
                _claim(
                    f"`{label}` plateaus at {m} live instances "
                    f"(after the drain: exactly {m}; under load: {m}..{m}+{conns} connections)",
                    f"live at end {f['live_end']:,}, peak under load {peak if peak is not None else '-'}",
                    ok,
                    "live.png",
                )
            )
        elif f["scope"] in ("local", "off", "weak"):
            d_fit, d_raw, n = f["rss_drift_fit"], f["rss_drift_raw"], f["steady_requests"]
            ok = (
                d_fit is not None
                and abs(d_fit) < FLAT_DRIFT_BYTES
                and abs(d_raw) < FLAT_DRIFT_BYTES
                and n >= FLAT_MIN_REQUESTS
            )
            got = (
                "no fit (too few samples)"
                if d_fit is None
                else f"drift {mib(d_raw)} measured, {mib(d_fit)} fitted, over {n:,} requests"
            )
            claims.append(
                _claim(
                    f"`{label}` stays flat (RSS drift after warm-up under "
                    f"{FLAT_DRIFT_BYTES // MiB} MiB over at least {FLAT_MIN_REQUESTS:,} requests)",
                    got,
                    ok,
                    "rss.png",
                )
            )
            if f["scope"] == "weak":
                claims.append(weak_claim(f))
        elif f["scope"] == "shared":
            claims.append(
                _claim(
                    f"`{label}` hit ratio near 1 (at least {NEAR_ONE_HIT_RATIO}) on a key space of "
                    f"{p['keys'] ** 2:,} pairs",
                    f"{f['hit_ratio']:.4f} ({f['hits']:,} hits, {f['misses']:,} misses)",
                    f["hit_ratio"] >= NEAR_ONE_HIT_RATIO,
                    "hits.png",
                )
            )
            # Against the scopes whose misses wait as long as its own do.
            others = [
                o
                for o in figs
                if o is not f and o["req_per_s"] and delay_of(o) == delay_of(f)
                and not o.get("distinct")
            ]  # fmt: skip
            if delay_of(f) > 0 and others and f["req_per_s"]:
                best = max(others, key=lambda o: o["req_per_s"])
                times = f["req_per_s"] / best["req_per_s"]
                claims.append(
                    _claim(
                        f"`{label}` serves many times (at least {MANY_TIMES:g}x) the throughput of "
                        f"every other scope with its delay (delay_ms {delay_of(f)})",
                        f"{f['req_per_s']:,.0f} req/s, {times:.1f}x the fastest other "
                        f"(`{best['label']}`, {best['req_per_s']:,.0f} req/s)",
                        times >= MANY_TIMES,
                        "rate.png",
                    )
                )
    claims.extend(age_claims(p, figs))
    growth = growth_claim(figs)
    if growth:
        claims.append(growth)
    for f in figs:
        ok = f["exit_status"] == 0
        if not ok:
            claims.append(
                _claim(
                    f"`{f['label']}` server exits 0 on SIGTERM",
                    f"exit status {f['exit_status']}",
                    ok,
                )
            )
    return claims


def age_claims(p, figs):
    """In global/none the oldest live instance is as old as the
    run (at least AGE_FOLLOWS x the time since the first request, at the end
    of the load: the first request's instance is still there); in local,
    shared and off no instance outlives the longest request (wrk's slowest
    answer) by more than one sampling period. Left out without ages."""
    period = p.get("sample_ms", 200) / 1000
    out = []
    for f in figs:
        if f["oldest_end"] is None or f["max_oldest_load"] is None:
            continue
        label = f["label"]
        if (f["scope"] == "global" and f["maxsize"] is None and not f.get("ttl_s")
                and f.get("maxbytes") is None):  # fmt: skip
            want = AGE_FOLLOWS * f["load_end_s"]
            out.append(
                _claim(
                    f"`{label}` the oldest live instance ages with the run (at least "
                    f"{AGE_FOLLOWS:g} x the time since the first request, at the end of the load)",
                    f"oldest {f['oldest_end']:.2f} s after {f['load_end_s']:.2f} s of load "
                    f"(want >= {want:.2f} s)",
                    f["oldest_end"] >= want,
                )
            )
        elif f["scope"] in ("local", "shared", "off"):
            slowest = f["max_ms"] / 1000 if f["max_ms"] is not None else None
            bound = slowest + period if slowest is not None else None
            out.append(
                _claim(
                    f"`{label}` no instance outlives its request (the oldest under load stays "
                    f"under the slowest answer + one sampling period of {period:g} s)",
                    f"oldest under load {f['max_oldest_load']:.3f} s; slowest answer "
                    + (f"{slowest:.3f} s, bound {bound:.3f} s" if bound is not None else "unknown"),
                    bound is not None and f["max_oldest_load"] < bound,
                )
            )
    return out


def ttl_claims(f):
    """global with a TTL: live instances plateau near request rate x ttl, and
    every instance is freed without traffic once the load stops."""
    label, ttl = f["label"], f["ttl_s"]
    live, rate = f.get("plateau_live"), f.get("plateau_rate")
    tol = TTL_PLATEAU_TOLERANCE
    if live is None or not rate:
        got, ok = "no plateau (too few samples after warm-up + ttl)", False
    else:
        want = rate * ttl
        got = (
            f"median live {live:,.0f} over {f['plateau_samples']} samples; "
            f"{rate:,.0f} req/s x {ttl:g} s = {want:,.0f} ({live / want - 1:+.1%})"
        )
        ok = abs(live - want) <= tol * want
    free = f.get("free_s")
    limit = ttl + TTL_FREE_GRACE_S
    return [
        _claim(
            f"`{label}` live instances plateau within {tol:.0%} of request rate x ttl ({ttl:g} s)",
            got,
            ok,
            "live.png",
        ),
        _claim(
            f"`{label}` frees every instance without traffic within ttl + "
            f"{TTL_FREE_GRACE_S:g} s of the load's end",
            "live never reached 0" if free is None else f"live 0 after {free:.1f} s",
            free is not None and free <= limit,
            "live.png",
        ),
    ]


def maxbytes_claim(f, figs, ib_of):
    """global with a byte bound: after the drain the live instances' bytes
    are within maxbytes plus one instance, and the cache's own count never
    passed maxbytes; a global scope bounded by entries only, with the same
    instances, holds more."""
    label, mb = f["label"], f["maxbytes"]
    one = f["live_bytes_end"] / f["live_end"] if f["live_end"] else None
    peak = f["peak_currbytes"]
    ok = one is not None and f["live_bytes_end"] <= mb + one and peak is not None and peak <= mb
    got = (
        f"live_bytes after the drain {f['live_bytes_end']:,} ({f['live_end']:,} instances), "
        f"bound + one instance {mb + (one or 0):,.0f}; cache currbytes at most {peak:,}"
    )
    text = f"`{label}` keeps live_bytes ≤ maxbytes ({mib(mb)}) + one instance"
    other = next(
        (
            o
            for o in figs
            if o["scope"] == "global" and o["maxsize"] not in (None, 0)
            and o.get("maxbytes") is None and not o.get("ttl_s") and ib_of(o) == ib_of(f)
        ),
        None,
    )  # fmt: skip
    if other is not None:
        text += f" while `{other['label']}` with the same instances does not"
        more = one is not None and other["live_bytes_end"] > mb + one
        got += (
            f"; `{other['label']}` {other['live_bytes_end']:,} "
            f"({other['live_end']:,} instances)"
        )
        ok = ok and more
    return _claim(text, got, ok, "live.png")


def weak_claim(f):
    """weak: no entry outlives its instance."""
    stored = f["misses"]
    gone = f["left_end"] + f["evictions_end"] + f["expirations_end"]
    return _claim(
        f"`{f['label']}` holds no entry after the drain: every entry stored left with its "
        "instance (or was evicted)",
        f"entries {f['currsize_end']:,}; {stored:,} stored, {f['left_end']:,} left with their "
        f"instance, {f['evictions_end']:,} evicted, {f['expirations_end']:,} expired",
        f["currsize_end"] == 0 and gone == stored and stored > 0,
    )


def growth_claim(figs):
    """The growth pair (distinct keys): an unbounded global cache that grows
    by millions of entries answers its slowest 0.1% about as fast as a
    bounded shared one that does not grow. With the pair run several times
    (G S G S ...), each global run is paired with the shared run after it,
    and the median of their p99.9 ratios decides: one 60 s window that a
    neighbour's burst made slow does not."""
    gs = [f for f in figs if f.get("distinct") and f["scope"] == "global" and f["maxsize"] is None]
    shs = [f for f in figs if f.get("distinct") and f["scope"] == "shared" and f["maxsize"]]
    pairs = list(zip(gs, shs))
    if not pairs:
        return None
    ratios = [
        g["p999_ms"] / sh["p999_ms"] if g["p999_ms"] is not None and sh["p999_ms"] else None
        for g, sh in pairs
    ]
    ok = None not in ratios and statistics.median(ratios) <= P999_TIMES
    g, sh = pairs[0]
    each = "; ".join(
        f"{_num(g['p999_ms'], '{:.1f}')} ms vs {_num(sh['p999_ms'], '{:.1f}')} ms "
        f"(slowest {_num(g['max_ms'], '{:.1f}')} vs {_num(sh['max_ms'], '{:.1f}')} ms; "
        f"{g['requests']:,} entries grown)"
        for g, sh in pairs
    )
    if len(pairs) == 1:
        what = (
            f"`{g['label']}` p99.9 within {P999_TIMES:g}x of `{sh['label']}`'s, distinct keys "
            f"({g['duration_s']:g} s and {sh['duration_s']:g} s, the same run)"
        )
        got = each
    else:
        what = (
            f"`{g['label']}` p99.9 within {P999_TIMES:g}x of `{sh['label']}`'s, distinct keys "
            f"({g['duration_s']:g} s and {sh['duration_s']:g} s, the same run): the median "
            f"ratio of {len(pairs)} pairs run one after the other"
        )
        got = (
            "ratios "
            + ", ".join("-" if r is None else f"{r:.2f}" for r in ratios)
            + (f", median {statistics.median(ratios):.2f}" if None not in ratios else "")
            + f": {each}"
        )
    return _claim(what, got, ok, "growth.png")


# ----------------------------------------------------------------- report


def mib(n):
    return "-" if n is None else f"{n / MiB:,.1f} MiB"


def _num(v, fmt="{:,.0f}"):
    if v is None:
        return "-"
    text = fmt.format(v)
    return text[1:] if text.startswith("-") and not text.strip("-0.,") else text  # no "-0"


def scope_settings(f, p):
    """What a named scope sets for itself (beyond the run's parameters p),
    as text ("" when nothing)."""
    parts = []
    if f.get("ttl_s"):
        parts.append(f"`--ttl-s {f['ttl_s']:g}`")
    if f.get("maxbytes") is not None:
        parts.append(f"`--maxbytes {f['maxbytes']}` ({mib(f['maxbytes'])})")
    if f.get("instance_bytes") not in (None, p["instance_bytes"]):
        parts.append(f"`--instance-bytes {f['instance_bytes']}`")
    if f.get("delay_ms") not in (None, p["delay_ms"]):
        parts.append(f"`--delay-ms {f['delay_ms']}`")
    if f.get("distinct"):
        parts.append("distinct keys (every request a new (a, b))")
    return ", ".join(parts)


def claims_table(w, claims):
    w("| | claim | measured |")
    w("|---|---|---|")
    for c in claims:
        w(f"| {'PASS' if c['pass'] else '**FAIL**'} | {c['claim']} | {c['measured']} |")
    w("")


def render_markdown(run, figs, claims, plots, plots_extra=()):
    p = run["params"]
    out = []
    w = out.append
    w("# memoscope load-test report\n")
    w(
        f"Recorded {run.get('started', '?')} on {run.get('machine', '?')}, "
        f"commit `{run.get('commit', '?')}`, by:\n"
    )
    w("```sh\n" + run.get("command", "?") + "\n```\n")
    w(
        f"Each scope: a fresh server (`--delay-ms {p['delay_ms']} --instance-bytes "
        f"{p['instance_bytes']}"
        f"{'' if p['threads'] == 'default' else ' --threads ' + str(p['threads'])}`"
        "), then wrk for the seconds in the "
        f"table with {p['connections']} connections on {p['wrk_threads']} thread(s), "
        f"{'single calls' if p['batch'] == 1 else str(p['batch']) + ' calls per request'} "
        f"with a and b drawn from 0..{p['keys'] - 1} ({p['keys'] ** 2:,} pairs), "
        f"/stats sampled every {p['sample_ms']} ms. Warm-up: the first {p['warmup_s']:g} s of load "
        "(or a quarter of a shorter run) are left out of the slopes and drifts.\n"
    )
    w("## Claims\n")
    n_fail = sum(not c["pass"] for c in claims)
    w(f"{len(claims) - n_fail} of {len(claims)} claims pass.\n")
    # Each claim under the picture that shows it; the claims no picture
    # shows (or every claim, without plots) in one table after them.
    drawn = [name for name, _ in plots]
    for name, caption in plots:
        shown = [c for c in claims if c.get("plot") == name]
        if not shown:
            continue
        w(f"### {caption}\n\n![{caption}]({name})\n")
        claims_table(w, shown)
    rest = [c for c in claims if c.get("plot") not in drawn]
    if rest:
        if len(rest) < len(claims):
            w("### Claims without a picture\n")
        claims_table(w, rest)
    w("## Summary\n")
    w(
        "| scope | s | requests | req/s | p50 ms | p99 ms | p99.9 ms | max ms | errors "
        "| hit ratio | live at end | RSS start | RSS end | RSS B/req | heap B/req | CPU µs/req |"
    )
    w("|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|")
    for f in figs:
        errors = (f["wrk_errors"] or 0) + f["server_errors"]
        w(
            f"| `{f['label']}`{' (stopped early)' if f['stopped_early'] else ''} "
            f"| {f['duration_s']:g} | {f['requests']:,} | {_num(f['req_per_s'])} "
            f"| {_num(f['p50_ms'], '{:.1f}')} | {_num(f['p99_ms'], '{:.1f}')} "
            f"| {_num(f['p999_ms'], '{:.1f}')} | {_num(f['max_ms'], '{:.1f}')} | {errors:,} "
            f"| {f['hit_ratio']:.3f} | {f['live_end']:,} | {mib(f['rss_start'])} "
            f"| {mib(f['rss_end'])} | {_num(f['rss_slope'])} | {_num(f['heap_slope'])} "
            f"| {_num(f['cpu_us_per_req'], '{:.1f}')} |"
        )
    w("")
    w(
        "*s*: seconds of load. *requests*: POST /calculate served by the server (its `requests.total` after the drain). "
        "*req/s*, *p50*, *p99*, *p99.9*, *max*: wrk's, over the load (*max*: the slowest answer). *errors*: wrk's (connect, read, write, "
        "status, timeout) plus the server's `requests.errors`. *hit ratio*: hits / (hits + misses) "
        "at the end. *RSS start*: before the load; *RSS end*: after the drain. *RSS B/req*, "
        "*heap B/req*: least-squares slope of `rss_bytes` (and `heap_bytes`) over requests served, "
        "after warm-up: the bytes each request leaves behind. *CPU µs/req*: the server process's "
        "user + system CPU over the load, per request.\n"
    )
    own = [f for f in figs if scope_settings(f, p)]
    if own:
        w("Scopes with settings of their own (the others use the run's):\n")
        for f in own:
            w(f"- `{f['label']}`: {scope_settings(f, p)}")
        w("")
    more = [(name, caption) for name, caption in plots if not any(c.get("plot") == name for c in claims)]
    if more:
        w("## More plots\n")
        for name, caption in more:
            w(f"**{caption}**\n\n![{caption}]({name})\n")
    w("## Is my service leaking like this? Point the kit at it\n")
    w(
        "This report reads memoscope's own `/stats`. The leak check asks the same of any "
        "service, from the outside and under load: it drives wrk at a loopback URL, samples "
        "the process's (or a cgroup's) memory, and fits the bytes each request leaves behind "
        "after warm-up, with a 95 % interval. It prints `grows` or `flat` last and exits 1 or "
        "0 (2 when it cannot measure), so a CI pipeline can use it as a gate:\n"
    )
    w("```sh\n./loadtest/leakcheck.sh --url http://127.0.0.1:PORT/PATH --pid PID\n```\n")
    if LEAKCHECK_PICTURE in plots_extra:
        w(
            "The article's program (a CPython service, `lru_cache` on the method) measured so:\n\n"
            f"![The article's program under the leak check]({LEAKCHECK_PICTURE})\n"
        )
    w("How it decides, and more examples: `docs/leakcheck.md` in the repository.\n")
    w("## Files\n")
    w(
        "`run.json`: parameters and wrk's figures; `stats-<scope>.csv`: every /stats sample "
        "(t_s is seconds since the load started; phase idle, load or drain); "
        "`server-<scope>.log`, `wrk-<scope>.txt`: the raw outputs. Regenerate this page with "
        "`python3 loadtest/report.py <this folder>`.\n"
    )
    return "\n".join(out)


PLOTS = [
    ("rss.png", "RSS over requests served, one panel per scope (each with its own scale)"),
    ("live.png", "Live instances over time (0 cannot be shown on the log axis)"),
    ("hits.png", "Hit ratio over time"),
    ("rate.png", "Requests per second, per scope"),
    ("growth.png", "The growth runs apart: RSS over requests served, and each run's p99.9"),
    ("heap.png", "Heap bytes over requests served, one panel per scope (each with its own scale)"),
]


def _gp_string(text):
    """text as a gnuplot single-quoted string ('' stands for a quote)."""
    return "'" + text.replace("'", "''") + "'"


def plot_settings(figs):
    """What plots.gp draws, from the figures of a run: the scopes of the
    panels (the growth runs kept apart), each panel's title, each scope's
    requests per second, and the growth runs' p99.9. Returns the gnuplot
    expression that sets them (after dir=...)."""
    main = [f for f in figs if not f.get("distinct")]
    growth = [f for f in figs if f.get("distinct")]

    def note(f, key):
        slope = f[key + "_slope"]
        per = "no fit" if slope is None else f"{_num(slope)} B/request"
        return f"{f['label']}: {per}, {mib(f[key + '_end'])} at the end"

    parts = [f"labels='{' '.join(f['label'] for f in main)}'"]
    for key in ("rss", "heap"):
        notes = ", ".join(_gp_string(note(f, key)) for f in main)
        parts.append(f"array {key}_note[{len(main)}] = [{notes}]")
    parts.append("rates='" + " ".join(f"{f['req_per_s'] or 0:.0f}" for f in main) + "'")
    if growth:
        parts.append(f"growth='{' '.join(f['label'] for f in growth)}'")
        parts.append("p999='" + " ".join(f"{f['p999_ms'] or 0:.2f}" for f in growth) + "'")
    return "; ".join(parts)


def draw_plots(folder, figs):
    """Runs plots.gp on the folder. Returns the list of (file, caption) drawn.
    Raises subprocess.CalledProcessError when gnuplot fails."""
    for old in ("rss-zoom.png", "growth.png"):  # from an earlier report of the folder
        path = os.path.join(folder, old)
        if os.path.exists(path):
            os.remove(path)
    expr = f"dir={_gp_string(folder)}; " + plot_settings(figs)
    subprocess.run(["gnuplot", "-e", expr, os.path.join(HERE, "plots.gp")], check=True)
    growth = any(f.get("distinct") for f in figs)
    return [(name, caption) for name, caption in PLOTS if growth or name != "growth.png"]


# The leak check's picture of the article's program, shown in every report.
LEAKCHECK_SOURCE = os.path.join(HERE, "..", "docs", "leakcheck", "python-lru.svg")
LEAKCHECK_PICTURE = "leakcheck-python-lru.svg"


def copy_leakcheck_picture(folder):
    """Copies the leak check's example picture into folder; returns its
    name, or None when the repository's copy is missing."""
    if not os.path.exists(LEAKCHECK_SOURCE):
        return None
    shutil.copyfile(LEAKCHECK_SOURCE, os.path.join(folder, LEAKCHECK_PICTURE))
    return LEAKCHECK_PICTURE


def make_report(folder, plots=True):
    """Reads the run in folder, writes folder/report.md (and the PNGs when
    plots is true). Returns (figs, claims)."""
    run, samples = load_run(folder)
    figs = [analyse(s, samples[s["label"]]) for s in run["scopes"]]
    claims = check_claims(run, figs)
    drawn = draw_plots(folder, figs) if plots else []
    extra = [copy_leakcheck_picture(folder)] if plots else []
    with open(os.path.join(folder, "report.md"), "w") as f:
        f.write(render_markdown(run, figs, claims, drawn, [e for e in extra if e]))
    return figs, claims


def main(argv):
    ap = argparse.ArgumentParser(description="Write report.md (and plots) for a load-test run.")
    ap.add_argument("folder")
    ap.add_argument("--no-plots", action="store_true", help="skip gnuplot")
    a = ap.parse_args(argv)
    figs, claims = make_report(a.folder, plots=not a.no_plots)
    for c in claims:
        print(f"{'PASS' if c['pass'] else 'FAIL'}  {c['claim']}: {c['measured']}")
    print(f"report: {os.path.join(a.folder, 'report.md')}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
