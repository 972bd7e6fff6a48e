#!/usr/bin/env python3
"""test_replicas.py -- the replicas kit's figures and claims
(loadtest/replicas.py), by example on runs whose figures are known exactly,
and on the sample report committed in docs/report-replicas.

    python3 tests/loadtest/test_replicas.py      (CTest: loadtest_replicas)
"""

import argparse
import json
import os
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "loadtest"))
sys.dont_write_bytecode = True

import replicas  # noqa: E402

SAMPLE = os.path.join(HERE, "..", "..", "docs", "report-replicas", "run.json")


def args(**kw):
    a = argparse.Namespace(replicas=2, keys=10)
    for k, v in kw.items():
        setattr(a, k, v)
    return a


def rows(n, redis_per_req, rss_per_req, hits=0, misses=0):
    """n samples, 100 requests apart, with exact slopes."""
    return [{"t": i, "requests": 100 * i, "hits": hits * i, "misses": misses * i,
             "rss_r1": 5_000_000 + rss_per_req * 100 * i, "errors_r1": 0,
             "rss_r2": 5_000_000, "errors_r2": 0,
             "redis_used_memory": 1_000_000 + redis_per_req * 100 * i,
             "redis_keys": i * 100 if redis_per_req else 100} for i in range(n)]


REPLICAS = [{"name": "r1"}, {"name": "r2"}]


class Fit(unittest.TestCase):
    def test_exact_line(self):
        slope, r2 = replicas.fit([0, 1, 2, 3], [5, 7, 9, 11])
        self.assertAlmostEqual(slope, 2.0)
        self.assertAlmostEqual(r2, 1.0)

    def test_flat_and_too_short(self):
        self.assertEqual(replicas.fit([0, 1, 2], [4, 4, 4]), (0.0, 0.0))
        self.assertEqual(replicas.fit([0, 1], [0, 9]), (0.0, 0.0))


class Claims(unittest.TestCase):
    def test_global_passes_when_redis_grows_and_replicas_do_not(self):
        s = replicas.summarize(args(), "global", rows(20, 80, 5), REPLICAS, {"r1": 0, "r2": 0})
        self.assertAlmostEqual(s["redis_bytes_per_request"], 80)
        self.assertAlmostEqual(s["replicas"]["r1"]["bytes_per_request"], 5)
        (ok, text), = replicas.claims(args(), [s])
        self.assertTrue(ok, text)

    def test_global_fails_when_a_replica_grows_as_fast_as_redis(self):
        s = replicas.summarize(args(), "global", rows(20, 80, 60), REPLICAS, {"r1": 0, "r2": 0})
        (ok, _), = replicas.claims(args(), [s])
        self.assertFalse(ok)

    def test_shared_needs_hits_and_misses_near_the_key_space(self):
        good = replicas.summarize(args(), "shared", rows(20, 0, 0, hits=995, misses=5),
                                  REPLICAS, {"r1": 0, "r2": 0})
        (ok, _), = replicas.claims(args(), [good])  # 95 misses, 100 keys
        self.assertTrue(ok)
        doubled = replicas.summarize(args(), "shared", rows(20, 0, 0, hits=9000, misses=11),
                                     REPLICAS, {"r1": 0, "r2": 0})
        (ok, _), = replicas.claims(args(), [doubled])  # 209 misses: every replica missed
        self.assertFalse(ok)

    def test_a_replica_that_did_not_exit_0_fails(self):
        s = replicas.summarize(args(), "shared", rows(20, 0, 0, hits=995, misses=5),
                               REPLICAS, {"r1": 0, "r2": -9})
        self.assertEqual([ok for ok, _ in replicas.claims(args(), [s])], [True, False])


class Sample(unittest.TestCase):
    def test_the_committed_sample_passes_its_claims(self):
        with open(SAMPLE) as f:
            run = json.load(f)
        a = argparse.Namespace(**run["args"])
        self.assertTrue(all(ok for ok, _ in replicas.claims(a, run["results"])))


if __name__ == "__main__":
    unittest.main()
