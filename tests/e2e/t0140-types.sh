#!/bin/bash
# shellcheck disable=SC2317 # case functions are called through t_case
# mirrorctl sync: entry types (symlinks, hard links, empty dirs, odd names,
# modes, special files) and type conflicts.
set -u
. "$(dirname "$0")/../lib.sh"
t_setup

case_symlinks() {
	mkdir -p src/d outside
	printf 'secret\n' >outside/file
	printf 't\n' >src/d/t
	ln -s t src/d/rel
	ln -s "$TC/outside/file" src/abs
	ln -s "$TC/outside" src/absdir
	ln -s ../nowhere src/d/dangling
	ln -s d src/dirlink
	ln -s loop src/loop
	t_ctl sync src store
	assert_rc 0
	local l
	for l in d/rel abs absdir d/dangling dirlink loop; do
		[ -L "store/$l" ] || t_fail "store/$l is not a symlink"
		assert_eq "$(readlink "src/$l")" "$(readlink "store/$l")" "target of $l"
	done
	# links are never followed: outside/ was not copied into the store
	assert_eq 0 "$(find store -name file | wc -l)" "copies of outside/file in store"
	assert_trees_eq src store
	# changing a link's target replaces the link
	rm src/d/rel
	ln -s ../abs src/d/rel
	t_ctl sync --json src store
	assert_rc 0
	assert_json replaced 1
	assert_eq ../abs "$(readlink store/d/rel)" "new target"
	assert_eq secret "$(cat outside/file)" "outside file"
}

case_hardlinks() {
	mkdir -p src/a src/b
	printf 'pair\n' >src/a/p1
	ln src/a/p1 src/b/p2
	printf 'triple\n' >src/a/t1
	ln src/a/t1 src/a/t2
	ln src/a/t1 src/b/t3
	printf 'single\n' >src/a/s
	t_ctl sync --json src store
	assert_rc 0
	assert_json created 8
	assert_eq "$(stat -c %i store/a/p1)" "$(stat -c %i store/b/p2)" "pair inode"
	assert_eq "$(stat -c %i store/a/t1)" "$(stat -c %i store/b/t3)" "triple inode"
	assert_eq 3 "$(stat -c %h store/a/t2)" "triple link count"
	assert_eq 1 "$(stat -c %h store/a/s)" "single link count"
	assert_trees_eq src store
	# re-sync is a no-op, hard links count as unchanged entries
	t_ctl sync --json src store
	assert_rc 0
	assert_json created 0 replaced 0 unchanged 8
	# a new link to an existing file
	ln src/a/s src/b/s2
	t_ctl sync --json src store
	assert_rc 0
	assert_json created 1 failed 0
	assert_trees_eq src store
	# new content behind all names of a group: every name sees it
	printf 'new pair content\n' >src/a/p1
	t_ctl sync src store
	assert_rc 0
	assert_eq 'new pair content' "$(cat store/b/p2)" "other name of the pair"
	assert_trees_eq src store
}

case_empty_things() {
	mkdir -p "src/empty" "src/n1/n2/n3" src/d
	: >src/d/zero
	t_ctl sync --json src store
	assert_rc 0
	assert_json created 6
	[ -d store/empty ] || t_fail "empty dir missing"
	[ -d store/n1/n2/n3 ] || t_fail "nested empty dirs missing"
	if [ ! -f store/d/zero ] || [ -s store/d/zero ]; then
		t_fail "empty file missing or not empty"
	fi
	assert_trees_eq src store
}

case_odd_names() {
	mkdir -p "src/dir with spaces" "src/$(printf 'caf\xc3\xa9')"
	local n
	for n in "dir with spaces/file with spaces" "-leading-dash" "star*" "q?uestion" \
		"back\\slash" "semi;colon" "$(printf 'caf\xc3\xa9')/na\$me" "  lead" "trail  " \
		"percent%d" "bytes-$(printf '\xff\xfe')"; do
		printf '%s\n' "$n" >"src/$n"
	done
	t_ctl sync --json src store
	assert_rc 0
	assert_json created 13 failed 0 skipped 0
	assert_trees_eq src store
}

case_modes() {
	mkdir -p src/ro src/priv
	printf 'a\n' >src/ro/f
	printf 'b\n' >src/priv/g
	printf 'c\n' >src/x
	printf 'd\n' >src/y
	chmod 0444 src/ro/f
	chmod 0555 src/ro
	chmod 0700 src/priv
	chmod 0751 src/x
	chmod 0600 src/y
	t_ctl sync src store
	assert_rc 0
	assert_trees_eq src store
	assert_eq 555 "$(stat -c %a store/ro)" "mode of read-only dir"
	# a change below a read-only directory still arrives
	chmod 0755 src/ro
	printf 'changed\n' >src/ro/f2
	chmod 0555 src/ro
	chmod 0640 src/x
	t_ctl sync --json src store
	assert_rc 0
	assert_json created 1 replaced 1 failed 0
	assert_trees_eq src store
}

case_special_files() {
	mkdir src
	printf 'a\n' >src/a
	mkfifo src/fifo
	printf 'z\n' >src/z
	# a FIFO must never make the sync hang; the other files still arrive
	T_CMD_TIMEOUT=30 t_ctl sync src store
	[ "$RC" -eq 0 ] || [ "$RC" -eq 1 ] || { t_show; t_fail "exit status $RC with a FIFO in SOURCE"; }
	assert_file_eq src/a store/a
	assert_file_eq src/z store/z
	if [ -e store/fifo ] && [ ! -p store/fifo ]; then
		t_fail "the FIFO arrived as something other than a FIFO"
	fi
}

# type conflicts: without purge never resolved, nothing destroyed, exit 1,
# the reason naming --purge; with purge the new entry replaces the old one
case_conflict_file_vs_dir() {
	mkdir -p src/x
	printf 'in dir\n' >src/x/inner
	printf 'ok\n' >src/ok
	t_ctl sync src store
	assert_rc 0
	rm -r src/x
	printf 'now a file\n' >src/x
	printf 'new\n' >src/new
	t_ctl sync --json src store
	assert_rc 1
	assert_json skipped 1 created 1 failed 0
	json_entries "$TC/out" skip >entries
	assert_grep '^x/?	.+--purge replaces it' entries
	[ -d store/x ] || t_fail "store/x is no longer a directory"
	assert_eq 'in dir' "$(cat store/x/inner)" "content under store/x"
	assert_exists store/new
	t_ctl sync src store
	assert_rc 1
	assert_grep '^skip    x/?: .+' "$TC/out"
	assert_grep '^created 0, replaced 0, purged 0, unchanged [0-9]+, skipped 1, failed 0, ' "$TC/out"
	# With purge the store is the source's mirror: the tree is replaced.
	t_ctl sync --json --purge-dirs src store
	assert_rc 0
	assert_json replaced 1 skipped 0 failed 0
	[ -f store/x ] || t_fail "store/x is not a file after --purge-dirs"
	assert_eq 'now a file' "$(cat store/x)" "store/x content"
	assert_trees_eq src store
	assert_no_litter store
}

case_conflict_dir_vs_file() {
	mkdir src
	printf 'file\n' >src/y
	t_ctl sync src store
	assert_rc 0
	rm src/y
	mkdir src/y
	printf 'i\n' >src/y/i
	t_ctl sync --json src store
	assert_rc 1
	[ "$(jf skipped)" -ge 1 ] || t_fail "skipped is $(jf skipped)"
	[ -f store/y ] || t_fail "store/y is no longer a regular file"
	assert_eq file "$(cat store/y)" "store/y content"
	assert_grep '"path": *"y/?"' "$TC/out"
	t_ctl sync --json --purge src store
	assert_rc 0
	assert_json replaced 1 created 1
	assert_eq i "$(cat store/y/i)" "store/y/i content"
	assert_trees_eq src store
}

case_conflict_symlink_vs_file() {
	mkdir src
	printf 'regular\n' >src/s
	printf 'r2\n' >src/t
	t_ctl sync src store
	assert_rc 0
	# source: s becomes a symlink, t stays a file but store's t is a symlink
	rm src/s
	ln -s t src/s
	rm store/t
	printf 'elsewhere\n' >elsewhere
	ln -s "$TC/elsewhere" store/t
	t_ctl sync --json src store
	assert_rc 1
	assert_json skipped 2 failed 0
	if [ ! -f store/s ] || [ -L store/s ]; then
		t_fail "store/s is no longer a regular file"
	fi
	assert_eq regular "$(cat store/s)" "store/s content"
	[ -L store/t ] || t_fail "store/t is no longer a symlink"
	assert_eq elsewhere "$(cat elsewhere)" "target of store/t"
	t_ctl sync src store
	assert_rc 1
	assert_grep '^skip    s: .+' "$TC/out"
	assert_grep '^skip    t: .+' "$TC/out"
}

case_mirrorfs_name_refused() {
	mkdir -p src/.mirrorfs
	printf 'evil\n' >src/.mirrorfs/journal
	printf 'evil\n' >src/.mirrorfs/planted
	printf 'ok\n' >src/ok
	t_ctl sync src store
	[ "$RC" -ne 0 ] || { t_show; t_fail "a SOURCE entry named .mirrorfs was accepted"; }
	assert_missing store/.mirrorfs/planted
	assert_missing store/.mirrorfs/journal
}

t_case "symlinks are copied as links, never followed" case_symlinks
t_case "hard links stay hard links" case_hardlinks
t_case "empty files and empty directories" case_empty_things
t_case "odd file names" case_odd_names
t_case "modes, including read-only directories" case_modes
t_case "a FIFO in SOURCE does not hang the sync" case_special_files
t_case "conflict: file in SOURCE, directory in STORE" case_conflict_file_vs_dir
t_case "conflict: directory in SOURCE, file in STORE" case_conflict_dir_vs_file
t_case "conflict: symlink vs regular file, both ways" case_conflict_symlink_vs_file
t_case "a SOURCE entry named .mirrorfs is refused" case_mirrorfs_name_refused
t_done
