"""peer.py -- memoscope's service as a Python user would write it, for
bench/bench_ceiling.sh to measure against.

    python3 bench/peer/peer.py [--port N] [--bind ADDR]

Flask (Debian's python3-flask) on Werkzeug's threaded server (what
`app.run(threaded=True)` starts), a thread per connection. Werkzeug 2.2
closes every connection after its answer (it disables keep-alive), so a
keep-alive client such as wrk reconnects for each request. Every POST /calculate makes a SlowAdder
whose calculate() is memoised with functools.lru_cache on the method: the
pitfall memoscope's `global` scope reproduces (the key holds self), with
delay 0 for this comparison. Writes "peer listening on ADDR port=N" to
stderr once the socket is bound; SIGTERM or SIGINT stops it (exit 0).
"""
import argparse
import functools
import itertools
import signal
import sys
import time

from flask import Flask, jsonify, request
from werkzeug.serving import make_server

DELAY_S = 0.0
INSTANCE_BYTES = 4096
MAX_INT = 2**53 - 1

app = Flask(__name__)
ids = itertools.count(1)


class SlowAdder:
    def __init__(self):
        self.id = next(ids)
        self.payload = bytearray(INSTANCE_BYTES)

    @functools.lru_cache(maxsize=128)
    def calculate(self, a, b):
        if DELAY_S:
            time.sleep(DELAY_S)
        return a + b


def _integer(body, name):
    v = body.get(name)
    if type(v) is not int or abs(v) > MAX_INT:
        raise ValueError(f"field '{name}' must be an integer")
    return v


@app.post("/calculate")
def calculate():
    start = time.perf_counter()
    body = request.get_json(force=True, silent=True)
    if not isinstance(body, dict):
        return jsonify(error="the body must be a JSON object"), 400
    try:
        a, b = _integer(body, "a"), _integer(body, "b")
    except ValueError as e:
        return jsonify(error=str(e)), 400
    adder = SlowAdder()
    hits = SlowAdder.calculate.cache_info().hits
    result = adder.calculate(a, b)
    cached = SlowAdder.calculate.cache_info().hits > hits
    return jsonify(result=result, cached=cached, instance=adder.id,
                   elapsed_ms=round((time.perf_counter() - start) * 1000, 1))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, default=8080)
    ap.add_argument("--bind", default="127.0.0.1")
    args = ap.parse_args()

    server = make_server(args.bind, args.port, app, threaded=True)
    print(f"peer listening on {args.bind} port={server.server_port}",
          file=sys.stderr, flush=True)

    def stop(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
