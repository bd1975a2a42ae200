#!/bin/bash
# tests/ns-syslog.sh DIR: run by t0520 as `unshare --mount --propagation
# private tests/ns-syslog.sh DIR`, in a mount namespace of its own. There,
# /dev is a tmpfs with the few devices a mount needs and /dev/log a socket
# whose datagrams go to DIR/syslog.txt; a daemonized mirrorfs mounts
# DIR/store at DIR/mnt, DIR/src/f is synced in while DIR/mnt/f is open,
# and the mount is undone. Writes the daemon's pid to DIR/daemon.pid and
# the listener's to DIR/listener.pid. Needs MIRRORFS and MIRRORCTL; exits
# non-zero on the first failure.
set -eu
. "$(dirname "$0")/lib.sh"	# for wait_for
dir=$1
cd "$dir"
if [ ! -x "${MIRRORFS:-}" ] || [ ! -x "${MIRRORCTL:-}" ] || [ ! -d store ] ||
	[ ! -f src/f ]; then
	echo "$0: needs MIRRORFS, MIRRORCTL, $dir/store and $dir/src/f" >&2
	exit 2
fi
# Refuse to run where it would cover the machine's /dev.
if [ "$(readlink /proc/self/ns/mnt)" = "$(readlink /proc/1/ns/mnt)" ]; then
	echo "$0: not in a mount namespace of its own" >&2
	exit 2
fi

dev=$dir/dev
mkdir -p "$dev" mnt
mount -t tmpfs -o mode=755 tmpfs "$dev"
for n in null zero full random urandom tty fuse; do
	[ -e "/dev/$n" ] || continue
	touch "$dev/$n"
	mount --bind "/dev/$n" "$dev/$n"
done
python3 - "$dev/log" "$dir/syslog.txt" <<'EOF' &
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
open(sys.argv[2] + ".ready", "w").close()
with open(sys.argv[2], "ab", buffering=0) as out:
    while True:
        out.write(s.recv(65536).rstrip(b"\0\n") + b"\n")
EOF
echo $! >listener.pid
wait_for test -e syslog.txt.ready
mount --rbind "$dev" /dev

# not -f: mirrorfs returns once mounted, its daemon detached
"$MIRRORFS" store "$dir/mnt" 2>mirrorfs.err
for p in /proc/[0-9]*; do
	[ "$(readlink "$p/exe" || true)" = "$MIRRORFS" ] || continue
	if tr '\0' ' ' <"$p/cmdline" | grep -qF " $dir/mnt"; then
		echo "${p#/proc/}" >daemon.pid
	fi
done
exec 3<mnt/f
echo two >src/f
"$MIRRORCTL" sync src store >sync.out
[ "$(cat mnt/f)" = two ]
exec 3<&-
wait_for grep -q 'replaced while open' syslog.txt
umount "$dir/mnt"
wait_for flock -n store/.mirrorfs/lock true
kill "$(cat listener.pid)"
