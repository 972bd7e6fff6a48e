#!/usr/bin/env python3
"""The docs agree with the binary they describe.

    check_docs.py MEMOSCOPE SOURCE_DIR            check (the CTest test `docs`)
    check_docs.py MEMOSCOPE SOURCE_DIR --write    rewrite the generated flags table

Checks, each against the built binary or a live server it starts on
127.0.0.1 (port 0: the kernel picks a free one):

1. the flags table of docs/configuration.md is the one generated from
   `memoscope --help` (so every flag is there with its variable, range and
   default, and nothing else); --write regenerates it;
2. every `/stats` field (nested, as cache.hits) and every `/metrics` family a
   live server serves is in docs/api.md, and everything docs/api.md lists is
   served (servers in global scope with a memory limit and guard, in shared
   scope on a private redis-server, in local scope with the redis backend);
3. every relative link and #anchor of README.md and docs/*.md resolves, by
   GitHub's rules for heading anchors, and every file of the repository they
   name in `code` exists;
4. the example answers of README.md and docs/api.md (their `$ curl ...`
   blocks) have the shape and the fields of a running server's answers: the same keys, the same types,
   the same integers, except timings and the machine's memory figures.

Exits 0 when all hold, 1 with every difference listed otherwise.
"""
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

BEGIN = "<!-- BEGIN flags: generated from `memoscope --help` by tests/docs/check_docs.py --write -->"
END = "<!-- END flags -->"
# Integers that differ from run to run or machine to machine: compared by type.
VOLATILE = {"rss_bytes", "heap_bytes", "cgroup_bytes", "limit_bytes", "guard_bytes", "threads",
            "used_memory_bytes"}
START_TIMEOUT_S = 10
problems = []


def problem(msg):
    problems.append(msg)


# ------------------------------------------------------------------ --help

HELP_ROW = re.compile(r"^  --(?P<flag>[a-z][a-z0-9-]*)(?P<arg> \[?[A-Z]+\]?)?\s+"
                      r"(?P<env>MEMOSCOPE_[A-Z0-9_]+)?\s*(?P<rest>.*)$")
TAIL = re.compile(r"^(?P<help>.*) \((?:(?P<range>[^()]*); )?default: (?P<default>[^()]*)\)$")


def parse_help(binary):
    out = subprocess.run([binary, "--help"], capture_output=True, text=True, timeout=10,
                         env={k: v for k, v in os.environ.items() if not k.startswith("MEMOSCOPE_")})
    if out.returncode != 0:
        problem(f"memoscope --help exited {out.returncode}")
    rows = []
    for line in out.stdout.splitlines():
        m = HELP_ROW.match(line)
        if not m:
            continue
        rest = m.group("rest").strip()
        t = TAIL.match(rest)
        rows.append({
            "flag": m.group("flag"),
            "arg": m.group("arg") or "",
            "env": m.group("env") or "",
            "help": t.group("help") if t else rest,
            "range": (t.group("range") or "") if t else "",
            "default": t.group("default") if t else "",
        })
    if not rows:
        problem("memoscope --help lists no flag")
    return rows


def cell(text, code=False):
    text = text.replace("|", "\\|")
    return f"`{text}`" if code and text else (text or "—")


def flags_table(rows):
    lines = ["| flag | environment variable | default | range | meaning |",
             "|------|----------------------|---------|-------|---------|"]
    for r in rows:
        lines.append(f"| {cell('--' + r['flag'] + r['arg'], True)} | {cell(r['env'], True)} | "
                     f"{cell(r['default'])} | {cell(r['range'])} | {cell(r['help'])} |")
    return "\n".join(lines)


def check_flags(src, rows, write):
    path = os.path.join(src, "docs", "configuration.md")
    text = open(path, encoding="utf-8").read()
    if BEGIN not in text or END not in text:
        problem(f"docs/configuration.md: no generated flags table ({BEGIN} ... {END})")
        return
    head, rest = text.split(BEGIN, 1)
    body, tail = rest.split(END, 1)
    want = "\n" + flags_table(rows) + "\n"
    if body != want:
        if write:
            open(path, "w", encoding="utf-8").write(head + BEGIN + want + END + tail)
            print("docs/configuration.md: flags table rewritten")
        else:
            documented = set(re.findall(r"^\| `--([a-z0-9-]+)", body, re.M))
            served = {r["flag"] for r in rows}
            for f in sorted(served - documented):
                problem(f"docs/configuration.md: --{f} is in --help but not in the flags table")
            for f in sorted(documented - served):
                problem(f"docs/configuration.md: --{f} is in the flags table but not in --help")
            problem("docs/configuration.md: the flags table differs from `memoscope --help` "
                    "(run: python3 tests/docs/check_docs.py build/server/memoscope . --write)")
    # a flag named anywhere else on the page must exist too
    served = {r["flag"] for r in rows}
    for f in sorted(set(re.findall(r"`--([a-z][a-z0-9-]*)", head + tail))):
        if f not in served:
            problem(f"docs/configuration.md names --{f}, which --help does not list")


# ---------------------------------------------------------------- servers

class Server:
    def __init__(self, binary, args):
        self.log = tempfile.TemporaryFile()
        env = {k: v for k, v in os.environ.items() if not k.startswith("MEMOSCOPE_")}
        self.proc = subprocess.Popen([binary, "--bind", "127.0.0.1", "--port", "0"] + args,
                                     stdout=self.log, stderr=self.log, env=env)
        deadline = time.monotonic() + START_TIMEOUT_S
        self.port = None
        while time.monotonic() < deadline and self.port is None:
            self.log.seek(0)
            m = re.search(rb"listening on \S+ port=(\d+)", self.log.read())
            if m:
                self.port = int(m.group(1))
                self.log.seek(0)
                self.startup = self.log.read().decode().splitlines()[0]
            elif self.proc.poll() is not None:
                break
            else:
                time.sleep(0.05)
        if self.port is None:
            self.stop()
            self.log.seek(0)
            raise RuntimeError(f"memoscope {' '.join(args)} did not start: {self.log.read()!r}")

    def get(self, path, method="GET", body=None):
        req = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}", method=method,
                                     data=body.encode() if body else None)
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.read().decode()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class Redis:
    """A private redis-server on a Unix socket, stopped by its PID."""

    def __init__(self):
        exe = shutil.which("redis-server")
        if not exe:
            raise RuntimeError("redis-server is not installed (scripts/lib.sh TEST_PKGS has it)")
        self.dir = tempfile.mkdtemp(prefix="memoscope-docs-")
        self.sock = os.path.join(self.dir, "redis.sock")
        self.proc = subprocess.Popen([exe, "--port", "0", "--unixsocket", self.sock, "--save", "",
                                      "--appendonly", "no", "--dir", self.dir],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + START_TIMEOUT_S
        while not os.path.exists(self.sock):
            if time.monotonic() > deadline or self.proc.poll() is not None:
                self.stop()
                raise RuntimeError("redis-server did not start")
            time.sleep(0.05)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
        shutil.rmtree(self.dir, ignore_errors=True)


def flatten(obj, prefix=""):
    keys = set()
    for k, v in obj.items():
        name = prefix + k
        if isinstance(v, dict):
            keys |= flatten(v, name + ".")
        else:
            keys.add(name)
    return keys


def families(metrics):
    return set(re.findall(r"^# TYPE (\S+) \S+$", metrics, re.M))


def live_figures(binary):
    """The /stats fields and /metrics families of servers that show all of them."""
    fields, fams, cgroup, history, startup = set(), set(), False, set(), ""
    redis = Redis()
    try:
        for args in (["--cache-scope", "global", "--maxsize", "none", "--memory-limit", "1GiB",
                      "--memory-guard", "0.9"],
                     ["--cache-scope", "shared", "--cache-backend", "redis",
                      "--redis-url", "unix://" + redis.sock],
                     ["--cache-scope", "local", "--cache-backend", "redis"]):
            s = Server(binary, args)
            try:
                s.get("/calculate", "POST", '{"a": 1, "b": 2}')
                stats = json.loads(s.get("/stats"))
                fields |= flatten(stats)
                cgroup |= stats["memory"].get("cgroup_bytes") is not None
                fams |= families(s.get("/metrics"))
                for sample in json.loads(s.get("/history"))["samples"]:
                    history |= set(sample)
                startup = startup or s.startup
            finally:
                s.stop()
    finally:
        redis.stop()
    return fields, fams, cgroup, history, startup


def section(text, heading):
    """The text under a '## heading' up to the next heading of that level or above."""
    m = re.search(r"^(#+) " + re.escape(heading) + r"\s*$", text, re.M)
    if not m:
        return None
    level = len(m.group(1))
    end = re.compile(r"^#{1,%d} " % level, re.M).search(text, m.end())
    return text[m.end():end.start() if end else len(text)]


def first_cells(block):
    """Backticked names in the first cell of each table row of block."""
    names = []
    for line in block.splitlines():
        if line.startswith("|") and not re.match(r"^\|[-: |]+\|$", line):
            first = line.split("|")[1]
            names += re.findall(r"`([^`]+)`", first)
    return names


def check_api(src, binary):
    text = open(os.path.join(src, "docs", "api.md"), encoding="utf-8").read()
    stats = section(text, "`GET /stats` fields")
    metrics = section(text, "`GET /metrics` families")
    if stats is None or metrics is None:
        problem("docs/api.md: no '`GET /stats` fields' or '`GET /metrics` families' section")
        return
    fields, fams, cgroup, history, startup = live_figures(binary)
    doc_fields = set(first_cells(stats))
    for f in sorted(fields - doc_fields):
        problem(f"docs/api.md: /stats field {f} is served but not documented")
    for f in sorted(doc_fields - fields):
        problem(f"docs/api.md: /stats field {f} is documented but not served")
    doc_fams = {}
    for line in metrics.splitlines():
        names = first_cells(line)
        for n in names:
            doc_fams[n] = line
    for f in sorted(fams - set(doc_fams)):
        problem(f"docs/api.md: /metrics family {f} is served but not documented")
    for f in sorted(set(doc_fams) - fams):
        if not cgroup and "cgroup" in doc_fams[f].split("|")[3]:
            continue  # served only where a cgroup is read, and none is here
        problem(f"docs/api.md: /metrics family {f} is documented but not served")
    hist = section(text, "`GET /history`") or ""
    doc_hist = set(re.findall(r"`([a-z_]+)`", hist.split("has these fields", 1)[-1]))
    for f in sorted(history ^ doc_hist):
        problem(f"docs/api.md: /history sample field {f} is " +
                ("served but not documented" if f in history else "documented but not served"))
    check_startup_line(src, binary, startup)


def check_startup_line(src, binary, startup):
    """docs/configuration.md's startup line: this version, the same key=value keys."""
    text = open(os.path.join(src, "docs", "configuration.md"), encoding="utf-8").read()
    m = re.search(r"^(memoscope \S+ listening on .*)$", text, re.M)
    if not m:
        problem("docs/configuration.md: no startup line")
        return
    def shape(line):
        return line.split()[1], re.findall(r" ([a-z_]+)=", line)
    if shape(m.group(1)) != shape(startup):
        problem(f"docs/configuration.md: the startup line differs from a live one: {startup!r}")


# ------------------------------------------------------------------ links

def slug(heading):
    """GitHub's anchor for a heading: lower case, markup and punctuation gone, spaces to '-'."""
    h = re.sub(r"`|\*\*|__", "", heading.strip())
    h = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", h)
    h = h.lower()
    h = re.sub(r"[^\w\- ]", "", h)
    return h.replace(" ", "-")


def without_code(text):
    text = re.sub(r"^```.*?^```", "", text, flags=re.S | re.M)
    return re.sub(r"`[^`\n]*`", "", text)


def anchors(path):
    text = open(path, encoding="utf-8").read()
    seen, out = {}, set()
    for m in re.finditer(r"^#{1,6} (.+)$", re.sub(r"^```.*?^```", "", text, flags=re.S | re.M), re.M):
        s = slug(m.group(1))
        n = seen.get(s, 0)
        out.add(s if n == 0 else f"{s}-{n}")
        seen[s] = n + 1
    out |= set(re.findall(r"<a (?:id|name)=\"([^\"]+)\"", text))
    return out


def check_links(src):
    pages = [os.path.join(src, "README.md")] + sorted(
        os.path.join(src, "docs", f) for f in os.listdir(os.path.join(src, "docs")) if f.endswith(".md"))
    for page in pages:
        rel = os.path.relpath(page, src)
        raw = open(page, encoding="utf-8").read()
        if len(re.findall(r"^```", raw, re.M)) % 2:
            problem(f"{rel}: a code block is not closed (an odd number of ``` lines)")
        text = without_code(raw)
        targets = re.findall(r"\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)", text)
        targets += re.findall(r"(?:src|href)=\"([^\"]+)\"", text)
        for t in targets:
            if re.match(r"^[a-z]+:", t):
                continue  # http:, https:, mailto:
            file, _, anchor = t.partition("#")
            dest = os.path.normpath(os.path.join(os.path.dirname(page), file)) if file else page
            if not os.path.exists(dest):
                problem(f"{rel}: link to {t}: {os.path.relpath(dest, src)} does not exist")
                continue
            if anchor and dest.endswith(".md") and anchor not in anchors(dest):
                problem(f"{rel}: link to {t}: no heading gives #{anchor}")
        # a file of the repository named in `code` must exist (modules move)
        for path in re.findall(r"`((?:server|cache|tests|bench|loadtest|fuzz|deploy|scripts|docs)/[\w./-]+)`",
                               open(page, encoding="utf-8").read()):
            if not os.path.exists(os.path.join(src, path)) and not re.search(r"build|reports/|results/", path):
                problem(f"{rel}: names {path}, which does not exist")


# ------------------------------------------------------- README's answers

def same_shape(want, got, where):
    if isinstance(want, dict):
        if not isinstance(got, dict):
            return f"{where}: an object in the docs, {type(got).__name__} from the server"
        if list(want) != list(got):
            return f"{where}: fields {list(want)} in the docs, {list(got)} from the server"
        for k in want:
            d = same_shape(want[k], got[k], f"{where}.{k}")
            if d:
                return d
        return None
    if isinstance(want, list):
        if not isinstance(got, list) or len(want) != len(got):
            return f"{where}: {want!r} in the docs, {got!r} from the server"
        for i, (w, g) in enumerate(zip(want, got)):
            d = same_shape(w, g, f"{where}[{i}]")
            if d:
                return d
        return None
    key = where.rsplit(".", 1)[-1]
    if isinstance(want, float) or isinstance(got, float) or key in VOLATILE:
        ok = type(want) is type(got) or {type(want), type(got)} <= {int, float}
    else:
        ok = want == got and type(want) is type(got)
    return None if ok else f"{where}: {want!r} in the docs, {got!r} from the server"


def example_blocks(text):
    """(server flags, lines) of each block with `$ curl` lines; the flags are
    those of the last `./dev.sh run` before the block's end."""
    for m in re.finditer(r"^```[a-z]*\n(.*?)^```", text, re.S | re.M):
        lines = m.group(1).splitlines()
        if any(l.startswith("$ curl") for l in lines):
            runs = re.findall(r"\./dev\.sh run([^\n`]*)", text[:m.end()])
            yield (runs[-1].split() if runs else []), lines


def check_answers(src, binary):
    for tool in ("sh", "curl", "jq"):
        if not shutil.which(tool):
            problem(f"the examples need {tool}, which is not installed (scripts/lib.sh TEST_PKGS)")
            return
    for page in ("README.md", "docs/api.md"):
        text = open(os.path.join(src, page), encoding="utf-8").read()
        blocks = list(example_blocks(text))
        if not blocks:
            problem(f"{page}: no example answers ($ curl ...) to check")
        for args, lines in blocks:
            check_block(binary, page, args, lines)


def check_block(binary, page, args, lines):
    """Runs one block's commands against a fresh server, comparing each answer."""
    while "--bind" in args:  # the test binds 127.0.0.1 on a free port itself
        i = args.index("--bind")
        del args[i:i + 2]
    steps, cmd = [], None
    for l in lines:
        if l.startswith("$ "):
            cmd = [l[2:], []]
            steps.append(cmd)
        elif cmd is not None and l.strip():
            cmd[1].append(l)
    s = Server(binary, args)
    try:
        for command, want in steps:
            sh = re.sub(r"(localhost|127\.0\.0\.1):8080", f"127.0.0.1:{s.port}", command)
            got = subprocess.run(["sh", "-c", sh], capture_output=True, text=True,
                                 timeout=30).stdout.splitlines()
            if len(got) != len(want):
                problem(f"{page}: `{command}` printed {len(got)} lines, the docs show "
                        f"{len(want)}: {got!r}")
                continue
            for w, g in zip(want, got):
                try:
                    d = same_shape(json.loads(w), json.loads(g), "answer")
                except json.JSONDecodeError:
                    d = None if w == g else f"{w!r} in the docs, {g!r} from the server"
                if d:
                    problem(f"{page}: `{command}`: {d}")
    finally:
        s.stop()


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    binary, src = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
    write = "--write" in sys.argv[3:]
    check_flags(src, parse_help(binary), write)
    if not write:
        check_api(src, binary)
        check_links(src)
        check_answers(src, binary)
    for p in problems:
        print("FAIL", p)
    print(f"docs: {len(problems)} problem(s)")
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
