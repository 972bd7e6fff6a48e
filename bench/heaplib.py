"""heaplib.py -- what bench_heap.py and bench_scrape.py share: a memoscope
server on 127.0.0.1 (started on a free port, stopped by its PID), a
keep-alive GET that times itself, and wrk runs.

Only 127.0.0.1 is ever targeted. Children are started and stopped with
loadtest/procs.py: each is killed by the kernel if the benchmark dies
(PR_SET_PDEATHSIG) and stopped by its PID otherwise.
"""

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "loadtest"))
import procs  # noqa: E402

HOST = "127.0.0.1"
CEILING_LUA = os.path.join(HERE, "ceiling.lua")
START_TIMEOUT_S = 20
STOP_TIMEOUT_S = 30


def say(prog, msg):
    print(f"{prog}: {msg}", file=sys.stderr, flush=True)


def spawn(cmd, **kw):
    """cmd in the benchmark's own session (Ctrl-C reaches it too); kw as for Popen."""
    return procs.spawn(cmd, new_session=False, **kw)


class Server:
    """[WRAP...] memoscope BIN --bind 127.0.0.1 --port 0 ARGS...; .port, .pid
    (WRAP must exec the server in its own process: taskset, nice)."""

    def __init__(self, binary, args, log_path, wrap=()):
        self.log_path = log_path
        self.log = open(log_path, "w+")
        self.proc = spawn(list(wrap) + [binary, "--bind", HOST, "--port", "0"] + list(args),
                          stdout=subprocess.DEVNULL, stderr=self.log)
        self.pid = self.proc.pid
        deadline = time.monotonic() + START_TIMEOUT_S
        self.port = None
        while self.port is None:
            with open(log_path) as f:
                m = re.search(r" port=(\d+)", f.read())
            if m:
                self.port = int(m.group(1))
            elif self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{binary} did not start: {open(log_path).read()}")
            else:
                time.sleep(0.05)
        self.conn = Conn(self.port)

    def stats(self):
        return json.loads(self.conn.get("/stats")[1])

    def cpu_s(self):
        """utime + stime of the server process, in seconds."""
        with open(f"/proc/{self.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def rss(self):
        with open(f"/proc/{self.pid}/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

    def stop(self):
        self.conn.close()
        rc, _ = procs.stop(self.proc, signal.SIGTERM, STOP_TIMEOUT_S)
        self.log.close()
        if rc != 0:
            raise RuntimeError(f"server exited {rc}: {open(self.log_path).read()[-400:]}")


class Conn:
    """One keep-alive HTTP/1.1 connection; get() and request() time themselves."""

    def __init__(self, port):
        self.port = port
        self.sock = None

    def _connect(self):
        self.sock = socket.create_connection((HOST, self.port), timeout=30)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""

    def request(self, method, path, body=b""):
        """Returns (seconds, body text): from the first byte sent to the last read.
        A connection the server closed while idle (its timeout) is made anew, once."""
        try:
            return self._request(method, path, body)
        except (RuntimeError, OSError):
            self.close()
            return self._request(method, path, body)

    def _request(self, method, path, body):
        if self.sock is None:
            self._connect()
        head = f"{method} {path} HTTP/1.1\r\nHost: {HOST}\r\nContent-Length: {len(body)}\r\n"
        if body:
            head += "Content-Type: application/json\r\n"
        t0 = time.perf_counter()
        self.sock.sendall(head.encode() + b"\r\n" + body)
        while b"\r\n\r\n" not in self.buf:
            self._read()
        header, rest = self.buf.split(b"\r\n\r\n", 1)
        m = re.search(rb"(?i)content-length:\s*(\d+)", header)
        n = int(m.group(1)) if m else 0
        while len(rest) < n:
            self.buf = rest
            self._read()
            rest = self.buf
        t1 = time.perf_counter()
        self.buf = rest[n:]
        return t1 - t0, rest[:n].decode()

    def get(self, path):
        return self.request("GET", path)

    def _read(self):
        data = self.sock.recv(1 << 20)
        if not data:
            raise RuntimeError("connection closed")
        self.buf += data

    def close(self):
        if self.sock:
            self.sock.close()
            self.sock = None


def wrk(port, seconds, conns=16, threads=1, keys=10, pin=None):
    """Runs wrk with bench/ceiling.lua; returns its CEILING_JSON dict plus max_us."""
    cmd = (["taskset", "-c", pin] if pin else []) + [
        "wrk", f"-t{threads}", f"-c{conns}", f"-d{seconds}s", "--latency",
        "-s", CEILING_LUA, f"http://{HOST}:{port}", "--", str(keys)]
    out = subprocess.run(cmd, capture_output=True, text=True, preexec_fn=procs.die_with_parent,
                         timeout=seconds + 60).stdout
    m = re.search(r"CEILING_JSON (\{.*\})", out)
    if not m:
        raise RuntimeError(f"wrk printed no summary: {out}")
    r = json.loads(m.group(1))
    m = re.search(r"Latency\s+\S+\s+\S+\s+(\S+)", out)
    r["max_us"] = to_us(m.group(1)) if m else None
    return r


def to_us(text):
    """wrk's '1.23ms' / '850.00us' / '1.02s' as microseconds."""
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    scale = {"us": 1, "ms": 1e3, "s": 1e6, "m": 60e6}[m.group(2)]
    return float(m.group(1)) * scale


def median(xs):
    xs = sorted(xs)
    n = len(xs)
    return xs[n // 2] if n % 2 else (xs[n // 2 - 1] + xs[n // 2]) / 2


def percentile(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(len(xs) * p / 100))]
