#!/bin/bash
# shellcheck disable=SC2317 # case functions are called through t_case
# A local store copies big files from the source's descriptor (FILE_FD):
# no byte of them crosses the session's socket, holes stay holes, and the
# result is exact, into a plain store and through a mount's socket alike.
# (A file rewritten while it is copied is t0180's case_changing_file.)
set -u
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../lib-mount.sh"
t_setup

MIB=1048576

case_big_files_by_descriptor() {
	mkdir src
	head -c $((24 * MIB)) /dev/urandom >src/big
	head -c $((3 * MIB)) /dev/urandom >src/other
	printf 'small\n' >src/small
	t_ctl sync --json src store
	assert_rc 0
	assert_json created 3 failed 0
	sent_under "$MIB"
	assert_trees_eq src store
	assert_no_litter store
	# a new version replaces the old one the same way
	head -c $MIB /dev/urandom | dd of=src/big bs=$MIB seek=5 conv=notrunc status=none
	t_ctl sync --json src store
	assert_rc 0
	assert_json replaced 1
	sent_under "$MIB"
	assert_trees_eq src store
}

case_sparse_stays_sparse() {
	mkdir src
	truncate -s $((256 * MIB)) src/sparse
	printf 'middle' | dd of=src/sparse bs=1 seek=$((100 * MIB)) conv=notrunc status=none
	printf 'end' | dd of=src/sparse bs=1 seek=$((256 * MIB - 3)) conv=notrunc status=none
	t_ctl sync --json src store
	assert_rc 0
	sent_under "$MIB"
	cmp -s src/sparse store/sparse || t_fail "store/sparse differs"
	local kib
	kib=$(du -k store/sparse | cut -f1)
	[ "$kib" -lt 1024 ] || t_fail "store/sparse takes $kib KiB: its holes were filled"
}

case_through_the_mount() {
	mkdir src
	head -c $((16 * MIB)) /dev/urandom >src/big
	t_ctl sync src store
	assert_rc 0
	mount_store store mnt
	cp src/big old-big
	exec 7<mnt/big
	head -c $MIB /dev/urandom | dd of=src/big bs=$MIB seek=3 conv=notrunc status=none
	t_ctl sync --json src store
	assert_rc 0
	assert_json replaced 1
	sent_under "$MIB"
	cmp -s src/big mnt/big || t_fail "the mount does not show the new version"
	cmp -s old-big /dev/fd/7 || t_fail "an fd open before the sync lost the old bytes"
	exec 7<&-
	assert_trees_eq src store
}

PEER="$(cd "$(dirname "$0")/.." && pwd)/peer.py"

# session_failed STORE: wait (10 s) until the store's history has a failed session.
session_failed() {
	wait_for grep -q "	failed	" "$1/.mirrorfs/sessions.log"
}

# failed_sessions STORE N: the store's history has N failed sessions.
failed_sessions() {
	[ "$(grep -c "	failed	" "$1/.mirrorfs/sessions.log")" = "$2" ]
}

# partial_count STORE: the parts a cut session kept for the next.
partial_count() {
	find "$1/.mirrorfs/partial" -type f | wc -l
}

# The copies run beside the frames that follow (lib/copier.h): the same
# entry's descriptor sent again while its copy runs is refused, not
# copied twice into the same staged file; so are its abort and its data.
case_descriptor_twice_refused() {
	mkdir empty src
	head -c $((4 * MIB)) /dev/urandom >src/a
	t_ctl sync empty store
	MIRRORFS_DELAY_AT=staging:1500 mount_store store mnt
	local mode what n=0
	for mode in twice abort data; do
		case $mode in
		twice) what="a descriptor" ;;
		abort) what=FILE_ABORT ;;
		data) what=data ;;
		esac
		python3 "$PEER" fds "$TC/store/.mirrorfs/control.sock" $mode src/a \
		    >peer.out 2>&1 || t_fail "$mode: taken: $(cat peer.out)"
		assert_grep "refused: sent $what for entry 0, whose descriptor it already sent" peer.out
		n=$((n + 1))
		WAIT_TRIES=150 wait_for failed_sessions store $n ||
			t_fail "$mode: the session did not end: $(cat mirrorfs.log)"
	done
	assert_missing store/a
	assert_eq 0 "$(find store/.mirrorfs/staging -type f | wc -l)" "files left staged"
	assert_eq "" "$(ls mnt)" "what the mount shows"
}

# A session cut while copies still run keeps what they stage, as it keeps
# the files that came through the socket: the next session resumes them.
case_cut_keeps_running_copies() {
	mkdir empty src
	for i in 1 2 3 4 5 6; do
		head -c $((64 * 1024)) /dev/urandom >"src/f$i"
	done
	t_ctl sync empty store
	MIRRORFS_DELAY_AT=staging:700 mount_store store mnt
	python3 "$PEER" fds "$TC/store/.mirrorfs/control.sock" cut src/f* \
	    >peer.out 2>&1 || t_fail "the session did not run: $(cat peer.out)"
	session_failed store || t_fail "the session did not end: $(cat mirrorfs.log)"
	assert_eq 6 "$(partial_count store)" "parts kept by the cut session"
	assert_missing store/f1
	t_ctl sync --json src store
	assert_rc 0
	assert_json created 6 failed 0
	assert_trees_eq src store
	assert_no_litter store
}

t_case "big files go to a local store as descriptors, no data through the socket" case_big_files_by_descriptor
t_case "a sparse file copied from its descriptor stays sparse" case_sparse_stays_sparse
t_case "a store served by a mount takes descriptors through its socket" case_through_the_mount
t_case "a descriptor, an abort or data for an entry whose copy runs is refused" case_descriptor_twice_refused
t_case "a session cut while copies run keeps what they staged" case_cut_keeps_running_copies
t_done
