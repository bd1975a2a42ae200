#!/bin/bash
# The mount follows a commit in batches (MIRRORFS_COMMIT_BATCH): a veto in any batch holds, every batch is invalidated.
set -u
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../lib-mount.sh"
t_setup

# twenty_files VERSION: src/f01 .. src/f20, each "VERSION of fNN".
twenty_files() {
	mkdir -p src
	for i in $(seq -w 1 20); do echo "$1 of f$i" >"src/f$i"; done
}

# new_content_shown MNT: every file but f17 shows version 2 through MNT.
new_content_shown() {
	for i in $(seq -w 1 20); do
		[ "$i" = 17 ] && continue
		assert_eq "version 2 of f$i" "$(cat "$1/f$i")" "f$i through $1"
	done
}

# names_fresh MNT: each file's size and mtime through MNT are the store's,
# looked up by name: no readdir (which would bring every name of the
# directory back) and no open (an open of a stale name fails with ESTALE
# and makes the kernel look it up again), so only the commit's own
# invalidation can have dropped what the kernel cached of it.
names_fresh() {
	for i in $(seq -w 1 20); do
		assert_eq "$(stat -c '%s %Y' "store/f$i")" "$(stat -c '%s %Y' "$1/f$i")" "f$i's size and mtime through $1"
	done
}

# batches_logged: the master's debug log says the commit went in batches
# of at most 3: its 21 changes (20 files and the top's attributes)
# checked in 7, the 20 not vetoed made in 7.
batches_logged() {
	assert_grep 'the commit checked 21 changes in 7 batches, made 20 in 7, at most 3 at once' "$TC/mirrorfs.log"
}

# A file open for write in the 6th batch of 3: only it stays, and the
# names and attributes the kernel cached before the commit are dropped
# in every batch.
case_veto_in_a_later_batch() {
	twenty_files v1
	t_ctl sync src store
	MIRRORFS_COMMIT_BATCH=3 mount_store store mnt -o rw -d
	listing mnt >/dev/null
	cat mnt/f* >/dev/null
	exec 8>>mnt/f17
	twenty_files "version 2"
	t_ctl sync --json src store
	assert_rc 1
	assert_json skipped 1 replaced 19
	json_entries "$TC/out" skip >skipped.txt
	assert_grep '^f17	open for write through the mount' skipped.txt
	exec 8>&-
	names_fresh mnt
	assert_listing_eq store mnt "after a commit in batches of 3"
	assert_eq "v1 of f17" "$(cat store/f17)"
	new_content_shown mnt
	batches_logged
}

# The same through a slave mount: its verdicts, asked batch by batch,
# name the right file, and it shows every batch's changes too.
case_slave_veto_in_a_later_batch() {
	twenty_files v1
	t_ctl sync src store
	MIRRORFS_COMMIT_BATCH=3 mount_store store m1 -d
	mount_store store m2 -o rw
	assert_grep 'mounted as a slave' "$TC/mirrorfs.log"
	listing m1 >/dev/null
	listing m2 >/dev/null
	exec 8>>m2/f17
	twenty_files "version 2"
	t_ctl sync --json src store
	assert_rc 1
	assert_json skipped 1 replaced 19
	json_entries "$TC/out" skip >skipped.txt
	assert_grep '^f17	open for write through another mount' skipped.txt
	exec 8>&-
	names_fresh m1
	names_fresh m2
	assert_listing_eq store m1 "the master after a commit in batches of 3"
	assert_listing_eq store m2 "the slave after a commit in batches of 3"
	assert_eq "v1 of f17" "$(cat store/f17)"
	new_content_shown m1
	new_content_shown m2
	batches_logged
}

# Two slaves, a file open for write through each: every slave answers
# the same questions, each from its own place (only the first slave's
# verdicts counted: the other's file was replaced under its writer).
case_two_slaves_both_veto() {
	twenty_files v1
	t_ctl sync src store
	MIRRORFS_COMMIT_BATCH=3 mount_store store m1
	mount_store store m2 -o rw
	mount_store store m3 -o rw
	listing m2 >/dev/null
	listing m3 >/dev/null
	exec 8>>m2/f17 9>>m3/f05
	twenty_files "version 2"
	t_ctl sync --json src store
	assert_rc 1
	assert_json skipped 2 replaced 18
	exec 8>&- 9>&-
	assert_eq "v1 of f17" "$(cat store/f17)" "f17, open for write through m2"
	assert_eq "v1 of f05" "$(cat store/f05)" "f05, open for write through m3"
	assert_eq "version 2 of f04" "$(cat m3/f04)"
}

t_case "a veto in a later batch leaves that file alone; every batch is shown" case_veto_in_a_later_batch
t_case "a slave's veto in a later batch names the right file; both mounts show every batch" case_slave_veto_in_a_later_batch
t_case "two slaves: a file open for write through each is left alone" case_two_slaves_both_veto
t_done
