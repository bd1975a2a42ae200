#!/bin/bash
# mount(8) and fstab: mount -t fuse.mirrorfs and an fstab line, through mount.fuse3.
# e2e: alone (links mirrorfs into /usr/local/sbin for mount(8))
set -u
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../lib-mount.sh"
t_setup

# mount.fuse3 finds "mirrorfs" on mount(8)'s safe PATH: link ours there.
helper_ready() {
	local link=/usr/local/sbin/mirrorfs
	if [ -e "$link" ] && [ "$(readlink -f "$link")" != "$(readlink -f "$MIRRORFS")" ]; then
		t_skip "$link is another mirrorfs; not replaced"
	fi
	if [ ! -e "$link" ]; then
		mkdir -p /usr/local/sbin
		ln -s "$MIRRORFS" "$link"
		t_defer rm -f "$link"
	fi
}

# check_served MNT STORE: the mount serves STORE read-only, then unmounts cleanly.
check_served() {
	local mnt=$1 store=$2
	wait_for mounted "$mnt" || t_fail "$mnt is not mounted"
	t_defer umount -l "$mnt"
	awk -v d="$mnt" '$2 == d { print $3, $4 }' /proc/mounts >mnt.info
	assert_grep '^fuse\.mirrorfs ro,' mnt.info
	assert_eq hello "$(cat "$mnt/f")"
	assert_missing "$mnt/.mirrorfs"
	store_free "$store" && t_fail "no master holds $store while it is mounted"
	umount "$mnt" || t_fail "umount $mnt failed"
	wait_for store_free "$store" || t_fail "the daemon did not end after umount"
	assert_missing "$store/.mirrorfs/control.sock"
}

case_mount_t() {
	helper_ready
	mkdir src mnt && echo hello >src/f
	t_ctl sync src store
	mount -t fuse.mirrorfs "$TC/store" "$TC/mnt" -o ro,allow_other ||
		t_fail "mount -t fuse.mirrorfs failed"
	check_served "$TC/mnt" "$TC/store"
}

case_fstab_line() {
	helper_ready
	mkdir src mnt && echo hello >src/f
	t_ctl sync src store
	# The fstab line of the documentation, in a table of the test's own.
	echo "$TC/store $TC/mnt fuse.mirrorfs ro,allow_other 0 0" >fstab
	mount -T "$TC/fstab" "$TC/mnt" || t_fail "mount through the fstab line failed"
	check_served "$TC/mnt" "$TC/store"
}

t_case "mount -t fuse.mirrorfs STORE MOUNTPOINT" case_mount_t
t_case "an fstab line mounts the store" case_fstab_line
t_done
