#!/usr/bin/env python3
"""tests/fidelity.py: compares two trees entry by entry, as rsync -aHAXS
--devices --specials --numeric-ids keeps them.

usage: fidelity.py [--blocks-ratio R] [--source SRC] REFERENCE TREE

For every entry (the top included, .mirrorfs left out) it lists the type,
mode (setuid, setgid and sticky bits included), owner, size, mtime in ns
(not of directories' atime), device numbers, every extended attribute (user.*,
trusted.*, security.*, the POSIX ACLs system.posix_acl_access and _default,
the file capability security.capability) and which entries are hard links
of each other; it checks TREE's allocated blocks of each file are at most R
(default 1.1) times REFERENCE's plus 8 blocks. rsync leaves devices and
sockets with the time it made them: with --source, their mtime is expected
to be SRC's. It prints each difference and exits 1 if there is any, 0 when
the trees match."""

import os
import stat
import sys


def entries(top):
    """path -> (lstat, xattrs) of every entry below top, top as '.'."""
    out = {}

    def one(path, rel):
        st = os.lstat(path)
        try:
            names = os.listxattr(path, follow_symlinks=False)
        except OSError:
            names = []
        xa = {}
        for n in sorted(names):
            try:
                xa[n] = os.getxattr(path, n, follow_symlinks=False)
            except OSError as e:
                xa[n] = "<%s>" % e.strerror
        out[rel] = (st, xa)
        if stat.S_ISDIR(st.st_mode):
            for name in sorted(os.listdir(path)):
                if rel == "." and name == ".mirrorfs":
                    continue
                one(os.path.join(path, name),
                    name if rel == "." else rel + "/" + name)

    one(top, ".")
    return out


class Stat:
    """An lstat result with another mtime."""

    def __init__(self, st, mtime_ns):
        self._st = st
        self.st_mtime_ns = mtime_ns

    def __getattr__(self, name):
        return getattr(self._st, name)


def kind(mode):
    for test, word in ((stat.S_ISREG, "file"), (stat.S_ISDIR, "dir"),
                       (stat.S_ISLNK, "symlink"), (stat.S_ISFIFO, "fifo"),
                       (stat.S_ISSOCK, "socket"), (stat.S_ISCHR, "chr"),
                       (stat.S_ISBLK, "blk")):
        if test(mode):
            return word
    return "?"


def describe(st, xa, top, rel):
    d = {
        "type": kind(st.st_mode),
        "mode": "%o" % stat.S_IMODE(st.st_mode),
        "owner": "%d:%d" % (st.st_uid, st.st_gid),
        "xattrs": xa,
    }
    if stat.S_ISREG(st.st_mode) or stat.S_ISLNK(st.st_mode):
        d["size"] = st.st_size
    if not stat.S_ISDIR(st.st_mode):
        d["mtime"] = st.st_mtime_ns
    if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
        d["rdev"] = "%d,%d" % (os.major(st.st_rdev), os.minor(st.st_rdev))
    if stat.S_ISLNK(st.st_mode):
        d["target"] = os.readlink(os.path.join(top, rel))
    return d


def links(tree):
    """Each hard-linked file -> the sorted names of its inode."""
    by_ino = {}
    for rel, (st, _) in tree.items():
        if stat.S_ISREG(st.st_mode) and st.st_nlink > 1:
            by_ino.setdefault(st.st_ino, []).append(rel)
    return {rel: sorted(v) for v in by_ino.values() for rel in v}


def main(argv):
    ratio = 1.1
    source = None
    args = argv[1:]
    while args[:1] in (["--blocks-ratio"], ["--source"]):
        if args[0] == "--source":
            source = entries(args[1])
        else:
            ratio = float(args[1])
        args = args[2:]
    if len(args) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    ref_top, tree_top = args
    ref, tree = entries(ref_top), entries(tree_top)
    if source is not None:
        for rel, (st, xa) in list(ref.items()):
            m = st.st_mode
            if (stat.S_ISCHR(m) or stat.S_ISBLK(m) or stat.S_ISSOCK(m)) \
                    and rel in source:
                ref[rel] = (Stat(st, source[rel][0].st_mtime_ns), xa)
    diffs = []
    for rel in sorted(set(ref) | set(tree)):
        if rel not in tree:
            diffs.append("%s: missing" % rel)
            continue
        if rel not in ref:
            diffs.append("%s: extra" % rel)
            continue
        a = describe(*ref[rel], ref_top, rel)
        b = describe(*tree[rel], tree_top, rel)
        for k in sorted(set(a) | set(b)):
            if a.get(k) != b.get(k):
                diffs.append("%s: %s %r, expected %r" % (rel, k, b.get(k),
                                                        a.get(k)))
        sa, sb = ref[rel][0], tree[rel][0]
        if stat.S_ISREG(sa.st_mode) and stat.S_ISREG(sb.st_mode) and \
                sb.st_blocks > sa.st_blocks * ratio + 8:
            diffs.append("%s: %d blocks allocated, expected at most %.1f x %d"
                         % (rel, sb.st_blocks, ratio, sa.st_blocks))
    la, lb = links(ref), links(tree)
    for rel in sorted(set(la) | set(lb)):
        if la.get(rel) != lb.get(rel):
            diffs.append("%s: hard links %r, expected %r" % (rel, lb.get(rel),
                                                            la.get(rel)))
    for d in diffs:
        print(d)
    print("%d entries compared, %d differences" % (len(ref), len(diffs)))
    return 1 if diffs else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
