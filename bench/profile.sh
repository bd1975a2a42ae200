#!/usr/bin/env bash
# bench/profile.sh [NDIRS NSUB NFILES]: where mirrorctl and mirrorfs spend
# their time, on a generated tree (default 10x8x50 = 4,000 files + 2 big).
# Prints syscall counts (strace -c -f) and the top of perf profiles for:
#   A. mirrorctl initial sync      B. mirrorctl no-change re-sync
#   C. no-change re-sync with 1 GiB of unrelated dirty data on the filesystem
#   D. mirrorfs daemon during a cold `find -printf %s` (stat of every file)
# Needs root. Everything lives in a mktemp dir under /var/tmp, removed at exit.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(dirname "$HERE")
BUILD=${MIRRORFS_BUILD:-$REPO/build}
ND=${1:-10} NS=${2:-8} NF=${3:-50}
W=$(mktemp -d /var/tmp/mirrorfs-prof.XXXXXX)
FS_PID=
cleanup() {
	set +e
	[ -n "$FS_PID" ] && { fusermount3 -u "$W/mnt"; wait "$FS_PID"; }
	mountpoint -q "$W/mnt" || rm -rf -- "$W"
}
trap cleanup EXIT
cp "$BUILD/mirrorctl" "$BUILD/mirrorfs" "$W/"
python3 "$HERE/gen.py" tree "$W/src" "$ND" "$NS" "$NF" 2 8 16
drop() { sync; echo 3 >/proc/sys/vm/drop_caches; }
perf_top() {
	perf report -i "$1" --no-children --sort symbol --stdio -g none 2>/dev/null |
	    grep -E '^ +[0-9]' | head -"${2:-15}" || true
}

if [ -z "${SKIP_A:-}" ]; then
echo "== A. initial sync: syscalls"
drop
strace -c -f -o "$W/a.strace" "$W/mirrorctl" sync -q "$W/src" "$W/s1" >/dev/null
head -25 "$W/a.strace" || true
echo "== A. initial sync: perf (cold cache)"
drop
perf record -q -g -o "$W/a.perf" "$W/mirrorctl" sync -q "$W/src" "$W/s2" >/dev/null 2>&1
perf_top "$W/a.perf" 20
t0=$EPOCHREALTIME; "$W/mirrorctl" sync -q "$W/src" "$W/s3" >/dev/null; t1=$EPOCHREALTIME
echo "initial sync, warm source: $(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }') s"
else
	"$W/mirrorctl" sync -q "$W/src" "$W/s1" >/dev/null
	rsync -a "$W/src/" "$W/s3/"
fi

echo "== B. no-change re-sync: syscalls and perf"
strace -c -f -o "$W/b.strace" "$W/mirrorctl" sync -q "$W/src" "$W/s1" >/dev/null
head -20 "$W/b.strace" || true
perf record -q -g -o "$W/b.perf" "$W/mirrorctl" sync -q "$W/src" "$W/s1" >/dev/null 2>&1
perf_top "$W/b.perf" 20

echo "== C. no-change re-sync, 1 GiB of unrelated dirty data on the same filesystem"
sync
t0=$EPOCHREALTIME; "$W/mirrorctl" sync -q "$W/src" "$W/s1" >/dev/null; t1=$EPOCHREALTIME
echo "clean:  $(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }') s"
dd if=/dev/zero of="$W/unrelated" bs=1M count=1024 status=none
t0=$EPOCHREALTIME; "$W/mirrorctl" sync -q "$W/src" "$W/s1" >/dev/null; t1=$EPOCHREALTIME
echo "dirty:  $(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }') s"
t0=$EPOCHREALTIME; rsync -a "$W/src/" "$W/s3/"; t1=$EPOCHREALTIME
echo "rsync after it (nothing dirty left): $(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }') s"

echo "== D. mirrorfs during a cold stat of every file"
mkdir -p "$W/mnt"
"$W/mirrorfs" -f "$W/s1" "$W/mnt" 2>/dev/null &
FS_PID=$!
for _ in $(seq 1 50); do mountpoint -q "$W/mnt" && break; sleep 0.1; done
drop
strace -c -f -p "$FS_PID" -o "$W/d.strace" &
SP=$!
sleep 0.5
find "$W/mnt" -type f -printf '%s\n' | wc -l
kill -INT "$SP"; wait "$SP" || true
head -20 "$W/d.strace" || true
drop
perf record -q -g -p "$FS_PID" -o "$W/d.perf" -- sleep 3 >/dev/null 2>&1 &
PP=$!
sleep 0.3
t0=$EPOCHREALTIME; find "$W/mnt" -type f -printf '%s\n' >/dev/null; t1=$EPOCHREALTIME
echo "cold find -printf through the mount: $(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }') s"
wait "$PP" || true
perf_top "$W/d.perf" 15
drop
t0=$EPOCHREALTIME; find "$W/s1" -type f -printf '%s\n' >/dev/null; t1=$EPOCHREALTIME
echo "cold find -printf native: $(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }') s"
