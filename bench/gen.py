#!/usr/bin/env python3
"""bench/gen.py: generates the benchmark data sets (deterministic, seeded).

  gen.py tree DIR NDIRS NSUB NFILES NBIG BIGMIN_MIB BIGMAX_MIB
      DIR/dXX/sYY/fZZZZ   NDIRS*NSUB*NFILES files of 0-64 KiB (uniform)
      DIR/dXX/sYY/link    one symlink per leaf directory
      DIR/big/bNN         NBIG files of BIGMIN..BIGMAX MiB
  gen.py small DIR N
      DIR/dXXXX/fNNNNNN   N files of 0-1 KiB, 1000 a directory (rows 10, 15)
  gen.py readset DIR MIB
      DIR/big.bin         one MIB MiB file
      DIR/bin/true        a copy of /usr/bin/true (exec test)

Contents are pseudo-random (incompressible), drawn from one seeded pool.
"""
import os
import random
import shutil
import sys

MIB = 1 << 20


def pool(rng, size):
    return rng.randbytes(size)


def write(path, data):
    with open(path, "wb") as f:
        f.write(data)


def tree(root, ndirs, nsub, nfiles, nbig, bigmin, bigmax):
    rng = random.Random(20240601)
    p = pool(rng, 80 * MIB)
    plen = len(p)
    total = 0
    for d in range(ndirs):
        for s in range(nsub):
            leaf = os.path.join(root, "d%02d" % d, "s%02d" % s)
            os.makedirs(leaf, exist_ok=True)
            for i in range(nfiles):
                n = rng.randint(0, 64 * 1024)
                off = rng.randrange(0, plen - n)
                write(os.path.join(leaf, "f%04d" % i), p[off:off + n])
                total += n
            os.symlink("f0000", os.path.join(leaf, "link"))
    big = os.path.join(root, "big")
    os.makedirs(big, exist_ok=True)
    for b in range(nbig):
        n = rng.randint(bigmin * MIB, bigmax * MIB)
        with open(os.path.join(big, "b%02d" % b), "wb") as f:
            left = n
            while left > 0:
                k = min(left, 16 * MIB)
                off = rng.randrange(0, plen - k)
                f.write(p[off:off + k])
                left -= k
        total += n
    print("files=%d bytes=%d" % (ndirs * nsub * nfiles + nbig, total))


def small(root, n):
    rng = random.Random(11)
    p = rng.randbytes(1 << 20)
    per = 1000
    for i in range(n):
        d = os.path.join(root, "d%04d" % (i // per))
        if i % per == 0:
            os.makedirs(d, exist_ok=True)
        k = rng.randint(0, 1024)
        o = rng.randrange(0, len(p) - k)
        write(os.path.join(d, "f%06d" % i), p[o:o + k])


def readset(root, mib):
    rng = random.Random(7)
    p = pool(rng, 64 * MIB)
    os.makedirs(os.path.join(root, "bin"), exist_ok=True)
    with open(os.path.join(root, "big.bin"), "wb") as f:
        for _ in range(mib // 64):
            f.write(p)
        rest = (mib % 64) * MIB
        if rest:
            f.write(p[:rest])
    shutil.copy2("/usr/bin/true", os.path.join(root, "bin", "true"))


def main(argv):
    if len(argv) >= 2 and argv[1] == "tree" and len(argv) == 9:
        tree(argv[2], *map(int, argv[3:9]))
    elif len(argv) == 4 and argv[1] == "small":
        small(argv[2], int(argv[3]))
    elif len(argv) == 4 and argv[1] == "readset":
        readset(argv[2], int(argv[3]))
    else:
        sys.stderr.write(__doc__)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
