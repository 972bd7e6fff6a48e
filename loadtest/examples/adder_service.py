#!/usr/bin/env python3
"""adder_service.py -- the article's program as a small HTTP service (CPython
standard library only), in three variants of where its memo cache lives:

    python3 loadtest/examples/adder_service.py --variant lru|fix|static [--port P]

Every POST (any path) with a JSON body {"a": x, "b": y} makes a new SlowAdder
and answers {"result": x + y}, as the article's handler does.

  lru     @lru_cache on the method: the cache is the class's and its key holds
          `self`, so every request's SlowAdder stays alive for ever (grows).
  fix     the article's fix: a cache per instance, made in __init__. The
          instance and its cache refer to each other (a reference cycle), so
          the pair is freed by CPython's cycle collector, not when the request
          ends: memory rises and falls in a sawtooth, but does not grow.
  static  @staticmethod over @lru_cache: one cache keyed by the arguments
          only, bounded by how many distinct (a, b) the clients send (flat).

HTTP/1.1 keep-alive with one write per response (status line, headers and
body together, with Content-Length): two writes would meet Nagle's algorithm
and the client's delayed ACK and cost ~40 ms per request. The chosen port is
printed on standard output as "PORT n" once the service listens.
"""

import argparse
import functools
import json
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class LruAdder:
    """The article's SlowAdder with lru_cache on the method (the leak)."""

    def __init__(self, delay=0.0):
        self.delay = delay
        self.payload = bytes(PAYLOAD_BYTES)

    @functools.lru_cache(maxsize=None)
    def calculate(self, *args):
        if self.delay:
            time.sleep(self.delay)
        return sum(args)


class FixAdder:
    """The article's fix: the cache is made per instance, in __init__."""

    def __init__(self, delay=0.0):
        self.delay = delay
        self.payload = bytes(PAYLOAD_BYTES)
        self.calculate = functools.lru_cache(maxsize=None)(self._calculate)

    def _calculate(self, *args):
        if self.delay:
            time.sleep(self.delay)
        return sum(args)


class StaticAdder:
    """One cache for every instance, keyed by the arguments alone."""

    def __init__(self, delay=0.0):
        self.delay = delay
        self.payload = bytes(PAYLOAD_BYTES)

    @staticmethod
    @functools.lru_cache(maxsize=None)
    def calculate(*args):
        return sum(args)


PAYLOAD_BYTES = 0  # --payload: data each SlowAdder holds besides its delay

VARIANTS = {"lru": LruAdder, "fix": FixAdder, "static": StaticAdder}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    adder = LruAdder

    def answer(self, status, obj):
        body = json.dumps(obj).encode()
        head = (
            f"HTTP/1.1 {status} {self.responses[status][0]}\r\n"
            "Content-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        ).encode()
        self.wfile.write(head + body)  # one write: see the module's comment

    def do_POST(self):
        try:
            n = int(self.headers.get("Content-Length", "0"))
            req = json.loads(self.rfile.read(n) or b"null")
            a, b = int(req["a"]), int(req["b"])
        except (ValueError, TypeError, KeyError):
            self.answer(400, {"error": "want a JSON body {\"a\": int, \"b\": int}"})
            return
        self.answer(200, {"result": self.adder().calculate(a, b)})

    def log_message(self, *_):
        pass  # one line per request would cost more than the request


class Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        # A load tool closes its connections when it stops: not an error.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--variant", choices=sorted(VARIANTS), required=True)
    ap.add_argument("--payload", type=int, default=0, metavar="BYTES",
                    help="bytes of data each SlowAdder holds (default 0, as in the article)")
    ap.add_argument("--port", type=int, default=0, help="0 = any free port (default)")
    a = ap.parse_args()
    global PAYLOAD_BYTES
    if a.payload < 0:
        ap.error("--payload must be >= 0")
    PAYLOAD_BYTES = a.payload
    Handler.adder = VARIANTS[a.variant]
    srv = Server(("127.0.0.1", a.port), Handler)
    print(f"PORT {srv.server_address[1]}", flush=True)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass
    srv.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
