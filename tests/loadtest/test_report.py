#!/usr/bin/env python3
"""test_report.py -- the load-test report code (loadtest/report.py), specified
by example: how it reads a run, fits retained bytes per request and checks
the report's claims.

    python3 tests/loadtest/test_report.py      (CTest: loadtest_report)

data/recorded/ is a real run of loadtest/run.py (five scopes, 3 s each, 32
connections, delay 5 ms; see its run.json), kept as it was written. The other
cases build small runs whose figures are known exactly.
"""

import csv
import json
import os
import shutil
import statistics
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "loadtest"))
sys.dont_write_bytecode = True  # no __pycache__ in the source tree

import report  # noqa: E402
import run  # noqa: E402

RECORDED = os.path.join(HERE, "data", "recorded")
MiB = 1024 * 1024


class FitLine(unittest.TestCase):
    def test_points_on_a_line_give_its_slope_and_intercept(self):
        xs = [0, 1000, 2000, 5000]
        slope, intercept = report.fit_line(xs, [7_000_000 + 4096 * x for x in xs])
        self.assertAlmostEqual(slope, 4096, places=9)
        self.assertAlmostEqual(intercept, 7_000_000, places=3)

    def test_noise_that_cancels_out_leaves_the_slope_exact(self):
        # +e, -e, -e, +e on evenly spaced x has zero covariance with x.
        xs = list(range(0, 4000, 100))
        noise = [64 * 1024 * (1, -1, -1, 1)[i % 4] for i in range(len(xs))]
        slope, _ = report.fit_line(xs, [5e6 + 4096 * x + n for x, n in zip(xs, noise)])
        self.assertAlmostEqual(slope, 4096, places=6)

    def test_a_flat_series_has_slope_zero(self):
        self.assertEqual(report.fit_line([1, 2, 3], [9, 9, 9])[0], 0)

    def test_no_fit_without_two_distinct_x(self):
        self.assertIsNone(report.fit_line([], []))
        self.assertIsNone(report.fit_line([5], [1]))
        self.assertIsNone(report.fit_line([5, 5, 5], [1, 2, 3]))


class RecordedRun(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.rec, cls.samples = report.load_run(RECORDED)
        cls.figs = {
            s["label"]: report.analyse(s, cls.samples[s["label"]]) for s in cls.rec["scopes"]
        }

    def test_every_scope_and_sample_is_read(self):
        self.assertEqual(
            list(self.samples), ["global-128", "global-none", "local", "shared", "off"]
        )
        for label, rows in self.samples.items():
            self.assertEqual(len(rows), 20, label)
            self.assertEqual([r["phase"] for r in rows[:4]], ["idle", "idle", "idle", "load"])
            self.assertEqual(rows[-1]["phase"], "drain")

    def test_figures_of_the_unbounded_global_scope(self):
        f = self.figs["global-none"]
        self.assertEqual(f["requests"], 12919)
        self.assertEqual(f["live_end"], 12919)
        self.assertEqual(f["rss_start"], 4874240)  # the last idle sample
        self.assertEqual(f["rss_end"], 61124608)  # the drain sample
        self.assertEqual(f["steady_samples"], 12)  # load samples from t = 0.75 s
        self.assertEqual(f["steady_requests"], 12756 - 3381)
        self.assertEqual(f["hit_ratio"], 0)
        self.assertEqual(f["exit_status"], 0)

    def test_slopes_are_least_squares_over_the_samples_after_warm_up(self):
        rows = [r for r in self.samples["global-none"] if r["phase"] == "load" and r["t_s"] >= 0.75]
        xs = [r["requests"] for r in rows]
        f = self.figs["global-none"]
        for key in ("rss", "heap"):
            want = statistics.linear_regression(xs, [r[key + "_bytes"] for r in rows]).slope
            self.assertAlmostEqual(f[key + "_slope"], want, places=6)
        self.assertEqual(round(f["rss_slope"]), 4263)
        self.assertEqual(round(f["heap_slope"]), 4253)

    def test_wrk_figures_come_from_run_json(self):
        f = self.figs["shared"]
        self.assertEqual(f["wrk_requests"], 82902)
        self.assertAlmostEqual(f["req_per_s"], 82902 / 3.010233, places=2)
        self.assertEqual(f["p50_ms"], 0.680)
        self.assertEqual(f["p99_ms"], 23.258)
        self.assertEqual(f["wrk_errors"], 0)
        self.assertAlmostEqual(f["hit_ratio"], 82834 / (82834 + 100))

    def test_done_line_of_wrk_is_parsed(self):
        parsed = run.parse_wrk(os.path.join(RECORDED, "wrk-shared.txt"))
        self.assertEqual(parsed, self.rec["scopes"][3]["wrk"])

    def test_claims_of_a_short_run(self):
        claims = report.check_claims(self.rec, list(self.figs.values()))
        verdicts = [(c["claim"].split("`")[1], c["pass"]) for c in claims]
        self.assertEqual(
            verdicts,
            [
                ("global-128", True),  # 128 live at the end
                ("global-none", True),  # slope 4,263 B: 104% of 4,096
                ("global-none", True),  # live 12,919 = requests
                ("local", False),  # flat, but 3 s is far from 200,000 requests
                ("shared", True),  # hit ratio 0.9988
                ("shared", True),  # 6.4x the fastest other scope
                ("off", False),  # as local
            ],
        )
        local = claims[3]["measured"]
        self.assertIn("over 8,845 requests", local)

    def test_markdown_states_each_claim_and_figure(self):
        claims = report.check_claims(self.rec, list(self.figs.values()))
        md = report.render_markdown(self.rec, list(self.figs.values()), claims, report.PLOTS)
        self.assertIn("5 of 7 claims pass.", md)
        self.assertEqual(md.count("| **FAIL** |"), 2)
        self.assertIn("| `global-none` | 3 | 12,919 |", md)
        self.assertIn("(rss.png)", md)

    def test_each_claim_sits_under_the_picture_that_shows_it(self):
        claims = report.check_claims(self.rec, list(self.figs.values()))
        self.assertEqual(
            [(c["claim"].split("`")[1], c["plot"]) for c in claims],
            [
                ("global-128", "live.png"),  # plateau at 128 live
                ("global-none", "rss.png"),  # bytes per request: its panel's slope
                ("global-none", "live.png"),  # live = requests
                ("local", "rss.png"),  # flat
                ("shared", "hits.png"),
                ("shared", "rate.png"),  # many times the throughput
                ("off", "rss.png"),
            ],
        )
        plots = [p for p in report.PLOTS if p[0] != "growth.png"]
        md = report.render_markdown(self.rec, list(self.figs.values()), claims, plots)
        for c in claims:
            row = md.index(f"| {c['claim']} |")
            picture = md.rindex("![", 0, row)
            self.assertTrue(md.startswith("![", picture))
            link = md.index("](", picture) + 2
            self.assertEqual(md[link : md.index(")", link)], c["plot"])
        # Each picture once; heap.png, which no claim rests on, after the claims.
        for name, _ in plots:
            self.assertEqual(md.count(f"]({name})"), 1, name)
        self.assertGreater(md.index("](heap.png)"), md.index("## More plots"))

    def test_without_plots_the_claims_are_one_table(self):
        claims = report.check_claims(self.rec, list(self.figs.values()))
        md = report.render_markdown(self.rec, list(self.figs.values()), claims, [])
        self.assertNotIn("![", md)
        self.assertNotIn("### ", md)
        self.assertEqual(md.count("| | claim | measured |"), 1)

    def test_every_report_points_the_kit_at_any_service(self):
        claims = report.check_claims(self.rec, list(self.figs.values()))
        md = report.render_markdown(self.rec, list(self.figs.values()), claims, [],
                                    [report.LEAKCHECK_PICTURE])
        self.assertIn("## Is my service leaking like this? Point the kit at it", md)
        self.assertIn("./loadtest/leakcheck.sh --url", md)
        self.assertIn("](" + report.LEAKCHECK_PICTURE + ")", md)
        self.assertTrue(os.path.exists(report.LEAKCHECK_SOURCE))


# ---------------------------------------------------------- synthetic runs


def _row(t, phase, requests, live, rss, hits=0, misses=0, heap=None, **more):
    return {
        "t_s": t, "phase": phase, "uptime_s": t + 1, "requests": requests, "in_flight": 0,
        "errors": 0, "created": requests, "freed": requests - live, "live": live,
        "live_bytes": live * 4096, "hits": hits, "misses": misses, "coalesced": 0,
        "currsize": 0, "evictions": 0, "rss_bytes": int(rss),
        "heap_bytes": int(rss if heap is None else heap),
        "currbytes": 0, "expirations": 0, "left_with_instance": 0,
    } | more  # fmt: skip


def series(rate, seconds, rss_at, live_at=lambda n: 0, ratio=0.0, step=0.5):
    """Idle sample, load samples every step seconds at rate req/s, one drain
    sample: rss_at(n) and live_at(n) give the figures after n requests."""
    rows = [_row(-step, "idle", 0, 0, rss_at(0))]
    t = 0.0
    while t <= seconds + 1e-9:
        n = int(rate * t)
        rows.append(_row(t, "load", n, live_at(n), rss_at(n), int(n * ratio), n - int(n * ratio)))
        t += step
    rows.append(dict(rows[-1], t_s=t, phase="drain"))
    return rows


class SyntheticRun:
    """Writes small runs of known figures and reads their claims back."""

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="loadtest-test-")

    def tearDown(self):
        shutil.rmtree(self.dir)

    def claims(self, scopes, connections=64, delay_ms=20):
        """Writes a run of (label, scope, maxsize, req/s, rows, exit status)
        and returns make_report's claims as [(scope label, claim, pass)]."""
        self.write_run(scopes, connections, delay_ms)
        figs, claims = report.make_report(self.dir, plots=False)
        self.assertTrue(os.path.exists(os.path.join(self.dir, "report.md")))
        return [(c["claim"].split("`")[1], c["claim"], c["pass"]) for c in claims]

    def write_run(self, scopes, connections=64, delay_ms=20):
        """Writes run.json and the CSVs of a run of (label, scope, maxsize,
        req/s, rows, exit status[, run.json entries of the scope])."""
        entries = []
        for label, scope, maxsize, rate, rows, status, *extra in scopes:
            with open(os.path.join(self.dir, f"stats-{label}.csv"), "w", newline="") as f:
                w = csv.DictWriter(f, fieldnames=report.CSV_COLUMNS)
                w.writeheader()
                w.writerows(rows)
            entries.append({
                "label": label, "scope": scope, "maxsize": maxsize, "csv": f"stats-{label}.csv",
                "duration_s": 10, "warmup_s": 2, "exit_status": status, "cpu_s": 1.0,
                "wrk": {"requests": rate * 10, "duration_us": 10_000_000,
                        "errors": {"connect": 0, "read": 0, "write": 0, "status": 0, "timeout": 0},
                        "latency_us": {"p50": 20000, "p99": 30000}},
            })  # fmt: skip
            if extra:
                lat = extra[0].pop("latency_us", {})
                entries[-1]["wrk"]["latency_us"].update(lat)
                entries[-1].update(extra[0])
        params = {
            "connections": connections, "delay_ms": delay_ms, "instance_bytes": 4096,
            "threads": 2, "keys": 10, "batch": 1, "wrk_threads": 1, "sample_ms": 500,
            "warmup_s": 2,
        }  # fmt: skip
        with open(os.path.join(self.dir, "run.json"), "w") as f:
            json.dump({"params": params, "scopes": entries}, f)



class AgeClaims(SyntheticRun, unittest.TestCase):
    """The oldest live instance's age, sampled with /stats."""

    @staticmethod
    def aged(rows, age_at):
        return [dict(r, oldest_age_s=age_at(r["t_s"])) for r in rows]

    def test_global_none_oldest_follows_the_run(self):
        leak = series(5000, 10, lambda n: 8 * MiB + 4096 * n, live_at=lambda n: n)
        follows = self.aged(leak, lambda t: max(t, 0.0))  # the first instance is kept
        renewed = self.aged(leak, lambda t: max(t / 2, 0.0))  # something frees the oldest
        got = self.claims([
            ("kept", "global", None, 5000, follows, 0),
            ("renewed", "global", None, 5000, renewed, 0),
        ])  # fmt: skip
        self.assertEqual(
            [(label, ok) for label, claim, ok in got if "ages with the run" in claim],
            [("kept", True), ("renewed", False)],
        )

    def test_other_scopes_stay_under_the_slowest_answer_and_a_period(self):
        flat = series(5000, 10, lambda n: 8 * MiB)
        slowest = {"latency_us": {"max": 120_000}}  # 0.12 s; sample_ms is 500
        got = self.claims([
            ("young", "local", 128, 5000, self.aged(flat, lambda t: 0.1), 0, dict(slowest)),
            ("edge", "shared", 128, 5000, self.aged(flat, lambda t: 0.6), 0, dict(slowest)),
            ("old", "off", 128, 5000, self.aged(flat, lambda t: max(t, 0.0)), 0, dict(slowest)),
        ])  # fmt: skip
        self.assertEqual(
            [(label, ok) for label, claim, ok in got if "outlives its request" in claim],
            [("young", True), ("edge", True), ("old", False)],
        )

    def test_no_ages_no_age_claims(self):
        rows = series(5000, 10, lambda n: 8 * MiB + 4096 * n, live_at=lambda n: n)
        got = self.claims([("g", "global", None, 5000, rows, 0)])
        self.assertFalse([c for _, c, _ in got if "ages with the run" in c])

    def test_stats_rows_carry_the_age_and_null_reads_as_zero(self):
        stats = {
            "uptime_s": 1.0, "requests": {"total": 1, "in_flight": 0, "errors": 0},
            "instances": {"created": 1, "freed": 1, "live": 0, "live_bytes": 0,
                          "oldest_age_s": None},
            "cache": {"hits": 0, "misses": 1, "currsize": 0, "evictions": 0},
            "memory": {"rss_bytes": 1, "heap_bytes": 1},
        }  # fmt: skip
        self.assertEqual(report.stats_row(0.5, "load", stats)["oldest_age_s"], 0)
        stats["instances"]["oldest_age_s"] = 2.5
        self.assertEqual(report.stats_row(0.5, "load", stats)["oldest_age_s"], 2.5)


class SyntheticRuns(SyntheticRun, unittest.TestCase):
    def leak(self, per_request):
        return series(5000, 10, lambda n: 8 * MiB + per_request * n, live_at=lambda n: n)

    def test_unbounded_global_slope_within_ten_percent(self):
        got = self.claims([
            ("g-in", "global", None, 5000, self.leak(4096 * 1.09), 0),
            ("g-out", "global", None, 5000, self.leak(4096 * 1.11), 0),
            ("g-under", "global", None, 5000, self.leak(4096 * 0.89), 0),
        ])  # fmt: skip
        self.assertEqual(
            [(label, ok) for label, claim, ok in got if "retains" in claim],
            [("g-in", True), ("g-out", False), ("g-under", False)],
        )

    def test_unbounded_global_live_must_match_requests(self):
        rows = series(5000, 10, lambda n: 8 * MiB + 4096 * n, live_at=lambda n: n)
        lost = [dict(r) for r in rows]
        lost[-1]["live"] -= 1  # one instance freed: something let go of it
        got = self.claims([
            ("ok", "global", None, 5000, rows, 0),
            ("lost", "global", None, 5000, lost, 0),
        ])  # fmt: skip
        self.assertEqual(
            [(label, ok) for label, claim, ok in got if "live instances" in claim],
            [("ok", True), ("lost", False)],
        )

    def test_bounded_global_plateaus_at_maxsize(self):
        plateau = series(5000, 10, lambda n: 9 * MiB, live_at=lambda n: min(n, 128 + 60))
        plateau[-1]["live"] = 128
        short = [dict(r) for r in plateau]
        short[-1]["live"] = 127
        over = series(5000, 10, lambda n: 9 * MiB, live_at=lambda n: min(n, 128 + 65))
        over[-1]["live"] = 128
        got = self.claims([
            ("g128", "global", 128, 5000, plateau, 0),
            ("g128-short", "global", 128, 5000, short, 0),
            ("g128-over", "global", 128, 5000, over, 0),
        ], connections=64)  # fmt: skip
        self.assertEqual(
            [(label, ok) for label, _, ok in got],
            [("g128", True), ("g128-short", False), ("g128-over", False)],
        )

    def test_flat_scopes_need_small_drift_over_enough_requests(self):
        def drift(total, n_after_warmup):
            return lambda n: 9 * MiB + int(total * n / n_after_warmup)

        # 25,000 req/s for 10 s: 200,000 requests after the 2 s warm-up.
        got = self.claims([
            ("flat", "local", 128, 25000, series(25000, 10, drift(1.9 * MiB, 200_000)), 0),
            ("drifts", "off", 128, 25000, series(25000, 10, drift(2.1 * MiB, 200_000)), 0),
            # Flat, but 192,000 requests after warm-up: too few to tell.
            ("short", "local", 128, 24000, series(24000, 10, lambda n: 9 * MiB), 0),
        ])  # fmt: skip
        self.assertEqual(
            [(label, ok) for label, _, ok in got],
            [("flat", True), ("drifts", False), ("short", False)],
        )

    def test_shared_hits_and_throughput(self):
        flat = lambda n: 9 * MiB  # noqa: E731
        got = self.claims([
            ("shared", "shared", 128, 30000, series(30000, 10, flat, ratio=0.995), 0),
            ("local", "local", 128, 6000, series(6000, 10, flat), 0),
            ("off", "off", 128, 10001, series(10001, 10, flat), 0),
        ])  # fmt: skip
        hit, many = [(claim, ok) for label, claim, ok in got if label == "shared"]
        self.assertIn("hit ratio", hit[0])
        self.assertTrue(hit[1])
        self.assertIn("throughput", many[0])
        self.assertFalse(many[1])  # 30,000 is just under 3x the fastest other, 10,001

        got = self.claims([
            ("shared", "shared", 128, 30000, series(30000, 10, flat, ratio=0.985), 0),
            ("local", "local", 128, 6000, series(6000, 10, flat), 0),
        ])  # fmt: skip
        hit, many = [ok for label, _, ok in got if label == "shared"]
        self.assertFalse(hit)  # 0.985
        self.assertTrue(many)  # 5x

    def test_no_throughput_claim_without_a_delay(self):
        flat = lambda n: 9 * MiB  # noqa: E731
        got = self.claims([
            ("shared", "shared", 128, 30000, series(30000, 10, flat, ratio=0.999), 0),
            ("off", "off", 128, 6000, series(6000, 10, flat), 0),
        ], delay_ms=0)  # fmt: skip
        self.assertEqual([claim for label, claim, _ in got if "throughput" in claim], [])

    def test_a_server_that_does_not_exit_0_is_a_failed_claim(self):
        got = self.claims(
            [("off", "off", 128, 6000, series(6000, 10, lambda n: 9 * MiB), "killed after timeout")]
        )
        self.assertIn(("off", "`off` server exits 0 on SIGTERM", False), got)


class BoundedScopes(SyntheticRun, unittest.TestCase):
    """The claims of the TTL, byte-bound, weak and growth scopes."""

    def ttl_run(self, live_at_plateau, free_after_s):
        # 5,000 req/s; ttl 2 s; live climbs for 2 s, then holds.
        rows = series(5000, 10, lambda n: 9 * MiB, live_at=lambda n: min(n, live_at_plateau))
        end = rows[-2]["t_s"]  # the last load sample
        rows[-1].update(live=live_at_plateau)  # drain: still alive, no traffic since
        rows.append(dict(rows[-1], t_s=end + free_after_s, phase="after", live=0))
        return rows

    def test_ttl_plateau_within_a_quarter_of_rate_times_ttl(self):
        ttl = {"ttl_s": 2}
        got = self.claims([
            ("in", "global", None, 5000, self.ttl_run(12_000, 2.5), 0, dict(ttl)),  # +20%
            ("over", "global", None, 5000, self.ttl_run(12_600, 2.5), 0, dict(ttl)),  # +26%
            ("under", "global", None, 5000, self.ttl_run(7_400, 2.5), 0, dict(ttl)),  # -26%
            ("slow", "global", None, 5000, self.ttl_run(10_000, 3.5), 0, dict(ttl)),
        ])  # fmt: skip
        self.assertEqual(
            [(label, "plateau" in claim, ok) for label, claim, ok in got],
            [
                ("in", True, True), ("in", False, True),
                ("over", True, False), ("over", False, True),
                ("under", True, False), ("under", False, True),
                ("slow", True, True), ("slow", False, False),  # freed after 3.5 s > 2 + 1
            ],
        )  # fmt: skip
        # The unbounded global claims (live = requests) are not made of a TTL scope.
        self.assertFalse(any("requests served" in claim for _, claim, _ in got))

    def test_byte_bound_keeps_live_bytes_within_one_instance_and_entry_bound_does_not(self):
        one = 65536 + 48
        mb = 4 * MiB

        def end_with(live, peak_currbytes):
            rows = series(5000, 10, lambda n: 9 * MiB)
            for r in rows:
                r["currbytes"] = min(peak_currbytes, r["requests"] * one)
            rows[-1].update(live=live, live_bytes=live * one)
            return rows

        big = {"instance_bytes": 65536}
        bound = {"instance_bytes": 65536, "maxbytes": mb}
        got = self.claims([
            ("mb", "global", None, 5000, end_with(63, 63 * one), 0, dict(bound)),
            ("g128", "global", 128, 5000, end_with(128, 0), 0, dict(big)),
        ])  # fmt: skip
        mbc = [(claim, ok) for label, claim, ok in got if label == "mb"]
        self.assertEqual(len(mbc), 1)
        self.assertIn("while `g128` with the same instances does not", mbc[0][0])
        self.assertTrue(mbc[0][1])  # 63 x 65,584 <= 4 MiB; 128 x 65,584 > 4 MiB + one

        over = self.claims([
            ("mb", "global", None, 5000, end_with(65, 63 * one), 0, dict(bound)),  # 2 too many
            ("g128", "global", 128, 5000, end_with(128, 0), 0, dict(big)),
        ])  # fmt: skip
        self.assertFalse([ok for label, _, ok in over if label == "mb"][0])
        counted = self.claims([  # the cache's own count passed the bound once
            ("mb", "global", None, 5000, end_with(64, mb + 1), 0, dict(bound)),
        ])  # fmt: skip
        self.assertFalse(counted[0][2])
        same = self.claims([  # an entry bound that happens to fit proves nothing
            ("mb", "global", None, 5000, end_with(63, 63 * one), 0, dict(bound)),
            ("g64", "global", 64, 5000, end_with(64, 0), 0, dict(big)),
        ])  # fmt: skip
        self.assertFalse([ok for label, _, ok in same if label == "mb"][0])

    def test_weak_is_flat_and_no_entry_outlives_its_instance(self):
        def weak(stored, left, evicted, currsize):
            rows = series(25000, 10, lambda n: 9 * MiB)
            rows[-1].update(misses=stored, left_with_instance=left, evictions=evicted,
                            currsize=currsize)  # fmt: skip
            return rows

        got = self.claims([
            ("weak", "weak", 128, 25000, weak(250_000, 249_000, 1_000, 0), 0),
            ("kept", "weak", 128, 25000, weak(250_000, 248_999, 1_000, 1), 0),
            ("lost", "weak", 128, 25000, weak(250_000, 248_000, 1_000, 0), 0),
        ])  # fmt: skip
        self.assertEqual(
            [(label, "flat" in claim, ok) for label, claim, ok in got],
            [
                ("weak", True, True), ("weak", False, True),
                ("kept", True, True), ("kept", False, False),
                ("lost", True, True), ("lost", False, False),
            ],
        )  # fmt: skip

    def test_growth_p999_within_twice_the_bounded_shared(self):
        flat = lambda n: 9 * MiB  # noqa: E731

        def pair(g_p999, s_p999):
            g = {"distinct": True, "delay_ms": 0, "latency_us": {"p999": g_p999, "max": 9000}}
            sh = {"distinct": True, "delay_ms": 0, "latency_us": {"p999": s_p999, "max": 4000}}
            return self.claims([
                ("gg", "global", None, 40000, series(40000, 10, flat, live_at=lambda n: n), 0, g),
                ("sg", "shared", 128, 40000, series(40000, 10, flat), 0, sh),
            ])  # fmt: skip

        ok = pair(3999, 2000)
        self.assertEqual([(label, ok) for label, _, ok in ok], [("gg", True)])
        self.assertEqual([(label, ok) for label, _, ok in pair(4001, 2000)], [("gg", False)])
        # Neither of the pair makes the claims of its scope (hit ratio, slope).
        self.assertEqual(len(pair(1000, 2000)), 1)

    def test_growth_repeats_are_decided_by_the_median_ratio(self):
        # Pairs run one after the other (G S G S G S): each global run with
        # the shared run after it; the median of the three ratios decides.
        flat = lambda n: 9 * MiB  # noqa: E731

        def pairs(*p999s):
            scopes = []
            for k, (g_p999, s_p999) in enumerate(p999s, 1):
                g = {"distinct": True, "delay_ms": 0, "latency_us": {"p999": g_p999, "max": 9000}}
                sh = {"distinct": True, "delay_ms": 0, "latency_us": {"p999": s_p999, "max": 4000}}
                scopes += [
                    (f"gg{k}", "global", None, 40000,
                     series(40000, 10, flat, live_at=lambda n: n), 0, g),
                    (f"sg{k}", "shared", 128, 40000, series(40000, 10, flat), 0, sh),
                ]  # fmt: skip
            return [(label, ok) for label, claim, ok in self.claims(scopes) if "p99.9" in claim]

        # Ratios 2.5, 1.5, 1.9: one window over 2x, the median under.
        self.assertEqual(pairs((5000, 2000), (3000, 2000), (3800, 2000)), [("gg1", True)])
        # Ratios 2.5, 2.1, 1.5: the median over 2x.
        self.assertEqual(pairs((5000, 2000), (4200, 2000), (3000, 2000)), [("gg1", False)])
        # The global run is compared with its own pair's shared run, not
        # another's: 4000/1000 and 2000/4000 are 4.0 and 0.5, the median 2.25.
        self.assertEqual(pairs((4000, 1000), (2000, 4000)), [("gg1", False)])

    def test_shared_throughput_is_compared_with_scopes_of_its_delay(self):
        flat = lambda n: 9 * MiB  # noqa: E731
        fast = {"distinct": True, "delay_ms": 0}
        got = self.claims([
            ("shared", "shared", 128, 30000, series(30000, 10, flat, ratio=0.999), 0),
            ("off", "off", 128, 6000, series(6000, 10, flat), 0),
            ("sg", "shared", 128, 90000, series(90000, 10, flat), 0, fast),
        ])  # fmt: skip
        many = [ok for label, claim, ok in got if "throughput" in claim]
        self.assertEqual(many, [True])  # 5x off; sg (no delay) is not compared


class Plots(SyntheticRun, unittest.TestCase):
    """The pictures: one panel per scope, each with its own scale, and the
    growth runs (distinct keys, millions of entries) in a plot of their own."""

    def scopes(self, growth=True):
        grows = lambda n: 5 * MiB + 4096 * n  # noqa: E731
        flat = lambda n: 9 * MiB  # noqa: E731
        out = [
            ("global-none", "global", None, 5000, series(5000, 10, grows, live_at=lambda n: n), 0),
            ("local", "local", 128, 5000, series(5000, 10, flat), 0),
            ("shared", "shared", 128, 30000, series(30000, 10, flat, ratio=0.999), 0),
        ]
        if growth:
            g = {"distinct": True, "delay_ms": 0, "latency_us": {"p999": 12400, "max": 27000}}
            sh = {"distinct": True, "delay_ms": 0, "latency_us": {"p999": 10500, "max": 35000}}
            big = lambda n: 5 * MiB + 250 * n  # noqa: E731
            out += [
                ("gg", "global", None, 90000, series(90000, 10, big, live_at=lambda n: n), 0, g),
                ("sg", "shared", 128, 90000, series(90000, 10, flat), 0, sh),
            ]
        return out

    def test_growth_runs_are_kept_out_of_the_panels(self):
        self.write_run(self.scopes())
        run_, samples = report.load_run(self.dir)
        figs = [report.analyse(s, samples[s["label"]]) for s in run_["scopes"]]
        expr = report.plot_settings(figs)
        self.assertIn("labels='global-none local shared';", expr)
        self.assertIn("growth='gg sg';", expr)
        self.assertIn("p999='12.40 10.50'", expr)
        self.assertIn("rates='5000 5000 30000'", expr)  # wrk's, of the panels' scopes
        # One title per panel, with the scope's bytes per request.
        self.assertIn("array rss_note[3] = ['global-none: 4,096 B/request, ", expr)
        self.assertNotIn("growth=", report.plot_settings(figs[:3]))

    @unittest.skipUnless(shutil.which("gnuplot"), "gnuplot is not installed")
    def test_gnuplot_draws_a_panel_per_scope_and_the_growth_runs_apart(self):
        import subprocess

        self.write_run(self.scopes())
        run_, samples = report.load_run(self.dir)
        figs = [report.analyse(s, samples[s["label"]]) for s in run_["scopes"]]
        expr = f"dir='{self.dir}'; verbose=1; " + report.plot_settings(figs)
        gp = os.path.join(HERE, "..", "..", "loadtest", "plots.gp")
        out = subprocess.run(["gnuplot", "-e", expr, gp], capture_output=True, text=True)
        self.assertEqual(out.returncode, 0, out.stderr)
        said = out.stderr.splitlines()
        self.assertIn("rss.png: 3 panels: global-none local shared", said)
        self.assertIn("heap.png: 3 panels: global-none local shared", said)
        self.assertIn("growth.png: 2 runs: gg sg", said)
        for name in ("rss", "heap", "live", "hits", "rate", "growth"):
            with open(os.path.join(self.dir, name + ".png"), "rb") as f:
                self.assertEqual(f.read(8), b"\x89PNG\r\n\x1a\n", name)
        # The report places the growth claim under growth.png...
        report.make_report(self.dir, plots=True)
        with open(os.path.join(self.dir, "report.md")) as f:
            md = f.read()
        claim = md.index("`gg` p99.9 within 2x")
        self.assertEqual(md.rindex("![", 0, claim), md.index("![", md.index("### The growth runs")))
        # ...and a run without growth runs has no growth plot (an old one is removed).
        for name in os.listdir(self.dir):
            if name.startswith("stats-"):
                os.remove(os.path.join(self.dir, name))
        self.write_run(self.scopes(growth=False))
        report.make_report(self.dir, plots=True)
        self.assertFalse(os.path.exists(os.path.join(self.dir, "growth.png")))
        with open(os.path.join(self.dir, "report.md")) as f:
            self.assertNotIn("growth.png", f.read())


class Inputs(unittest.TestCase):
    def test_a_csv_from_before_the_bounds_reads_their_columns_as_zero(self):
        rows = report.read_samples(os.path.join(RECORDED, "stats-global-none.csv"))
        self.assertEqual({(r["currbytes"], r["expirations"], r["left_with_instance"]) for r in rows},
                         {(0, 0, 0)})  # fmt: skip

    def test_a_csv_without_a_column_is_refused(self):
        with tempfile.NamedTemporaryFile("w", suffix=".csv", delete=False) as f:
            f.write("t_s,phase,requests\n0,load,1\n")
        try:
            with self.assertRaisesRegex(ValueError, "missing columns"):
                report.read_samples(f.name)
        finally:
            os.unlink(f.name)

    def test_a_value_that_is_not_a_number_is_refused(self):
        with tempfile.NamedTemporaryFile("w", suffix=".csv", delete=False) as f:
            w = csv.DictWriter(f, fieldnames=report.CSV_COLUMNS)
            w.writeheader()
            w.writerow(dict(_row(0, "load", 1, 1, 100), rss_bytes="lots"))
        try:
            with self.assertRaisesRegex(ValueError, "rss_bytes='lots'"):
                report.read_samples(f.name)
        finally:
            os.unlink(f.name)

    def test_scope_lists(self):
        got = run.parse_scopes(run.DEFAULT_SCOPES, 128, 20)
        self.assertEqual(
            [(s["label"], s["scope"], s["maxsize"]) for s in got],
            [
                ("global-128", "global", 128),
                ("global-none", "global", None),
                ("local", "local", 128),
                ("shared", "shared", 128),
                ("off", "off", 128),
                ("global-ttl", "global", None),
                ("global-maxbytes", "global", None),
                ("global-128-64KiB", "global", 128),
                ("weak", "weak", 128),
                ("global-none-growth", "global", None),
                ("shared-128-growth", "shared", 128),
                ("global-none-growth-2", "global", None),
                ("shared-128-growth-2", "shared", 128),
                ("global-none-growth-3", "global", None),
                ("shared-128-growth-3", "shared", 128),
            ],
        )
        ttl, mb, big = got[5], got[6], got[7]
        self.assertEqual((ttl["ttl_s"], ttl["duration_s"]), (2, 12))
        self.assertEqual((mb["maxbytes"], mb["instance_bytes"]), (4 * MiB, 65536))
        self.assertEqual(big["instance_bytes"], mb["instance_bytes"])  # the same instances
        self.assertTrue(got[9]["distinct"] and got[10]["distinct"])
        self.assertEqual((got[9]["duration_s"], got[10]["duration_s"]), (60, 60))
        self.assertTrue(all(g["distinct"] and g["duration_s"] == 60 for g in got[9:]))
        with self.assertRaisesRegex(ValueError, "given twice"):
            run.parse_scopes("shared,shared", 128, 20)  # only the growth pair repeats
        self.assertEqual(run.parse_scopes("shared:64", 128, 20)[0]["duration_s"], 20)
        self.assertEqual(run.parse_scopes("shared:64@2.5", 128, 20)[0]["label"], "shared-64")
        for bad in ("global:lots", "nowhere", "local,local", "off@0", "off@soon", "global-ttl:64"):
            with self.assertRaises(ValueError, msg=bad):
                run.parse_scopes(bad, 128, 20)



class WholeSeconds(unittest.TestCase):
    """wrk takes whole seconds: fractions are rounded before anything starts, and said."""

    def parse(self, *argv):
        import contextlib
        import io

        err = io.StringIO()
        with contextlib.redirect_stderr(err):
            a = run.parse_args(["--server", sys.executable, "--wrk", sys.executable, *argv])
        return a, err.getvalue()

    def test_a_fractional_duration_is_rounded_and_said(self):
        a, err = self.parse("--duration", "1.5", "--scopes", "local,off")
        self.assertEqual([sc["duration_s"] for sc in a.scope_list], [2, 2])
        self.assertIn("local: 1.5 s of load rounded to 2 s (wrk takes whole seconds)", err)

    def test_scale_and_at_seconds_fractions_are_rounded(self):
        a, err = self.parse("--scopes", "local@3,off@0.2,shared@1", "--scale", "0.5")
        self.assertEqual([sc["duration_s"] for sc in a.scope_list], [2, 1, 1])
        self.assertIn("local: 1.5 s", err)
        self.assertIn("off: 0.1 s of load rounded to 1 s", err)
        self.assertIn("shared: 0.5 s", err)

    def test_whole_seconds_pass_silently(self):
        a, err = self.parse("--scopes", "local@4,off@2", "--scale", "1.5")
        self.assertEqual([sc["duration_s"] for sc in a.scope_list], [6, 3])
        self.assertEqual(err, "")


if __name__ == "__main__":
    unittest.main(verbosity=2)
