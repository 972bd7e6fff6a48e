#!/usr/bin/env python3
"""framing_nginx.py -- the same raw requests to memoscope and to nginx.

Every row of framing_cases.txt (the table test_framing.c reads too) is sent,
byte for byte, to memoscope and to nginx on loopback; each request is
followed by a half-close, and everything written back until the close is
read. nginx proxies to a small backend here that answers as memoscope would
the body nginx read (200 with a + b, or 400), so both servers' answers read
the same way: "400" for a refusal, "200:3" for a 200 whose result is 3, one
entry per answer. A smuggled request shows up as a second answer.

The check, per row: memoscope answers as the row says, nginx answers as the
row says, and where the two frame the request differently (one refuses, the
other serves, or they read different bodies) the row must give the reason.
Two refusals are alike whatever their status (nginx says 501 for a
Transfer-Encoding it does not know). Exit status 0 when every row holds.

    framing_nginx.py --server build/server/memoscope [--nginx /usr/sbin/nginx]
"""
import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

HOST = "127.0.0.1"
HERE = os.path.dirname(os.path.abspath(__file__))
READ_S = 5.0  # a whole exchange, at most
START_S = 10.0

CALC = "POST /calculate HTTP/1.1\r\n"
BODY = '{"a": 1, "b": 2}'
PLACEHOLDERS = {
    "$CALC": CALC,
    "$BODY": BODY,
    "$CHUNKED": "10\r\n" + BODY + "\r\n0\r\n\r\n",
    "$SMUGGLED": CALC + "Host: x\r\nContent-Length: 16\r\n\r\n" + BODY,
}
ESCAPES = {"r": b"\r", "n": b"\n", "t": b"\t", "0": b"\0", "\\": b"\\"}

NGINX_CONF = """\
worker_processes 1;
daemon off;
pid {dir}/nginx.pid;
error_log {dir}/error.log info;
events {{ worker_connections 64; }}
http {{
    access_log off;
    client_body_temp_path {dir}/tmp-body;
    proxy_temp_path {dir}/tmp-proxy;
    fastcgi_temp_path {dir}/tmp-fastcgi;
    uwsgi_temp_path {dir}/tmp-uwsgi;
    scgi_temp_path {dir}/tmp-scgi;
    server {{
        listen {host}:{port};
        location / {{
            proxy_pass http://{host}:{backend};
            # the requests here end with a half-close: answer them all the same
            proxy_ignore_client_abort on;
        }}
    }}
}}
"""


def expand(field):
    """The request field's bytes: its escapes and placeholders expanded."""
    out, i = bytearray(), 0
    while i < len(field):
        name = next((p for p in PLACEHOLDERS if field.startswith(p, i)), None)
        if name:
            out += PLACEHOLDERS[name].encode()
            i += len(name)
        elif field[i] == "\\":
            e = field[i + 1]
            if e == "x":
                out.append(int(field[i + 2:i + 4], 16))
                i += 4
            else:
                out += ESCAPES[e]
                i += 2
        else:
            out += field[i].encode("latin-1")
            i += 1
    return bytes(out)


def read_cases(path):
    cases = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.rstrip("\n")
            if not line or line.startswith("#"):
                continue
            what, ours, _fragment, nginx, note, request = line.split("\t")
            cases.append({"what": what, "ours": ours, "nginx": nginx,
                          "note": "" if note == "-" else note, "request": expand(request)})
    return cases


def free_port():
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def exchange(port, data):
    """Sends data, half-closes, returns all bytes read until the close."""
    with socket.create_connection((HOST, port), timeout=READ_S) as s:
        s.sendall(data)
        s.shutdown(socket.SHUT_WR)
        got, deadline = b"", time.monotonic() + READ_S
        while time.monotonic() < deadline:
            try:
                chunk = s.recv(65536)
            except (socket.timeout, ConnectionResetError):
                break
            if not chunk:
                break
            got += chunk
        return got


def answers(raw):
    """The answers in raw, each as "NNN" or "200:result"."""
    out = []
    while raw.startswith(b"HTTP/1."):
        head, sep, rest = raw.partition(b"\r\n\r\n")
        if not sep:
            out.append(head[9:12].decode())
            break
        status = int(head[9:12])
        m = re.search(rb"\r\ncontent-length:\s*(\d+)", head, re.I)
        n = int(m.group(1)) if m else 0
        body, raw = rest[:n], rest[n:]
        if status == 200:
            try:
                out.append(f"200:{json.loads(body)['result']}")
            except (ValueError, KeyError, TypeError):
                out.append("200:?")
        else:
            out.append(str(status))
    return ",".join(out) if out else "none"


def refusal(outcome):
    return re.fullmatch(r"[45]\d\d", outcome) is not None


def alike(a, b):
    return a == b or (refusal(a) and refusal(b))


class Backend(threading.Thread):
    """What nginx forwards: one request per connection (nginx sends
    HTTP/1.0 with a Content-Length), answered as memoscope would answer its
    body."""

    def __init__(self):
        super().__init__(daemon=True)
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((HOST, 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]

    def run(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                conn.settimeout(READ_S)
                try:
                    self.serve(conn)
                except OSError:
                    pass

    @staticmethod
    def serve(conn):
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = conn.recv(65536)
            if not chunk:
                return
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        m = re.search(rb"\r\ncontent-length:\s*(\d+)", head, re.I)
        n = int(m.group(1)) if m else 0
        while len(body) < n:
            chunk = conn.recv(65536)
            if not chunk:
                break
            body += chunk
        try:
            v = json.loads(body[:n])
            ok = isinstance(v, dict) and set(v) == {"a", "b"} and all(
                isinstance(v[k], int) for k in "ab")
        except ValueError:
            ok = False
        status, text = (200, json.dumps({"result": v["a"] + v["b"]})) if ok else (
            400, '{"error":"not the body of a calculation"}')
        reason = "OK" if status == 200 else "Bad Request"
        conn.sendall(f"HTTP/1.0 {status} {reason}\r\nContent-Type: application/json\r\n"
                     f"Content-Length: {len(text)}\r\nConnection: close\r\n\r\n{text}".encode())


def wait_port(port, proc, what):
    deadline = time.monotonic() + START_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            sys.exit(f"framing_nginx: {what} exited with {proc.returncode}")
        try:
            socket.create_connection((HOST, port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    sys.exit(f"framing_nginx: {what} is not listening on port {port}")


def start_memoscope(binary, workdir):
    port = free_port()
    log = open(os.path.join(workdir, "memoscope.log"), "w")
    p = subprocess.Popen([binary, "--bind", HOST, "--port", str(port), "--cache-scope", "off",
                          "--delay-ms", "0"], stdout=log, stderr=subprocess.STDOUT)
    wait_port(port, p, "memoscope")
    return p, port


def start_nginx(binary, backend_port, workdir):
    port = free_port()
    d = os.path.join(workdir, "nginx")
    os.makedirs(d)
    conf = os.path.join(d, "nginx.conf")
    with open(conf, "w") as f:
        f.write(NGINX_CONF.format(dir=d, host=HOST, port=port, backend=backend_port))
    p = subprocess.Popen([binary, "-e", os.path.join(d, "error.log"), "-p", d, "-c", conf],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_port(port, p, "nginx")
    return p, port


def stop(proc, sig):
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout=START_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--server", required=True, help="the memoscope binary")
    ap.add_argument("--nginx", default=shutil.which("nginx") or "/usr/sbin/nginx")
    ap.add_argument("--cases", default=os.path.join(HERE, "framing_cases.txt"))
    a = ap.parse_args()

    cases = read_cases(a.cases)
    failures = 0
    with tempfile.TemporaryDirectory(prefix="memoscope-framing-") as workdir:
        backend = Backend()
        backend.start()
        ms, ms_port = start_memoscope(a.server, workdir)
        ngx, ngx_port = start_nginx(a.nginx, backend.port, workdir)
        try:
            for c in cases:
                ours = answers(exchange(ms_port, c["request"]))
                theirs = answers(exchange(ngx_port, c["request"]))
                wrong = []
                if ours != c["ours"]:
                    wrong.append(f"memoscope answered {ours}, the table says {c['ours']}")
                if not alike(theirs, c["nginx"]):
                    wrong.append(f"nginx answered {theirs}, the table says {c['nginx']}")
                differs = not alike(ours, theirs)
                if differs and not c["note"]:
                    wrong.append("memoscope and nginx frame it differently and no reason is given")
                if not differs and c["note"]:
                    wrong.append("a reason is given, but memoscope and nginx frame it alike")
                mark = "FAIL" if wrong else ("known" if differs else "same")
                print(f"{mark:5} {c['what']}: memoscope {ours}, nginx {theirs}"
                      + (f" ({c['note']})" if differs and c["note"] else ""))
                for w in wrong:
                    print(f"      {w}")
                failures += bool(wrong)
        finally:
            stop(ngx, signal.SIGQUIT)
            stop(ms, signal.SIGTERM)
            backend.sock.close()
        if ms.returncode != 0:
            print(f"FAIL  memoscope exited with {ms.returncode} on SIGTERM")
            failures += 1
    print(f"{len(cases) - failures} of {len(cases)} cases hold")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
