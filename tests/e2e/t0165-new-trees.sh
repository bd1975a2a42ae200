#!/bin/bash
# shellcheck disable=SC2317 # case functions are called through t_case
# A new directory (in one the store has) is staged whole, every entry of
# its tree in place, and put in place by one rename at the commit: the
# tree appears whole with that one journal record, with every type of
# entry, hard links into, out of and within it, modes, owners, extended
# attributes and mtimes as rsync keeps them; a crash before the
# commit point leaves no trace of it, one after rolls it forward (t0420
# keeps and resumes the files of a session cut inside a new tree).
set -u
. "$(dirname "$0")/../lib.sh"
t_setup
COMPARE="python3 $T_ROOT/tests/fidelity.py"

# assert_mirror SRC STORE
assert_mirror() {
	$COMPARE "$1" "$2" >compare.out 2>&1 || {
		cat compare.out >&2
		t_fail "$2 is not $1: $(head -n 4 compare.out | tr '\n' ';')"
	}
}

# old_release: src with one directory the store gets first (old/).
old_release() {
	mkdir -p src/old
	echo "kept" >src/old/kept
	echo "linked" >src/old/target
}

# file_of I: where new_tree puts file I.
file_of() {
	local d="src/new/d$(($1 % 3))/s$(($1 / 3 % 3))"
	[ $(($1 % 4)) -eq 0 ] && d="$d/deep"
	echo "$d/f$1"
}

# new_tree: src/new, a tree of every kind of entry, 120 files in 19
# directories, with hard links within it, into it from old/ and from it
# to old/, and its own modes, owners, attributes and mtimes.
new_tree() {
	local d i
	for d in 0 1 2; do
		for i in 0 1 2; do
			mkdir -p "src/new/d$d/s$i/deep"
		done
	done
	mkdir -p src/new/empty
	for i in $(seq 120); do
		head -c "$((i * 37))" /dev/urandom >"$(file_of "$i")"
	done
	ln -s ../../old/kept src/new/d0/link
	mkfifo src/new/d1/fifo
	ln "$(file_of 3)" src/new/d2/hl-within
	ln src/old/target src/new/d1/hl-out
	ln "$(file_of 5)" src/old/hl-in
	chmod 0750 src/new/d1
	chmod 0700 src/new/d2/s2/deep
	chown 1234:5678 src/new/d0/s1 "$(file_of 4)"
	setfattr -n user.tag -v tree src/new/d2
	find src -exec touch -h -d "@1600000000" {} +
	touch -d "@1500000000" src/new src/new/d1
}

# synced_store: store holds the old release.
synced_store() {
	old_release
	t_ctl sync src store
	assert_rc 0 "the first sync"
	new_tree
}

case_whole() {
	synced_store
	# Stopped after the first record it carries out: the tree is there whole.
	MIRRORFS_STOP_AT=commit:1 "$MIRRORCTL" sync src store >sync.out 2>&1 &
	local pid=$!
	t_track "$pid"
	wait_stopped "$pid" || t_fail "the sync did not stop in its commit: $(cat sync.out)"
	assert_eq "$(find src/new -type f | wc -l)" "$(find store/new -type f | wc -l)" \
		"files in store/new after the commit's first record"
	local f
	f=$(file_of 120)
	assert_file_eq "$f" "store/${f#src/}"
	kill -CONT "$pid"
	wait "$pid" || t_fail "the sync exited $?: $(cat sync.out)"
	t_untrack "$pid"
	assert_mirror src store
	assert_no_litter store
}

case_crash_before() {
	synced_store
	MIRRORFS_CRASH_AT=staging:60 t_ctl sync src store
	assert_rc 137 "a crash while the tree is staged"
	t_ctl recover store
	assert_rc 0 "recover"
	assert_missing store/new
	assert_no_litter store
	t_ctl sync src store
	assert_rc 0 "the sync after"
	assert_mirror src store
}

case_crash_after() {
	local point
	for point in journal commit:1 commit:3; do
		rm -rf src store
		synced_store
		MIRRORFS_CRASH_AT=$point t_ctl sync src store
		assert_rc 137 "a crash at $point"
		t_ctl recover store
		assert_rc 0 "recover after $point"
		assert_no_litter store
		assert_mirror src store
	done
}

t_case "a new tree appears whole with its one record, as the source has it" case_whole
t_case "a crash while a new tree is staged leaves no trace of it" case_crash_before
t_case "a crash past the commit point puts the new tree in place" case_crash_after
t_done
