#!/bin/bash
# The mount's peak memory (VmHWM) across one commit of N new small files into a mounted store.
#
# usage: bench/commit-hwm.sh N BINDIR...
# Makes N small files (gen.py small: 1,000 a directory) in a directory of
# its own ($HWM_DIR, default /var/tmp/mirrorfs-hwm.PID, removed after).
# For each BINDIR in turn: a fresh store that has the tree's directories,
# empty (so each new file is a change of its own: a new directory would
# be staged whole, one change for its tree), mounted with BINDIR's
# mirrorfs; then `mirrorctl sync -q SRC STORE`, whose session and commit
# run in the mount (control.sock). Prints one tab-separated line a run:
#   BINDIR  VmHWM-before-KiB  VmHWM-after-KiB  VmRSS-after-KiB  seconds
# The mount's environment is this script's: MIRRORFS_COMMIT_BATCH=N
# sets the batch its commit observer takes.
set -eu
N=$1
shift
W=${HWM_DIR:-/var/tmp/mirrorfs-hwm.$$}
MPID=

cleanup() {
	if [ -n "$MPID" ]; then
		fusermount3 -u -z "$W/mnt" 2>/dev/null || true
		kill "$MPID" 2>/dev/null || true
		wait "$MPID" 2>/dev/null || true
	fi
	rm -rf "$W"
}
trap cleanup EXIT

# status_kib PID FIELD: FIELD (VmHWM, VmRSS) of /proc/PID/status in KiB.
status_kib() {
	awk -v f="$2:" '$1 == f { print $2 }' "/proc/$1/status"
}

mkdir -p "$W"
python3 "$(dirname "$0")/gen.py" small "$W/src" "$N"
for bin in "$@"; do
	rm -rf "${W:?}/skel" "${W:?}/store" "${W:?}/mnt"
	mkdir -p "$W/skel" "$W/mnt"
	for d in "$W/src"/*/; do
		mkdir "$W/skel/$(basename "$d")"
	done
	"$bin/mirrorctl" sync -q "$W/skel" "$W/store"
	"$bin/mirrorfs" -f "$W/store" "$W/mnt" 2>"$W/mirrorfs.log" &
	MPID=$!
	for _ in $(seq 100); do
		if awk -v d="$W/mnt" '$2 == d { found = 1 } END { exit !found }' /proc/mounts; then
			break
		fi
		sleep 0.1
	done
	before=$(status_kib "$MPID" VmHWM)
	t0=$(date +%s%N)
	"$bin/mirrorctl" sync -q "$W/src" "$W/store"
	t1=$(date +%s%N)
	printf '%s\t%s\t%s\t%s\t%s\n' "$bin" "$before" \
		"$(status_kib "$MPID" VmHWM)" "$(status_kib "$MPID" VmRSS)" \
		"$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", (b - a) / 1e9 }')"
	fusermount3 -u "$W/mnt"
	wait "$MPID" || true
	MPID=
done
