#!/usr/bin/env python3
"""bench/pyimport.py: a real application's cold start: python3 importing
standard-library modules from a copy of the library (a tree synced into
the store), natively or through the mount.

  pyimport.py pick ROOT N      prints N module names, one a line, that
                               import cleanly from ROOT (a copy of
                               /usr/lib/python3.X) and were not loaded at
                               start-up, in a fixed order
  pyimport.py run ROOT LIST    imports every module named in the file LIST
                               from ROOT and prints how many it imported

Both run as `python3 -I -S -B pyimport.py ...`: no site, no user paths,
no bytecode written, so each run reads the same files, and ROOT comes
first on sys.path (its lib-dynload too), so everything imported after
start-up comes from ROOT.
"""
import os
import sys

# Modules with effects beyond importing (a browser, a window, output).
SKIP = {"antigravity", "this", "idlelib", "tkinter", "turtle", "turtledemo",
        "ensurepip", "venv", "pydoc_data", "lib2to3", "__hello__",
        "__phello__", "xxlimited", "xxlimited_35", "_xxtestfuzz", "test"}


def use_root(root):
    sys.path[:0] = [root, os.path.join(root, "lib-dynload")]


def in_root(root, name):
    return (os.path.exists(os.path.join(root, name + ".py")) or
            os.path.isdir(os.path.join(root, name)))


def from_root(root, name):
    f = getattr(sys.modules[name], "__file__", None)
    return f is not None and f.startswith(root + os.sep)


def pick(root, n):
    loaded = set(sys.modules)
    use_root(root)
    names = sorted(m for m in sys.stdlib_module_names
                   if m not in loaded and m not in SKIP and
                   not m.startswith("_") and in_root(root, m))
    got = []
    for m in names:
        if len(got) == n:
            break
        try:
            __import__(m)
        except Exception:  # noqa: BLE001 - a module that cannot import here
            continue
        if from_root(root, m):	# not frozen into the interpreter
            got.append(m)
    if len(got) < n:
        sys.exit("pyimport.py: only %d modules import from %s" % (len(got), root))
    print("\n".join(got))


def run(root, listfile):
    use_root(root)
    with open(listfile) as f:
        names = f.read().split()
    for m in names:
        __import__(m)
    bad = [m for m in names if not from_root(root, m)]
    if bad:
        sys.exit("pyimport.py: %s not imported from %s" % (", ".join(bad[:3]), root))
    print(len(names))


def main(argv):
    if len(argv) == 4 and argv[1] == "pick":
        pick(os.path.abspath(argv[2]), int(argv[3]))
    elif len(argv) == 4 and argv[1] == "run":
        run(os.path.abspath(argv[2]), argv[3])
    else:
        sys.stderr.write(__doc__)
        sys.exit(2)


if __name__ == "__main__":
    main(sys.argv)
