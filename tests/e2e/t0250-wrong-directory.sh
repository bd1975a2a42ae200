#!/bin/bash
# shellcheck disable=SC2317 # case functions are called through t_case
# The wrong directory: a mount or a recovery never makes a store of a
# directory by mistake, a sync into a mount names the store, a second mount
# on one mount point is refused, every command on a missing path fails.
set -u
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../lib-mount.sh"
t_setup

case_mount_refuses_a_plain_directory() {
	mkdir -p tree/sub mnt && echo data >tree/sub/f
	t_run "$MIRRORFS" -f tree mnt
	assert_ne 0 "$RC" "exit status of a mount of a plain directory"
	assert_grep 'not a mirrorfs store' "$TC/err"
	assert_grep '\-o create' "$TC/err"
	assert_missing tree/.mirrorfs
	mounted mnt && t_fail "it was mounted"
	# Asked to, it makes the directory a store and serves it.
	mount_store tree mnt -o create
	assert_exists tree/.mirrorfs
	assert_eq data "$(cat mnt/sub/f)"
}

case_recover_refuses_a_plain_directory() {
	mkdir tree && echo data >tree/f
	t_ctl recover tree
	assert_ne 0 "$RC"
	assert_grep 'not a mirrorfs store' "$TC/err"
	assert_missing tree/.mirrorfs
	t_ctl recover "$TC/no/such/dir"
	assert_ne 0 "$RC" "recover of a missing path"
}

case_sync_into_a_mount_names_the_store() {
	mkdir src && echo one >src/f
	t_ctl sync src store
	mount_store store mnt
	echo two >src/f
	for dest in mnt mnt/sub; do
		t_ctl sync src "$dest"
		assert_eq 3 "$RC" "sync into $dest"
		assert_grep "mirrorfs mount of the store $TC/store" "$TC/err"
		assert_grep "mirrorctl sync SOURCE $TC/store" "$TC/err"
	done
	assert_eq one "$(cat mnt/f)"
	t_ctl sync src store
	assert_rc 0
	assert_eq two "$(cat mnt/f)"
}

case_second_mount_on_one_point_refused() {
	mkdir src && echo one >src/f
	t_ctl sync src store
	mount_store store mnt
	local first=$MOUNT_PID
	t_run "$MIRRORFS" -f store mnt
	assert_ne 0 "$RC" "a second mount on the same mount point"
	assert_grep 'already a mirrorfs mount' "$TC/err"
	assert_eq 1 "$(awk -v d="$TC/mnt" '$2 == d' /proc/mounts | wc -l)" "mounts on mnt"
	kill -0 "$first" || t_fail "the first mount stopped"
	assert_eq one "$(cat mnt/f)"
}

case_missing_paths_fail() {
	t_ctl renamed "$TC/nonexistent"
	assert_ne 0 "$RC" "renamed of a missing path"
	mkdir plain
	t_ctl renamed plain
	assert_ne 0 "$RC" "renamed of a plain directory"
	assert_grep 'not a mirrorfs store' "$TC/err"
	t_ctl clear-sync "$TC/nonexistent"
	assert_ne 0 "$RC" "clear-sync of a missing path"
	t_ctl sync "$TC/nonexistent" store
	assert_ne 0 "$RC" "sync from a missing source"
}

t_case "a mount refuses a directory that is not a store, unless -o create" case_mount_refuses_a_plain_directory
t_case "recover refuses a directory that is not a store" case_recover_refuses_a_plain_directory
t_case "a sync into a mount (or below it) names the store" case_sync_into_a_mount_names_the_store
t_case "a second mount on the same mount point is refused" case_second_mount_on_one_point_refused
t_case "every command on a missing path exits non-zero" case_missing_paths_fail
t_done
