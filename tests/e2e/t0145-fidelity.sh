#!/bin/bash
# shellcheck disable=SC2317 # case functions are called through t_case
# Fidelity: everything rsync -aHAXS --devices --specials --numeric-ids keeps
# (extended attributes in every namespace, POSIX ACLs, file capabilities,
# sparse files, FIFOs, sockets, devices, setuid and setgid bits, hard links),
# synced locally, over mirror:// and over ssh://, compared entry by entry
# with rsync's copy of the same tree; a capability binary run from the
# mount by an unprivileged user; attribute-only changes; --no-xattrs.
set -u
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../lib-net.sh"
. "$(dirname "$0")/../lib-mount.sh"
t_setup
# shellcheck disable=SC2034 # read by t_case (tests/lib.sh)
T_TIMEOUT=${T_TIMEOUT_FIDELITY:-180}
COMPARE="python3 $T_ROOT/tests/fidelity.py"

need_tools() {
	t_is_root || t_skip "needs root (devices, trusted.*, capabilities)"
	local tool
	for tool in setfattr getfattr setfacl getfacl setcap getcap rsync setpriv cc; do
		command -v "$tool" >/dev/null || t_skip "needs $tool"
	done
}

# bind_prog OUT: a program that binds 127.0.0.1:PORT (its argument), which
# needs cap_net_bind_service for a port below 1024.
bind_prog() {
	cat >"$TC/bind.c" <<'PROG'
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>
int main(int argc, char **argv)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	int s = socket(AF_INET, SOCK_STREAM, 0);

	a.sin_port = htons((unsigned short)atoi(argc > 1 ? argv[1] : "81"));
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (s == -1 || bind(s, (struct sockaddr *)&a, sizeof(a)) == -1) {
		perror("bind");
		return 1;
	}
	puts("bound");
	return 0;
}
PROG
	cc -O1 -o "$1" "$TC/bind.c" || t_fail "cannot compile bind.c"
}

# make_fidelity_tree DIR: every kind of entry and attribute rsync -aHAXS
# --devices --specials keeps.
make_fidelity_tree() {
	local d=$1
	mkdir -p "$d/etc" "$d/bin" "$d/share/acl" "$d/dev" "$d/var/run"
	echo "plain" >"$d/etc/plain"
	echo "user attrs" >"$d/etc/user"
	setfattr -n user.mirror.comment -v "a comment" "$d/etc/user"
	setfattr -n user.empty "$d/etc/user"
	head -c 3000 /dev/urandom >"$d/etc/bigvalue.bin"
	setfattr -n user.big -v "0x$(head -c 2000 /dev/urandom | od -An -tx1 | tr -d ' \n')" "$d/etc/user"
	echo "trusted" >"$d/etc/trusted"
	setfattr -n trusted.mirror -v "root only" "$d/etc/trusted"
	setfattr -n security.mirror -v "sec" "$d/etc/trusted"
	setfattr -n user.on-dir -v "dir" "$d/etc"
	echo "acl" >"$d/share/acl/file"
	setfacl -m u:1234:rw,g:2345:r "$d/share/acl/file"
	setfacl -d -m u:1234:rwx,g:2345:rx "$d/share/acl"
	setfacl -m u:1234:rx "$d/share/acl"
	bind_prog "$d/bin/bind81"
	setcap cap_net_bind_service+ep "$d/bin/bind81"
	echo "setuid" >"$d/bin/suid"
	chmod 4755 "$d/bin/suid"
	echo "setgid" >"$d/bin/sgid"
	chown 0:5678 "$d/bin/sgid"
	chmod 2750 "$d/bin/sgid"
	mkdir "$d/share/sgid-dir"
	chmod 2775 "$d/share/sgid-dir"
	chown 1234:5678 "$d/share/sgid-dir" "$d/etc/plain"
	# 1 GiB with three data extents: its start, its middle, its end.
	truncate -s 1G "$d/var/sparse"
	head -c 65536 /dev/urandom | dd of="$d/var/sparse" conv=notrunc status=none
	head -c 65536 /dev/urandom | dd of="$d/var/sparse" bs=1M seek=512 conv=notrunc status=none
	head -c 65536 /dev/urandom | dd of="$d/var/sparse" bs=64K seek=16383 conv=notrunc status=none
	truncate -s 100M "$d/var/hole-only"
	mkfifo "$d/var/run/fifo"
	chmod 620 "$d/var/run/fifo"
	python3 -c 'import socket, sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])' "$d/var/run/sock"
	mknod "$d/dev/null-like" c 1 3
	mknod "$d/dev/loop-like" b 7 200
	chown 1234:5678 "$d/dev/loop-like"
	echo "linked" >"$d/etc/hard1"
	ln "$d/etc/hard1" "$d/etc/hard2"
	ln "$d/etc/hard1" "$d/share/hard3"
	ln -s ../etc/plain "$d/bin/link"
	setfattr -h -n trusted.on-link -v "link" "$d/bin/link"
	touch -h -d '2001-02-03 04:05:06.789' "$d/bin/link"
	touch -d '2002-03-04 05:06:07.123456789' "$d/etc/plain" "$d/var/run/fifo"
	setfattr -n user.top -v "the top" "$d"
}

# rsync_ref SRC DST: rsync's copy of SRC, the reference.
rsync_ref() {
	rsync -aHAXS --devices --specials --numeric-ids "$1/" "$2/" ||
		t_fail "rsync failed"
}

# assert_like_rsync REF TREE: TREE matches REF (rsync's copy of src)
# entry by entry.
assert_like_rsync() {
	$COMPARE --source src "$1" "$2" >compare.out 2>&1 || {
		cat compare.out >&2
		t_fail "$2 differs from rsync's copy: $(head -n 5 compare.out | tr '\n' ';')"
	}
}

# assert_sparse STORE SRC: the store takes at most 1.1x the source's disk.
assert_sparse() {
	local src store
	src=$(du -s --block-size=1K "$2" | cut -f1)
	store=$(du -s --block-size=1K --exclude=.mirrorfs "$1" | cut -f1)
	[ "$store" -le $((src * 11 / 10 + 64)) ] ||
		t_fail "the store takes $store KiB, the source $src KiB"
}

case_local() {
	need_tools
	make_fidelity_tree src
	rsync_ref src ref
	t_ctl sync --json src store
	assert_rc 0
	assert_json failed 0 skipped 0
	assert_like_rsync ref store
	assert_sparse store src
	# 1 GiB with 192 KiB of data: the holes never went over the wire.
	[ "$(jf bytes_sent)" -lt 4000000 ] || t_fail "sent $(jf bytes_sent) bytes"
	# A second run finds nothing to do.
	t_ctl sync --json src store
	assert_json created 0 replaced 0 failed 0 skipped 0
}

case_mirror() {
	need_tools
	make_fidelity_tree src
	rsync_ref src ref
	serve app "$TC/store"
	# shellcheck disable=SC2153 # PORT is serve's (tests/lib-net.sh)
	t_ctl sync --json --key key src "mirror://127.0.0.1:$PORT/app"
	assert_rc 0
	assert_json failed 0 skipped 0
	assert_like_rsync ref store
	assert_sparse store src
	[ "$(jf bytes_sent)" -lt 4000000 ] || t_fail "sent $(jf bytes_sent) bytes"
}

case_ssh() {
	need_tools
	make_fidelity_tree src
	rsync_ref src ref
	mkdir bin
	# shellcheck disable=SC2016 # $PATH and $* belong to the script written
	printf '#!/bin/sh\nshift\nPATH="%s:$PATH" exec sh -c "$*"\n' "$BUILD" >bin/fake-ssh
	chmod 755 bin/fake-ssh
	t_ctl sync --json --rsh "$TC/bin/fake-ssh" src "ssh://host//$TC/store"
	assert_rc 0
	assert_json failed 0 skipped 0
	assert_like_rsync ref store
	assert_sparse store src
}

# A free TCP port below 1024 on loopback.
low_port() {
	python3 - <<'PY'
import socket
for p in range(81, 1024):
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", p))
    except OSError:
        continue
    print(p)
    break
PY
}

case_capability_through_mount() {
	need_tools
	make_fidelity_tree src
	t_ctl sync src store
	assert_rc 0
	getcap store/bin/bind81 | grep -q cap_net_bind_service ||
		t_fail "the store's copy lost its capability: $(getcap store/bin/bind81)"
	# The unprivileged user must reach the mount point.
	chmod 755 "$T" "$TC"
	port=$(low_port)
	mount_store store mnt -o suid,allow_other
	getcap mnt/bin/bind81 | grep -q cap_net_bind_service ||
		t_fail "getxattr through the mount: $(getcap mnt/bin/bind81 2>&1)"
	getfacl -n mnt/share/acl 2>&1 | grep -q 'default:user:1234:rwx' ||
		t_fail "the default ACL through the mount: $(getfacl -n mnt/share/acl 2>&1)"
	getfattr -d mnt/etc/user | grep -q 'user.mirror.comment="a comment"' ||
		t_fail "listxattr through the mount: $(getfattr -d mnt/etc/user 2>&1)"
	setpriv --reuid=65534 --regid=65534 --clear-groups mnt/bin/bind81 "$port" >bind.out 2>&1 ||
		t_fail "nobody could not bind port $port from the -o suid mount: $(cat bind.out)"
	unmount_store mnt
	# The default, nosuid, ignores file capabilities (and setuid bits).
	mount_store store mnt2 -o allow_other
	if setpriv --reuid=65534 --regid=65534 --clear-groups mnt2/bin/bind81 "$port" >bind.out 2>&1; then
		t_fail "the capability worked through a nosuid mount"
	fi
	assert_grep 'Permission denied' bind.out
	assert_grep 'nosuid' /proc/mounts
}

case_attribute_only_changes() {
	need_tools
	mkdir src
	echo data >src/f
	setfattr -n user.a -v 1 src/f
	setfacl -m u:1234:r src/f
	t_ctl sync src store
	assert_rc 0
	ino=$(stat -c %i store/f)
	setfattr -n user.a -v 2 src/f
	setfattr -n user.b -v new src/f
	setfacl -x u:1234 src/f
	setfattr -n user.d -v on-top src
	t_ctl sync --json -v src store
	assert_rc 0
	assert_json replaced 1 created 0
	assert_eq "$ino" "$(stat -c %i store/f)" "inode (an attribute-only replace)"
	rsync_ref src ref
	assert_like_rsync ref store
	setfattr -x user.a src/f
	t_ctl sync --json src store
	assert_json replaced 1
	assert_like_rsync src store
	# --no-xattrs neither compares nor changes them.
	setfattr -n user.a -v 3 src/f
	t_ctl sync --json --no-xattrs src store
	assert_json replaced 0
	assert_eq "" "$(getfattr --only-values -n user.a store/f 2>/dev/null || true)" "user.a with --no-xattrs"
	# --no-acls likewise: the mode follows (the ACL's mask), the ACL not.
	setfacl -m u:4321:rw src/f
	t_ctl sync --json --no-acls --no-xattrs src store
	assert_json replaced 1
	assert_eq "$(stat -c %a src/f)" "$(stat -c %a store/f)" "mode"
	if getfacl -n store/f | grep -q 4321; then
		t_fail "--no-acls set an ACL"
	fi
}

case_unprivileged_destination() {
	need_tools
	mkdir -p src/sub
	mknod src/sub/dev c 1 3
	mkfifo src/sub/fifo
	echo x >src/sub/file
	setfattr -n trusted.x -v 1 src/sub/file
	mkdir store
	chown 65534:65534 store
	chmod 755 "$T" "$TC"
	chmod -R o+rX src
	t_run setpriv --reuid=65534 --regid=65534 --clear-groups "$MIRRORCTL" sync --json src store
	assert_rc 1
	assert_grep 'sub/dev.*a character device is made only by root' out
	assert_json skipped 1 failed 0
	[ -p store/sub/fifo ] || t_fail "the FIFO was not made"
	assert_exists store/sub/file
}

case_store_without_xattrs() {
	need_tools
	mkdir -p src/d
	echo x >src/f
	echo y >src/plain
	setfattr -n user.x -v 1 src/f
	setfacl -m u:1234:r src/d
	# ramfs holds no extended attributes at all.
	mkdir store
	mount -t ramfs none store || t_skip "cannot mount a ramfs"
	t_defer umount -l "$TC/store"
	t_ctl sync --json src store
	assert_rc 1
	assert_json skipped 2 created 1
	assert_grep "f.*cannot hold extended attributes.*--no-xattrs" out
	assert_missing store/f
	t_ctl sync --json --no-xattrs --no-acls src store
	assert_rc 0
	assert_json created 1
	assert_file_eq src/f store/f
}

t_case "a fidelity tree synced locally is rsync -aHAXS's copy" case_local
t_case "the same tree over mirror://" case_mirror
t_case "the same tree over ssh://" case_ssh
t_case "a capability binary runs for nobody from an -o suid mount only" case_capability_through_mount
t_case "xattr and ACL changes alone are attribute-only replaces" case_attribute_only_changes
t_case "an unprivileged destination skips devices by name" case_unprivileged_destination
t_case "a store that cannot hold xattrs skips each entry, naming the option" case_store_without_xattrs
t_done
