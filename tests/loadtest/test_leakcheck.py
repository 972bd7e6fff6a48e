#!/usr/bin/env python3
"""test_leakcheck.py -- the leak check's fit, verdict, memory readers and
command line (loadtest/leakcheck.py), specified by example on series whose
answer is known: a leak of 200 B per request with and without warm-up, a
warm-up that stops, a collector's sawtooth, a heap that grows in a few steps,
noise that is correlated in time.

    python3 tests/loadtest/test_leakcheck.py      (CTest: loadtest_leakcheck)

No load and no wrk here: the examples' verdicts under real load are
tests/loadtest/test_leakcheck_examples.py (tests/stages/65-leakcheck.sh).
"""

import math
import os
import random
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "loadtest"))
sys.dont_write_bytecode = True

import leakcheck as lc  # noqa: E402

SCRIPT = os.path.join(HERE, "..", "..", "loadtest", "leakcheck.sh")
KiB, MiB = 1024, 1024 * 1024


def requests(n, rate=1500, seed=1):
    """n sample points of requests served, about `rate` per sample, uneven
    (a shared machine)."""
    rng = random.Random(seed)
    xs, x = [], 0
    for _ in range(n):
        x += max(1, int(rng.gauss(rate, rate / 4)))
        xs.append(x)
    return xs


def pages(y):
    """RSS comes in 4 KiB pages."""
    return int(y // 4096) * 4096


class FitVerdicts(unittest.TestCase):
    def test_a_200_byte_leak_grows_with_its_size_in_the_interval(self):
        xs = requests(60)
        rng = random.Random(2)
        ys = [pages(20 * MiB + 200 * x + rng.gauss(0, 64 * KiB)) for x in xs]
        r = lc.fit(xs, ys)
        self.assertEqual(r["verdict"], "grows")
        lo, hi = r["ci95"]
        self.assertLess(lo, 200)
        self.assertGreater(hi, 200)

    def test_warm_up_is_found_and_left_out(self):
        # A fast rise of 8 MiB that settles, then 200 B per request: a fit
        # over everything would say far more than 200.
        xs = requests(60, rate=500)
        rng = random.Random(3)
        ys = [pages(20 * MiB + 8 * MiB * (1 - math.exp(-x / 3000)) + 200 * x + rng.gauss(0, 32 * KiB)) for x in xs]
        r = lc.fit(xs, ys)
        self.assertEqual(r["verdict"], "grows")
        self.assertGreater(r["warmup_requests"], 6000)
        self.assertAlmostEqual(r["bytes_per_request"], 200, delta=20)
        everything = lc.ols(xs, ys)[1]
        self.assertGreater(everything, 300, "a fit over everything would say half as much again")

    def test_a_warm_up_that_stops_is_flat(self):
        xs = requests(80)
        rng = random.Random(4)
        ys = [pages(20 * MiB + 6 * MiB * (1 - math.exp(-x / 6000)) + rng.gauss(0, 16 * KiB)) for x in xs]
        r = lc.fit(xs, ys)
        self.assertEqual(r["verdict"], "flat")
        self.assertGreater(r["warmup_requests"], 0)

    def test_no_warm_up_keeps_nearly_every_sample(self):
        # A straight line: noise alone may make the rule cut a few samples
        # whose noise was large, never a large part of the run.
        cuts = []
        for seed in range(20):
            xs = requests(60, seed=seed)
            rng = random.Random(seed)
            ys = [pages(20 * MiB + 500 * x + rng.gauss(0, 16 * KiB)) for x in xs]
            cuts.append(lc.warmup_end(xs, ys))
        self.assertLessEqual(max(cuts), 12, cuts)
        self.assertLessEqual(sorted(cuts)[10], 3, cuts)

    def sawtooth(self, slope, seed):
        # The cycle collector: memory climbs for ~300 requests' worth of
        # garbage (256 KiB each), then falls back when a collection frees it.
        xs = requests(50, rate=80 * 10, seed=seed)
        rng = random.Random(seed)
        period = rng.uniform(250, 400)
        return xs, [pages(17 * MiB + (x % period) * 256 * KiB / 4 + slope * x + rng.gauss(0, 64 * KiB)) for x in xs]

    def test_a_collector_sawtooth_is_flat(self):
        for seed in range(20):
            xs, ys = self.sawtooth(0, seed)
            self.assertEqual(lc.fit(xs, ys)["verdict"], "flat", f"seed {seed}")

    def test_a_leak_under_a_sawtooth_of_its_own_size_still_grows(self):
        # 2 KiB per request under a sawtooth of ~16 MiB.
        xs, ys = self.sawtooth(2048, 1)
        xs = [x * 4 for x in xs]  # longer run: more requests per sample
        ys = [y + 2048 * 3 * x // 4 for x, y in zip(xs, ys)]
        self.assertEqual(lc.fit(xs, ys)["verdict"], "grows")

    def test_a_heap_that_grows_in_two_steps_and_stops_is_flat(self):
        # A V8 or glibc heap extended twice after warm-up: 1.5 MiB steps,
        # flat between them.
        xs = requests(60)
        n = len(xs)
        ys = [12 * MiB + (1536 * KiB if i > n * 0.55 else 0) + (1536 * KiB if i > n * 0.8 else 0) for i in range(n)]
        r = lc.fit(xs, ys)
        self.assertGreater(r["bytes_per_request"], 32)
        self.assertEqual(r["verdict"], "flat")

    def test_growth_that_stops_within_the_fit_is_flat(self):
        # A cache filling up: 400 B per request for the first 70 % of the
        # run, then full: it grew, but not per request for ever.
        xs = requests(60)
        stop = xs[41]
        ys = [pages(12 * MiB + 400 * min(x, stop)) for x in xs]
        r = lc.fit(xs, ys)
        self.assertGreater(r["bytes_per_request"], 32)
        self.assertFalse(r["steady"])
        self.assertEqual(r["verdict"], "flat")

    def test_a_leak_below_the_threshold_is_flat(self):
        xs = requests(60)
        ys = [pages(20 * MiB + 8 * x) for x in xs]
        self.assertEqual(lc.fit(xs, ys)["verdict"], "flat")

    def coverage(self, rho, n, interval, runs=200):
        covered = 0
        for seed in range(runs):
            rng = random.Random(seed)
            xs = requests(n, seed=seed)
            e, ys = 0.0, []
            for _ in xs:
                e = rho * e + rng.gauss(0, 48 * KiB)
                ys.append(20 * MiB + e)
            _, b, resid = lc.ols(xs, ys)
            half = interval(xs, ys, b, resid)
            covered += b - half <= 0 <= b + half
        return covered / runs

    def test_correlated_noise_keeps_the_interval_honest(self):
        def interval(xs, ys, b):
            se, df = lc.slope_se(xs, ys, b)
            return lc.t_quantile(df) * se

        # AR(1) noise on a flat line, from none (rho 0) to a random walk
        # (rho 1): the interval must cover the true slope (0) in at least
        # 90 % of runs, where the plain least-squares one covers it in far
        # fewer.
        def plain(xs, ys, b, resid):
            n, mx = len(xs), sum(xs) / len(xs)
            sxx = sum((x - mx) ** 2 for x in xs)
            return 1.96 * math.sqrt(sum(e * e for e in resid) / (n - 2) / sxx)

        for rho, n in ((0.0, 50), (0.5, 50), (0.9, 50), (0.9, 150), (1.0, 50)):
            c = self.coverage(rho, n, lambda xs, ys, b, _: interval(xs, ys, b))
            self.assertGreaterEqual(c, 0.90, f"rho {rho}, {n} samples: covered {c:.0%}")
        self.assertLess(self.coverage(0.9, 50, plain), 0.6)

    def test_too_few_samples_cannot_be_judged(self):
        with self.assertRaises(lc.Unmeasurable):
            lc.fit([1, 2, 3], [1, 2, 3])


class Readers(unittest.TestCase):
    def test_a_process_gives_rss_and_anonymous_rss(self):
        t = lc.PidTarget(os.getpid())
        m = t.read()
        self.assertGreater(m["total"], 0)
        self.assertIsNotNone(m["anon"])
        self.assertLessEqual(m["anon"], m["total"])
        self.assertEqual(t.series, "anon")

    def test_a_process_that_is_gone_cannot_be_measured(self):
        p = subprocess.Popen(["true"])
        p.wait()
        with self.assertRaises(lc.Unmeasurable):
            lc.PidTarget(p.pid)

    def test_the_process_serving_the_port_is_told_from_another(self):
        import socket

        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        s.listen()
        self.addCleanup(s.close)
        port = s.getsockname()[1]
        self.assertTrue(lc.serves_port(os.getpid(), port))
        other = subprocess.Popen(["sleep", "30"])
        self.addCleanup(other.wait)
        self.addCleanup(other.kill)
        self.assertFalse(lc.serves_port(other.pid, port))

    def cgroup(self, files):
        d = tempfile.mkdtemp()
        self.addCleanup(lambda: subprocess.run(["rm", "-rf", d]))
        for name, text in files.items():
            with open(os.path.join(d, name), "w") as f:
                f.write(text)
        return d

    def test_a_v2_cgroup_gives_memory_current_and_anon(self):
        d = self.cgroup({"memory.current": "5000000\n", "memory.stat": "anon 3000000\nfile 1000000\n"})
        t = lc.CgroupTarget(d)
        self.assertEqual(t.read(), {"total": 5000000, "anon": 3000000})

    def test_a_v1_cgroup_gives_usage_and_its_hierarchy_rss(self):
        d = self.cgroup({"memory.usage_in_bytes": "9000000\n",
                         "memory.stat": "cache 100\nrss 2000000\ntotal_rss 4000000\n"})
        self.assertEqual(lc.CgroupTarget(d).read(), {"total": 9000000, "anon": 4000000})

    def test_a_folder_without_memory_files_is_not_a_cgroup(self):
        with self.assertRaises(lc.Unmeasurable):
            lc.CgroupTarget(self.cgroup({"cpu.stat": "x 1\n"}))


class CommandLine(unittest.TestCase):
    def run_it(self, *args):
        return subprocess.run([SCRIPT, *args], capture_output=True, text=True, timeout=60)

    def test_loopback_addresses_are_accepted(self):
        for url in ("http://127.0.0.1:8080/x", "http://127.3.2.1/", "http://[::1]:80/", "http://localhost:9/"):
            lc.loopback_url(url)

    def test_other_addresses_are_refused_with_exit_2(self):
        for url in ("http://10.0.0.1:8080/", "http://0.0.0.0:8080/", "http://example.com/",
                    "http://[::ffff:127.0.0.1]/", "ftp://127.0.0.1/", "http://127.0.0.1.nip.io/"):
            with self.assertRaises(ValueError, msg=url):
                lc.loopback_url(url)
        p = self.run_it("--url", "http://192.0.2.1:8080/", "--pid", str(os.getpid()))
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertIn("loopback", p.stderr)

    def test_usage_errors_exit_2(self):
        pid = str(os.getpid())
        for args in ((), ("--url", "http://127.0.0.1:1/"),
                     ("--url", "http://127.0.0.1:1/", "--pid", pid, "--cgroup", "/tmp"),
                     ("--url", "http://127.0.0.1:1/", "--pid", pid, "--duration", "0"),
                     ("--url", "http://127.0.0.1:1/", "--pid", pid, "--connections", "0"),
                     ("--url", "http://127.0.0.1:1/", "--pid", pid, "--bogus", "1")):
            self.assertEqual(self.run_it(*args).returncode, 2, args)

    def test_a_target_that_cannot_be_measured_exits_2(self):
        p = subprocess.Popen(["true"])
        p.wait()
        r = self.run_it("--url", "http://127.0.0.1:1/", "--pid", str(p.pid))
        self.assertEqual(r.returncode, 2)
        self.assertIn(f"process {p.pid}", r.stderr)
        r = self.run_it("--url", "http://127.0.0.1:1/", "--cgroup", "/nonexistent/cgroup")
        self.assertEqual(r.returncode, 2)
        self.assertIn("cgroup", r.stderr)

    def test_without_wrk_exits_2(self):
        import threading
        from http.server import BaseHTTPRequestHandler, HTTPServer

        class Answer(BaseHTTPRequestHandler):
            def do_POST(self):
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *_):
                pass

        srv = HTTPServer(("127.0.0.1", 0), Answer)
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        self.addCleanup(srv.server_close)
        self.addCleanup(srv.shutdown)
        empty = tempfile.mkdtemp()
        self.addCleanup(os.rmdir, empty)
        r = subprocess.run([sys.executable, os.path.join(HERE, "..", "..", "loadtest", "leakcheck.py"),
                            "--url", f"http://127.0.0.1:{srv.server_address[1]}/", "--pid", str(os.getpid())],
                           capture_output=True, text=True, timeout=60, env={**os.environ, "PATH": empty})
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("wrk is not installed", r.stderr)

    def test_a_url_that_does_not_answer_exits_2(self):
        import socket

        s = socket.socket()
        s.bind(("127.0.0.1", 0))  # a port that is ours and not listening
        port = s.getsockname()[1]
        r = self.run_it("--url", f"http://127.0.0.1:{port}/", "--pid", str(os.getpid()))
        s.close()
        self.assertEqual(r.returncode, 2)
        self.assertIn("does not answer", r.stderr)


if __name__ == "__main__":
    unittest.main(verbosity=2)
