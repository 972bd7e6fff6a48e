#!/usr/bin/env python3
"""jsontestsuite.py -- JSONTestSuite's parsing cases against POST /calculate.

JSONTestSuite (github.com/nst/JSONTestSuite) names each file of its
test_parsing/ folder by what a parser must do with it: y_ accept, n_ refuse,
i_ either. A body here must be an object with a and b, so each file is sent
as the value of one more field, {"a": 1, "b": 2, "x": <file>}: a file that is
JSON then gets 400 "unknown field 'x'", one that is not gets 400 "... not
JSON ..." (or "numbers must be integers" for the fractions and exponents
refused before the text is parsed; 413 for the files over the body limit).
Prints the counts per kind and every
file a parser would be wrong on; exits 1 if there is one.

Not run by CTest: the suite is not part of this repository.

    git clone https://github.com/nst/JSONTestSuite /tmp/JSONTestSuite
    tests/integration/jsontestsuite.py --server build/server/memoscope \\
        --suite /tmp/JSONTestSuite/test_parsing
"""
import argparse
import collections
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time

HOST = "127.0.0.1"


def free_port():
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def verdict(port, text):
    """'json', 'not json', 'not integers' or 'other: <message>'."""
    conn = http.client.HTTPConnection(HOST, port, timeout=10)
    conn.request("POST", "/calculate", b'{"a": 1, "b": 2, "x": ' + text + b"}",
                 {"Content-Type": "application/json"})
    r = conn.getresponse()
    body = r.read()
    conn.close()
    msg = json.loads(body).get("error", "") if r.status == 400 else f"status {r.status}"
    if r.status == 413:
        return "too large"
    if msg.startswith("unknown field"):  # parsed, then refused for its field
        return "json"
    if "not JSON" in msg:
        return "not json"
    if "must be integers" in msg:
        return "not integers"
    return "other: " + msg


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--server", required=True, help="the memoscope binary")
    ap.add_argument("--suite", required=True, help="JSONTestSuite's test_parsing folder")
    a = ap.parse_args()

    port = free_port()
    p = subprocess.Popen([a.server, "--bind", HOST, "--port", str(port), "--cache-scope", "off",
                          "--delay-ms", "0"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection((HOST, port), timeout=0.5).close()
                break
            except OSError:
                if time.monotonic() > deadline or p.poll() is not None:
                    sys.exit("jsontestsuite: memoscope did not start")
                time.sleep(0.05)
        counts = collections.defaultdict(collections.Counter)
        wrong = []
        for name in sorted(os.listdir(a.suite)):
            kind = name[:2]
            if kind not in ("y_", "n_", "i_"):
                continue
            with open(os.path.join(a.suite, name), "rb") as f:
                v = verdict(port, f.read())
            counts[kind][v] += 1
            if (kind == "y_" and v != "json" and v != "not integers") or (kind == "n_" and v == "json"):
                wrong.append(f"{name}: {v}")
        for kind in ("y_", "n_", "i_"):
            print(f"{kind}: " + ", ".join(f"{v} {n}" for v, n in sorted(counts[kind].items())))
        for w in wrong:
            print("WRONG " + w)
    finally:
        p.send_signal(signal.SIGTERM)
        p.wait(timeout=15)
    return 1 if wrong else 0


if __name__ == "__main__":
    sys.exit(main())
