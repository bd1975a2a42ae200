# shellcheck shell=bash
#
# tests/lib-mount.sh: helpers for end-to-end tests of the mirrorfs mount.
# Source after lib.sh. Every mount made here is unmounted, and its daemon
# (started in the foreground, so its pid is known) stopped, when the case ends.

MIRRORFS=$BUILD/mirrorfs
export MIRRORFS

# mounted DIR: DIR is a mount point now.
mounted() {
	awk -v d="$(realpath "$1")" '$2 == d { found = 1 } END { exit !found }' /proc/mounts
}


# mount_store STORE MNT [OPTION...]: mount STORE at MNT (created if needed)
# with mirrorfs in the foreground, in the background of this case; sets
# MOUNT_PID. The mount is undone and the daemon stopped when the case ends.
mount_store() {
	local store=$1 mnt=$2
	shift 2
	mkdir -p "$mnt"
	mnt=$(realpath "$mnt")
	"$MIRRORFS" -f "$store" "$mnt" "$@" 2>>"$TC/mirrorfs.log" &
	MOUNT_PID=$!
	t_defer kill "$MOUNT_PID"
	t_defer fusermount3 -u -z "$mnt"
	wait_for mounted "$mnt" || t_fail "mirrorfs did not mount $store at $mnt: $(cat "$TC/mirrorfs.log")"
}

# unmount_store MNT: unmount and wait for the daemon (MOUNT_PID) to end.
unmount_store() {
	fusermount3 -u "$1" || t_fail "fusermount3 -u $1 failed"
	for _ in $(seq 100); do
		kill -0 "$MOUNT_PID" 2>/dev/null || return 0
		sleep 0.1
	done
	t_fail "mirrorfs (pid $MOUNT_PID) still runs after unmount"
}

# listing DIR: every entry below DIR with what stat and readlink say of it
# (the store's .mirrorfs left out, as the mount hides it), sorted.
listing() {
	find "$1" -path "$1/.mirrorfs" -prune -o -mindepth 1 \
		-printf '%P %y %s %m %U %G %n %T@ %C@ %l\n' | LC_ALL=C sort
}

# assert_listing_eq STORE MNT WHAT: the mount shows exactly what the store has.
assert_listing_eq() {
	listing "$1" >"$TC/native.lst"
	listing "$2" >"$TC/mount.lst"
	if ! cmp -s "$TC/native.lst" "$TC/mount.lst"; then
		diff "$TC/native.lst" "$TC/mount.lst" | head -n 20 >&2
		t_fail "$3: the listing through the mount differs from the store's ($(wc -l <"$TC/native.lst") vs $(wc -l <"$TC/mount.lst") lines)"
	fi
}

# store_free STORE: no process holds the store's lock (its master ended).
store_free() {
	flock -n "$1/.mirrorfs/lock" true
}

# build_prog OUT VERSION: compile a program that prints "version VERSION"
# every 0.1 s for N ticks (its argument); its 4 MiB of initialised data
# make it page in from its file long after it started. "prog stamp" prints
# the 8 digits after "MIRRORFS-STAMP=" in its own image (see stamp_prog).
build_prog() {
	cat >"$TC/prog.c" <<'PROG'
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
static volatile char pad[4 << 20] = { VERSION };
int main(int argc, char **argv)
{
	static volatile char stamp[] = "MIRRORFS-STAMP=00000000";
	if (argc > 1 && strcmp(argv[1], "stamp") == 0) {
		printf("%.8s\n", (const char *)stamp + 15);
		return 0;
	}
	int n = argc > 1 ? atoi(argv[1]) : 1;
	for (int i = 0; i < n; i++) {
		/* Touch every page: after drop_caches they come from the file. */
		long sum = 0;
		for (size_t p = 0; p < sizeof(pad); p += 4096)
			sum += pad[p];
		printf("version %d %ld\n", VERSION, sum);
		fflush(stdout);
		if (n > 1)
			usleep(100000);
	}
	return 0;
}
PROG
	cc -O0 -DVERSION="$2" -o "$1" "$TC/prog.c" || t_fail "cannot compile the test program"
}

# stamp_prog IN OUT N: copy the program IN to OUT with release number N in it.
stamp_prog() {
	python3 - "$1" "$2" "$3" <<'PY'
import sys
data = open(sys.argv[1], "rb").read()
marker = b"MIRRORFS-STAMP="
at = data.index(marker) + len(marker)
data = data[:at] + b"%08d" % int(sys.argv[3]) + data[at + 8:]
open(sys.argv[2], "wb").write(data)
PY
	chmod 755 "$2"
}
