#!/bin/bash
# Generations: a session becomes visible through the mount all at once.
set -u
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../lib-mount.sh"
t_setup

# release DIR N: every file of DIR says N (same size for every N).
release() {
	local i
	mkdir -p "$1/sub"
	for i in $(seq -w 0 59); do
		printf '%06d\n' "$2" >"$1/f$i"
	done
	printf '%06d\n' "$2" >"$1/sub/last"
	# Distinct mtimes even within one clock tick.
	find "$1" -type f -exec touch -d "@$((1700000000 + $2))" {} +
}

# reader MNT SECONDS: open every file in turn, over and over; fail if any
# open returns an older release than one an earlier open returned.
reader() {
	python3 - "$1" "$2" <<'PY'
import os, sys, time
mnt, secs = sys.argv[1], float(sys.argv[2])
names = ["f%02d" % i for i in range(60)] + ["sub/last"]
hi = reads = 0
seen = set()
end = time.time() + secs
while time.time() < end:
    for n in names:
        with open(os.path.join(mnt, n)) as f:
            v = int(f.read())
        reads += 1
        seen.add(v)
        if v < hi:
            print("regression: %s is release %d after release %d was seen" % (n, v, hi))
            sys.exit(1)
        hi = v
print("reads=%d releases_seen=%d" % (reads, len(seen)))
PY
}

case_readers_never_go_back() {
	release src 1
	t_ctl sync src store
	mount_store store mnt
	reader mnt 6 >r1.out 2>&1 &
	local r1=$!
	reader mnt 6 >r2.out 2>&1 &
	local r2=$!
	t_defer kill "$r1" "$r2"
	local n=2 end=$((SECONDS + 5))
	while [ "$SECONDS" -lt "$end" ]; do
		release src "$n"
		"$MIRRORCTL" sync -q src store >/dev/null || t_fail "sync of release $n failed"
		n=$((n + 1))
	done
	local rc1=0 rc2=0
	wait "$r1" || rc1=$?
	wait "$r2" || rc2=$?
	cat r1.out r2.out
	assert_eq 0 "$rc1" "reader 1: $(cat r1.out)"
	assert_eq 0 "$rc2" "reader 2: $(cat r2.out)"
	# The race was real: the readers saw several releases go by.
	local seen
	seen=$(sed -n 's/.*releases_seen=\([0-9]*\).*/\1/p' r1.out)
	[ "${seen:-0}" -ge 3 ] || t_fail "reader 1 saw only ${seen:-0} releases in $((n - 1)) syncs"
}

case_exec_during_sync_runs_one_release() {
	mkdir -p src/bin
	build_prog prog 1
	stamp() {	# stamp N: release N of the program and its data
		stamp_prog prog src/bin/prog.new "$1"
		mv src/bin/prog.new src/bin/prog
		printf '%08d\n' "$1" >src/bin/data
	}
	stamp 1
	t_ctl sync src store
	mount_store store mnt
	local end=$((SECONDS + 5))
	(
		n=2
		while [ "$SECONDS" -lt "$end" ]; do
			stamp "$n"
			"$MIRRORCTL" sync -q src store >/dev/null
			n=$((n + 1))
		done
	) &
	local syncer=$! bad=0 runs=0 first='' last='' p d
	t_defer kill "$syncer"
	while [ "$SECONDS" -lt "$end" ]; do
		# Started during the syncs, a program reads its data after it
		# started: that data is never of an older release than itself.
		p=$(mnt/bin/prog stamp) d=$(cat mnt/bin/data)
		runs=$((runs + 1))
		[ -n "$first" ] || first=$p
		last=$p
		if [ "$((10#$d))" -lt "$((10#$p))" ]; then
			echo "program of release $p read data of release $d"
			bad=$((bad + 1))
		fi
	done
	wait "$syncer" || true
	assert_eq 0 "$bad" "runs that read data older than themselves (of $runs)"
	[ "$((10#$last))" -gt "$((10#$first))" ] || t_fail "no release went by during $runs runs"
}

T_TIMEOUT=90 t_case "readers racing back-to-back syncs never see an older release" case_readers_never_go_back
T_TIMEOUT=90 t_case "a program started during syncs never sees data older than itself" case_exec_during_sync_runs_one_release
t_done
