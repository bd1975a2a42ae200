#!/bin/bash
# shellcheck disable=SC2317 # case functions are called through t_case
# mirrorctl sync --purge / --purge-dirs.
set -u
. "$(dirname "$0")/../lib.sh"
t_setup

# make_extra: a synced store, then extra entries only the store has: files
# and symlinks in directories the source has, and a whole extra directory.
make_extra() {
	mkdir -p src/d/e outside
	printf 'a\n' >src/a
	printf 'b\n' >src/d/b
	printf 'c\n' >src/d/e/c
	printf 'outside\n' >outside/target
	mkdir outside/dir
	printf 'o\n' >outside/dir/o
	t_ctl sync src store
	assert_rc 0
	printf 'x\n' >store/extra
	printf 'y\n' >store/d/e/extra2
	ln -s "$TC/outside/target" store/d/extralink
	ln -s "$TC/outside/dir" store/d/extradirlink
	mkdir -p store/xdir/sub
	printf 'z\n' >store/xdir/sub/z
	printf 'w\n' >store/xdir/w
	OUT_SNAP=$(snapshot outside)
}

case_no_purge() {
	make_extra
	t_ctl sync --json src store
	assert_rc 0
	assert_json purged 0
	assert_exists store/extra
	assert_exists store/d/e/extra2
	assert_exists store/d/extralink
	assert_exists store/xdir/sub/z
}

case_purge_files() {
	make_extra
	t_ctl sync -v --purge --json src store
	assert_rc 0
	assert_json purged 4 failed 0
	assert_missing store/extra
	assert_missing store/d/e/extra2
	assert_missing store/d/extralink
	assert_missing store/d/extradirlink
	# extra directories are kept, with what they hold
	assert_exists store/xdir/sub/z
	assert_exists store/xdir/w
	CMP_IGNORE=xdir assert_trees_eq src store
	# the symlinks were removed, not what they point to
	assert_eq "$OUT_SNAP" "$(snapshot outside)" "outside directory snapshot"
}

case_purge_lines() {
	make_extra
	t_ctl sync -v --purge src store
	assert_rc 0
	assert_grep '^purge   extra$' "$TC/out"
	assert_grep '^purge   d/e/extra2$' "$TC/out"
	assert_grep '^purge   d/extralink$' "$TC/out"
	assert_not_grep '^purge   xdir' "$TC/out"
	assert_grep '^created 0, replaced 0, purged 4, ' "$TC/out"
}

case_purge_dirs() {
	make_extra
	t_ctl sync -v --purge-dirs --json src store
	assert_rc 0
	# 4 files/links, plus xdir counted once (5) or each of xdir, xdir/sub,
	# xdir/sub/z, xdir/w counted (8): the contract allows either reading
	assert_json failed 0 skipped 0
	case $(jf purged) in
	5 | 8) ;;
	*) t_show; t_fail "purged is $(jf purged), expected 5 or 8" ;;
	esac
	assert_missing store/xdir
	assert_missing store/extra
	assert_trees_eq src store
	assert_eq "$OUT_SNAP" "$(snapshot outside)" "outside directory snapshot"
}

case_purge_dirs_lines() {
	make_extra
	t_ctl sync -v --purge-dirs src store
	assert_rc 0
	assert_grep '^purge   xdir/$' "$TC/out"
	assert_grep '^purge   extra$' "$TC/out"
}

case_purge_excluded_kept() {
	mkdir -p src/d
	printf 'a\n' >src/a
	printf 'b\n' >src/d/b
	t_ctl sync src store
	assert_rc 0
	printf 'k\n' >store/keep.tmp
	printf 'k\n' >store/d/keep.tmp
	mkdir -p store/cache/x
	printf 'c\n' >store/cache/x/c
	printf 'gone\n' >store/d/gone
	t_ctl sync --json --purge-dirs --exclude '*.tmp' --exclude cache src store
	assert_rc 0
	assert_json purged 1
	assert_exists store/keep.tmp
	assert_exists store/d/keep.tmp
	assert_exists store/cache/x/c
	assert_missing store/d/gone
	t_ctl sync --json --purge --exclude '*.tmp' src store
	assert_rc 0
	assert_json purged 0
	assert_exists store/keep.tmp
}

# A directory the store has and the source not, or one the source made a
# file, goes whole: not when it holds what the filter excludes (as rsync,
# which cannot delete it either): it is skipped, saying what it holds.
case_excluded_inside_a_removed_directory() {
	mkdir -p src store/xdir store/d/cache
	printf 'a\n' >src/a
	printf 'file\n' >src/d
	printf 'precious\n' >store/xdir/keep.tmp
	printf 'x\n' >store/xdir/other
	printf 'precious\n' >store/d/keep.tmp
	printf 'c\n' >store/d/cache/c
	t_ctl sync -v --json --purge-dirs --exclude '*.tmp' --exclude cache src store
	assert_rc 1 "a directory was skipped"
	printf 'precious\n' >precious
	assert_file_eq store/xdir/keep.tmp precious
	assert_exists store/xdir/other
	assert_file_eq store/d/keep.tmp precious
	assert_exists store/d/cache/c
	assert_json purged 0
	assert_json skipped 2
	t_ctl sync -v --purge-dirs --exclude '*.tmp' --exclude cache src store
	assert_grep "^skip +xdir/: it holds xdir/keep.tmp, which the filter excludes: not purged" "$TC/out"
	assert_grep "^skip +d: type conflict: the store's directory holds d/(keep.tmp|cache), which the filter excludes: not replaced" "$TC/out"
	# Without the excluded entries in them, both go.
	rm store/xdir/keep.tmp
	rm -r store/d/keep.tmp store/d/cache
	t_ctl sync --purge-dirs --exclude '*.tmp' --exclude cache src store
	assert_rc 0
	assert_trees_eq src store
}

# An extra directory 2,040 levels deep (d/d/...: 4,082 bytes, within
# PATH_MAX), with filter rules: walked for excluded entries without a
# path on the stack per level (which overflowed 8 MB here), then purged.
case_deep_extra_directory_with_filters() {
	mkdir src && printf 'a\n' >src/a
	python3 - <<'PY'
import os
os.makedirs("store")
fd = os.open("store", os.O_RDONLY)
os.mkdir("d", dir_fd=fd)
for _ in range(2040):
    nfd = os.open("d", os.O_RDONLY, dir_fd=fd)
    os.close(fd)
    fd = nfd
    os.mkdir("d", dir_fd=fd)
os.close(fd)
PY
	( ulimit -n 8192 && ulimit -s 8192 &&
		"$MIRRORCTL" sync --purge-dirs --exclude '*.tmp' src store ) >out 2>err ||
		t_fail "exit $?: $(cat err)"
	assert_missing store/d
	assert_trees_eq src store
}

case_purge_after_source_removal() {
	generate_tree src 30 1
	t_ctl sync src store
	assert_rc 0
	rm -r src/a src/d2/file5 "src/empty dir"
	t_ctl sync --purge-dirs src store
	assert_rc 0
	assert_trees_eq src store
	# a second purge finds nothing more
	t_ctl sync --purge-dirs --json src store
	assert_rc 0
	assert_json purged 0 created 0 replaced 0
}

case_purge_hardlink_name() {
	mkdir src
	printf 'h\n' >src/h1
	ln src/h1 src/h2
	t_ctl sync src store
	assert_rc 0
	rm src/h2
	t_ctl sync --purge --json src store
	assert_rc 0
	assert_json purged 1
	assert_missing store/h2
	assert_eq h "$(cat store/h1)" "remaining link's content"
	assert_trees_eq src store
}

case_unreadable_source_purges_nothing() {
	t_is_root || t_skip "needs root to switch to an unprivileged user"
	# The source is read as nobody, for whom one directory is unreadable.
	chmod 755 "$T" "$TC"
	mkdir -p src/ok src/locked store
	echo a >src/ok/a
	echo b >src/locked/b
	chown -R nobody: src store
	as_nobody() { t_run setpriv --reuid=nobody --regid=nogroup --clear-groups "$MIRRORCTL" "$@"; }
	as_nobody sync src store
	assert_rc 0
	setpriv --reuid=nobody --regid=nogroup --clear-groups sh -c 'echo x >store/extra'
	chmod 000 src/locked
	t_defer chmod 755 "$TC/src/locked"
	as_nobody sync --purge --json src store
	assert_rc 1
	assert_json purged 0
	assert_grep "nothing is purged this time" "$TC/err"
	assert_exists store/extra
	assert_exists store/locked/b
	# The store's copy of the directory is mode 000 too now: only root
	# (as most deployments run) can look inside it.
	chmod 755 src/locked
	t_ctl sync --purge --json src store
	assert_rc 0
	assert_json purged 1
	assert_trees_eq src store
}

t_case "without --purge nothing is deleted" case_no_purge
t_case "--purge deletes extra files and symlinks, keeps extra dirs" case_purge_files
t_case "--purge -v lists purge lines" case_purge_lines
t_case "--purge-dirs also deletes extra directories recursively" case_purge_dirs
t_case "--purge-dirs -v lists the extra directory" case_purge_dirs_lines
t_case "excluded paths are never purged" case_purge_excluded_kept
t_case "a removed directory that holds excluded entries is kept, and said why" case_excluded_inside_a_removed_directory
t_case "an extra directory 2,040 levels deep is purged with filter rules" case_deep_extra_directory_with_filters
t_case "entries removed from SOURCE are purged, then nothing more" case_purge_after_source_removal
t_case "purging one name of a hard-link pair keeps the other" case_purge_hardlink_name
t_case "a source not read whole purges nothing, the next whole read does" case_unreadable_source_purges_nothing
t_done
