#!/bin/bash
# demo: a real sync of a sample release into ./demo/store, shown step by step.
set -eu

BUILD=${BUILD:-$(pwd)/build}
M="$BUILD/mirrorctl"
D=$(pwd)/demo
SRC=$D/source
STORE=$D/store
MNT=$D/mnt
FS_PID=
APP_PID=

cleanup() {
	[ -n "$APP_PID" ] && kill "$APP_PID" 2>/dev/null
	if grep -q " $MNT " /proc/mounts 2>/dev/null; then
		fusermount3 -u "$MNT" 2>/dev/null || fusermount3 -u -z "$MNT"
	fi
	[ -n "$FS_PID" ] && kill "$FS_PID" 2>/dev/null
	return 0
}
trap cleanup EXIT

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
run() { printf '$ %s\n' "$*"; "$@" || true; }

rm -rf "$D"
mkdir -p "$SRC/bin" "$SRC/lib" "$SRC/etc" "$SRC/share/doc"
app() {	# app N: a long-running program of release N
	# shellcheck disable=SC2016 # $(seq ...) and $$ belong to the script written
	printf '#!/bin/sh\n# the application, release %s\nfor i in $(seq ${1:-1}); do echo "  [app pid $$] running release %s"; sleep 0.5; done\n' "$1" "$1" > "$SRC/bin/app"
	chmod 755 "$SRC/bin/app"
}
app 1
chmod 755 "$SRC/bin/app"
head -c 2000000 /dev/urandom > "$SRC/lib/libapp.so.1"
ln -s libapp.so.1 "$SRC/lib/libapp.so"
echo "level = info" > "$SRC/etc/app.conf"
echo "release 1 notes" > "$SRC/share/doc/NOTES"
ln "$SRC/share/doc/NOTES" "$SRC/share/doc/RELEASE"

step "Release 1: first sync of $SRC into $STORE"
run "$M" sync -v "$SRC" "$STORE"

step "Mount the store at $MNT (read-only; the mount becomes the store's master)"
mkdir -p "$MNT"
printf '$ %s\n' "mirrorfs -f $STORE $MNT &"
"$BUILD/mirrorfs" -f "$STORE" "$MNT" &
FS_PID=$!
for _ in $(seq 50); do grep -q " $MNT " /proc/mounts && break; sleep 0.1; done
run ls -la "$MNT" "$MNT/bin"

step "An application starts from the mount and keeps running"
"$MNT/bin/app" 8 &
APP_PID=$!
sleep 1

step "Release 2 is built: app changes, a library goes away, a file is added"
app 2
rm "$SRC/lib/libapp.so.1" "$SRC/lib/libapp.so"
head -c 1000000 /dev/urandom > "$SRC/lib/libapp.so.2"
ln -s libapp.so.2 "$SRC/lib/libapp.so"
echo "release 2 notes" > "$SRC/share/doc/NOTES"

step "Dry run first: what would change (nothing is touched)"
run "$M" sync --report --purge "$SRC" "$STORE"

step "The real sync, with a JSON summary: it commits through the mount"
run "$M" sync -v --purge --json "$SRC" "$STORE"
sleep 0.6

step "The running application was not disturbed; a new start gets release 2"
run "$MNT/bin/app" 1
run "$M" renamed "$STORE"
echo "(the old version stays in $STORE/.mirrorfs/renamed until its last user closes it)"
wait "$APP_PID" || true
APP_PID=
sleep 0.3
run "$M" renamed "$STORE"

step "Nothing changed since: a re-sync sends only the manifest"
run "$M" sync "$SRC" "$STORE"

step "Unmount"
run fusermount3 -u "$MNT"
wait "$FS_PID" || true
FS_PID=

step "A crash in the middle of a commit (kill -9 injected), then recovery"
echo "release 3" > "$SRC/etc/app.conf"
MIRRORFS_CRASH_AT=commit:1 "$M" sync "$SRC" "$STORE" || echo "(mirrorctl was killed with SIGKILL: exit $?)"
run "$M" recover "$STORE"
run cat "$STORE/etc/app.conf"

step "Done. The store is in $STORE (metadata in $STORE/.mirrorfs)"
