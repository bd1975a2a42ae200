#!/usr/bin/env python3
"""check.py ROOT: the layers of the source tree, as docs/ARCHITECTURE.md draws them.

Fails (exit 1, naming the files) when a module's includes form a cycle,
when lib/ includes a header of a program (fs/, syncd/, tools/), or when
lib/store/ reaches above its base (it may use only lib/store/ itself and
the base modules BASE). A module is a .c file and its .h: a.c including
b.h is an edge from a to b.
"""
import os
import re
import sys

BASE = {"log", "buf", "clock", "fsutil", "path", "htab", "fault", "control", "xattr"}
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)


def modules(root):
    """{module name: (directory, [files])} for every .c and .h under the source dirs."""
    mods = {}
    for top in ("lib", "fs", "syncd", "tools"):
        for d, _, files in os.walk(os.path.join(root, top)):
            for f in files:
                if f.endswith((".c", ".h")):
                    rel = os.path.relpath(os.path.join(d, f), root)
                    name = os.path.splitext(rel)[0]
                    mods.setdefault(name, []).append(rel)
    return mods


def resolve(root, src, inc, names):
    """The module an include names: beside src first, then under lib/."""
    for cand in (os.path.join(os.path.dirname(src), inc), os.path.join("lib", inc)):
        name = os.path.splitext(os.path.normpath(cand))[0]
        if name in names:
            return name
    return None


def main(root):
    mods = modules(root)
    edges = {m: set() for m in mods}
    problems = []
    for m, files in mods.items():
        for f in files:
            text = open(os.path.join(root, f), errors="replace").read()
            for inc in INCLUDE.findall(text):
                dep = resolve(root, f, inc, mods)
                if dep is None or dep == m:
                    continue
                edges[m].add(dep)
                if m.startswith("lib/") and not dep.startswith("lib/"):
                    problems.append("%s includes %s, a program's header" % (f, inc))
                if m.startswith("lib/store/") and not dep.startswith("lib/store/") \
                        and dep[len("lib/"):] not in BASE:
                    problems.append("%s (the store layer) includes %s, above it" % (f, inc))
    # Cycles: a depth-first walk that finds a module on its own path.
    state, stack = {}, []

    def walk(m):
        state[m] = 1
        stack.append(m)
        for d in sorted(edges[m]):
            if state.get(d) == 1:
                cyc = stack[stack.index(d):] + [d]
                problems.append("include cycle: " + " -> ".join(cyc))
            elif d not in state:
                walk(d)
        stack.pop()
        state[m] = 2

    for m in sorted(edges):
        if m not in state:
            walk(m)
    for p in problems:
        print(p)
    print("%d modules, %d includes, %d problems" %
          (len(mods), sum(len(e) for e in edges.values()), len(problems)))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "."))
