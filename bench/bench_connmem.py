#!/usr/bin/env python3
"""bench_connmem.py -- server RSS per connection, idle and waiting.

    bench/bench_connmem.py [path/to/memoscope]   (default: build/server/memoscope)

For each --connection-memory-bytes in POOLS and each connection count in
CONNS, starts memoscope (--cache-scope off --instance-bytes 0, so no
SlowAdder payload counts), opens the connections from several loopback
source addresses, has each one answered once (libmicrohttpd touches a
connection's pool only after a first request), then:

  idle   leaves them as keep-alive connections waiting for a second request;
  wait   sends each a second request with delay_ms 10000: every connection
         holds a suspended request (our request state, its SlowAdder, the
         pool) as a slow call does.

and prints the growth of the server's VmRSS over its idle start, divided by
the connections. Settings (environment): POOLS="32768 8192" CONNS="1024 10000"
SETTLE_S=1.5 (a pool of "default" passes no flag, for older builds). Raises its descriptor limit to the hard limit (the server inherits
it): each side holds one descriptor per connection.
"""
import os, re, resource, socket, subprocess, sys, time

root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
binary = sys.argv[1] if len(sys.argv) > 1 else os.path.join(root, "build/server/memoscope")
pools = os.environ.get("POOLS", "32768 8192").split()
conns = [int(c) for c in os.environ.get("CONNS", "1024 10000").split()]
settle = float(os.environ.get("SETTLE_S", "1.5"))
hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
SOURCES = ["127.0.0.%d" % i for i in range(2, 34)]  # 32 addresses: ports enough for all


def request(body):
    return b"POST /calculate HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def in_flight(port):
    """requests.in_flight of GET /stats: in the wait state, every connection's."""
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(b"GET /stats HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    got = b""
    while True:
        d = s.recv(65536)
        if not d:
            break
        got += d
    s.close()
    m = re.search(rb'"in_flight":(\d+)', got)
    return int(m.group(1)) if m else -1


def measure(pool, n, mode):
    srv = subprocess.Popen([binary, "--bind", "127.0.0.1", "--port", "0", "--delay-ms", "0",
                            "--cache-scope", "off", "--instance-bytes", "0",
                            "--max-connections", str(n + 100)]
                           + ([] if pool == "default" else ["--connection-memory-bytes", pool]),
                           stderr=subprocess.PIPE, text=True)
    try:
        port = int(re.search(r"port=(\d+)", srv.stderr.readline()).group(1))
        time.sleep(0.2)
        before = rss_kib(srv.pid)
        socks = []
        for i in range(n):
            s = socket.socket()
            s.bind((SOURCES[i % len(SOURCES)], 0))
            s.connect(("127.0.0.1", port))
            socks.append(s)
        for s in socks:
            s.sendall(request(b'{"a": 1, "b": 2}'))
        for s in socks:
            got = b""
            while b"elapsed_ms" not in got:
                d = s.recv(4096)
                if not d:
                    raise SystemExit("a connection was closed before its answer: %r" % got[:200])
                got += d
        if mode == "wait":
            for s in socks:
                s.sendall(request(b'{"a": 1, "b": 2, "delay_ms": 10000}'))
        time.sleep(settle)
        after = rss_kib(srv.pid)
        flying = in_flight(port)
        for s in socks:
            s.close()
        return before, after, flying
    finally:
        srv.kill()
        srv.wait()


print("pool_bytes connections state  rss_start_kib rss_kib  in_flight  kib_per_connection")
for n in conns:
    if n + 64 > hard:
        print("%d connections need %d descriptors; the hard limit is %d: skipped" % (n, n + 64, hard))
        continue
    for pool in pools:
        for mode in ("idle", "wait"):
            before, after, flying = measure(pool, n, mode)
            print("%10s %11d %-5s %14d %8d %10d  %.1f"
                  % (pool, n, mode, before, after, flying, (after - before) / n))
