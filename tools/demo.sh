#!/bin/bash
# demo: a real sync of a sample release into ./demo/store, shown step by step.
set -eu

BUILD=${BUILD:-$(pwd)/build}
M="$BUILD/mirrorctl"
D=$(pwd)/demo
SRC=$D/source
STORE=$D/store

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
run() { printf '$ %s\n' "$*"; "$@" || true; }

rm -rf "$D"
mkdir -p "$SRC/bin" "$SRC/lib" "$SRC/etc" "$SRC/share/doc"
printf '#!/bin/sh\necho "app release 1"\n' > "$SRC/bin/app"
chmod 755 "$SRC/bin/app"
head -c 2000000 /dev/urandom > "$SRC/lib/libapp.so.1"
ln -s libapp.so.1 "$SRC/lib/libapp.so"
echo "level = info" > "$SRC/etc/app.conf"
echo "release 1 notes" > "$SRC/share/doc/NOTES"
ln "$SRC/share/doc/NOTES" "$SRC/share/doc/RELEASE"

step "Release 1: first sync of $SRC into $STORE"
run "$M" sync -v "$SRC" "$STORE"
run "$STORE/bin/app"

step "Release 2 is built: app changes, a library goes away, a file is added"
printf '#!/bin/sh\necho "app release 2"\n' > "$SRC/bin/app"
rm "$SRC/lib/libapp.so.1" "$SRC/lib/libapp.so"
head -c 1000000 /dev/urandom > "$SRC/lib/libapp.so.2"
ln -s libapp.so.2 "$SRC/lib/libapp.so"
echo "release 2 notes" > "$SRC/share/doc/NOTES"

step "Dry run first: what would change (nothing is touched)"
run "$M" sync --report --purge "$SRC" "$STORE"

step "The real sync, with a JSON summary"
run "$M" sync -v --purge --json "$SRC" "$STORE"
run "$STORE/bin/app"

step "Nothing changed since: a re-sync sends only the manifest"
run "$M" sync "$SRC" "$STORE"

step "A crash in the middle of a commit (kill -9 injected), then recovery"
echo "release 3" > "$SRC/etc/app.conf"
MIRRORFS_CRASH_AT=commit:1 "$M" sync "$SRC" "$STORE" || echo "(mirrorctl was killed with SIGKILL: exit $?)"
run "$M" recover "$STORE"
run cat "$STORE/etc/app.conf"

step "Done. The store is in $STORE (metadata in $STORE/.mirrorfs)"
