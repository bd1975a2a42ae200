#!/bin/bash
# shellcheck disable=SC2317 # case functions are called through t_case
# Flow control on the sender's walk (issue 17): the sender walks at most a
# window of entries past the receiver's last MARK, so an initial local sync
# of many small files keeps a bounded window (-v: "at most N entries ...
# held at once"), where the walk used to outrun the data by most of the
# tree. And the hold never stalls a session: with a tiny window
# (MIRRORFS_WINDOW=16), purges, deltas, a resumed session, a mounted store,
# mirror://, hard links far apart and two destinations each end in time
# with the store equal to the source.
set -u
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../lib-mount.sh"
. "$(dirname "$0")/../lib-net.sh"
t_setup

SRC=src

# small_tree DIR DIRS FILES: DIRS directories of FILES small files each.
small_tree() {
	python3 - "$1" "$2" "$3" <<'EOF'
import os, sys
top, nd, nf = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
for d in range(nd):
    p = os.path.join(top, "d%03d" % d)
    os.makedirs(p)
    for i in range(nf):
        with open(os.path.join(p, "f%04d" % i), "w") as f:
            f.write("%d/%d\n" % (d, i))
EOF
}

# timed_sync LIMIT ARGS...: mirrorctl ARGS, which must end within LIMIT
# seconds (a stalled hold shows as a timeout) and succeed.
timed_sync() {
	local limit=$1 t0
	shift
	t0=$(date +%s)
	t_run timeout "$limit" "$MIRRORCTL" "$@"
	[ "$RC" != 124 ] || t_fail "mirrorctl $* stalled: killed after $limit s"
	assert_rc 0 "mirrorctl $*"
	echo "mirrorctl $*: $(($(date +%s) - t0)) s"
}

# held FILE: the most entries the receiver held at once, from -v's line.
held() {
	sed -n 's/.*at most \([0-9]*\) entries of [0-9]* were held at once.*/\1/p' "$1" |
		sort -n | tail -1
}

# on_tmpfs: the case goes on in a tmpfs of its own (unmounted after):
# 20,000 files made and copied in seconds, where this machine's ext4 took
# 20 s after many deletions; the window is the same on any filesystem.
on_tmpfs() {
	t_is_root || t_skip "mounting a tmpfs needs root"
	mkdir fast
	mount -t tmpfs -o size=256m tmpfs fast || t_fail "mount tmpfs"
	t_defer umount "$TC/fast"
	cd fast || t_fail "cd fast"
}

case_window_bound() {
	on_tmpfs
	small_tree "$SRC" 20 1000
	# The default window, whatever the suite's MIRRORFS_WINDOW.
	MIRRORFS_WINDOW='' timed_sync 50 -v sync "$SRC" store
	assert_trees_eq "$SRC" store
	local n
	n=$(held "$TC/err")
	[ -n "$n" ] || t_fail "no window line in: $(cat "$TC/err")"
	echo "held at most $n of 20,021 entries"
	# The default window (8192) and what the receiver keeps of its own
	# (a quarter of it between MARKs): main held ~28,000 of these.
	[ "$n" -le 12000 ] || t_fail "held $n entries at once (window 8192)"
}
t_case "an initial sync of 20,000 files holds a bounded window of entries" case_window_bound

# Two destinations, one up to date (it asks for nothing): the other's
# data is not kept waiting for the first's end, so its window stays
# bounded too (it held the whole tree before).
case_window_fan_out() {
	on_tmpfs
	small_tree "$SRC" 20 1000
	MIRRORFS_WINDOW='' timed_sync 50 sync "$SRC" same
	MIRRORFS_WINDOW='' timed_sync 50 -v sync "$SRC" fresh same
	assert_trees_eq "$SRC" fresh
	assert_trees_eq "$SRC" same
	local n
	n=$(grep 'fresh: at most' "$TC/err" >fresh.err; held fresh.err)
	[ -n "$n" ] || t_fail "no window line for fresh in: $(cat "$TC/err")"
	echo "fresh held at most $n of 20,021 entries"
	[ "$n" -le 12000 ] || t_fail "fresh held $n entries at once (window 8192)"
}
t_case "two destinations, one up to date: the other's window is bounded too" case_window_fan_out

case_small_window() {
	small_tree "$SRC" 20 100
	MIRRORFS_WINDOW=16 timed_sync 60 -v sync "$SRC" store
	assert_trees_eq "$SRC" store
	local n
	n=$(held "$TC/err")
	echo "held at most $n of 2,021 entries"
	if [ -z "$n" ] || [ "$n" -gt 64 ]; then
		t_fail "held ${n:-?} entries at once (window 16)"
	fi
}
t_case "MIRRORFS_WINDOW=16: the receiver holds about that many entries" case_small_window

case_purge() {
	small_tree "$SRC" 20 100
	small_tree store 30 120
	export MIRRORFS_WINDOW=16
	timed_sync 60 sync --delete "$SRC" store
	assert_trees_eq "$SRC" store
	assert_missing store/d025
}
t_case "window 16: --delete into a store with extra files" case_purge

case_delta() {
	local i
	mkdir -p "$SRC/a" "$SRC/b"
	for i in 1 2 3; do
		head -c 200000 /dev/urandom >"$SRC/a/big$i"
	done
	small_tree "$SRC/b" 10 100
	t_ctl sync "$SRC" store
	assert_rc 0 "the first sync"
	for i in 1 2 3; do
		printf 'changed\n' >>"$SRC/a/big$i"
	done
	for i in 0 5 9; do
		echo "changed $i" >"$SRC/b/d00$i/f0050"
	done
	export MIRRORFS_WINDOW=16
	timed_sync 60 sync --no-whole-file "$SRC" store
	assert_trees_eq "$SRC" store
}
t_case "window 16: a delta session, big files first, then many small ones" case_delta

case_resume() {
	small_tree "$SRC" 20 100
	export MIRRORFS_WINDOW=16
	MIRRORFS_CRASH_AT=send:700 t_ctl sync "$SRC" store
	assert_rc 137 "the cut session's exit status"
	timed_sync 60 sync "$SRC" store
	assert_trees_eq "$SRC" store
	assert_no_litter store
}
t_case "window 16: a session resumed after a cut" case_resume

case_mounted() {
	mkdir -p "$SRC" && echo one >"$SRC/one"
	t_ctl sync "$SRC" store
	mount_store store mnt
	small_tree "$SRC" 20 100
	export MIRRORFS_WINDOW=16
	timed_sync 60 sync "$SRC" store
	assert_trees_eq "$SRC" mnt
}
t_case "window 16: into a mounted store (its control socket)" case_mounted

case_network() {
	mkdir app
	small_tree "$SRC" 20 100
	serve app "$TC/app"
	export MIRRORFS_WINDOW=16
	timed_sync 60 sync --key key "$SRC" "mirror://127.0.0.1:$PORT/app"
	assert_trees_eq "$SRC" app
}
t_case "window 16: mirror:// on loopback" case_network

case_hard_links() {
	mkdir -p "$SRC/a" "$SRC/z"
	echo first >"$SRC/a/first"
	small_tree "$SRC/m" 5 100
	ln "$SRC/a/first" "$SRC/z/later"
	export MIRRORFS_WINDOW=16
	timed_sync 60 sync "$SRC" store
	assert_trees_eq "$SRC" store
	assert_eq "$(stat -c %i store/a/first)" "$(stat -c %i store/z/later)" "inode of the two names"
}
t_case "window 16: hard links 500 entries apart" case_hard_links

case_two_destinations() {
	small_tree "$SRC" 20 100
	t_ctl sync "$SRC" same
	assert_rc 0 "the first sync"
	export MIRRORFS_WINDOW=16
	# One store wants every file, the other none: the walk holds for
	# the first while the second asks for nothing.
	timed_sync 60 sync "$SRC" fresh same
	assert_trees_eq "$SRC" fresh
	assert_trees_eq "$SRC" same
}
t_case "window 16: two destinations, one up to date, one empty" case_two_destinations

t_done
