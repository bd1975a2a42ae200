#!/bin/bash
# The mount's index: metadata served with no system call into the store,
# the index saved at a clean stop and built again when missing, stale,
# corrupt or after a crash, and every change (a commit, an rw operation, a
# slave's view) in the listing at once.
set -u
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../lib-mount.sh"
t_setup

need_root() {
	t_is_root || t_skip "needs root (drop_caches, strace of the mount)"
}

drop_caches() {
	sync
	echo 3 >/proc/sys/vm/drop_caches
}

# store_calls TRACE: the system calls in an strace output that could
# reach the store's files (by path, descriptor or handle). libfuse reads
# /proc/sys/fs/pipe-max-size when a new worker thread sizes its splice
# pipe: that one is not the store.
store_calls() {
	grep -E '(^|[ ])(openat|openat2|open_by_handle_at|name_to_handle_at|newfstatat|fstatat64|statx|fstat|lstat|stat|getdents64|readlinkat|readlink|lgetxattr|getxattr|fgetxattr|llistxattr|listxattr|flistxattr)\(' "$1" |
		grep -v '"/proc/sys/fs/pipe-max-size"' || true
}

# change_files DIR N: appends to the first N files below DIR (a sync then
# replaces each).
change_files() {
	find "$1" -type f | LC_ALL=C sort | sed -n "1,${2}p" | while IFS= read -r f; do
		printf 'changed' >>"$f"
	done
}

# trace_mount PID OUT: strace every thread of the mount into OUT, in the
# background of this case (stopped when it ends); waits until attached.
trace_mount() {
	strace -f -qq -p "$1" -o "$2" \
		-e trace=openat,openat2,open_by_handle_at,name_to_handle_at,newfstatat,statx,fstat,lstat,stat,getdents64,readlinkat,readlink,lgetxattr,getxattr,fgetxattr,llistxattr,listxattr,flistxattr,read \
		2>>"$TC/strace.err" &
	TRACE_PID=$!
	t_defer kill "$TRACE_PID"
	# Attached once the FUSE loop's read of /dev/fuse shows in the trace.
	wait_for grep -q 'read(' "$2" || {
		stat mnt >/dev/null
		wait_for grep -q 'read(' "$2" || t_fail "strace did not attach to $1: $(cat "$TC/strace.err")"
	}
}

untrace() {
	kill "$TRACE_PID" 2>/dev/null || true
	wait "$TRACE_PID" 2>/dev/null || true
}

case_metadata_without_store_calls() {
	need_root
	command -v strace >/dev/null || t_skip "needs strace"
	generate_tree src 400 1
	ln -s a/b/c src/top-link
	t_ctl sync src store
	assert_rc 0
	setfattr -n user.release -v 42 store/a/b 2>/dev/null || true
	mount_store store mnt
	trace_mount "$MOUNT_PID" trace.txt
	drop_caches
	ls -lR mnt >ls.out
	find mnt -printf '%p %s %T@ %m %l\n' >find.out
	getfattr -R -d -m - mnt >xattr.out 2>&1 || true
	readlink mnt/top-link >link.out
	untrace
	if [ ! -s ls.out ] || [ ! -s find.out ]; then
		t_fail "the listings through the mount are empty"
	fi
	assert_eq "a/b/c" "$(cat link.out)" "readlink through the mount"
	if getfattr -n user.release --only-values store/a/b >/dev/null 2>&1; then
		assert_eq 42 "$(getfattr -n user.release --only-values mnt/a/b)" "an xattr read through the mount"
	fi
	local calls
	calls=$(store_calls trace.txt)
	[ -z "$calls" ] || t_fail "the mount made system calls for metadata: $(echo "$calls" | head -n 5)"
	# And the answers were the store's.
	assert_listing_eq store mnt "cold listing"
}

case_saved_and_rebuilt() {
	need_root
	generate_tree src 200 1
	t_ctl sync src store
	assert_rc 0
	mount_store store mnt
	assert_grep 'indexing the tree' mirrorfs.log
	assert_listing_eq store mnt "first mount (index built)"
	unmount_store mnt
	assert_exists store/.mirrorfs/index
	: >"$TC/mirrorfs.log"
	mount_store store mnt
	assert_grep 'index loaded' mirrorfs.log
	# Consumed: while the mount lives, only its memory follows the store.
	assert_missing store/.mirrorfs/index
	assert_listing_eq store mnt "second mount (index loaded)"
	unmount_store mnt
	# A corrupt index is not used.
	printf 'garbage' | dd of=store/.mirrorfs/index bs=1 seek=100 conv=notrunc status=none
	: >"$TC/mirrorfs.log"
	mount_store store mnt
	assert_grep 'index: not used' mirrorfs.log
	assert_grep 'indexed' mirrorfs.log
	assert_listing_eq store mnt "after a corrupt index"
	unmount_store mnt
	# Deleted: built again.
	rm store/.mirrorfs/index
	: >"$TC/mirrorfs.log"
	mount_store store mnt
	assert_grep 'no saved index' mirrorfs.log
	assert_listing_eq store mnt "after the index was deleted"
	unmount_store mnt
}

case_sync_without_mount_drops_index() {
	need_root
	generate_tree src 100 1
	t_ctl sync src store
	assert_rc 0
	mount_store store mnt
	unmount_store mnt
	assert_exists store/.mirrorfs/index
	# A sync while nothing serves the store: the saved index goes with it.
	echo changed >src/a/new-file
	find src/d2/sub -maxdepth 1 -type f -delete
	t_ctl sync --purge src store
	assert_rc 0
	assert_missing store/.mirrorfs/index
	: >"$TC/mirrorfs.log"
	mount_store store mnt
	assert_grep 'no saved index' mirrorfs.log
	assert_listing_eq store mnt "after a sync made without the mount"
	assert_trees_eq src mnt
}

case_crash_mid_commit() {
	need_root
	generate_tree src 200 1
	t_ctl sync src store
	assert_rc 0
	mount_store store mnt
	unmount_store mnt
	# The mount dies (SIGKILL) after the third record of the next commit.
	change_files src 50
	echo more >src/a/b/added
	MIRRORFS_CRASH_AT=commit:3 mount_store store mnt
	t_ctl sync --purge src store
	wait_for store_free store || t_fail "the mount did not die in its commit"
	fusermount3 -u -z mnt 2>/dev/null || true
	assert_exists store/.mirrorfs/journal
	assert_missing store/.mirrorfs/index
	# The next start rolls the commit forward and indexes the tree.
	: >"$TC/mirrorfs.log"
	mount_store store mnt
	assert_grep 'indexing the tree' mirrorfs.log
	assert_listing_eq store mnt "after a crash in the middle of a commit"
	assert_trees_eq src mnt
}

case_commit_changes_at_once() {
	need_root
	generate_tree src 100 1
	ln -s a src/link
	t_ctl sync src store
	assert_rc 0
	mount_store store mnt
	# Everything cached by the kernel first.
	listing mnt >/dev/null
	chmod 600 src/a/b/c/* 2>/dev/null || true
	chmod 711 src/d2
	touch -d '2001-02-03 04:05:06' src/x%y
	echo replaced >src/a/one
	rm -rf src/d2/sub/deeper
	mkdir -p src/brand/new
	echo hello >src/brand/new/file
	ln -sfn d2 src/link
	t_ctl sync --purge-dirs src store
	assert_rc 0
	assert_listing_eq store mnt "right after the sync"
	assert_trees_eq src mnt
	assert_eq d2 "$(readlink mnt/link)" "the new symlink target"
	assert_eq 711 "$(stat -c %a mnt/d2)" "a mode changed in place"
}

case_rw_changes_at_once() {
	need_root
	generate_tree src 50 0
	t_ctl sync src store
	assert_rc 0
	mount_store store mnt -o rw
	listing mnt >/dev/null
	mkdir mnt/newdir
	echo one >mnt/newdir/f
	printf 'more' >>mnt/newdir/f
	chmod 640 mnt/newdir/f
	ln mnt/newdir/f mnt/newdir/hard
	ln -s f mnt/newdir/soft
	mv mnt/a mnt/newdir/moved
	truncate -s 3 mnt/newdir/hard
	touch -d '2002-03-04 05:06:07' mnt/newdir/soft
	find mnt/d2/sub -maxdepth 1 -type f -delete
	if command -v setfattr >/dev/null && setfattr -n user.t0260 -v one mnt/newdir/f 2>/dev/null; then
		assert_eq one "$(getfattr -n user.t0260 --only-values mnt/newdir/f)" "an xattr set through the mount"
		assert_eq one "$(getfattr -n user.t0260 --only-values store/newdir/f)" "the same xattr in the store"
		setfattr -x user.t0260 mnt/newdir/f
		getfattr -n user.t0260 mnt/newdir/f >/dev/null 2>&1 && t_fail "a removed xattr still shows through the mount"
	fi
	assert_eq "$(stat -c %i mnt/newdir/f)" "$(stat -c %i mnt/newdir/hard)" "hard links are one inode"
	assert_eq 2 "$(stat -c %h mnt/newdir/f)" "the link count"
	assert_listing_eq store mnt "after rw changes"
	# And the index saved at the stop says the same.
	unmount_store mnt
	mount_store store mnt
	assert_grep 'index loaded' mirrorfs.log
	assert_listing_eq store mnt "after rw changes and a remount"
}

case_slave_follows() {
	need_root
	generate_tree src 100 1
	t_ctl sync src store
	assert_rc 0
	mount_store store mnt
	local master=$MOUNT_PID
	mount_store store mnt2
	wait_for grep -q 'as a slave' mirrorfs.log || t_fail "the second mount is not a slave"
	listing mnt2 >/dev/null
	change_files src 30
	rm -rf src/a/b/c
	t_ctl sync --purge-dirs src store
	assert_rc 0
	assert_listing_eq store mnt2 "the slave after the master's commit"
	assert_listing_eq store mnt "the master after its commit"
	kill "$master"
	wait_for grep -q 'took over as master' mirrorfs.log || t_fail "the slave did not take over"
	echo after >src/after-takeover
	t_ctl sync src store
	assert_rc 0
	assert_listing_eq store mnt2 "the slave, now master, after its own commit"
}

T_TIMEOUT=120 t_case "a cold ls -lR, find, getfattr and readlink make no system call into the store" case_metadata_without_store_calls
T_TIMEOUT=120 t_case "the index is saved at a clean stop, loaded once, and built again when corrupt or deleted" case_saved_and_rebuilt
T_TIMEOUT=120 t_case "a sync made without the mount drops the saved index; the next mount sees it" case_sync_without_mount_drops_index
T_TIMEOUT=120 t_case "kill -9 of the mount in the middle of a commit: the next mount's listing is exact" case_crash_mid_commit
T_TIMEOUT=120 t_case "a commit's changes are in the listing and attributes at once" case_commit_changes_at_once
T_TIMEOUT=120 t_case "an rw mount's changes are in the listing at once, and after a remount" case_rw_changes_at_once
T_TIMEOUT=120 t_case "a slave indexes the store, follows the master's commits, and takes over" case_slave_follows
t_done
