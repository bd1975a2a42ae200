#!/bin/bash
# shellcheck disable=SC2317 # case functions are called through t_case
# The commit built as the session goes (lib/commit.c, store/jspool.h):
# a release that creates a tree of files, symlinks and hard links (to a
# file of the same session and to an unchanged one), turns a file into a
# directory and a directory into a file, and purges, lands whole, with
# every directory's mtime, committed at once and after a kill at the
# commit point and recovery; a commit whose spool cannot be written (its
# store's filesystem full) fails uncommitted, naming the spool, and
# leaves the store as it was.
set -u
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../lib-mount.sh"
t_setup
# shellcheck disable=SC2034 # read by t_case (tests/lib.sh)
T_TIMEOUT=${T_TIMEOUT_SPOOL:-300}

# release DIR K: release 0 (old) or 1 (new) of the tree.
release() {
	python3 - "$1" "$2" <<'EOF'
import os, sys
top, k = sys.argv[1], int(sys.argv[2])
def put(rel, data):
    p = os.path.join(top, rel)
    os.makedirs(os.path.dirname(p), exist_ok=True)
    with open(p, "w") as f:
        f.write(data)
os.makedirs(top, exist_ok=True)
put("same", "unchanged in both\n")
if k == 0:
    put("x", "a file, a directory next\n")
    put("y/in/deep", "a tree, a file next\n")
    put("gone/a/b", "purged\n")
    put("extra", "purged too\n")
    for d in range(20):
        put("keep/d%02d/old" % d, "old %d\n" % d)
else:
    put("x/now/inside", "x is a directory now\n")
    os.symlink("now/inside", os.path.join(top, "x/link"))
    put("y", "y is a file now\n")
    # Enough records (the files in keep/, the directories of tree/) that
    # both spools go through their file, not only through the buffer.
    for d in range(300):
        for f in range(3):
            put("tree/d%03d/s%d/f" % (d, f), "new %d.%d\n" % (d, f))
        os.symlink("s0/f", os.path.join(top, "tree/d%03d/ln" % d))
    for d in range(20):
        for f in range(60):
            put("keep/d%02d/new%d" % (d, f), "new %d.%d\n" % (d, f))
    # Hard links: to a file staged in this session (in a new tree and in
    # a directory the store has), to an unchanged one.
    os.link(os.path.join(top, "tree/d000/s0/f"), os.path.join(top, "tree/hard"))
    os.link(os.path.join(top, "tree/d001/s0/f"), os.path.join(top, "keep/h1"))
    os.link(os.path.join(top, "keep/d00/new0"), os.path.join(top, "keep/h2"))
    os.link(os.path.join(top, "same"), os.path.join(top, "tree/same2"))
    os.link(os.path.join(top, "same"), os.path.join(top, "keep/same3"))
# Distinct mtimes everywhere, directories included, deepest first.
t = 1600000000 + k * 1000
for dp, dn, fn in os.walk(top, topdown=False):
    for n in fn + dn:
        os.utime(os.path.join(dp, n), (t, t), follow_symlinks=False)
        t += 1
    os.utime(dp, (t, t))
    t += 1
EOF
}

# setup_trees: store, the old release synced; NEW, the new release. The
# releases and the first store are made once for every case.
NEW=$T/rel-new
setup_trees() {
	if [ ! -d "$T/pristine" ]; then
		release "$T/rel-old" 0
		release "$NEW" 1
		t_ctl sync --purge-dirs "$T/rel-old" "$T/pristine"
		assert_rc 0 "sync of the old release"
		assert_trees_eq "$T/rel-old" "$T/pristine"
	fi
	rm -rf store
	cp -a "$T/pristine" store
}

case_commits_whole() {
	setup_trees
	t_ctl sync --json --purge-dirs "$NEW" store
	assert_rc 0 "sync of the new release"
	assert_json failed 0 skipped 0
	assert_trees_eq "$NEW" store
	assert_no_litter store
}

# A kill at POINT, then recovery: the new release, whole.
killed_at() {
	setup_trees
	MIRRORFS_CRASH_AT=$1 t_ctl sync --purge-dirs "$NEW" store
	assert_rc 137 "sync killed at $1"
	t_ctl recover store
	assert_rc 0 "recover after a kill at $1"
	assert_no_litter store
	assert_trees_eq "$NEW" store
}

case_killed_at_the_commit_point() {
	killed_at journal
}

case_killed_while_carried_out() {
	killed_at commit:1
	killed_at commit:900
	killed_at swap
}

# A store on a small filesystem of our own, filled before the session:
# the spool's first write fails; nothing of the session is committed.
case_spool_cannot_be_written() {
	t_is_root || t_skip "mounting a tmpfs needs root"
	mkdir -p small src0 src
	mount -t tmpfs -o size=512k tmpfs small || t_fail "mount tmpfs"
	t_defer umount "$TC/small"
	echo first >src0/first
	t_ctl sync src0 small/store
	assert_rc 0 "first sync into the small store"
	# Full (dd stops at ENOSPC) but for 16 KiB: room for the store's own
	# small writes, not for the spool's first 64 KiB.
	dd if=/dev/zero of=small/store/filler bs=4k 2>/dev/null || true
	truncate -s -16K small/store/filler
	python3 - src <<'EOF'
import os, sys
top = sys.argv[1]
long = "n" * 200
# In the top, which the store has: a record each (a new directory would
# be staged whole, one record for all of it).
os.makedirs(top, exist_ok=True)
for i in range(3000):
    os.symlink("t", os.path.join(top, "%s%d" % (long, i)))
EOF
	(cd small/store && find . -path ./.mirrorfs -prune -o -printf '%y %p %s %T@\n' |
		sort) >before.txt
	t_ctl sync src small/store
	assert_rc 3 "sync whose spool cannot be written (failed, uncommitted)"
	assert_grep "nothing was committed" "$TC/err"
	# The commit's, or the report's (receiver.c), whichever writes first.
	assert_grep "the (commit|report)'s spool in .*small/store/.mirrorfs" "$TC/err"
	assert_grep "No space left on device" "$TC/err"
	(cd small/store && find . -path ./.mirrorfs -prune -o -printf '%y %p %s %T@\n' |
		sort) >after.txt
	cmp -s before.txt after.txt || {
		diff before.txt after.txt | head >&2
		t_fail "the store changed"
	}
	assert_no_litter small/store
}

# A no-change session spools nothing, even over many directories: into
# a store whose filesystem is full it commits as it always did.
case_no_change_on_a_full_store() {
	t_is_root || t_skip "mounting a tmpfs needs root"
	mkdir -p small src
	mount -t tmpfs -o size=16m tmpfs small || t_fail "mount tmpfs"
	t_defer umount "$TC/small"
	python3 - src <<'EOF'
import os, sys
for d in range(1500):
    os.makedirs(os.path.join(sys.argv[1], "dir%04d" % d))
    open(os.path.join(sys.argv[1], "dir%04d" % d, "f"), "w").write("x")
EOF
	t_ctl sync src small/store
	assert_rc 0 "the first sync"
	dd if=/dev/zero of=small/filler bs=4k 2>/dev/null || true
	truncate -s -32K small/filler
	t_ctl sync src small/store
	assert_rc 0 "a no-change sync into the full store"
	assert_grep "unchanged 3000" "$TC/out"
}

# A mounted store renamed (its mount holds it by descriptor) takes a
# commit whose spool needs its file, under its new name.
case_renamed_mounted_store() {
	mkdir -p src/top
	echo base >src/base
	t_ctl sync src store
	assert_rc 0 "the first sync"
	mount_store "$TC/store" mnt
	mv store store2
	python3 -c "
import os
for i in range(2000): os.symlink('t', 'src/top/l%04d' % i + 'n' * 100)
"
	t_ctl sync src store2
	assert_rc 0 "a sync into the renamed mounted store"
	assert_eq 2000 "$(find store2/top -type l | wc -l)" "links committed"
}

# Past the commit point the spools cannot be read (here: cut short while
# the sync is stopped right after its journal became durable): the
# journal is carried out at once, as a recovery would, and the release
# lands whole; nothing waits for a recovery that a mount would never run.
case_spool_lost_after_the_commit_point() {
	setup_trees
	MIRRORFS_STOP_AT=journal "$MIRRORCTL" sync --purge-dirs "$NEW" store >sync.out 2>&1 &
	local pid=$! fd n=0
	t_track "$pid"
	wait_stopped "$pid" || t_fail "the sync did not stop at its journal: $(cat sync.out)"
	for fd in /proc/"$pid"/fd/*; do
		case $(readlink "$fd") in
		*/.mirrorfs/\#*" (deleted)") truncate -s 0 "$fd" && n=$((n + 1)) ;;
		esac
	done
	[ "$n" -ge 1 ] || t_fail "no spool file open in the stopped sync: $(ls -l /proc/"$pid"/fd)"
	kill -CONT "$pid"
	RC=0
	wait "$pid" || RC=$?
	t_untrack "$pid"
	# 0; or 4 (committed, the outcome unknown to the client) when the
	# report's spool, in .mirrorfs too, was cut with them: never 3, "nothing
	# was committed", which would be false.
	[ "$RC" -eq 0 ] || { [ "$RC" -eq 4 ] && grep -q 'the report' sync.out; } ||
		t_fail "exit status $RC: $(cat sync.out)"
	assert_grep "the commit's spool" sync.out
	assert_missing store/.mirrorfs/journal
	assert_no_litter store
	assert_trees_eq "$NEW" store
}

t_case "a release with every kind of change commits whole" case_commits_whole
t_case "killed at the commit point: recovery finishes the release" case_killed_at_the_commit_point
t_case "killed while the journal is carried out: recovery finishes it" case_killed_while_carried_out
t_case "a spool that cannot be written: the session fails uncommitted" case_spool_cannot_be_written
t_case "a no-change session into a full store spools nothing, commits" case_no_change_on_a_full_store
t_case "a mounted store renamed meanwhile takes a big commit" case_renamed_mounted_store
t_case "spools unreadable past the commit point: the journal is carried out at once" case_spool_lost_after_the_commit_point
t_done
