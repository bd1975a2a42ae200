#!/bin/bash
# Row 15b: peak RSS and time of the sending mirrorctl, initial and no-change, to a mirror:// store on loopback.
#
# usage: bench/rss-remote.sh N BINDIR...
# Makes N small files (row 10's generator) on a tmpfs of its own
# ($RSS_TMPFS, default /var/tmp/mirrorfs-rss.PID, unmounted after); for
# each BINDIR in turn, starts its mirrord listening on loopback with a
# fresh store on the same tmpfs and prints one tab-separated line per run:
#   BINDIR  initial|nochange  maxrss-KiB  elapsed-seconds
# of `/usr/bin/time -v mirrorctl sync -q --key K SRC mirror://...`: the
# sending process alone (the receiver is mirrord's own). Several BINDIRs
# compare builds over one tree, in the same minutes.
set -eu
N=$1
shift
TM=${RSS_TMPFS:-/var/tmp/mirrorfs-rss.$$}
MDPID=

cleanup() {
	if [ -n "$MDPID" ]; then
		kill "$MDPID" 2>/dev/null || true
		wait "$MDPID" 2>/dev/null || true
	fi
	umount "$TM" 2>/dev/null || true
	rmdir "$TM" 2>/dev/null || true
}
trap cleanup EXIT
mkdir -p "$TM"
mount -t tmpfs -o size=12g,mode=0755 mirrorfs-rss "$TM"
python3 "$(dirname "$0")/gen.py" small "$TM/src" "$N"
"$1/mirrorctl" genkey "$TM/key" >/dev/null
PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cat >"$TM/mirrord.conf" <<CONF
[listen]
address = 127.0.0.1:$PORT
key = $TM/key

[store app]
path = $TM/dst
CONF
for BIN in "$@"; do
	rm -rf -- "$TM/dst"
	: >"$TM/mirrord.log"
	"$BIN/mirrord" -c "$TM/mirrord.conf" >"$TM/mirrord.log" 2>&1 &
	MDPID=$!
	for _ in $(seq 1 100); do
		grep -q "listening on" "$TM/mirrord.log" && break
		kill -0 "$MDPID" || { cat "$TM/mirrord.log" >&2; exit 1; }
		sleep 0.1
	done
	# The spool goes to $TMPDIR: the tmpfs, like the tree.
	for run in initial nochange; do
		TMPDIR=$TM /usr/bin/time -v -o "$TM/time.txt" "$BIN/mirrorctl" \
		    sync -q --key "$TM/key" "$TM/src" \
		    "mirror://127.0.0.1:$PORT/app"
		awk -F': ' -v bin="$BIN" -v run="$run" '
			/Maximum resident set size/ { rss = $2 }
			/Elapsed \(wall clock\)/ { n = split($2, t, ":"); s = 0
				for (i = 1; i <= n; i++) s = s * 60 + t[i] }
			END { printf "%s\t%s\t%d\t%.2f\n", bin, run, rss, s }' \
		    "$TM/time.txt"
	done
	kill "$MDPID"
	wait "$MDPID" || true
	MDPID=
done
