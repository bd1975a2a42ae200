#!/bin/bash
# shellcheck disable=SC2317 # case functions are called through t_case
# mirrorctl sync: store operations stay beneath STORE and never follow a
# symlink already in STORE.
set -u
. "$(dirname "$0")/../lib.sh"
t_setup

# make_out: a directory outside the store, and its snapshot in $OUT_SNAP.
make_out() {
	mkdir -p outside/sub
	printf 'precious\n' >outside/precious
	printf 'p2\n' >outside/sub/p2
	touch -d @1500000000 outside/precious outside/sub/p2 outside/sub outside
	OUT_SNAP=$(snapshot outside)
}

assert_out_untouched() {
	assert_eq "$OUT_SNAP" "$(snapshot outside)" "snapshot of the outside directory"
}

case_dir_symlink_in_store() {
	make_out
	mkdir -p src/sub/deeper
	printf 'f\n' >src/sub/f
	printf 'g\n' >src/sub/deeper/g
	printf 'precious overwritten\n' >src/sub/precious
	printf 'ok\n' >src/ok
	mkdir store
	ln -s "$TC/outside" store/sub
	t_ctl sync --json src store
	assert_rc 1
	assert_out_untouched
	[ -L store/sub ] || t_fail "store/sub is no longer a symlink"
	assert_eq "$TC/outside" "$(readlink store/sub)" "store/sub target"
	assert_exists store/ok
	json_entries "$TC/out" skip >entries
	assert_grep '^sub/?	' entries
	assert_json failed 0
	# the report of a purge, then the purge: the link itself is replaced
	# by the source's directory, never followed
	t_ctl sync --report --purge-dirs src store
	assert_rc 0
	assert_grep '^replace sub/' "$TC/out"
	assert_out_untouched
	t_ctl sync --purge-dirs src store
	assert_rc 0
	assert_out_untouched
	if [ ! -d store/sub ] || [ -L store/sub ]; then
		t_fail "store/sub is not a directory"
	fi
	assert_trees_eq src store
}

case_file_symlink_in_store() {
	make_out
	mkdir src
	printf 'would overwrite\n' >src/precious
	mkdir store
	ln -s "$TC/outside/precious" store/precious
	t_ctl sync src store
	assert_rc 1
	assert_grep '^skip    precious: ' "$TC/out"
	assert_out_untouched
	[ -L store/precious ] || t_fail "store/precious is no longer a symlink"
	# --checksum must not read through it either, nor change it
	t_ctl sync -c src store
	assert_rc 1
	assert_out_untouched
}

case_deep_symlink_in_store() {
	make_out
	mkdir -p src/a/b/c
	printf 'deep\n' >src/a/b/c/d.txt
	printf 'x\n' >src/a/x
	mkdir -p store/a
	ln -s "$TC/outside" store/a/b
	t_ctl sync --json src store
	assert_rc 1
	assert_out_untouched
	assert_missing outside/c
	assert_exists store/a/x
	[ "$(jf skipped)" -ge 1 ] || t_fail "nothing reported skipped"
}

case_relative_escape_in_store() {
	make_out
	mkdir -p src/up
	printf 'u\n' >src/up/precious
	mkdir -p store
	# a relative link climbing out of the store
	ln -s ../outside store/up
	t_ctl sync src store
	assert_rc 1
	assert_out_untouched
	[ -L store/up ] || t_fail "store/up is no longer a symlink"
}

case_purge_does_not_follow() {
	make_out
	mkdir -p src/keep
	printf 'k\n' >src/keep/k
	mkdir store
	ln -s "$TC/outside" store/extradir
	ln -s "$TC/outside/sub" store/keepsub
	mkdir -p store/keep
	ln -s "$TC/outside" store/keep/extra
	t_ctl sync --purge-dirs --json src store
	assert_rc 0
	assert_out_untouched
	assert_missing store/extradir
	assert_missing store/keep/extra
	assert_missing store/keepsub
	assert_trees_eq src store
}

case_replace_link_target() {
	make_out
	mkdir src
	ln -s inside src/l
	printf 'i\n' >src/inside
	mkdir store
	ln -s "$TC/outside/precious" store/l
	# symlink vs symlink: same type, new target; the old link is replaced,
	# never written through
	t_ctl sync --json src store
	assert_rc 0
	assert_json replaced 1 created 1
	assert_eq inside "$(readlink store/l)" "store/l target"
	assert_out_untouched
}

case_store_metadata_symlink() {
	make_out
	mkdir src
	printf 'a\n' >src/a
	# a store whose .mirrorfs/staging is a symlink to the outside
	mkdir -p store/.mirrorfs
	ln -s "$TC/outside" store/.mirrorfs/staging
	t_ctl sync src store
	assert_out_untouched
	if [ "$RC" -eq 0 ]; then
		assert_file_eq src/a store/a
	else
		assert_eq 3 "$RC" "exit status for an unusable store"
	fi
}

t_case "STORE/sub is a symlink to OUT, SOURCE has sub/: OUT untouched" case_dir_symlink_in_store
t_case "STORE/file is a symlink to OUT/file: type conflict, OUT untouched" case_file_symlink_in_store
t_case "a symlink deep in STORE's path is never followed" case_deep_symlink_in_store
t_case "a relative ../ symlink in STORE is never followed" case_relative_escape_in_store
t_case "purge removes symlinks, never follows them" case_purge_does_not_follow
t_case "a symlink with another target is replaced, not written through" case_replace_link_target
t_case "a symlink inside STORE/.mirrorfs is not followed" case_store_metadata_symlink
t_done
