#!/usr/bin/env python3
"""test_leakcheck_examples.py -- the leak check's verdict on real services
under real load (wrk on 127.0.0.1), each started here and stopped by its PID:

  python-lru      the article's program, lru_cache on the method     grows
  python-fix      the article's fix, a cache per instance             flat
  python-sawtooth the fix with 256 KiB per instance: the cycle
                  collector's sawtooth, ~16 MiB from trough to peak   flat
  python-static   a staticmethod cache                                flat
  node-buffer     Node keeping a 1 KiB Buffer per request             grows
  node-nothing    the same keeping nothing                            flat
  memoscope-global   --cache-scope global --maxsize none              grows, and agrees with /stats
  memoscope-local    --cache-scope local                              flat, and /stats agrees
  python-lru-cgroup  python-lru measured through this process's memory cgroup
                     (skipped where there is none to read)           grows

    python3 tests/loadtest/test_leakcheck_examples.py [-k NAME]
    (tests/stages/65-leakcheck.sh; MEMOSCOPE_BIN names the server,
    default build/server/memoscope; LEAKCHECK_DURATION the seconds of load)

Prints each example's figures (bytes per request, interval, warm-up) so
that a CI log shows how far each verdict was from the line.
"""

import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))
SCRIPT = os.path.join(REPO, "loadtest", "leakcheck.sh")
EXAMPLES = os.path.join(REPO, "loadtest", "examples")
MEMOSCOPE = os.environ.get("MEMOSCOPE_BIN", os.path.join(REPO, "build", "server", "memoscope"))
DURATION = os.environ.get("LEAKCHECK_DURATION", "5")


class Service:
    """A service started on 127.0.0.1 with port 0; its port is read from
    its output ("PORT n" or memoscope's "port=n")."""

    def __init__(self, argv):
        self.log = tempfile.NamedTemporaryFile(mode="w+", prefix="leakcheck-example-", suffix=".log")
        self.proc = subprocess.Popen(argv, stdout=self.log, stderr=subprocess.STDOUT, cwd=REPO)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            self.log.seek(0)
            m = re.search(r"(?:PORT |port=)(\d+)", self.log.read())
            if m:
                self.port = int(m.group(1))
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        self.stop()
        self.log.seek(0)
        raise RuntimeError(f"{argv[0]} did not start: {self.log.read()}")

    def url(self, path="/"):
        return f"http://127.0.0.1:{self.port}{path}"

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


def leakcheck(name, service, path="/", target=None, duration=DURATION):
    """Runs leakcheck.sh against the service; returns (exit status, the
    JSON it wrote, its output)."""
    out = tempfile.mkdtemp(prefix=f"leakcheck-{name}-")
    target = target or ["--pid", str(service.proc.pid)]
    p = subprocess.run([SCRIPT, "--url", service.url(path), *target, "--duration", duration, "--out", out],
                       capture_output=True, text=True, timeout=120)
    doc = None
    if os.path.exists(os.path.join(out, "leakcheck.json")):
        with open(os.path.join(out, "leakcheck.json")) as f:
            doc = json.load(f)
        lo, hi = doc["ci95"]
        print(f"\n  {name}: {doc['verdict']}, {doc['bytes_per_request']:.0f} B/request "
              f"(95 % interval {lo:.0f} to {hi:.0f}), warm-up {doc['warmup_requests']:,} of "
              f"{doc['requests']:,} requests; rises {doc['growth_bytes']:,} B, swings {doc['swing_bytes']:,} B; "
              f"quarters {doc['rule']['quarters_bytes_per_request']} B/request", file=sys.stderr)
    subprocess.run(["rm", "-rf", out])
    return p.returncode, doc, p.stdout + p.stderr


def own_memory_cgroup():
    """This process's memory cgroup folder, v2 or v1, or None."""
    try:
        with open("/proc/self/cgroup") as f:
            lines = f.read().splitlines()
    except OSError:
        return None
    for line in lines:
        _, controllers, path = line.split(":", 2)
        for d in (["/sys/fs/cgroup/memory" + path] if "memory" in controllers.split(",") else []) + \
                (["/sys/fs/cgroup" + path, "/sys/fs/cgroup/unified" + path] if controllers == "" else []):
            if os.path.isfile(os.path.join(d, "memory.current")) or os.path.isfile(os.path.join(d, "memory.usage_in_bytes")):
                return d
    return None


class Examples(unittest.TestCase):
    def check(self, name, argv, verdict, path="/", **kw):
        svc = Service(argv)
        try:
            rc, doc, out = leakcheck(name, svc, path, **kw)
        finally:
            svc.stop()
        self.assertIsNotNone(doc, out)
        self.assertEqual(doc["verdict"], verdict, out)
        self.assertEqual(rc, 1 if verdict == "grows" else 0, out)
        self.assertEqual(out.strip().splitlines()[-1], verdict)
        return doc

    def python(self, variant, *extra):
        return [sys.executable, os.path.join(EXAMPLES, "adder_service.py"), "--variant", variant, *extra]

    def test_python_lru_grows(self):
        doc = self.check("python-lru", self.python("lru"), "grows")
        # The key tuple, the instance and the cache's link: ~160-250 B.
        self.assertGreater(doc["bytes_per_request"], 100)
        self.assertLess(doc["bytes_per_request"], 400)

    def test_python_fix_is_flat(self):
        self.check("python-fix", self.python("fix"), "flat")

    def test_python_fix_sawtooth_is_flat(self):
        doc = self.check("python-sawtooth", self.python("fix", "--payload", "262144"), "flat")
        # The sawtooth is there: memory swings by megabytes around the line.
        self.assertGreater(doc["swing_bytes"], 4 * 1024 * 1024)

    def test_python_static_is_flat(self):
        self.check("python-static", self.python("static"), "flat")

    def node(self, keep):
        return ["node", os.path.join(EXAMPLES, "buffer_service.js"), "--keep", str(keep)]

    # V8's heap grows and shrinks by megabytes as it collects: Node gets
    # more load than the Python examples, for more requests between swings.
    def test_node_keeping_a_buffer_grows(self):
        doc = self.check("node-buffer", self.node(1024), "grows", duration=str(2 * int(DURATION)))
        self.assertGreater(doc["bytes_per_request"], 1024)

    def test_node_keeping_nothing_is_flat(self):
        self.check("node-nothing", self.node(0), "flat", duration=str(2 * int(DURATION)))

    def memoscope(self, name, scope, verdict):
        argv = [MEMOSCOPE, "--port", "0", "--bind", "127.0.0.1", "--delay-ms", "0", "--cache-scope", scope,
                "--maxsize", "none", "--instance-bytes", "4096"]
        svc = Service(argv)
        try:
            before = json.load(urllib.request.urlopen(svc.url("/stats"), timeout=5))
            rc, doc, out = leakcheck(name, svc, "/calculate")
            after = json.load(urllib.request.urlopen(svc.url("/stats"), timeout=5))
        finally:
            svc.stop()
        self.assertIsNotNone(doc, out)
        self.assertEqual(doc["verdict"], verdict, out)
        self.assertEqual(rc, 1 if verdict == "grows" else 0, out)
        served = after["requests"]["total"] - before["requests"]["total"]
        live = (after["instances"]["live_bytes"] - before["instances"]["live_bytes"]) / served
        print(f"  {name}: /stats live_bytes {live:.0f} B/request over {served:,} requests", file=sys.stderr)
        return doc, live

    def test_memoscope_global_grows_as_its_stats_say(self):
        doc, live = self.memoscope("memoscope-global", "global", "grows")
        self.assertGreaterEqual(live, 4096)  # every request's instance stays
        lo, hi = doc["ci95"]
        # Seen from outside: the instance plus its entry and the table's
        # share, never less than /stats counts and not 15 % more.
        self.assertGreaterEqual(hi, live)
        self.assertLess(doc["bytes_per_request"], 1.15 * live)

    def test_memoscope_local_is_flat_as_its_stats_say(self):
        doc, live = self.memoscope("memoscope-local", "local", "flat")
        self.assertLess(abs(live), 1)

    def test_a_service_that_dies_during_the_check_exits_2(self):
        svc = Service(self.python("static"))
        try:
            killer = subprocess.Popen(["sh", "-c", f"sleep 2; kill {svc.proc.pid}"])
            rc, doc, out = leakcheck("python-dies", svc, duration="6")
            killer.wait()
        finally:
            svc.stop()
        self.assertEqual(rc, 2, out)
        self.assertIsNone(doc)
        self.assertIn(f"process {svc.proc.pid} cannot be read", out)

    def test_python_lru_grows_through_a_cgroup(self):
        cg = own_memory_cgroup()
        if cg is None:
            self.skipTest("no memory cgroup of this process to read")
        # The cgroup holds this test, wrk and the checker too: flat, but
        # their noise adds to the service's, hence twice the load.
        doc = self.check("python-lru-cgroup", self.python("lru"), "grows", target=["--cgroup", cg],
                         duration=str(2 * int(DURATION)))
        self.assertTrue(doc["source"].startswith(cg), doc["source"])


if __name__ == "__main__":
    unittest.main(verbosity=2)
