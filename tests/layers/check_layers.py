#!/usr/bin/env python3
"""check_layers.py -- the include graph of memoscope's C code, checked.

    python3 tests/layers/check_layers.py [ROOT]

A module is a .c/.h pair (one name, one folder). Checks, under ROOT (the
repository, by default the one this file is in):
  - no include cycle among the modules of server/ and cache/;
  - server/'s layers include only themselves and the layers below them, in
    the order of LAYERS (the top, server/ itself, may include any);
  - no folder of server/ holds more than MAX_MODULES modules, and at most
    MAX_TOP_C .c files are left at server/'s top.
Prints each finding and exits 1 if there is any, else prints a summary and
exits 0.
"""
import os
import re
import sys

LAYERS = ["core", "memory", "instance", "redis", "scope", "metrics", "http", "routes"]
MAX_MODULES = 12
MAX_TOP_C = 3
INCLUDE = re.compile(r'^\s*#\s*include\s*"([^"]+)"', re.M)


def modules(root, folders):
    """{module: [files]} and {file name: module} for the C files under folders."""
    mods, by_name = {}, {}
    for top in folders:
        for d, _, files in os.walk(os.path.join(root, top)):
            for f in files:
                if f.endswith((".c", ".h")):
                    path = os.path.join(d, f)
                    mod = os.path.splitext(os.path.relpath(path, root))[0]
                    mods.setdefault(mod, []).append(path)
                    by_name.setdefault(f, []).append(mod)
    return mods, by_name


def edges(mods, by_name):
    out = {m: set() for m in mods}
    for m, paths in mods.items():
        for p in paths:
            with open(p, errors="replace") as fh:
                for name in INCLUDE.findall(fh.read()):
                    base = os.path.basename(name)
                    for target in by_name.get(base, [])[:1]:
                        if target != m:
                            out[m].add(target)
    return out


def cycles(graph):
    """The strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on, found = {}, {}, [], set(), []
    counter = [0]
    sys.setrecursionlimit(10000)

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def layer_of(mod):
    """server/<layer>/x -> the layer's rank; server/x (the top) -> len(LAYERS)."""
    parts = mod.split(os.sep)
    if parts[0] != "server":
        return None
    if len(parts) == 2:
        return len(LAYERS)
    return LAYERS.index(parts[1]) if parts[1] in LAYERS else None


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "..")
    root = os.path.abspath(root)
    mods, by_name = modules(root, ["server", "cache"])
    graph = edges(mods, by_name)
    problems = []
    for comp in cycles(graph):
        problems.append("include cycle: " + " <-> ".join(comp))
    for m, targets in sorted(graph.items()):
        lm = layer_of(m)
        for t in sorted(targets):
            lt = layer_of(t)
            if lm is not None and lt is not None and lt > lm:
                problems.append("upward include: %s includes %s" % (m, t))
    folders = {}
    for m in mods:
        folders.setdefault(os.path.dirname(m), []).append(m)
    for f, ms in sorted(folders.items()):
        if f.startswith("server") and len(ms) > MAX_MODULES:
            problems.append("%s holds %d modules (at most %d)" % (f, len(ms), MAX_MODULES))
    top_c = [f for f in os.listdir(os.path.join(root, "server")) if f.endswith(".c")]
    if len(top_c) > MAX_TOP_C:
        problems.append("server/ has %d .c files at its top (at most %d)" % (len(top_c), MAX_TOP_C))
    for p in problems:
        print(p)
    n_edges = sum(len(t) for t in graph.values())
    print("modules %d, folders %d, includes %d, cycles %d, findings %d"
          % (len(mods), len(folders), n_edges, len(cycles(graph)), len(problems)))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
