#!/bin/bash
# The mount: reads, hidden metadata, read-only default, rw, cache invalidation.
set -u
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../lib-mount.sh"
t_setup

case_reads_match_source() {
	generate_tree src 60 2
	t_ctl sync src store
	assert_rc 0
	mount_store store mnt
	assert_trees_eq src mnt
	ls -a mnt >ls.out
	assert_not_grep '^\.mirrorfs$' ls.out
	if stat mnt/.mirrorfs >/dev/null 2>&1; then
		t_fail ".mirrorfs is visible through the mount"
	fi
	# Inode numbers are the store's, so a new version is a new inode.
	local f
	f=$(cd store && find . -path ./.mirrorfs -prune -o -type f -print | head -1)
	assert_eq "$(stat -c %i "store/$f")" "$(stat -c %i "mnt/$f")" "inode number of $f"
	unmount_store mnt
	wait_for store_free store || t_fail "the store lock is still held after unmount"
	assert_missing store/.mirrorfs/control.sock
}

case_read_only_by_default() {
	mkdir src && echo one >src/f
	t_ctl sync src store
	mount_store store mnt
	if (echo x >mnt/f) 2>err.out; then t_fail "wrote through a read-only mount"; fi
	assert_grep 'Read-only file system' err.out
	if touch mnt/new 2>/dev/null; then t_fail "created a file through a read-only mount"; fi
	assert_eq one "$(cat store/f)"
}

case_rw_allows_writes() {
	mkdir src && echo one >src/f
	t_ctl sync src store
	mount_store store mnt -o rw
	echo two >mnt/f
	echo new >mnt/g
	mkdir mnt/d && ln -s g mnt/d/link && mv mnt/g mnt/d/g2
	assert_eq two "$(cat store/f)"
	assert_eq new "$(cat store/d/g2)"
	assert_eq g "$(readlink store/d/link)"
	if touch mnt/.mirrorfs 2>/dev/null; then t_fail "created .mirrorfs through the mount"; fi
	rm mnt/f
	assert_missing store/f
}

case_sync_while_mounted_is_seen_at_once() {
	mkdir src && echo one >src/f && echo keep >src/k
	t_ctl sync src store
	mount_store store mnt
	assert_eq one "$(cat mnt/f)"
	stat mnt/absent >/dev/null 2>&1 || true	# a cached negative entry
	echo "two, longer" >src/f
	echo here >src/absent
	t_ctl sync -v src store
	assert_rc 0
	# The mount holds the store lock, so this commit went through it; the
	# kernel caches (a day long) were invalidated exactly.
	assert_eq "two, longer" "$(cat mnt/f)"
	assert_eq 12 "$(stat -c %s mnt/f)"
	assert_eq here "$(cat mnt/absent)"
	assert_eq "$(stat -c %i store/f)" "$(stat -c %i mnt/f)" "inode of the new version"
}

case_direct_store_access_refused_while_mounted() {
	mkdir src && echo one >src/f
	t_ctl sync src store
	mount_store store mnt
	store_free store && t_fail "the mount does not hold the store lock"
	# Recovery is the mount's job (done when it started).
	t_ctl recover store
	assert_rc 0
	assert_grep 'served by a mount' "$TC/out"
	t_ctl clear-sync store
	assert_ne 0 "$RC" "clear-sync while mounted"
}

case_more_files_than_descriptors() {
	mkdir -p src
	python3 -c '
import os
for d in range(4):
    os.makedirs("src/d%d" % d)
    for i in range(500):
        open("src/d%d/f%03d" % (d, i), "w").write(str(i))'
	t_ctl sync src store
	mkdir mnt
	# At most 256 descriptors: the mount holds none per file it lists.
	(ulimit -n 256 && exec "$MIRRORFS" -f store mnt) 2>>mirrorfs.log &
	MOUNT_PID=$!
	t_defer kill "$MOUNT_PID"
	t_defer fusermount3 -u -z "$TC/mnt"
	wait_for mounted mnt || t_fail "not mounted"
	assert_eq 2000 "$(find mnt -type f -printf '%s\n' | wc -l)" "files stat'ed through the mount"
	assert_eq 499 "$(cat mnt/d3/f499)"
	local nfd
	nfd=$(find "/proc/$MOUNT_PID/fd" -mindepth 1 | wc -l)
	[ "$nfd" -lt 200 ] || t_fail "the mount holds $nfd descriptors"
}

t_case "reads through the mount equal the source; .mirrorfs hidden; clean unmount" case_reads_match_source
t_case "a mount knows more files than it may hold descriptors" case_more_files_than_descriptors
t_case "read-only by default" case_read_only_by_default
t_case "-o rw allows writes through the mount" case_rw_allows_writes
t_case "a sync into a mounted store is visible at once" case_sync_while_mounted_is_seen_at_once
t_case "the store is locked by its mount" case_direct_store_access_refused_while_mounted
t_done
