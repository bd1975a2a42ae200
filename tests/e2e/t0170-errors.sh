#!/bin/bash
# shellcheck disable=SC2317 # case functions are called through t_case
# mirrorctl sync: usage and configuration errors (exit 2), an unusable
# store (exit 3), a full disk (exit 1, nothing torn, converges later).
set -u
. "$(dirname "$0")/../lib.sh"
t_setup

case_missing_source() {
	t_ctl sync /nonexistent store
	assert_rc 2
	assert_grep '/nonexistent' "$TC/err"
	assert_missing store
	t_ctl sync "$TC/no/such/dir" store
	assert_rc 2
	assert_grep "$TC/no/such/dir" "$TC/err"
}

case_source_not_dir() {
	printf 'x\n' >afile
	t_ctl sync afile store
	assert_rc 2
	assert_grep 'afile' "$TC/err"
	assert_missing store
}

case_bad_option() {
	mkdir src
	t_ctl sync --no-such-option src store
	assert_rc 2
	[ -s "$TC/err" ] || t_fail "no message on stderr for a bad option"
	assert_missing store
	t_ctl sync -Z src store
	assert_rc 2
	t_ctl sync
	assert_rc 2
	t_ctl sync src
	assert_rc 2
	t_ctl sync src store ssh://
	assert_rc 2
	assert_grep 'ssh://\[USER@\]HOST\[:PORT\]/PATH' "$TC/err"
	t_ctl sync src store mirror://host/a/b
	assert_rc 2
	assert_grep "a store name has no '/'" "$TC/err"
	t_ctl sync src mirror://host:99999/app
	assert_rc 2
	assert_grep "bad port '99999'" "$TC/err"
	assert_missing store
	t_ctl no-such-command
	assert_rc 2
}

case_exclude_from_missing() {
	mkdir src
	printf 'a\n' >src/a
	t_ctl sync --exclude-from /missing src store
	assert_rc 2
	assert_grep '/missing' "$TC/err"
	assert_missing store
	# a directory is not a readable list of globs either
	mkdir rulesdir
	t_ctl sync --exclude-from rulesdir src store
	assert_rc 2
	assert_grep 'rulesdir' "$TC/err"
	assert_missing store
}

case_store_parent_missing() {
	mkdir src
	printf 'a\n' >src/a
	t_ctl sync src "$TC/no/parent/store"
	if [ "$RC" -ne 2 ] && [ "$RC" -ne 3 ]; then
		t_show
		t_fail "expected exit 2 or 3 for a missing STORE parent, got $RC"
	fi
	assert_grep "$TC/no/parent" "$TC/err"
	assert_missing "$TC/no"
}

case_store_is_file() {
	mkdir src
	printf 'a\n' >src/a
	printf 'precious\n' >store
	t_ctl sync src store
	if [ "$RC" -ne 2 ] && [ "$RC" -ne 3 ]; then
		t_show
		t_fail "expected exit 2 or 3 when STORE is a regular file, got $RC"
	fi
	assert_eq precious "$(cat store)" "content of the file given as STORE"
}

case_store_readonly() {
	t_is_root || t_skip "not root"
	mkdir src store
	printf 'a\n' >src/a
	mount -t tmpfs -o size=4m tmpfs store
	t_defer umount -l "$TC/store"
	t_ctl sync src store
	assert_rc 0
	printf 'b\n' >src/a
	printf 'new\n' >src/new
	mount -o remount,ro store
	t_ctl sync src store
	assert_rc 3 "exit status of a sync into a read-only store"
	[ -s "$TC/err" ] || t_fail "no message on stderr"
	assert_eq a "$(cat store/a)" "store/a"
	assert_missing store/new
	mount -o remount,rw store
	t_ctl sync src store
	assert_rc 0
	assert_trees_eq src store
}

case_disk_full() {
	t_is_root || t_skip "not root"
	mkdir -p src/small store
	mount -t tmpfs -o size=2m tmpfs store
	t_defer umount -l "$TC/store"
	# old versions, small enough
	head -c 100000 /dev/urandom >src/big1
	head -c 50000 /dev/urandom >src/big2
	local i
	for i in 1 2 3 4 5; do
		head -c 2000 /dev/urandom >"src/small/s$i"
	done
	t_ctl sync src store
	assert_rc 0
	cp -a src old
	# new versions: 4 MiB of data, cannot fit in 2 MiB
	head -c $((2 * 1024 * 1024)) /dev/urandom >src/big1
	head -c $((2 * 1024 * 1024)) /dev/urandom >src/big2
	head -c 3000 /dev/urandom >src/small/s1
	head -c 1000 /dev/urandom >src/new1
	t_ctl sync --json src store
	assert_rc 1 "exit status when the store's disk is full"
	[ "$(jf failed)" -ge 1 ] || t_fail "failed is $(jf failed)"
	json_entries "$TC/out" fail >failed
	assert_grep 'No space left on device' failed
	# the big files' old versions are intact
	assert_file_eq old/big1 store/big1
	assert_file_eq old/big2 store/big2
	# everything else is its old or its new version, never torn
	local f
	for f in small/s1 small/s2 small/s3 small/s4 small/s5; do
		cmp -s "store/$f" "src/$f" || cmp -s "store/$f" "old/$f" ||
			t_fail "store/$f is neither its old nor its new version"
	done
	if [ -e store/new1 ]; then
		assert_file_eq src/new1 store/new1
	fi
	assert_no_litter store
	# the plain output names the failures too
	t_ctl sync src store
	assert_rc 1
	assert_grep '^fail    big[12]: .*No space left on device' "$TC/out"
	assert_no_litter store
	# leaving the big files out, the rest converges
	t_ctl sync --json --exclude 'big*' src store
	assert_rc 0
	assert_json failed 0
	CMP_IGNORE="big1 big2" assert_trees_eq src store
	assert_file_eq old/big1 store/big1
	# with room, everything converges
	mount -o remount,size=16m store
	t_ctl sync src store
	assert_rc 0
	assert_trees_eq src store
	assert_no_litter store
}

t_case "a missing SOURCE exits 2 naming it" case_missing_source
t_case "a SOURCE that is not a directory exits 2" case_source_not_dir
t_case "bad options and arguments exit 2" case_bad_option
t_case "--exclude-from of a missing file exits 2 naming it" case_exclude_from_missing
t_case "a STORE whose parent is missing is refused, not created" case_store_parent_missing
t_case "a STORE that is a regular file is refused and kept" case_store_is_file
t_case "a read-only store: exit 3, nothing changed" case_store_readonly
t_case "disk full: exit 1, old versions intact, no litter, converges" case_disk_full
t_done
