#!/bin/bash
# shellcheck disable=SC2317 # case functions are called through t_case
# --delete decides a directory's purges from its entries' names (kept
# while it is open, the manifest released behind them): review
# reproducers for names that sort unusually, deep trees, dry runs.
set -u
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../lib-mount.sh"
t_setup

# assert_same_lines WANT GOT MESSAGE
assert_same_lines() {
	diff -u "$1" "$2" >&2 || t_fail "$3"
}

# tree_digest DIR: a digest of every path under DIR (less .mirrorfs) with its
# type (no recursion limit, unlike compare_trees).
tree_digest() {
	(cd "$1" && find . -path ./.mirrorfs -prune -o -printf '%y %p\n' |
		LC_ALL=C sort | md5sum)
}

# odd_tree DIR: names whose byte order and path_order differ from the
# eye's: '.', '-' and '0' around '/', prefixes, bytes >= 0x80, a
# directory's names after a subdirectory's entries, hard links, a
# symlink to a directory.
odd_tree() {
	local d=$1
	mkdir -p "$d/a/b/c" "$d/a.b" "$d/x.y" "$d/m/b" "$d/é.d" "$d/$(printf '\x80')dir"
	for f in a-c a0 ab abc abcd "a b" A x-y "$(printf '\xff')" "$(printf '\xc3\xa9')" \
		a/b.c a/b-c a/b0 a/b/c/leaf a.b/in x.y/in m/a m/b/x m/c m/zz \
		"é.d/f" "$(printf '\x80')dir/f" "$(printf '\x80')dir/$(printf '\xfe')"; do
		printf '%s\n' "$f" >"$d/$f"
	done
	ln "$d/m/a" "$d/m/hl"
	ln -s a "$d/alink"
	# 400 entries early in the walk: the window releases the entries
	# before them (a page at a time) while their directories are open.
	mkdir "$d/a/fill"
	(cd "$d/a/fill" && seq -f 'f%03g' 400 | xargs touch)
}

case_odd_names() {
	odd_tree src
	cp -a src store || t_fail "cp -a src store"
	# Extras beside, between and inside the odd names.
	for f in abcde abd a.c a-b a1 "a/b.d" "a/b/c/leaf2" m/b0 m/bb m/b/y m/0 \
		x.y/extra "$(printf '\x80')extra" "$(printf '\xfe')" "é2" "é.d/g" \
		"$(printf '\x80')dir/$(printf '\xff')"; do
		printf 'extra\n' >"store/$f"
	done
	t_ctl sync -v --delete src store
	assert_rc 0
	assert_trees_eq src store
	grep -a '^purge ' "$TC/out" | sed 's/^purge *//' | LC_ALL=C sort >got
	printf '%s\n' abcde abd a.c a-b a1 "a/b.d" "a/b/c/leaf2" m/b0 m/bb m/b/y m/0 \
		x.y/extra "$(printf '\x80')extra" "$(printf '\xfe')" "é2" "é.d/g" \
		"$(printf '\x80')dir/$(printf '\xff')" | LC_ALL=C sort >want
	assert_same_lines want got "the purges are not exactly the store's extras"
	assert_grep '^created 0, replaced 0, purged 17, ' "$TC/out"
}

# A dry run lists the same purges and deletes nothing; -i and --json -v
# name each once.
case_report_and_itemize() {
	odd_tree src
	cp -a src store || t_fail "cp -a src store"
	printf 'extra\n' >store/abd
	printf 'extra\n' >store/m/b/y
	mkdir store/m/xdir && printf 'e\n' >store/m/xdir/e
	before=$(snapshot store)
	t_ctl sync -n --delete src store
	assert_rc 0
	assert_eq "$before" "$(snapshot store)" "the store after a dry run"
	assert_grep 'purged 3, ' "$TC/out"
	t_ctl sync -n -i --delete src store
	assert_rc 0
	assert_eq 3 "$(grep -c '^\*deleting' "$TC/out")" "-n -i's *deleting lines"
	t_ctl sync --json -v --delete src store
	assert_rc 0
	assert_json purged 3 failed 0
	assert_trees_eq src store
}

# Into a mounted store (the session runs in the mount's master): the
# same purges, seen through the mount too.
case_mounted_store() {
	odd_tree src
	t_ctl sync src store
	assert_rc 0
	for f in abd "a/b.d" m/b/y "$(printf '\x80')extra"; do
		printf 'extra\n' >"store/$f"
	done
	mount_store store mnt
	t_ctl sync -v --delete src store
	assert_rc 0
	assert_grep '^created 0, replaced 0, purged 4, ' "$TC/out"
	assert_listing_eq store mnt "after --delete"
	for f in abd "a/b.d" m/b/y "$(printf '\x80')extra"; do
		assert_missing "mnt/$f"
	done
	assert_exists mnt/abc
	assert_exists mnt/m/b/x
	assert_exists "mnt/$(printf '\x80')dir/f"
	unmount_store mnt
	assert_trees_eq src store
}

# A source directory the walk cannot read (the sender runs as nobody):
# the purges decided before END_MANIFEST said so, in a window that has
# released hundreds of entries, are all dropped.
case_incomplete_walk_flat() {
	t_is_root || t_skip "needs root to switch to an unprivileged user"
	chmod 755 "$T" "$TC"
	mkdir -p src/d1 src/locked src/d2
	(cd src/d1 && seq -f 'f%03g' 600 | xargs touch)
	(cd src/d2 && seq -f 'f%03g' 600 | xargs touch)
	echo b >src/locked/b
	cp -a src store || t_fail "cp -a src store"
	for f in top-extra d1/f300x d2/f599x locked/extra; do
		echo x >"store/$f"
	done
	chown -R nobody: src store
	chmod 000 src/locked
	t_defer chmod 755 "$TC/src/locked"
	t_run setpriv --reuid=nobody --regid=nogroup --clear-groups \
		"$MIRRORCTL" -v sync --delete --json src store
	assert_rc 1
	assert_json purged 0
	assert_grep "nothing is purged this time" "$TC/err"
	for f in top-extra d1/f300x d2/f599x locked/extra locked/b; do
		assert_exists "store/$f"
	done
}

# 1,000 levels, an extra at the top, in the middle and at the bottom.
case_deep() {
	local p=src i
	for ((i = 0; i < 1000; i++)); do p=$p/d; done
	mkdir -p "$p" || t_fail "mkdir -p 1,000 levels"
	echo leaf >"$p/leaf"
	cp -a src store || t_fail "cp -a src store"
	echo x >"${p/src/store}/extra"
	p=store
	for ((i = 0; i < 500; i++)); do p=$p/d; done
	echo x >"$p/mid-extra"
	echo x >store/top-extra
	t_ctl sync --json --delete src store
	assert_rc 0
	assert_json purged 3 failed 0
	assert_eq "$(tree_digest src)" "$(tree_digest store)" "the deep tree's listing"
}

t_case "names sorting unusually: --delete purges exactly the extras" case_odd_names
t_case "-n --delete deletes nothing; -n -i and --json -v list the purges" case_report_and_itemize
t_case "--delete into a mounted store: exactly the extras, the mount agrees" case_mounted_store
t_case "an incomplete walk in a flat window purges nothing" case_incomplete_walk_flat
t_case "1,000 levels deep: the extras at the top, middle and bottom" case_deep
t_done
